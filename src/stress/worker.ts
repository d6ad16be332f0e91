/**
 * One worker's part of a stress scenario, as its piscina task runs it
 * (src/workers/stress.ts): wait at the start barrier for every worker, run
 * the loop of this worker's role (./scenarios/index.ts), return what it did.
 */
import { performance } from 'node:perf_hooks';
import { barrierWait } from '../shm/sync.js';
import { CONTROL, isWriterRole, type StressTask, type WorkerResult } from './protocol.js';
import { ROLE_LOOPS } from './scenarios/index.js';
import { Run, type StressMap } from './workload.js';

/** Fail instead of hanging when a worker never reaches the start barrier. */
const START_TIMEOUT_MS = 60_000;

/**
 * Runs one worker's part of a stress scenario on `map`: waits at the start
 * barrier for every worker, runs its role's loop, and returns what it did.
 */
export function runWorkload(map: StressMap, task: StressTask, threadId: number): WorkerResult {
  const run = new Run(map, task);
  const last = barrierWait(run.words, CONTROL.BARRIER_I32, task.workers, START_TIMEOUT_MS);
  const start = performance.now();
  if (last) run.progress[CONTROL.START_F64] = performance.timeOrigin + start;
  run.deadline = start + task.durationMs;
  try {
    ROLE_LOOPS[task.role](run);
  } catch (err) {
    // This worker's records are lost with its result: the others stop recording now.
    if (run.recorder !== undefined) run.signalHistoryStop();
    throw err;
  } finally {
    if (isWriterRole(task.role)) Atomics.add(run.words, CONTROL.WRITERS_DONE_I32, 1);
    run.progress[CONTROL.progressF64(task.index)] = run.ops;
  }
  return run.result(performance.now() - start, threadId);
}

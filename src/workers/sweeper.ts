/**
 * The TTL sweeper thread: attaches a SharedMap created with `ttl: true` and
 * runs `map.sweepExpired()` every `intervalMs` until asked to stop.
 *
 * Two ways to run it, same task shape (`SweeperTask`):
 *  - piscina task: `pool.run(task)` with `filename` = this file (from dist/).
 *    The task holds its pool thread until stopped; give the pool one thread
 *    per sweeper.
 *  - plain Worker: `new Worker(thisFile, { workerData: { shmapSweeper: 1, ...task } })`.
 *    It posts one `SweeperMessage` and exits.
 *
 * Replacing: a sweeper thread that dies (terminated, its piscina task
 * aborted) is replaced by running the same task again; the new thread
 * resumes (same stop switch, counts go on). Entries the dead one removed in
 * its last sweep stay removed; what it had not reached yet, the next sweep
 * removes. A death while it holds a shard lock is the map's to recover.
 *
 * Stopping: any thread calls `requestStop(task.stop)`. The thread parks
 * between sweeps with `Atomics.wait` on the stop word rather than a timer,
 * so a stop request wakes it at once even though its event loop never runs.
 */
import { isMainThread, parentPort, threadId, workerData } from 'node:worker_threads';
import { SharedMap } from '../shm/map.js';
import { runSweeperLoop, type StopSwitch, type SweeperTotals } from '../shm/patterns/ttl.js';
import type { SharedMapHandle } from '../shm/types.js';

export interface SweeperTask {
  map: SharedMapHandle;
  stop: StopSwitch;
  /** Time between sweeps, ms. Default 100. */
  intervalMs?: number;
}

/**
 * Sweeps run and entries they reclaimed, by every sweeper thread started with
 * this stop switch: a thread that replaced a dead one reports the dead one's
 * work too (`threads` > 1).
 */
export type SweeperResult = SweeperTotals;

export type SweeperMessage =
  | { type: 'sweeper-result'; result: SweeperResult }
  | { type: 'sweeper-error'; error: { name: string; code?: string; message: string } };

/** Runs the sweep loop in this thread until stopped (one last sweep after the stop). Blocks the thread. */
export function sweepUntilStopped(task: SweeperTask): SweeperResult {
  const map = SharedMap.attach<unknown, unknown>(task.map);
  return runSweeperLoop(task.stop, task.intervalMs ?? 100, () => map.sweepExpired(), threadId);
}

/** piscina entry point. */
export default function sweeperTask(task: SweeperTask): SweeperResult {
  return sweepUntilStopped(task);
}

// Plain Worker entry point.
const data = workerData as (SweeperTask & { shmapSweeper?: 1 }) | undefined;
if (!isMainThread && parentPort !== null && data !== null && typeof data === 'object' && data.shmapSweeper === 1) {
  let message: SweeperMessage;
  try {
    message = { type: 'sweeper-result', result: sweepUntilStopped(data) };
  } catch (e) {
    const err = e as { name?: string; code?: string; message?: string };
    message = {
      type: 'sweeper-error',
      error: { name: String(err?.name ?? 'Error'), code: err?.code, message: String(err?.message ?? e) },
    };
  }
  parentPort.postMessage(message);
}

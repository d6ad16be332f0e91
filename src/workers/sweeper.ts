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
 * Stopping: any thread calls `requestStop(task.stop)`. The thread parks
 * between sweeps with `Atomics.wait` on the stop word rather than a timer,
 * so a stop request wakes it at once even though its event loop never runs.
 */
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { SharedMap } from '../shm/map.js';
import { waitForStop, type StopSwitch } from '../shm/patterns/ttl.js';
import type { SharedMapHandle } from '../shm/types.js';

export interface SweeperTask {
  map: SharedMapHandle;
  stop: StopSwitch;
  /** Time between sweeps, ms. Default 100. */
  intervalMs?: number;
}

export interface SweeperResult {
  /** Sweeps run, and entries they reclaimed. */
  sweeps: number;
  removed: number;
}

export type SweeperMessage =
  | { type: 'sweeper-result'; result: SweeperResult }
  | { type: 'sweeper-error'; error: { name: string; code?: string; message: string } };

/** Runs the sweep loop in this thread until stopped (one last sweep after the stop). Blocks the thread. */
export function sweepUntilStopped(task: SweeperTask): SweeperResult {
  const map = SharedMap.attach<unknown, unknown>(task.map);
  const intervalMs = task.intervalMs ?? 100;
  let sweeps = 0;
  let removed = 0;
  for (;;) {
    removed += map.sweepExpired();
    sweeps++;
    if (waitForStop(task.stop, intervalMs)) break;
  }
  return { sweeps, removed };
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

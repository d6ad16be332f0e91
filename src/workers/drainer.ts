/**
 * The delete queue's drainer thread: attaches a DeleteQueue and a SharedMap
 * and applies the queued deletes until the queue is closed. All logic is in
 * `runDrainLoop` (src/shm/patterns/delete-queue.ts); this file only attaches
 * and reports.
 *
 * Two ways to run it, same task shape (`DrainerTask`):
 *  - piscina task: `pool.run(task)` with `filename` = this file (from dist/).
 *    The task holds its pool thread until `queue.close()`; give the pool one
 *    thread per drainer.
 *  - plain Worker: `new Worker(thisFile, { workerData: { shmapDrainer: 1, ...task } })`.
 *    It posts one `DrainerMessage` and exits.
 *
 * Stopping: any thread calls `queue.close()` (sets the closed word and
 * notifies). Why `Atomics.wait` and not a message: the loop parks on a word
 * in the queue's buffer when the queue is empty, so a producer wakes it with
 * one `Atomics.notify` (microseconds, no event loop turn), and the stop
 * request arrives the same way while the thread's event loop is blocked.
 */
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import {
  DeleteQueue,
  runDrainLoop,
  type DeleteQueueHandle,
  type DeleteQueueStats,
  type DrainLoopOptions,
  type DrainLoopResult,
} from '../shm/patterns/delete-queue.js';
import { SharedMap } from '../shm/map.js';
import type { SharedMapHandle } from '../shm/types.js';

/** What the drainer needs: the queue and the map (their handles), and the loop's options. */
export interface DrainerTask extends DrainLoopOptions {
  queue: DeleteQueueHandle;
  map: SharedMapHandle;
}

/** The loop's counts, plus the queue's stats as the drainer saw them when it stopped. */
export interface DrainerResult extends DrainLoopResult {
  queueStats: DeleteQueueStats;
}

/** What a plain-Worker drainer posts (exactly one message, then it exits). */
export type DrainerMessage =
  | { type: 'drainer-result'; result: DrainerResult }
  | { type: 'drainer-error'; error: { name: string; code?: string; message: string } };

/** Marks a plain Worker's workerData as a drainer task (piscina's own workerData never has it). */
export interface DrainerWorkerData extends DrainerTask {
  shmapDrainer: 1;
}

/** Runs the drain loop in this thread until the queue is closed. Blocks the thread. */
export function drain(task: DrainerTask): DrainerResult {
  const queue = DeleteQueue.attach<unknown>(task.queue);
  const map = SharedMap.attach<unknown, unknown>(task.map);
  const result = runDrainLoop(queue, map, { idleWaitMs: task.idleWaitMs, finalWaitMs: task.finalWaitMs });
  return { ...result, queueStats: queue.stats() };
}

/** piscina entry point. */
export default function drainerTask(task: DrainerTask): DrainerResult {
  return drain(task);
}

// Plain Worker entry point.
const data = workerData as Partial<DrainerWorkerData> | undefined;
if (!isMainThread && parentPort !== null && data !== null && typeof data === 'object' && data.shmapDrainer === 1) {
  let message: DrainerMessage;
  try {
    message = { type: 'drainer-result', result: drain(data as DrainerWorkerData) };
  } catch (e) {
    const err = e as { name?: string; code?: string; message?: string };
    message = {
      type: 'drainer-error',
      error: { name: String(err?.name ?? 'Error'), code: err?.code, message: String(err?.message ?? e) },
    };
  }
  parentPort.postMessage(message);
}

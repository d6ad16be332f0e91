/**
 * The piscina task of the stress runner: attach the map from its handle, run
 * this worker's part of the scenario (src/stress/worker.ts), and report it
 * back with the GC pauses this thread saw. Thin on purpose: the loops live in
 * src/stress, the map in src/shm.
 */
import { PerformanceObserver } from 'node:perf_hooks';
import { threadId } from 'node:worker_threads';
import { SharedMap } from '../shm/map.js';
import type { StressTask, WorkerResult } from '../stress/protocol.js';
import { runWorkload } from '../stress/worker.js';
import type { StressMap } from '../stress/workload.js';
import { holdDeathPort, markAuxThread, runChaosSlot, type ChaosTask, type ChaosTaskResult } from '../stress/chaos.js';
import { drain, type DrainerResult } from './drainer.js';
import { sweepUntilStopped, type SweeperResult } from './sweeper.js';

/** The chaos scenario's tasks (src/stress/chaos.ts): a worker slot, the drainer, the sweeper. */
function chaosTask(task: ChaosTask): ChaosTaskResult | DrainerResult | SweeperResult {
  holdDeathPort(task, threadId);
  const map = SharedMap.attach(task.handle);
  if (task.role === 'chaos') return runChaosSlot(map as never, task, threadId);
  markAuxThread(task, threadId);
  if (task.role === 'chaos-sweeper') return sweepUntilStopped({ map: task.handle, stop: task.stop, intervalMs: 5 });
  // A replacement drainer may start before its dead predecessor is recovered: it is refused
  // (the consumer word still names the dead thread) until then, and tries again.
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (let tries = 0; ; tries++) {
    try {
      return drain({ queue: task.queue, map: task.handle, idleWaitMs: 20, finalWaitMs: 1_000 });
    } catch (err) {
      if ((err as { code?: string }).code !== 'SHMAP_CONCURRENT_WRITE' || tries >= 5_000) throw err;
      Atomics.wait(pause, 0, 0, 2);
    }
  }
}

export default async function stressTask(task: StressTask | ChaosTask): Promise<unknown> {
  if ('block' in task) return chaosTask(task);
  return mixedTask(task);
}

async function mixedTask(task: StressTask): Promise<WorkerResult> {
  // GC pauses of this isolate only: each worker thread has its own heap and
  // its own collections. Entries are delivered after the (synchronous) run.
  const gc = { count: 0, totalMs: 0, maxMs: 0 };
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      gc.count++;
      gc.totalMs += entry.duration;
      gc.maxMs = Math.max(gc.maxMs, entry.duration);
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  try {
    const map = SharedMap.attach(task.handle) as unknown as StressMap;
    const result = runWorkload(map, task, threadId);
    await new Promise((resolve) => setTimeout(resolve, 5));
    result.gc = gc;
    return result;
  } finally {
    observer.disconnect();
  }
}

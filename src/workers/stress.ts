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

export default async function stressTask(task: StressTask): Promise<WorkerResult> {
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

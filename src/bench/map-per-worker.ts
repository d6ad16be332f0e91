/**
 * A private `Map` in each worker, nothing shared: the ceiling for N threads.
 * Each worker builds its own preloaded copy before the first window; the copy
 * lives on across runs of the same prepare (like the shared stores, the mix
 * phase leaves its writes in it).
 */
import type { Driver, Key, Value, WorkloadName } from './driver.js';
import { MapSession, preloadedMap } from './map-single.js';
import { cachedTables } from './workload.js';

interface PerWorkerData {
  /** Which prepare this is: a new token drops the thread's old copy. */
  readonly token: string;
  readonly preload: number;
}

let cached: { token: string; map: Map<Key, Value> } | undefined;

export const drivers: Driver[] = [
  {
    name: 'map-per-worker',
    summary: 'a private Map in each worker (no sharing): the N-thread ceiling',
    where: 'workers',
    readOnly: false,
    batch: 1,
    async prepare(input) {
      const data: PerWorkerData = { token: `${process.pid}-${Date.now()}-${Math.random()}`, preload: input.preload };
      return { forWorker: () => ({ data }), close: async () => {} };
    },
    async open(raw, workload: WorkloadName) {
      const data = raw as PerWorkerData;
      if (cached?.token !== data.token) {
        cached = undefined;
        const tables = cachedTables(workload, data.preload);
        cached = { token: data.token, map: preloadedMap({ ...tables, preload: data.preload }) };
      }
      return new MapSession(cached.map);
    },
  },
];

/**
 * Provoking real conflicts for the tests that watch them (followConflicts,
 * alerts, the Prometheus conflict counts): a sync 'none' map that records
 * them, and worker threads (test/workers/conflict-provoker.mjs, from dist/)
 * that write, read or iterate it until told to stop.
 */
import { SharedMap } from '../../src/index.js';
import { spawn, type WorkerRun } from '../shm/support.js';

/** Keys the racing map holds and the provokers touch (one shard, so every writer meets every other). */
export const RACING_KEYS = 64;

/** A fresh map of RACING_KEYS keys, sync 'none', that records every conflict (the first `conflictLogSize` kept). */
export function racingMap(conflictLogSize = 8192): SharedMap<number, number> {
  const map = SharedMap.create<number, number>({
    capacity: 128,
    shards: 1,
    sync: 'none',
    onConflict: 'record',
    conflictLogSize,
  });
  for (let k = 0; k < RACING_KEYS; k++) map.set(k, 0);
  return map;
}

export interface ProvokerResult {
  ops: number;
  iterationErrors: number;
  error: { name: string; code?: string; message: string } | undefined;
}

/**
 * One provoker thread per role ('write', 'read', 'iterate') on `map`; each
 * runs until `words[L.stop]` is set and then posts what it did.
 */
export function provokers(
  map: SharedMap<number, number>,
  words: Int32Array,
  L: { stop: number },
  roles: readonly string[],
): Array<WorkerRun<ProvokerResult>> {
  return roles.map((role) =>
    spawn<ProvokerResult>('conflict-provoker.mjs', { role, handle: map.handle, keys: RACING_KEYS, words, L }, 120_000),
  );
}

/**
 * The delete a drainer applies when a key may have been refreshed after it
 * was queued: delete it only if its value is still stale, in one atomic
 * `map.update` (under the key's shard lock), so a write that refreshed the
 * key between the enqueue and the drain is kept. Used by `bench cleanup`'s
 * drainer and `serve --cleanup delete-queue`'s cleaner thread, each passing
 * it to `runDrainLoop` as the map.
 */
import type { Deletable } from '../shm/patterns/delete-queue.js';
import { sharedNow } from '../shm/patterns/ttl.js';

/** The map side `staleDeleter` needs. */
export interface Updatable<K, V> {
  update(key: K, fn: (old: V | undefined) => V | undefined): V | undefined;
}

export interface StaleDeleter<K> extends Deletable<K> {
  /** Keys deleted, and keys found refreshed and kept. */
  readonly counts: { removed: number; kept: number };
}

/** A Deletable that deletes `key` only when `isStale(value, now)` (now: the shared clock at the delete). */
export function staleDeleter<K, V>(map: Updatable<K, V>, isStale: (value: V, now: number) => boolean): StaleDeleter<K> {
  const counts = { removed: 0, kept: 0 };
  let now = 0;
  let old: V | undefined;
  const staleOrKeep = (o: V | undefined): V | undefined => {
    old = o;
    return o === undefined || isStale(o, now) ? undefined : o;
  };
  return {
    counts,
    delete(key: K): boolean {
      now = sharedNow();
      old = undefined;
      const after = map.update(key, staleOrKeep);
      if (after !== undefined) counts.kept++;
      else if (old !== undefined) counts.removed++;
      return after === undefined;
    },
  };
}

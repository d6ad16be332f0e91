/**
 * `map.stats()`: shards, capacity, bytes, probe lengths, lock waits, read
 * retries and conflict counts, read without locks (a moment's picture under
 * concurrent writes; exact when none runs).
 */
import { D_CAP, D_COUNT, D_LOCK_WAITS, D_READ_RETRIES, D_TOMBS, descI32, regionBytes } from './layout.js';
import { homeIndex } from './shard.js';
import { conflictCounts, logPosition, KIND_THREAD_DIED } from './conflict-log.js';
import type { MapCore } from './core.js';
import type { SharedMapStats } from './types.js';

/** Upper bounds of the probe-length buckets of `stats()` (powers of two, then everything longer). */
const PROBE_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, Infinity];

/** The stats of the map `map` is a handle on (`SharedMap.stats`). */
export function mapStats(map: MapCore): SharedMapStats {
  const i32 = map.i32;
  let capacity = 0;
  let count = 0;
  let tombstones = 0;
  let lockWaits = 0;
  let readRetries = 0;
  let probeSum = 0;
  let probeMax = 0;
  const perShard: SharedMapStats['perShard'] = [];
  const probeBuckets = PROBE_BUCKETS.map(() => 0);
  for (let s = 0; s < map.shards; s++) {
    const d = descI32(map.shard0I32, s);
    const cap = i32[d + D_CAP];
    const region = map.table.regionI32(d);
    const slots = map.views.i32;
    capacity += cap;
    count += i32[d + D_COUNT];
    tombstones += i32[d + D_TOMBS];
    lockWaits += Atomics.load(i32, d + D_LOCK_WAITS);
    readRetries += Atomics.load(i32, d + D_READ_RETRIES);
    perShard.push({
      capacity: cap,
      count: i32[d + D_COUNT],
      tombstones: i32[d + D_TOMBS],
      regionBytes: regionBytes(cap, map.slotWords * 4),
      lockWaits: Atomics.load(i32, d + D_LOCK_WAITS),
      readRetries: Atomics.load(i32, d + D_READ_RETRIES),
    });
    for (let i = 0; i < cap; i++) {
      const c = slots[region + i * map.slotWords];
      if (!(c < 0)) continue;
      const home = homeIndex(c & 0x7fff_ffff, cap);
      const len = ((i - home + cap) % cap) + 1;
      probeSum += len;
      if (len > probeMax) probeMax = len;
      // Bucket b holds lengths in (2^(b-1), 2^b]; the last one everything longer.
      probeBuckets[Math.min(PROBE_BUCKETS.length - 1, 32 - Math.clz32(len - 1))]!++;
    }
  }
  const conflicts = conflictCounts(map.views);
  return {
    shards: map.shards,
    capacity,
    count,
    tombstones,
    bytes: map.views.byteLength(),
    maxBytes: map.views.maxByteLength,
    probeLengthMean: count === 0 ? 0 : probeSum / count,
    probeLengthMax: probeMax,
    probeLengthBuckets: PROBE_BUCKETS.map((le, b) => ({
      le,
      count: probeBuckets.slice(0, b + 1).reduce((sum, n) => sum + n, 0),
    })),
    lockWaits,
    readRetries,
    conflicts: conflicts.recorded,
    conflictsOverflowed: conflicts.overflowed,
    recoveries: logPosition(map.views).byKind[KIND_THREAD_DIED] ?? 0,
    perShard,
  };
}

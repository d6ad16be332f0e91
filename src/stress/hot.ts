/**
 * Hot keys and hot shards of a stress run: the run's map counts with
 * `metrics` (HOT_METRICS), and at the end the summary and `--json` show the
 * keys the hot-key sketch saw most (`map.hotKeys`) and the shards with the
 * most lock waits and sampled operations (`stats().perShard`,
 * `metrics().shardSamples`).
 */
import type { SharedMap } from '../shm/map.js';
import type { MetricsOptions, SharedMapStats } from '../shm/types.js';

/**
 * The stress map's `metrics` option. One operation in 64 per thread is
 * sampled (the library's default, 1 in 1,024, leaves a short run with too
 * few samples to tell a hot key from noise), into a sketch of 256 entries:
 * with more distinct keys than entries, every entry's estimate includes an
 * overestimate of about samples / entries, so a larger sketch keeps that
 * floor (0.4 %) well under the share of a truly hot key.
 */
export const HOT_METRICS: MetricsOptions = { sampleEvery: 64, hotKeys: 256 };

/** Hot keys and shards shown. */
const KEYS_SHOWN = 5;
const SHARDS_SHOWN = 3;

export interface HotKeySummary {
  /** The key as printed (a string of the key type's stress form). */
  key: string;
  /** The stress key id it encodes (ids below `keys` are shared, above are owned by one worker). */
  id: number;
  /** Estimated share of the sampled operations (0..1), an overestimate by at most `error`. */
  share: number;
  error: number;
  shard: number;
}

export interface HotShardSummary {
  shard: number;
  /** Times a writer waited for this shard's lock. */
  lockWaits: number;
  readRetries: number;
  /** This shard's share of the sampled operations (0..1). */
  share: number;
}

export interface HotSpots {
  /** Operations sampled into the sketch (over all threads). */
  samples: number;
  sampleEvery: number;
  /** The hottest sampled keys, hottest first. */
  keys: HotKeySummary[];
  /** The most contended shards: most lock waits first, then most sampled operations. */
  shards: HotShardSummary[];
}

/** Reads the hot keys and shards of `map` (created with HOT_METRICS); `id` turns a key into its stress id, `show` prints it. */
export function hotSpots(
  map: SharedMap<unknown, unknown>,
  stats: SharedMapStats,
  id: (key: unknown) => number,
  show: (key: unknown) => string,
): HotSpots {
  const m = map.metrics();
  const keys = map.hotKeys(KEYS_SHOWN).map((h) => ({
    key: show(h.key),
    id: id(h.key),
    share: h.share,
    error: h.error,
    shard: h.shard,
  }));
  const shards = stats.perShard
    .map((s, shard) => ({
      shard,
      lockWaits: s.lockWaits,
      readRetries: s.readRetries,
      share: m.samples === 0 ? 0 : (m.shardSamples[shard] ?? 0) / m.samples,
    }))
    .sort((a, b) => b.lockWaits - a.lockWaits || b.share - a.share || a.shard - b.shard)
    .slice(0, SHARDS_SHOWN);
  return { samples: m.samples, sampleEvery: HOT_METRICS.sampleEvery!, keys, shards };
}

const pct = (x: number): string => `${(100 * x).toFixed(1)}%`;

/** The summary's lines for `h`. */
export function formatHotSpots(h: HotSpots, shardCount: number): string[] {
  const out = [
    `hot keys (${h.samples.toLocaleString('en-US')} ops sampled, 1 in ${h.sampleEvery} per thread; share of the sampled ops, overestimated by at most the ±):`,
  ];
  if (h.keys.length === 0) out.push('  none sampled');
  for (const k of h.keys)
    out.push(`  ${k.key.padEnd(12)} ${pct(k.share).padStart(6)} ±${pct(k.error)}  shard ${k.shard}`);
  out.push(
    `hot shards (of ${shardCount}; most lock waits, then most sampled ops; an even spread is ${pct(1 / shardCount)} each):`,
  );
  for (const s of h.shards)
    out.push(
      `  shard ${String(s.shard).padEnd(4)} ${s.lockWaits.toLocaleString('en-US')} lock waits, ${s.readRetries.toLocaleString('en-US')} read retries, ${pct(s.share)} of the ops`,
    );
  return out;
}

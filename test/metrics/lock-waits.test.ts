/**
 * Lock waits by shard, from real contention: writer threads
 * (test/workers/shard-writer.mjs) that all write keys of one shard. The
 * waits show on that shard only, in `stats().perShard`, in `metrics()` and
 * in the Prometheus series `shmap_shard_lock_waits_total{shard}`, and the
 * sampled operations put that shard on top.
 */
import { describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { SharedMap } from '../../src/index.js';
import { registerMetrics } from '../../src/metrics/prometheus.js';
import { controlWords, requireDist, spawn } from '../shm/support.js';

requireDist();

const SHARDS = 8;
const WRITERS = 4;
const ROUNDS = 5_000;
/** Attempts before the run is called inconclusive (no writer ever found the lock taken). */
const ATTEMPTS = 5;

/** The first `n` int32 keys whose hash puts them in shard `shard` of `map`. */
function keysOfShard(map: SharedMap<number, number>, shard: number, n: number): number[] {
  const keys: number[] = [];
  for (let k = 0; keys.length < n; k++) if ((map.keyCodec.prepare(k) & map.shardMask) === shard) keys.push(k);
  return keys;
}

async function contend(map: SharedMap<number, number>, keys: number[]): Promise<void> {
  const words = controlWords();
  const L = { barrier: 0 };
  const runs = Array.from({ length: WRITERS }, () =>
    spawn('shard-writer.mjs', { handle: map.handle, keys, rounds: ROUNDS, words, L, parties: WRITERS }),
  );
  await Promise.all(runs.map((r) => r.result));
}

describe('lock waits by shard', () => {
  it('writers contending for one shard: its lock waits, and only its, in stats, metrics and the scrape', async (ctx) => {
    const map = SharedMap.create<number, number>({ shards: SHARDS, capacity: 256, metrics: { sampleEvery: 16 } });
    const hot = 5;
    const keys = keysOfShard(map, hot, 8);
    for (let a = 0; a < ATTEMPTS && map.stats().perShard[hot]!.lockWaits === 0; a++) await contend(map, keys);
    const st = map.stats();
    const waits = st.perShard.map((s) => s.lockWaits);
    console.log(`lock waits by shard: ${waits.join(' ')}`);
    if (waits[hot] === 0) ctx.skip(); // inconclusive: no writer ever waited (never seen on 2 cores)
    waits.forEach((w, shard) => (shard === hot ? expect(w).toBeGreaterThan(0) : expect(w).toBe(0)));
    expect(st.lockWaits).toBe(waits[hot]);
    expect(map.metrics().lockWaits).toBe(waits[hot]);
    // Every sampled operation was on that shard.
    const m = map.metrics();
    expect(m.samples).toBeGreaterThan(0);
    expect(m.shardSamples[hot]).toBe(m.samples);

    const registry = new Registry();
    registerMetrics(map, registry);
    const series = (await registry.getSingleMetric('shmap_shard_lock_waits_total')!.get()).values;
    expect(series.map((s) => [Number(s.labels.shard), s.value])).toEqual(waits.map((w, shard) => [shard, w]));
  });
});

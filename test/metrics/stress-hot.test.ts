/**
 * The hot keys and hot shards a stress run reports (summary and `--json`),
 * on short real runs (piscina workers from dist/): with `--dist hot:90` the
 * hottest keys are the planted ones (the first 1 % of the shared ids); with
 * `uniform` no key stands out. The one threshold, HOT_SHARE, separates the
 * two runs both ways.
 */
import { describe, expect, it } from 'vitest';
import { defaultOptions, type Dist } from '../../src/stress/options.js';
import { runStress, type StressResult } from '../../src/stress/run.js';
import { formatSummary, toJson } from '../../src/stress/summary.js';
import { distPath } from '../helpers/paths.js';

const KEYS = 2_000;
/** hot:90 sends 90 % of the shared picks to ids 0..PLANTED-1 (1 % of the keys). */
const PLANTED = KEYS / 100;
/**
 * A planted key gets about 0.9 x 0.75 (shared ops) / 20 = 3.4 % of the ops;
 * a uniform key about 0.04 %, shown with the sketch's overestimate (about
 * samples / 256 entries: under 1 %).
 */
const HOT_SHARE = 0.02;
const SEED = Number(process.env.SHMAP_SEED ?? Date.now() % 1_000_000);

async function stress(dist: Dist): Promise<StressResult> {
  const o = { ...defaultOptions(), workers: 3, keys: KEYS, owned: 200, ops: 24_000, dist, seed: SEED };
  console.log(`stress --dist ${dist.kind} workers=${o.workers} ops=${o.ops} seed=${o.seed}`);
  return runStress(o, { workerFile: distPath('workers/stress.js') });
}

describe('stress: hot keys and hot shards', () => {
  it('--dist hot:90 finds the planted hot keys, in the summary and in --json', async () => {
    const r = await stress({ kind: 'hot', percent: 90 });
    expect(r.exitCode).toBe(0);
    const h = r.hot;
    // One sample per 64 ops per thread, on average (random gaps).
    expect(h.samples).toBeGreaterThan(24_000 / 64 / 2);
    expect(h.keys).toHaveLength(5);
    for (const k of h.keys) {
      expect(k.id).toBeLessThan(PLANTED);
      expect(k.share).toBeGreaterThan(HOT_SHARE);
    }
    // The most contended shards, ordered by lock waits, then sampled share; shares of all shards sum to 1.
    expect(h.shards).toHaveLength(3);
    const waits = h.shards.map((s) => s.lockWaits);
    expect(waits).toEqual([...waits].sort((a, b) => b - a));
    expect(h.shards[0]!.lockWaits).toBe(Math.max(...r.stats.perShard.map((s) => s.lockWaits)));
    const summary = formatSummary(r);
    expect(summary).toContain('hot keys (');
    expect(summary).toMatch(new RegExp(`\\n  ${h.keys[0]!.key} +${(100 * h.keys[0]!.share).toFixed(1)}%`));
    expect(summary).toContain(`hot shards (of ${r.stats.shards};`);
    expect((JSON.parse(JSON.stringify(toJson(r))) as { hot: unknown }).hot).toEqual(h);
  });

  it('--dist uniform reports no key above a small share', async () => {
    const r = await stress({ kind: 'uniform' });
    expect(r.exitCode).toBe(0);
    expect(r.hot.samples).toBeGreaterThan(24_000 / 64 / 2);
    expect(r.hot.keys).toHaveLength(5);
    for (const k of r.hot.keys) expect(k.share).toBeLessThan(HOT_SHARE);
  });
});

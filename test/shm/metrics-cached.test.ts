/**
 * Gets and has answered by the read cache, counted across real
 * worker_threads (test/workers/metrics-cached.mjs, from dist/): the cache
 * counts its answers in the thread's counter block, and those counts are
 * the metric's, so they must add up exactly like every other count: per
 * kind, across threads that exited, and for threads beyond the counter
 * blocks (they count in the shared overflow block and keep no cache). A
 * worker whose cache drops one answer's count makes the same check fail.
 * In one thread: the cache still switches itself off when it does not pay,
 * and stays on when it does, with and without metrics.
 */
import { describe, it, expect, beforeAll } from 'vitest';
import { SharedMap } from '../../src/index.js';
import { controlWords, requireDist, spawn } from './support.js';
import { allCounts, operationCounts } from './metrics-support.js';

beforeAll(requireDist);

const N = 1000;
const READS = 5;

/** What `workers` workers of metrics-cached.mjs count in total. */
function expected(workers: number) {
  const all = (per: number) => workers * per;
  const half = (READS * N) / 2;
  return allCounts({
    sets: { insert: all(N) },
    gets: { hit: all(N + half), miss: all(half) },
    has: { hit: all(half), miss: all(half) },
    deletes: { hit: all(N / 2) },
  });
}

async function run(workers: number, opts: { threads?: number; lose?: number } = {}) {
  const map = SharedMap.create<number, number>({
    metrics: opts.threads === undefined ? true : { threads: opts.threads },
    shards: 8,
    capacity: workers * N,
  });
  const words = controlWords();
  const runs = Array.from({ length: workers }, (_, w) =>
    spawn<{ cached: boolean; answered: number }>('metrics-cached.mjs', {
      handle: map.handle,
      from: w * N,
      n: N,
      reads: READS,
      words,
      L: { barrier: 0 },
      parties: workers,
      lose: opts.lose === w,
    }),
  );
  const results = await Promise.all(runs.map((r) => r.result));
  return { map, results };
}

/** Answers a worker's cache gives at least: every read after the first of each key, get and has. */
const ANSWERS = (READS - 1) * N + READS * N;

describe('read-cache answers in the operation counts', () => {
  it('4 workers: every get and has adds up exactly, most of them answered by the cache', async () => {
    const { map, results } = await run(4);
    expect(operationCounts(map.metrics())).toEqual(expected(4));
    for (const r of results) {
      expect(r.cached).toBe(true);
      expect(r.answered).toBeGreaterThanOrEqual(ANSWERS);
    }
  });

  it('negative control: a cache that drops one answer makes the totals miss by one', async () => {
    const { map } = await run(4, { lose: 1 });
    const got = operationCounts(map.metrics());
    expect(() => expect(got).toEqual(expected(4))).toThrow();
    const want = expected(4);
    want.gets.miss -= 1; // its first answer: the second read of its first key, even, so deleted
    expect(got).toEqual(want);
  });

  it('more workers than blocks: those in the overflow block keep no cache, and the totals are still exact', async () => {
    // 2 blocks of their own: the main thread holds one, so at most one worker gets the other.
    const { map, results } = await run(4, { threads: 2 });
    const m = map.metrics();
    expect(operationCounts(m)).toEqual(expected(4));
    expect(m.overflowUsed).toBe(true);
    expect(results.filter((r) => r.cached)).toHaveLength(1);
  });
});

/** Reads the cache counts as missing (it goes to the shard): MISS_WINDOW of them make it look at whether it pays. */
const WINDOW = 8192;

describe('the read cache looks at whether it pays, with its answers counted where the metrics are', () => {
  /** Reads WINDOW keys once (a miss each), each followed by `hits` more reads; returns the cache's `off`. */
  function offAfter(metrics: boolean, hits: number, blind = false): number {
    const map = SharedMap.create<number, number>({ metrics, capacity: WINDOW });
    for (let k = 0; k < WINDOW; k++) map.set(k, k);
    const cache = map.readCache!;
    if (blind) (cache as unknown as { answered(): number }).answered = () => 0;
    for (let k = 0; k < WINDOW; k++) for (let r = 0; r <= hits; r++) expect(map.get(k)).toBe(k);
    if (metrics) expect(map.metrics().gets.hit).toBe(WINDOW * (hits + 1));
    return cache.off;
  }

  for (const metrics of [false, true])
    it(`metrics: ${metrics}: off after a window without hits, on after one with 2 hits per miss`, () => {
      expect(offAfter(metrics, 0)).toBeGreaterThan(0);
      expect(offAfter(metrics, 2)).toBe(0);
    });

  it('negative control: a cache that does not see its answers switches off although it pays', () => {
    expect(offAfter(true, 2, true)).toBeGreaterThan(0);
  });
});

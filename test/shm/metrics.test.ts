/**
 * Operation counters and the hot-key sketch (`metrics` at create), in one
 * thread: every counted kind exact after a known sequence of operations,
 * the checker shown to catch one lost count, option errors, and hot keys
 * found (and not invented) by the sketch.
 */
import { describe, it, expect } from 'vitest';
import { SharedMap, InvalidOptionError, ShmapTypeError } from '../../src/index.js';
import { checkInvariants } from '../../src/shm/debug.js';
import { expectUnchanged, picture, thrown } from './support.js';
import { expectCounts, type Want } from './metrics-support.js';

const check = checkInvariants;

/** A fixed sequence of operations over every counted kind on a map created with `metrics`, and what it counts. */
function workload(map: SharedMap<number, number>): Want {
  for (let k = 0; k < 100; k++) map.set(k, k); // 100 inserts
  for (let k = 0; k < 40; k++) map.set(k, -k); // 40 overwrites
  for (let k = 0; k < 150; k++) map.get(k); // 100 hits, 50 misses
  for (let k = 90; k < 120; k++) map.has(k); // 10 hits, 20 misses
  for (let k = 0; k < 10; k++) map.delete(k * 20); // 5 hits (0..80), 5 misses
  map.putIfAbsent(1, 5);
  map.putIfAbsent(500, 5);
  map.compareAndSet(2, -2, 7);
  map.update(3, (v) => (v ?? 0) + 1);
  map.add(4, 1);
  map.add(4, 1);
  const swept = map.sweep((v) => v > 95); // 96..99
  expect(swept).toBe(4);
  map.clear();
  return {
    sets: { insert: 100, overwrite: 40 },
    gets: { hit: 100, miss: 50 },
    has: { hit: 10, miss: 20 },
    deletes: { hit: 5, miss: 5 },
    atomic: { putIfAbsent: 2, compareAndSet: 1, update: 1, add: 2 },
    sweeps: 1,
    swept: 4,
    clears: 1,
  };
}

describe('operation counters in one thread', () => {
  it('count every kind exactly', () => {
    const map = SharedMap.create<number, number>({ metrics: true, shards: 4 });
    const want = workload(map);
    const m = map.metrics();
    expectCounts(m, want);
    expect(m.blocksInUse).toBe(1);
    expect(m.overflowUsed).toBe(false);
    check(map);
  });

  it('negative control: the same check fails when one count is lost', () => {
    const map = SharedMap.create<number, number>({ metrics: true, shards: 4 });
    const c = (map as unknown as { counters: { count(code: number, h: number): void } }).counters;
    const count = c.count.bind(c);
    let calls = 0;
    c.count = (code, h) => {
      if (++calls !== 77) count(code, h);
    };
    const want = workload(map);
    expect(() => expectCounts(map.metrics(), want)).toThrow();
  });

  it('count leases, expirations and their sweeps', () => {
    const map = SharedMap.create<number, number>({ metrics: true, ttl: true, leases: true, shards: 2 });
    for (let k = 0; k < 10; k++) map.set(k, k, { ttlMs: k < 4 ? 1 : 60_000 });
    map.acquire(5);
    map.acquire(6);
    map.release(5);
    map.retire(7);
    const later = performance.timeOrigin + performance.now() + 1000;
    expect(map.sweepExpired(later)).toBe(4);
    expectCounts(map.metrics(), {
      sets: { insert: 10 },
      leases: { acquire: 2, release: 1, retire: 1 },
      expirySweeps: 1,
      expired: 4,
    });
  });

  it('every handle of a thread counts in one block, and another handle reads the same totals', () => {
    const map = SharedMap.create<number, number>({ metrics: true });
    const other = SharedMap.attach<number, number>(map.handle);
    map.set(1, 1);
    other.get(1);
    other.get(2);
    expectCounts(other.metrics(), { sets: { insert: 1 }, gets: { hit: 1, miss: 1 } });
    expect(map.metrics().blocksInUse).toBe(1);
  });

  it('a map without metrics counts nothing and says so when asked', () => {
    const map = SharedMap.create<number, number>();
    map.set(1, 1);
    const before = picture(map);
    const err = thrown(() => map.metrics());
    expect(err).toBeInstanceOf(InvalidOptionError);
    expect((err as Error).message).toMatch(/metrics\(\) needs a map created with \{ metrics: true \}/);
    expect(thrown(() => map.hotKeys(3))).toBeInstanceOf(InvalidOptionError);
    expectUnchanged(map, before);
  });

  it('refuses bad metrics options, naming the option', () => {
    for (const [metrics, re] of [
      ['yes', /options\.metrics must be a boolean or an object/],
      [{ threads: 0 }, /options\.metrics\.threads must be an integer from 1 to 1024, got 0/],
      [{ sampleEvery: 1.5 }, /options\.metrics\.sampleEvery must be an integer/],
      [{ hotKeys: 5000 }, /options\.metrics\.hotKeys must be an integer from 1 to 1024/],
      [{ thread: 4 }, /options\.metrics\.thread is not an option/],
    ] as const) {
      const err = thrown(() => SharedMap.create({ metrics: metrics as never }), JSON.stringify(metrics));
      expect(err).toBeInstanceOf(InvalidOptionError);
      expect((err as Error).message).toMatch(re);
    }
  });

  it('hotKeys(k) refuses a k that is not a positive integer, and changes nothing', () => {
    const map = SharedMap.create<number, number>({ metrics: true });
    map.set(1, 1);
    const before = picture(map);
    const counts = map.metrics();
    for (const k of [0, -1, 1.5, '3', undefined]) {
      const err = thrown(() => map.hotKeys(k as never), String(k));
      expect(err).toBeInstanceOf(ShmapTypeError);
      expect((err as Error).message).toMatch(/hotKeys\(k\): k must be a positive integer/);
    }
    expectUnchanged(map, before);
    expect(map.metrics()).toEqual(counts);
  });
});

describe('hot keys in one thread', () => {
  /** 90% of 200,000 gets on 3 planted keys (string keys), the rest uniform over 10,000. */
  it('finds the planted hot keys of a hot:90 access pattern, each with about its share', () => {
    const map = SharedMap.create<string, number>({ key: 'string:16', metrics: { sampleEvery: 16 }, shards: 8 });
    const hot = ['hot-a', 'hot-b', 'hot-c'];
    let x = 12345;
    for (let i = 0; i < 200_000; i++) {
      x = (x * 1103515245 + 12345) & 0x7fffffff;
      map.get(x % 10 < 9 ? hot[x % 3]! : `k${x % 10_000}`);
    }
    const top = map.hotKeys(5);
    expect(
      top
        .slice(0, 3)
        .map((t) => t.key)
        .sort(),
    ).toEqual(hot);
    for (const t of top.slice(0, 3)) {
      expect(t.share).toBeGreaterThan(0.2);
      expect(t.share).toBeLessThan(0.4 + t.error);
    }
    for (const t of top.slice(3)) expect(t.share - t.error).toBeLessThan(0.05);
    const m = map.metrics();
    expect(m.samples).toBeGreaterThan(200_000 / 16 / 2);
    expect(m.shardSamples.reduce((a, b) => a + b, 0)).toBe(m.samples);
  });

  it('shows no dominant key for uniform access', () => {
    const map = SharedMap.create<number, number>({ metrics: { sampleEvery: 8 }, shards: 8 });
    let x = 999;
    for (let i = 0; i < 200_000; i++) {
      x = (x * 1103515245 + 12345) & 0x7fffffff;
      map.get(x % 10_000);
    }
    const top = map.hotKeys(10);
    expect(top.length).toBe(10);
    // Each key has 1/10,000 of the operations; the sketch's overestimate is bounded by `error`.
    for (const t of top) expect(t.share - t.error).toBeLessThan(0.01);
  });

  it('a sequential scan does not alias with the sampling (random gaps)', () => {
    const map = SharedMap.create<number, number>({ metrics: { sampleEvery: 4 } });
    for (let r = 0; r < 2000; r++) for (let k = 0; k < 64; k++) map.get(k);
    for (const t of map.hotKeys(5)) expect(t.share).toBeLessThan(0.1);
  });
});

/**
 * Growth and memory: growing from a tiny capacity, tombstone-heavy churn,
 * clear, reuse of freed regions (the buffer does not grow without bound at a
 * steady size), and the 24 bytes/entry target for int32 -> float64.
 */
import { describe, it, expect } from 'vitest';
import { SharedMap } from '../../src/index.js';
import { checkInvariants } from '../../src/shm/debug.js';
import { canonEntries } from './support.js';

const check = checkInvariants;

describe('growth', () => {
  for (const shards of [1, 4]) {
    it(`from capacity 8 to 3000 entries, every key findable after each step (shards ${shards})`, () => {
      const map = SharedMap.create<number, number>({ capacity: 8, shards });
      let lastCap = map.stats().capacity;
      let growths = 0;
      for (let i = 0; i < 3000; i++) {
        map.set((i * 2654435761) | 0, i); // scattered keys
        const cap = map.stats().capacity;
        if (cap !== lastCap) {
          growths++;
          lastCap = cap;
          check(map);
          for (let j = 0; j <= i; j++) expect(map.get((j * 2654435761) | 0)).toBe(j);
        }
        if (i < 300) check(map);
      }
      expect(growths).toBeGreaterThanOrEqual(3);
      expect(map.size).toBe(3000);
      const s = map.stats();
      expect(s.count).toBe(3000);
      expect(s.capacity).toBeGreaterThan(3000);
      for (const p of s.perShard) expect(p.count).toBeLessThan(p.capacity); // an EMPTY slot remains
      check(map);
    });
  }

  it('string keys grow too', () => {
    const map = SharedMap.create<string, number>({ key: 'string:24', value: 'int32', capacity: 8, shards: 2 });
    for (let i = 0; i < 2000; i++) map.set(`ключ-${i}`, i);
    for (let i = 0; i < 2000; i++) expect(map.get(`ключ-${i}`)).toBe(i);
    expect(map.size).toBe(2000);
    check(map);
  });
});

describe('tombstones and churn', () => {
  it('insert/delete churn at a steady size keeps contents exact, tombstones bounded, invariants after each step', () => {
    const map = SharedMap.create<number, number>({ capacity: 8, shards: 1 });
    const live = 100;
    for (let i = 0; i < live; i++) map.set(i, i);
    for (let i = live; i < 5000; i++) {
      map.set(i, i);
      expect(map.delete(i - live)).toBe(true);
      expect(map.size).toBe(live);
      check(map);
    }
    const s = map.stats();
    expect(s.count).toBe(live);
    expect(s.tombstones + s.count).toBeLessThan(s.capacity);
    expect(canonEntries(map.entries())).toEqual(
      canonEntries(Array.from({ length: live }, (_, j) => [5000 - live + j, 5000 - live + j] as const)),
    );
  });

  it('the buffer does not grow without bound under churn at a steady size (freed regions are reused)', () => {
    const map = SharedMap.create<number, number>({ capacity: 64, shards: 4 });
    const live = 500;
    let k = 0;
    for (; k < live; k++) map.set(k, k);
    const churn = (n: number) => {
      for (let i = 0; i < n; i++, k++) {
        map.set(k, k);
        map.delete(k - live);
      }
    };
    churn(20_000); // warm up: every shard has grown to its steady size and rehashed away tombstones
    const warm = map.stats().bytes;
    churn(100_000);
    const after = map.stats().bytes;
    expect(after).toBeLessThanOrEqual(warm);
    expect(map.size).toBe(live);
    check(map);
  });

  it('fill and clear cycles reuse memory', () => {
    // 1800 keys over 2 shards: ~900 each, well under the 1008 a 1152-slot
    // shard holds before it grows. With 2000 (~1000 each, right at that
    // threshold) a later fill could put a few more keys in one shard than any
    // earlier fill did, and that shard grew once more: a legitimate growth,
    // not a leak, which made this test flaky. The seed is fixed as well.
    const map = SharedMap.create<number, number>({ capacity: 8, shards: 2, seed: 42 });
    const fill = (base: number) => {
      for (let i = 0; i < 1800; i++) map.set(base + i, i);
    };
    fill(0);
    map.clear();
    fill(10_000);
    map.clear();
    const settled = map.stats().bytes;
    for (let c = 0; c < 15; c++) {
      fill(c * 100_000);
      expect(map.size).toBe(1800);
      map.clear();
      expect(map.size).toBe(0);
      check(map);
    }
    expect(map.stats().bytes).toBeLessThanOrEqual(settled);
  });

  it('delete everything then reinsert: no stale entries resurface', () => {
    const map = SharedMap.create<number, number>({ capacity: 8, shards: 1 });
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 500; i++) map.set(i, round);
      for (let i = 0; i < 500; i++) expect(map.delete(i)).toBe(true);
      expect(map.size).toBe(0);
      for (let i = 0; i < 500; i++) expect(map.has(i)).toBe(false);
      check(map);
    }
  });
});

describe('memory per entry', () => {
  it('1M int32 -> float64 with capacity up front: stats().bytes / size <= 24', () => {
    const n = 1_000_000;
    const map = SharedMap.create<number, number>({ key: 'int32', value: 'float64', capacity: n });
    const bytesEmpty = map.stats().bytes;
    for (let i = 0; i < n; i++) map.set(i, i + 0.5);
    expect(map.size).toBe(n);
    const s = map.stats();
    const perEntry = s.bytes / map.size;
    console.log(
      `1M int32->float64: ${s.bytes} bytes, ${perEntry.toFixed(2)} bytes/entry, probe mean ${s.probeLengthMean.toFixed(2)} max ${s.probeLengthMax}`,
    );
    expect(perEntry).toBeLessThanOrEqual(24);
    // types.ts: capacity is the number of "entries the map holds without growing".
    expect(s.bytes, 'the buffer grew although capacity was given up front').toBe(bytesEmpty);
    for (let i = 0; i < n; i += 997) expect(map.get(i)).toBe(i + 0.5);
    expect(map.get(n)).toBeUndefined();
    check(map);
  });
});

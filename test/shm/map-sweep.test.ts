/**
 * The safe alternatives to range + delete, one thread: sweep(pred) deletes the
 * matching entries shard by shard and returns how many; snapshot() copies the
 * entries and never throws.
 */
import { describe, it, expect } from 'vitest';
import { SharedMap } from '../../src/index.js';
import { checkInvariants } from '../../src/shm/debug.js';
import { canonEntries } from './support.js';

const check = checkInvariants;

describe('sweep', () => {
  it('deletes exactly the matching entries and returns their count; pred gets (value, key)', () => {
    const map = SharedMap.create<number, number>({ capacity: 8, shards: 4 });
    const model = new Map<number, number>();
    for (let i = 0; i < 1000; i++) {
      map.set(i, i % 7);
      model.set(i, i % 7);
    }
    const calls: Array<[number, number]> = [];
    const n = map.sweep((v, k) => {
      calls.push([k, v]);
      return v === 3;
    });
    let want = 0;
    for (const [k, v] of model)
      if (v === 3) {
        model.delete(k);
        want++;
      }
    expect(n).toBe(want);
    expect(calls.length).toBe(1000); // every entry seen once
    expect(new Set(calls.map(([k]) => k)).size).toBe(1000);
    for (const [k, v] of calls) expect(v).toBe(k % 7);
    expect(map.size).toBe(model.size);
    expect(canonEntries(map.entries())).toEqual(canonEntries(model.entries()));
    check(map);
  });

  it('returns 0 and changes nothing when nothing matches, and on an empty map', () => {
    const map = SharedMap.create<number, number>({ capacity: 8, shards: 2 });
    expect(map.sweep(() => true)).toBe(0);
    for (let i = 0; i < 50; i++) map.set(i, i);
    expect(map.sweep(() => false)).toBe(0);
    expect(map.size).toBe(50);
    expect(map.sweep(() => true)).toBe(50);
    expect(map.size).toBe(0);
    check(map);
  });

  it('works on string keys and json values', () => {
    const map = SharedMap.create<string, { ttl: number }>({
      key: 'string:16',
      value: 'json:32',
      capacity: 8,
      shards: 2,
    });
    for (let i = 0; i < 200; i++) map.set(`sess-${i}`, { ttl: i });
    expect(map.sweep((v) => v.ttl < 150)).toBe(150);
    expect(map.size).toBe(50);
    expect(map.get('sess-149')).toBeUndefined();
    expect(map.get('sess-150')).toEqual({ ttl: 150 });
    check(map);
  });

  it('an error thrown by pred propagates; the map stays consistent and unlocked', () => {
    const map = SharedMap.create<number, number>({ capacity: 8, shards: 2 });
    for (let i = 0; i < 100; i++) map.set(i, i);
    const boom = new Error('boom');
    let seen = 0;
    expect(() =>
      map.sweep(() => {
        if (++seen === 30) throw boom;
        return false;
      }),
    ).toThrow(boom);
    expect(map.size).toBe(100);
    check(map);
    map.set(1000, 1); // no lock left held
    expect(map.sweep((v) => v === 1)).toBe(2);
    check(map);
  });

  it('a tombstone-heavy sweep followed by inserts keeps the table healthy', () => {
    const map = SharedMap.create<number, number>({ capacity: 8, shards: 1 });
    for (let round = 0; round < 10; round++) {
      for (let i = 0; i < 500; i++) map.set(round * 1000 + i, i);
      expect(map.sweep((v) => v % 10 !== 0)).toBe(450);
      check(map);
    }
    expect(map.size).toBe(500);
  });
});

describe('snapshot', () => {
  it('is an array of [key, value] pairs equal to the contents, and a copy', () => {
    const map = SharedMap.create<string, string>({ key: 'string:8', value: 'string:8', capacity: 8, shards: 2 });
    for (let i = 0; i < 30; i++) map.set(`k${i}`, `v${i}`);
    const snap = map.snapshot();
    expect(Array.isArray(snap)).toBe(true);
    expect(snap.length).toBe(30);
    expect(canonEntries(snap)).toEqual(canonEntries(map.entries()));
    map.clear();
    expect(snap.length).toBe(30); // unaffected by later writes
    expect(map.snapshot()).toEqual([]);
  });

  it('own writes between snapshots are reflected', () => {
    const map = SharedMap.create<number, number>({ capacity: 8, shards: 2 });
    map.set(1, 1);
    expect(map.snapshot()).toEqual([[1, 1]]);
    map.set(1, 2);
    map.set(2, 3);
    expect(canonEntries(map.snapshot())).toEqual(
      canonEntries([
        [1, 2],
        [2, 3],
      ]),
    );
  });
});

/**
 * The atomic operations, one thread: putIfAbsent, compareAndSet, update
 * (returning undefined deletes), add (a missing key counts as 0).
 * Their atomicity under threads is in map-threads.test.ts.
 */
import { describe, it, expect } from 'vitest';
import { SharedMap } from '../../src/index.js';
import { checkInvariants } from '../../src/shm/debug.js';
import { canonEntries, picture, expectUnchanged, thrown } from './support.js';

const check = checkInvariants;

function numbers(shards = 1) {
  return SharedMap.create<number, number>({ key: 'int32', value: 'float64', capacity: 8, shards });
}

describe('putIfAbsent', () => {
  it('inserts when absent and returns undefined', () => {
    const map = numbers();
    expect(map.putIfAbsent(1, 10)).toBeUndefined();
    expect(map.get(1)).toBe(10);
    expect(map.size).toBe(1);
    check(map);
  });

  it('returns the existing value and changes nothing when present (a stored 0 included)', () => {
    const map = numbers();
    map.set(1, 10).set(2, 0);
    expect(map.putIfAbsent(1, 99)).toBe(10);
    expect(map.putIfAbsent(2, 99)).toBe(0);
    expect(map.get(1)).toBe(10);
    expect(map.get(2)).toBe(0);
    expect(map.size).toBe(2);
    check(map);
  });

  it('inserts again after a delete', () => {
    const map = numbers();
    map.set(1, 10);
    map.delete(1);
    expect(map.putIfAbsent(1, 11)).toBeUndefined();
    expect(map.get(1)).toBe(11);
    expect(map.size).toBe(1);
    check(map);
  });

  it('works with string keys and values', () => {
    const map = SharedMap.create<string, string>({ key: 'string:16', value: 'string:16', capacity: 8, shards: 1 });
    expect(map.putIfAbsent('ключ', 'a')).toBeUndefined();
    expect(map.putIfAbsent('ключ', 'b')).toBe('a');
    expect(map.get('ключ')).toBe('a');
    check(map);
  });
});

describe('compareAndSet', () => {
  it('sets when the current value equals expected', () => {
    const map = numbers();
    map.set(1, 10);
    expect(map.compareAndSet(1, 10, 11)).toBe(true);
    expect(map.get(1)).toBe(11);
    expect(map.size).toBe(1);
    check(map);
  });

  it('changes nothing when the current value differs', () => {
    const map = numbers();
    map.set(1, 10);
    expect(map.compareAndSet(1, 9, 11)).toBe(false);
    expect(map.get(1)).toBe(10);
    check(map);
  });

  it('fails on a missing key and does not insert it', () => {
    const map = numbers();
    expect(map.compareAndSet(1, 0, 11)).toBe(false);
    expect(map.has(1)).toBe(false);
    expect(map.size).toBe(0);
    check(map);
  });

  it('compares string values by content', () => {
    const map = SharedMap.create<number, string>({ key: 'int32', value: 'string:16', capacity: 8, shards: 1 });
    map.set(1, 'héllo');
    const same = ['h', 'é', 'llo'].join('');
    expect(map.compareAndSet(1, same, 'bye')).toBe(true);
    expect(map.get(1)).toBe('bye');
    expect(map.compareAndSet(1, 'by', 'x')).toBe(false);
    expect(map.compareAndSet(1, 'bye ', 'x')).toBe(false);
    expect(map.get(1)).toBe('bye');
    check(map);
  });

  it('compares bigint values by value', () => {
    const map = SharedMap.create<number, bigint>({ key: 'int32', value: 'bigint64', capacity: 8, shards: 1 });
    map.set(1, 2n ** 40n);
    expect(map.compareAndSet(1, 2n ** 40n, 5n)).toBe(true);
    expect(map.get(1)).toBe(5n);
    check(map);
  });

  it('a CAS loop adds exactly', () => {
    const map = numbers();
    map.set(7, 0);
    for (let i = 0; i < 100; i++) {
      for (;;) {
        const cur = map.get(7)!;
        if (map.compareAndSet(7, cur, cur + 1)) break;
      }
    }
    expect(map.get(7)).toBe(100);
  });
});

describe('update', () => {
  it('passes undefined for a missing key and inserts what fn returns', () => {
    const map = numbers();
    const seen: Array<number | undefined> = [];
    const r = map.update(1, (old) => {
      seen.push(old);
      return 5;
    });
    expect(r).toBe(5);
    expect(seen).toEqual([undefined]); // called exactly once
    expect(map.get(1)).toBe(5);
    expect(map.size).toBe(1);
    check(map);
  });

  it('passes the old value and stores the new one', () => {
    const map = numbers();
    map.set(1, 5);
    const seen: Array<number | undefined> = [];
    expect(
      map.update(1, (old) => {
        seen.push(old);
        return old! * 3;
      }),
    ).toBe(15);
    expect(seen).toEqual([5]);
    expect(map.get(1)).toBe(15);
    expect(map.size).toBe(1);
    check(map);
  });

  it('deletes the key when fn returns undefined', () => {
    const map = numbers();
    map.set(1, 5).set(2, 6);
    expect(map.update(1, () => undefined)).toBeUndefined();
    expect(map.has(1)).toBe(false);
    expect(map.size).toBe(1);
    expect(map.get(2)).toBe(6);
    check(map);
  });

  it('is a no-op when the key is missing and fn returns undefined', () => {
    const map = numbers();
    map.set(2, 6);
    let calls = 0;
    expect(
      map.update(1, (old) => {
        calls++;
        expect(old).toBeUndefined();
        return undefined;
      }),
    ).toBeUndefined();
    expect(calls).toBe(1);
    expect(map.has(1)).toBe(false);
    expect(map.size).toBe(1);
    check(map);
  });

  it('an error thrown by fn propagates, the map is unchanged, and the shard is not left locked', () => {
    const map = numbers();
    map.set(1, 5);
    const before = picture(map);
    const boom = new Error('boom');
    expect(
      thrown(() =>
        map.update(1, () => {
          throw boom;
        }),
      ),
    ).toBe(boom);
    expectUnchanged(map, before);
    expect(
      thrown(() =>
        map.update(2, () => {
          throw boom;
        }),
      ),
    ).toBe(boom);
    expectUnchanged(map, before);
    // The lock was released: writes to the same (only) shard still go through.
    map.set(1, 6);
    map.update(1, (o) => o! + 1);
    expect(map.get(1)).toBe(7);
  });

  it('works on json values (read-modify-write of an object)', () => {
    const map = SharedMap.create<string, { hits: number; tags: string[] }>({
      key: 'string:16',
      value: 'json:128',
      capacity: 8,
      shards: 1,
    });
    for (let i = 0; i < 3; i++) {
      map.update('page', (old) => ({ hits: (old?.hits ?? 0) + 1, tags: [...(old?.tags ?? []), `t${i}`] }));
    }
    expect(map.get('page')).toEqual({ hits: 3, tags: ['t0', 't1', 't2'] });
    check(map);
  });
});

describe('add', () => {
  it('counts a missing key as 0 and returns the new value', () => {
    const map = numbers();
    expect(map.add(1, 5)).toBe(5);
    expect(map.get(1)).toBe(5);
    expect(map.size).toBe(1);
    expect(map.add(1, 2)).toBe(7);
    expect(map.add(1, -10)).toBe(-3);
    expect(map.get(1)).toBe(-3);
    expect(map.add(1, 0.5)).toBe(-2.5);
    expect(map.size).toBe(1);
    check(map);
  });

  it('adding 0 to a missing key inserts 0', () => {
    const map = numbers();
    expect(map.add(3, 0)).toBe(0);
    expect(map.has(3)).toBe(true);
    expect(map.get(3)).toBe(0);
    check(map);
  });

  it('works on int32 and uint32 values', () => {
    const a = SharedMap.create<string, number>({ key: 'string:8', value: 'int32', capacity: 8, shards: 1 });
    for (let i = 0; i < 10; i++) a.add('n', 3);
    expect(a.get('n')).toBe(30);
    expect(a.add('n', -31)).toBe(-1);
    const b = SharedMap.create<number, number>({ key: 'int32', value: 'uint32', capacity: 8, shards: 1 });
    expect(b.add(1, 2 ** 32 - 2)).toBe(2 ** 32 - 2);
    expect(b.add(1, 1)).toBe(2 ** 32 - 1);
    check(a);
    check(b);
  });

  it('counts many keys exactly across growth', () => {
    const map = SharedMap.create<number, number>({ capacity: 8, shards: 2 });
    const model = new Map<number, number>();
    for (let i = 0; i < 5000; i++) {
      const k = (i * 7919) % 613;
      map.add(k, 1);
      model.set(k, (model.get(k) ?? 0) + 1);
    }
    expect(canonEntries(map.entries())).toEqual(canonEntries(model.entries()));
    check(map);
  });
});

/**
 * Iteration on one thread: keys/values/entries/forEach/Symbol.iterator, and
 * the iterating thread's own writes during iteration (Go's rules: an entry
 * deleted before it is reached is not produced; an entry added may or may not
 * be; no entry is produced twice; no error), across growth of the shard being
 * iterated. Foreign writes during iteration are in map-threads.test.ts.
 */
import { describe, it, expect } from 'vitest';
import { SharedMap } from '../../src/index.js';
import { checkInvariants } from '../../src/shm/debug.js';
import { canonEntries } from './support.js';

const check = checkInvariants;

function filled(n: number, opts: { capacity?: number; shards?: number } = {}) {
  const map = SharedMap.create<number, number>({ key: 'int32', value: 'float64', capacity: 8, shards: 1, ...opts });
  for (let i = 0; i < n; i++) map.set(i, i * 10);
  return map;
}

function counts<T>(xs: Iterable<T>): Map<T, number> {
  const m = new Map<T, number>();
  for (const x of xs) m.set(x, (m.get(x) ?? 0) + 1);
  return m;
}

function duplicates<T>(xs: Iterable<T>): T[] {
  return [...counts(xs)].filter(([, n]) => n > 1).map(([x]) => x);
}

describe('the iteration methods', () => {
  it('each produces every entry exactly once, consistently with one another', () => {
    const map = filled(200, { shards: 4 });
    for (let i = 0; i < 200; i += 5) map.delete(i);
    const expected = canonEntries(map.snapshot());
    expect(expected.length).toBe(160);

    expect(canonEntries(map.entries())).toEqual(expected);
    expect(canonEntries(map)).toEqual(expected);
    expect(canonEntries(map[Symbol.iterator]())).toEqual(expected);

    const keys = [...map.keys()];
    const values = [...map.values()];
    expect(duplicates(keys)).toEqual([]);
    expect(keys.length).toBe(160);
    expect(values.length).toBe(160);
    expect(canonEntries(keys.map((k, i) => [k, values[i]] as const))).toEqual(expected); // same order

    const seen: Array<[number, number]> = [];
    const thisArgs: unknown[] = [];
    map.forEach(function (this: unknown, v, k, m) {
      seen.push([k, v]);
      thisArgs.push(m);
    });
    expect(canonEntries(seen)).toEqual(expected);
    for (const m of thisArgs) expect(m).toBe(map); // (value, key, map), like Map.prototype.forEach
    check(map);
  });

  it('an empty map, and a cleared one, produce nothing', () => {
    const map = filled(0);
    expect([...map]).toEqual([]);
    expect([...map.keys()]).toEqual([]);
    let calls = 0;
    map.forEach(() => calls++);
    expect(calls).toBe(0);
    for (let i = 0; i < 50; i++) map.set(i, i);
    map.clear();
    expect([...map.entries()]).toEqual([]);
  });

  it('iterators are iterable and stay done once done', () => {
    const map = filled(3);
    const it = map.keys();
    expect(it[Symbol.iterator]()).toBe(it);
    const got = [it.next(), it.next(), it.next()].map((r) => r.value);
    expect(got.sort()).toEqual([0, 1, 2]);
    expect(it.next().done).toBe(true);
    expect(it.next().done).toBe(true);
  });

  it('a string-keyed map iterates its decoded keys and values', () => {
    const map = SharedMap.create<string, string>({ key: 'string:16', value: 'string:16', capacity: 8, shards: 2 });
    const model = new Map<string, string>();
    for (let i = 0; i < 50; i++) {
      map.set(`ключ${i}`, `é${i}`);
      model.set(`ключ${i}`, `é${i}`);
    }
    expect(canonEntries(map.entries())).toEqual(canonEntries(model.entries()));
  });

  it('two iterations at once on one thread do not disturb each other', () => {
    const map = filled(30, { shards: 2 });
    const outer: number[] = [];
    let innerTotal = 0;
    for (const k of map.keys()) {
      outer.push(k);
      for (const _ of map.keys()) innerTotal++;
    }
    expect(outer.length).toBe(30);
    expect(innerTotal).toBe(900);
  });

  it('breaking out early is fine and the map stays usable', () => {
    const map = filled(30);
    for (const [k] of map) {
      if (k >= 0) break;
    }
    map.set(100, 1);
    expect(map.size).toBe(31);
    check(map);
  });
});

describe('own deletes during own iteration (Go semantics, no error)', () => {
  for (const shards of [1, 4]) {
    it(`deleting the current entry each step empties the map (shards ${shards})`, () => {
      const map = filled(300, { shards });
      const produced: number[] = [];
      for (const [k, v] of map) {
        produced.push(k);
        expect(v).toBe(k * 10);
        expect(map.delete(k)).toBe(true);
      }
      expect(duplicates(produced)).toEqual([]);
      expect(produced.length).toBe(300);
      expect(map.size).toBe(0);
      check(map);
    });

    it(`entries deleted before they are reached are not produced (shards ${shards})`, () => {
      const n = 400;
      const map = filled(n, { shards });
      const produced: number[] = [];
      const deleted = new Set<number>();
      let step = 0;
      for (const [k] of map) {
        expect(deleted.has(k), `key ${k} produced after it was deleted`).toBe(false);
        produced.push(k);
        // Delete two keys not produced yet (if still present), picked by a fixed rule.
        for (const victim of [(k * 7 + 3) % n, (k * 13 + step) % n]) {
          if (!produced.includes(victim) && map.delete(victim)) deleted.add(victim);
        }
        step++;
        check(map);
      }
      expect(duplicates(produced)).toEqual([]);
      // Every key not deleted is produced exactly once.
      const expected = [...Array(n).keys()].filter((k) => !deleted.has(k));
      expect(produced.slice().sort((a, b) => a - b)).toEqual(expected);
      expect(deleted.size).toBeGreaterThan(50);
      expect(map.size).toBe(expected.length);
      check(map);
    });
  }

  it('sweep-like range + delete of matching entries leaves exactly the non-matching ones', () => {
    const map = filled(500, { shards: 4 });
    for (const [k, v] of map.entries()) if (v % 20 === 0) map.delete(k);
    expect(map.size).toBe(250);
    for (const [k] of map.entries()) expect(k % 2).toBe(1);
    check(map);
  });
});

describe('own writes through a second handle of the same map, in the iterating thread', () => {
  // The iterating thread's own deletes and sets during iteration are allowed
  // (map.ts, Iteration); a second handle attached in the same thread is the same thread.
  it('are allowed like writes through the iterating handle (no ConcurrentMapIterationError)', () => {
    const map = filled(50, { shards: 2 });
    const other = SharedMap.attach<number, number>(map.handle);
    const produced: number[] = [];
    for (const [k] of map) {
      produced.push(k);
      if (produced.length === 5) {
        other.set(1000, 1);
        other.delete(k);
      }
    }
    expect(duplicates(produced)).toEqual([]);
    expect(produced.filter((k) => k < 50).length).toBe(50);
    expect(map.conflicts()).toEqual([]);
    check(map);
  });
});

describe('every kind of own write during own iteration', () => {
  it('add, update, putIfAbsent, compareAndSet and sweep are own writes too: no error, no duplicate', () => {
    const map = filled(200, { shards: 4 });
    const produced: number[] = [];
    let step = 0;
    for (const [k] of map) {
      produced.push(k);
      switch (step++ % 6) {
        case 0:
          map.add(k, 1);
          break;
        case 1:
          map.update(k, (o) => (o ?? 0) + 1);
          break;
        case 2:
          map.putIfAbsent(10_000 + k, 1);
          break;
        case 3:
          map.compareAndSet(k, k * 10, -1);
          break;
        case 4:
          map.update(10_000 + k - 2, () => undefined);
          break;
        case 5:
          map.sweep((v, key) => key === 10_000 + k - 3);
          break;
      }
    }
    expect(duplicates(produced)).toEqual([]);
    expect(produced.filter((k) => k < 200).sort((a, b) => a - b)).toEqual([...Array(200).keys()]);
    expect(map.conflicts()).toEqual([]);
    check(map);
  });
});

describe('own clear during own iteration', () => {
  it('ends the iteration without error: nothing deleted is produced afterwards', () => {
    const map = filled(60, { shards: 2 });
    const produced: number[] = [];
    for (const [k] of map) {
      produced.push(k);
      if (produced.length === 5) map.clear();
    }
    expect(produced.length).toBe(5);
    expect(map.size).toBe(0);
    check(map);
  });
});

describe('own inserts during own iteration, incl. growth of the shard being iterated', () => {
  for (const [shards, how] of [
    [1, 'for...of'],
    [2, 'for...of'],
    [4, 'for...of'],
    [1, 'forEach'],
    [4, 'forEach'],
  ] as const) {
    it(`no duplicates; every untouched original key exactly once (shards ${shards}, ${how})`, () => {
      const originals = 40;
      const map = filled(originals, { capacity: 8, shards });
      const capBefore = map.stats().capacity;
      const produced: number[] = [];
      let next = 1_000_000;
      const added = new Set<number>();
      const step = (k: number) => {
        produced.push(k);
        if (produced.length > 10_000) throw new Error('iteration does not end');
        // 25 inserts per step: each shard grows several times during the iteration.
        if (k < originals) {
          for (let j = 0; j < 25; j++) {
            map.set(next, 1);
            added.add(next);
            next++;
          }
        }
      };
      if (how === 'forEach') map.forEach((_v, k) => step(k));
      else for (const [k] of map) step(k);
      expect(map.stats().capacity).toBeGreaterThan(capBefore); // growth did happen
      expect(duplicates(produced)).toEqual([]);
      const producedOriginals = produced.filter((k) => k < originals).sort((a, b) => a - b);
      expect(producedOriginals).toEqual([...Array(originals).keys()]);
      for (const k of produced) expect(k < originals || added.has(k)).toBe(true);
      expect(map.size).toBe(originals + added.size);
      check(map);
    });
  }

  it('overwriting the current entry (and others) during iteration: no error, no duplicate', () => {
    const map = filled(100, { shards: 2 });
    const produced: number[] = [];
    for (const [k] of map) {
      produced.push(k);
      map.set(k, -1);
      map.set((k + 1) % 100, -2);
    }
    expect(duplicates(produced)).toEqual([]);
    expect(produced.length).toBe(100);
    check(map);
  });

  it('mixed inserts and deletes with growth: untouched originals exactly once, deleted-before-reached never', () => {
    const originals = 64;
    const map = filled(originals, { capacity: 8, shards: 2 });
    const produced: number[] = [];
    const deleted = new Set<number>();
    let next = 5000;
    for (const [k] of map) {
      expect(deleted.has(k)).toBe(false);
      produced.push(k);
      if (produced.length > 100_000) throw new Error('iteration does not end');
      if (k < originals) {
        for (let j = 0; j < 10; j++) map.set(next++, 0);
        const victim = (k * 5 + 1) % originals;
        if (!produced.includes(victim) && map.delete(victim)) deleted.add(victim);
      } else if (k % 3 === 0) {
        map.delete(k); // delete some of our own inserts as we meet them
      }
    }
    expect(duplicates(produced)).toEqual([]);
    const want = [...Array(originals).keys()].filter((k) => !deleted.has(k));
    expect(produced.filter((k) => k < originals).sort((a, b) => a - b)).toEqual(want);
    check(map);
  });
});

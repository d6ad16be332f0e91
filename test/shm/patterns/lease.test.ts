/**
 * Leases: reference-counted entries. Unit rules on small
 * maps with exact expectations, then real threads: holders acquire / check /
 * release random keys while a retirer retires keys and re-inserts new ones;
 * every entry's value is a unique id, and shared Int32Arrays record who holds
 * and who removed each id.
 */
import { describe, it, expect, beforeAll } from 'vitest';
import { SharedMap, LeaseError, InvalidOptionError, sharedNow, type SharedMapOptions } from '../../../src/index.js';
import { checkInvariants } from '../../../src/shm/debug.js';
import { controlWords, picture, expectUnchanged, thrown, requireDist, spawn, canonEntries } from '../support.js';
import { untilClockPast } from '../../helpers/until.js';

const check = checkInvariants;
type AnyMap = SharedMap<any, any>;

beforeAll(requireDist);

function leaseMap(extra: SharedMapOptions = {}): AnyMap {
  return SharedMap.create<any, any>({ leases: true, capacity: 16, shards: 1, ...extra });
}

/** Expects `bad` to throw LeaseError and leave the map as it was (size, entries, invariants, lease counts of `keys`). */
function leaseRejects(map: AnyMap, bad: () => unknown, keys: unknown[] = []): LeaseError {
  const before = picture(map);
  const counts = map.leases ? keys.map((k) => map.leaseCount(k)) : [];
  const e = thrown(bad) as LeaseError;
  expect(e).toBeInstanceOf(LeaseError);
  expect(e.code).toBe('SHMAP_LEASE');
  expectUnchanged(map, before);
  if (map.leases) expect(keys.map((k) => map.leaseCount(k))).toEqual(counts);
  return e;
}

describe('acquire and release', () => {
  it('acquire returns the value and takes a lease; release gives it back; reads are unaffected', () => {
    const map = leaseMap();
    map.set(1, 10);
    expect(map.leaseCount(1)).toBe(0);
    expect(map.acquire(1)).toBe(10);
    expect(map.leaseCount(1)).toBe(1);
    expect(map.acquire(1)).toBe(10);
    expect(map.leaseCount(1)).toBe(2);
    expect(map.get(1)).toBe(10);
    expect(map.has(1)).toBe(true);
    expect(canonEntries(map.snapshot())).toEqual(canonEntries([[1, 10]]));
    expect([...map.keys()]).toEqual([1]);
    expect(map.release(1)).toBe(false);
    expect(map.leaseCount(1)).toBe(1);
    expect(map.release(1)).toBe(false);
    expect(map.leaseCount(1)).toBe(0);
    expect(map.get(1)).toBe(10);
    expect(map.size).toBe(1);
    check(map);
  });

  it('acquire of an absent key returns undefined and takes nothing', () => {
    const map = leaseMap();
    expect(map.acquire(5)).toBeUndefined();
    expect(map.leaseCount(5)).toBe(0);
    expect(map.size).toBe(0);
  });

  it('a leased entry can still be overwritten (value changes, the lease stays)', () => {
    const map = leaseMap({ value: 'string:8' });
    map.set(1, 'a');
    expect(map.acquire(1)).toBe('a');
    map.set(1, 'b');
    expect(map.get(1)).toBe('b');
    expect(map.leaseCount(1)).toBe(1);
    expect(map.acquire(1)).toBe('b');
    expect(map.release(1)).toBe(false);
    expect(map.release(1)).toBe(false);
    check(map);
  });

  it('release with no lease held throws LeaseError, nothing changed (present key and absent key)', () => {
    const map = leaseMap();
    map.set(1, 10);
    leaseRejects(map, () => map.release(1), [1]);
    leaseRejects(map, () => map.release(2), [1, 2]);
    map.acquire(1);
    map.release(1);
    // one release too many
    leaseRejects(map, () => map.release(1), [1]);
    expect(map.get(1)).toBe(10);
  });

  it('leases survive the shard growing and being rehashed under them', () => {
    const map = leaseMap({ capacity: 8 });
    map.set(1, 10);
    map.set(2, 20);
    map.acquire(1);
    map.acquire(1);
    map.acquire(2);
    expect(map.retire(2)).toBe('deferred');
    const cap = map.stats().capacity;
    for (let k = 100; k < 400; k++) map.set(k, k);
    expect(map.stats().capacity).toBeGreaterThan(cap);
    expect(map.leaseCount(1)).toBe(2);
    expect(map.leaseCount(2)).toBe(1);
    expect(map.get(2)).toBeUndefined();
    expect(map.release(1)).toBe(false);
    expect(map.release(1)).toBe(false);
    expect(map.release(2)).toBe(true);
    expect(map.has(1)).toBe(true);
    expect(map.size).toBe(301);
    check(map);
  });
});

describe('retire', () => {
  it("no lease held: removed at once ('removed'); absent key: 'absent'", () => {
    const map = leaseMap();
    map.set(1, 10);
    expect(map.retire(1)).toBe('removed');
    expect(map.size).toBe(0);
    expect(map.get(1)).toBeUndefined();
    expect(map.retire(1)).toBe('absent');
    expect(map.retire(99)).toBe('absent');
    check(map);
  });

  it("leased: 'deferred' — hidden from every read and from acquire, counted by size, removed by the last release", () => {
    const map = leaseMap();
    map.set(1, 10);
    map.set(2, 20);
    expect(map.acquire(1)).toBe(10);
    expect(map.acquire(1)).toBe(10);
    expect(map.retire(1)).toBe('deferred');
    expect(map.get(1)).toBeUndefined();
    expect(map.has(1)).toBe(false);
    expect(map.acquire(1)).toBeUndefined();
    expect(map.leaseCount(1)).toBe(2);
    expect([...map.keys()]).toEqual([2]);
    expect(canonEntries(map.snapshot())).toEqual(canonEntries([[2, 20]]));
    expect(map.sweep(() => false)).toBe(0);
    expect(map.size).toBe(2);
    // retiring again changes nothing
    expect(map.retire(1)).toBe('deferred');
    expect(map.leaseCount(1)).toBe(2);
    expect(map.release(1)).toBe(false);
    expect(map.size).toBe(2);
    expect(map.release(1)).toBe(true);
    expect(map.size).toBe(1);
    expect(map.leaseCount(1)).toBe(0);
    expect(map.retire(1)).toBe('absent');
    leaseRejects(map, () => map.release(1), [1]);
    check(map);
  });

  it('the key can be written again after the last release (a new entry, no leases)', () => {
    const map = leaseMap();
    map.set(1, 10);
    map.acquire(1);
    map.retire(1);
    expect(map.release(1)).toBe(true);
    map.set(1, 11);
    expect(map.get(1)).toBe(11);
    expect(map.leaseCount(1)).toBe(0);
    expect(map.acquire(1)).toBe(11);
    check(map);
  });
});

describe('delete and update on a leased entry retire it', () => {
  it('delete returns true, hides it, the last release removes it', () => {
    const map = leaseMap();
    map.set(1, 10);
    map.acquire(1);
    expect(map.delete(1)).toBe(true);
    expect(map.get(1)).toBeUndefined();
    expect(map.size).toBe(1);
    expect(map.delete(1)).toBe(false);
    expect(map.release(1)).toBe(true);
    expect(map.size).toBe(0);
    check(map);
  });

  it('delete with no lease removes at once', () => {
    const map = leaseMap();
    map.set(1, 10);
    expect(map.delete(1)).toBe(true);
    expect(map.size).toBe(0);
    expect(map.delete(1)).toBe(false);
  });

  it('update returning undefined on a leased entry retires it', () => {
    const map = leaseMap();
    map.set(1, 10);
    map.acquire(1);
    expect(map.update(1, () => undefined)).toBeUndefined();
    expect(map.get(1)).toBeUndefined();
    expect(map.leaseCount(1)).toBe(1);
    expect(map.release(1)).toBe(true);
    expect(map.size).toBe(0);
    check(map);
  });
});

describe('writes to a retired-but-leased key throw LeaseError with nothing changed', () => {
  function retiredLeased(): AnyMap {
    const map = leaseMap();
    map.set(1, 10);
    map.set(2, 20);
    map.acquire(1);
    map.retire(1);
    return map;
  }
  const writes: Array<[string, (m: AnyMap) => unknown]> = [
    ['set', (m) => m.set(1, 11)],
    ['putIfAbsent', (m) => m.putIfAbsent(1, 11)],
    ['compareAndSet(undefined)', (m) => m.compareAndSet(1, undefined, 11)],
    ['update', (m) => m.update(1, () => 11)],
    ['add', (m) => m.add(1, 1)],
  ];
  for (const [name, w] of writes) {
    it(name, () => {
      const map = retiredLeased();
      leaseRejects(map, () => w(map), [1, 2]);
      expect(map.get(1)).toBeUndefined();
      expect(map.release(1)).toBe(true);
      w(map);
      expect(map.get(1)).toBe(name === 'add' ? 1 : 11);
      check(map);
    });
  }

  it('update does not call its function', () => {
    const map = retiredLeased();
    let calls = 0;
    leaseRejects(map, () => map.update(1, () => (calls++, 5)), [1]);
    expect(calls).toBe(0);
  });
});

describe('leases on a map without leases: true throw LeaseError', () => {
  it('acquire, release, retire, leaseCount', () => {
    const map = SharedMap.create<number, number>({ capacity: 16, shards: 1 });
    map.set(1, 1);
    for (const bad of [() => map.acquire(1), () => map.release(1), () => map.retire(1), () => map.leaseCount(1)]) {
      const e = leaseRejects(map as AnyMap, bad);
      expect(e.message).toMatch(/leases: true/);
    }
    const ttlOnly = SharedMap.create<number, number>({ ttl: true, capacity: 16, shards: 1 });
    ttlOnly.set(1, 1);
    leaseRejects(ttlOnly as AnyMap, () => ttlOnly.acquire(1));
    expect(() => SharedMap.create({ leases: 1 as unknown as boolean })).toThrow(InvalidOptionError);
  });
});

describe('leases and TTL together', () => {
  it('an expired entry cannot be acquired', () => {
    const map = leaseMap({ ttl: true });
    map.set(1, 10, { ttlMs: 10 });
    untilClockPast(sharedNow() + 10);
    expect(map.acquire(1)).toBeUndefined();
    expect(map.leaseCount(1)).toBe(0);
  });

  it('sweepExpired retires an expired entry still leased; the last release removes it and returns true', () => {
    const map = leaseMap({ ttl: true });
    map.set(1, 10, { ttlMs: 60_000 });
    map.set(2, 20, { ttlMs: 60_000 });
    map.set(3, 30);
    map.acquire(1);
    map.acquire(1);
    const far = sharedNow() + 1e9;
    expect(map.sweepExpired(far)).toBe(1);
    expect(map.size).toBe(2);
    expect(map.get(1)).toBeUndefined();
    expect(map.leaseCount(1)).toBe(2);
    leaseRejects(map, () => map.set(1, 11), [1]);
    expect(map.sweepExpired(far)).toBe(0);
    expect(map.release(1)).toBe(false);
    expect(map.release(1)).toBe(true);
    expect(map.size).toBe(1);
    map.set(1, 12);
    expect(map.get(1)).toBe(12);
    check(map);
  });

  it('an entry that expires while leased: the lease is released normally, the slot is reclaimed later', () => {
    const map = leaseMap({ ttl: true });
    map.set(1, 10, { ttlMs: 10 });
    const t = sharedNow() + 10;
    expect(map.acquire(1)).toBe(10);
    untilClockPast(t);
    expect(map.get(1)).toBeUndefined();
    leaseRejects(map, () => map.set(1, 11), [1]);
    expect(map.delete(1)).toBe(false);
    expect(map.release(1)).toBe(true);
    expect(map.size).toBe(0);
    check(map);
  });
});

describe('no entry is removed while a lease is held (every removal path)', () => {
  // sweep(pred) and clear() also remove entries, and the lease guarantee is
  // that no entry is removed while a lease is held. These hold the map to it.
  it('sweep(pred) retires a leased entry instead of removing it', () => {
    const map = leaseMap();
    map.set(1, 10);
    map.set(2, 20);
    map.acquire(1);
    map.sweep(() => true);
    expect(map.get(1)).toBeUndefined();
    expect(map.leaseCount(1)).toBe(1);
    expect(map.release(1)).toBe(true);
    expect(map.size).toBe(0);
    check(map);
  });

  it('clear() retires a leased entry instead of removing it', () => {
    const map = leaseMap();
    map.set(1, 10);
    map.set(2, 20);
    map.acquire(1);
    map.clear();
    expect(map.get(1)).toBeUndefined();
    expect(map.get(2)).toBeUndefined();
    expect(map.leaseCount(1)).toBe(1);
    expect(map.release(1)).toBe(true);
    expect(map.size).toBe(0);
    check(map);
  });
});

// ---------------------------------------------------------------------------
// Real threads.

interface HolderResult {
  acquired: number;
  misses: number;
  nested: number;
  lastReleases: number;
  rendezvous: number;
  violations: string[];
}
interface RetirerResult {
  cur: number[];
  nextId: number;
  ops: number;
  removedNow: number;
  deferred: number;
  rdvDeferred: number;
  blocked: number;
  reinserted: number;
  violations: string[];
}

describe('leases across real threads', () => {
  it('holders acquire/check/release while a retirer retires and re-inserts: no removal under a lease, each retired entry removed once', async () => {
    const seed = Number(process.env.SHMAP_SEED ?? (Date.now() ^ (Math.random() * 0x7fffffff)) >>> 0);
    console.log(
      `lease threads: seed ${seed} (replay the workers' random choices with SHMAP_SEED=${seed}; thread timing still varies)`,
    );
    const keys = 24;
    const holders = 3;
    const iters = 25_000;
    const maxOps = 400_000;
    const maxId = keys + maxOps + 1;
    const map = SharedMap.create<number, number>({ leases: true, capacity: keys * 2, shards: 4 });
    for (let k = 0; k < keys; k++) map.set(k, k + 1);
    const ints = (n: number) => new Int32Array(new SharedArrayBuffer(n * 4));
    // Per id: leases the holders say they hold (in after acquire, out before release),
    // removals recorded (by a release that returned true or a retire that returned
    // 'removed'), and whether the retirer retired it.
    const holding = ints(maxId + 1);
    const removedBy = ints(maxId + 1);
    const retired = ints(maxId + 1);
    const words = controlWords();
    const L = { barrier: 0, holdersDone: 4, rdv: 8 };
    const common = { handle: map.handle, keys, holding, removedBy, retired, words, L, parties: holders + 1 };
    const hs = Array.from({ length: holders }, (_, i) =>
      spawn<HolderResult>('lease-holder.mjs', { ...common, iters, h: i, seed: seed + i }),
    );
    const rt = spawn<RetirerResult>('lease-retirer.mjs', { ...common, holders, maxOps, maxId, seed: seed + 100 });
    const hr = await Promise.all(hs.map((h) => h.result));
    const rr = await rt.result;
    console.log(
      'lease threads: holders',
      hr.map(({ violations: _violations, ...n }) => n),
      'retirer',
      { ...rr, cur: undefined },
    );
    for (const h of hr) expect(h.violations, `seed ${seed}`).toEqual([]);
    expect(rr.violations, `seed ${seed}`).toEqual([]);
    // Not vacuous: leases were taken, retires were deferred and finished by a release, writes were refused.
    const sum = (f: (h: HolderResult) => number) => hr.reduce((a, h) => a + f(h), 0);
    expect(sum((h) => h.acquired)).toBeGreaterThan(0);
    expect(sum((h) => h.rendezvous)).toBeGreaterThan(0);
    expect(rr.rdvDeferred).toBeGreaterThan(0);
    expect(rr.deferred).toBeGreaterThanOrEqual(rr.rdvDeferred);
    expect(sum((h) => h.lastReleases)).toBeGreaterThan(0);
    expect(rr.removedNow).toBeGreaterThan(0);
    // Every retired id removed exactly once; every other id never.
    for (let id = 1; id < rr.nextId; id++) {
      const want = Atomics.load(retired, id) === 1 ? 1 : 0;
      if (Atomics.load(removedBy, id) !== want)
        expect(Atomics.load(removedBy, id), `id ${id} (retired: ${want}) seed ${seed}`).toBe(want);
      if (Atomics.load(holding, id) !== 0) expect(Atomics.load(holding, id), `id ${id} still held`).toBe(0);
    }
    expect(rr.removedNow + sum((h) => h.lastReleases)).toBe(countRetired(retired, rr.nextId));
    // All leases released; all retired entries gone; the live ones as the retirer left them.
    let live = 0;
    for (let k = 0; k < keys; k++) {
      expect(map.leaseCount(k), `key ${k}`).toBe(0);
      const id = rr.cur[k]!;
      if (id === 0) {
        expect(map.has(k), `key ${k} retired last`).toBe(false);
      } else {
        live++;
        expect(map.get(k), `key ${k}`).toBe(id);
      }
      expect(() => map.release(k)).toThrow(LeaseError);
    }
    expect(map.size).toBe(live);
    check(map);
    expect(map.conflicts()).toEqual([]);
  });
});

function countRetired(retired: Int32Array, nextId: number): number {
  let n = 0;
  for (let id = 1; id < nextId; id++) n += Atomics.load(retired, id);
  return n;
}

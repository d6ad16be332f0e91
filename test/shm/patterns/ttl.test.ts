/**
 * TTL entries: lazy expiry on every read path, defaultTtlMs,
 * every write setting the expiry anew, sweepExpired counting and reclaiming,
 * startSweeper on a timer, bad input leaving the map unchanged; then real
 * threads: writer workers setting keys with short TTLs, reader workers checking
 * that no entry is readable after its expiry, a sweeper thread (plain Worker
 * and piscina task) reclaiming them.
 *
 * Expiry is on the shared clock (sharedNow()); the tests never assert how long
 * anything took. To see an entry expire they wait, in a bounded loop, until the
 * clock is past an upper bound of its expiry (taken right after the write).
 */
import { describe, it, expect, beforeAll, vi } from 'vitest';
import { Worker } from 'node:worker_threads';
import { Piscina } from 'piscina';
import {
  SharedMap,
  InvalidOptionError,
  startSweeper,
  createStopSwitch,
  requestStop,
  sweeperTotals,
  sharedNow,
  type SharedMapOptions,
} from '../../../src/index.js';
import { checkInvariants } from '../../../src/shm/debug.js';
import { distPath } from '../../helpers/paths.js';
import { controlWords, picture, expectUnchanged, thrown, requireDist, spawn, canonEntries } from '../support.js';
import { until, untilClockPast } from '../../helpers/until.js';

const check = checkInvariants;
type AnyMap = SharedMap<any, any>;

beforeAll(requireDist);

/** Sets k with a short TTL; returns an upper bound of its expiry on the shared clock. */
function setShort(map: AnyMap, k: unknown, v: unknown, ttlMs = 15): number {
  map.set(k, v, { ttlMs });
  return sharedNow() + ttlMs;
}

/**
 * Sets k with a short TTL and reads it back while it is certainly fresh: if
 * the reads end after the earliest possible expiry (a loaded machine can
 * pause this thread for longer than a short TTL), it sets k again with
 * twice the TTL. Returns what the reads saw and an upper bound of the expiry.
 */
function setFresh<T>(map: AnyMap, k: unknown, v: unknown, read: () => T): { t: number; seen: T } {
  for (let ttlMs = 15; ttlMs <= 60_000; ttlMs *= 2) {
    const before = sharedNow();
    const t = setShort(map, k, v, ttlMs);
    const seen = read();
    if (sharedNow() < before + ttlMs) return { t, seen };
  }
  throw new Error('this thread never read an entry within 60 s of setting it');
}

const FAR = () => sharedNow() + 1e9;

function ttlMap(extra: SharedMapOptions = {}): AnyMap {
  return SharedMap.create<any, any>({ ttl: true, capacity: 16, shards: 1, ...extra });
}

describe('lazy expiry: an expired entry is absent to every read at once', () => {
  it('get, has, keys, values, entries, forEach, for...of, snapshot, sweep; size counts it until reclaimed', () => {
    const map = ttlMap();
    map.set(1, 10);
    map.set(2, 20, { ttlMs: 60_000 });
    const { t, seen: fresh } = setFresh(map, 3, 30, () => [map.get(3), map.has(3)]);
    expect(fresh).toEqual([30, true]);
    untilClockPast(t);
    expect(map.get(3)).toBeUndefined();
    expect(map.has(3)).toBe(false);
    expect([...map.keys()].sort()).toEqual([1, 2]);
    expect([...map.values()].sort()).toEqual([10, 20]);
    expect(canonEntries(map.entries())).toEqual(
      canonEntries([
        [1, 10],
        [2, 20],
      ]),
    );
    expect(canonEntries(map)).toEqual(
      canonEntries([
        [1, 10],
        [2, 20],
      ]),
    );
    const seen: number[] = [];
    map.forEach((_v, k) => seen.push(k as number));
    expect(seen.sort()).toEqual([1, 2]);
    expect(canonEntries(map.snapshot())).toEqual(
      canonEntries([
        [1, 10],
        [2, 20],
      ]),
    );
    const visited: number[] = [];
    expect(map.sweep((_v, k) => (visited.push(k as number), false))).toBe(0);
    expect(visited.sort()).toEqual([1, 2]);
    // Documented: size (and stats().count) count the expired entry until it is reclaimed.
    expect(map.size).toBe(3);
    expect(map.stats().count).toBe(3);
    expect(map.sweepExpired()).toBe(1);
    expect(map.size).toBe(2);
    expect(map.stats().count).toBe(2);
    check(map);
  });

  it('works for string keys and json values, across a second handle', () => {
    const map = ttlMap({ key: 'string:16', value: 'json:64' });
    const other = SharedMap.attach<string, unknown>(map.handle);
    map.set('session:b', { user: 'b' });
    const { t, seen } = setFresh(map, 'session:a', { user: 'a' }, () => other.get('session:a'));
    expect(seen).toEqual({ user: 'a' });
    untilClockPast(t);
    expect(other.get('session:a')).toBeUndefined();
    expect(other.has('session:a')).toBe(false);
    expect(other.snapshot()).toEqual([['session:b', { user: 'b' }]]);
    expect(other.sweepExpired()).toBe(1);
    expect(map.size).toBe(1);
    check(map);
  });

  it('an entry not yet expired reads normally, and sweepExpired(now) leaves it', () => {
    const map = ttlMap();
    map.set(1, 1, { ttlMs: 60_000 });
    expect(map.sweepExpired()).toBe(0);
    expect(map.get(1)).toBe(1);
    expect(map.size).toBe(1);
  });
});

describe('writes to an expired key act as on an absent key', () => {
  function expired(): AnyMap {
    const map = ttlMap();
    untilClockPast(setShort(map, 7, 70));
    map.set(8, 80);
    return map;
  }

  it('set inserts anew (size does not grow: the slot is taken over)', () => {
    const map = expired();
    map.set(7, 71);
    expect(map.get(7)).toBe(71);
    expect(map.size).toBe(2);
    expect(map.sweepExpired()).toBe(0);
    check(map);
  });

  it('putIfAbsent inserts and returns undefined', () => {
    const map = expired();
    expect(map.putIfAbsent(7, 72)).toBeUndefined();
    expect(map.get(7)).toBe(72);
    expect(map.putIfAbsent(7, 73)).toBe(72);
    check(map);
  });

  it('compareAndSet sees undefined, not the expired value', () => {
    const map = expired();
    expect(map.compareAndSet(7, 70, 74)).toBe(false);
    expect(map.get(7)).toBeUndefined();
    expect(map.compareAndSet(7, undefined, 74)).toBe(true);
    expect(map.get(7)).toBe(74);
    check(map);
  });

  it('update is called with undefined; returning undefined removes the expired slot', () => {
    const map = expired();
    const olds: unknown[] = [];
    expect(map.update(7, (o) => (olds.push(o), 75))).toBe(75);
    expect(olds).toEqual([undefined]);
    expect(map.get(7)).toBe(75);
    const map2 = expired();
    expect(map2.update(7, (o) => (olds.push(o), undefined))).toBeUndefined();
    expect(olds).toEqual([undefined, undefined]);
    expect(map2.size).toBe(1);
    check(map2);
  });

  it('add counts from 0', () => {
    const map = expired();
    expect(map.add(7, 5)).toBe(5);
    expect(map.get(7)).toBe(5);
    check(map);
  });

  it('delete returns false (nothing visible was deleted) and reclaims the slot', () => {
    const map = expired();
    expect(map.delete(7)).toBe(false);
    expect(map.size).toBe(1);
    expect(map.sweepExpired()).toBe(0);
    check(map);
  });
});

describe('every write sets the expiry anew (its ttlMs, else defaultTtlMs, else never)', () => {
  it('set with ttlMs: expiry between (before + ttl) and (after + ttl) exactly', () => {
    const map = ttlMap();
    const before = sharedNow();
    map.set(1, 1, { ttlMs: 60_000 });
    const after = sharedNow();
    expect(map.sweepExpired(before + 60_000 - 0.001)).toBe(0);
    expect(map.get(1)).toBe(1);
    expect(map.sweepExpired(after + 60_000)).toBe(1);
    expect(map.size).toBe(0);
  });

  it('without ttlMs and defaultTtlMs an entry never expires; a later plain set clears an earlier TTL', () => {
    const map = ttlMap();
    map.set(1, 1);
    map.set(2, 2, { ttlMs: 60_000 });
    map.set(2, 3);
    map.set(3, 3, {});
    expect(map.sweepExpired(Number.MAX_VALUE)).toBe(0);
    expect(map.size).toBe(3);
  });

  it('defaultTtlMs applies to set, putIfAbsent, compareAndSet, update and add; ttlMs overrides it', () => {
    const map = ttlMap({ defaultTtlMs: 60_000 });
    const before = sharedNow();
    map.set(1, 1);
    map.putIfAbsent(2, 2);
    map.compareAndSet(3, undefined, 3);
    map.update(4, () => 4);
    map.add(5, 5);
    map.set(6, 6, { ttlMs: 600_000 });
    const after = sharedNow();
    expect(map.sweepExpired(before + 60_000 - 0.001)).toBe(0);
    expect(map.sweepExpired(after + 60_000)).toBe(5);
    expect([...map.keys()]).toEqual([6]);
    expect(map.sweepExpired(after + 600_000)).toBe(1);
    expect(map.size).toBe(0);
  });

  it('an overwrite (set, add, update, successful compareAndSet) moves the expiry; failed writes do not', () => {
    const map = ttlMap();
    for (let k = 1; k <= 6; k++) map.set(k, k, { ttlMs: 60_000 });
    const later = sharedNow() + 60_000;
    map.set(1, 10, { ttlMs: 600_000 }); // moved later
    map.add(2, 1); // no ttlMs, no default: never
    map.update(3, (o) => (o as number) + 1); // never
    expect(map.compareAndSet(4, 4, 40)).toBe(true); // never
    expect(map.compareAndSet(5, 999, 50)).toBe(false); // unchanged
    expect(map.putIfAbsent(6, 60)).toBe(6); // unchanged
    expect(map.sweepExpired(later)).toBe(2);
    expect(canonEntries(map.snapshot())).toEqual(
      canonEntries([
        [1, 10],
        [2, 3],
        [3, 4],
        [4, 40],
      ]),
    );
    expect(map.sweepExpired(FAR())).toBe(1);
    expect(map.sweepExpired(Number.MAX_VALUE)).toBe(0);
    expect(map.size).toBe(3);
  });
});

describe('sweepExpired: counts and reclaims, shard by shard', () => {
  it('returns how many it removed; size, stats().count and free slots follow', () => {
    const map = SharedMap.create<number, number>({ ttl: true, capacity: 64, shards: 4 });
    for (let k = 0; k < 40; k++) map.set(k, k, k % 4 === 0 ? undefined : { ttlMs: 60_000 });
    const s0 = map.stats();
    expect(s0.count).toBe(40);
    expect(map.sweepExpired(FAR())).toBe(30);
    const s1 = map.stats();
    expect(map.size).toBe(10);
    expect(s1.count).toBe(10);
    expect(s1.count + s1.tombstones).toBeLessThan(s0.count + s0.tombstones);
    expect(s1.capacity).toBe(s0.capacity);
    expect(map.sweepExpired(FAR())).toBe(0);
    for (let k = 0; k < 40; k++) expect(map.get(k)).toBe(k % 4 === 0 ? k : undefined);
    check(map);
  });

  it('reclaimed slots are reused: a shard kept full of expired entries grows unless swept', () => {
    const run = (sweep: boolean): number => {
      const map = SharedMap.create<number, number>({ ttl: true, capacity: 64, shards: 1 });
      const cap = map.stats().capacity;
      // n expired + n new entries pass the 7/8 load factor and fill more than half the
      // shard (so it doubles), while n live entries alone fit at the same capacity.
      const n = Math.floor(cap / 2) - 1;
      expect(2 * n).toBeGreaterThan((cap * 7) / 8);
      for (let k = 0; k < n; k++) map.set(k, k, { ttlMs: 60_000 });
      expect(map.stats().capacity).toBe(cap);
      if (sweep) expect(map.sweepExpired(FAR())).toBe(n);
      for (let k = 1000; k < 1000 + n; k++) map.set(k, k);
      check(map);
      return map.stats().capacity / cap;
    };
    expect(run(true)).toBe(1);
    expect(run(false)).toBeGreaterThan(1);
  });

  it('on an empty map and a map with nothing expired it returns 0', () => {
    const map = ttlMap();
    expect(map.sweepExpired()).toBe(0);
    map.set(1, 1, { ttlMs: 60_000 });
    expect(map.sweepExpired()).toBe(0);
    expect(map.size).toBe(1);
  });
});

describe('startSweeper', () => {
  it('sweeps on its timer and stops (fake setInterval, real shared clock)', () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    try {
      const map = ttlMap({ capacity: 64 });
      const counts: number[] = [];
      const stop = startSweeper(map, { intervalMs: 50, onSweep: (n) => counts.push(n) });
      let t = 0;
      for (let k = 0; k < 5; k++) t = setShort(map, k, k);
      map.set(99, 99);
      untilClockPast(t);
      expect(map.size).toBe(6);
      vi.advanceTimersByTime(50);
      expect(counts).toEqual([5]);
      expect(map.size).toBe(1);
      vi.advanceTimersByTime(100);
      expect(counts).toEqual([5, 0, 0]);
      stop();
      untilClockPast(setShort(map, 7, 7));
      vi.advanceTimersByTime(500);
      expect(counts).toEqual([5, 0, 0]);
      expect(map.size).toBe(2);
    } finally {
      vi.useRealTimers();
    }
  });

  it('with real timers: reclaims once entries expire, then stops', async () => {
    const map = ttlMap({ capacity: 64 });
    let sweeps = 0;
    let removed = 0;
    const stop = startSweeper(map, {
      intervalMs: 5,
      onSweep: (n) => {
        sweeps++;
        removed += n;
      },
    });
    try {
      for (let k = 0; k < 8; k++) setShort(map, k, k, 10);
      map.set(100, 100);
      await until(() => map.size === 1, 'the sweeper to reclaim 8 expired entries');
      expect(removed).toBe(8);
    } finally {
      stop();
    }
    const at = sweeps;
    await new Promise((r) => setTimeout(r, 30));
    expect(sweeps).toBe(at);
  });

  it('rejects a bad interval and a map without ttl (InvalidOptionError)', () => {
    const map = ttlMap();
    for (const bad of [0, -1, NaN, Infinity, '5', undefined]) {
      expect(() => startSweeper(map, { intervalMs: bad as number })).toThrow(InvalidOptionError);
    }
    expect(() => startSweeper(SharedMap.create({}) as AnyMap, { intervalMs: 10 })).toThrow(InvalidOptionError);
  });
});

describe('bad input: InvalidOptionError, the map unchanged', () => {
  function rejects(map: AnyMap, bad: () => unknown): Error {
    const before = picture(map);
    const e = thrown(bad) as Error & { code?: string };
    expect(e).toBeInstanceOf(InvalidOptionError);
    expect(e.code).toBe('SHMAP_INVALID_OPTION');
    expectUnchanged(map, before);
    return e;
  }

  it('ttlMs on a map without ttl (insert and overwrite)', () => {
    const map = SharedMap.create<number, number>({ capacity: 16, shards: 1 });
    map.set(1, 1);
    expect(rejects(map, () => map.set(2, 2, { ttlMs: 100 })).message).toMatch(/ttl/);
    rejects(map, () => map.set(1, 5, { ttlMs: 100 }));
    // ttlMs: undefined is no option at all
    map.set(3, 3, { ttlMs: undefined });
    expect(map.get(3)).toBe(3);
  });

  it('bad ttlMs values, on a new key and on an existing one (value and expiry kept)', () => {
    const map = ttlMap();
    map.set(1, 1, { ttlMs: 60_000 });
    const later = sharedNow() + 60_000;
    for (const bad of [0, -5, NaN, Infinity, -Infinity, '100', null, 1n]) {
      rejects(map, () => map.set(2, 2, { ttlMs: bad as number }));
      rejects(map, () => map.set(1, 9, { ttlMs: bad as number }));
    }
    expect(map.get(1)).toBe(1);
    expect(map.sweepExpired(later)).toBe(1);
  });

  it('bad defaultTtlMs, or defaultTtlMs without ttl, at create', () => {
    for (const bad of [0, -1, NaN, Infinity, '10', null]) {
      expect(() => SharedMap.create({ ttl: true, defaultTtlMs: bad as number })).toThrow(InvalidOptionError);
    }
    expect(() => SharedMap.create({ defaultTtlMs: 100 })).toThrow(InvalidOptionError);
    expect(() => SharedMap.create({ ttl: 'yes' as unknown as boolean })).toThrow(InvalidOptionError);
  });

  it('sweepExpired on a map without ttl, or with a now that is not a number', () => {
    const plain = SharedMap.create<number, number>({ capacity: 16, shards: 1 });
    plain.set(1, 1);
    rejects(plain, () => plain.sweepExpired());
    const map = ttlMap();
    map.set(1, 1, { ttlMs: 60_000 });
    rejects(map, () => map.sweepExpired(NaN));
    rejects(map, () => map.sweepExpired('1' as unknown as number));
  });
});

// ---------------------------------------------------------------------------
// Real threads.

interface WriterResult {
  writes: number;
  longKeys: number[];
  shortKeys: number[];
}
interface ReaderResult {
  reads: number;
  hits: number;
  expiredMisses: number;
  checkedAbsences: number;
  snapshots: number;
  violations: string[];
}
interface SweeperResult {
  sweeps: number;
  removed: number;
  threads: number;
  running?: number;
}

function runSweeperWorker(
  handle: unknown,
  stop: unknown,
  intervalMs: number,
): { worker: Worker; result: Promise<SweeperResult> } {
  const worker = new Worker(distPath('workers/sweeper.js'), {
    workerData: { shmapSweeper: 1, map: handle, stop, intervalMs },
  });
  const result = new Promise<SweeperResult>((resolve, reject) => {
    worker.once('exit', (code) => reject(new Error(`sweeper: exited with code ${code} before posting a result`)));
    const timer = setTimeout(() => {
      void worker.terminate();
      reject(new Error('sweeper: no result within 20 s of start; terminated'));
    }, 20_000);
    worker.once('message', (m: { type: string; result?: SweeperResult; error?: unknown }) => {
      clearTimeout(timer);
      if (m.type === 'sweeper-result') resolve(m.result!);
      else reject(new Error('sweeper failed: ' + JSON.stringify(m.error)));
    });
    worker.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
  result.catch(() => {}); // awaited by the test later; a failure before then is not an unhandled rejection
  return { worker, result };
}

describe('TTL across real threads', () => {
  it('no entry is readable after its expiry; the sweeper thread reclaims; size ends at the unexpired count', async () => {
    const seed = Number(process.env.SHMAP_SEED ?? (Date.now() ^ (Math.random() * 0x7fffffff)) >>> 0);
    console.log(
      `ttl threads: seed ${seed} (replay the workers' random choices with SHMAP_SEED=${seed}; thread timing still varies)`,
    );
    const W = 2;
    const R = 2;
    const keys = 512;
    const maxWrites = 40_000; // per writer
    const map = SharedMap.create<number, number>({ ttl: true, capacity: keys, shards: 8 });
    const ids = W * maxWrites + 1;
    // Per write id: lower and upper bounds of its expiry (0 = not published yet).
    const lower = new Float64Array(new SharedArrayBuffer(ids * 8));
    const upper = new Float64Array(new SharedArrayBuffer(ids * 8));
    // Per key: the id of the last write started, and of the last write completed.
    const started = new Int32Array(new SharedArrayBuffer(keys * 4));
    const done = new Int32Array(new SharedArrayBuffer(keys * 4));
    const words = controlWords();
    const L = { barrier: 0, writersDone: 4, longestExpiry: 6 };
    const common = { handle: map.handle, keys, lower, upper, started, done, words, L, parties: W + R };
    const stop = createStopSwitch();
    const sweeper = runSweeperWorker(map.handle, stop, 2);
    const writers = Array.from({ length: W }, (_, w) =>
      spawn<WriterResult>('ttl-writer.mjs', { ...common, w, W, maxWrites, runMs: 400, seed: seed + w }),
    );
    const readers = Array.from({ length: R }, (_, r) =>
      spawn<ReaderResult>('ttl-reader.mjs', { ...common, W, seed: seed + 100 + r }),
    );
    const wr = await Promise.all(writers.map((x) => x.result));
    const rr = await Promise.all(readers.map((x) => x.result));
    console.log(
      `ttl threads: writes ${wr.map((x) => x.writes).join('+')}; readers`,
      rr.map(({ violations: _violations, ...n }) => n),
    );
    for (const r of rr) expect(r.violations, `seed ${seed}`).toEqual([]);
    const longKeys = wr.flatMap((x) => x.longKeys);
    const shortKeys = wr.flatMap((x) => x.shortKeys);
    expect(longKeys.length + shortKeys.length).toBe(keys);
    expect(longKeys.length).toBeGreaterThan(0);
    // Not vacuous: the readers checked reads against expiries, and saw entries expire.
    const sum = (f: (r: ReaderResult) => number) => rr.reduce((a, r) => a + f(r), 0);
    expect(sum((r) => r.hits)).toBeGreaterThan(0);
    expect(sum((r) => r.expiredMisses)).toBeGreaterThan(0);
    expect(sum((r) => r.checkedAbsences)).toBeGreaterThan(0);
    // Every short key is now past its expiry: the sweeper thread reclaims them all.
    await until(
      () => map.size === longKeys.length,
      `the sweeper thread to bring size to ${longKeys.length} (seed ${seed})`,
    );
    requestStop(stop);
    const sw = await sweeper.result;
    const last = map.sweepExpired();
    expect(last).toBe(0);
    expect(map.size).toBe(longKeys.length);
    expect(sw.sweeps).toBeGreaterThan(1);
    expect(sw.removed).toBeGreaterThanOrEqual(shortKeys.length);
    expect(sw.removed).toBeLessThanOrEqual(wr.reduce((a, x) => a + x.writes, 0));
    for (const k of longKeys) expect(map.get(k), `long key ${k}`).toBe(Atomics.load(done, k));
    for (const k of shortKeys) if (map.has(k)) expect(map.has(k), `short key ${k}`).toBe(false);
    check(map);
    expect(map.conflicts()).toEqual([]);
  });

  it('the sweeper thread stops at once on requestStop even with a long interval, and reports its counts', async () => {
    const map = SharedMap.create<number, number>({ ttl: true, capacity: 64, shards: 2 });
    let t = 0;
    for (let k = 0; k < 10; k++) t = setShort(map, k, k, 5);
    map.set(100, 1);
    untilClockPast(t);
    const stop = createStopSwitch();
    // A 10-minute interval: the result can only come from the stop request waking it.
    const sweeper = runSweeperWorker(map.handle, stop, 600_000);
    await until(() => map.size === 1, 'the first sweep');
    requestStop(stop);
    expect(await sweeper.result).toEqual({ sweeps: 1, removed: 10, threads: 1, running: undefined });
    check(map);
  });

  it('a sweeper thread terminated between sweeps is replaced by a new one on the same switch, which resumes', async () => {
    const map = SharedMap.create<number, number>({ ttl: true, capacity: 64, shards: 2 });
    let t = 0;
    for (let k = 0; k < 10; k++) t = setShort(map, k, k, 5);
    map.set(100, 1);
    untilClockPast(t);
    const stop = createStopSwitch();
    const first = runSweeperWorker(map.handle, stop, 600_000);
    await until(() => map.size === 1, 'the first sweep');
    await until(() => sweeperTotals(stop).sweeps === 1, 'the first sweep to be counted');
    const firstThread = first.worker.threadId;
    await first.worker.terminate();
    // The switch still names the dead thread as running: nothing stopped it normally.
    expect(sweeperTotals(stop)).toEqual({ sweeps: 1, removed: 10, threads: 1, running: firstThread });
    for (let k = 10; k < 15; k++) t = setShort(map, k, k, 5);
    untilClockPast(t);
    expect(map.size).toBe(6);
    const second = runSweeperWorker(map.handle, stop, 600_000);
    await until(() => map.size === 1, 'the replacement to sweep');
    requestStop(stop);
    // Its result counts the dead thread's work too.
    expect(await second.result).toEqual({ sweeps: 2, removed: 15, threads: 2 });
    expect(sweeperTotals(stop).running).toBeUndefined();
    check(map);
  });

  it('runs as a piscina task: reclaims, stops on requestStop, returns its counts', async () => {
    const pool = new Piscina({ filename: distPath('workers/sweeper.js'), minThreads: 1, maxThreads: 1 });
    try {
      const map = SharedMap.create<number, number>({ ttl: true, capacity: 64, shards: 2 });
      for (let k = 0; k < 20; k++) map.set(k, k, k < 12 ? { ttlMs: 10 } : undefined);
      const stop = createStopSwitch();
      const task = pool.run({ map: map.handle, stop, intervalMs: 3 }) as Promise<SweeperResult>;
      await until(() => map.size === 8, 'the piscina sweeper to reclaim 12 entries');
      requestStop(stop);
      const res = await task;
      expect(res.removed).toBe(12);
      expect(res.sweeps).toBeGreaterThanOrEqual(1);
      for (let k = 0; k < 20; k++) expect(map.get(k)).toBe(k < 12 ? undefined : k);
      check(map);
    } finally {
      await pool.destroy();
    }
  });
});

/**
 * The read cache (src/shm/read-cache.ts): a string-keyed `get` answered from
 * the handle's own cache while the key's shard seq has not moved. Every
 * change a read can observe must reach a caching reader: writes through the
 * same handle, through another handle in the thread, and from another thread
 * while the reader reads, growth, sweep, clear, and a clear completed by the
 * recovery of a writer that died in it. Negative control: with the seq check
 * switched off (`setTrustStale`), the same checks catch the stale reads, so
 * the reads under test are answered by the cache and each check can fail.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { SharedMap } from '../../src/index.js';
import type { SharedMapOptions } from '../../src/index.js';
import {
  CachedRead,
  DIRECT_SLOTS,
  MAX_ENTRIES,
  REVALIDATE_MAX_WORDS,
  directSlot,
  setTrustSlot,
  setTrustStale,
} from '../../src/shm/read-cache.js';
import { checkInvariants } from '../../src/shm/debug.js';
import { controlWords, requireDist, spawn } from './support.js';
import { until } from '../helpers/until.js';
import { setTimeout as sleep } from 'node:timers/promises';

requireDist();

afterEach(() => {
  setTrustStale(false);
  setTrustSlot(false);
});

type StrMap = SharedMap<string, string>;

const KEYS = Array.from({ length: 16 }, (_, i) => 'key:' + i);

function makeMap(opts: SharedMapOptions = {}): StrMap {
  const map = SharedMap.create<string, string>({
    key: 'string:16',
    value: 'string:16',
    shards: 4,
    capacity: 64,
    ...opts,
  });
  for (const k of KEYS) map.set(k, 'v0');
  return map;
}

/** Reads every key (so the cache holds each), and returns what was read. */
function readAll(map: StrMap, keys = KEYS): Array<string | undefined> {
  return keys.map((k) => map.get(k));
}

/** Waits (blocking, bounded) until words[i] >= value. */
function waitWord(words: Int32Array, i: number, value: number): void {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const seen = Atomics.load(words, i);
    if (seen >= value) return;
    if (Date.now() > deadline) throw new Error(`word ${i} still ${seen} < ${value} after 20 s`);
    Atomics.wait(words, i, seen, 100);
  }
}

describe('which maps cache reads', () => {
  it('string or number keys with number, bigint or string values on the plain read path do; the others do not', () => {
    const cached: SharedMapOptions[] = [
      { key: 'string:8', value: 'string:8' },
      { key: 'string:8', value: 'int32' },
      { key: 'string:8', value: 'float64' },
      { key: 'string:8', value: 'bigint64' },
      { key: 'int32', value: 'float64' },
      { key: 'uint32', value: 'string:8' },
      { key: 'float64', value: 'int32' },
      { key: 'bigint64', value: 'uint32' },
    ];
    const not: SharedMapOptions[] = [
      { key: 'bytes:8', value: 'int32' },
      { key: 'string:8', value: 'bytes:8' },
      { key: 'string:8', value: 'json:32' },
      { key: 'string:8', value: 'int32', ttl: true },
      { key: 'string:8', value: 'int32', leases: true },
      { key: 'string:8', value: 'int32', sync: 'none' },
    ];
    for (const o of cached) expect(SharedMap.create(o).readCache, JSON.stringify(o)).not.toBeNull();
    for (const o of not) expect(SharedMap.create(o).readCache, JSON.stringify(o)).toBeNull();
  });
});

describe('has', () => {
  /** Caches every key with get, deletes one and adds one through another handle, then asks has. */
  function hasAfterChange(): boolean[] {
    const map = makeMap();
    readAll(map);
    const other = SharedMap.attach<string, string>(map.handle);
    other.delete('key:2');
    other.set('key:new', 'n');
    return [...KEYS, 'key:new'].map((k) => map.has(k));
  }
  const want = [...KEYS, 'key:new'].map((k) => k !== 'key:2');

  it('answers from the cache only while the shard is unwritten', () => {
    expect(hasAfterChange()).toEqual(want);
  });

  it('negative control: without the seq check it still finds the deleted key', () => {
    setTrustStale(true);
    const got = hasAfterChange();
    expect(got).not.toEqual(want);
    expect(got[2]).toBe(true);
  });
});

/** Each change, made after the reader cached every key, and what the reader must read then. */
const CHANGES: Array<{ name: string; change: (m: StrMap) => void; expect: (k: string) => string | undefined }> = [
  { name: 'set', change: (m) => m.set('key:3', 'new'), expect: (k) => (k === 'key:3' ? 'new' : 'v0') },
  { name: 'delete', change: (m) => m.delete('key:3'), expect: (k) => (k === 'key:3' ? undefined : 'v0') },
  { name: 'clear', change: (m) => m.clear(), expect: () => undefined },
  {
    name: 'update',
    change: (m) => m.update('key:5', (old) => old + '!'),
    expect: (k) => (k === 'key:5' ? 'v0!' : 'v0'),
  },
  {
    name: 'update to undefined (delete)',
    change: (m) => m.update('key:5', () => undefined),
    expect: (k) => (k === 'key:5' ? undefined : 'v0'),
  },
  {
    name: 'compareAndSet',
    change: (m) => m.compareAndSet('key:7', 'v0', 'cas'),
    expect: (k) => (k === 'key:7' ? 'cas' : 'v0'),
  },
  {
    name: 'sweep',
    change: (m) => m.sweep((_v, k) => k.endsWith('1')),
    expect: (k) => (k.endsWith('1') ? undefined : 'v0'),
  },
  {
    name: 'growth, then set',
    change: (m) => {
      for (let i = 0; i < 500; i++) m.set('more:' + i, 'm');
      m.set('key:9', 'grown');
    },
    expect: (k) => (k === 'key:9' ? 'grown' : 'v0'),
  },
];

describe('number keys', () => {
  /** Caches every key of a float64-keyed map, changes it through another handle, reads again. */
  function numberKeys(): { before: unknown[]; after: unknown[]; want: unknown[] } {
    const keys = [1, -0, NaN, 2.5, 1e300, -7];
    const map = SharedMap.create<number, number>({ key: 'float64', value: 'float64', shards: 2, capacity: 16 });
    keys.forEach((k, i) => map.set(k, i + 0.5));
    const before = keys.map((k) => map.get(k));
    const other = SharedMap.attach<number, number>(map.handle);
    other.set(0, 10.25); // the same key as -0 (SameValueZero)
    other.set(NaN, 11.25);
    other.delete(-7);
    const want = [0.5, 10.25, 11.25, 3.5, 4.5, undefined];
    expect(() => map.get(1.5)).not.toThrow();
    return { before, after: keys.map((k) => map.get(k)), want };
  }

  it('a float64-keyed reader sees changes made through another handle, -0 and NaN keys included', () => {
    const r = numberKeys();
    expect(r.before).toEqual([0.5, 1.5, 2.5, 3.5, 4.5, 5.5]);
    expect(r.after).toEqual(r.want);
  });

  it('negative control: without the seq check it reads the old values', () => {
    setTrustStale(true);
    const r = numberKeys();
    expect(r.after).toEqual(r.before);
    expect(r.after).not.toEqual(r.want);
  });

  /** Keys 1.. that share one slot of the direct-mapped cache (int32 and uint32 keys), `n` of them. */
  function sameSlot(n: number): number[] {
    const out: number[] = [];
    const slot = directSlot(1);
    for (let k = 1; out.length < n; k++) if (directSlot(k) === slot) out.push(k);
    return out;
  }

  /** Reads keys sharing one slot in turn, each after the others took the slot; returns what each read gave. */
  function alternate(map: SharedMap<number, number>, keys: number[]): Array<number | undefined> {
    const got: Array<number | undefined> = [];
    for (let pass = 0; pass < 3; pass++) for (const k of keys) got.push(map.get(k), map.get(k));
    return got;
  }

  for (const key of ['int32', 'uint32'] as const)
    it(`${key} keys: keys sharing a slot of the direct-mapped cache each read their own value`, () => {
      const keys = sameSlot(3);
      const map = SharedMap.create<number, number>({ key, value: 'int32', capacity: 16 });
      keys.forEach((k) => map.set(k, -k));
      expect(map.readCache!.direct).toBeNull(); // made at the first read it keeps
      expect(map.get(keys[0]! + 1)).toBeUndefined(); // an absent key is not kept
      expect(map.readCache!.direct).toBeNull();
      expect(alternate(map, keys)).toEqual([0, 1, 2].flatMap(() => keys.flatMap((k) => [-k, -k])));
      expect(map.readCache!.direct).toHaveLength(DIRECT_SLOTS);
      expect(map.has(keys[1]!)).toBe(true);
      expect(map.has(keys[2]! + DIRECT_SLOTS * 7919)).toBe(false);
    });

  it('negative control: a lookup that does not compare the key answers for the slot other key', () => {
    const keys = sameSlot(2);
    const map = SharedMap.create<number, number>({ key: 'int32', value: 'int32', capacity: 16 });
    keys.forEach((k) => map.set(k, -k));
    const cache = map.readCache!;
    cache.lookup = (k: unknown): CachedRead | undefined => cache.direct?.[directSlot(k as number)];
    expect(alternate(map, keys)).not.toEqual([0, 1, 2].flatMap(() => keys.flatMap((k) => [-k, -k])));
  });

  it('a key of the wrong type is refused as before, cached or not', () => {
    const map = SharedMap.create<number, number>({ key: 'int32', value: 'int32' });
    map.set(1, 1);
    expect(map.get(1)).toBe(1);
    expect(map.get(1)).toBe(1);
    expect(() => map.get(1.5)).toThrow(/int32/);
    expect(() => map.get('1' as unknown as number)).toThrow(/int32/);
  });
});

describe('a caching reader sees every change made in its thread', () => {
  for (const via of ['the same handle', 'another handle'] as const) {
    for (const c of CHANGES) {
      it(`${c.name}, through ${via}`, () => {
        const map = makeMap({ capacity: 16 });
        const writer = via === 'the same handle' ? map : SharedMap.attach<string, string>(map.handle);
        expect(readAll(map)).toEqual(KEYS.map(() => 'v0'));
        c.change(writer);
        expect(readAll(map)).toEqual(KEYS.map(c.expect));
        checkInvariants(map);
      });
    }
  }

  it('negative control: without the seq check every change above is missed (the reads come from the cache)', () => {
    setTrustStale(true);
    for (const c of CHANGES) {
      const map = makeMap({ capacity: 16 });
      const other = SharedMap.attach<string, string>(map.handle);
      readAll(map);
      c.change(other);
      expect(readAll(map), c.name).not.toEqual(KEYS.map(c.expect));
      expect(readAll(map), c.name).toEqual(KEYS.map(() => 'v0'));
    }
  });

  it(`revalidates entries kept after it started afresh past ${MAX_ENTRIES} keys (slot copies numbered from 0 again)`, () => {
    const n = MAX_ENTRIES + 300;
    const map = SharedMap.create<string, number>({ key: 'string:16', value: 'int32', capacity: n });
    const other = SharedMap.attach<string, number>(map.handle);
    for (let i = 0; i < n; i++) map.set('k' + i, i);
    // One pass: the cache starts over at MAX_ENTRIES, so the last 300 keys
    // are kept in the places of the first 300 then.
    for (let i = 0; i < n; i++) expect(map.get('k' + i)).toBe(i);
    const tail = Array.from({ length: 300 }, (_, j) => MAX_ENTRIES + j);
    const first = Array.from({ length: 300 }, (_, j) => j);
    const before = map.readCache!.revalidated;
    for (const i of [...tail, ...first].filter((i) => i % 7 === 0)) other.set('k' + i, -i - 1);
    for (const i of tail) expect(map.get('k' + i)).toBe(i % 7 === 0 ? -i - 1 : i);
    expect(map.readCache!.revalidated - before).toBeGreaterThan(150);
    for (const i of first) expect(map.get('k' + i)).toBe(i % 7 === 0 ? -i - 1 : i);
  });

  it(`stays right past ${MAX_ENTRIES} keys (it starts afresh when full)`, () => {
    const n = MAX_ENTRIES + 900;
    const map = SharedMap.create<string, number>({ key: 'string:16', value: 'int32', capacity: n });
    for (let i = 0; i < n; i++) map.set('k' + i, i);
    for (let pass = 0; pass < 2; pass++) {
      for (let i = 0; i < n; i++) if (map.get('k' + i) !== i) expect(map.get('k' + i)).toBe(i);
      expect(map.readCache!.size()).toBeLessThanOrEqual(MAX_ENTRIES);
    }
    map.set('k7', -7);
    expect(map.get('k7')).toBe(-7);
    expect(map.get('absent')).toBeUndefined();
  });
});

/**
 * A stale entry (its shard was written since) whose slot holds what the read
 * that made it saw is answered after a compare of the slot's words, without
 * preparing the key or decoding the value (read-cache.ts, `revalidate`).
 * The changes above must still reach the reader; a write to another key of
 * the shard must not cost it the whole read. Negative control: with the
 * compare skipped (`setTrustSlot`), the reads of changed keys are wrong.
 */
describe('a stale entry is revalidated against its slot', () => {
  /** Keys of one shard: with one shard, every write moves the seq every entry holds. */
  function oneShard(): StrMap {
    return makeMap({ shards: 1, capacity: 64 });
  }

  it('a write to one key leaves the others answered by a compare, and the written key read afresh', () => {
    const map = oneShard();
    const other = SharedMap.attach<string, string>(map.handle);
    readAll(map);
    other.set('key:3', 'new');
    const before = map.readCache!.revalidated;
    expect(readAll(map)).toEqual(KEYS.map((k) => (k === 'key:3' ? 'new' : 'v0')));
    // Every other key was answered by the compare; key:3's slot changed.
    expect(map.readCache!.revalidated - before).toBe(KEYS.length - 1);
    other.set('key:3', 'new');
    // The same value again: its slot holds the same words, so key:3 too.
    expect(readAll(map)).toEqual(KEYS.map((k) => (k === 'key:3' ? 'new' : 'v0')));
    expect(map.readCache!.revalidated - before).toBe(2 * KEYS.length - 1);
  });

  for (const c of CHANGES) {
    it(`${c.name}: every key reads what it must, on one shard`, () => {
      const map = oneShard();
      const other = SharedMap.attach<string, string>(map.handle);
      readAll(map);
      c.change(other);
      expect(KEYS.map((k) => map.has(k))).toEqual(KEYS.map((k) => c.expect(k) !== undefined));
      expect(readAll(map)).toEqual(KEYS.map(c.expect));
      checkInvariants(map);
    });
  }

  it('a key deleted and another inserted into its slot, a shorter value over a longer one', () => {
    const map = oneShard();
    const other = SharedMap.attach<string, string>(map.handle);
    map.set('long', 'a value of sixteen'.slice(0, 16));
    readAll(map);
    expect(map.get('long')).toBe('a value of sixte');
    other.set('long', 'a v');
    expect(map.get('long')).toBe('a v');
    other.delete('key:4');
    other.set('key:4x', 'v0'); // may take key:4's tombstone
    expect(map.get('key:4')).toBeUndefined();
    expect(map.get('key:4x')).toBe('v0');
    other.delete('key:6');
    other.set('key:6', 'v1');
    expect(map.get('key:6')).toBe('v1');
  });

  it('random writes through another handle: every read matches a Map (seeded, 20,000 ops)', () => {
    const { wrong, revalidated } = randomRun();
    expect(wrong).toEqual([]);
    expect(revalidated).toBeGreaterThan(1000);
  });

  it('negative control: without the compare, the changed keys read their old values', () => {
    setTrustSlot(true);
    for (const name of ['set', 'delete', 'update', 'compareAndSet', 'sweep']) {
      const c = CHANGES.find((x) => x.name === name)!;
      const map = oneShard();
      readAll(map);
      c.change(SharedMap.attach<string, string>(map.handle));
      if (name === 'delete' || name === 'sweep')
        expect(
          KEYS.map((k) => map.has(k)),
          name,
        ).not.toEqual(KEYS.map((k) => c.expect(k) !== undefined));
      expect(readAll(map), name).not.toEqual(KEYS.map(c.expect));
    }
    expect(randomRun().wrong.length).toBeGreaterThan(0);
  });

  it('keeps no slot copy for direct-mapped caches or slots past REVALIDATE_MAX_WORDS', () => {
    const ints = SharedMap.create<number, number>({ key: 'int32', value: 'int32' });
    expect(ints.readCache!.revalidates).toBe(0);
    const wide = SharedMap.create<string, string>({ key: 'string:64', value: 'string:128' });
    expect(wide.slotWords).toBeGreaterThan(REVALIDATE_MAX_WORDS);
    expect(wide.readCache!.revalidates).toBe(0);
    wide.set('a', 'b');
    expect(wide.get('a')).toBe('b');
    wide.set('a', 'c');
    expect(wide.get('a')).toBe('c');
    const small = SharedMap.create<string, string>({ key: 'string:64', value: 'string:64' });
    expect(small.readCache!.revalidates).toBe(small.slotWords);
  });
});

/**
 * Seeded random sets (values of several lengths, the same value again
 * included), deletes and clears through a second handle, and gets through
 * the caching handle, on a one-shard map, each get checked against a `Map`.
 */
function randomRun(): { wrong: string[]; revalidated: number } {
  const map = SharedMap.create<string, string>({ key: 'string:16', value: 'string:16', shards: 1, capacity: 64 });
  const writer = SharedMap.attach<string, string>(map.handle);
  const model = new Map<string, string>();
  const keys = Array.from({ length: 24 }, (_, i) => 'k' + i);
  const values = ['', 'a', 'bb', 'same', 'a longer value!', 'x'.repeat(16)];
  let seed = 12345;
  const next = (n: number) => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return (seed >>> 8) % n;
  };
  const wrong: string[] = [];
  for (let i = 0; i < 20_000; i++) {
    const r = next(100);
    const k = keys[next(keys.length)]!;
    if (r < 12) {
      const v = values[next(values.length)]!;
      writer.set(k, v);
      model.set(k, v);
    } else if (r < 16) {
      writer.delete(k);
      model.delete(k);
    } else if (r === 16 && next(20) === 0) {
      writer.clear();
      model.clear();
    } else {
      const got = map.get(k);
      if (got !== model.get(k) && wrong.length < 10) wrong.push(`op ${i}: ${k} read ${got}, expected ${model.get(k)}`);
    }
  }
  return { wrong, revalidated: map.readCache!.revalidated };
}

/**
 * A writer thread changes the map in three phases while (phase 1) or after
 * (phases 2, 3) this thread reads with a full cache. Returns what went
 * wrong, each message starting with its phase.
 */
async function crossThread(): Promise<{ wrong: string[]; map: StrMap }> {
  const map = makeMap();
  const rounds = 100;
  const words = controlWords();
  const L = { ready: 0, go: 1, done: 2 };
  const run = spawn('map-cache-writer.mjs', { handle: map.handle, keys: KEYS, rounds, grow: 300, words, L });
  await until(() => Atomics.load(words, L.ready) === 1, 'the writer to start');
  const wrong: string[] = [];
  const expectAll = (phase: number, want: (k: string) => string | undefined) => {
    for (const k of KEYS) {
      const got = map.get(k);
      if (got !== want(k)) wrong.push(`phase ${phase}: ${k} read ${got}, expected ${want(k)}`);
    }
  };

  // 1: reads race the overwrites. A key's round only moves forward.
  readAll(map);
  const last = new Map(KEYS.map((k) => [k, 0]));
  Atomics.store(words, L.go, 1);
  Atomics.notify(words, L.go);
  const deadline = Date.now() + 20_000;
  let reads = 0;
  while (Atomics.load(words, L.done) < 1 && Date.now() < deadline) {
    for (const k of KEYS) {
      const v = map.get(k);
      reads++;
      if (v === undefined) continue; // keys[0], deleted last
      const r = Number(v.slice(1));
      if (r < last.get(k)!) wrong.push(`phase 1: ${k} went back from round ${last.get(k)} to ${r}`);
      last.set(k, r);
    }
  }
  waitWord(words, L.done, 1);
  expectAll(1, (k) => (k === KEYS[0] ? undefined : 'v' + rounds));

  // 2: a sweep deletes keys[1], then growth moves every shard's region.
  readAll(map);
  Atomics.store(words, L.go, 2);
  Atomics.notify(words, L.go);
  waitWord(words, L.done, 2);
  expectAll(2, (k) => (k === KEYS[0] || k === KEYS[1] ? undefined : 'v' + rounds));

  // 3: clear.
  readAll(map);
  Atomics.store(words, L.go, 3);
  Atomics.notify(words, L.go);
  waitWord(words, L.done, 3);
  expectAll(3, () => undefined);
  await run.result;
  expect(reads).toBeGreaterThan(0);
  return { wrong, map };
}

describe('a caching reader sees another thread’s writes', () => {
  it('overwrites and a delete while it reads, a sweep with growth, and a clear', async () => {
    const { wrong, map } = await crossThread();
    expect(wrong).toEqual([]);
    // The cache stayed in use throughout (not switched off for missing).
    expect(map.readCache!.off).toBe(0);
    checkInvariants(map);
  });

  it('negative control: without the seq check each phase reads stale values', async () => {
    setTrustStale(true);
    const { wrong } = await crossThread();
    for (const phase of [1, 2, 3])
      expect(
        wrong.some((w) => w.startsWith(`phase ${phase}:`)),
        `phase ${phase}`,
      ).toBe(true);
  });
});

/**
 * A loop of gets (or has) in another thread, compiled before this thread
 * writes the key: it must see the write. What it checks is that the cache
 * hit's seq load (a plain load on x86-64, read-cache.ts CACHED_SEQ_PLAIN)
 * is made at every get, not merged with an earlier one or hoisted out of
 * the loop. Returns whether the loop saw the write (within 20 s; with the
 * seq check off, the negative control, it is given 1 s).
 */
async function loopSeesWrite(method: 'get' | 'has', stale: boolean): Promise<boolean> {
  const map = SharedMap.create<number, number>({ key: 'int32', value: 'float64', shards: 4, capacity: 64 });
  for (let k = 0; k < 16; k++) map.set(k, k + 0.5);
  const words = controlWords();
  const L = { ready: 0 };
  const run = spawn<{ seen: boolean; spins: number }>(
    'map-get-spin.mjs',
    { handle: map.handle, key: 5, method, stale, words, L },
    60_000,
  );
  run.result.catch(() => {}); // terminated below when it never sees the write
  await until(() => Atomics.load(words, L.ready) === 1, 'the reader to start its loop');
  // Lets the loop run hot and be optimized before the write (the outcome does not depend on it).
  await sleep(300);
  if (method === 'get') map.set(5, 99.5);
  else map.delete(5);
  const seen = await Promise.race([run.result.then((r) => r.seen), sleep(stale ? 1000 : 20_000).then(() => false)]);
  await run.worker.terminate();
  return seen;
}

describe('a revalidating reader sees another thread’s writes', () => {
  it('negative control: without the slot compare (the seq check kept), the overwrites race past the reader', async () => {
    setTrustSlot(true);
    const { wrong } = await crossThread();
    expect(wrong.some((w) => w.startsWith('phase 1:'))).toBe(true);
  });
});

describe('a loop of cached gets in another thread sees a write', () => {
  for (const method of ['get', 'has'] as const) {
    it(`${method}: the loop ends when this thread writes the key`, async () => {
      expect(await loopSeesWrite(method, false)).toBe(true);
    });
  }

  it('negative control: without the seq check the same loop never sees it', async () => {
    expect(await loopSeesWrite('get', true)).toBe(false);
    expect(await loopSeesWrite('has', true)).toBe(false);
  });
});

describe('a caching reader sees a write completed by recovery', () => {
  /** A writer dies inside `clear` (parked in its window, then terminated); recovery completes the clear. */
  async function deadClear(): Promise<Array<string | undefined>> {
    const map = makeMap({ shards: 1 });
    expect(readAll(map)).toEqual(KEYS.map(() => 'v0'));
    const words = controlWords();
    const W = { parked: 0, done: 1, never: 2, waiting: 3, pointHit: 4 };
    const run = spawn('map-death.mjs', { map: map.handle, words, W, op: 'clear', point: 'clear', keys: ['x'] });
    run.result.catch(() => {}); // terminated without a result
    await until(() => Atomics.load(words, W.parked) === 1, 'the clear to park in its window');
    await run.worker.terminate();
    const report = map.recover(run.threadId);
    expect(report.shards.length).toBe(1);
    checkInvariants(map);
    return readAll(map);
  }

  it('a clear the dead writer began is completed, and the reader sees it', async () => {
    expect(await deadClear()).toEqual(KEYS.map(() => undefined));
  });

  it('negative control: without the seq check the reader still sees the entries', async () => {
    setTrustStale(true);
    expect(await deadClear()).toEqual(KEYS.map(() => 'v0'));
  });
});

describe('metrics count gets the cache answers', () => {
  it('as hits and misses, and a sampled one under its own key (not the last key prepared)', () => {
    const map = SharedMap.create<string, number>({
      key: 'string:8',
      value: 'int32',
      metrics: { sampleEvery: 1, hotKeys: 8 },
    });
    map.set('a', 1);
    expect(map.get('a')).toBe(1); // cached from here on
    map.set('gone', 2);
    expect(map.get('gone')).toBe(2);
    map.delete('gone'); // its entry now caches "absent" after the next read
    expect(map.get('gone')).toBeUndefined();
    map.set('b', 2); // the last key prepared is 'b'
    for (let i = 0; i < 100; i++) expect(map.get('a')).toBe(1);
    for (let i = 0; i < 10; i++) expect(map.get('gone')).toBeUndefined();
    const m = map.metrics();
    expect(m.gets).toEqual({ hit: 102, miss: 11 });
    const hot = map.hotKeys(2);
    expect(hot[0]!.key).toBe('a');
  });
});

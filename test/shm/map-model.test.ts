/**
 * Model test (fast-check): random sequences of operations run on a SharedMap
 * and on a JS Map must give the same results after every step and the same
 * final contents, across growth (tiny start capacity), tombstone churn and
 * clear; checkInvariants runs after each step. Key domains are small so hits,
 * collisions and deletes are common.
 *
 * On failure fast-check prints the seed and the shrunk counterexample; replay
 * with  SHMAP_FC_SEED=<seed> SHMAP_FC_PATH=<path> npx vitest run test/shm/map-model.test.ts
 */
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { SharedMap } from '../../src/index.js';
import { checkInvariants } from '../../src/shm/debug.js';
import { canonEntries } from './support.js';

const replay: fc.Parameters<unknown> =
  process.env.SHMAP_FC_SEED !== undefined
    ? { seed: Number(process.env.SHMAP_FC_SEED), path: process.env.SHMAP_FC_PATH }
    : {};

type Op<K> =
  | { t: 'get'; k: K }
  | { t: 'has'; k: K }
  | { t: 'set'; k: K; v: number }
  | { t: 'delete'; k: K }
  | { t: 'putIfAbsent'; k: K; v: number }
  | { t: 'compareAndSet'; k: K; e: number; v: number }
  | { t: 'update'; k: K; f: 0 | 1 | 2 | 3; c: number }
  | { t: 'add'; k: K; d: number }
  | { t: 'clear' }
  | { t: 'fill'; base: number; n: number }
  | { t: 'drop'; base: number; n: number }
  | { t: 'iterate' };

/** The functions `update` may be given, by number (so a counterexample prints readably). */
function updateFn(f: number, c: number): (old: number | undefined) => number | undefined {
  switch (f) {
    case 0:
      return (old) => (old === undefined ? c : old + c);
    case 1:
      return () => undefined; // delete
    case 2:
      return (old) => (old === undefined ? undefined : (old * 2) % 1001); // bounded: stays inside int32
    default:
      return () => c;
  }
}

function opArb<K>(key: fc.Arbitrary<K>, value: fc.Arbitrary<number>, withBulk: boolean): fc.Arbitrary<Op<K>> {
  const ops: Array<fc.WeightedArbitrary<Op<K>>> = [
    { weight: 4, arbitrary: fc.record({ t: fc.constant('get' as const), k: key }) },
    { weight: 2, arbitrary: fc.record({ t: fc.constant('has' as const), k: key }) },
    { weight: 6, arbitrary: fc.record({ t: fc.constant('set' as const), k: key, v: value }) },
    { weight: 4, arbitrary: fc.record({ t: fc.constant('delete' as const), k: key }) },
    { weight: 2, arbitrary: fc.record({ t: fc.constant('putIfAbsent' as const), k: key, v: value }) },
    { weight: 2, arbitrary: fc.record({ t: fc.constant('compareAndSet' as const), k: key, e: value, v: value }) },
    {
      weight: 3,
      arbitrary: fc.record({
        t: fc.constant('update' as const),
        k: key,
        f: fc.constantFrom(0, 1, 2, 3) as fc.Arbitrary<0 | 1 | 2 | 3>,
        c: value,
      }),
    },
    { weight: 3, arbitrary: fc.record({ t: fc.constant('add' as const), k: key, d: fc.integer({ min: -3, max: 3 }) }) },
    { weight: 1, arbitrary: fc.constant({ t: 'clear' as const }) },
    { weight: 1, arbitrary: fc.constant({ t: 'iterate' as const }) },
  ];
  if (withBulk) {
    // Bulk inserts and deletes of a key range: growth and tombstone-heavy churn in few steps.
    ops.push(
      {
        weight: 1,
        arbitrary: fc.record({
          t: fc.constant('fill' as const),
          base: fc.integer({ min: -200, max: 200 }),
          n: fc.integer({ min: 1, max: 80 }),
        }),
      },
      {
        weight: 1,
        arbitrary: fc.record({
          t: fc.constant('drop' as const),
          base: fc.integer({ min: -200, max: 200 }),
          n: fc.integer({ min: 1, max: 80 }),
        }),
      },
    );
  }
  return fc.oneof(...ops);
}

const config = fc.record({
  shards: fc.constantFrom(1, 2, 4),
  capacity: fc.constantFrom(8, 16),
  seed: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
});

interface AnySharedMap<K> {
  get(k: K): number | undefined;
  has(k: K): boolean;
  set(k: K, v: number): unknown;
  delete(k: K): boolean;
  putIfAbsent(k: K, v: number): number | undefined;
  compareAndSet(k: K, e: number, v: number): boolean;
  update(k: K, fn: (old: number | undefined) => number | undefined): number | undefined;
  add(k: K, d: number): number;
  clear(): void;
  entries(): Iterable<[K, number]>;
  readonly size: number;
  /** The SharedMap itself when this is an adapter over one (for checkInvariants). */
  readonly underlying?: SharedMap<Uint8Array, number>;
}

/** Applies one op to both; asserts equal results. `toKey` maps a bulk-op integer to a key of the map's type. */
function step<K>(map: AnySharedMap<K>, model: Map<K, number>, op: Op<K>, toKey: (i: number) => K): void {
  switch (op.t) {
    case 'get':
      expect(map.get(op.k)).toBe(model.get(op.k));
      break;
    case 'has':
      expect(map.has(op.k)).toBe(model.has(op.k));
      break;
    case 'set':
      expect(map.set(op.k, op.v)).toBe(map);
      model.set(op.k, op.v);
      break;
    case 'delete':
      expect(map.delete(op.k)).toBe(model.delete(op.k));
      break;
    case 'putIfAbsent': {
      const want = model.get(op.k);
      if (!model.has(op.k)) model.set(op.k, op.v);
      expect(map.putIfAbsent(op.k, op.v)).toBe(want);
      break;
    }
    case 'compareAndSet': {
      const hit = model.has(op.k) && model.get(op.k) === op.e;
      if (hit) model.set(op.k, op.v);
      expect(map.compareAndSet(op.k, op.e, op.v)).toBe(hit);
      break;
    }
    case 'update': {
      const fn = updateFn(op.f, op.c);
      const seen: Array<number | undefined> = [];
      const got = map.update(op.k, (old) => {
        seen.push(old);
        return fn(old);
      });
      const old = model.get(op.k);
      const next = fn(old);
      if (next === undefined) model.delete(op.k);
      else model.set(op.k, next);
      expect(seen).toEqual([old]);
      expect(got).toBe(next);
      break;
    }
    case 'add': {
      const next = (model.get(op.k) ?? 0) + op.d;
      model.set(op.k, next);
      expect(map.add(op.k, op.d)).toBe(next);
      break;
    }
    case 'clear':
      map.clear();
      model.clear();
      break;
    case 'fill':
      for (let i = op.base; i < op.base + op.n; i++) {
        map.set(toKey(i), i);
        model.set(toKey(i), i);
      }
      break;
    case 'drop':
      for (let i = op.base; i < op.base + op.n; i++) expect(map.delete(toKey(i))).toBe(model.delete(toKey(i)));
      break;
    case 'iterate':
      expect(canonEntries(map.entries())).toEqual(canonEntries(model.entries()));
      break;
  }
  expect(map.size).toBe(model.size);
  checkInvariants(map instanceof SharedMap ? map : map.underlying!);
}

function runModel<K>(map: AnySharedMap<K>, ops: Array<Op<K>>, toKey: (i: number) => K): void {
  const model = new Map<K, number>();
  for (const op of ops) step(map, model, op, toKey);
  expect(canonEntries(map.entries())).toEqual(canonEntries(model.entries()));
  for (const [k, v] of model) expect(map.get(k)).toBe(v);
}

const smallInts = fc.integer({ min: -3, max: 3 });

/**
 * A bytes-keyed map seen through string keys (one char code 0..255 per
 * byte), so the model can be a plain Map: every call builds a fresh
 * Uint8Array, as equal bytes from another source would be.
 */
function bytesKeyed(map: SharedMap<Uint8Array, number>): AnySharedMap<string> {
  const b = (k: string) => Uint8Array.from(k, (c) => c.charCodeAt(0));
  const adapter: AnySharedMap<string> = {
    get: (k) => map.get(b(k)),
    has: (k) => map.has(b(k)),
    set: (k, v) => (map.set(b(k), v), adapter),
    delete: (k) => map.delete(b(k)),
    putIfAbsent: (k, v) => map.putIfAbsent(b(k), v),
    compareAndSet: (k, e, v) => map.compareAndSet(b(k), e, v),
    update: (k, fn) => map.update(b(k), fn),
    add: (k, d) => map.add(b(k), d),
    clear: () => map.clear(),
    entries: () => Array.from(map.entries(), ([k, v]): [string, number] => [String.fromCharCode(...k), v]),
    get size() {
      return map.size;
    },
    underlying: map,
  };
  return adapter;
}

describe('SharedMap behaves like a Map (fast-check model)', () => {
  it('int32 -> float64', () => {
    const key = fc.oneof(
      { weight: 5, arbitrary: fc.integer({ min: -6, max: 20 }) },
      { weight: 1, arbitrary: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }) },
    );
    const value = fc.oneof(
      { weight: 5, arbitrary: smallInts },
      { weight: 1, arbitrary: fc.constantFrom(0.5, -2.25, 1e300, -1e-300) },
    );
    fc.assert(
      fc.property(config, fc.array(opArb(key, value, true), { maxLength: 300, size: 'max' }), (cfg, ops) => {
        const map = SharedMap.create<number, number>({ key: 'int32', value: 'float64', maxCapacity: 1 << 14, ...cfg });
        runModel(map, ops, (i) => i);
      }),
      { numRuns: 200, ...replay },
    );
  });

  it('float64 keys (SameValueZero: NaN, -0, infinities) -> float64', () => {
    const key = fc.oneof(
      {
        weight: 3,
        arbitrary: fc.constantFrom(
          NaN,
          -0,
          0,
          1.5,
          -1.5,
          Infinity,
          -Infinity,
          Number.MIN_VALUE,
          2 ** 53,
          0.1 + 0.2,
          0.3,
        ),
      },
      { weight: 2, arbitrary: fc.integer({ min: -5, max: 5 }) },
      { weight: 1, arbitrary: fc.double({ noNaN: false }) },
    );
    fc.assert(
      fc.property(config, fc.array(opArb(key, smallInts, true), { maxLength: 120, size: 'max' }), (cfg, ops) => {
        const map = SharedMap.create<number, number>({
          key: 'float64',
          value: 'float64',
          maxCapacity: 1 << 14,
          ...cfg,
        });
        runModel(map, ops, (i) => i / 4);
      }),
      { numRuns: 100, ...replay },
    );
  });

  it('string:12 keys (non-ASCII, NULs, empty) -> int32', () => {
    const key = fc.oneof(
      {
        weight: 4,
        arbitrary: fc.constantFrom(
          '',
          'a',
          'b',
          'ab',
          'ba',
          'é',
          'e\u0301',
          '日本',
          '😀',
          'a\u0000',
          '\u0000',
          'abcdefghijkl',
        ),
      },
      { weight: 2, arbitrary: fc.string({ maxLength: 4 }) },
      { weight: 1, arbitrary: fc.string({ maxLength: 3, unit: 'grapheme' }).filter((s) => Buffer.byteLength(s) <= 12) },
    );
    fc.assert(
      fc.property(config, fc.array(opArb(key, smallInts, true), { maxLength: 120, size: 'max' }), (cfg, ops) => {
        const map = SharedMap.create<string, number>({
          key: 'string:12',
          value: 'int32',
          maxCapacity: 1 << 14,
          ...cfg,
        });
        runModel(map, ops, (i) => `k${i}`);
      }),
      { numRuns: 100, ...replay },
    );
  });

  it('uint32 keys (0, 2^31 and up: negative as int32 bits) -> float64', () => {
    const key = fc.oneof(
      { weight: 4, arbitrary: fc.integer({ min: 0, max: 20 }) },
      { weight: 2, arbitrary: fc.constantFrom(2 ** 31 - 1, 2 ** 31, 2 ** 31 + 1, 2 ** 32 - 1) },
      { weight: 1, arbitrary: fc.integer({ min: 0, max: 2 ** 32 - 1 }) },
    );
    fc.assert(
      fc.property(config, fc.array(opArb(key, smallInts, true), { maxLength: 120, size: 'max' }), (cfg, ops) => {
        const map = SharedMap.create<number, number>({ key: 'uint32', value: 'float64', maxCapacity: 1 << 14, ...cfg });
        runModel(map, ops, (i) => (i * 2654435761) >>> 0);
      }),
      { numRuns: 60, ...replay },
    );
  });

  it('bytes:8 keys (empty, NULs, prefixes, 8 bytes) -> int32', () => {
    const key = fc.oneof(
      { weight: 4, arbitrary: fc.constantFrom('', '\0', '\0\0', 'a', 'a\0', 'ab', '\xff', '\xff\xfe', '12345678') },
      {
        weight: 2,
        arbitrary: fc.string({
          maxLength: 8,
          unit: fc.integer({ min: 0, max: 255 }).map((c) => String.fromCharCode(c)),
        }),
      },
    );
    fc.assert(
      fc.property(config, fc.array(opArb(key, smallInts, true), { maxLength: 120, size: 'max' }), (cfg, ops) => {
        const map = SharedMap.create<Uint8Array, number>({
          key: 'bytes:8',
          value: 'int32',
          maxCapacity: 1 << 14,
          ...cfg,
        });
        runModel(bytesKeyed(map), ops, (i) => `b${i}`);
      }),
      { numRuns: 60, ...replay },
    );
  });

  it('bigint64 keys -> float64', () => {
    const key = fc.oneof(
      { weight: 4, arbitrary: fc.bigInt({ min: -5n, max: 15n }) },
      { weight: 1, arbitrary: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }) },
    );
    fc.assert(
      fc.property(config, fc.array(opArb(key, smallInts, true), { maxLength: 100, size: 'max' }), (cfg, ops) => {
        const map = SharedMap.create<bigint, number>({
          key: 'bigint64',
          value: 'float64',
          maxCapacity: 1 << 14,
          ...cfg,
        });
        runModel(map, ops, (i) => BigInt(i) * 1_000_003n);
      }),
      { numRuns: 60, ...replay },
    );
  });
});

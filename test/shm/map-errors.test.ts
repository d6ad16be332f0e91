/**
 * Bad input: a clear error, nothing changed. Every test
 * takes a picture of the map before the bad call and checks after it that the
 * size, the entries (via snapshot) and the invariants are as they were.
 */
import { describe, it, expect, beforeAll } from 'vitest';
import {
  SharedMap,
  ShmapError,
  ShmapTypeError,
  InvalidOptionError,
  KeyTooLongError,
  ValueTooLargeError,
  MapFullError,
  InvalidHandleError,
  ConcurrentMapIterationError,
  ConcurrentMapWriteError,
  ConcurrentMapReadError,
  RecursiveUpdateError,
  LeaseError,
  InvariantError,
} from '../../src/index.js';
import { checkInvariants } from '../../src/shm/debug.js';
import { H_MAGIC, H_VERSION, LAYOUT_VERSION } from '../../src/shm/layout.js';
import { picture, expectUnchanged, thrown, requireDist, spawn } from './support.js';

const check = checkInvariants;

type AnyMap = ReturnType<typeof SharedMap.create<any, any>>;
type ErrorClass = abstract new (...args: never[]) => Error;

/**
 * Runs `bad` against `map`, expects an error that is an instance of every
 * class in `classes` (and has `code` when given), then checks the map is
 * unchanged.
 */
function rejects(map: AnyMap, bad: (m: AnyMap) => unknown, classes: ErrorClass[], code?: string): Error {
  const before = picture(map);
  const e = thrown(() => bad(map), String(bad)) as Error & { code?: string };
  for (const c of classes) expect(e, `${String(e)} should be a ${c.name}`).toBeInstanceOf(c);
  if (code !== undefined) expect(e.code).toBe(code);
  expect(typeof e.message).toBe('string');
  expect(e.message.length).toBeGreaterThan(0);
  expectUnchanged(map, before);
  return e;
}

/** Every write path a key or value goes through. */
function writes(key: unknown, value: unknown): Array<[string, (m: AnyMap) => unknown]> {
  return [
    ['set', (m) => m.set(key, value)],
    ['putIfAbsent', (m) => m.putIfAbsent(key, value)],
    ['update', (m) => m.update(key, () => value)],
  ];
}

function keyWrites(key: unknown, goodValue: unknown): Array<[string, (m: AnyMap) => unknown]> {
  return [...writes(key, goodValue), ['compareAndSet', (m) => m.compareAndSet(key, goodValue, goodValue)]];
}

describe('error classes', () => {
  it('each is exported with a stable code, and the type errors are TypeErrors', () => {
    const table: Array<[Error & { code: string }, string, ErrorClass]> = [
      [new InvalidOptionError('options.shards must be a power of two'), 'SHMAP_INVALID_OPTION', TypeError],
      [new ShmapTypeError('x'), 'SHMAP_INVALID_TYPE', TypeError],
      [new KeyTooLongError('x'), 'SHMAP_KEY_TOO_LONG', ShmapError],
      [new ValueTooLargeError('x'), 'SHMAP_VALUE_TOO_LARGE', ShmapError],
      [new MapFullError('x'), 'SHMAP_MAP_FULL', ShmapError],
      [new InvalidHandleError('x'), 'SHMAP_INVALID_HANDLE', ShmapError],
      [new ConcurrentMapIterationError(), 'SHMAP_CONCURRENT_ITERATION', ShmapError],
      [new ConcurrentMapWriteError(), 'SHMAP_CONCURRENT_WRITE', ShmapError],
      [new ConcurrentMapReadError(), 'SHMAP_CONCURRENT_READ', ShmapError],
      [new RecursiveUpdateError(), 'SHMAP_RECURSIVE_UPDATE', ShmapError],
      [new LeaseError('x'), 'SHMAP_LEASE', ShmapError],
      [new InvariantError('x'), 'SHMAP_INVARIANT', ShmapError],
    ];
    for (const [e, code, base] of table) {
      expect(e.code).toBe(code);
      expect(e).toBeInstanceOf(base);
      expect(e).toBeInstanceOf(Error);
      expect(e.name).toBe(e.constructor.name);
    }
    expect(new ConcurrentMapIterationError().message).toMatch(/^concurrent map iteration and map write/);
    expect(new ConcurrentMapWriteError().message).toMatch(/^concurrent map writes/);
    expect(new ConcurrentMapReadError().message).toMatch(/^concurrent map read and map write/);
    expect(new InvariantError('x').message).toMatch(/^invariant failed/);
  });
});

describe('options: InvalidOptionError naming the option', () => {
  const cases: Array<[string, Record<string, unknown>]> = [
    ['shards', { shards: 3 }],
    ['shards', { shards: 0 }],
    ['shards', { shards: -4 }],
    ['shards', { shards: 2.5 }],
    ['capacity', { capacity: -1 }],
    ['capacity', { capacity: 1.5 }],
    ['capacity', { capacity: 'big' }],
    ['maxCapacity', { capacity: 1024, maxCapacity: 16 }],
    ['maxCapacity', { maxCapacity: -1 }],
    ['key', { key: 'int64' }],
    ['key', { key: 'string:abc' }],
    ['key', { key: 'string:-1' }],
    ['key', { key: 'json:16' }], // json is a value type only
    ['value', { value: 'float32' }],
    ['value', { value: 'json:x' }],
    ['sync', { sync: 'maybe' }],
    ['onConflict', { onConflict: 'ignore' }],
    ['seed', { seed: 'x' }],
  ];
  for (const [option, opts] of cases) {
    it(`${JSON.stringify(opts)} -> names ${option}`, () => {
      const e = thrown(() => SharedMap.create(opts as never)) as Error & { code?: string };
      expect(e).toBeInstanceOf(InvalidOptionError);
      expect(e).toBeInstanceOf(TypeError);
      expect(e.code).toBe('SHMAP_INVALID_OPTION');
      expect(e.message).toContain(option);
    });
  }
});

describe('keys of the wrong type: TypeError', () => {
  const table: Array<[string, Record<string, unknown>, unknown, unknown[]]> = [
    // [title, options, a good value, bad keys]
    ['int32', { key: 'int32', value: 'float64' }, 1, ['1', 1n, null, undefined, {}, 1.5, NaN, Infinity]],
    ['uint32', { key: 'uint32', value: 'float64' }, 1, ['1', 1n, 0.5, NaN]],
    ['float64', { key: 'float64', value: 'float64' }, 1, ['1', 1n, null, undefined, {}]],
    ['bigint64', { key: 'bigint64', value: 'float64' }, 1, [1, '1', null, undefined]],
    ['string:8', { key: 'string:8', value: 'float64' }, 1, [1, 1n, null, undefined, new Uint8Array(1), {}]],
    ['bytes:8', { key: 'bytes:8', value: 'float64' }, 1, [1, null, undefined, [1, 2], {}]],
  ];
  for (const [title, opts, good, badKeys] of table) {
    it(`${title} keys: every write path rejects, map unchanged`, () => {
      const map = SharedMap.create<any, any>({ ...opts, capacity: 8, shards: 2 } as never);
      const goodKey =
        title === 'bigint64'
          ? 1n
          : title.startsWith('string')
            ? 'k'
            : title.startsWith('bytes')
              ? new Uint8Array([1])
              : 1;
      map.set(goodKey, good);
      for (const k of badKeys) {
        for (const [, bad] of keyWrites(k, good)) rejects(map, bad, [TypeError]);
        rejects(map, (m) => m.add(k, 1), [TypeError]);
      }
    });
  }

  it("number keys out of the type's range are rejected (TypeError or ValueTooLargeError), map unchanged", () => {
    const cases: Array<[Record<string, unknown>, unknown[]]> = [
      [{ key: 'int32' }, [2 ** 31, -(2 ** 31) - 1, 2 ** 32]],
      [{ key: 'uint32' }, [-1, 2 ** 32]],
      [{ key: 'bigint64' }, [2n ** 63n, -(2n ** 63n) - 1n]],
    ];
    for (const [opts, keys] of cases) {
      const map = SharedMap.create<any, number>({ ...opts, value: 'float64', capacity: 8, shards: 1 } as never);
      map.set(opts.key === 'bigint64' ? 0n : 0, 1); // the key a wrapping encoder would alias 2^32 / 2^64 to
      for (const k of keys) {
        for (const [, bad] of writes(k, 2)) {
          const e = rejects(map, bad, [Error]);
          expect(e instanceof TypeError || e instanceof ValueTooLargeError, `${opts.key} key ${k}: ${String(e)}`).toBe(
            true,
          );
        }
      }
    }
  });

  // A wrong-type key is a TypeError for reads too: a Map-like `get('1')`
  // silently returning undefined on an int32 map would hide the bug.
  it('reads and deletes with a wrong-type key throw TypeError too', () => {
    const map = SharedMap.create<any, number>({ key: 'int32', value: 'float64', capacity: 8, shards: 1 });
    map.set(1, 1);
    rejects(map, (m) => m.get('1'), [TypeError]);
    rejects(map, (m) => m.has('1'), [TypeError]);
    rejects(map, (m) => m.delete('1'), [TypeError]);
  });
});

describe('keys over N bytes: KeyTooLongError', () => {
  it('string:4 (UTF-8 bytes, not characters)', () => {
    const map = SharedMap.create<string, number>({ key: 'string:4', value: 'int32', capacity: 8, shards: 1 });
    map.set('abcd', 1).set('éé', 2).set('😀', 3); // exactly 4 bytes each
    expect(map.size).toBe(3);
    for (const k of ['abcde', 'ééé', 'é日', '😀a', 'a😀']) {
      for (const [, bad] of keyWrites(k, 1)) rejects(map, bad, [KeyTooLongError], 'SHMAP_KEY_TOO_LONG');
      rejects(map, (m) => m.add(k, 1), [KeyTooLongError], 'SHMAP_KEY_TOO_LONG');
    }
  });

  it('bytes:4', () => {
    const map = SharedMap.create<Uint8Array, number>({ key: 'bytes:4', value: 'int32', capacity: 8, shards: 1 });
    map.set(new Uint8Array([1, 2, 3, 4]), 1);
    const k = new Uint8Array([1, 2, 3, 4, 5]);
    for (const [, bad] of keyWrites(k, 1)) rejects(map, bad, [KeyTooLongError], 'SHMAP_KEY_TOO_LONG');
  });

  // A key too long to be stored cannot be in the map: a lookup says so, as a
  // Map does for a key it never saw, instead of throwing.
  it('lookups (get, has, delete, acquire, leaseCount, retire, release) answer absent, and change nothing', () => {
    const cases: Array<[AnyMap, unknown]> = [
      [SharedMap.create({ key: 'string:4', value: 'int32', capacity: 8, shards: 2, leases: true }), 'abcde'],
      [SharedMap.create({ key: 'string:4', value: 'int32', capacity: 8, shards: 2, leases: true }), 'ééé'],
      [SharedMap.create({ key: 'bytes:4', value: 'int32', capacity: 8, shards: 2, leases: true }), new Uint8Array(5)],
    ];
    for (const [map, long] of cases) {
      const fits = typeof long === 'string' ? 'abcd' : new Uint8Array(4);
      map.set(fits, 1);
      const before = picture(map);
      expect(map.get(long)).toBe(undefined);
      expect(map.has(long)).toBe(false);
      expect(map.delete(long)).toBe(false);
      expect(map.acquire(long)).toBe(undefined);
      expect(map.leaseCount(long)).toBe(0);
      expect(map.retire(long)).toBe('absent');
      expect(thrown(() => map.release(long))).toBeInstanceOf(LeaseError);
      expectUnchanged(map, before);
      // Writes still refuse it.
      rejects(map, (m) => m.set(long, 2), [KeyTooLongError], 'SHMAP_KEY_TOO_LONG');
      expect(map.get(fits)).toBe(1);
    }
  });
});

describe('values over their width or not representable', () => {
  const table: Array<[string, Record<string, unknown>, unknown, Array<[unknown, ErrorClass]>]> = [
    // [title, options, a good value already stored, [bad value, expected class]]
    [
      'string:4',
      { value: 'string:4' },
      'ok',
      [
        ['abcde', ValueTooLargeError],
        ['ééé', ValueTooLargeError],
        ['😀!', ValueTooLargeError],
        [1, TypeError],
        [null, TypeError],
      ],
    ],
    [
      'bytes:4',
      { value: 'bytes:4' },
      new Uint8Array([1]),
      [
        [new Uint8Array(5), ValueTooLargeError],
        [1, TypeError],
        [null, TypeError],
      ],
    ],
    [
      'json:8',
      { value: 'json:8' },
      { a: 1 },
      [
        [{ a: '12345678' }, ValueTooLargeError],
        ['ééééé', ValueTooLargeError],
        [() => 1, TypeError],
        [1n, TypeError],
        [Symbol('s'), TypeError],
      ],
    ],
    [
      'int32',
      { value: 'int32' },
      5,
      [
        [2 ** 31, ValueTooLargeError],
        [-(2 ** 31) - 1, ValueTooLargeError],
        [1.5, TypeError],
        [NaN, TypeError],
        [Infinity, TypeError],
        ['1', TypeError],
        [1n, TypeError],
      ],
    ],
    [
      'uint32',
      { value: 'uint32' },
      5,
      [
        [-1, ValueTooLargeError],
        [2 ** 32, ValueTooLargeError],
        [0.5, TypeError],
        ['1', TypeError],
      ],
    ],
    [
      'float64',
      { value: 'float64' },
      5,
      [
        ['1', TypeError],
        [1n, TypeError],
        [null, TypeError],
        [{}, TypeError],
      ],
    ],
    [
      'bigint64',
      { value: 'bigint64' },
      5n,
      [
        [2n ** 63n, ValueTooLargeError],
        [-(2n ** 63n) - 1n, ValueTooLargeError],
        [1, TypeError],
        ['1', TypeError],
      ],
    ],
  ];
  for (const [title, opts, good, bads] of table) {
    it(`${title}: set / putIfAbsent / update on a new and on an existing key`, () => {
      const map = SharedMap.create<number, any>({ key: 'int32', ...opts, capacity: 8, shards: 1 } as never);
      map.set(1, good);
      for (const [v, cls] of bads) {
        for (const key of [1, 2]) {
          for (const [op, bad] of writes(key, v)) {
            if (op === 'putIfAbsent' && key === 1) continue; // present: returns the existing value, v never stored
            const e = rejects(map, bad, [cls]);
            if (cls === ValueTooLargeError) expect((e as ValueTooLargeError).code).toBe('SHMAP_VALUE_TOO_LARGE');
          }
          rejects(map, (m) => m.compareAndSet(1, good, v), [cls]);
        }
      }
    });
  }

  it('a circular object into json:N is a TypeError, map unchanged', () => {
    const map = SharedMap.create<number, unknown>({ key: 'int32', value: 'json:64', capacity: 8, shards: 1 });
    map.set(1, [1]);
    const o: Record<string, unknown> = {};
    o.self = o;
    for (const [, bad] of writes(1, o)) rejects(map, bad, [TypeError]);
  });
});

describe('undefined as a value: TypeError', () => {
  for (const value of ['float64', 'int32', 'string:8', 'bytes:8', 'json:16', 'bigint64']) {
    it(`${value}`, () => {
      const map = SharedMap.create<number, any>({ key: 'int32', value, capacity: 8, shards: 1 } as never);
      const good =
        value === 'bigint64' ? 1n : value === 'string:8' ? 's' : value === 'bytes:8' ? new Uint8Array([1]) : 1;
      map.set(1, good);
      for (const key of [1, 2]) {
        rejects(map, (m) => m.set(key, undefined), [TypeError]);
        rejects(map, (m) => m.putIfAbsent(2, undefined), [TypeError]);
        rejects(map, (m) => m.compareAndSet(key, good, undefined), [TypeError]);
      }
    });
  }
});

describe('add on a non-number value type, or with a bad delta', () => {
  for (const value of ['string:8', 'json:16', 'bytes:8']) {
    it(`add on ${value} values is a TypeError (present and missing keys), map unchanged`, () => {
      const map = SharedMap.create<number, any>({ key: 'int32', value, capacity: 8, shards: 1 } as never);
      map.set(1, value === 'bytes:8' ? new Uint8Array([1]) : value === 'json:16' ? 1 : '1');
      rejects(map, (m) => m.add(1, 1), [TypeError]);
      rejects(map, (m) => m.add(2, 1), [TypeError]);
    });
  }

  it('a delta that is not a number is a TypeError, map unchanged', () => {
    const map = SharedMap.create<number, number>({ key: 'int32', value: 'float64', capacity: 8, shards: 1 });
    map.set(1, 1);
    for (const d of ['1', 1n, undefined, null]) {
      rejects(map, (m) => m.add(1, d as never), [TypeError]);
      rejects(map, (m) => m.add(2, d as never), [TypeError]);
    }
  });

  // Assumed: a sum outside an integer value type's range is "not representable" (ValueTooLargeError), not wrapped.
  it('add past int32 range is rejected, map unchanged', () => {
    const map = SharedMap.create<number, number>({ key: 'int32', value: 'int32', capacity: 8, shards: 1 });
    map.set(1, 2 ** 31 - 1);
    rejects(map, (m) => m.add(1, 1), [ValueTooLargeError], 'SHMAP_VALUE_TOO_LARGE');
    rejects(map, (m) => m.add(2, 2 ** 31), [ValueTooLargeError], 'SHMAP_VALUE_TOO_LARGE');
    rejects(map, (m) => m.add(1, 0.5), [TypeError]);
  });

  it('update returning a bad value is rejected, map unchanged', () => {
    const map = SharedMap.create<number, number>({ key: 'int32', value: 'int32', capacity: 8, shards: 1 });
    map.set(1, 1);
    rejects(map, (m) => m.update(1, () => 1.5), [TypeError]);
    rejects(map, (m) => m.update(1, () => 2 ** 40), [ValueTooLargeError]);
    rejects(map, (m) => m.update(2, () => 'x' as never), [TypeError]);
  });
});

describe('MapFullError at maxCapacity', () => {
  it('refuses new keys, still serves reads, overwrites, updates and deletes of existing keys', () => {
    const maxCapacity = 64;
    const map = SharedMap.create<number, number>({
      key: 'int32',
      value: 'float64',
      capacity: 8,
      maxCapacity,
      shards: 1,
    });
    let inserted = 0;
    let full: unknown;
    for (let k = 0; k < maxCapacity * 8; k++) {
      try {
        map.set(k, k);
        inserted++;
      } catch (e) {
        full = e;
        break;
      }
      check(map);
    }
    expect(full).toBeInstanceOf(MapFullError);
    expect((full as MapFullError).code).toBe('SHMAP_MAP_FULL');
    expect(inserted).toBe(map.size);
    // "Most entries the map may ever hold": not more, and not far fewer.
    expect(map.size).toBeLessThanOrEqual(maxCapacity);
    expect(map.size).toBeGreaterThanOrEqual(maxCapacity / 2);
    const n = map.size;

    // Every way to add a new key fails and changes nothing.
    for (const k of [n, n + 1, 100_000, -1]) {
      rejects(map, (m) => m.set(k, 1), [MapFullError], 'SHMAP_MAP_FULL');
      rejects(map, (m) => m.putIfAbsent(k, 1), [MapFullError], 'SHMAP_MAP_FULL');
      rejects(map, (m) => m.update(k, () => 1), [MapFullError], 'SHMAP_MAP_FULL');
      rejects(map, (m) => m.add(k, 1), [MapFullError], 'SHMAP_MAP_FULL');
    }

    // Existing keys: reads, overwrites, atomics, deletes.
    for (let k = 0; k < n; k++) expect(map.get(k)).toBe(k);
    expect(map.putIfAbsent(0, 5)).toBe(0);
    map.set(0, 100);
    expect(map.get(0)).toBe(100);
    expect(map.compareAndSet(0, 100, 101)).toBe(true);
    expect(map.update(1, (o) => o! + 10)).toBe(11);
    expect(map.add(2, 5)).toBe(7);
    expect(map.update(4, () => 4)).toBe(4); // missing -> undefined is a no-op even when full
    expect(map.update(n + 5, () => undefined)).toBeUndefined();
    expect(map.size).toBe(n);
    expect(map.delete(3)).toBe(true);
    expect(map.size).toBe(n - 1);
    check(map);

    // After a delete, there is room for one new key again.
    map.set(n + 1000, 1);
    expect(map.get(n + 1000)).toBe(1);
    expect(map.size).toBe(n);
    check(map);
    rejects(map, (m) => m.set(n + 2000, 1), [MapFullError], 'SHMAP_MAP_FULL');

    map.clear();
    for (let k = 0; k < n; k++) map.set(k, -k);
    expect(map.size).toBe(n);
    check(map);
  });

  // What a user expects: a map holding maxCapacity
  // entries keeps serving delete-then-insert (its size never passes
  // maxCapacity), so the tombstones it leaves must be cleaned up in place.
  it('delete-then-insert churn at the limit keeps working', () => {
    const maxCapacity = 64;
    const map = SharedMap.create<number, number>({
      key: 'int32',
      value: 'float64',
      capacity: 8,
      maxCapacity,
      shards: 1,
    });
    let n = 0;
    try {
      for (; n < maxCapacity * 8; n++) map.set(n, n);
    } catch (e) {
      expect(e).toBeInstanceOf(MapFullError);
    }
    expect(map.size).toBe(n);
    for (let i = 0; i < 1000; i++) {
      expect(map.delete(i)).toBe(true);
      map.set(n + i, i);
      expect(map.size).toBe(n);
    }
    check(map);
    for (let i = 1000; i < 1000 + n; i++) expect(map.has(i)).toBe(true);
  });

  it('also with several shards', () => {
    const maxCapacity = 256;
    const map = SharedMap.create<number, number>({ capacity: 8, maxCapacity, shards: 4 });
    let full: unknown;
    for (let k = 0; k < maxCapacity * 8 && full === undefined; k++) {
      try {
        map.set(k, k);
      } catch (e) {
        full = e;
      }
    }
    expect(full).toBeInstanceOf(MapFullError);
    expect(map.size).toBeLessThanOrEqual(maxCapacity);
    check(map);
    const before = picture(map);
    for (const [k] of map.snapshot()) expect(map.get(k)).toBe(k);
    expectUnchanged(map, before);
  });
});

describe('attach: InvalidHandleError for anything that is not a shmap buffer of this layout version', () => {
  function copyOf(sab: SharedArrayBuffer): SharedArrayBuffer {
    const out = new SharedArrayBuffer(sab.byteLength);
    new Uint8Array(out).set(new Uint8Array(sab));
    return out;
  }

  it('rejects non-handles, foreign buffers, a wrong magic and a wrong version; the real map is unchanged', () => {
    const map = SharedMap.create<number, number>({ capacity: 8, shards: 2 });
    for (let i = 0; i < 20; i++) map.set(i, i);
    const real = map.handle.buffer;

    const wrongVersion = copyOf(real);
    new Int32Array(wrongVersion)[H_VERSION] = LAYOUT_VERSION + 1;
    const wrongMagic = copyOf(real);
    new Int32Array(wrongMagic)[H_MAGIC] ^= 1;
    // The same bytes in a non-shared buffer.
    const unshared = new ArrayBuffer(real.byteLength);
    new Uint8Array(unshared).set(new Uint8Array(real));

    const bad: Array<[string, unknown]> = [
      ['undefined', undefined],
      ['null', null],
      ['a number', 42],
      ['an empty object', {}],
      ['a bare SharedArrayBuffer', real],
      ['zeroed buffer', { shmap: 1, buffer: new SharedArrayBuffer(4096) }],
      ['tiny buffer', { shmap: 1, buffer: new SharedArrayBuffer(8) }],
      ['empty buffer', { shmap: 1, buffer: new SharedArrayBuffer(0) }],
      ['ArrayBuffer', { shmap: 1, buffer: unshared }],
      ['typed array', { shmap: 1, buffer: new Int32Array(real) }],
      ['wrong magic', { shmap: 1, buffer: wrongMagic }],
      ['wrong version', { shmap: 1, buffer: wrongVersion }],
    ];
    for (const [title, h] of bad) {
      const before = picture(map);
      const e = thrown(() => SharedMap.attach(h as never), `attach(${title})`) as InvalidHandleError;
      expect(e, title).toBeInstanceOf(InvalidHandleError);
      expect(e.code).toBe('SHMAP_INVALID_HANDLE');
      expectUnchanged(map, before);
    }
    // And the real handle still attaches.
    expect(SharedMap.attach<number, number>(map.handle).get(7)).toBe(7);
  });
});

describe("RecursiveUpdateError: update's fn (and sweep's predicate) calling back into the same map", () => {
  beforeAll(requireDist);

  it('throws for every kind of call, through the same handle or a second one, never deadlocks, map unchanged', async () => {
    const map = SharedMap.create<number, number>({ capacity: 16, shards: 4 });
    for (let i = 0; i < 32; i++) map.set(i, i);
    const before = picture(map);
    type Row = { op: string; name: string; via: string; error?: { name: string; code: string; message: string } };
    const run = spawn<Row[]>('recursive-update.mjs', { handle: map.handle, key: 3, otherKey: 17 }, 20_000);
    const rows = await run.result;
    expect(rows.length).toBeGreaterThan(20);
    const wrong = rows.filter((r) => r.error?.code !== 'SHMAP_RECURSIVE_UPDATE');
    expect(wrong, 'cases that did not throw RecursiveUpdateError').toEqual([]);
    for (const r of rows) expect(r.error?.name).toBe('RecursiveUpdateError');
    expectUnchanged(map, before);
    // No shard lock was left held: every key can still be written from here.
    for (let i = 0; i < 32; i++) map.set(i, i + 1);
    for (let i = 0; i < 32; i++) expect(map.get(i)).toBe(i + 1);
    check(map);
  });
});

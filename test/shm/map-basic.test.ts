/**
 * SharedMap's Map-compatible surface on one thread: get/set/has/delete/size/
 * clear, `set` returning the map, every key and value type, SameValueZero for
 * number keys, handles and attach.
 */
import { describe, it, expect } from 'vitest';
import { SharedMap } from '../../src/index.js';
import { checkInvariants } from '../../src/shm/debug.js';
import { canonEntries } from './support.js';

const check = checkInvariants;

describe('get / set / has / delete / size / clear (int32 -> float64)', () => {
  it('starts empty', () => {
    const map = SharedMap.create<number, number>({ key: 'int32', value: 'float64', capacity: 8, shards: 1 });
    expect(map.size).toBe(0);
    expect(map.get(1)).toBeUndefined();
    expect(map.has(1)).toBe(false);
    expect(map.delete(1)).toBe(false);
    expect([...map]).toEqual([]);
    check(map);
  });

  it('defaults to int32 keys and float64 values', () => {
    const map = SharedMap.create<number, number>({});
    map.set(-5, 2.5);
    expect(map.get(-5)).toBe(2.5);
    check(map);
  });

  it('inserts, reads, overwrites, deletes, with exact size after each step', () => {
    const map = SharedMap.create<number, number>({ key: 'int32', value: 'float64', capacity: 8, shards: 1 });
    expect(map.set(1, 10)).toBe(map);
    expect(map.size).toBe(1);
    expect(map.get(1)).toBe(10);
    expect(map.has(1)).toBe(true);
    check(map);

    expect(map.set(2, 0)).toBe(map); // a falsy value is still present
    expect(map.size).toBe(2);
    expect(map.get(2)).toBe(0);
    expect(map.has(2)).toBe(true);
    check(map);

    map.set(1, 11); // overwrite: no new entry
    expect(map.size).toBe(2);
    expect(map.get(1)).toBe(11);
    check(map);

    expect(map.delete(1)).toBe(true);
    expect(map.size).toBe(1);
    expect(map.get(1)).toBeUndefined();
    expect(map.has(1)).toBe(false);
    expect(map.delete(1)).toBe(false);
    expect(map.size).toBe(1);
    check(map);

    map.set(1, 12); // re-insert after delete (over the tombstone)
    expect(map.size).toBe(2);
    expect(map.get(1)).toBe(12);
    check(map);
    expect(canonEntries(map.entries())).toEqual(
      canonEntries([
        [1, 12],
        [2, 0],
      ]),
    );
  });

  it('set chains like Map.prototype.set', () => {
    const map = SharedMap.create<number, number>({ capacity: 8, shards: 1 });
    map.set(1, 1).set(2, 2).set(3, 3);
    expect(map.size).toBe(3);
    check(map);
  });

  it('clear empties the map, and the map works afterwards', () => {
    const map = SharedMap.create<number, number>({ capacity: 8, shards: 2 });
    for (let i = 0; i < 100; i++) map.set(i, i * 2);
    expect(map.size).toBe(100);
    map.clear();
    expect(map.size).toBe(0);
    check(map);
    for (let i = 0; i < 100; i++) expect(map.has(i)).toBe(false);
    expect([...map.keys()]).toEqual([]);
    map.set(5, 50);
    expect(map.size).toBe(1);
    expect(map.get(5)).toBe(50);
    expect(map.get(6)).toBeUndefined();
    check(map);
    map.clear();
    map.clear(); // clearing an empty map is fine
    expect(map.size).toBe(0);
    check(map);
  });

  it('agrees with a Map on a few hundred keys spread over shards', () => {
    const map = SharedMap.create<number, number>({ capacity: 16, shards: 4 });
    const model = new Map<number, number>();
    for (let i = -300; i < 300; i += 3) {
      map.set(i, i / 7);
      model.set(i, i / 7);
    }
    for (let i = -300; i < 300; i += 9) {
      expect(map.delete(i)).toBe(model.delete(i));
    }
    for (let i = -310; i < 310; i++) {
      expect(map.get(i)).toBe(model.get(i));
      expect(map.has(i)).toBe(model.has(i));
    }
    expect(map.size).toBe(model.size);
    expect(canonEntries(map.entries())).toEqual(canonEntries(model.entries()));
    check(map);
  });
});

describe('number key types', () => {
  it('int32: the whole range, negative keys and -0 (same key as 0)', () => {
    const map = SharedMap.create<number, number>({ key: 'int32', value: 'float64', capacity: 8, shards: 1 });
    const keys = [0, 1, -1, 2 ** 31 - 1, -(2 ** 31), 123456789, -98765];
    keys.forEach((k, i) => map.set(k, i));
    keys.forEach((k, i) => expect(map.get(k)).toBe(i));
    expect(map.size).toBe(keys.length);
    expect(map.get(-0)).toBe(0);
    map.set(-0, 99);
    expect(map.size).toBe(keys.length);
    expect(map.get(0)).toBe(99);
    check(map);
  });

  it('uint32: 0 to 2^32 - 1', () => {
    const map = SharedMap.create<number, number>({ key: 'uint32', value: 'uint32', capacity: 8, shards: 1 });
    const keys = [0, 1, 2 ** 31, 2 ** 32 - 1, 2 ** 31 - 1];
    keys.forEach((k) => map.set(k, k));
    keys.forEach((k) => expect(map.get(k)).toBe(k));
    expect(map.size).toBe(keys.length);
    expect(canonEntries(map.entries())).toEqual(canonEntries(keys.map((k) => [k, k] as const)));
    check(map);
  });

  it('bigint64: the whole int64 range', () => {
    const map = SharedMap.create<bigint, bigint>({ key: 'bigint64', value: 'bigint64', capacity: 8, shards: 1 });
    const keys = [0n, 1n, -1n, 2n ** 63n - 1n, -(2n ** 63n), 2n ** 32n, 12345678901234n];
    keys.forEach((k) => map.set(k, -k - 1n));
    keys.forEach((k) => expect(map.get(k)).toBe(-k - 1n));
    expect(map.has(2n)).toBe(false);
    expect(map.size).toBe(keys.length);
    expect(canonEntries(map.entries())).toEqual(canonEntries(keys.map((k) => [k, -k - 1n] as const)));
    check(map);
  });

  it('float64: SameValueZero (NaN finds NaN, -0 finds +0), like a Map', () => {
    const map = SharedMap.create<number, number>({ key: 'float64', value: 'int32', capacity: 8, shards: 1 });
    map.set(NaN, 1);
    expect(map.get(NaN)).toBe(1);
    expect(map.has(NaN)).toBe(true);
    // A NaN with another bit pattern is the same key too (a Map does not look at NaN payloads).
    const otherNaN = new Float64Array(new BigUint64Array([0x7ff8_0000_0000_0001n]).buffer)[0]!;
    expect(Number.isNaN(otherNaN)).toBe(true);
    expect(map.get(otherNaN)).toBe(1);
    map.set(otherNaN, 2);
    expect(map.size).toBe(1);
    expect(map.get(NaN)).toBe(2);

    map.set(-0, 3);
    expect(map.get(0)).toBe(3);
    expect(map.get(-0)).toBe(3);
    map.set(0, 4);
    expect(map.size).toBe(2);
    expect(map.get(-0)).toBe(4);
    // Like a Map, the key -0 is stored as +0.
    const zeroKeys = [...map.keys()].filter((k) => k === 0);
    expect(zeroKeys.length).toBe(1);
    expect(Object.is(zeroKeys[0], 0)).toBe(true);

    for (const k of [Infinity, -Infinity, 1.5, -1.5, Number.MAX_VALUE, Number.MIN_VALUE, 2 ** 53 + 2]) map.set(k, 7);
    expect(map.size).toBe(9);
    expect(map.get(Infinity)).toBe(7);
    expect(map.get(Number.MIN_VALUE)).toBe(7);
    expect(map.get(1.25)).toBeUndefined();
    expect(map.delete(NaN)).toBe(true);
    expect(map.has(NaN)).toBe(false);
    expect(map.delete(-0)).toBe(true);
    expect(map.has(0)).toBe(false);
    expect(map.size).toBe(7);
    check(map);
  });
});

describe('string:N and bytes:N keys', () => {
  it('string:N: empty, ASCII, non-ASCII, astral, exactly N UTF-8 bytes', () => {
    const map = SharedMap.create<string, number>({ key: 'string:8', value: 'int32', capacity: 8, shards: 2 });
    const keys = ['', 'a', 'abc', 'ü', 'é', 'e\u0301', '日本', '😀', '12345678', 'éééé', '😀😀', 'a😀bcd', 'é日本'];
    keys.forEach((k, i) => map.set(k, i));
    expect(map.size).toBe(keys.length);
    keys.forEach((k, i) => {
      expect(map.get(k)).toBe(i);
      expect(map.has(k)).toBe(true);
    });
    expect(map.get('b')).toBeUndefined();
    expect(map.get('日')).toBeUndefined();
    expect(canonEntries(map.entries())).toEqual(canonEntries(keys.map((k, i) => [k, i] as const)));
    check(map);
  });

  it('string:N: keys that differ only by trailing NULs or length are distinct', () => {
    const map = SharedMap.create<string, number>({ key: 'string:8', value: 'int32', capacity: 8, shards: 1 });
    map.set('a', 1);
    map.set('a\u0000', 2);
    map.set('\u0000', 3);
    map.set('', 4);
    expect(map.size).toBe(4);
    expect(map.get('a')).toBe(1);
    expect(map.get('a\u0000')).toBe(2);
    expect(map.get('\u0000')).toBe(3);
    expect(map.get('')).toBe(4);
    expect(map.get('a\u0000\u0000')).toBeUndefined();
    check(map);
  });

  // A Map keeps '\uD800', '\uDC00' and '\uFFFD' apart. UTF-8 cannot encode a
  // lone surrogate, so an encoder that substitutes U+FFFD merges them
  // silently. Either keep them apart or refuse them with a TypeError.
  it('string:N: lone surrogates are distinct keys, or rejected with a TypeError; never merged', () => {
    const map = SharedMap.create<string, number>({ key: 'string:8', value: 'int32', capacity: 8, shards: 1 });
    map.set('\uFFFD', 0);
    const keys = ['\uD800', '\uDC00', 'a\uD83D', '\uDE00b'];
    keys.forEach((k, i) => {
      try {
        map.set(k, i + 1);
      } catch (e) {
        expect(e).toBeInstanceOf(TypeError);
      }
    });
    expect(map.get('\uFFFD')).toBe(0);
    keys.forEach((k, i) => {
      if (map.has(k)) expect(map.get(k), JSON.stringify(k)).toBe(i + 1);
    });
    expect(map.size).toBe(1 + keys.filter((k) => map.has(k)).length);
    for (const k of map.keys()) expect(k === '\uFFFD' || keys.includes(k)).toBe(true);
    check(map);
  });

  it('bytes:N: keys compare by content, not identity, and length counts', () => {
    const map = SharedMap.create<Uint8Array, number>({ key: 'bytes:6', value: 'int32', capacity: 8, shards: 1 });
    map.set(new Uint8Array([1, 2, 3]), 1);
    map.set(new Uint8Array([1, 2, 3, 0]), 2);
    map.set(new Uint8Array([]), 3);
    map.set(new Uint8Array([255, 0, 255, 0, 255, 0]), 4);
    expect(map.size).toBe(4);
    expect(map.get(new Uint8Array([1, 2, 3]))).toBe(1);
    expect(map.get(new Uint8Array([1, 2, 3, 0]))).toBe(2);
    expect(map.get(new Uint8Array(0))).toBe(3);
    expect(map.get(new Uint8Array([255, 0, 255, 0, 255, 0]))).toBe(4);
    expect(map.get(new Uint8Array([1, 2]))).toBeUndefined();
    // A view into a larger buffer is read by its own bytes only.
    const big = new Uint8Array([9, 9, 1, 2, 3, 9]);
    expect(map.get(big.subarray(2, 5))).toBe(1);
    map.set(new Uint8Array([1, 2, 3]), 5);
    expect(map.size).toBe(4);
    expect(map.get(big.subarray(2, 5))).toBe(5);
    const keys = [...map.keys()];
    for (const k of keys) expect(k).toBeInstanceOf(Uint8Array);
    expect(canonEntries(map.entries())).toEqual(
      canonEntries([
        [new Uint8Array([1, 2, 3]), 5],
        [new Uint8Array([1, 2, 3, 0]), 2],
        [new Uint8Array([]), 3],
        [new Uint8Array([255, 0, 255, 0, 255, 0]), 4],
      ]),
    );
    expect(map.delete(new Uint8Array([1, 2, 3, 0]))).toBe(true);
    expect(map.get(new Uint8Array([1, 2, 3]))).toBe(5);
    check(map);
  });
});

describe('value types', () => {
  it('int32 / uint32 values keep their exact range', () => {
    const a = SharedMap.create<number, number>({ key: 'int32', value: 'int32', capacity: 8, shards: 1 });
    a.set(1, 2 ** 31 - 1)
      .set(2, -(2 ** 31))
      .set(3, 0)
      .set(4, -1);
    expect([a.get(1), a.get(2), a.get(3), a.get(4)]).toEqual([2 ** 31 - 1, -(2 ** 31), 0, -1]);
    const b = SharedMap.create<number, number>({ key: 'int32', value: 'uint32', capacity: 8, shards: 1 });
    b.set(1, 2 ** 32 - 1).set(2, 0);
    expect([b.get(1), b.get(2)]).toEqual([2 ** 32 - 1, 0]);
    check(a);
    check(b);
  });

  it('float64 values round-trip bit-exactly (NaN, -0, infinities, subnormals)', () => {
    const map = SharedMap.create<number, number>({ key: 'int32', value: 'float64', capacity: 8, shards: 1 });
    const values = [NaN, -0, 0, Infinity, -Infinity, Number.MIN_VALUE, Number.MAX_VALUE, Math.PI, -1e-300];
    values.forEach((v, i) => map.set(i, v));
    values.forEach((v, i) => expect(Object.is(map.get(i), v)).toBe(true));
    check(map);
  });

  it('bigint64 values', () => {
    const map = SharedMap.create<number, bigint>({ key: 'int32', value: 'bigint64', capacity: 8, shards: 1 });
    map
      .set(1, 2n ** 63n - 1n)
      .set(2, -(2n ** 63n))
      .set(3, 0n);
    expect([map.get(1), map.get(2), map.get(3)]).toEqual([2n ** 63n - 1n, -(2n ** 63n), 0n]);
    check(map);
  });

  it('string:N values: empty, non-ASCII, exactly N bytes, overwritten by shorter and longer', () => {
    const map = SharedMap.create<number, string>({ key: 'int32', value: 'string:12', capacity: 8, shards: 1 });
    const values = ['', 'x', 'héllo', '日本語', '😀😀😀', 'abcdefghijkl', '日本語日', 'a\u0000b'];
    values.forEach((v, i) => map.set(i, v));
    values.forEach((v, i) => expect(map.get(i)).toBe(v));
    map.set(4, 'z');
    expect(map.get(4)).toBe('z');
    map.set(1, '€€€€'); // 12 bytes
    expect(map.get(1)).toBe('€€€€');
    map.set(5, '');
    expect(map.get(5)).toBe('');
    expect(map.has(5)).toBe(true);
    check(map);
  });

  it('string:N values with lone surrogates round-trip exactly, or are rejected with a TypeError', () => {
    const map = SharedMap.create<number, string>({ key: 'int32', value: 'string:8', capacity: 8, shards: 1 });
    for (const v of ['a\uD800', '\uDC00', '\uDE00\uD83D']) {
      let stored = true;
      try {
        map.set(1, v);
      } catch (e) {
        expect(e).toBeInstanceOf(TypeError);
        stored = false;
      }
      if (stored) expect(JSON.stringify(map.get(1))).toBe(JSON.stringify(v));
    }
    check(map);
  });

  it('wide values work with the default maxCapacity (json:4096, bytes:1024)', () => {
    const a = SharedMap.create<number, unknown>({ key: 'int32', value: 'json:4096', capacity: 8 });
    const v = { s: 'x'.repeat(4000) };
    for (let i = 0; i < 50; i++) a.set(i, v);
    expect(a.get(49)).toEqual(v);
    const b = SharedMap.create<string, Uint8Array>({ key: 'string:256', value: 'bytes:1024', capacity: 8 });
    b.set('k'.repeat(256), new Uint8Array(1024).fill(7));
    expect(b.get('k'.repeat(256))!.length).toBe(1024);
    check(a);
    check(b);
  });

  it('bytes:N values come back as Uint8Array with their own length', () => {
    const map = SharedMap.create<number, Uint8Array>({ key: 'int32', value: 'bytes:8', capacity: 8, shards: 1 });
    map.set(1, new Uint8Array([1, 2, 3]));
    map.set(2, new Uint8Array([]));
    map.set(3, new Uint8Array([0, 0, 0, 0, 0, 0, 0, 255]));
    const v1 = map.get(1)!;
    expect(v1).toBeInstanceOf(Uint8Array);
    expect(Array.from(v1)).toEqual([1, 2, 3]);
    expect(Array.from(map.get(2)!)).toEqual([]);
    expect(Array.from(map.get(3)!)).toEqual([0, 0, 0, 0, 0, 0, 0, 255]);
    // The value is a copy: changing what get returned does not change the map.
    v1[0] = 42;
    expect(Array.from(map.get(1)!)).toEqual([1, 2, 3]);
    map.set(3, new Uint8Array([7]));
    expect(Array.from(map.get(3)!)).toEqual([7]);
    check(map);
  });

  it('json:N values: objects, arrays, strings, numbers, booleans, null', () => {
    const map = SharedMap.create<number, unknown>({ key: 'int32', value: 'json:64', capacity: 8, shards: 1 });
    const values: unknown[] = [{ a: 1, b: [true, null, 'é'] }, [1, 2, 3], 'text', 42.5, true, false, null, {}, []];
    values.forEach((v, i) => map.set(i, v));
    values.forEach((v, i) => expect(map.get(i)).toEqual(v));
    expect(map.has(6)).toBe(true); // a stored null is present
    expect(map.get(6)).toBeNull();
    const obj = { n: 1 };
    map.set(100, obj);
    obj.n = 2; // stored by value
    expect(map.get(100)).toEqual({ n: 1 });
    check(map);
  });

  it('string keys with string values (both variable width)', () => {
    const map = SharedMap.create<string, string>({ key: 'string:32', value: 'string:32', capacity: 8, shards: 2 });
    const model = new Map<string, string>();
    for (let i = 0; i < 300; i++) {
      const k = `key-${i}-ключ`;
      const v = `v${i}`.repeat(1 + (i % 5));
      map.set(k, v);
      model.set(k, v);
    }
    for (let i = 0; i < 300; i += 4) {
      map.delete(`key-${i}-ключ`);
      model.delete(`key-${i}-ключ`);
    }
    expect(map.size).toBe(model.size);
    expect(canonEntries(map.entries())).toEqual(canonEntries(model.entries()));
    for (const [k, v] of model) expect(map.get(k)).toBe(v);
    check(map);
  });
});

describe('handle and attach (one thread)', () => {
  it('is a plain structured-clonable object holding the SharedArrayBuffer', () => {
    const map = SharedMap.create<number, number>({ capacity: 8, shards: 1 });
    const h = map.handle;
    expect(h.shmap).toBe(1);
    expect(h.buffer).toBeInstanceOf(SharedArrayBuffer);
    const cloned = structuredClone(h);
    expect(cloned.shmap).toBe(1);
    expect(cloned.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(cloned.buffer.byteLength).toBe(h.buffer.byteLength);
  });

  it("two handles on one buffer see each other's writes, across growth", () => {
    const a = SharedMap.create<number, number>({ capacity: 8, shards: 2 });
    a.set(1, 1);
    const b = SharedMap.attach<number, number>(structuredClone(a.handle));
    expect(b.get(1)).toBe(1);
    b.set(2, 2);
    expect(a.get(2)).toBe(2);
    for (let i = 10; i < 1000; i++) b.set(i, i); // grows in b
    expect(a.size).toBe(992);
    for (let i = 10; i < 1000; i++) expect(a.get(i)).toBe(i);
    a.delete(10);
    expect(b.has(10)).toBe(false);
    a.clear();
    expect(b.size).toBe(0);
    check(a);
    check(b);
  });

  it('stats report shards, count and bytes', () => {
    const map = SharedMap.create<number, number>({ capacity: 64, shards: 4 });
    for (let i = 0; i < 40; i++) map.set(i, i);
    map.delete(0);
    const s = map.stats();
    expect(s.shards).toBe(4);
    expect(s.count).toBe(39);
    expect(s.perShard.length).toBe(4);
    expect(s.perShard.reduce((n, p) => n + p.count, 0)).toBe(39);
    expect(s.capacity).toBeGreaterThanOrEqual(40);
    expect(s.bytes).toBe(map.handle.buffer.byteLength);
    expect(s.probeLengthMax).toBeGreaterThanOrEqual(1);
    expect(s.probeLengthMean).toBeGreaterThanOrEqual(1);
    expect(s.conflicts).toBe(0);
  });
});

/**
 * src/shm/codec.ts, each type on its own: type names parse (and bad ones are
 * refused naming the option), every key type round-trips through a slot's
 * key field and compares as a JS Map compares keys (SameValueZero), wrong
 * keys are refused with ShmapTypeError, keys that can be looked up but never
 * stored (too long, lone surrogate) prepare as absent for a lookup and throw
 * for a write, and every value type round-trips without writing past its
 * field. (codec-strings.test.ts checks the two string encoders against
 * Buffer's UTF-8.)
 */
import { describe, expect, it } from 'vitest';
import {
  describe as describeValue,
  keyCodec,
  parseType,
  typeName,
  valueCodec,
  type KeyCodec,
} from '../../src/shm/codec.js';
import { InvalidOptionError, KeyTooLongError, ShmapTypeError, ValueTooLargeError } from '../../src/shm/errors.js';
import { fieldBytes } from '../../src/shm/layout.js';
import { Views } from '../../src/shm/views.js';
import { thrown } from './support.js';

const SEED = 0x1234567;
/** Where fields are written in the scratch buffer (word index), 8-byte aligned for float64 / bigint64. */
const AT = 4;
const SENTINEL = 0x5a5a5a5a;

function key(spec: string): KeyCodec {
  const t = parseType(spec, 'key', false);
  return keyCodec(t.code, t.n, SEED);
}

function buffer(): Views {
  const v = new Views(new SharedArrayBuffer(4096));
  v.i32.fill(SENTINEL);
  return v;
}

/** Stores `k` as a write would (prepareWrite, then the prepared words), returns its hash and what loads back. */
function roundTripKey(spec: string, k: unknown): { hash: number; loaded: unknown; words: number[] } {
  const kc = key(spec);
  const v = buffer();
  const hash = kc.prepareWrite(k);
  for (let w = 0; w < kc.usedWords; w++) v.i32[AT + w] = kc.prepared[w]!;
  return { hash, loaded: kc.load(v, AT), words: Array.from(kc.prepared.subarray(0, kc.usedWords)) };
}

/** The words and hash a lookup of `k` prepares. */
function lookup(kc: KeyCodec, k: unknown): string {
  const hash = kc.prepare(k);
  return JSON.stringify([hash, Array.from(kc.prepared.subarray(0, kc.usedWords))]);
}

describe('codec: type names', () => {
  it('parses every type name and gives it back', () => {
    for (const name of ['int32', 'uint32', 'float64', 'bigint64', 'string:1', 'bytes:64', 'json:1048576']) {
      const t = parseType(name, 'value', true);
      expect(t.name).toBe(name);
      expect(typeName(t.code, t.n)).toBe(name);
    }
    expect(parseType('string:32', 'key', false)).toMatchObject({ n: 32 });
  });

  it('refuses a bad type name with InvalidOptionError naming the option', () => {
    const cases: Array<[unknown, string, boolean, RegExp]> = [
      ['int', 'key', false, /^options\.key must be one of 'int32'.*got "int"$/],
      ['json:8', 'key', false, /^options\.key: 'json:N' is a value type only/],
      ['string:0', 'value', true, /^options\.value: N in 'string:0' must be between 1 and 1048576$/],
      ['bytes:1048577', 'value', true, /must be between 1 and 1048576/],
      ['string:-1', 'key', false, /^options\.key must be one of/],
      [32, 'value', true, /^options\.value must be one of .*'json:N', got 32$/],
      [undefined, 'value', true, /got undefined$/],
    ];
    for (const [spec, option, allowJson, message] of cases) {
      const e = thrown(() => parseType(spec, option, allowJson), String(spec));
      expect(e).toBeInstanceOf(InvalidOptionError);
      expect((e as Error).message).toMatch(message);
    }
  });

  it('describes a bad value shortly for error messages', () => {
    expect(describeValue('x'.repeat(50))).toBe(JSON.stringify('x'.repeat(40) + '...'));
    expect(describeValue(5n)).toBe('5n');
    expect(describeValue(new Uint8Array(3))).toBe('Uint8Array(3)');
    expect(describeValue([1])).toBe('an array');
    expect(describeValue({ a: 1 })).toBe('an object');
    expect(describeValue(null)).toBe('null');
  });
});

describe('codec: keys', () => {
  it('every key type round-trips through a key field', () => {
    const cases: Array<[string, unknown[]]> = [
      ['int32', [0, 1, -1, 2 ** 31 - 1, -(2 ** 31)]],
      ['uint32', [0, 1, 2 ** 31, 2 ** 32 - 1]],
      ['float64', [0, 1.5, -1e300, Infinity, -Infinity, Number.MIN_VALUE]],
      ['bigint64', [0n, -1n, 2n ** 63n - 1n, -(2n ** 63n)]],
      ['string:8', ['', 'a', 'abcdefgh', 'é', '\u{1F600}']],
    ];
    for (const [spec, keys] of cases) {
      for (const k of keys) expect(roundTripKey(spec, k).loaded, `${spec} ${String(k)}`).toEqual(k);
    }
    const bytes = [new Uint8Array(0), Uint8Array.of(0), Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8)];
    for (const b of bytes) expect(roundTripKey('bytes:8', b).loaded).toEqual(b);
  });

  it('float64 keys compare as SameValueZero: -0 is 0, every NaN is one key', () => {
    const kc = key('float64');
    expect(lookup(kc, -0)).toBe(lookup(kc, 0));
    const otherNaN = new Float64Array(new BigInt64Array([0x7ff8_0000_0000_0001n]).buffer)[0]!;
    expect(Number.isNaN(otherNaN)).toBe(true);
    expect(lookup(kc, otherNaN)).toBe(lookup(kc, NaN));
    expect(roundTripKey('float64', -0).loaded).toBe(0);
    expect(Object.is(roundTripKey('float64', -0).loaded, 0)).toBe(true);
    expect(roundTripKey('float64', NaN).loaded).toBeNaN();
    expect(lookup(kc, 1)).not.toBe(lookup(kc, 2));
  });

  it('uint32 keys are stored as their int32 bits and load back unsigned', () => {
    const r = roundTripKey('uint32', 2 ** 32 - 1);
    expect(r.words).toEqual([-1]);
    expect(r.loaded).toBe(2 ** 32 - 1);
    // The same bits as int32 -1, and the same hash: only validation and decoding differ.
    expect(r.hash).toBe(roundTripKey('int32', -1).hash);
  });

  it('a sized key is a length word and its bytes, zero-padded: stale bytes of a longer key never leak into equality', () => {
    // Both encoders: ASCII is packed from code units, anything else goes through UTF-8.
    for (const [long, short] of [
      ['abcdefgh', 'abcde'],
      ['éééééé', 'éa'],
    ] as const) {
      const kc = key('string:16');
      kc.prepareWrite(long);
      const bytes = Buffer.byteLength(short);
      kc.prepareWrite(short);
      expect(kc.usedWords).toBe(1 + Math.ceil(bytes / 4));
      expect(kc.prepared[0]).toBe(bytes);
      const last = kc.prepared[kc.usedWords - 1]!;
      expect(last >>> (8 * (bytes % 4)), short).toBe(0); // zero padding, not the longer key's bytes
      // The same string prepares the same words and hash whichever key came before.
      expect(lookup(key('string:16'), short)).toBe(lookup(kc, short));
    }
  });

  it('refuses keys of the wrong type with ShmapTypeError, for lookups and writes alike', () => {
    const cases: Array<[string, unknown]> = [
      ['int32', 1.5],
      ['int32', 2 ** 31],
      ['int32', '1'],
      ['uint32', -1],
      ['uint32', 2 ** 32],
      ['float64', 1n],
      ['bigint64', 1],
      ['bigint64', 2n ** 63n],
      ['string:8', 8],
      ['bytes:8', 'abc'],
    ];
    for (const [spec, k] of cases) {
      const kc = key(spec);
      for (const op of ['prepare', 'prepareWrite'] as const) {
        const e = thrown(() => kc[op](k), `${spec} ${op}(${String(k)})`);
        expect(e, `${spec} ${String(k)}`).toBeInstanceOf(ShmapTypeError);
        expect((e as ShmapTypeError).code).toBe('SHMAP_INVALID_TYPE');
      }
    }
  });

  it('a key too long for its field, or with a lone surrogate, is absent to a lookup and refused for a write', () => {
    const kc = key('string:4');
    const stored = key('string:4');
    for (const k of ['abcde', 'ééé', 'a\ud800']) {
      expect(() => kc.prepare(k)).not.toThrow();
      // A length no stored key has: the probe can match nothing.
      expect(kc.prepared[0]).toBe(-1);
      expect(kc.usedWords).toBe(1);
      stored.prepareWrite('abcd');
      expect(stored.prepared[0]).toBeGreaterThanOrEqual(0);
    }
    expect(thrown(() => kc.prepareWrite('abcde'))).toBeInstanceOf(KeyTooLongError);
    expect(thrown(() => kc.prepareWrite('a\ud800'))).toBeInstanceOf(ShmapTypeError);
    const bytes = key('bytes:2');
    bytes.prepare(Uint8Array.of(1, 2, 3));
    expect(bytes.prepared[0]).toBe(-1);
    expect(thrown(() => bytes.prepareWrite(Uint8Array.of(1, 2, 3)))).toBeInstanceOf(KeyTooLongError);
    // After an absent key, the next key prepares normally.
    expect(roundTripKey('string:4', 'abcd').loaded).toBe('abcd');
  });

  it('the hash depends on the seed', () => {
    const a = keyCodec(parseType('string:8', 'key', false).code, 8, 1);
    const b = keyCodec(parseType('string:8', 'key', false).code, 8, 2);
    expect(a.prepare('same')).not.toBe(b.prepare('same'));
  });
});

describe('codec: values', () => {
  /** Stores `value` in a field of type `spec` at AT, checks nothing past the field changed, returns what reads back (finished). */
  function roundTripValue(spec: string, value: unknown): unknown {
    const t = parseType(spec, 'value', true);
    const vc = valueCodec(t.code, t.n);
    const v = buffer();
    vc.prepare(value);
    vc.store(v, AT);
    const fieldWords = fieldBytes(t.code, t.n) >> 2;
    for (let w = AT + fieldWords; w < AT + fieldWords + 8; w++)
      expect(v.i32[w], `${spec}: word past the field`).toBe(SENTINEL);
    expect(v.i32[AT - 1]).toBe(SENTINEL);
    return vc.finish(vc.load(v, AT));
  }

  it('every value type round-trips and stays inside its field', () => {
    const cases: Array<[string, unknown[]]> = [
      ['int32', [0, -1, 2 ** 31 - 1, -(2 ** 31)]],
      ['uint32', [0, 2 ** 32 - 1]],
      ['float64', [0.1, -1e308, Infinity]],
      ['bigint64', [2n ** 63n - 1n, -(2n ** 63n)]],
      ['string:9', ['', 'é', 'abcdefghi', 'ab\u{1F600}cd']],
      ['json:32', [null, 1, 'x', [1, 2], { a: { b: true } }]],
    ];
    for (const [spec, values] of cases) for (const x of values) expect(roundTripValue(spec, x), `${spec}`).toEqual(x);
    expect(roundTripValue('float64', NaN)).toBeNaN();
    expect(Object.is(roundTripValue('float64', -0), -0)).toBe(true);
    expect(roundTripValue('bytes:5', Uint8Array.of(9, 8, 7, 6, 5))).toEqual(Uint8Array.of(9, 8, 7, 6, 5));
  });

  it('json values are what JSON makes of them (documented as lossy)', () => {
    expect(roundTripValue('json:32', new Map([[1, 2]]))).toEqual({});
    expect(roundTripValue('json:32', NaN)).toBeNull();
    expect(Object.is(roundTripValue('json:32', -0), 0)).toBe(true);
    expect(roundTripValue('json:32', { d: new Date(0) })).toEqual({ d: '1970-01-01T00:00:00.000Z' });
  });

  it('refuses a value of the wrong type or out of range, naming the type', () => {
    const cases: Array<[string, unknown, new (...a: never[]) => Error, RegExp]> = [
      ['int32', 0.5, ShmapTypeError, /integer \(int32\), got 0\.5/],
      ['int32', 2 ** 31, ValueTooLargeError, /out of int32 range/],
      ['uint32', -1, ValueTooLargeError, /out of uint32 range/],
      ['float64', '1', ShmapTypeError, /number \(float64\)/],
      ['bigint64', 1, ShmapTypeError, /bigint \(bigint64\)/],
      ['bigint64', 2n ** 63n, ValueTooLargeError, /out of bigint64 range/],
      ['string:4', 'abcde', ValueTooLargeError, /5 UTF-8 bytes, over the map's string:4/],
      ['string:4', 'ééé', ValueTooLargeError, /6 UTF-8 bytes/],
      ['string:4', 'a\udc00', ShmapTypeError, /lone surrogate/],
      ['bytes:2', Uint8Array.of(1, 2, 3), ValueTooLargeError, /3 bytes, over the map's bytes:2/],
      ['bytes:2', [1, 2], ShmapTypeError, /Uint8Array \(bytes:2\), got an array/],
      ['json:4', { a: 1 }, ValueTooLargeError, /7 bytes of JSON, over the map's json:4/],
      ['json:16', undefined, ShmapTypeError, /cannot be stored as JSON/],
      ['json:16', 1n, ShmapTypeError, /cannot be stored as JSON/],
    ];
    for (const [spec, value, cls, message] of cases) {
      const t = parseType(spec, 'value', true);
      const e = thrown(() => valueCodec(t.code, t.n).prepare(value), `${spec} ${describeValue(value)}`);
      expect(e, spec).toBeInstanceOf(cls);
      expect((e as Error).message).toMatch(message);
    }
  });

  it('compareAndSet matching: numbers by value (NaN matches NaN), bytes by content, json by its text', () => {
    const codec = (spec: string) => {
      const t = parseType(spec, 'value', true);
      return valueCodec(t.code, t.n);
    };
    expect(codec('float64').matches(NaN, NaN)).toBe(true);
    expect(codec('float64').matches(1, 2)).toBe(false);
    expect(codec('bigint64').matches(5n, 5n)).toBe(true);
    expect(codec('bytes:4').matches(Uint8Array.of(1, 2), Uint8Array.of(1, 2))).toBe(true);
    expect(codec('bytes:4').matches(Uint8Array.of(1, 2), Uint8Array.of(1, 3))).toBe(false);
    expect(codec('bytes:4').matches(Uint8Array.of(1, 2), [1, 2])).toBe(false);
    expect(codec('json:16').matches('{"a":1,"b":2}', { a: 1, b: 2 })).toBe(true);
    expect(codec('json:16').matches('{"a":1,"b":2}', { b: 2, a: 1 })).toBe(false);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(codec('json:16').matches('{}', cyclic)).toBe(false);
  });

  it('add: numeric types start from their zero and add; sized types refuse', () => {
    const t = (spec: string) => {
      const p = parseType(spec, 'value', true);
      return valueCodec(p.code, p.n);
    };
    expect(t('int32').zero).toBe(0);
    expect(t('int32').plus(2, 3)).toBe(5);
    expect(t('bigint64').zero).toBe(0n);
    expect(t('bigint64').plus(2n, 3)).toBe(5n);
    expect(t('string:4').numeric).toBe(false);
    expect(thrown(() => t('string:4').plus(1, 1))).toBeInstanceOf(ShmapTypeError);
  });
});

/**
 * String keys and values have two encoders and two decoders: ASCII strings
 * are packed into words straight from their code units (and hashed as they
 * are packed) and short ASCII fields are decoded by `String.fromCharCode`;
 * everything else goes through Buffer's UTF-8. The slot bytes must be the
 * same bit for bit whichever path wrote them, so a map written by one path is
 * read by the other (in another thread too: the hash decides the shard and
 * the home slot). The oracle here is Buffer's UTF-8, used by neither fast
 * path: for random strings, ASCII and not, short and long, the codec's words
 * and hash must equal those built from `Buffer.from(s, 'utf8')`.
 */
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { Buffer } from 'node:buffer';
import { ByteScratch, keyCodec, valueCodec } from '../../src/shm/codec.js';
import { hashWordsN } from '../../src/shm/hash.js';
import { TYPE_STRING } from '../../src/shm/layout.js';
import { Views } from '../../src/shm/views.js';
import { SharedMap, KeyTooLongError, ShmapTypeError } from '../../src/index.js';

const replay: fc.Parameters<unknown> =
  process.env.SHMAP_FC_SEED !== undefined
    ? { seed: Number(process.env.SHMAP_FC_SEED), path: process.env.SHMAP_FC_PATH }
    : {};

/** Field width used below: longer than the 64-byte fast decoding limit, so both decoders run. */
const N = 100;

/** Strings of every kind: ASCII, any code point, any code unit (lone surrogates included), long. */
const anyString = fc.oneof(
  fc.string({ unit: 'binary-ascii', maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)), maxLength: 12 }),
  fc.string({ unit: 'binary-ascii', minLength: 60, maxLength: 110 }),
);

/** The field's words as the oracle encodes them: byte length, then the UTF-8 bytes zero-padded. */
function oracleWords(bytes: Uint8Array): Int32Array {
  const words = new Int32Array(1 + ((bytes.length + 3) >> 2));
  words[0] = bytes.length;
  new Uint8Array(words.buffer).set(bytes, 4);
  return words;
}

/** A small map buffer and views over it; a field lives at word 4. */
function field(): Views {
  return new Views(new SharedArrayBuffer(4 * (8 + N)));
}
const AT = 4;

/** Checks the codec against `encode` (the oracle, or a broken one for the negative control). */
function agreesWith(encode: (s: string) => Uint8Array, seed: number, s: string): void {
  const kc = keyCodec(TYPE_STRING, N, seed);
  const vc = valueCodec(TYPE_STRING, N);
  if (!s.isWellFormed()) {
    // Refused for storage, looked up as absent.
    expect(() => kc.prepareWrite(s)).toThrow(ShmapTypeError);
    expect(() => vc.prepare(s)).toThrow(ShmapTypeError);
    return;
  }
  const bytes = encode(s);
  if (bytes.length > N) {
    expect(() => kc.prepareWrite(s)).toThrow(KeyTooLongError);
    return;
  }
  const want = oracleWords(bytes);
  // Key: same hash and same stored words as the oracle's.
  expect(kc.prepareWrite(s)).toBe(hashWordsN(seed, want, 0, want.length));
  expect(Array.from(kc.prepared.subarray(0, kc.usedWords))).toEqual(Array.from(want));
  const v = field();
  v.i32.set(kc.prepared.subarray(0, kc.usedWords), AT);
  expect(kc.load(v, AT)).toBe(s);
  // Value: same stored words; the oracle's bytes decode to s.
  const w = field();
  vc.prepare(s);
  vc.store(w, AT);
  expect(Array.from(w.i32.subarray(AT, AT + want.length))).toEqual(Array.from(want));
  const x = field();
  x.i32.set(want, AT);
  expect(vc.load(x, AT)).toBe(s);
  expect(kc.load(x, AT)).toBe(s);
}

const utf8 = (s: string) => Buffer.from(s, 'utf8');

describe('string codec: the fast paths write and read the same bytes as UTF-8', () => {
  it('keys and values of random strings: words, hash and decoding equal the UTF-8 oracle', () => {
    fc.assert(
      fc.property(anyString, fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), (s, seed) => agreesWith(utf8, seed, s)),
      { numRuns: 500, ...replay },
    );
  });

  it('negative control: an encoder that is not UTF-8 (Latin-1) is caught', () => {
    const latin1 = (s: string) => Buffer.from(s, 'latin1');
    const r = fc.check(
      fc.property(anyString, (s) => agreesWith(latin1, 7, s)),
      { numRuns: 2000 },
    );
    expect(r.failed).toBe(true);
  });

  it('packAscii and the UTF-8 writer leave the same words and hash for an ASCII string', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary-ascii', maxLength: N }), fc.integer(), (s, seed) => {
        const a = new ByteScratch(N);
        const b = new ByteScratch(N);
        expect(a.packAscii(s, seed)).toBe(true);
        expect(b.encodeString(s)).toBe(s.length);
        expect(a.usedWords).toBe(b.usedWords);
        expect(Array.from(a.i32.subarray(0, a.usedWords))).toEqual(Array.from(b.i32.subarray(0, b.usedWords)));
        expect(a.hash).toBe(hashWordsN(seed, b.i32, 0, b.usedWords));
      }),
      { numRuns: 300, ...replay },
    );
  });

  it('packAscii declines what it cannot pack: a non-ASCII code unit anywhere, or over n bytes', () => {
    const s = new ByteScratch(8);
    for (const k of ['é', 'abcdefgé', 'aé', '\ud800', 'abcd\u0080']) expect(s.packAscii(k, 1), k).toBe(false);
    expect(s.packAscii('abcdefghi', 1)).toBe(false);
    expect(s.packAscii('abcdefgh', 1)).toBe(true);
    expect(s.packAscii('', 1)).toBe(true);
  });

  it('a map keyed and valued by strings of every kind behaves as a Map (both paths in one table)', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(anyString, anyString), { maxLength: 60 }), (pairs) => {
        const map = SharedMap.create<string, string>({ key: `string:${N}`, value: `string:${N}`, capacity: 16 });
        const model = new Map<string, string>();
        for (const [k, v] of pairs) {
          const storable = (x: string) => x.isWellFormed() && utf8(x).length <= N;
          if (storable(k) && storable(v)) {
            map.set(k, v);
            model.set(k, v);
          } else {
            expect(() => map.set(k, v)).toThrow();
          }
          // Lookups of anything (too long, lone surrogates) answer as the model does.
          expect(map.get(k)).toBe(model.get(k));
          expect(map.has(v)).toBe(model.has(v));
        }
        expect(map.size).toBe(model.size);
        for (const [k, v] of model) expect(map.get(k)).toBe(v);
      }),
      { numRuns: 100, ...replay },
    );
  });
});

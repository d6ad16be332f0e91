/**
 * Key and value types <-> fixed-width slot fields.
 *
 * A codec is chosen once per map handle, so the hot path calls one
 * monomorphic object and checks no flags. Keys are encoded once per call
 * into a per-handle scratch (`prepare`), hashed from the scratch, and then
 * compared in place against slots (`equals`) without decoding.
 *
 * Field formats (see layout.ts for where a field sits in a slot):
 * - int32, uint32: one i32 word (uint32 stored as its int32 bit pattern).
 * - float64: 8 bytes, -0 stored as +0 and every NaN as the one canonical NaN,
 *   so comparing the two words is SameValueZero (as a JS Map compares keys).
 * - bigint64: 8 bytes, two's complement.
 * - string:N, bytes:N, json:N: an i32 byte length, then the bytes (UTF-8 for
 *   strings and JSON), zero-padded to a whole word so keys compare word by word.
 */
import { Buffer } from 'node:buffer';
import type { Views } from './views.js';
import {
  TYPE_BIGINT64,
  TYPE_BYTES,
  TYPE_FLOAT64,
  TYPE_INT32,
  TYPE_JSON,
  TYPE_STRING,
  TYPE_UINT32,
  fieldBytes,
} from './layout.js';
import { finishWords, hashWord, hashWords2, hashWordsN, mixWord } from './hash.js';
import { InvalidOptionError, KeyTooLongError, ShmapTypeError, ValueTooLargeError } from './errors.js';

// ---------------------------------------------------------------------------
// Parsing type names.

export interface TypeSpec {
  code: number;
  /** Max bytes for string/bytes/json; 0 for numbers. */
  n: number;
  name: string;
}

const NUMBER_TYPES: Record<string, number> = {
  int32: TYPE_INT32,
  uint32: TYPE_UINT32,
  float64: TYPE_FLOAT64,
  bigint64: TYPE_BIGINT64,
};
const SIZED_TYPES: Record<string, number> = { string: TYPE_STRING, bytes: TYPE_BYTES, json: TYPE_JSON };

/** Largest N for string:N / bytes:N / json:N. */
export const MAX_FIELD_N = 1 << 20;

/** Parses 'int32', 'string:32', ... Throws InvalidOptionError naming `option`. */
export function parseType(spec: unknown, option: string, allowJson: boolean): TypeSpec {
  if (typeof spec === 'string') {
    const number = NUMBER_TYPES[spec];
    if (number !== undefined) return { code: number, n: 0, name: spec };
    const m = /^(string|bytes|json):(\d+)$/.exec(spec);
    if (m) {
      const code = SIZED_TYPES[m[1]!]!;
      const n = Number(m[2]);
      if (code === TYPE_JSON && !allowJson) {
        throw new InvalidOptionError(`options.${option}: 'json:N' is a value type only, got '${spec}'`);
      }
      if (n >= 1 && n <= MAX_FIELD_N) return { code, n, name: spec };
      throw new InvalidOptionError(`options.${option}: N in '${spec}' must be between 1 and ${MAX_FIELD_N}`);
    }
  }
  const kinds = allowJson
    ? "'int32', 'uint32', 'float64', 'bigint64', 'string:N', 'bytes:N' or 'json:N'"
    : "'int32', 'uint32', 'float64', 'bigint64', 'string:N' or 'bytes:N'";
  throw new InvalidOptionError(`options.${option} must be one of ${kinds}, got ${describe(spec)}`);
}

/** The type name back from its code and N. */
export function typeName(code: number, n: number): string {
  for (const [name, c] of Object.entries(NUMBER_TYPES)) if (c === code) return name;
  for (const [name, c] of Object.entries(SIZED_TYPES)) if (c === code) return `${name}:${n}`;
  return `unknown(${code})`;
}

/** A short description of a value for error messages. */
export function describe(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? v.slice(0, 40) + '...' : v);
  if (typeof v === 'bigint') return `${v}n`;
  if (v instanceof Uint8Array) return `Uint8Array(${v.length})`;
  if (v === null) return 'null';
  if (typeof v === 'object') return Array.isArray(v) ? 'an array' : 'an object';
  if (typeof v === 'function') return 'a function';
  return String(v);
}

const INT32_MIN = -0x8000_0000;
const INT32_MAX = 0x7fff_ffff;
const UINT32_MAX = 0xffff_ffff;
const BIGINT64_MIN = -(1n << 63n);
const BIGINT64_MAX = (1n << 63n) - 1n;

// ---------------------------------------------------------------------------
// Keys.

export interface KeyCodec {
  /** Field width in i32 words. */
  readonly words: number;
  /**
   * The prepared key as the words a slot's key field holds (valid after
   * `prepare`): the one form every kind is compared and stored in, so the
   * probe (shard.ts) compares `usedWords` words and calls no codec.
   */
  readonly prepared: Int32Array;
  /** Words of `prepared` in use: `words` for number keys; length word plus the bytes' words for sized keys. */
  readonly usedWords: number;
  /**
   * Validates `key`, encodes it into the scratch and returns its hash, for a
   * lookup. Throws ShmapTypeError for a key of the wrong type. A key that
   * can be looked up but never stored (over string:N / bytes:N, or a string
   * with a lone surrogate) prepares as a key no slot holds: absent.
   */
  prepare(key: unknown): number;
  /** `prepare` for a key about to be stored: also refuses keys that can be looked up but never stored (KeyTooLongError, ShmapTypeError). */
  prepareWrite(key: unknown): number;
  /** Decodes the key stored at word index `at`. */
  load(views: Views, at: number): unknown;
  /** The prepared key, printable (for conflict records). */
  preparedText(): string;
}

class Int32Key implements KeyCodec {
  readonly words = 1;
  readonly usedWords = 1;
  readonly prepared = new Int32Array(1);
  constructor(protected readonly seed: number) {}
  prepare(key: unknown): number {
    if (typeof key !== 'number' || (key | 0) !== key) {
      throw new ShmapTypeError(`key must be an int32 (an integer from -2^31 to 2^31-1), got ${describe(key)}`);
    }
    this.prepared[0] = key;
    return hashWord(this.seed, key);
  }
  prepareWrite(key: unknown): number {
    return this.prepare(key);
  }
  load(views: Views, at: number): unknown {
    return views.i32[at];
  }
  preparedText(): string {
    return String(this.prepared[0]);
  }
}

/** Stored as the int32 with the same bits; only validation and decoding differ. */
class Uint32Key extends Int32Key {
  override prepare(key: unknown): number {
    if (typeof key !== 'number' || key >>> 0 !== key) {
      throw new ShmapTypeError(`key must be a uint32 (an integer from 0 to 2^32-1), got ${describe(key)}`);
    }
    const k = key | 0;
    this.prepared[0] = k;
    return hashWord(this.seed, k);
  }
  override load(views: Views, at: number): unknown {
    return views.i32[at]! >>> 0;
  }
  override preparedText(): string {
    return String(this.prepared[0]! >>> 0);
  }
}

/** Scratch for splitting an 8-byte number into two words. */
class Words8 {
  readonly f64 = new Float64Array(1);
  readonly i64 = new BigInt64Array(this.f64.buffer);
  readonly i32 = new Int32Array(this.f64.buffer);
}

/** An 8-byte key, compared and stored as two words of the scratch; subclasses say how a key becomes those bytes. */
abstract class TwoWordKey implements KeyCodec {
  readonly words = 2;
  readonly usedWords = 2;
  protected readonly scratch = new Words8();
  readonly prepared = this.scratch.i32;
  constructor(protected readonly seed: number) {}
  abstract prepare(key: unknown): number;
  abstract load(views: Views, at: number): unknown;
  abstract preparedText(): string;
  prepareWrite(key: unknown): number {
    return this.prepare(key);
  }
  protected hash(): number {
    return hashWords2(this.seed, this.scratch.i32[0]!, this.scratch.i32[1]!);
  }
}

class Float64Key extends TwoWordKey {
  prepare(key: unknown): number {
    if (typeof key !== 'number') throw new ShmapTypeError(`key must be a number (float64), got ${describe(key)}`);
    // SameValueZero: one representation for -0/+0 and for every NaN.
    this.scratch.f64[0] = key === 0 ? 0 : key !== key ? NaN : key;
    return this.hash();
  }
  load(views: Views, at: number): unknown {
    return views.f64[at >> 1];
  }
  preparedText(): string {
    return String(this.scratch.f64[0]);
  }
}

class BigInt64Key extends TwoWordKey {
  prepare(key: unknown): number {
    if (typeof key !== 'bigint') throw new ShmapTypeError(`key must be a bigint (bigint64), got ${describe(key)}`);
    if (key < BIGINT64_MIN || key > BIGINT64_MAX)
      throw new ShmapTypeError(`key must fit in a signed 64-bit integer, got ${key}n`);
    this.scratch.i64[0] = key;
    return this.hash();
  }
  load(views: Views, at: number): unknown {
    return views.i64[at >> 1];
  }
  preparedText(): string {
    return `${this.scratch.i64[0]}n`;
  }
}

/**
 * Scratch for a length-prefixed byte field: word 0 = byte length, then the
 * bytes, zero-padded to a whole word. Strings go in as UTF-8. An ASCII string
 * (every code unit < 0x80) is its own UTF-8, one byte per code unit, so
 * `packAscii` builds the words straight from the code units and hashes them
 * as it goes; anything else takes `encodeString`, Buffer's UTF-8 writer.
 * Both leave the same words for the same string (and `packAscii` the same
 * hash `hashWordsN` gives over them): a key written by one path is found by
 * the other, in this thread or any other.
 */
/** @internal Exported for the codec tests. */
export class ByteScratch {
  readonly i32: Int32Array;
  readonly u8: Uint8Array;
  readonly buf: Buffer;
  /** Words in use (length word included) for the current content. */
  usedWords = 1;
  /** The hash `packAscii` computed (valid after it returned true). */
  hash = 0;
  constructor(readonly maxBytes: number) {
    this.i32 = new Int32Array(1 + ((maxBytes + 3) >> 2) + 1);
    this.u8 = new Uint8Array(this.i32.buffer);
    this.buf = Buffer.from(this.i32.buffer);
  }
  /**
   * Packs `s` into the words, four code units to a word (little-endian, as
   * the bytes lie in memory), and hashes them with `seed` into `hash`, when
   * `s` is ASCII and at most n bytes. Returns false otherwise (scratch then
   * unspecified: the caller goes on with `encodeString`).
   */
  packAscii(s: string, seed: number): boolean {
    const len = s.length;
    if (len > this.maxBytes) return false;
    const i32 = this.i32;
    i32[0] = len;
    let h = mixWord(seed, len);
    let w = 1;
    let i = 0;
    for (const whole = len & ~3; i < whole; i += 4) {
      const c0 = s.charCodeAt(i);
      const c1 = s.charCodeAt(i + 1);
      const c2 = s.charCodeAt(i + 2);
      const c3 = s.charCodeAt(i + 3);
      if ((c0 | c1 | c2 | c3) >= 0x80) return false;
      const word = c0 | (c1 << 8) | (c2 << 16) | (c3 << 24);
      i32[w++] = word;
      h = mixWord(h, word);
    }
    if (i < len) {
      let word = 0;
      let any = 0;
      for (let shift = 0; i < len; i++, shift += 8) {
        const c = s.charCodeAt(i);
        any |= c;
        word |= c << shift;
      }
      if (any >= 0x80) return false;
      i32[w++] = word;
      h = mixWord(h, word);
    }
    this.usedWords = w;
    this.hash = finishWords(h, w);
    return true;
  }
  /** Encodes `s` as UTF-8; returns its byte length, -1 when longer than n bytes, -2 when it holds a lone surrogate (scratch then unspecified). */
  encodeString(s: string): number {
    const len = s.length;
    if (len <= this.maxBytes && this.asciiWords(s, len)) {
      this.i32[0] = len;
      this.usedWords = 1 + ((len + 3) >> 2);
      return len;
    }
    // UTF-8 cannot hold a lone surrogate (Buffer would write U+FFFD instead,
    // making '\ud800' and '\ufffd' one key): refuse it.
    if (!s.isWellFormed()) return -2;
    const bytes = Buffer.byteLength(s, 'utf8');
    if (bytes > this.maxBytes) return -1;
    this.buf.write(s, 4, bytes, 'utf8');
    return this.finish(bytes);
  }
  /**
   * `encodeString`'s ASCII path: the code units packed four to a word as
   * `packAscii` packs them (the last word's unused bytes zero), without the
   * hash. Its loop is `packAscii`'s without the mixing; `packAscii` does not
   * call it and hash the words after, which cost key packing 3-15% (Node
   * 20 and 26, 14- and 32-char keys); codec-strings.test.ts holds both to
   * the UTF-8 oracle. The ASCII path: one typed-array store per four code units instead of one per
   * byte (a string:32 value: 0.75x the per-byte loop's time on Node 20 and
   * 26). False at a code unit >= 0x80 (the words then unspecified).
   * Precondition: `len` = s.length <= maxBytes.
   */
  private asciiWords(s: string, len: number): boolean {
    const i32 = this.i32;
    let w = 1;
    let i = 0;
    for (const whole = len & ~3; i < whole; i += 4) {
      const c0 = s.charCodeAt(i);
      const c1 = s.charCodeAt(i + 1);
      const c2 = s.charCodeAt(i + 2);
      const c3 = s.charCodeAt(i + 3);
      if ((c0 | c1 | c2 | c3) >= 0x80) return false;
      i32[w++] = c0 | (c1 << 8) | (c2 << 16) | (c3 << 24);
    }
    if (i < len) {
      let word = 0;
      let any = 0;
      for (let shift = 0; i < len; i++, shift += 8) {
        const c = s.charCodeAt(i);
        any |= c;
        word |= c << shift;
      }
      if (any >= 0x80) return false;
      i32[w] = word;
    }
    return true;
  }
  encodeBytes(b: Uint8Array): number {
    if (b.length > this.maxBytes) return -1;
    this.u8.set(b, 4);
    return this.finish(b.length);
  }
  /** Marks the scratch as a key no slot holds: a length word of -1 (stored lengths are >= 0). */
  absent(): void {
    this.i32[0] = -1;
    this.usedWords = 1;
  }
  private finish(bytes: number): number {
    this.i32[0] = bytes;
    // zero the pad bytes of the last word so words compare equal
    for (let p = 4 + bytes; (p & 3) !== 0; p++) this.u8[p] = 0;
    this.usedWords = 1 + ((bytes + 3) >> 2);
    return bytes;
  }
}

/** Reads a length-prefixed field's length, clamped to [0, n] (a torn read may see garbage; the seq check discards it). */
function fieldLen(i32: Int32Array, at: number, n: number): number {
  const len = i32[at]!;
  return len >= 0 && len <= n ? len : 0;
}

/**
 * Longest string field decoded in JavaScript: an ASCII field up to this many
 * bytes becomes a string by `String.fromCharCode` over a reused array of its
 * bytes; longer or non-ASCII fields go through Buffer's UTF-8 decoder, whose
 * fixed cost (a call into C++, checks, a slice) is what dominated short
 * values.
 */
const SHORT_STRING_BYTES = 64;

/** One reused array per length 0..SHORT_STRING_BYTES, so `fromCharCode.apply` gets exactly the field's bytes. */
const CHAR_CODES: number[][] = Array.from({ length: SHORT_STRING_BYTES + 1 }, (_, n) => new Array<number>(n).fill(0));

/** Decodes a UTF-8 string field at word index `at` (length word, then bytes). */
function loadUtf8(views: Views, at: number, n: number): string {
  const len = fieldLen(views.i32, at, n);
  const start = (at << 2) + 4;
  if (len <= SHORT_STRING_BYTES) {
    const codes = CHAR_CODES[len]!;
    const u8 = views.u8;
    let any = 0;
    for (let i = 0; i < len; i++) {
      const c = u8[start + i]!;
      any |= c;
      codes[i] = c;
    }
    // All ASCII: each byte is its own code unit.
    if (any < 0x80) return String.fromCharCode.apply(null, codes);
  }
  return views.bufFor(start + len).toString('utf8', start, start + len);
}

function loadBytes(views: Views, at: number, n: number): Uint8Array {
  const len = fieldLen(views.i32, at, n);
  const start = (at << 2) + 4;
  return views.u8.slice(start, start + len);
}

/** Why a prepared key can be looked up (it is never found) but not stored. */
const STORABLE = 0;
const TOO_LONG = 1;
const LONE_SURROGATE = 2;

abstract class SizedKey implements KeyCodec {
  readonly words: number;
  protected readonly scratch: ByteScratch;
  /**
   * STORABLE, or why the prepared key cannot be stored: a lookup answers
   * absent for it (the scratch holds a length no slot has), a write throws.
   */
  protected unstorable = STORABLE;
  constructor(
    protected readonly seed: number,
    protected readonly maxBytes: number,
  ) {
    this.scratch = new ByteScratch(maxBytes);
    this.words = fieldBytes(TYPE_STRING, maxBytes) >> 2;
  }
  abstract prepare(key: unknown): number;
  prepareWrite(key: unknown): number {
    const h = this.prepare(key);
    if (this.unstorable !== STORABLE) this.refuse(key);
    return h;
  }
  /** Throws the error saying why `key` (just prepared) cannot be stored. */
  protected abstract refuse(key: unknown): never;
  /** Prepares a key no slot holds (hash 0: it is looked for in shard 0 and never found). */
  protected absent(why: number): number {
    this.scratch.absent();
    this.unstorable = why;
    return 0;
  }
  get prepared(): Int32Array {
    return this.scratch.i32;
  }
  /**
   * A slot stores and compares the used words only: a shorter key leaves
   * old bytes past its last word, which no comparison reads (the length
   * word differs or the used words end before them).
   */
  get usedWords(): number {
    return this.scratch.usedWords;
  }
  abstract load(views: Views, at: number): unknown;
  abstract preparedText(): string;
}

class StringKey extends SizedKey {
  private keyText = '';
  prepare(key: unknown): number {
    if (typeof key !== 'string')
      throw new ShmapTypeError(`key must be a string (string:${this.maxBytes}), got ${describe(key)}`);
    this.keyText = key;
    if (this.scratch.packAscii(key, this.seed)) {
      this.unstorable = STORABLE;
      return this.scratch.hash;
    }
    const r = this.scratch.encodeString(key);
    if (r === -2) return this.absent(LONE_SURROGATE);
    if (r < 0) return this.absent(TOO_LONG);
    this.unstorable = STORABLE;
    return hashWordsN(this.seed, this.scratch.i32, 0, this.scratch.usedWords);
  }
  protected refuse(key: unknown): never {
    if (this.unstorable === LONE_SURROGATE)
      throw new ShmapTypeError(
        `key must be well-formed UTF-16 (it has a lone surrogate, which UTF-8 cannot hold): ${describe(key)}`,
      );
    throw new KeyTooLongError(
      `key is ${Buffer.byteLength(key as string)} UTF-8 bytes, over the map's string:${this.maxBytes}: ${describe(key)}`,
    );
  }
  load(views: Views, at: number): unknown {
    return loadUtf8(views, at, this.maxBytes);
  }
  preparedText(): string {
    return this.keyText;
  }
}

class BytesKey extends SizedKey {
  private keyBytes: Uint8Array = new Uint8Array(0);
  prepare(key: unknown): number {
    if (!(key instanceof Uint8Array))
      throw new ShmapTypeError(`key must be a Uint8Array (bytes:${this.maxBytes}), got ${describe(key)}`);
    this.keyBytes = key;
    if (this.scratch.encodeBytes(key) < 0) return this.absent(TOO_LONG);
    this.unstorable = STORABLE;
    return hashWordsN(this.seed, this.scratch.i32, 0, this.scratch.usedWords);
  }
  protected refuse(key: unknown): never {
    throw new KeyTooLongError(`key is ${(key as Uint8Array).length} bytes, over the map's bytes:${this.maxBytes}`);
  }
  load(views: Views, at: number): unknown {
    return loadBytes(views, at, this.maxBytes);
  }
  preparedText(): string {
    return Buffer.from(this.keyBytes.buffer, this.keyBytes.byteOffset, this.keyBytes.length).toString('hex');
  }
}

export function keyCodec(type: number, n: number, seed: number): KeyCodec {
  switch (type) {
    case TYPE_INT32:
      return new Int32Key(seed);
    case TYPE_UINT32:
      return new Uint32Key(seed);
    case TYPE_FLOAT64:
      return new Float64Key(seed);
    case TYPE_BIGINT64:
      return new BigInt64Key(seed);
    case TYPE_STRING:
      return new StringKey(seed, n);
    case TYPE_BYTES:
      return new BytesKey(seed, n);
  }
  throw new InvalidOptionError(`unknown key type code ${type}`);
}

// ---------------------------------------------------------------------------
// Values.

export interface ValueCodec {
  /** Whether `add` works on this type. */
  readonly numeric: boolean;
  /** What `add` starts from for a missing key (0, or 0n for bigint64). */
  readonly zero: unknown;
  /** Whether `finish` must run on a loaded value (json: parse it). */
  readonly needsFinish: boolean;
  /** Validates `value` and encodes it into the scratch. Throws ShmapTypeError / ValueTooLargeError. */
  prepare(value: unknown): void;
  /** Writes the prepared value at word index `at`. */
  store(views: Views, at: number): void;
  /** Reads the stored value at `at`: a number, bigint, string (json: its text) or Uint8Array. */
  load(views: Views, at: number): unknown;
  /** Turns a loaded value into the user's value (after the read was validated). */
  finish(raw: unknown): unknown;
  /** Whether a loaded value equals `expected` (compareAndSet). */
  matches(raw: unknown, expected: unknown): boolean;
  /** The stored value plus `delta`, as a value of this type (validated by `prepare` afterwards). */
  plus(raw: unknown, delta: number): unknown;
}

abstract class NumberValue implements ValueCodec {
  readonly numeric = true;
  readonly zero: unknown = 0;
  readonly needsFinish = false;
  protected preparedValue = 0;
  abstract prepare(value: unknown): void;
  abstract store(views: Views, at: number): void;
  abstract load(views: Views, at: number): unknown;
  finish(raw: unknown): unknown {
    return raw;
  }
  matches(raw: unknown, expected: unknown): boolean {
    return raw === expected || (raw !== raw && expected !== expected);
  }
  plus(raw: unknown, delta: number): unknown {
    return (raw as number) + delta;
  }
}

class Int32Value extends NumberValue {
  prepare(value: unknown): void {
    if (typeof value !== 'number' || !Number.isInteger(value)) {
      throw new ShmapTypeError(`value must be an integer (int32), got ${describe(value)}`);
    }
    if (value < INT32_MIN || value > INT32_MAX) throw new ValueTooLargeError(`value ${value} is out of int32 range`);
    this.preparedValue = value | 0;
  }
  store(views: Views, at: number): void {
    views.i32[at] = this.preparedValue;
  }
  load(views: Views, at: number): unknown {
    return views.i32[at];
  }
}

class Uint32Value extends NumberValue {
  prepare(value: unknown): void {
    if (typeof value !== 'number' || !Number.isInteger(value)) {
      throw new ShmapTypeError(`value must be an integer (uint32), got ${describe(value)}`);
    }
    if (value < 0 || value > UINT32_MAX) throw new ValueTooLargeError(`value ${value} is out of uint32 range`);
    this.preparedValue = value | 0;
  }
  store(views: Views, at: number): void {
    views.i32[at] = this.preparedValue;
  }
  load(views: Views, at: number): unknown {
    return views.i32[at]! >>> 0;
  }
}

class Float64Value extends NumberValue {
  prepare(value: unknown): void {
    if (typeof value !== 'number') throw new ShmapTypeError(`value must be a number (float64), got ${describe(value)}`);
    this.preparedValue = value;
  }
  store(views: Views, at: number): void {
    views.f64[at >> 1] = this.preparedValue;
  }
  load(views: Views, at: number): unknown {
    return views.f64[at >> 1];
  }
}

class BigInt64Value implements ValueCodec {
  readonly numeric = true;
  readonly zero: unknown = 0n;
  readonly needsFinish = false;
  private preparedValue = 0n;
  prepare(value: unknown): void {
    if (typeof value !== 'bigint')
      throw new ShmapTypeError(`value must be a bigint (bigint64), got ${describe(value)}`);
    if (value < BIGINT64_MIN || value > BIGINT64_MAX)
      throw new ValueTooLargeError(`value ${value}n is out of bigint64 range`);
    this.preparedValue = value;
  }
  store(views: Views, at: number): void {
    views.i64[at >> 1] = this.preparedValue;
  }
  load(views: Views, at: number): unknown {
    return views.i64[at >> 1];
  }
  finish(raw: unknown): unknown {
    return raw;
  }
  matches(raw: unknown, expected: unknown): boolean {
    return raw === expected;
  }
  plus(raw: unknown, delta: number): unknown {
    return (raw as bigint) + BigInt(delta);
  }
}

abstract class SizedValue implements ValueCodec {
  readonly numeric = false;
  readonly zero: unknown = undefined;
  readonly needsFinish: boolean = false;
  protected readonly scratch: ByteScratch;
  constructor(protected readonly maxBytes: number) {
    this.scratch = new ByteScratch(maxBytes);
  }
  abstract prepare(value: unknown): void;
  store(views: Views, at: number): void {
    const s = this.scratch.i32;
    const used = this.scratch.usedWords;
    const i32 = views.i32;
    for (let i = 0; i < used; i++) i32[at + i] = s[i]!;
  }
  abstract load(views: Views, at: number): unknown;
  finish(raw: unknown): unknown {
    return raw;
  }
  abstract matches(raw: unknown, expected: unknown): boolean;
  plus(): unknown {
    throw new ShmapTypeError('add needs a number value type');
  }
}

class StringValue extends SizedValue {
  prepare(value: unknown): void {
    if (typeof value !== 'string')
      throw new ShmapTypeError(`value must be a string (string:${this.maxBytes}), got ${describe(value)}`);
    const r = this.scratch.encodeString(value);
    if (r === -2)
      throw new ShmapTypeError(
        `value must be well-formed UTF-16 (it has a lone surrogate, which UTF-8 cannot hold): ${describe(value)}`,
      );
    if (r < 0) {
      throw new ValueTooLargeError(
        `value is ${Buffer.byteLength(value)} UTF-8 bytes, over the map's string:${this.maxBytes}`,
      );
    }
  }
  load(views: Views, at: number): unknown {
    return loadUtf8(views, at, this.maxBytes);
  }
  matches(raw: unknown, expected: unknown): boolean {
    return raw === expected;
  }
}

class BytesValue extends SizedValue {
  prepare(value: unknown): void {
    if (!(value instanceof Uint8Array))
      throw new ShmapTypeError(`value must be a Uint8Array (bytes:${this.maxBytes}), got ${describe(value)}`);
    if (this.scratch.encodeBytes(value) < 0)
      throw new ValueTooLargeError(`value is ${value.length} bytes, over the map's bytes:${this.maxBytes}`);
  }
  load(views: Views, at: number): unknown {
    return loadBytes(views, at, this.maxBytes);
  }
  matches(raw: unknown, expected: unknown): boolean {
    return expected instanceof Uint8Array && Buffer.compare(raw as Uint8Array, expected) === 0;
  }
}

class JsonValue extends SizedValue {
  override readonly needsFinish = true;
  prepare(value: unknown): void {
    let text: string | undefined;
    try {
      text = JSON.stringify(value);
    } catch (err) {
      throw new ShmapTypeError(`value cannot be stored as JSON: ${(err as Error).message}`);
    }
    if (text === undefined) throw new ShmapTypeError(`value cannot be stored as JSON: ${describe(value)}`);
    if (this.scratch.encodeString(text) < 0) {
      throw new ValueTooLargeError(
        `value is ${Buffer.byteLength(text)} bytes of JSON, over the map's json:${this.maxBytes}`,
      );
    }
  }
  load(views: Views, at: number): unknown {
    return loadUtf8(views, at, this.maxBytes);
  }
  override finish(raw: unknown): unknown {
    return JSON.parse(raw as string);
  }
  matches(raw: unknown, expected: unknown): boolean {
    let text: string | undefined;
    try {
      text = JSON.stringify(expected);
    } catch {
      return false;
    }
    return raw === text;
  }
}

export function valueCodec(type: number, n: number): ValueCodec {
  switch (type) {
    case TYPE_INT32:
      return new Int32Value();
    case TYPE_UINT32:
      return new Uint32Value();
    case TYPE_FLOAT64:
      return new Float64Value();
    case TYPE_BIGINT64:
      return new BigInt64Value();
    case TYPE_STRING:
      return new StringValue(n);
    case TYPE_BYTES:
      return new BytesValue(n);
    case TYPE_JSON:
      return new JsonValue(n);
  }
  throw new InvalidOptionError(`unknown value type code ${type}`);
}

/** Encodes a printable key text (already a string) as UTF-8 into `out` at byte `at`, cut to `max` bytes; returns bytes written. */
export function writeText(out: Uint8Array, at: number, text: string, max: number): number {
  const b = Buffer.from(text, 'utf8');
  let n = Math.min(max, b.length);
  // do not cut a UTF-8 sequence in half
  while (n > 0 && n < b.length && (b[n]! & 0xc0) === 0x80) n--;
  out.set(b.subarray(0, n), at);
  return n;
}

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
import { hashWord, hashWords2, hashWordsN } from './hash.js';
import { InvalidOptionError, KeyTooLongError, ShmapTypeError, ValueTooLargeError } from './errors.js';

/**
 * Typed views over the whole map buffer.
 *
 * The views have a fixed length (the buffer's length when they were made)
 * and are made again, by `fit`, when an access reaches past them after the
 * buffer grew. Length-tracking views (`new Int32Array(sab)`) would follow the
 * buffer by themselves, but on Node 20 every access through one costs ~30 ns
 * more (random reads over 16 MiB: 32 ns length-tracking vs 3.7 ns fixed;
 * `Atomics.load` 41-73 vs 12 ns; /tmp micro-benchmark on this machine): the
 * map's hot path would be 10x slower.
 */
export class Views {
  i32!: Int32Array;
  f64!: Float64Array;
  i64!: BigInt64Array;
  u8!: Uint8Array;
  private buf!: Buffer;
  constructor(readonly sab: SharedArrayBuffer) {
    this.refresh();
  }
  /** Makes sure word index `endW` (exclusive) is inside the views; re-makes them after the buffer grew. */
  fit(endW: number): void {
    if (endW > this.i32.length) this.refresh();
  }
  private refresh(): void {
    const bytes = this.sab.byteLength;
    this.i32 = new Int32Array(this.sab, 0, bytes >> 2);
    this.f64 = new Float64Array(this.sab, 0, bytes >> 3);
    this.i64 = new BigInt64Array(this.sab, 0, bytes >> 3);
    this.u8 = new Uint8Array(this.sab, 0, bytes);
    this.buf = Buffer.from(this.sab, 0, bytes);
  }
  /** A Buffer over the whole buffer that reaches at least byte `end`. */
  bufFor(end: number): Buffer {
    if (end > this.buf.length) this.refresh();
    return this.buf;
  }
}

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
  /** Validates `key`, encodes it into the scratch and returns its hash. Throws ShmapTypeError / KeyTooLongError. */
  prepare(key: unknown): number;
  /** `prepare` for a key about to be stored: also refuses keys that can be looked up but never stored (a string with a lone surrogate). */
  prepareWrite(key: unknown): number;
  /** Whether the key stored at word index `at` equals the prepared key. */
  equals(i32: Int32Array, at: number): boolean;
  /** Writes the prepared key at word index `at`. */
  store(v: Views, at: number): void;
  /** Decodes the key stored at word index `at`. */
  load(v: Views, at: number): unknown;
  /** The prepared key, printable (for conflict records). */
  preparedText(): string;
}

class Int32Key implements KeyCodec {
  readonly words = 1;
  protected k = 0;
  constructor(protected readonly seed: number) {}
  prepare(key: unknown): number {
    if (typeof key !== 'number' || (key | 0) !== key) {
      throw new ShmapTypeError(`key must be an int32 (an integer from -2^31 to 2^31-1), got ${describe(key)}`);
    }
    this.k = key | 0;
    return hashWord(this.seed, this.k);
  }
  prepareWrite(key: unknown): number {
    return this.prepare(key);
  }
  equals(i32: Int32Array, at: number): boolean {
    return i32[at] === this.k;
  }
  store(v: Views, at: number): void {
    v.i32[at] = this.k;
  }
  load(v: Views, at: number): unknown {
    return v.i32[at];
  }
  preparedText(): string {
    return String(this.k);
  }
}

/** Stored as the int32 with the same bits; only validation and decoding differ. */
class Uint32Key extends Int32Key {
  override prepare(key: unknown): number {
    if (typeof key !== 'number' || key >>> 0 !== key) {
      throw new ShmapTypeError(`key must be a uint32 (an integer from 0 to 2^32-1), got ${describe(key)}`);
    }
    this.k = key | 0;
    return hashWord(this.seed, this.k);
  }
  override load(v: Views, at: number): unknown {
    return v.i32[at]! >>> 0;
  }
  override preparedText(): string {
    return String(this.k >>> 0);
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
  protected readonly w = new Words8();
  constructor(protected readonly seed: number) {}
  abstract prepare(key: unknown): number;
  abstract load(v: Views, at: number): unknown;
  abstract preparedText(): string;
  prepareWrite(key: unknown): number {
    return this.prepare(key);
  }
  protected hash(): number {
    return hashWords2(this.seed, this.w.i32[0]!, this.w.i32[1]!);
  }
  equals(i32: Int32Array, at: number): boolean {
    return i32[at] === this.w.i32[0] && i32[at + 1] === this.w.i32[1];
  }
  store(v: Views, at: number): void {
    v.i32[at] = this.w.i32[0]!;
    v.i32[at + 1] = this.w.i32[1]!;
  }
}

class Float64Key extends TwoWordKey {
  prepare(key: unknown): number {
    if (typeof key !== 'number') throw new ShmapTypeError(`key must be a number (float64), got ${describe(key)}`);
    // SameValueZero: one representation for -0/+0 and for every NaN.
    this.w.f64[0] = key === 0 ? 0 : key !== key ? NaN : key;
    return this.hash();
  }
  load(v: Views, at: number): unknown {
    return v.f64[at >> 1];
  }
  preparedText(): string {
    return String(this.w.f64[0]);
  }
}

class BigInt64Key extends TwoWordKey {
  prepare(key: unknown): number {
    if (typeof key !== 'bigint') throw new ShmapTypeError(`key must be a bigint (bigint64), got ${describe(key)}`);
    if (key < BIGINT64_MIN || key > BIGINT64_MAX)
      throw new ShmapTypeError(`key must fit in a signed 64-bit integer, got ${key}n`);
    this.w.i64[0] = key;
    return this.hash();
  }
  load(v: Views, at: number): unknown {
    return v.i64[at >> 1];
  }
  preparedText(): string {
    return `${this.w.i64[0]}n`;
  }
}

/**
 * Scratch for a length-prefixed byte field: word 0 = byte length, then the
 * bytes, zero-padded. `encodeString` writes ASCII with a charCodeAt loop (no
 * TextEncoder on the hot path) and falls back to Buffer's UTF-8 writer for
 * anything else.
 */
class ByteScratch {
  readonly i32: Int32Array;
  readonly u8: Uint8Array;
  readonly buf: Buffer;
  /** Words in use (length word included) for the current content. */
  usedWords = 1;
  constructor(readonly n: number) {
    this.i32 = new Int32Array(1 + ((n + 3) >> 2) + 1);
    this.u8 = new Uint8Array(this.i32.buffer);
    this.buf = Buffer.from(this.i32.buffer);
  }
  /** Encodes `s` as UTF-8; returns its byte length, -1 when longer than n bytes, -2 when it holds a lone surrogate (scratch then unspecified). */
  encodeString(s: string): number {
    const len = s.length;
    const u8 = this.u8;
    if (len <= this.n) {
      let i = 0;
      for (; i < len; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) break;
        u8[4 + i] = c;
      }
      if (i === len) return this.finish(len);
    }
    // UTF-8 cannot hold a lone surrogate (Buffer would write U+FFFD instead,
    // making '\ud800' and '\ufffd' one key): refuse it.
    if (!s.isWellFormed()) return -2;
    const bytes = Buffer.byteLength(s, 'utf8');
    if (bytes > this.n) return -1;
    this.buf.write(s, 4, bytes, 'utf8');
    return this.finish(bytes);
  }
  encodeBytes(b: Uint8Array): number {
    if (b.length > this.n) return -1;
    this.u8.set(b, 4);
    return this.finish(b.length);
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

function loadUtf8(v: Views, at: number, n: number): string {
  const len = fieldLen(v.i32, at, n);
  const start = (at << 2) + 4;
  return v.bufFor(start + len).toString('utf8', start, start + len);
}

function loadBytes(v: Views, at: number, n: number): Uint8Array {
  const len = fieldLen(v.i32, at, n);
  const start = (at << 2) + 4;
  return v.u8.slice(start, start + len);
}

abstract class SizedKey implements KeyCodec {
  readonly words: number;
  protected readonly s: ByteScratch;
  constructor(
    protected readonly seed: number,
    protected readonly n: number,
  ) {
    this.s = new ByteScratch(n);
    this.words = fieldBytes(TYPE_STRING, n) >> 2;
  }
  abstract prepare(key: unknown): number;
  prepareWrite(key: unknown): number {
    return this.prepare(key);
  }
  equals(i32: Int32Array, at: number): boolean {
    const s = this.s.i32;
    const used = this.s.usedWords;
    for (let i = 0; i < used; i++) if (i32[at + i] !== s[i]) return false;
    return true;
  }
  store(v: Views, at: number): void {
    // Whole field: the pad after the used words is zeroed too.
    const s = this.s.i32;
    const used = this.s.usedWords;
    const i32 = v.i32;
    for (let i = 0; i < used; i++) i32[at + i] = s[i]!;
  }
  abstract load(v: Views, at: number): unknown;
  abstract preparedText(): string;
}

class StringKey extends SizedKey {
  private k = '';
  private unstorable = false;
  override prepareWrite(key: unknown): number {
    const h = this.prepare(key);
    if (this.unstorable) {
      throw new ShmapTypeError(
        `key must be well-formed UTF-16 (it has a lone surrogate, which UTF-8 cannot hold): ${describe(key)}`,
      );
    }
    return h;
  }
  prepare(key: unknown): number {
    if (typeof key !== 'string')
      throw new ShmapTypeError(`key must be a string (string:${this.n}), got ${describe(key)}`);
    const r = this.s.encodeString(key);
    if (r === -2) {
      // Can be looked up (and is never found: no stored length is -1), not stored.
      this.s.i32[0] = -1;
      this.s.usedWords = 1;
      this.k = key;
      this.unstorable = true;
      return 0;
    }
    this.unstorable = false;
    if (r < 0) {
      throw new KeyTooLongError(
        `key is ${Buffer.byteLength(key)} UTF-8 bytes, over the map's string:${this.n}: ${describe(key)}`,
      );
    }
    this.k = key;
    return hashWordsN(this.seed, this.s.i32, 0, this.s.usedWords);
  }
  load(v: Views, at: number): unknown {
    return loadUtf8(v, at, this.n);
  }
  preparedText(): string {
    return this.k;
  }
}

class BytesKey extends SizedKey {
  prepare(key: unknown): number {
    if (!(key instanceof Uint8Array))
      throw new ShmapTypeError(`key must be a Uint8Array (bytes:${this.n}), got ${describe(key)}`);
    if (this.s.encodeBytes(key) < 0)
      throw new KeyTooLongError(`key is ${key.length} bytes, over the map's bytes:${this.n}`);
    return hashWordsN(this.seed, this.s.i32, 0, this.s.usedWords);
  }
  load(v: Views, at: number): unknown {
    return loadBytes(v, at, this.n);
  }
  preparedText(): string {
    return Buffer.from(this.s.u8.subarray(4, 4 + this.s.i32[0]!)).toString('hex');
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
  store(v: Views, at: number): void;
  /** Reads the stored value at `at`: a number, bigint, string (json: its text) or Uint8Array. */
  load(v: Views, at: number): unknown;
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
  protected x = 0;
  abstract prepare(value: unknown): void;
  abstract store(v: Views, at: number): void;
  abstract load(v: Views, at: number): unknown;
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
    this.x = value | 0;
  }
  store(v: Views, at: number): void {
    v.i32[at] = this.x;
  }
  load(v: Views, at: number): unknown {
    return v.i32[at];
  }
}

class Uint32Value extends NumberValue {
  prepare(value: unknown): void {
    if (typeof value !== 'number' || !Number.isInteger(value)) {
      throw new ShmapTypeError(`value must be an integer (uint32), got ${describe(value)}`);
    }
    if (value < 0 || value > UINT32_MAX) throw new ValueTooLargeError(`value ${value} is out of uint32 range`);
    this.x = value | 0;
  }
  store(v: Views, at: number): void {
    v.i32[at] = this.x;
  }
  load(v: Views, at: number): unknown {
    return v.i32[at]! >>> 0;
  }
}

class Float64Value extends NumberValue {
  prepare(value: unknown): void {
    if (typeof value !== 'number') throw new ShmapTypeError(`value must be a number (float64), got ${describe(value)}`);
    this.x = value;
  }
  store(v: Views, at: number): void {
    v.f64[at >> 1] = this.x;
  }
  load(v: Views, at: number): unknown {
    return v.f64[at >> 1];
  }
}

class BigInt64Value implements ValueCodec {
  readonly numeric = true;
  readonly zero: unknown = 0n;
  readonly needsFinish = false;
  private x = 0n;
  prepare(value: unknown): void {
    if (typeof value !== 'bigint')
      throw new ShmapTypeError(`value must be a bigint (bigint64), got ${describe(value)}`);
    if (value < BIGINT64_MIN || value > BIGINT64_MAX)
      throw new ValueTooLargeError(`value ${value}n is out of bigint64 range`);
    this.x = value;
  }
  store(v: Views, at: number): void {
    v.i64[at >> 1] = this.x;
  }
  load(v: Views, at: number): unknown {
    return v.i64[at >> 1];
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
  protected readonly s: ByteScratch;
  constructor(protected readonly n: number) {
    this.s = new ByteScratch(n);
  }
  abstract prepare(value: unknown): void;
  store(v: Views, at: number): void {
    const s = this.s.i32;
    const used = this.s.usedWords;
    const i32 = v.i32;
    for (let i = 0; i < used; i++) i32[at + i] = s[i]!;
  }
  abstract load(v: Views, at: number): unknown;
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
      throw new ShmapTypeError(`value must be a string (string:${this.n}), got ${describe(value)}`);
    const r = this.s.encodeString(value);
    if (r === -2)
      throw new ShmapTypeError(
        `value must be well-formed UTF-16 (it has a lone surrogate, which UTF-8 cannot hold): ${describe(value)}`,
      );
    if (r < 0) {
      throw new ValueTooLargeError(`value is ${Buffer.byteLength(value)} UTF-8 bytes, over the map's string:${this.n}`);
    }
  }
  load(v: Views, at: number): unknown {
    return loadUtf8(v, at, this.n);
  }
  matches(raw: unknown, expected: unknown): boolean {
    return raw === expected;
  }
}

class BytesValue extends SizedValue {
  prepare(value: unknown): void {
    if (!(value instanceof Uint8Array))
      throw new ShmapTypeError(`value must be a Uint8Array (bytes:${this.n}), got ${describe(value)}`);
    if (this.s.encodeBytes(value) < 0)
      throw new ValueTooLargeError(`value is ${value.length} bytes, over the map's bytes:${this.n}`);
  }
  load(v: Views, at: number): unknown {
    return loadBytes(v, at, this.n);
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
    if (this.s.encodeString(text) < 0) {
      throw new ValueTooLargeError(`value is ${Buffer.byteLength(text)} bytes of JSON, over the map's json:${this.n}`);
    }
  }
  load(v: Views, at: number): unknown {
    return loadUtf8(v, at, this.n);
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

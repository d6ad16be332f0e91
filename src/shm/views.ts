/**
 * Typed views over the whole map buffer, one set per handle (per thread).
 *
 * The views have a fixed length (the buffer's length when they were made)
 * and are made again, by `fit`, when an access reaches past them after the
 * buffer grew. Length-tracking views (`new Int32Array(sab)`) would follow the
 * buffer by themselves, but on Node 20 every access through one costs ~30 ns
 * more (random reads over 16 MiB: 32 ns length-tracking vs 3.7 ns fixed;
 * `Atomics.load` 41-73 vs 12 ns; a micro-benchmark on the development machine): the
 * map's hot path would be 10x slower.
 */
import { Buffer } from 'node:buffer';
import { H_MAX_BYTES } from './layout.js';
import type { WasmMemory } from './wasm-api.js';

export class Views {
  i32!: Int32Array;
  f64!: Float64Array;
  i64!: BigInt64Array;
  u8!: Uint8Array;
  private buf!: Buffer;
  /** The buffer the views are over: the map's, or, for a map in a WebAssembly.Memory, the memory's buffer when they were made. */
  sab: SharedArrayBuffer;
  /** The most bytes the buffer may grow to. */
  readonly maxByteLength: number;
  /** What identifies the map in this thread: the memory, else the buffer (a memory's buffer object changes when it grows). */
  readonly identity: object;
  constructor(
    sab: SharedArrayBuffer,
    /** The shared WebAssembly.Memory the map lives in, if it does (map.ts, "WebAssembly"). */
    readonly memory?: WasmMemory,
  ) {
    this.sab = sab;
    this.identity = memory ?? sab;
    this.maxByteLength =
      memory === undefined ? sab.maxByteLength : new Int32Array(sab, 0, H_MAX_BYTES + 1)[H_MAX_BYTES]!;
    this.refresh();
  }
  /** The map's buffer as it is now: for a map in a memory, the memory's buffer (another thread may have grown it). */
  buffer(): SharedArrayBuffer {
    return this.memory === undefined ? this.sab : (this.memory.buffer as SharedArrayBuffer);
  }
  /** The buffer's length now (another thread may have grown it). */
  byteLength(): number {
    return this.memory === undefined ? this.sab.byteLength : this.memory.buffer.byteLength;
  }
  /**
   * Grows the buffer to at least `bytes` (a memory grows by whole 64 KiB
   * pages). Precondition: `bytes <= maxByteLength`. Returns false, having
   * changed nothing, when a memory cannot grow (its reservation came out
   * smaller than its maximum: options.ts, `addressSpaceLimited`).
   */
  grow(bytes: number): boolean {
    if (this.memory === undefined) {
      this.sab.grow(bytes);
      return true;
    }
    const have = this.memory.buffer.byteLength;
    if (bytes <= have) return true;
    try {
      this.memory.grow(Math.ceil((bytes - have) / WASM_PAGE_BYTES));
      return true;
    } catch (e) {
      if (e instanceof RangeError) return false;
      throw e;
    }
  }
  /** Makes sure word index `endW` (exclusive) is inside the views; re-makes them after the buffer grew. */
  fit(endW: number): void {
    if (endW > this.i32.length) this.refresh();
  }
  private refresh(): void {
    if (this.memory !== undefined) this.sab = this.memory.buffer as SharedArrayBuffer;
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

/** A WebAssembly page. */
export const WASM_PAGE_BYTES = 65536;

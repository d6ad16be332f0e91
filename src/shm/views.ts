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

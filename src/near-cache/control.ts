/**
 * The near cache's control block: one small SharedArrayBuffer beside the
 * map, shared by every thread of the process that uses the cache. It says
 * who holds the invalidation connection and whether it is live, counts
 * flushes and invalidations, keeps a heartbeat per thread, and holds the
 * per-key fetch versions that close the near-cache race (near-cache.ts
 * explains the protocol).
 *
 * ```
 * words 0..15    control words (C_*), Int32
 * words 16..19   two float64: the clock base, the invalidation connection's id
 * words 32..287  thread slots: MAX_THREADS x [threadId + 1, heartbeat]
 * words 288..    fetch versions: STRIPES Int32 words, one per key stripe
 * ```
 *
 * Times are Int32 ms since the base (a float64 on the shared clock, written
 * once at create); they wrap after 24 days, and every age is computed as
 * `(now - then) | 0`, which stays right across the wrap.
 */
import { sharedNow } from '../shm/conflict-log.js';

/** threadId + 1 of the thread holding the invalidation connection; 0 none. CAS 0 (or a silent owner) -> me by a claimer; Atomics.store(0) by an owner that resigns. */
export const C_OWNER = 0;
/** LINK_UP while invalidations flow into the map, else LINK_DOWN. Atomics.store by the owner; LINK_DOWN also by a thread taking over a silent owner. */
export const C_STATE = 1;
/** Flushes so far. Atomics.add(+1) by the flushing thread (any thread) before it clears the map; a fetch installs only when it is unchanged. */
export const C_EPOCH = 2;
/** Invalidation connections opened so far. Atomics.add(+1) by the owner after it stored the new connection's id, before LINK_UP. */
export const C_LINK_GEN = 3;
/** Counters, Atomics.add by whichever thread does the thing. */
export const C_INVALIDATIONS = 4;
export const C_FLUSHES = 5;
export const C_TAKEOVERS = 6;
export const C_THREADS_LOST = 7;
export const C_RECONNECTS = 8;
/** Cluster slot-map changes seen by the owner (each drops the invalidation connections: a flush). */
export const C_TOPOLOGY = 9;

export const LINK_DOWN = 0;
export const LINK_UP = 1;

/** float64 index of the clock base (ms, shared clock); written at create, read-only after. */
const F_BASE = 8;
/** float64 index of the invalidation connection's CLIENT ID; written by the owner before it bumps C_LINK_GEN. */
const F_LINK_ID = 9;

/** Threads that can hold the cache at once (a thread slot each). */
export const MAX_THREADS = 128;
const SLOTS_I32 = 32;
/** Fetch-version stripes: a key's stripe is its hash's low bits. A collision only makes a fetch decline to install. */
export const STRIPES = 8192;
const STRIPES_I32 = SLOTS_I32 + 2 * MAX_THREADS;
const CONTROL_BYTES = (STRIPES_I32 + STRIPES) * 4;

export class Control {
  readonly i32: Int32Array;
  private readonly f64: Float64Array;
  private readonly base: number;

  constructor(readonly sab: SharedArrayBuffer) {
    this.i32 = new Int32Array(sab);
    this.f64 = new Float64Array(sab, 0, 16);
    this.base = this.f64[F_BASE]!;
  }

  static create(): Control {
    const sab = new SharedArrayBuffer(CONTROL_BYTES);
    new Float64Array(sab, 0, 16)[F_BASE] = sharedNow();
    return new Control(sab);
  }

  static fits(sab: unknown): sab is SharedArrayBuffer {
    return sab instanceof SharedArrayBuffer && sab.byteLength === CONTROL_BYTES;
  }

  /** ms since the base, as an Int32 that wraps. */
  now(): number {
    return Math.floor(sharedNow() - this.base) | 0;
  }

  load(word: number): number {
    return Atomics.load(this.i32, word);
  }

  bump(word: number): number {
    return Atomics.add(this.i32, word, 1) + 1;
  }

  /** The invalidation connection's id. Plain float64 access: written before the Atomics.add of C_LINK_GEN that publishes it, read after loading C_LINK_GEN. */
  get linkId(): number {
    return this.f64[F_LINK_ID]!;
  }

  set linkId(id: number) {
    this.f64[F_LINK_ID] = id;
  }

  /** The fetch version of stripe `s`: +1 (Atomics.add) by every invalidation of a key in it, before the key is deleted. */
  stripeVersion(s: number): number {
    return Atomics.load(this.i32, STRIPES_I32 + s);
  }

  bumpStripe(s: number): void {
    Atomics.add(this.i32, STRIPES_I32 + s, 1);
  }

  // Thread slots: [threadId + 1, heartbeat]. The id word is claimed by CAS 0 -> me and cleared by
  // CAS me -> 0 (by its thread at close, or by the owner when the heartbeat went silent); the
  // heartbeat word is written only by the slot's thread (Atomics.store).

  /** Claims a free slot for thread `me` (threadId + 1); returns its index or -1 when all are taken. */
  claimSlot(me: number): number {
    for (let s = 0; s < MAX_THREADS; s++) {
      const w = SLOTS_I32 + 2 * s;
      Atomics.store(this.i32, w + 1, this.now());
      if (Atomics.compareExchange(this.i32, w, 0, me) === 0) return s;
    }
    return -1;
  }

  slotThread(s: number): number {
    return Atomics.load(this.i32, SLOTS_I32 + 2 * s);
  }

  slotBeat(s: number): number {
    return Atomics.load(this.i32, SLOTS_I32 + 2 * s + 1);
  }

  beat(s: number): void {
    Atomics.store(this.i32, SLOTS_I32 + 2 * s + 1, this.now());
  }

  /** Frees slot `s` if thread `me` still holds it; returns whether it did. */
  releaseSlot(s: number, me: number): boolean {
    return Atomics.compareExchange(this.i32, SLOTS_I32 + 2 * s, me, 0) === me;
  }
}

/** FNV-1a over the key's UTF-16 code units; the low bits pick the key's stripe. */
export function stripeOf(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return (h >>> 0) & (STRIPES - 1);
}

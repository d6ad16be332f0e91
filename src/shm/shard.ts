/**
 * One shard's open-addressing table: probe, find, insert, tombstone, rehash.
 *
 * These functions know nothing of locks or seqs: map.ts calls `find` from
 * optimistic readers (and validates what it read with the shard's seq) and
 * everything else while holding the shard's lock. They take the shard's
 * descriptor word index `d` and read the region and capacity from it.
 *
 * Probing is linear from the key's home slot `floor(tag * capacity / 2^31)`
 * (tag = hash >>> 1), wrapping at the end of the region. A probe compares
 * control words first and keys only on a tag match, and ends at an EMPTY slot.
 * There is always at least one EMPTY slot per region, because a shard grows
 * when live entries plus tombstones pass 7/8 of its capacity.
 */
import { CTRL_EMPTY, CTRL_FULL_BIT, CTRL_TOMBSTONE, D_CAP, D_COUNT, D_REGION, D_TOMBS, regionBytes } from './layout.js';
import type { KeyCodec } from './codec.js';
import type { Views } from './views.js';
import { park } from './window.js';

/** Load factor: a shard grows when (count + tombstones) / capacity would pass MAX_LOAD_NUM / MAX_LOAD_DEN. */
export const MAX_LOAD_NUM = 7;
export const MAX_LOAD_DEN = 8;
/** Smallest region, in slots. */
export const MIN_SHARD_SLOTS = 8;

/** 2^-31: multiplying by it is exactly dividing by 2^31 (a power of two), and half the cost of a division here (find: 59 -> 30 ns per in-cache lookup, micro-benchmark on the development machine). */
const TWO_TO_MINUS_31 = 1 / 2147483648;

/** A slot's home index for a 31-bit tag. Deterministic float arithmetic: every thread computes the same index, always < cap (see the proof in map.ts's essay). */
export function homeIndex(tag: number, cap: number): number {
  return (tag * cap * TWO_TO_MINUS_31) | 0;
}

/** The control word of a FULL slot holding a key with hash `h`. */
export function fullCtrl(h: number): number {
  return (h >>> 1) | CTRL_FULL_BIT;
}

/** Slots to give a shard so it holds `entries` without growing. */
export function slotsFor(entries: number): number {
  return Math.max(MIN_SHARD_SLOTS, Math.ceil((entries * MAX_LOAD_DEN) / MAX_LOAD_NUM) + 1);
}

/**
 * Load a shard sized up front (`capacity`) starts at when full: 3/4, below
 * the 7/8 that triggers growth. Linear probing's expected probe length for a
 * hit is (1 + 1/(1 - load)) / 2: 2.5 slots at 3/4, 3.4 at 0.83 (measured mean
 * 3.6 with 1M int32 keys sized at 7/8 with 5% slack); it costs 16/0.75 = 21.3
 * bytes per int32 -> float64 entry, within the 24 the issue allows.
 */
export function slotsForCapacity(entries: number): number {
  return Math.max(MIN_SHARD_SLOTS, Math.ceil((entries * 4) / 3) + 1);
}

/**
 * Whether the key field at word index `at` holds the prepared key: its
 * first `used` words (codec.ts, `KeyCodec.prepared`). The one comparison of
 * keys, for every key type: a number key is one or two words, a sized key
 * a length word and its bytes' words.
 */
function keyEquals(i32: Int32Array, at: number, key: Int32Array, used: number): boolean {
  for (let w = 0; w < used; w++) if (i32[at + w] !== key[w]) return false;
  return true;
}

export class Table {
  /** Set by `findForWrite` when the key is absent: word index of the slot to insert into, and whether it is a tombstone. */
  insertAt = -1;
  insertIntoTombstone = false;

  constructor(
    readonly views: Views,
    readonly keyCodec: KeyCodec,
    /** Words per slot, and the key's and value's word offsets inside a slot. */
    readonly slotWords: number,
    readonly keyOffI32: number,
    readonly valueOffI32: number,
  ) {}

  /**
   * Word index of the slot holding the prepared key (hash `h`) in shard `d`,
   * or -1. Lock-free: with a writer running, the result may be garbage, and
   * the caller must validate it with the shard's seq before trusting it. The
   * loop is bounded by the capacity it read, so a torn (region, capacity)
   * pair ends it; reads past the buffer's end give `undefined`, which matches
   * no control word.
   */
  find(d: number, h: number): number {
    const v = this.views;
    const sw = this.slotWords;
    const region = v.i32[d + D_REGION]! >> 2;
    const cap = v.i32[d + D_CAP]!;
    v.fit(region + cap * sw);
    const i32 = v.i32;
    const tag = h >>> 1;
    const want = tag | CTRL_FULL_BIT;
    const key = this.keyCodec.prepared;
    const used = this.keyCodec.usedWords;
    const keyOffI32 = this.keyOffI32;
    let i = homeIndex(tag, cap);
    for (let n = 0; n < cap; n++) {
      const at = region + i * sw;
      const c = i32[at];
      if (c === want) {
        if (keyEquals(i32, at + keyOffI32, key, used)) return at;
      } else if (c === CTRL_EMPTY) {
        return -1;
      }
      if (++i === cap) i = 0;
    }
    return -1;
  }

  /**
   * `findForWrite` for a one-word key (int32 and uint32 keys), given as the
   * word `w` the slot holds instead of through the codec's prepared scratch:
   * the probe of the fused `set` (map.ts, `setNumber`). Same probe, same
   * result, same `insertAt` / `insertIntoTombstone` when the key is absent.
   */
  findWordForWrite(d: number, h: number, w: number): number {
    const v = this.views;
    const sw = this.slotWords;
    const region = v.i32[d + D_REGION]! >> 2;
    const cap = v.i32[d + D_CAP]!;
    v.fit(region + cap * sw);
    const i32 = v.i32;
    const tag = h >>> 1;
    const want = tag | CTRL_FULL_BIT;
    const keyOffI32 = this.keyOffI32;
    let i = homeIndex(tag, cap);
    let tomb = -1;
    for (let n = 0; n < cap; n++) {
      const at = region + i * sw;
      const c = i32[at];
      if (c === want) {
        if (i32[at + keyOffI32] === w) return at;
      } else if (c === CTRL_EMPTY) {
        this.insertAt = tomb >= 0 ? tomb : at;
        this.insertIntoTombstone = tomb >= 0;
        return -1;
      } else if (c === CTRL_TOMBSTONE && tomb < 0) {
        tomb = at;
      }
      if (++i === cap) i = 0;
    }
    // Unreachable while the load-factor invariant holds (an EMPTY slot always exists).
    this.insertAt = tomb;
    this.insertIntoTombstone = tomb >= 0;
    return -1;
  }

  /**
   * Like `find`, for a writer holding the lock: also notes where the key
   * would be inserted (the first tombstone on its probe path, else the EMPTY
   * slot that ended it) in `insertAt` / `insertIntoTombstone`.
   */
  findForWrite(d: number, h: number): number {
    const v = this.views;
    const sw = this.slotWords;
    const region = v.i32[d + D_REGION]! >> 2;
    const cap = v.i32[d + D_CAP]!;
    v.fit(region + cap * sw);
    const i32 = v.i32;
    const tag = h >>> 1;
    const want = tag | CTRL_FULL_BIT;
    const key = this.keyCodec.prepared;
    const used = this.keyCodec.usedWords;
    let i = homeIndex(tag, cap);
    let tomb = -1;
    for (let n = 0; n < cap; n++) {
      const at = region + i * sw;
      const c = i32[at];
      if (c === want) {
        if (keyEquals(i32, at + this.keyOffI32, key, used)) return at;
      } else if (c === CTRL_EMPTY) {
        this.insertAt = tomb >= 0 ? tomb : at;
        this.insertIntoTombstone = tomb >= 0;
        return -1;
      } else if (c === CTRL_TOMBSTONE && tomb < 0) {
        tomb = at;
      }
      if (++i === cap) i = 0;
    }
    // Unreachable while the load-factor invariant holds (an EMPTY slot always exists).
    this.insertAt = tomb;
    this.insertIntoTombstone = tomb >= 0;
    return -1;
  }

  /** Writes the prepared key into the key field at word index `at` (its used words). Precondition: lock held, inside the odd-seq window. */
  storeKey(at: number): void {
    const key = this.keyCodec.prepared;
    const used = this.keyCodec.usedWords;
    const i32 = this.views.i32;
    for (let w = 0; w < used; w++) i32[at + w] = key[w]!;
  }

  /**
   * Word index of shard `d`'s region, with the views made to cover it (call
   * before walking a region's slots; then read `this.v.i32` afresh).
   */
  regionI32(d: number): number {
    const v = this.views;
    const region = v.i32[d + D_REGION]! >> 2;
    v.fit(region + v.i32[d + D_CAP]! * this.slotWords);
    return region;
  }

  /** Whether inserting into an EMPTY slot now would pass the load factor. Precondition: lock held. */
  needsGrowth(d: number): boolean {
    const i32 = this.views.i32;
    return (i32[d + D_COUNT]! + i32[d + D_TOMBS]! + 1) * MAX_LOAD_DEN > i32[d + D_CAP]! * MAX_LOAD_NUM;
  }

  /** Capacity to rehash to: the same when tombstones dominate (live entries would fill at most half of it), else double. */
  growthCapacity(d: number): number {
    const i32 = this.views.i32;
    const cap = i32[d + D_CAP]!;
    const count = i32[d + D_COUNT]!;
    return (count + 1) * 2 * MAX_LOAD_DEN <= cap * MAX_LOAD_NUM ? cap : cap * 2;
  }

  /**
   * Copies shard `d`'s live slots into the region at byte offset `toBytes`
   * (capacity `toCap`, zeroed) by their tags; nothing is hashed again.
   * Precondition: lock held. The old region is left as it was.
   */
  copyInto(d: number, toBytes: number, toCap: number): void {
    const sw = this.slotWords;
    const to = toBytes >> 2;
    this.views.fit(to + toCap * sw);
    const i32 = this.views.i32;
    const from = i32[d + D_REGION]! >> 2;
    const cap = i32[d + D_CAP]!;
    for (let i = 0; i < cap; i++) {
      if (park !== null && i === cap >> 1) park('grow:mid-copy'); // tests: a writer killed mid-copy
      const src = from + i * sw;
      const c = i32[src]!;
      if (c >= 0) continue; // EMPTY or TOMBSTONE
      let j = homeIndex(c & 0x7fff_ffff, toCap);
      while (i32[to + j * sw] !== CTRL_EMPTY) if (++j === toCap) j = 0;
      i32.copyWithin(to + j * sw, src, src + sw);
    }
  }

  /** Zeroes a region (all slots EMPTY). */
  zeroRegion(bytes: number, cap: number): void {
    const at = bytes >> 2;
    const end = at + (regionBytes(cap, this.slotWords * 4) >> 2);
    this.views.fit(end);
    this.views.i32.fill(0, at, end);
  }

  /**
   * Marks the FULL slot `at` deleted. It becomes EMPTY when the next slot is
   * EMPTY (no probe path can run through it then), else a TOMBSTONE.
   * Precondition: lock held, inside the odd-seq window. Updates the counts.
   */
  remove(d: number, at: number): void {
    const i32 = this.views.i32;
    const region = i32[d + D_REGION]! >> 2;
    const cap = i32[d + D_CAP]!;
    const sw = this.slotWords;
    let next = at + sw;
    if (next === region + cap * sw) next = region;
    if (i32[next] === CTRL_EMPTY) {
      i32[at] = CTRL_EMPTY;
    } else {
      i32[at] = CTRL_TOMBSTONE;
      i32[d + D_TOMBS]++;
    }
    i32[d + D_COUNT]--;
  }
}

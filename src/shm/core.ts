/**
 * MapCore: one thread's handle on a map's buffer, and what every operation
 * shares: the views and codecs, routing a key to its shard, the validated
 * read, visibility (TTL, leases), the write internals (insert, overwrite,
 * grow, remove) and conflict records. `SharedMap` (map.ts) is the public API
 * on top; the essay at the top of map.ts explains the design. The lock and
 * the odd-seq window are window.ts.
 */
import { threadId } from 'node:worker_threads';
import {
  CTRL_EMPTY,
  D_CAP,
  D_COUNT,
  D_UNDO_KIND,
  D_UNDO_NEW_CAP,
  D_UNDO_NEW_REGION,
  D_UNDO_OLD_CAP,
  D_UNDO_OLD_REGION,
  H_LOCK_TIMEOUT_F64_WORD,
  H_UNDO_OFF,
  UNDO_GROW,
  UNDO_NONE,
  UNDO_SLOT,
  UNDO_WORD,
  D_LAST_OP,
  D_LAST_SEQ,
  D_LAST_SLOT,
  D_LAST_THREAD,
  D_HOLD_OP,
  D_WRITING,
  D_READ_RETRIES,
  D_REGION,
  D_SEQ,
  D_TOMBS,
  FLAG_LEASES,
  FLAG_TTL,
  H_COUNT,
  H_DEFAULT_TTL_F64_WORD,
  H_EXPIRY_OFF,
  H_FLAGS,
  H_KEY_N,
  H_KEY_OFF,
  H_KEY_TYPE,
  H_LEASE_OFF,
  H_MAP_ID,
  H_MAX_CAPACITY,
  H_ON_CONFLICT,
  H_SEED,
  H_SHARDS,
  H_SHARDS_OFF,
  H_SLOT_BYTES,
  H_SYNC,
  H_VALUE_N,
  H_VALUE_OFF,
  H_VALUE_TYPE,
  LEASE_COUNT_MASK,
  TYPE_BYTES,
  TYPE_INT32,
  TYPE_JSON,
  TYPE_STRING,
  TYPE_UINT32,
  LEASE_RETIRED,
  descI32,
  regionBytes,
  shardI32,
  shardOf,
} from './layout.js';
import { keyCodec, valueCodec, type KeyCodec, type ValueCodec } from './codec.js';
import { Views } from './views.js';
import { Table, fullCtrl } from './shard.js';
import { allocRegion, freeRegion } from './alloc.js';
import { appendConflict, sharedNow, KIND_ITERATION, KIND_READ, KIND_WRITES, OP } from './conflict-log.js';
import {
  ConcurrentMapReadError,
  ConcurrentMapWriteError,
  InvalidOptionError,
  LeaseError,
  MapFullError,
  RecursiveUpdateError,
  ShmapTypeError,
} from './errors.js';
import { checkTtl, fusedSetFor, FUSED_VALUE_FLOAT64, FUSED_VALUE_MASK } from './options.js';
import { LOCK_WAITERS, WriteWindow, park } from './window.js';
import { PLAIN_LOADS_ORDERED } from './sync.js';
import { threadCounters, type ThreadCounters } from './metrics.js';
import { recoverThread } from './recover.js';
import { registerThread } from './liveness.js';
import { readCache, type ReadCache } from './read-cache.js';
import type { SetOptions, SharedMapHandle } from './types.js';
import { wasmSet, type WasmSet } from './wasm.js';

/** Optimistic read attempts before a reader takes the lock instead. */
const READ_SPINS = 64;

/**
 * Maps whose `update` function or `sweep` predicate is running in this
 * thread. A call into one of them from inside throws RecursiveUpdateError.
 */
export const busy: object[] = [];

/** What a handle tells its thread's open iterators (iterator.ts) before it publishes a new region for a shard. */
export interface RehashListener {
  shardRehashing(s: number): void;
}

/**
 * Per thread and map (by the map's random id, H_MAP_ID): the own-write
 * counts and open iterators that every handle on that map in this thread
 * shares, so that a write through a second handle in the iterating thread is
 * an own write, as Go's rules mean it.
 */
const threadState = new Map<number, { own: Int32Array; iterators: Set<RehashListener> }>();

function threadLocal(mapId: number, shards: number): { own: Int32Array; iterators: Set<RehashListener> } {
  let st = threadState.get(mapId);
  if (st === undefined || st.own.length !== shards) {
    st = { own: new Int32Array(shards), iterators: new Set() };
    threadState.set(mapId, st);
  }
  return st;
}

/** Whether maps made from here on take the fused set's overwrite in WebAssembly when they live in a memory (a test turns it off to compare). */
let wasmSetOn = true;

/** @internal Test back door: handles made after `setWasmSet(false)` (in this thread) take the JS fused set. */
export function setWasmSet(on: boolean): void {
  wasmSetOn = on;
}

/** Whether maps made from here on take their fused `set` (a test turns it off to compare both paths). */
let fusedSetOn = true;

/** @internal Test back door: maps constructed after `setFusedSet(false)` (in this thread) take the general `set` only. */
export function setFusedSet(on: boolean): void {
  fusedSetOn = on;
}

export class MapCore {
  /** What another thread passes to `SharedMap.attach`. */
  get handle(): SharedMapHandle {
    const memory = this.views.memory;
    // A memory's buffer object is made again when it grows: the handle
    // carries the buffer of now, so that its words reach the whole map.
    return memory === undefined ? this.sabHandle : { shmap: 1, buffer: this.views.buffer(), memory };
  }
  private readonly sabHandle: SharedMapHandle;

  /** @internal */ readonly views: Views;
  /** @internal A view over the header and shard descriptors only (regions: `views.i32`, after `views.fit`). */ readonly i32: Int32Array;
  /** @internal */ readonly keyCodec: KeyCodec;
  /** @internal */ readonly valueCodec: ValueCodec;
  /** @internal */ readonly table: Table;
  /** @internal */ readonly shards: number;
  /** @internal */ readonly shardMask: number;
  /** @internal word index of shard 0's descriptor */ readonly shard0I32: number;
  /** @internal */ readonly slotWords: number;
  /** @internal */ readonly keyOffI32: number;
  /** @internal */ readonly valueOffI32: number;
  /** @internal */ readonly syncNone: boolean;
  /** @internal */ readonly throwOnConflict: boolean;
  /** @internal this thread's id */
  readonly thread: number;
  /** @internal This thread's entry in the map's thread table (liveness.ts), -1 when the table is full. */
  readonly threadEntryI32: number;
  /** @internal */ readonly maxCapacity: number;
  /**
   * @internal Seq added to each shard by this thread's own writes (+2 per
   * write), shared by every handle on this map in this thread. Iterators
   * compare it with the shards' seqs to tell own writes from foreign ones.
   */
  readonly ownWriteSeq: Int32Array;
  /** @internal This thread's open iterators on this map (told when this thread rehashes a shard). */
  readonly iterators: Set<RehashListener>;
  /** @internal Features chosen at create: TTL, leases, and whether either is on (`checksVisibility`: reads must check it). */
  readonly ttl: boolean;
  readonly leases: boolean;
  readonly checksVisibility: boolean;
  /** @internal `get` may take its inlined fast path: 'lock' mode, no TTL, no leases (one flag, one branch on the hot path). */
  readonly plainGet: boolean;
  /**
   * @internal The fused `set` this map takes (FUSED_*; 0: none): int32 or
   * uint32 keys, int32, uint32 or float64 values, 'lock' mode, no TTL, no
   * leases, on x86-64 (where the window's stores may be plain).
   */
  readonly fusedSet: number;
  /**
   * @internal The fused set's overwrite in WebAssembly (wasm.ts), for a map
   * with a fused set that lives in a WebAssembly.Memory; else null.
   */
  readonly wasmSet: WasmSet | null;
  /** @internal The map's hash seed (H_SEED). */
  readonly seed: number;
  /**
   * @internal The read cache (read-cache.ts): string or number keys, number,
   * bigint or string values, gets on the plain path. Null for every other map.
   */
  readonly readCache: ReadCache | null;
  /** @internal Word offsets in a slot of the expiry (float64) and lease word; 0 when off. */
  readonly expiryOffI32: number;
  /** @internal */ readonly leaseOffI32: number;
  /** @internal */ readonly defaultTtlMs: number;
  /** @internal The expiry the current write gives its entry (computed before locking). */
  expiry = Infinity;

  /** @internal Word index of shard 0's undo area (one slot's words per shard; layout.ts UNDO_SLOT). */
  readonly undo0I32: number;
  /**
   * @internal End (slot word offset, exclusive) of what an overwrite
   * changes and `saveSlot` saves: from `valueOffI32` through the value and
   * the expiry, before the lease word (the slot's end without leases).
   */
  readonly overwrittenEndI32: number;
  /** @internal The lock and the odd-seq window (window.ts). */
  readonly writeWindow: WriteWindow;
  /**
   * @internal What a waiter for a lock (a shard's, the allocator's) does with
   * a holder found gone (liveness.ts): recovers it as `watch` would on its
   * 'exit' event, which frees the lock; a watcher that gets the event later
   * finds nothing left.
   */
  readonly recoverGone = (thread: number): void => void recoverThread(this, thread);
  /** @internal This handle's operation counters (metrics.ts); null when the map has no `metrics`. */
  readonly counters: ThreadCounters | null;
  /** @internal The value read by the last `readSlot` (valid when it returned >= 0). */
  raw: unknown = undefined;
  /** @internal */ lastRaw: unknown = undefined;

  /** @internal */
  constructor(handle: SharedMapHandle) {
    this.sabHandle = { shmap: 1, buffer: handle.buffer };
    const v = new Views(handle.buffer, handle.memory);
    this.views = v;
    const i32 = v.i32;
    this.i32 = i32;
    const seed = i32[H_SEED];
    this.keyCodec = keyCodec(i32[H_KEY_TYPE], i32[H_KEY_N], seed);
    this.valueCodec = valueCodec(i32[H_VALUE_TYPE], i32[H_VALUE_N]);
    this.slotWords = i32[H_SLOT_BYTES] >> 2;
    this.keyOffI32 = i32[H_KEY_OFF] >> 2;
    this.valueOffI32 = i32[H_VALUE_OFF] >> 2;
    this.table = new Table(v, this.keyCodec, this.slotWords, this.keyOffI32, this.valueOffI32);
    this.shards = i32[H_SHARDS];
    this.shardMask = this.shards - 1;
    this.shard0I32 = shardI32(i32[H_SHARDS_OFF], 0);
    this.syncNone = i32[H_SYNC] === 1;
    this.throwOnConflict = i32[H_ON_CONFLICT] === 0;
    this.maxCapacity = i32[H_MAX_CAPACITY];
    this.thread = threadId;
    const flags = i32[H_FLAGS];
    this.ttl = (flags & FLAG_TTL) !== 0;
    this.leases = (flags & FLAG_LEASES) !== 0;
    this.checksVisibility = this.ttl || this.leases;
    this.plainGet = !this.syncNone && !this.checksVisibility;
    const keyType = i32[H_KEY_TYPE];
    this.seed = seed;
    this.fusedSet = fusedSetFor(keyType, i32[H_VALUE_TYPE], this.plainGet && PLAIN_LOADS_ORDERED && fusedSetOn);
    const cached =
      this.plainGet && keyType !== TYPE_BYTES && i32[H_VALUE_TYPE] !== TYPE_BYTES && i32[H_VALUE_TYPE] !== TYPE_JSON;
    this.counters = threadCounters(v, this.keyCodec, this.shardMask, this.thread);
    // What a miss costs is a Map lookup (~20-50 ns). A hit saves ~300 ns on
    // a string key (packing, probing, decoding): worth keeping from 1 hit in
    // 5 reads; ~30 ns on a number key: from 1 hit per miss.
    this.readCache = cached
      ? readCache(
          keyType === TYPE_STRING ? 0.25 : 1,
          this.counters,
          keyType === TYPE_INT32 || keyType === TYPE_UINT32,
          this.slotWords,
        )
      : null;
    this.expiryOffI32 = i32[H_EXPIRY_OFF] >> 2;
    this.leaseOffI32 = i32[H_LEASE_OFF] >> 2;
    this.defaultTtlMs = v.f64[H_DEFAULT_TTL_F64_WORD >> 1];
    const mine = threadLocal(i32[H_MAP_ID], this.shards);
    this.ownWriteSeq = mine.own;
    this.iterators = mine.iterators;
    this.undo0I32 = i32[H_UNDO_OFF] >> 2;
    this.overwrittenEndI32 = this.leases ? this.leaseOffI32 : this.slotWords;
    this.writeWindow = new WriteWindow(
      v.f64,
      v.f64[H_LOCK_TIMEOUT_F64_WORD >> 1],
      i32,
      this.syncNone,
      this.thread,
      this.ownWriteSeq,
      this.shard0I32,
      this.keyOffI32,
      (kind, d, op, seen, now) => this.conflict(kind, d, op, seen, now),
      this.recoverGone,
    );
    this.threadEntryI32 = registerThread(i32, this.thread);
    this.wasmSet =
      this.fusedSet !== 0 && v.memory !== undefined && wasmSetOn
        ? wasmSet(v.memory, {
            shard0: this.shard0I32 << 2,
            undo0: this.undo0I32 << 2,
            slotBytes: this.slotWords << 2,
            keyOff: this.keyOffI32 << 2,
            valueOff: this.valueOffI32 << 2,
            savedWords: this.overwrittenEndI32 - this.valueOffI32,
            float64Value: (this.fusedSet & FUSED_VALUE_MASK) === FUSED_VALUE_FLOAT64,
            waitersBit: LOCK_WAITERS,
            owner: this.thread + 1,
            thread: this.thread,
          })
        : null;
  }

  /**
   * @internal The seqlock read: finds the prepared key (hash `h`) in shard `d` and loads
   * its value into `this.raw`; returns the slot's word index or -1. The two
   * `Atomics.load`s of the seq bracket plain reads of the slot (see
   * "Concurrency" above for why that is enough on x86-64 and ARM64).
   */
  readSlot(d: number, h: number, op: number): number {
    const i32 = this.i32;
    for (let tries = 0; ; tries++) {
      const seq = Atomics.load(i32, d + D_SEQ);
      if ((seq & 1) === 0 || this.syncNone) {
        let at = this.table.find(d, h);
        if (at >= 0 && this.checksVisibility && !this.visible(at)) at = -1;
        if (at >= 0) this.raw = this.valueCodec.load(this.views, at + this.valueOffI32);
        const seq2 = Atomics.load(i32, d + D_SEQ);
        if (seq2 === seq && (seq & 1) === 0) return at;
        if (this.syncNone) {
          this.conflict(KIND_READ, d, op, seq, seq2);
          return at;
        }
      }
      if (tries === 0) Atomics.add(i32, d + D_READ_RETRIES, 1);
      if (tries >= READ_SPINS) return this.readSlotLocked(d, h);
    }
  }

  /** @internal */ readSlotLocked(d: number, h: number): number {
    this.writeWindow.lockForRead(d, OP.get);
    let at = this.table.find(d, h);
    if (at >= 0 && this.checksVisibility && !this.visible(at)) at = -1;
    if (at >= 0) this.raw = this.valueCodec.load(this.views, at + this.valueOffI32);
    this.writeWindow.unlockRead(d);
    return at;
  }

  /** @internal Copies shard `d`'s keys and raw values into the arrays (cleared first), seq-validated; under the lock after READ_SPINS tries ('none' mode: best effort). */
  copyShard(d: number, keys: unknown[], raws: unknown[]): void {
    const i32 = this.i32;
    for (let tries = 0; ; tries++) {
      const locked = tries >= READ_SPINS && !this.syncNone;
      if (locked) this.writeWindow.lockForRead(d, OP.snapshot);
      const seq = Atomics.load(i32, d + D_SEQ);
      if ((seq & 1) === 0 || locked || tries >= READ_SPINS) {
        keys.length = 0;
        raws.length = 0;
        this.copySlots(d, keys, raws);
        if (locked) {
          this.writeWindow.unlockRead(d);
          return;
        }
        if (Atomics.load(i32, d + D_SEQ) === seq || tries >= READ_SPINS) return;
      }
      if (tries === 0) Atomics.add(i32, d + D_READ_RETRIES, 1);
    }
  }

  /** @internal */ copySlots(d: number, keys: unknown[], raws: unknown[]): void {
    const region = this.table.regionI32(d);
    const cap = this.i32[d + D_CAP];
    const i32 = this.views.i32;
    const sw = this.slotWords;
    for (let i = 0; i < cap; i++) {
      const at = region + i * sw;
      if (!(i32[at] < 0) || (this.checksVisibility && !this.visible(at))) continue;
      keys.push(this.keyCodec.load(this.views, at + this.keyOffI32));
      raws.push(this.valueCodec.load(this.views, at + this.valueOffI32));
    }
  }

  /** @internal Whether the FULL slot `at` is visible to reads: not expired, not retired. Only called on maps with `checksVisibility`. */
  visible(at: number): boolean {
    if (this.ttl && this.views.f64[(at + this.expiryOffI32) >> 1] <= sharedNow()) return false;
    if (this.leases && (this.views.i32[at + this.leaseOffI32] & LEASE_RETIRED) !== 0) return false;
    return true;
  }

  /** @internal */ expiryFor(options: SetOptions | undefined): number {
    if (options !== undefined && options !== null && options.ttlMs !== undefined) {
      return sharedNow() + checkTtl(options.ttlMs, 'set: options.ttlMs');
    }
    return this.defaultTtlMs === Infinity ? Infinity : sharedNow() + this.defaultTtlMs;
  }

  /** @internal */ noTtlOption(options: SetOptions | null): void {
    if (options === null || (typeof options === 'object' && options.ttlMs === undefined)) return;
    throw new InvalidOptionError('set: options.ttlMs needs a map created with { ttl: true }');
  }

  /**
   * @internal A write found its key's slot invisible (expired or retired). Still
   * leased (or retired): the slot belongs to its lease holders, so the write
   * is refused (unlocking first). Otherwise the write may take the slot over
   * as if the key were absent: returns -1 (the "live" slot).
   */
  checkReplaceable(d: number, at: number): number {
    if (this.leases && this.views.i32[at + this.leaseOffI32] !== 0) {
      const key = this.keyCodec.preparedText();
      this.writeWindow.unlock(d);
      throw new LeaseError(
        `key ${key} is retired or expired but still leased: it can be written again after its last release`,
      );
    }
    return -1;
  }

  /** @internal Writes a slot's lease word inside the odd-seq window (it may change what readers see). Precondition: lock held. */
  setLeaseWord(d: number, at: number, word: number, op: number): void {
    this.writeWindow.intend(d, UNDO_WORD, at + this.leaseOffI32, this.views.i32[at + this.leaseOffI32]!);
    this.writeWindow.begin(d);
    this.views.i32[at + this.leaseOffI32] = word;
    if (park !== null) park('retire');
    this.writeWindow.end(d, op, at);
  }

  /** @internal */ needLeases(what: string): void {
    if (!this.leases) throw new LeaseError(`${what} needs a map created with { leases: true }`);
  }

  /** @internal `delete` on a map with TTL or leases: an entry still leased is retired (hidden, removed by its last release). Unlocks. */
  deleteWithMeta(d: number, at: number): boolean {
    const live = this.visible(at);
    const lease = this.leases ? this.views.i32[at + this.leaseOffI32] : 0;
    if ((lease & LEASE_COUNT_MASK) !== 0) {
      if ((lease & LEASE_RETIRED) === 0) this.setLeaseWord(d, at, lease | LEASE_RETIRED, OP.delete);
    } else {
      this.removeAt(d, at, OP.delete);
    }
    this.writeWindow.unlock(d);
    return live;
  }

  /** @internal */ checkNotBusy(): void {
    if (busy.includes(this.views.identity)) throw new RecursiveUpdateError();
  }

  /** @internal */ checkValue(value: unknown): void {
    if (value === undefined)
      throw new ShmapTypeError('value must not be undefined (a missing key reads as undefined; use delete)');
  }

  /**
   * @internal Writes the prepared key and value into shard `d`: over the slot `at` when
   * the key is present (at >= 0), else into `table.insertAt` as noted by
   * `findForWrite`, growing the shard first when needed. Precondition: lock
   * held ('lock' mode) and `findForWrite` just ran. Throws MapFullError,
   * unlocking first, with nothing changed.
   */
  writePrepared(d: number, h: number, at: number, op: number): void {
    const i32 = this.i32;
    if (at >= 0) {
      this.saveSlot(d, at);
      this.writeWindow.begin(d);
      this.valueCodec.store(this.views, at + this.valueOffI32);
      if (park !== null) park('set:overwrite');
      if (this.ttl) this.views.f64[(at + this.expiryOffI32) >> 1] = this.expiry;
      this.writeWindow.end(d, op, at);
      return;
    }
    if (this.maxCapacity !== 0 && Atomics.load(i32, H_COUNT) >= this.maxCapacity) {
      this.writeWindow.unlock(d);
      throw new MapFullError(`map is full: it holds maxCapacity (${this.maxCapacity}) entries`);
    }
    let slot = this.table.insertAt;
    if (!this.table.insertIntoTombstone && this.table.needsGrowth(d)) {
      slot = this.grow(d, h);
    } else {
      this.writeWindow.intend(d, UNDO_WORD, slot, this.views.i32[slot]!);
      this.writeWindow.begin(d);
      if (this.table.insertIntoTombstone) i32[d + D_TOMBS]--;
    }
    this.views.i32[slot] = fullCtrl(h);
    if (park !== null) park(this.table.insertIntoTombstone ? 'set:tombstone' : 'set:empty');
    this.table.storeKey(slot + this.keyOffI32);
    this.valueCodec.store(this.views, slot + this.valueOffI32);
    if (this.checksVisibility) {
      if (this.ttl) this.views.f64[(slot + this.expiryOffI32) >> 1] = this.expiry;
      if (this.leases) this.views.i32[slot + this.leaseOffI32] = 0;
    }
    i32[d + D_COUNT]++;
    if (this.maxCapacity !== 0) Atomics.add(i32, H_COUNT, 1);
    this.writeWindow.end(d, op, slot);
  }

  /**
   * Rehashes shard `d` into a new region, publishes it inside a window it
   * leaves open, frees the old region, and returns the slot to insert the
   * prepared key (hash `h`) into, with the insert's intent noted. The intent
   * (UNDO_GROW) is noted before allocating; the allocator writes the new
   * region into it, and clears the old one from it when the free commits,
   * so a recoverer frees exactly the region that is not in use. Throws
   * MapFullError, unlocking first, with nothing changed.
   */
  private grow(d: number, h: number): number {
    const i32 = this.i32;
    const newCap = this.table.growthCapacity(d);
    const bytes = regionBytes(newCap, this.slotWords * 4);
    i32[d + D_UNDO_NEW_REGION] = 0;
    i32[d + D_UNDO_NEW_CAP] = newCap;
    i32[d + D_UNDO_OLD_REGION] = 0;
    this.writeWindow.intend(d, UNDO_GROW, -1, 0);
    const region = allocRegion(this.views, bytes, this.thread, d + D_UNDO_NEW_REGION, this.recoverGone);
    if (region < 0) {
      i32[d + D_UNDO_KIND] = UNDO_NONE;
      this.writeWindow.unlock(d);
      // Within maxByteLength, yet not allocated: a memory that could not grow (views.ts, `grow`).
      const want = this.views.byteLength() + bytes;
      const max = this.views.maxByteLength;
      throw new MapFullError(
        `map is full: shard ${shardOf(this.shard0I32, d)} cannot grow to ${newCap} slots` +
          (want <= max
            ? `: its WebAssembly.Memory could not grow to ${want} bytes (the process reserved less address space than the map's maxByteLength, ${max} bytes; set options.maxCapacity to what the map will hold)`
            : ` within the buffer's maxByteLength (${max} bytes)`),
      );
    }
    if (park !== null) park('grow:before-copy');
    this.table.zeroRegion(region, newCap);
    this.table.copyInto(d, region, newCap);
    if (park !== null) park('grow:after-copy');
    if (this.iterators.size !== 0) this.tellIterators(d);
    const oldRegion = i32[d + D_REGION]!;
    const oldCap = i32[d + D_CAP]!;
    // Noted before publishing: a thread that dies once the new region is published leaves the old
    // one for its recoverer to free (noted after, it leaked).
    i32[d + D_UNDO_OLD_CAP] = oldCap;
    i32[d + D_UNDO_OLD_REGION] = oldRegion;
    this.writeWindow.begin(d);
    i32[d + D_REGION] = region;
    i32[d + D_CAP] = newCap;
    i32[d + D_TOMBS] = 0;
    if (park !== null) park('grow:after-publish');
    freeRegion(
      this.views,
      oldRegion,
      regionBytes(oldCap, this.slotWords * 4),
      this.thread,
      d + D_UNDO_OLD_REGION,
      this.recoverGone,
    );
    this.table.findForWrite(d, h);
    const slot = this.table.insertAt;
    this.writeWindow.intend(d, UNDO_WORD, slot, this.views.i32[slot]!);
    return slot;
  }

  /**
   * Saves what an overwrite of the slot `at` changes (its value and expiry
   * words, `overwrittenI32`: not the control word, the key or the lease
   * word) in shard `d`'s undo area, at the same offsets, and notes the
   * intent (UNDO_SLOT). Precondition: lock held, before `begin`.
   */
  private saveSlot(d: number, at: number): void {
    const slots = this.views.i32;
    const undo = this.undo0I32 + shardOf(this.shard0I32, d) * this.slotWords;
    const w = this.valueOffI32;
    // One or two words (number values without TTL) unrolled: 8-10 ns less
    // per overwrite than the loop (int32 -> float64 set, 1,024 keys, one
    // process alternating builds, Node 20 and 26: 194 -> 185, 135 -> 127 ns).
    switch (this.overwrittenEndI32 - w) {
      case 1:
        slots[undo + w] = slots[at + w]!;
        break;
      case 2:
        slots[undo + w] = slots[at + w]!;
        slots[undo + w + 1] = slots[at + w + 1]!;
        break;
      default:
        for (let i = w, end = this.overwrittenEndI32; i < end; i++) slots[undo + i] = slots[at + i]!;
    }
    this.writeWindow.intend(d, UNDO_SLOT, at, 0);
  }

  /**
   * @internal Inside an odd-seq window: removes the FULL slot `at`, or, when it is
   * leased, retires it (hidden; its last release removes it). Returns true
   * when it removed it.
   */
  removeOrRetire(d: number, at: number): boolean {
    if (this.leases) {
      const lease = this.views.i32[at + this.leaseOffI32];
      if ((lease & LEASE_COUNT_MASK) !== 0) {
        this.views.i32[at + this.leaseOffI32] = lease | LEASE_RETIRED;
        return false;
      }
    }
    this.table.remove(d, at);
    if (this.maxCapacity !== 0) Atomics.sub(this.i32, H_COUNT, 1);
    return true;
  }

  /** @internal `removeOrRetire` on every FULL slot of shard `d` for which `pred(at)` holds. Precondition: inside an odd-seq window. */
  removeOrRetireAll(d: number, pred: (at: number) => boolean): void {
    const region = this.table.regionI32(d);
    const cap = this.i32[d + D_CAP];
    for (let i = 0; i < cap; i++) {
      const at = region + i * this.slotWords;
      if (this.views.i32[at] < 0 && pred(at)) this.removeOrRetire(d, at);
    }
  }

  /** @internal Deletes the FULL slot `at` of shard `d`. Precondition: lock held. */
  removeAt(d: number, at: number, op: number): void {
    this.writeWindow.intend(d, UNDO_WORD, at, this.views.i32[at]!);
    this.writeWindow.begin(d);
    this.table.remove(d, at);
    if (park !== null) park('delete:' + (this.views.i32[at] === CTRL_EMPTY ? 'empty' : 'tombstone'));
    if (this.maxCapacity !== 0) Atomics.sub(this.i32, H_COUNT, 1);
    this.writeWindow.end(d, op, at);
  }

  /** @internal */ tellIterators(d: number): void {
    const s = shardOf(this.shard0I32, d);
    for (const it of this.iterators) it.shardRehashing(s);
  }

  /**
   * @internal Records a conflict detected by this thread in shard `d`, naming
   * the shard's last writer as the other party, and throws when the map
   * throws on conflicts. `detKey`: the key this thread was working on
   * (defaults to the prepared key).
   */
  conflict(kind: number, d: number, op: number, seqSeen: number, seqNow: number, detKey?: string): void {
    const i32 = this.i32;
    // 'none' mode: the thread that last entered a write's window, when that
    // is not this one, is the write in progress (or the one that moved the
    // seq); its key is not known yet. Else the last writer to finish.
    const writing = i32[d + D_WRITING]! - 1;
    if (this.syncNone && writing >= 0 && writing !== this.thread) {
      this.record(kind, d, op, seqSeen, seqNow, detKey, writing, i32[d + D_HOLD_OP]!, '', seqNow);
      return;
    }
    const lastSlot = i32[d + D_LAST_SLOT]!;
    let otherKey = '';
    if (lastSlot >= 0) {
      try {
        otherKey = String(this.keyCodec.load(this.views, lastSlot));
      } catch {
        otherKey = '';
      }
    }
    this.record(
      kind,
      d,
      op,
      seqSeen,
      seqNow,
      detKey,
      i32[d + D_LAST_THREAD]!,
      i32[d + D_LAST_OP]!,
      otherKey,
      i32[d + D_LAST_SEQ]!,
    );
  }

  /** `conflict`'s record and throw, once it knows the other party. */
  private record(
    kind: number,
    d: number,
    op: number,
    seqSeen: number,
    seqNow: number,
    detKey: string | undefined,
    otherThread: number,
    otherOp: number,
    otherKey: string,
    otherSeq: number,
  ): void {
    appendConflict(this.views, {
      kind,
      shard: shardOf(this.shard0I32, d),
      detThread: this.thread,
      detOp: op,
      detKey: detKey ?? this.keyCodec.preparedText(),
      seqSeen,
      seqNow,
      otherThread,
      otherOp,
      otherKey,
      otherSeq,
    });
    if (!this.throwOnConflict || kind === KIND_ITERATION) return;
    const detail = ` (shard ${shardOf(this.shard0I32, d)}, thread ${this.thread} vs thread ${otherThread})`;
    throw kind === KIND_WRITES ? new ConcurrentMapWriteError(detail) : new ConcurrentMapReadError(detail);
  }

  /** @internal Word index of shard `s`'s descriptor. */
  shardDescI32(s: number): number {
    return descI32(this.shard0I32, s);
  }

  /** @internal For the iterator: validated lookup of a key it already decoded (after growth). Returns whether present; value in `lastRaw`. */
  lookupRaw(key: unknown): boolean {
    const h = this.keyCodec.prepare(key);
    const d = descI32(this.shard0I32, h & this.shardMask);
    const at = this.readSlot(d, h, OP.iterate);
    this.lastRaw = this.raw;
    return at >= 0;
  }
}

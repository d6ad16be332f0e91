/**
 * SharedMap: a concurrent hash map in one SharedArrayBuffer.
 *
 * # Glossary
 *
 * - **handle**: `{ shmap: 1, buffer }`, what `attach` takes in another thread.
 *   Each `SharedMap` object is one thread's handle on the shared buffer; all
 *   state lives in the buffer, the object holds only views and scratch space.
 * - **shard**: one of a power-of-two number of independent tables. A key's
 *   hash's low bits pick its shard. Each shard has a descriptor (layout.ts):
 *   its lock, its seq, its region and counts.
 * - **region**: a shard's table, `capacity` slots in a row somewhere in the
 *   buffer. A shard that grows gets a new region; its old one is reused later.
 * - **slot**: control word, key bytes, value bytes; fixed width per map.
 * - **control word (ctrl)**: EMPTY (0), TOMBSTONE (1) or FULL (top bit set,
 *   the other 31 bits the key's tag). Bit patterns are drawn in layout.ts.
 * - **tag**: `hash >>> 1`; compared before keys, and the source of a slot's
 *   home index, so a rehash never hashes keys again.
 * - **tombstone**: a deleted slot that probes walk past.
 * - **seq**: a shard's sequence word: odd while a write is in progress, +2
 *   per write. Readers validate with it (seqlock); iterators use it as the
 *   shard's version.
 *
 * # The buffer
 *
 * ```
 * [ header | shard descriptors (128 B each) | conflict log | regions ... ]
 * ```
 * layout.ts is the only file with byte offsets, and draws it in full.
 *
 * # Probing
 *
 * Linear probing from the home index `floor(tag * capacity / 2^31)`. The
 * product is exact while capacity < 2^22; above that it is rounded, by less
 * than 2^9, far below the distance to `capacity * 2^31`, so the index is
 * always < capacity, and every thread computes the same one. Capacities need
 * not be powers of two, so `capacity` given up front costs ~1.2 slots per
 * entry, not up to 2.3.
 *
 * # Deletion
 *
 * A deleted slot becomes EMPTY when the next slot is EMPTY (no probe can pass
 * through it), else a TOMBSTONE. Tombstones count toward the load factor and
 * are dropped by the next rehash.
 *
 * # Growth
 *
 * When an insert into an EMPTY slot would take count + tombstones past 7/8 of
 * the capacity, the writer (holding the shard lock) allocates a new region —
 * the same capacity when live entries would fill at most half of it, else
 * double — copies the live slots by tag, publishes the new region and
 * capacity inside the odd-seq window, and frees the old region to the
 * allocator. Regions are never unmapped: a reader still in the old region
 * reads stale bytes in bounds and retries on the seq.
 *
 * # Concurrency
 *
 * `sync: 'lock'` (default). Writers take the shard's mutex (owner = threadId
 * + 1), bump seq to odd, mutate, note themselves as the shard's last writer,
 * bump seq to even, unlock. Readers take no lock: load seq (even), probe, read
 * the value, load seq again; equal means what was read is a state some write
 * left behind. The second seq load is always `Atomics.load` (sequentially
 * consistent: no earlier load may pass it, in V8's compiler or the CPU); the
 * reads before it are plain typed-array reads, which never tear for aligned
 * words. The first seq load is an `Atomics.load` too, except on x86-64,
 * where loads are not reordered with other loads and V8 keeps typed-array
 * loads in program order, so a plain load suffices and saves one `Atomics`
 * call (~10-20 ns here) per read (PLAIN_LOADS_ORDERED in sync.ts). On ARM64 a plain
 * load may be satisfied after a later one, so the first must be an acquire.
 * This argument lives here; `get` and `readSlot` are the only optimistic
 * readers (`copyShard` and the iterator validate the same way).
 *
 * A reader that sees an odd seq spins; after READ_SPINS tries it takes the
 * lock and reads under it, so a reader always finishes.
 *
 * Atomic operations (`putIfAbsent`, `compareAndSet`, `update`, `add`, `sweep`)
 * run under the shard lock. `update`'s function and `sweep`'s predicate run
 * under it too and must not call the map: a call from inside them throws
 * RecursiveUpdateError instead of deadlocking.
 *
 * `sync: 'none'`: no lock. The seq's odd state is Go's `hashWriting` flag: a
 * writer that finds it set, or finds the seq moved when it finishes, records
 * "concurrent map writes"; a reader that sees it set or moved records
 * "concurrent map read and map write". With `onConflict: 'throw'` (default)
 * the detecting thread also throws.
 *
 * # Iteration (iterator.ts)
 *
 * `keys()`, `values()`, `entries()`, `forEach()` and `for...of` are fail-fast:
 *
 * 1. MUST throw ConcurrentMapIterationError ("concurrent map iteration and map
 *    write") and append a conflict record, when a write through another handle
 *    (another thread) changed any shard between the iterator's creation and
 *    its step; it checks on every step, and once more before it reports done.
 *    Every write counts, an overwrite included.
 * 2. MUST NOT produce an entry twice, nor an entry deleted (by this handle)
 *    before the iterator reached it, even across growth of the shard it is in.
 * 3. MUST produce every entry present at creation and not deleted since.
 * 4. MAY produce or skip an entry this handle added during the iteration.
 * 5. MAY produce entries in any order (shard by shard, slot by slot).
 *
 * `snapshot()` is the weakly consistent alternative: it copies each shard
 * under seq validation, never throws, and every entry it returns was present
 * at some moment during the call. `sweep(pred)` is the safe range + delete.
 *
 * # TTL and leases (`ttl: true`, `leases: true`)
 *
 * Chosen at create; a map without them pays nothing (`meta` is false and no
 * read looks further). With them a slot also holds an expiry (float64, ms on
 * the shared clock `performance.timeOrigin + performance.now()`) and a lease
 * word (layout.ts). An entry is *visible* when it has not expired and is not
 * retired; every read checks visibility inside its validated window, so an
 * expired entry is absent to every read at once. Invisible entries are
 * reclaimed by `sweepExpired` (expired) or by their last `release`
 * (retired). A leased entry is never removed: `delete`, `retire`, `sweep`,
 * `clear` and expiry retire it instead. Writes to an invisible key act as on
 * an absent key, except that a still-leased one refuses them (LeaseError).
 *
 * # What `size` means under concurrency
 *
 * The sum of the shards' counts, each read at a slightly different moment: exact
 * when no write runs, otherwise a value the map had or is passing through.
 */
import { threadId } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { getRandomValues } from 'node:crypto';
import {
  D_CAP,
  D_COUNT,
  D_LAST_OP,
  D_LAST_SEQ,
  D_LAST_SLOT,
  D_LAST_THREAD,
  D_LOCK,
  D_LOCK_WAITS,
  D_READ_RETRIES,
  D_REGION,
  D_SEQ,
  D_TOMBS,
  D_WAITERS,
  HEADER_BYTES,
  H_COUNT,
  H_FLAGS,
  H_KEY_N,
  H_KEY_OFF,
  H_KEY_TYPE,
  H_LOG_CAP,
  H_LOG_OFF,
  H_MAGIC,
  H_MAP_ID,
  H_EXPIRY_OFF,
  H_LEASE_OFF,
  H_DEFAULT_TTL_F64_WORD,
  FLAG_TTL,
  FLAG_LEASES,
  LEASE_COUNT_MASK,
  LEASE_RETIRED,
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
  H_VERSION,
  H_ALLOC_TOP,
  LAYOUT_VERSION,
  MAGIC,
  MAX_BUFFER_BYTES,
  logOffBytes,
  regionBytes,
  regionsOffBytes,
  shardI32,
  slotLayout,
} from './layout.js';
import { Views, keyCodec, parseType, typeName, valueCodec, describe, type KeyCodec, type ValueCodec } from './codec.js';
import { Table, homeIndex, slotsFor, slotsForCapacity, fullCtrl } from './shard.js';
import { allocRegion, freeRegion } from './alloc.js';
import { PLAIN_LOADS_ORDERED, mutexLock, mutexUnlock } from './sync.js';
import {
  appendConflict,
  conflictCounts,
  readConflicts,
  sharedNow,
  KIND_ITERATION,
  KIND_READ,
  KIND_WRITES,
  OP,
} from './conflict-log.js';
import {
  ConcurrentMapReadError,
  ConcurrentMapWriteError,
  InvalidHandleError,
  InvalidOptionError,
  LeaseError,
  MapFullError,
  RecursiveUpdateError,
  ShmapTypeError,
} from './errors.js';
import { MapIterator, type IterKind } from './iterator.js';
import type {
  ConflictRecord,
  RetireResult,
  SetOptions,
  SharedMapHandle,
  SharedMapOptions,
  SharedMapStats,
} from './types.js';

/** Upper bounds of the probe-length buckets of `stats()` (powers of two, then everything longer). */
const PROBE_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, Infinity];

/** Optimistic read attempts before a reader takes the lock instead. */
const READ_SPINS = 64;
/** Default most entries (when `maxCapacity` is not given): 2^24, as far as the 2 GiB buffer allows. */
const DEFAULT_MAX_CAPACITY = 1 << 24;
/** Default conflict log records. */
const DEFAULT_LOG_RECORDS = 256;
/** Regions a shard may hold at once over its lifetime's worth of growth (new + old + free-list slack), for sizing maxByteLength. */
const REGION_SLACK = 3;

/**
 * Maps whose `update` function or `sweep` predicate is running in this
 * thread. A call into one of them from inside throws RecursiveUpdateError.
 */
const busy: SharedArrayBuffer[] = [];

/**
 * Per thread and map (by the map's random id, H_MAP_ID): the own-write
 * counts and open iterators that every handle on that map in this thread
 * shares, so that a write through a second handle in the iterating thread is
 * an own write, as Go's rules mean it.
 */
const threadState = new Map<number, { own: Int32Array; iterators: Set<MapIterator> }>();

function threadLocal(mapId: number, shards: number): { own: Int32Array; iterators: Set<MapIterator> } {
  let st = threadState.get(mapId);
  if (st === undefined || st.own.length !== shards) {
    st = { own: new Int32Array(shards), iterators: new Set() };
    threadState.set(mapId, st);
  }
  return st;
}

function defaultShards(): number {
  let n = 1;
  while (n < availableParallelism() * 8) n *= 2;
  return n;
}

/** Validates a TTL in ms: a positive finite number. */
function checkTtl(ms: unknown, what: string): number {
  if (typeof ms !== 'number' || !(ms > 0) || ms === Infinity)
    throw new InvalidOptionError(`${what} must be a positive number of milliseconds, got ${describe(ms)}`);
  return ms;
}

function isPowerOfTwo(n: number): boolean {
  return Number.isInteger(n) && n >= 1 && (n & (n - 1)) === 0;
}

function checkPositiveInt(v: unknown, option: string, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > max) {
    throw new InvalidOptionError(
      `options.${option} must be a positive integer${max < Number.MAX_SAFE_INTEGER ? ` up to ${max}` : ''}, got ${describe(v)}`,
    );
  }
  return v;
}

export class SharedMap<K = unknown, V = unknown> implements Iterable<[K, V]> {
  /** What another thread passes to `SharedMap.attach`. */
  readonly handle: SharedMapHandle;

  /** @internal */ readonly v: Views;
  /** @internal A view over the header and shard descriptors only (regions: `v.i32`, after `v.fit`). */ readonly i32: Int32Array;
  /** @internal */ readonly kc: KeyCodec;
  /** @internal */ readonly vc: ValueCodec;
  /** @internal */ readonly t: Table;
  /** @internal */ readonly shards: number;
  /** @internal */ readonly shardMask: number;
  /** @internal word index of shard 0's descriptor */ readonly shard0: number;
  /** @internal */ readonly slotWords: number;
  /** @internal */ readonly keyOffW: number;
  /** @internal */ readonly valueOffW: number;
  /** @internal */ readonly none: boolean;
  /** @internal */ readonly throwOnConflict: boolean;
  /** @internal this thread's id, and the lock word value meaning "held by this thread" */
  readonly thread: number;
  private readonly me: number;
  private readonly maxCapacity: number;
  /**
   * @internal Seq added to each shard by this thread's own writes (+2 per
   * write), shared by every handle on this map in this thread. Iterators
   * compare it with the shards' seqs to tell own writes from foreign ones.
   */
  readonly own: Int32Array;
  /** @internal This thread's open iterators on this map (told when this thread rehashes a shard). */
  readonly iterators: Set<MapIterator>;
  /** @internal Features chosen at create: TTL, leases, and whether either is on (`meta`: reads must check visibility). */
  readonly ttl: boolean;
  readonly leases: boolean;
  readonly meta: boolean;
  /** `get` may take its inlined fast path: 'lock' mode, no TTL, no leases (one flag, one branch on the hot path). */
  private readonly plainGet: boolean;
  /** Word offsets in a slot of the expiry (float64) and lease word; 0 when off. */
  private readonly expiryOffW: number;
  private readonly leaseOffW: number;
  private readonly defaultTtlMs: number;
  /** The expiry the current write gives its entry (computed before locking). */
  private expiry = Infinity;
  /** In 'none' mode, the (odd) seq a write set on entering, to check on leaving, and its op. */
  private noneSeq = 0;
  private noneOp = 0;

  private constructor(sab: SharedArrayBuffer) {
    this.handle = { shmap: 1, buffer: sab };
    const v = new Views(sab);
    this.v = v;
    const i32 = v.i32;
    this.i32 = i32;
    const seed = i32[H_SEED];
    this.kc = keyCodec(i32[H_KEY_TYPE], i32[H_KEY_N], seed);
    this.vc = valueCodec(i32[H_VALUE_TYPE], i32[H_VALUE_N]);
    this.slotWords = i32[H_SLOT_BYTES] >> 2;
    this.keyOffW = i32[H_KEY_OFF] >> 2;
    this.valueOffW = i32[H_VALUE_OFF] >> 2;
    this.t = new Table(v, this.kc, this.slotWords, this.keyOffW, this.valueOffW);
    this.shards = i32[H_SHARDS];
    this.shardMask = this.shards - 1;
    this.shard0 = shardI32(i32[H_SHARDS_OFF], 0);
    this.none = i32[H_SYNC] === 1;
    this.throwOnConflict = i32[H_ON_CONFLICT] === 0;
    this.maxCapacity = i32[H_MAX_CAPACITY];
    this.thread = threadId;
    this.me = threadId + 1;
    const flags = i32[H_FLAGS];
    this.ttl = (flags & FLAG_TTL) !== 0;
    this.leases = (flags & FLAG_LEASES) !== 0;
    this.meta = this.ttl || this.leases;
    this.plainGet = !this.none && !this.meta;
    this.expiryOffW = i32[H_EXPIRY_OFF] >> 2;
    this.leaseOffW = i32[H_LEASE_OFF] >> 2;
    this.defaultTtlMs = v.f64[H_DEFAULT_TTL_F64_WORD >> 1];
    const mine = threadLocal(i32[H_MAP_ID], this.shards);
    this.own = mine.own;
    this.iterators = mine.iterators;
  }

  /** Makes a new map in a new buffer. */
  static create<K = unknown, V = unknown>(options: SharedMapOptions = {}): SharedMap<K, V> {
    if (options === null || typeof options !== 'object')
      throw new InvalidOptionError(`options must be an object, got ${describe(options)}`);
    const key = parseType(options.key ?? 'int32', 'key', false);
    const value = parseType(options.value ?? 'float64', 'value', true);
    const capacity = options.capacity === undefined ? 1024 : checkPositiveInt(options.capacity, 'capacity', 1 << 28);
    const shards = options.shards === undefined ? defaultShards() : options.shards;
    if (!isPowerOfTwo(shards) || shards > 4096)
      throw new InvalidOptionError(`options.shards must be a power of two from 1 to 4096, got ${describe(shards)}`);
    const sync = options.sync ?? 'lock';
    if (sync !== 'lock' && sync !== 'none')
      throw new InvalidOptionError(`options.sync must be 'lock' or 'none', got ${describe(sync)}`);
    const onConflict = options.onConflict ?? 'throw';
    if (onConflict !== 'throw' && onConflict !== 'record')
      throw new InvalidOptionError(`options.onConflict must be 'throw' or 'record', got ${describe(onConflict)}`);
    let seed: number;
    if (options.seed === undefined) {
      seed = getRandomValues(new Int32Array(1))[0]!;
    } else {
      if (typeof options.seed !== 'number' || !Number.isInteger(options.seed))
        throw new InvalidOptionError(`options.seed must be an integer, got ${describe(options.seed)}`);
      seed = options.seed | 0;
    }
    const logRecords =
      options.conflictLogSize === undefined
        ? DEFAULT_LOG_RECORDS
        : checkPositiveInt(options.conflictLogSize, 'conflictLogSize', 1 << 16);
    const explicitMax = options.maxCapacity !== undefined;
    const maxCapacity = explicitMax
      ? checkPositiveInt(options.maxCapacity, 'maxCapacity', 1 << 28)
      : Math.max(DEFAULT_MAX_CAPACITY, capacity);
    if (maxCapacity < capacity)
      throw new InvalidOptionError(
        `options.maxCapacity (${maxCapacity}) must be at least options.capacity (${capacity})`,
      );

    const ttl = options.ttl ?? false;
    if (typeof ttl !== 'boolean') throw new InvalidOptionError(`options.ttl must be a boolean, got ${describe(ttl)}`);
    const leases = options.leases ?? false;
    if (typeof leases !== 'boolean')
      throw new InvalidOptionError(`options.leases must be a boolean, got ${describe(leases)}`);
    let defaultTtlMs = Infinity;
    if (options.defaultTtlMs !== undefined) {
      if (!ttl) throw new InvalidOptionError('options.defaultTtlMs needs options.ttl: true');
      defaultTtlMs = checkTtl(options.defaultTtlMs, 'options.defaultTtlMs');
    }
    const slot = slotLayout(key.code, key.n, value.code, value.n, ttl, leases);
    const regionsOff = regionsOffBytes(shards, logRecords);
    // Per shard: room for its share of `capacity` plus 5% for uneven hashing.
    const shardSlots = slotsForCapacity(Math.ceil((capacity / shards) * 1.05) + 1);
    const shardRegionBytes = regionBytes(shardSlots, slot.slotBytes);
    const initialBytes = regionsOff + shards * shardRegionBytes;
    // The buffer may grow to: every shard's share of maxCapacity (a generous
    // share: hashing is uneven for small maps), doubled by growth steps, with
    // room for the regions it leaves behind; the count check enforces
    // maxCapacity exactly, this only reserves address space.
    const shardMaxSlots = slotsFor(Math.ceil((maxCapacity / shards) * 1.5) + 32);
    const minBytes = regionsOff + regionBytes(slotsFor(maxCapacity), slot.slotBytes);
    if (explicitMax && minBytes > MAX_BUFFER_BYTES) {
      throw new InvalidOptionError(
        `options.maxCapacity ${maxCapacity} needs a buffer of at least ${minBytes} bytes for ${key.name} keys and ${value.name} values, over the 2 GiB a map can use`,
      );
    }
    const maxBytes = Math.min(
      MAX_BUFFER_BYTES,
      regionsOff + shards * REGION_SLACK * regionBytes(2 * shardMaxSlots, slot.slotBytes),
    );
    if (initialBytes > maxBytes) {
      throw new InvalidOptionError(
        `options.capacity ${capacity} needs ${initialBytes} bytes, over the 2 GiB a map can use`,
      );
    }
    const sab = new SharedArrayBuffer(initialBytes, { maxByteLength: maxBytes });
    const i32 = new Int32Array(sab);
    i32[H_MAGIC] = MAGIC;
    i32[H_VERSION] = LAYOUT_VERSION;
    i32[H_SYNC] = sync === 'lock' ? 0 : 1;
    i32[H_ON_CONFLICT] = onConflict === 'throw' ? 0 : 1;
    i32[H_KEY_TYPE] = key.code;
    i32[H_KEY_N] = key.n;
    i32[H_VALUE_TYPE] = value.code;
    i32[H_VALUE_N] = value.n;
    i32[H_SHARDS] = shards;
    i32[H_SEED] = seed;
    i32[H_SLOT_BYTES] = slot.slotBytes;
    i32[H_KEY_OFF] = slot.keyOffBytes;
    i32[H_VALUE_OFF] = slot.valueOffBytes;
    i32[H_MAX_CAPACITY] = explicitMax ? maxCapacity : 0;
    i32[H_FLAGS] = (ttl ? FLAG_TTL : 0) | (leases ? FLAG_LEASES : 0);
    i32[H_EXPIRY_OFF] = slot.expiryOffBytes;
    i32[H_LEASE_OFF] = slot.leaseOffBytes;
    new Float64Array(sab, 0, HEADER_BYTES >> 3)[H_DEFAULT_TTL_F64_WORD >> 1] = defaultTtlMs;
    i32[H_LOG_OFF] = logOffBytes(shards);
    i32[H_LOG_CAP] = logRecords;
    i32[H_SHARDS_OFF] = HEADER_BYTES;
    i32[H_MAP_ID] = getRandomValues(new Int32Array(1))[0]!;
    for (let s = 0; s < shards; s++) {
      const d = shardI32(HEADER_BYTES, s);
      i32[d + D_REGION] = regionsOff + s * shardRegionBytes;
      i32[d + D_CAP] = shardSlots;
      i32[d + D_LAST_THREAD] = -1;
      i32[d + D_LAST_SLOT] = -1;
    }
    i32[H_ALLOC_TOP] = initialBytes;
    return new SharedMap<K, V>(sab);
  }

  /** A handle on an existing map, in any thread. Throws InvalidHandleError for anything that is not a shmap handle of this layout version. */
  static attach<K = unknown, V = unknown>(handle: SharedMapHandle): SharedMap<K, V> {
    const sab = (handle as { buffer?: unknown } | null | undefined)?.buffer;
    if (handle === null || typeof handle !== 'object' || !(sab instanceof SharedArrayBuffer)) {
      throw new InvalidHandleError(
        `SharedMap.attach needs a handle ({ shmap: 1, buffer: SharedArrayBuffer }) from map.handle, got ${describe(handle)}`,
      );
    }
    if (sab.byteLength < HEADER_BYTES)
      throw new InvalidHandleError(
        `SharedMap.attach: the buffer (${sab.byteLength} bytes) is too small to be a shmap map`,
      );
    const i32 = new Int32Array(sab, 0, HEADER_BYTES >> 2);
    if (i32[H_MAGIC] !== MAGIC)
      throw new InvalidHandleError('SharedMap.attach: the buffer is not a shmap map (bad magic)');
    if (i32[H_VERSION] !== LAYOUT_VERSION) {
      throw new InvalidHandleError(
        `SharedMap.attach: the map has layout version ${i32[H_VERSION]}, this shmap reads version ${LAYOUT_VERSION}`,
      );
    }
    return new SharedMap<K, V>(sab);
  }

  /** Key and value types, as given to create. */
  get types(): { key: string; value: string } {
    const i32 = this.i32;
    return { key: typeName(i32[H_KEY_TYPE], i32[H_KEY_N]), value: typeName(i32[H_VALUE_TYPE], i32[H_VALUE_N]) };
  }

  // -------------------------------------------------------------------------
  // Reads.

  get(key: K): V | undefined {
    if (busy.length !== 0) this.checkNotBusy();
    const h = this.kc.prepare(key);
    const d = this.shard0 + (h & this.shardMask) * 32;
    // The common case of readSlot, inlined: one validated attempt, the value
    // kept in a local (no field store, so no boxing of a float64 on the way).
    const i32 = this.i32;
    const seq = PLAIN_LOADS_ORDERED ? i32[d + D_SEQ] : Atomics.load(i32, d + D_SEQ);
    if ((seq & 1) === 0 && this.plainGet) {
      const at = this.t.find(d, h);
      const raw = at >= 0 ? this.vc.load(this.v, at + this.valueOffW) : undefined;
      if (Atomics.load(i32, d + D_SEQ) === seq) {
        return (raw === undefined || !this.vc.needsFinish ? raw : this.vc.finish(raw)) as V;
      }
    }
    if (this.readSlot(d, h, OP.get) < 0) return undefined;
    return (this.vc.needsFinish ? this.vc.finish(this.raw) : this.raw) as V;
  }

  has(key: K): boolean {
    if (busy.length !== 0) this.checkNotBusy();
    const h = this.kc.prepare(key);
    const d = this.shard0 + (h & this.shardMask) * 32;
    return this.readSlot(d, h, OP.has) >= 0;
  }

  /** The value read by the last `readSlot` (valid when it returned >= 0). */
  private raw: unknown = undefined;

  /**
   * The seqlock read: finds the prepared key (hash `h`) in shard `d` and loads
   * its value into `this.raw`; returns the slot's word index or -1. The two
   * `Atomics.load`s of the seq bracket plain reads of the slot (see
   * "Concurrency" above for why that is enough on x86-64 and ARM64).
   */
  private readSlot(d: number, h: number, op: number): number {
    const i32 = this.i32;
    for (let tries = 0; ; tries++) {
      const seq = Atomics.load(i32, d + D_SEQ);
      if ((seq & 1) === 0 || this.none) {
        let at = this.t.find(d, h);
        if (at >= 0 && this.meta && !this.visible(at)) at = -1;
        if (at >= 0) this.raw = this.vc.load(this.v, at + this.valueOffW);
        const seq2 = Atomics.load(i32, d + D_SEQ);
        if (seq2 === seq && (seq & 1) === 0) return at;
        if (this.none) {
          this.conflict(KIND_READ, d, op, seq, seq2);
          return at;
        }
      }
      if (tries === 0) Atomics.add(i32, d + D_READ_RETRIES, 1);
      if (tries >= READ_SPINS) return this.readSlotLocked(d, h);
    }
  }

  private readSlotLocked(d: number, h: number): number {
    this.lock(d, OP.get);
    let at = this.t.find(d, h);
    if (at >= 0 && this.meta && !this.visible(at)) at = -1;
    if (at >= 0) this.raw = this.vc.load(this.v, at + this.valueOffW);
    this.unlockOnly(d);
    return at;
  }

  /**
   * Entries in the map. Weakly consistent under concurrent writes (see the
   * essay). With `ttl` or `leases` it counts entries until they are
   * reclaimed: an expired entry not yet swept, or a retired entry still
   * leased, is counted though every read already treats it as absent.
   */
  get size(): number {
    const i32 = this.i32;
    let n = 0;
    for (let s = 0; s < this.shards; s++) n += i32[this.shard0 + s * 32 + D_COUNT];
    return n;
  }

  // -------------------------------------------------------------------------
  // Writes. Each: validate and encode everything first (bad input changes
  // nothing), then lock, find, write, unlock.

  /** Sets the key's value. With `ttl: true`, `options.ttlMs` sets when it expires (else the map's `defaultTtlMs`, else never). */
  set(key: K, value: V, options?: SetOptions): this {
    if (busy.length !== 0) this.checkNotBusy();
    const h = this.kc.prepareWrite(key);
    this.checkValue(value);
    this.vc.prepare(value);
    if (this.ttl) this.expiry = this.expiryFor(options);
    else if (options !== undefined) this.noTtlOption(options);
    const d = this.shard0 + (h & this.shardMask) * 32;
    this.lock(d, OP.set);
    const at = this.t.findForWrite(d, h);
    if (at >= 0 && this.meta && !this.visible(at)) this.checkReplaceable(d, at);
    this.writePrepared(d, h, at, OP.set);
    this.unlock(d);
    return this;
  }

  delete(key: K): boolean {
    if (busy.length !== 0) this.checkNotBusy();
    const h = this.kc.prepare(key);
    const d = this.shard0 + (h & this.shardMask) * 32;
    this.lock(d, OP.delete);
    const at = this.t.find(d, h);
    if (at < 0) {
      this.unlock(d);
      return false;
    }
    if (this.meta) return this.deleteWithMeta(d, at);
    this.removeAt(d, at, OP.delete);
    this.unlock(d);
    return true;
  }

  /** `delete` on a map with TTL or leases: an entry still leased is retired (hidden, removed by its last release). Unlocks. */
  private deleteWithMeta(d: number, at: number): boolean {
    const live = this.visible(at);
    const lease = this.leases ? this.v.i32[at + this.leaseOffW] : 0;
    if ((lease & LEASE_COUNT_MASK) !== 0) {
      if ((lease & LEASE_RETIRED) === 0) this.setLeaseWord(d, at, lease | LEASE_RETIRED, OP.delete);
    } else {
      this.removeAt(d, at, OP.delete);
    }
    this.unlock(d);
    return live;
  }

  clear(): void {
    if (busy.length !== 0) this.checkNotBusy();
    const i32 = this.i32;
    for (let s = 0; s < this.shards; s++) {
      const d = this.shard0 + s * 32;
      this.lock(d, OP.clear);
      const before = i32[d + D_COUNT];
      this.begin(d);
      if (this.leases) {
        // Leased entries are retired, not removed: their last release removes them.
        this.removeOrRetireAll(d, () => true);
      } else {
        this.t.zeroRegion(i32[d + D_REGION], i32[d + D_CAP]);
        i32[d + D_COUNT] = 0;
        i32[d + D_TOMBS] = 0;
      }
      const removed = before - i32[d + D_COUNT];
      this.end(d, OP.clear, -1);
      if (this.maxCapacity !== 0 && removed !== 0 && !this.leases) Atomics.sub(i32, H_COUNT, removed);
      this.unlock(d);
    }
  }

  /** The existing value, or undefined when the key was absent and `value` was inserted. */
  putIfAbsent(key: K, value: V): V | undefined {
    if (busy.length !== 0) this.checkNotBusy();
    const h = this.kc.prepareWrite(key);
    this.checkValue(value);
    this.vc.prepare(value);
    const d = this.shard0 + (h & this.shardMask) * 32;
    if (this.ttl) this.expiry = this.expiryFor(undefined);
    this.lock(d, OP.putIfAbsent);
    const at = this.t.findForWrite(d, h);
    if (at >= 0 && this.meta && !this.visible(at)) {
      this.checkReplaceable(d, at);
    } else if (at >= 0) {
      const raw = this.vc.load(this.v, at + this.valueOffW);
      this.unlock(d);
      return this.vc.finish(raw) as V;
    }
    this.writePrepared(d, h, at, OP.putIfAbsent);
    this.unlock(d);
    return undefined;
  }

  /**
   * Sets `next` when the key's value equals `expected` (SameValueZero for
   * numbers, byte equality for strings and bytes, equal JSON text for json
   * values); an absent key equals only `undefined`. Returns whether it set.
   */
  compareAndSet(key: K, expected: V | undefined, next: V): boolean {
    if (busy.length !== 0) this.checkNotBusy();
    const h = this.kc.prepareWrite(key);
    this.checkValue(next);
    this.vc.prepare(next);
    const d = this.shard0 + (h & this.shardMask) * 32;
    if (this.ttl) this.expiry = this.expiryFor(undefined);
    this.lock(d, OP.compareAndSet);
    const at = this.t.findForWrite(d, h);
    const live = at >= 0 && this.meta && !this.visible(at) ? this.checkReplaceable(d, at) : at;
    const equal =
      live >= 0
        ? expected !== undefined && this.vc.matches(this.vc.load(this.v, live + this.valueOffW), expected)
        : expected === undefined;
    if (!equal) {
      this.unlock(d);
      return false;
    }
    this.writePrepared(d, h, at, OP.compareAndSet);
    this.unlock(d);
    return true;
  }

  /**
   * Atomically replaces the key's value with `fn(old)` (old is undefined when
   * absent); `fn` returning undefined deletes the key. Returns the new value.
   * `fn` runs under the shard's lock: keep it short, and do not call the map
   * from it (RecursiveUpdateError). If `fn` throws, nothing changes.
   */
  update(key: K, fn: (old: V | undefined) => V | undefined): V | undefined {
    if (busy.length !== 0) this.checkNotBusy();
    if (typeof fn !== 'function') throw new ShmapTypeError(`update needs a function, got ${describe(fn)}`);
    const h = this.kc.prepareWrite(key);
    const d = this.shard0 + (h & this.shardMask) * 32;
    if (this.ttl) this.expiry = this.expiryFor(undefined);
    this.lock(d, OP.update);
    let next: V | undefined;
    const at = this.t.findForWrite(d, h);
    const live = at >= 0 && this.meta && !this.visible(at) ? this.checkReplaceable(d, at) : at;
    try {
      const old = live >= 0 ? (this.vc.finish(this.vc.load(this.v, at + this.valueOffW)) as V) : undefined;
      busy.push(this.v.sab);
      try {
        next = fn(old);
      } finally {
        busy.pop();
      }
      if (next !== undefined) this.vc.prepare(next);
    } catch (err) {
      this.unlock(d);
      throw err;
    }
    if (next === undefined) {
      if (at >= 0 && this.meta) {
        this.deleteWithMeta(d, at);
        return undefined;
      }
      if (at >= 0) this.removeAt(d, at, OP.update);
      this.unlock(d);
      return undefined;
    }
    this.writePrepared(d, h, at, OP.update);
    this.unlock(d);
    return next;
  }

  /** Atomically adds `delta` to a number value (a missing key counts as 0) and returns the new value. */
  add(key: K, delta: number): number {
    if (busy.length !== 0) this.checkNotBusy();
    if (!this.vc.numeric)
      throw new ShmapTypeError(
        `add needs a number value type (int32, uint32, float64, bigint64); this map's values are ${this.types.value}`,
      );
    if (typeof delta !== 'number') throw new ShmapTypeError(`add: delta must be a number, got ${describe(delta)}`);
    const h = this.kc.prepareWrite(key);
    const d = this.shard0 + (h & this.shardMask) * 32;
    if (this.ttl) this.expiry = this.expiryFor(undefined);
    this.lock(d, OP.add);
    const at = this.t.findForWrite(d, h);
    const live = at >= 0 && this.meta && !this.visible(at) ? this.checkReplaceable(d, at) : at;
    let next: unknown;
    try {
      const old = live >= 0 ? this.vc.load(this.v, at + this.valueOffW) : this.vc.zero;
      next = this.vc.plus(old, delta);
      this.vc.prepare(next);
    } catch (err) {
      this.unlock(d);
      throw err;
    }
    this.writePrepared(d, h, at, OP.add);
    this.unlock(d);
    return next as number;
  }

  /**
   * The safe range + delete: visits every entry shard by shard, holding each
   * shard's lock while it runs `pred` over that shard, and deletes the entries
   * for which `pred` returns true. Returns how many it deleted. Writers to
   * other shards go on meanwhile; no iterator conflict is possible. `pred`
   * must not call the map (RecursiveUpdateError).
   */
  sweep(pred: (value: V, key: K) => boolean): number {
    if (busy.length !== 0) this.checkNotBusy();
    if (typeof pred !== 'function') throw new ShmapTypeError(`sweep needs a predicate function, got ${describe(pred)}`);
    const i32 = this.i32;
    const sw = this.slotWords;
    let deleted = 0;
    for (let s = 0; s < this.shards; s++) {
      const d = this.shard0 + s * 32;
      this.lock(d, OP.sweep);
      let writing = false;
      busy.push(this.v.sab);
      try {
        const region = this.t.regionW(d);
        const cap = i32[d + D_CAP];
        for (let i = 0; i < cap; i++) {
          const at = region + i * sw;
          if (this.v.i32[at] >= 0 || (this.meta && !this.visible(at))) continue;
          const k = this.kc.load(this.v, at + this.keyOffW) as K;
          const value = this.vc.finish(this.vc.load(this.v, at + this.valueOffW)) as V;
          if (pred(value, k)) {
            if (!writing) {
              this.begin(d);
              writing = true;
            }
            this.removeOrRetire(d, at);
            deleted++;
          }
        }
      } finally {
        busy.pop();
        if (writing) this.end(d, OP.sweep, -1);
        this.unlock(d);
      }
    }
    return deleted;
  }

  // -------------------------------------------------------------------------
  // TTL and leases (the safe cleanup shapes; see patterns/).

  /** @internal Whether the FULL slot `at` is visible to reads: not expired, not retired. Only called on maps with `meta`. */
  visible(at: number): boolean {
    if (this.ttl && this.v.f64[(at + this.expiryOffW) >> 1] <= sharedNow()) return false;
    if (this.leases && (this.v.i32[at + this.leaseOffW] & LEASE_RETIRED) !== 0) return false;
    return true;
  }

  private expiryFor(options: SetOptions | undefined): number {
    if (options !== undefined && options !== null && options.ttlMs !== undefined) {
      return sharedNow() + checkTtl(options.ttlMs, 'set: options.ttlMs');
    }
    return this.defaultTtlMs === Infinity ? Infinity : sharedNow() + this.defaultTtlMs;
  }

  private noTtlOption(options: SetOptions | null): void {
    if (options === null || (typeof options === 'object' && options.ttlMs === undefined)) return;
    throw new InvalidOptionError('set: options.ttlMs needs a map created with { ttl: true }');
  }

  /**
   * A write found its key's slot invisible (expired or retired). Still
   * leased (or retired): the slot belongs to its lease holders, so the write
   * is refused (unlocking first). Otherwise the write may take the slot over
   * as if the key were absent: returns -1 (the "live" slot).
   */
  private checkReplaceable(d: number, at: number): number {
    if (this.leases && this.v.i32[at + this.leaseOffW] !== 0) {
      const key = this.kc.preparedText();
      this.unlock(d);
      throw new LeaseError(
        `key ${key} is retired or expired but still leased: it can be written again after its last release`,
      );
    }
    return -1;
  }

  /** Writes a slot's lease word inside the odd-seq window (it may change what readers see). Precondition: lock held. */
  private setLeaseWord(d: number, at: number, word: number, op: number): void {
    this.begin(d);
    this.v.i32[at + this.leaseOffW] = word;
    this.end(d, op, at);
  }

  private needLeases(what: string): void {
    if (!this.leases) throw new LeaseError(`${what} needs a map created with { leases: true }`);
  }

  /**
   * Takes a lease on a present, not retired, not expired entry and returns
   * its value; undefined when there is no such entry. While any lease is
   * held the entry is never removed: `delete`, `retire` and expiry only
   * retire it, and the last `release` removes it.
   */
  acquire(key: K): V | undefined {
    if (busy.length !== 0) this.checkNotBusy();
    this.needLeases('acquire');
    const h = this.kc.prepare(key);
    const d = this.shard0 + (h & this.shardMask) * 32;
    this.lock(d, OP.get);
    const at = this.t.find(d, h);
    if (at < 0 || !this.visible(at)) {
      this.unlock(d);
      return undefined;
    }
    const word = this.v.i32[at + this.leaseOffW];
    if ((word & LEASE_COUNT_MASK) === LEASE_COUNT_MASK) {
      this.unlock(d);
      throw new LeaseError(
        `acquire: key ${this.kc.preparedText()} already holds the most leases (${LEASE_COUNT_MASK})`,
      );
    }
    // The count is never read by lock-free readers: a plain store under the lock.
    this.v.i32[at + this.leaseOffW] = word + 1;
    const raw = this.vc.load(this.v, at + this.valueOffW);
    this.unlock(d);
    return this.vc.finish(raw) as V;
  }

  /**
   * Gives back a lease taken with `acquire`. Returns true when it was the
   * last lease on a retired entry: the entry is gone now, and the caller
   * should close the resource it stood for. Throws LeaseError when the key
   * holds no lease.
   */
  release(key: K): boolean {
    if (busy.length !== 0) this.checkNotBusy();
    this.needLeases('release');
    const h = this.kc.prepare(key);
    const d = this.shard0 + (h & this.shardMask) * 32;
    this.lock(d, OP.delete);
    const at = this.t.find(d, h);
    const word = at < 0 ? 0 : this.v.i32[at + this.leaseOffW];
    if ((word & LEASE_COUNT_MASK) === 0) {
      this.unlock(d);
      throw new LeaseError(`release: key ${this.kc.preparedText()} holds no lease`);
    }
    const next = word - 1;
    if (next === LEASE_RETIRED) {
      this.removeAt(d, at, OP.delete);
      this.unlock(d);
      return true;
    }
    this.v.i32[at + this.leaseOffW] = next;
    this.unlock(d);
    return false;
  }

  /**
   * Marks an entry for removal: removed at once when nobody holds a lease
   * ('removed'), else hidden from reads and acquires and removed by the last
   * `release` ('deferred'); 'absent' when there is no such entry.
   */
  retire(key: K): RetireResult {
    if (busy.length !== 0) this.checkNotBusy();
    this.needLeases('retire');
    const h = this.kc.prepare(key);
    const d = this.shard0 + (h & this.shardMask) * 32;
    this.lock(d, OP.delete);
    const at = this.t.find(d, h);
    if (at < 0) {
      this.unlock(d);
      return 'absent';
    }
    const word = this.v.i32[at + this.leaseOffW];
    if ((word & LEASE_COUNT_MASK) === 0) {
      const live = this.visible(at);
      this.removeAt(d, at, OP.delete);
      this.unlock(d);
      return live ? 'removed' : 'absent';
    }
    if ((word & LEASE_RETIRED) === 0) this.setLeaseWord(d, at, word | LEASE_RETIRED, OP.delete);
    this.unlock(d);
    return 'deferred';
  }

  /** Leases held on the key's entry (retired or not), 0 when none or absent. */
  leaseCount(key: K): number {
    this.needLeases('leaseCount');
    const h = this.kc.prepare(key);
    const d = this.shard0 + (h & this.shardMask) * 32;
    this.lock(d, OP.get);
    const at = this.t.find(d, h);
    const n = at < 0 ? 0 : this.v.i32[at + this.leaseOffW] & LEASE_COUNT_MASK;
    this.unlock(d);
    return n;
  }

  /**
   * Reclaims entries expired at `now` (default: the shared clock now), shard
   * by shard under each shard's lock, and returns how many it removed. An
   * expired entry still leased is retired instead, and removed by its last
   * release.
   */
  sweepExpired(now: number = sharedNow()): number {
    if (busy.length !== 0) this.checkNotBusy();
    if (!this.ttl) throw new InvalidOptionError('sweepExpired needs a map created with { ttl: true }');
    if (typeof now !== 'number' || Number.isNaN(now))
      throw new InvalidOptionError(`sweepExpired: now must be a number (ms on the shared clock), got ${describe(now)}`);
    const i32 = this.i32;
    const sw = this.slotWords;
    let removed = 0;
    for (let s = 0; s < this.shards; s++) {
      const d = this.shard0 + s * 32;
      this.lock(d, OP.sweep);
      let writing = false;
      const region = this.t.regionW(d);
      const cap = i32[d + D_CAP];
      for (let i = 0; i < cap; i++) {
        const at = region + i * sw;
        const slots = this.v.i32;
        const expiry = this.v.f64[(at + this.expiryOffW) >> 1];
        // Entries without an expiry (+Infinity) never go, even for sweepExpired(Infinity).
        if (slots[at] >= 0 || expiry > now || expiry === Infinity) continue;
        if (!writing) {
          this.begin(d);
          writing = true;
        }
        if (this.removeOrRetire(d, at)) removed++;
      }
      if (writing) this.end(d, OP.sweep, -1);
      this.unlock(d);
    }
    return removed;
  }

  // -------------------------------------------------------------------------
  // Iteration.

  keys(): IterableIterator<K> {
    return this.iterate('keys') as IterableIterator<K>;
  }
  values(): IterableIterator<V> {
    return this.iterate('values') as IterableIterator<V>;
  }
  entries(): IterableIterator<[K, V]> {
    return this.iterate('entries') as IterableIterator<[K, V]>;
  }
  [Symbol.iterator](): IterableIterator<[K, V]> {
    return this.entries();
  }
  forEach(fn: (value: V, key: K, map: this) => void): void {
    if (typeof fn !== 'function') throw new ShmapTypeError(`forEach needs a function, got ${describe(fn)}`);
    for (const [k, v] of this.entries()) fn(v, k, this);
  }

  private iterate(kind: IterKind): MapIterator {
    if (busy.length !== 0) this.checkNotBusy();
    return new MapIterator(this as SharedMap<unknown, unknown>, kind);
  }

  /**
   * Every entry, copied shard by shard under seq validation. Weakly
   * consistent: each entry returned was present at some moment during the
   * call. Never throws for concurrent writes, in either sync mode.
   */
  snapshot(): Array<[K, V]> {
    if (busy.length !== 0) this.checkNotBusy();
    const out: Array<[K, V]> = [];
    const keys: unknown[] = [];
    const raws: unknown[] = [];
    for (let s = 0; s < this.shards; s++) {
      const d = this.shard0 + s * 32;
      this.copyShard(d, keys, raws);
      for (let j = 0; j < keys.length; j++) out.push([keys[j] as K, this.vc.finish(raws[j]) as V]);
    }
    return out;
  }

  /** @internal Copies shard `d`'s keys and raw values into the arrays (cleared first), seq-validated; under the lock after READ_SPINS tries ('none' mode: best effort). */
  copyShard(d: number, keys: unknown[], raws: unknown[]): void {
    const i32 = this.i32;
    for (let tries = 0; ; tries++) {
      const locked = tries >= READ_SPINS && !this.none;
      if (locked) this.lock(d, OP.snapshot);
      const seq = Atomics.load(i32, d + D_SEQ);
      if ((seq & 1) === 0 || locked || tries >= READ_SPINS) {
        keys.length = 0;
        raws.length = 0;
        this.copySlots(d, keys, raws);
        if (locked) {
          this.unlockOnly(d);
          return;
        }
        if (Atomics.load(i32, d + D_SEQ) === seq || tries >= READ_SPINS) return;
      }
      if (tries === 0) Atomics.add(i32, d + D_READ_RETRIES, 1);
    }
  }

  private copySlots(d: number, keys: unknown[], raws: unknown[]): void {
    const region = this.t.regionW(d);
    const cap = this.i32[d + D_CAP];
    const i32 = this.v.i32;
    const sw = this.slotWords;
    for (let i = 0; i < cap; i++) {
      const at = region + i * sw;
      if (!(i32[at] < 0) || (this.meta && !this.visible(at))) continue;
      keys.push(this.kc.load(this.v, at + this.keyOffW));
      raws.push(this.vc.load(this.v, at + this.valueOffW));
    }
  }

  // -------------------------------------------------------------------------
  // The race checker and stats.

  /** The conflict log, shared by every thread: one record per detected conflict, oldest first. */
  conflicts(): ConflictRecord[] {
    return readConflicts(this.v);
  }

  stats(): SharedMapStats {
    const i32 = this.i32;
    let capacity = 0;
    let count = 0;
    let tombstones = 0;
    let lockWaits = 0;
    let readRetries = 0;
    let probeSum = 0;
    let probeMax = 0;
    const perShard: SharedMapStats['perShard'] = [];
    const probeBuckets = PROBE_BUCKETS.map(() => 0);
    for (let s = 0; s < this.shards; s++) {
      const d = this.shard0 + s * 32;
      const cap = i32[d + D_CAP];
      const region = this.t.regionW(d);
      const slots = this.v.i32;
      capacity += cap;
      count += i32[d + D_COUNT];
      tombstones += i32[d + D_TOMBS];
      lockWaits += Atomics.load(i32, d + D_LOCK_WAITS);
      readRetries += Atomics.load(i32, d + D_READ_RETRIES);
      perShard.push({
        capacity: cap,
        count: i32[d + D_COUNT],
        tombstones: i32[d + D_TOMBS],
        regionBytes: regionBytes(cap, this.slotWords * 4),
        lockWaits: Atomics.load(i32, d + D_LOCK_WAITS),
        readRetries: Atomics.load(i32, d + D_READ_RETRIES),
      });
      for (let i = 0; i < cap; i++) {
        const c = slots[region + i * this.slotWords];
        if (!(c < 0)) continue;
        const home = homeIndex(c & 0x7fff_ffff, cap);
        const len = ((i - home + cap) % cap) + 1;
        probeSum += len;
        if (len > probeMax) probeMax = len;
        // Bucket b holds lengths in (2^(b-1), 2^b]; the last one everything longer.
        probeBuckets[Math.min(PROBE_BUCKETS.length - 1, 32 - Math.clz32(len - 1))]!++;
      }
    }
    const conflicts = conflictCounts(this.v);
    return {
      shards: this.shards,
      capacity,
      count,
      tombstones,
      bytes: this.v.sab.byteLength,
      maxBytes: this.v.sab.maxByteLength,
      probeLengthMean: count === 0 ? 0 : probeSum / count,
      probeLengthMax: probeMax,
      probeLengthBuckets: PROBE_BUCKETS.map((le, b) => ({
        le,
        count: probeBuckets.slice(0, b + 1).reduce((sum, n) => sum + n, 0),
      })),
      lockWaits,
      readRetries,
      conflicts: conflicts.recorded,
      conflictsOverflowed: conflicts.overflowed,
      perShard,
    };
  }

  // -------------------------------------------------------------------------
  // Internals shared by the writes.

  private checkNotBusy(): void {
    if (busy.includes(this.v.sab)) throw new RecursiveUpdateError();
  }

  private checkValue(value: unknown): void {
    if (value === undefined)
      throw new ShmapTypeError('value must not be undefined (a missing key reads as undefined; use delete)');
  }

  /**
   * Writes the prepared key and value into shard `d`: over the slot `at` when
   * the key is present (at >= 0), else into `t.insertAt` as noted by
   * `findForWrite`, growing the shard first when needed. Precondition: lock
   * held ('lock' mode) and `findForWrite` just ran. Throws MapFullError,
   * unlocking first, with nothing changed.
   */
  private writePrepared(d: number, h: number, at: number, op: number): void {
    const i32 = this.i32;
    if (at >= 0) {
      this.begin(d);
      this.vc.store(this.v, at + this.valueOffW);
      if (this.ttl) this.v.f64[(at + this.expiryOffW) >> 1] = this.expiry;
      this.end(d, op, at);
      return;
    }
    if (this.maxCapacity !== 0 && Atomics.load(i32, H_COUNT) >= this.maxCapacity) {
      this.unlock(d);
      throw new MapFullError(`map is full: it holds maxCapacity (${this.maxCapacity}) entries`);
    }
    let slot = this.t.insertAt;
    if (!this.t.insertIntoTombstone && this.t.needsGrowth(d)) {
      const newCap = this.t.growthCapacity(d);
      const bytes = regionBytes(newCap, this.slotWords * 4);
      const region = allocRegion(this.v, bytes, this.thread);
      if (region < 0) {
        this.unlock(d);
        throw new MapFullError(
          `map is full: shard ${(d - this.shard0) >> 5} cannot grow to ${newCap} slots within the buffer's maxByteLength (${this.v.sab.maxByteLength} bytes)`,
        );
      }
      this.t.zeroRegion(region, newCap);
      this.t.copyInto(d, region, newCap);
      if (this.iterators.size !== 0) this.tellIterators(d);
      const oldRegion = i32[d + D_REGION];
      const oldCap = i32[d + D_CAP];
      this.begin(d);
      i32[d + D_REGION] = region;
      i32[d + D_CAP] = newCap;
      i32[d + D_TOMBS] = 0;
      freeRegion(this.v, oldRegion, regionBytes(oldCap, this.slotWords * 4), this.thread);
      this.t.findForWrite(d, h);
      slot = this.t.insertAt;
    } else {
      this.begin(d);
      if (this.t.insertIntoTombstone) i32[d + D_TOMBS]--;
    }
    this.v.i32[slot] = fullCtrl(h);
    this.kc.store(this.v, slot + this.keyOffW);
    this.vc.store(this.v, slot + this.valueOffW);
    if (this.meta) {
      if (this.ttl) this.v.f64[(slot + this.expiryOffW) >> 1] = this.expiry;
      if (this.leases) this.v.i32[slot + this.leaseOffW] = 0;
    }
    i32[d + D_COUNT]++;
    if (this.maxCapacity !== 0) Atomics.add(i32, H_COUNT, 1);
    this.end(d, op, slot);
  }

  /**
   * Inside an odd-seq window: removes the FULL slot `at`, or, when it is
   * leased, retires it (hidden; its last release removes it). Returns true
   * when it removed it.
   */
  private removeOrRetire(d: number, at: number): boolean {
    if (this.leases) {
      const lease = this.v.i32[at + this.leaseOffW];
      if ((lease & LEASE_COUNT_MASK) !== 0) {
        this.v.i32[at + this.leaseOffW] = lease | LEASE_RETIRED;
        return false;
      }
    }
    this.t.remove(d, at);
    if (this.maxCapacity !== 0) Atomics.sub(this.i32, H_COUNT, 1);
    return true;
  }

  /** `removeOrRetire` on every FULL slot of shard `d` for which `pred(at)` holds. Precondition: inside an odd-seq window. */
  private removeOrRetireAll(d: number, pred: (at: number) => boolean): void {
    const region = this.t.regionW(d);
    const cap = this.i32[d + D_CAP];
    for (let i = 0; i < cap; i++) {
      const at = region + i * this.slotWords;
      if (this.v.i32[at] < 0 && pred(at)) this.removeOrRetire(d, at);
    }
  }

  /** Deletes the FULL slot `at` of shard `d`. Precondition: lock held. */
  private removeAt(d: number, at: number, op: number): void {
    this.begin(d);
    this.t.remove(d, at);
    if (this.maxCapacity !== 0) Atomics.sub(this.i32, H_COUNT, 1);
    this.end(d, op, at);
  }

  private tellIterators(d: number): void {
    const s = (d - this.shard0) >> 5;
    for (const it of this.iterators) it.shardRehashing(s);
  }

  /**
   * Takes shard `d` for writing. 'lock': the mutex (a lock already held by
   * this thread means a call from inside update/sweep: RecursiveUpdateError).
   * 'none': Go's writing flag: the seq goes odd; finding it odd already is a
   * "concurrent map writes".
   */
  private lock(d: number, op: number): void {
    const i32 = this.i32;
    if (this.none) {
      const seq = Atomics.load(i32, d + D_SEQ);
      this.noneOp = op;
      if ((seq & 1) !== 0) this.conflict(KIND_WRITES, d, op, seq & ~1, seq);
      this.noneSeq = seq | 1;
      Atomics.store(i32, d + D_SEQ, this.noneSeq);
      return;
    }
    if (Atomics.compareExchange(i32, d + D_LOCK, 0, this.me) === 0) return;
    if (Atomics.load(i32, d + D_LOCK) === this.me) throw new RecursiveUpdateError();
    Atomics.add(i32, d + D_LOCK_WAITS, 1);
    mutexLock(i32, d + D_LOCK, d + D_WAITERS, this.thread);
  }

  /** Releases what `lock` took. 'none': checks nobody else wrote meanwhile, then clears the flag. */
  private unlock(d: number): void {
    const i32 = this.i32;
    if (this.none) {
      const seq = Atomics.load(i32, d + D_SEQ);
      const mine = this.noneSeq;
      Atomics.store(i32, d + D_SEQ, (seq | 1) + 1);
      this.own[(d - this.shard0) >> 5] += 2;
      if (seq !== mine) this.conflict(KIND_WRITES, d, this.noneOp, mine, seq);
      return;
    }
    Atomics.store(i32, d + D_LOCK, 0);
    if (Atomics.load(i32, d + D_WAITERS) > 0) Atomics.notify(i32, d + D_LOCK, 1);
  }

  /** `unlock` for a read that took the lock ('lock' mode only). */
  private unlockOnly(d: number): void {
    mutexUnlock(this.i32, d + D_LOCK, d + D_WAITERS);
  }

  /** Enters the odd-seq window ('lock' mode; in 'none' mode `lock` already did). */
  private begin(d: number): void {
    if (!this.none) Atomics.add(this.i32, d + D_SEQ, 1);
  }

  /** Notes the last writer and leaves the odd-seq window. `at`: the slot written (-1: several). */
  private end(d: number, op: number, at: number): void {
    const i32 = this.i32;
    i32[d + D_LAST_THREAD] = this.thread;
    i32[d + D_LAST_OP] = op;
    i32[d + D_LAST_SLOT] = at < 0 ? -1 : at + this.keyOffW;
    if (this.none) {
      i32[d + D_LAST_SEQ] = this.noneSeq + 1;
      return;
    }
    i32[d + D_LAST_SEQ] = i32[d + D_SEQ] + 1;
    Atomics.add(i32, d + D_SEQ, 1);
    this.own[(d - this.shard0) >> 5] += 2;
  }

  /**
   * @internal Records a conflict detected by this thread in shard `d`, naming
   * the shard's last writer as the other party, and throws when the map
   * throws on conflicts. `detKey`: the key this thread was working on
   * (defaults to the prepared key).
   */
  conflict(kind: number, d: number, op: number, seqSeen: number, seqNow: number, detKey?: string): void {
    const i32 = this.i32;
    const lastSlot = i32[d + D_LAST_SLOT];
    let otherKey = '';
    if (lastSlot >= 0) {
      try {
        otherKey = String(this.kc.load(this.v, lastSlot));
      } catch {
        otherKey = '';
      }
    }
    appendConflict(this.v, {
      kind,
      shard: (d - this.shard0) >> 5,
      detThread: this.thread,
      detOp: op,
      detKey: detKey ?? this.kc.preparedText(),
      seqSeen,
      seqNow,
      otherThread: i32[d + D_LAST_THREAD],
      otherOp: i32[d + D_LAST_OP],
      otherKey,
      otherSeq: i32[d + D_LAST_SEQ],
    });
    if (!this.throwOnConflict || kind === KIND_ITERATION) return;
    const detail = ` (shard ${(d - this.shard0) >> 5}, thread ${this.thread} vs thread ${i32[d + D_LAST_THREAD]})`;
    throw kind === KIND_WRITES ? new ConcurrentMapWriteError(detail) : new ConcurrentMapReadError(detail);
  }

  /** @internal Word index of shard `s`'s descriptor. */
  shardD(s: number): number {
    return this.shard0 + s * 32;
  }

  /** @internal For the iterator: validated lookup of a key it already decoded (after growth). Returns whether present; value in `lastRaw`. */
  lookupRaw(key: unknown): boolean {
    const h = this.kc.prepare(key);
    const d = this.shard0 + (h & this.shardMask) * 32;
    const at = this.readSlot(d, h, OP.iterate);
    this.lastRaw = this.raw;
    return at >= 0;
  }
  /** @internal */ lastRaw: unknown = undefined;
}

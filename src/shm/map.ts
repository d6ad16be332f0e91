/**
 * SharedMap: a concurrent hash map in one SharedArrayBuffer.
 *
 * This file holds the design essay and the public API. The rest of the map:
 * core.ts (one thread's handle: views, routing, the validated read, the write
 * internals), window.ts (the lock and the odd-seq write window), options.ts
 * (create options and the header), leases.ts (TTL and lease operations),
 * stats.ts, iterator.ts, shard.ts (one table), alloc.ts, layout.ts (every
 * byte offset).
 *
 * # Glossary
 *
 * - **handle**: `{ shmap: 1, buffer, memory? }`, what `attach` takes in another
 *   thread; `memory` is the shared WebAssembly.Memory a map of one-word
 *   integer keys and number values lives in ("WebAssembly" below).
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
 * This argument lives here; `get` (map.ts) and `readSlot` (core.ts) are the
 * only optimistic readers (`copyShard` and the iterator validate the same way).
 * The writer's side — lock, odd-seq window, unlock — is window.ts.
 *
 * A reader that sees an odd seq spins; after READ_SPINS tries it takes the
 * lock and reads under it, so a reader always finishes.
 *
 * The read cache (read-cache.ts). A handle on a map with string or number
 * keys whose values are numbers, bigints or strings, in 'lock' mode
 * without TTL or leases, keeps what its validated gets read: key ->
 * (shard, the even seq both loads saw, the value), in a `Map` of its own
 * (int32 and uint32 keys: an array, one place per key). A later `get` of that
 * key returns the cached value when one load of the shard's seq
 * still gives that seq, and otherwise reads the shard as above and
 * refreshes the entry. Why that is the answer a read would give now: every
 * store a read can observe — set, delete, clear, sweep, growth, a lease
 * retire — is made inside the writer's odd-seq window, and a write that a
 * thread died in is closed by recovery with the seq 2 past where it was;
 * the seq only grows (modulo 2^32), so an unchanged even seq means no write
 * to that shard began since the entry was read, and the shard's slots hold
 * what they held then. The load is an `Atomics.load`, except on x86-64,
 * where it is a plain load (CACHED_SEQ_PLAIN in read-cache.ts: the same
 * instruction there, and V8 neither merges it with an earlier load nor
 * hoists it out of a loop: read-cache.ts says why, and where that is
 * observed rather than promised), so a write that happened before this `get` (in
 * this thread, or in one this thread synchronized with) is seen, and a
 * loop of gets cannot keep an old load (map-read-cache.test.ts runs that
 * loop in a second thread).
 * What it does not cover: TTL (an entry expires with no write) and leases
 * (a retired entry's visibility), hence not on those maps; objects and
 * Uint8Arrays (one cached object would be handed to every caller); a seq
 * that wrapped exactly back to the cached value (2^31 writes to one shard
 * between two gets of a key). An entry whose shard was written since is
 * not thrown away at once: where the entry kept a copy of the slot the
 * key was found in (string:64 keys and values and smaller; not int32 or
 * uint32 keys, whose read is short), one validated read of that slot
 * (an even seq, the same after) that finds the slot still in the shard's
 * table and word for word as copied answers it, and the entry takes the
 * new seq: the slot holds the same key (a table holds a key once) and the
 * same value bytes, which decode to the cached value. So a write costs the
 * other keys of its shard a compare, not a whole read. The cache pays
 * while most gets find their key's slot unchanged since the last read of
 * the key; where they do not (a working set far over its entries), it
 * switches itself off (read-cache.ts counts its hits); bench:core has rows
 * with a set every 100th and every 10th op.
 *
 * The fused `set`. On x86-64, a map with int32 or uint32 keys and int32,
 * uint32 or float64 values, in 'lock' mode without TTL or leases, sets
 * through `setNumber`: the key and value checked inline (anything else goes
 * to the general path, which throws the error), the key's word hashed and
 * probed for without the codec's scratch (shard.ts `findWordForWrite`), the
 * lock taken with the window's `lock`, and the overwrite's stores from the
 * intent record to the unlock written out in `setNumber` itself. They are
 * the general path's stores in the general path's order (window.ts, "The
 * fused set"), whose method calls V8 had stopped inlining (its inlining
 * budget ran out), so the protocol above is unchanged;
 * map-fused-set.test.ts runs one op sequence through both paths and
 * compares the buffers word for word. An absent key is inserted by the
 * general path's code under the lock the fused path took. The README's
 * bench:core section has what it saves.
 *
 * WebAssembly. Such a map is created in a shared WebAssembly.Memory (its
 * `buffer` is the map's SharedArrayBuffer; the handle carries the memory),
 * and `setNumber` hands the overwrite to one WebAssembly function
 * (wasm.ts): the lock's CAS as `i32.atomic.rmw.cmpxchg` (the instruction;
 * `Atomics.compareExchange` is a call of twice its cost), the probe, the
 * same stores in the same order, the plain unlock. It returns to JS for an
 * insert (the lock held), a lock it found taken (JS waits for it: spin,
 * park, LockTimeoutError) and a waiter to wake (JS's exchange and notify).
 * Test doors (`park`, `skipIterationWrites`) send sets down the JS path.
 * The same word-for-word test runs all three paths.
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
 * # Surviving a thread's death (window.ts, recover.ts, watch.ts)
 *
 * A thread can stop at any instruction (`worker.terminate()`, piscina's
 * abort and timeout, a resourceLimits kill); a `finally` does not run. What
 * it may hold, and the shared words that let another thread undo it:
 *
 * - A shard lock. D_LOCK = owner threadId + 1 (CAS by the taker; exchange
 *   to 0 by the holder or the recoverer, or on x86-64 a plain store of 0 by
 *   a holder that sees no LOCK_WAITERS), with LOCK_WAITERS set (CAS) by a
 *   thread about to park; the recoverer keeps that bit when it takes the
 *   lock over and wakes every waiter when it frees it. D_HOLD_OP = the
 *   holder's op (plain, by the holder just after taking the lock). Waiters
 *   note whom they wait for and since when (D_WAIT_OWNER, D_WAIT_SINCE,
 *   plain) so a LockTimeoutError can name the holder and how long it has
 *   held the lock.
 * - A half-done write. Before its first change a writer notes its intent
 *   (D_UNDO_KIND / AT / WORD, the growth's regions, or the whole slot copied
 *   into the shard's undo area): plain stores by the lock holder, the kind
 *   last, cleared by `end`. Only a recoverer reads them.
 * - The allocator's lock (H_ALLOC_LOCK = owner + 1), and a region allocated
 *   and not yet published: the growth's intent names it, and the region it
 *   replaces too (noted before publishing), so the recoverer frees
 *   whichever of the two the shard no longer uses.
 * - Its part of the map-wide count (H_COUNT, maps with maxCapacity): the
 *   recoverer recomputes it from the shards' counts.
 * - Its leases (maps with leases): the lease ledger (leases.ts) records,
 *   per shard, which thread holds how many leases on which key, kept with
 *   the entries' lease counts under the shard lock; the recoverer gives
 *   back exactly the dead thread's, as its releases would have (an entry
 *   retired meanwhile goes with its last lease), and no live thread's.
 * - Its `forEach` registrations (H_ITERATING, which makes every write bump
 *   H_ITER_WRITES while non-zero): each thread notes its own in its thread
 *   table entry (liveness.ts, T_ITERATING, after raising H_ITERATING and
 *   before lowering it, so a death in between leaves it too high, never
 *   too low); the recoverer gives them back.
 *
 * Why a recoverer may trust those words: a terminated thread stops where V8
 * checks for termination (a call or a loop's back-edge), never between two
 * plain stores without a call between them; and the Worker's 'exit' event
 * (or `await worker.terminate()`) comes after Node has joined the thread, so
 * every store the thread made is visible to the recoverer and no store
 * follows. The intent is therefore complete whenever the change it
 * describes has started. `recover(threadId)` takes over each lock the dead
 * thread's id is in (CAS owner -> itself), rolls the write back or
 * completes it (recover.ts has the table), recounts the shard, closes the
 * window with an even seq, frees the lock waking every waiter, and appends
 * a "thread died holding a shard lock" record. With `verify` it checks the
 * repaired shard's invariants before freeing it.
 *
 * Which deaths are caught:
 * - MUST: with `map.watch(worker | pool)`, every death of a watched thread,
 *   whatever killed it, is recovered from its 'exit' event, in the watching
 *   thread, without polling; the same watch recovers every DeleteQueue
 *   handle of that thread and runs the `onThreadDeath` hooks (NearCache
 *   hands its connection over there). Watch from the thread that created
 *   the workers ('exit' is emitted there), and one that does not itself
 *   wait on the map's locks under load (its event loop runs the recovery).
 * - MUST (Linux x86-64): a thread waiting for a shard lock whose holder's
 *   kernel thread is gone recovers the holder itself, watch or no watch,
 *   within LIVENESS_SLICE_MS of the thread's exit: each thread notes its
 *   kernel thread id in the map's thread table (H_THREADS_*: T_TID written
 *   before T_OWNER names the thread, by the thread itself), and a waiter
 *   asks /proc for the holder's task between slices of its wait. A thread
 *   that writes synchronously right after aborting a task is covered, with
 *   no event loop turn. A live holder is never judged dead (liveness.ts says
 *   why); the kernel's exit drains the dead thread's stores before its task
 *   leaves the list (x86 memory is multi-copy atomic), which is why a
 *   vanished task's intent record may be trusted; on ARM64 that would need
 *   a barrier JavaScript has no way to issue, so there only a watch recovers.
 *   The same holds for a thread waiting for the allocator's lock (a growth,
 *   under its own shard's lock) whose holder died mid-growth (alloc.ts):
 *   it recovers the holder, which frees the allocator first.
 * - MUST: without a watch (or off Linux x86-64), no thread waits forever: a
 *   wait for a shard lock (a writer, or a reader that fell back to the lock)
 *   longer than `lockTimeoutMs` (default 10 s) throws LockTimeoutError naming
 *   the shard, the holder and its op; `map.recover(threadId)` then repairs
 *   by hand. Not the allocator's lock, held for microseconds and waited
 *   for without a timeout: off Linux x86-64 a growth waiting for a thread
 *   that died inside its own growth waits until a watch recovers it.
 * - Nothing can catch: the death of the whole process (the map is memory:
 *   gone with it, as a `Map` would be); a thread alive but stuck while
 *   holding a lock (a function passed to `update` that never returns: not
 *   dead, never recovered; waiters time out); `sync: 'none'` maps (no lock,
 *   no intent). Not recovered, by design: a conflict record the dead
 *   thread was writing is dropped (never published, so never read as
 *   garbage; its kind is still counted in the tally).
 *
 * # Iteration (iterator.ts)
 *
 * `keys()`, `values()`, `entries()`, `forEach()` and `for...of` are fail-fast:
 *
 * 1. MUST throw ConcurrentMapIterationError ("concurrent map iteration and map
 *    write") and append a conflict record, when a write through another handle
 *    (another thread) changed any shard between the iterator's creation and
 *    its step; it checks on every step, and once more before it reports done.
 *    Every write counts, an overwrite included. (An iterator object checks
 *    every shard's seq; `forEach` checks one word that writers bump while a
 *    `forEach` runs, window.ts "Iterations", and waits at its start for a
 *    write in progress: LockTimeoutError past `lockTimeoutMs`.)
 * 2. MUST NOT produce an entry twice, nor an entry deleted (by this handle)
 *    before the iterator reached it, even across growth of the shard it is in.
 * 3. MUST produce every entry present at creation and not deleted since.
 * 4. MAY produce or skip an entry this handle added during the iteration.
 * 5. MAY produce entries in any order (shard by shard, slot by slot).
 *
 * `snapshot()` is the weakly consistent alternative: it copies each shard
 * under seq validation, never throws for concurrent writes (only a lock
 * wait past `lockTimeoutMs` does), and every entry it returns was present
 * at some moment during the call. `sweep(pred)` is the safe range + delete.
 *
 * # TTL and leases (`ttl: true`, `leases: true`)
 *
 * Chosen at create; a map without them pays nothing (`checksVisibility` is false and no
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
import {
  D_CAP,
  D_COUNT,
  D_LAST_OP,
  D_LAST_SEQ,
  D_LAST_SLOT,
  D_LAST_THREAD,
  D_LOCK,
  D_REGION,
  D_SEQ,
  D_TOMBS,
  D_UNDO_AT,
  D_UNDO_KIND,
  D_UNDO_WORD,
  H_COUNT,
  H_ITERATING,
  H_KEY_N,
  H_KEY_TYPE,
  H_VALUE_N,
  H_VALUE_TYPE,
  UNDO_CLEAR,
  UNDO_REMOVALS,
  UNDO_SLOT,
  descI32,
  shardOf,
} from './layout.js';
import { PLAIN_LOADS_ORDERED } from './sync.js';
import { LOCK_WAITERS, noteIterationWrite, park, skipIterationWrites } from './window.js';
import { WASM_ABSENT, WASM_WAKE } from './wasm.js';
import { describe, typeName } from './codec.js';
import { readConflicts, sharedNow, OP } from './conflict-log.js';
import { ShmapTypeError, ValueTooLargeError } from './errors.js';
import { MapCore, busy } from './core.js';
import { hashWord } from './hash.js';
import {
  checkSetOptions,
  createBuffer,
  FUSED_KEY_UINT32,
  FUSED_VALUE_FLOAT64,
  FUSED_VALUE_INT32,
  FUSED_VALUE_MASK,
  FUSED_VALUE_UINT32,
  handleBuffer,
} from './options.js';
import { acquire, leaseCount, release, retire, sweepExpired } from './leases.js';
import { mapStats } from './stats.js';
import * as M from './metrics.js';
import {
  checkRecoverOptions,
  recoverThread,
  type RecoverOptions,
  type RecoveryReport,
  type ThreadWatchOptions,
} from './recover.js';
import { runDeathHooks, watchThreads, type WorkerPoolLike } from './watch.js';
import type { Worker } from 'node:worker_threads';
import { MapIterator, forEachEntry, type IterKind } from './iterator.js';
import { fresh, type CachedRead } from './read-cache.js';
import type {
  ConflictRecord,
  HotKey,
  RetireResult,
  SetOptions,
  SharedMapHandle,
  SharedMapMetrics,
  SharedMapOptions,
  SharedMapStats,
} from './types.js';

// The window's words the fused set writes (setNumber), as module-local
// constants: TurboFan folds a module's own constants into the code, where
// each use of an imported one is a Cell load and its checks.
const W_LOCK = D_LOCK;
const W_LOCK_WAITERS = LOCK_WAITERS;
const W_SEQ = D_SEQ;
const W_UNDO_AT = D_UNDO_AT;
const W_UNDO_WORD = D_UNDO_WORD;
const W_UNDO_KIND = D_UNDO_KIND;
const W_UNDO_SLOT = UNDO_SLOT;
const W_ITERATING = H_ITERATING;
const W_LAST_THREAD = D_LAST_THREAD;
const W_LAST_OP = D_LAST_OP;
const W_LAST_SLOT = D_LAST_SLOT;
const W_LAST_SEQ = D_LAST_SEQ;
const W_OP_SET = OP.set;

export class SharedMap<K = unknown, V = unknown> extends MapCore implements Iterable<[K, V]> {
  private constructor(handle: SharedMapHandle) {
    super(handle);
  }

  /** Makes a new map in a new buffer. */
  static create<K = unknown, V = unknown>(options: SharedMapOptions = {}): SharedMap<K, V> {
    return new SharedMap<K, V>(createBuffer(options));
  }

  /** A handle on an existing map, in any thread. Throws InvalidHandleError for anything that is not a shmap handle of this layout version. */
  static attach<K = unknown, V = unknown>(handle: SharedMapHandle): SharedMap<K, V> {
    return new SharedMap<K, V>(handleBuffer(handle));
  }

  /** Key and value types, as given to create. */
  get types(): { key: string; value: string } {
    const i32 = this.i32;
    return { key: typeName(i32[H_KEY_TYPE], i32[H_KEY_N]), value: typeName(i32[H_VALUE_TYPE], i32[H_VALUE_N]) };
  }

  // -------------------------------------------------------------------------
  // Reads.

  get(key: K): V | undefined {
    // The read cache's answer (read-cache.ts): the value a validated read
    // saw, while its shard's seq has not moved since. Kept this small so
    // that V8 inlines `get` into its caller; a read of the shard is getRead.
    const cache = this.readCache;
    if (cache !== null && cache.off === 0 && busy.length === 0) {
      const cached = cache.lookup(key);
      if (cached !== undefined && fresh(this.i32, cached)) {
        cache.hitGet(cached, key);
        return cached.value as V;
      }
      return this.getRead(key, cached);
    }
    return this.getRead(key, undefined);
  }

  /** A `get` the read cache did not answer: reads the shard (and refreshes `cached`, the key's stale cache entry, if any). */
  private getRead(key: K, cached: CachedRead | undefined): V | undefined {
    if (busy.length !== 0) this.checkNotBusy();
    const i32 = this.i32;
    const cache = this.readCache;
    if (cache !== null && cache.off !== 0) cache.off--;
    // A stale entry whose slot is unchanged: answered without the key's
    // preparation or the value's decoding (read-cache.ts, `revalidate`).
    if (cached !== undefined && cache!.revalidate(this.views, cached)) {
      cache!.hitGet(cached, key);
      return cached.value as V;
    }
    const h = this.keyCodec.prepare(key);
    const d = descI32(this.shard0I32, h & this.shardMask);
    // The common case of readSlot, inlined: one validated attempt, the value
    // kept in a local (no field store, so no boxing of a float64 on the way).
    const seq = PLAIN_LOADS_ORDERED ? i32[d + D_SEQ] : Atomics.load(i32, d + D_SEQ);
    if ((seq & 1) === 0 && this.plainGet) {
      const at = this.table.find(d, h);
      const raw = at >= 0 ? this.valueCodec.load(this.views, at + this.valueOffI32) : undefined;
      const keep = cache !== null && cache.off === 0;
      if (keep && at >= 0 && cache.revalidates !== 0) cache.copySlot(this.views.i32, d, at);
      if (Atomics.load(i32, d + D_SEQ) === seq) {
        if (keep) cache.note(key, h, d, seq, raw, cached, at);
        if (this.counters !== null) this.counters.count(at < 0 ? M.C_GET_MISS : M.C_GET_HIT, h);
        return (raw === undefined || !this.valueCodec.needsFinish ? raw : this.valueCodec.finish(raw)) as V;
      }
    }
    const found = this.readSlot(d, h, OP.get);
    if (this.counters !== null) this.counters.count(found < 0 ? M.C_GET_MISS : M.C_GET_HIT, h);
    if (found < 0) return undefined;
    return (this.valueCodec.needsFinish ? this.valueCodec.finish(this.raw) : this.raw) as V;
  }

  has(key: K): boolean {
    if (busy.length !== 0) this.checkNotBusy();
    // A key whose value the read cache holds (from a get): as in `get`.
    const cache = this.readCache;
    if (cache !== null && cache.off === 0) {
      const cached = cache.lookup(key);
      if (cached !== undefined && (fresh(this.i32, cached) || cache.revalidate(this.views, cached))) {
        cache.hitHas(cached, key);
        return cached.value !== undefined;
      }
    }
    const h = this.keyCodec.prepare(key);
    const d = descI32(this.shard0I32, h & this.shardMask);
    const found = this.readSlot(d, h, OP.has);
    if (this.counters !== null) this.counters.count(found < 0 ? M.C_HAS_MISS : M.C_HAS_HIT, h);
    return found >= 0;
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
    for (let s = 0; s < this.shards; s++) n += i32[descI32(this.shard0I32, s) + D_COUNT];
    return n;
  }

  /** `console.log(map)` / `util.inspect`: the types, size, shards and buffer bytes, not the internals. */
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    const j = this.toJSON();
    return `SharedMap<${j.key}, ${j.value}> { size: ${j.size}, shards: ${j.shards}, bytes: ${j.bytes} }`;
  }

  /** `JSON.stringify(map)`: the same summary as an object (the entries are not serialized; use `snapshot()`). */
  toJSON(): { type: 'SharedMap'; key: string; value: string; size: number; shards: number; bytes: number } {
    const { key, value } = this.types;
    return { type: 'SharedMap', key, value, size: this.size, shards: this.shards, bytes: this.views.byteLength() };
  }

  // -------------------------------------------------------------------------
  // Writes. Each: validate and encode everything first (bad input changes
  // nothing), then lock, find, write, unlock.

  /** Sets the key's value. With `ttl: true`, `options.ttlMs` sets when it expires (else the map's `defaultTtlMs`, else never). */
  set(key: K, value: V, options?: SetOptions): this {
    // Small, so that V8 inlines it and the fused path into the caller.
    if (this.fusedSet !== 0 && options === undefined && this.setNumber(key, value)) return this;
    this.setGeneral(key, value, options);
    return this;
  }

  /** `set` of any key and value, with options: validate and encode, lock, find, write, unlock. */
  private setGeneral(key: K, value: V, options: SetOptions | undefined): void {
    if (busy.length !== 0) this.checkNotBusy();
    const h = this.keyCodec.prepareWrite(key);
    this.checkValue(value);
    this.valueCodec.prepare(value);
    if (options !== undefined) checkSetOptions(options);
    if (this.ttl) this.expiry = this.expiryFor(options);
    else if (options !== undefined) this.noTtlOption(options);
    const d = descI32(this.shard0I32, h & this.shardMask);
    this.writeWindow.lock(d, OP.set);
    const at = this.table.findForWrite(d, h);
    if (at >= 0 && this.checksVisibility && !this.visible(at)) this.checkReplaceable(d, at);
    this.writePrepared(d, h, at, OP.set);
    this.writeWindow.unlock(d);
    if (this.counters !== null) this.counters.count(at < 0 ? M.C_SET_INSERT : M.C_SET_OVERWRITE, h);
  }

  /**
   * `set(key, value)` in one pass, for maps with a fused set (core.ts,
   * `fusedSet`: number keys of one word, number values, 'lock' mode, no TTL
   * or leases, x86-64): the key and value checked inline, the hash, the
   * lock, a probe for the key's word, and the overwrite's stores written
   * out (window.ts, "The fused set"); an absent key is inserted
   * by the general path's code under the lock already held. Returns false,
   * having changed nothing, for what the general path must look at: a key
   * or value it rejects with an error, a call from inside a callback.
   */
  private setNumber(key: unknown, value: unknown): boolean {
    if (typeof key !== 'number' || typeof value !== 'number' || busy.length !== 0) return false;
    const f = this.fusedSet;
    if ((f & FUSED_KEY_UINT32) === 0 ? (key | 0) !== key : key >>> 0 !== key) return false;
    const kind = f & FUSED_VALUE_MASK;
    if (kind === FUSED_VALUE_INT32 ? (value | 0) !== value : kind === FUSED_VALUE_UINT32 && value >>> 0 !== value)
      return false;
    const w = key | 0;
    const h = hashWord(this.seed, w);
    const d = descI32(this.shard0I32, h & this.shardMask);
    const wasm = this.wasmSet;
    if (wasm !== null && park === null && !skipIterationWrites) {
      // The overwrite below, in WebAssembly (wasm.ts), from the lock's CAS
      // to the unlock; the test doors above are JS only.
      const r = wasm(d << 2, h, w, value);
      if (r >= 0 || r === WASM_WAKE) {
        this.ownWriteSeq[shardOf(this.shard0I32, d)]! += 2;
        if (r === WASM_WAKE) this.writeWindow.unlock(d);
        if (this.counters !== null) this.counters.countKey(M.C_SET_OVERWRITE, h, key);
        return true;
      }
      if (r === WASM_ABSENT) {
        // The lock is held (its op noted), nothing else written.
        this.table.findWordForWrite(d, h, w);
        this.insertNumber(d, h, key, value);
        return true;
      }
      // WASM_BUSY: the lock is taken; take it the JS way (spin, park, time out).
    }
    this.writeWindow.lock(d, W_OP_SET);
    const at = this.table.findWordForWrite(d, h, w);
    if (at < 0) {
      this.insertNumber(d, h, key, value);
      return true;
    }
    // The overwrite's window, written out here (window.ts, "The fused set"):
    // the stores of intend(UNDO_SLOT) with saveSlot's copy of the old value,
    // begin, the value, end(op set) and unlock, in that order. With the
    // same stores made by two window methods (which V8 inlined), a set took
    // 3.2-3.7x a Map.set; written out, 2.3-3.3x (int32 -> float64, 1,024
    // keys, a side harness alternating with the build before and a Map,
    // Node 20 and 26; bench:core's baseline table showed the two alike
    // within its spread).
    const i32 = this.i32;
    const slots = this.views.i32;
    const vo = this.valueOffI32;
    const to = at + vo;
    const s = shardOf(this.shard0I32, d);
    const saved = this.undo0I32 + s * this.slotWords + vo;
    slots[saved] = slots[to]!;
    if (this.overwrittenEndI32 - vo === 2) slots[saved + 1] = slots[to + 1]!;
    i32[d + W_UNDO_AT] = at;
    i32[d + W_UNDO_WORD] = 0;
    i32[d + W_UNDO_KIND] = W_UNDO_SLOT;
    const seq = i32[d + W_SEQ]! + 1;
    i32[d + W_SEQ] = seq;
    if (i32[W_ITERATING] !== 0) noteIterationWrite(i32);
    if (kind === FUSED_VALUE_FLOAT64) this.views.f64[to >> 1] = value;
    else slots[to] = value;
    if (park !== null) park('set:overwrite');
    i32[d + W_LAST_THREAD] = this.thread;
    i32[d + W_LAST_OP] = W_OP_SET;
    i32[d + W_LAST_SLOT] = at + this.keyOffI32;
    i32[d + W_LAST_SEQ] = seq + 1;
    i32[d + W_UNDO_KIND] = 0;
    i32[d + W_SEQ] = seq + 1;
    this.ownWriteSeq[s]! += 2;
    if ((i32[d + W_LOCK]! & W_LOCK_WAITERS) === 0) i32[d + W_LOCK] = 0;
    else this.writeWindow.unlock(d);
    if (this.counters !== null) this.counters.countKey(M.C_SET_OVERWRITE, h, key);
    return true;
  }

  /** `setNumber`'s insert of an absent key, where its probe noted (`insertAt`): the general path's, under the lock `setNumber` holds (checked values: nothing throws but MapFullError). */
  private insertNumber(d: number, h: number, key: number, value: number): void {
    this.keyCodec.prepareWrite(key);
    this.valueCodec.prepare(value);
    this.writePrepared(d, h, -1, OP.set);
    this.writeWindow.unlock(d);
    if (this.counters !== null) this.counters.count(M.C_SET_INSERT, h);
  }

  delete(key: K): boolean {
    if (busy.length !== 0) this.checkNotBusy();
    const h = this.keyCodec.prepare(key);
    const d = descI32(this.shard0I32, h & this.shardMask);
    this.writeWindow.lock(d, OP.delete);
    const at = this.table.find(d, h);
    if (this.counters !== null) this.counters.count(at < 0 ? M.C_DELETE_MISS : M.C_DELETE_HIT, h);
    if (at < 0) {
      this.writeWindow.unlock(d);
      return false;
    }
    if (this.checksVisibility) return this.deleteWithMeta(d, at);
    this.removeAt(d, at, OP.delete);
    this.writeWindow.unlock(d);
    return true;
  }

  clear(): void {
    if (busy.length !== 0) this.checkNotBusy();
    if (this.counters !== null) this.counters.add(M.C_CLEAR, 1);
    const i32 = this.i32;
    for (let s = 0; s < this.shards; s++) {
      const d = descI32(this.shard0I32, s);
      this.writeWindow.lock(d, OP.clear);
      const before = i32[d + D_COUNT];
      this.writeWindow.intend(d, this.leases ? UNDO_REMOVALS : UNDO_CLEAR, -1, 0);
      this.writeWindow.begin(d);
      if (this.leases) {
        // Leased entries are retired, not removed: their last release removes them.
        this.removeOrRetireAll(d, () => true);
        if (park !== null) park('clear');
      } else {
        this.table.zeroRegion(i32[d + D_REGION], i32[d + D_CAP]);
        if (park !== null) park('clear');
        i32[d + D_COUNT] = 0;
        i32[d + D_TOMBS] = 0;
      }
      const removed = before - i32[d + D_COUNT];
      this.writeWindow.end(d, OP.clear, -1);
      if (this.maxCapacity !== 0 && removed !== 0 && !this.leases) Atomics.sub(i32, H_COUNT, removed);
      this.writeWindow.unlock(d);
    }
  }

  /** The existing value, or undefined when the key was absent and `value` was inserted. */
  putIfAbsent(key: K, value: V): V | undefined {
    if (busy.length !== 0) this.checkNotBusy();
    const h = this.keyCodec.prepareWrite(key);
    this.checkValue(value);
    this.valueCodec.prepare(value);
    const d = descI32(this.shard0I32, h & this.shardMask);
    if (this.ttl) this.expiry = this.expiryFor(undefined);
    if (this.counters !== null) this.counters.count(M.C_PUT_IF_ABSENT, h);
    this.writeWindow.lock(d, OP.putIfAbsent);
    const at = this.table.findForWrite(d, h);
    if (at >= 0 && this.checksVisibility && !this.visible(at)) {
      this.checkReplaceable(d, at);
    } else if (at >= 0) {
      const raw = this.valueCodec.load(this.views, at + this.valueOffI32);
      this.writeWindow.unlock(d);
      return this.valueCodec.finish(raw) as V;
    }
    this.writePrepared(d, h, at, OP.putIfAbsent);
    this.writeWindow.unlock(d);
    return undefined;
  }

  /**
   * Sets `next` when the key's value equals `expected` (SameValueZero for
   * numbers, byte equality for strings and bytes, equal JSON text for json
   * values); an absent key equals only `undefined`. Returns whether it set.
   */
  compareAndSet(key: K, expected: V | undefined, next: V): boolean {
    if (busy.length !== 0) this.checkNotBusy();
    const h = this.keyCodec.prepareWrite(key);
    this.checkValue(next);
    this.valueCodec.prepare(next);
    const d = descI32(this.shard0I32, h & this.shardMask);
    if (this.ttl) this.expiry = this.expiryFor(undefined);
    if (this.counters !== null) this.counters.count(M.C_COMPARE_AND_SET, h);
    this.writeWindow.lock(d, OP.compareAndSet);
    const at = this.table.findForWrite(d, h);
    const live = at >= 0 && this.checksVisibility && !this.visible(at) ? this.checkReplaceable(d, at) : at;
    const equal =
      live >= 0
        ? expected !== undefined &&
          this.valueCodec.matches(this.valueCodec.load(this.views, live + this.valueOffI32), expected)
        : expected === undefined;
    if (!equal) {
      this.writeWindow.unlock(d);
      return false;
    }
    this.writePrepared(d, h, at, OP.compareAndSet);
    this.writeWindow.unlock(d);
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
    const h = this.keyCodec.prepareWrite(key);
    const d = descI32(this.shard0I32, h & this.shardMask);
    if (this.ttl) this.expiry = this.expiryFor(undefined);
    if (this.counters !== null) this.counters.count(M.C_UPDATE, h);
    this.writeWindow.lock(d, OP.update);
    let next: V | undefined;
    const at = this.table.findForWrite(d, h);
    const live = at >= 0 && this.checksVisibility && !this.visible(at) ? this.checkReplaceable(d, at) : at;
    try {
      const old =
        live >= 0 ? (this.valueCodec.finish(this.valueCodec.load(this.views, at + this.valueOffI32)) as V) : undefined;
      busy.push(this.views.identity);
      try {
        next = fn(old);
      } finally {
        busy.pop();
      }
      if (next !== undefined) this.valueCodec.prepare(next);
    } catch (err) {
      this.writeWindow.unlock(d);
      throw err;
    }
    if (next === undefined) {
      if (at >= 0 && this.checksVisibility) {
        this.deleteWithMeta(d, at);
        return undefined;
      }
      if (at >= 0) this.removeAt(d, at, OP.update);
      this.writeWindow.unlock(d);
      return undefined;
    }
    this.writePrepared(d, h, at, OP.update);
    this.writeWindow.unlock(d);
    return next;
  }

  /**
   * Atomically adds `delta` to a number value (a missing key counts as 0) and
   * returns the new value: a bigint for bigint64 values (delta a bigint or an
   * integer), a number otherwise (an integer delta for int32 and uint32). A
   * result out of the value type's range throws ValueTooLargeError naming the
   * sum, and the entry keeps its value.
   */
  add(key: K, delta: V extends bigint ? bigint | number : number): V extends bigint ? bigint : number {
    if (busy.length !== 0) this.checkNotBusy();
    const type = this.types.value;
    if (!this.valueCodec.numeric)
      throw new ShmapTypeError(
        `add needs a number value type (int32, uint32, float64, bigint64); this map's values are ${type}`,
      );
    const deltaOk =
      type === 'float64'
        ? typeof delta === 'number'
        : typeof delta === 'bigint'
          ? type === 'bigint64'
          : Number.isInteger(delta);
    if (!deltaOk)
      throw new ShmapTypeError(
        `add: delta must be ${type === 'float64' ? 'a number' : type === 'bigint64' ? 'a bigint or an integer' : 'an integer'} for ${type} values, got ${describe(delta)}`,
      );
    const h = this.keyCodec.prepareWrite(key);
    const d = descI32(this.shard0I32, h & this.shardMask);
    if (this.ttl) this.expiry = this.expiryFor(undefined);
    if (this.counters !== null) this.counters.count(M.C_ADD, h);
    this.writeWindow.lock(d, OP.add);
    const at = this.table.findForWrite(d, h);
    const live = at >= 0 && this.checksVisibility && !this.visible(at) ? this.checkReplaceable(d, at) : at;
    const old = live >= 0 ? this.valueCodec.load(this.views, at + this.valueOffI32) : this.valueCodec.zero;
    const next = this.valueCodec.plus(old, delta as number);
    try {
      this.valueCodec.prepare(next);
    } catch (err) {
      this.writeWindow.unlock(d);
      if (!(err instanceof ValueTooLargeError)) throw err;
      const kept = live >= 0 ? `the entry keeps ${String(old)}` : 'the key stays absent';
      const below = type === 'uint32' && (next as number) < 0 ? ': a uint32 value cannot go below 0' : '';
      throw new ValueTooLargeError(
        `add: ${String(old)} + ${String(delta)} = ${String(next)} is out of ${type} range${below}; ${kept}`,
      );
    }
    this.writePrepared(d, h, at, OP.add);
    this.writeWindow.unlock(d);
    return next as V extends bigint ? bigint : number;
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
      const d = descI32(this.shard0I32, s);
      this.writeWindow.lock(d, OP.sweep);
      let writing = false;
      busy.push(this.views.identity);
      try {
        const region = this.table.regionI32(d);
        const cap = i32[d + D_CAP];
        for (let i = 0; i < cap; i++) {
          const at = region + i * sw;
          if (this.views.i32[at] >= 0 || (this.checksVisibility && !this.visible(at))) continue;
          const k = this.keyCodec.load(this.views, at + this.keyOffI32) as K;
          const value = this.valueCodec.finish(this.valueCodec.load(this.views, at + this.valueOffI32)) as V;
          if (pred(value, k)) {
            if (!writing) {
              this.writeWindow.intend(d, UNDO_REMOVALS, -1, 0);
              this.writeWindow.begin(d);
              writing = true;
            }
            this.removeOrRetire(d, at);
            if (park !== null) park('sweep');
            deleted++;
          }
        }
      } finally {
        busy.pop();
        if (writing) this.writeWindow.end(d, OP.sweep, -1);
        this.writeWindow.unlock(d);
      }
    }
    if (this.counters !== null) this.counters.tally(M.C_SWEEPS, M.C_SWEPT, deleted);
    return deleted;
  }

  // -------------------------------------------------------------------------
  // TTL and leases (leases.ts; the safe cleanup shapes, see patterns/).

  /**
   * Takes a lease on a present, not retired, not expired entry and returns
   * its value; undefined when there is no such entry. While any lease is
   * held the entry is never removed: `delete`, `retire` and expiry only
   * retire it, and the last `release` removes it.
   */
  acquire(key: K): V | undefined {
    return acquire(this, key) as V | undefined;
  }

  /**
   * Gives back a lease taken with `acquire`. Returns true when it was the
   * last lease on a retired entry: the entry is gone now, and the caller
   * should close the resource it stood for. Throws LeaseError when the key
   * holds no lease.
   */
  release(key: K): boolean {
    return release(this, key);
  }

  /**
   * Marks an entry for removal: removed at once when nobody holds a lease
   * ('removed'), else hidden from reads and acquires and removed by the last
   * `release` ('deferred'); 'absent' when there is no such entry.
   */
  retire(key: K): RetireResult {
    return retire(this, key);
  }

  /** Leases held on the key's entry (retired or not), 0 when none or absent. */
  leaseCount(key: K): number {
    return leaseCount(this, key);
  }

  /**
   * Reclaims entries expired at `now` (default: the shared clock now), shard
   * by shard under each shard's lock, and returns how many it removed. An
   * expired entry still leased is retired instead, and removed by its last
   * release.
   */
  sweepExpired(now: number = sharedNow()): number {
    return sweepExpired(this, now);
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
    if (busy.length !== 0) this.checkNotBusy();
    forEachEntry(this, fn, this);
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
      const d = descI32(this.shard0I32, s);
      this.copyShard(d, keys, raws);
      for (let j = 0; j < keys.length; j++) out.push([keys[j] as K, this.valueCodec.finish(raws[j]) as V]);
    }
    return out;
  }

  // -------------------------------------------------------------------------
  // The race checker and stats.

  /** The conflict log, shared by every thread: one record per detected conflict, oldest first. */
  conflicts(): ConflictRecord[] {
    return readConflicts(this.views);
  }

  // -------------------------------------------------------------------------
  // Surviving the death of a thread (recover.ts, watch.ts).

  /**
   * Recovers whatever the thread `threadId` held in this map: each shard
   * lock it held is taken over, the write it was making rolled back (or
   * completed, when only its last bookkeeping was missing), the counts made
   * exact, the lock freed and its waiters woken; a lock it held on the
   * allocator is freed; every lease it held is given back (`leases` in the
   * report), none of another thread's. Appends a "thread died holding a
   * shard lock" conflict record per shard. Returns what it did.
   *
   * Only for threads known to be dead (after the Worker's 'exit' event, or
   * `await worker.terminate()`): recovering a live thread breaks the map.
   * Refused (RecoveryError) for the calling thread. `map.watch` calls it for
   * you.
   */
  recover(threadId: number, options?: RecoverOptions): RecoveryReport {
    if (busy.length !== 0) this.checkNotBusy();
    return recoverThread(this, threadId, options);
  }

  /**
   * Recovers automatically every thread of `target` that dies: a Worker, or
   * every worker of a piscina pool (abort, timeout, crash, `terminate()`,
   * idle removal), from the Worker's 'exit' event, without polling; then
   * runs the hooks registered with `onThreadDeath`. Returns the function
   * that stops watching. See watch.ts for what it cannot catch.
   */
  watch(target: Worker | WorkerPoolLike, options?: ThreadWatchOptions): () => void {
    const o = checkRecoverOptions(options, 'watch');
    return watchThreads(target, (threadId) => {
      // An 'exit' listener must not throw (it would crash the process).
      let report: RecoveryReport | undefined;
      try {
        report = this.recover(threadId, o);
      } catch (err) {
        process.emitWarning(`shmap: recovering thread ${threadId} failed: ${String(err)}`);
      }
      if (report !== undefined && o.onRecovery !== undefined) {
        try {
          o.onRecovery(report);
        } catch (err) {
          process.emitWarning(`shmap: a watch's onRecovery threw for thread ${threadId}: ${String(err)}`);
        }
      }
      runDeathHooks(threadId);
    });
  }

  /**
   * Every thread's operations on this map, summed when read (metrics.ts);
   * needs `metrics` at create (else InvalidOptionError).
   */
  metrics(): SharedMapMetrics {
    return M.readMetrics(this.views, this.shard0I32, this.shards);
  }

  /**
   * The `k` keys sampled most often, hottest first, each with its estimated
   * share of the sampled operations (an overestimate by at most `error`)
   * and its shard (metrics.ts); needs `metrics` at create.
   */
  hotKeys(k: number): HotKey[] {
    return M.hotKeys(this.views, this.keyCodec, this.shardMask, k, this.thread + 1);
  }

  /** Shards, capacity, bytes, probe lengths, lock waits, read retries and conflict counts (stats.ts). */
  stats(): SharedMapStats {
    return mapStats(this);
  }
}

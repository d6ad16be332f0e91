/**
 * The write window: how a thread takes a shard for writing and how it tells
 * readers that the shard is changing. This is the whole locking protocol of
 * the map; a concurrency reviewer can read it alone.
 *
 * # Words (a shard's descriptor, layout.ts)
 *
 * - D_LOCK: 0 = free, else the owner's threadId + 1, with LOCK_WAITERS
 *   (bit 30) set when a thread may be parked on the word. Taken with
 *   `Atomics.compareExchange(0 -> owner)`; released with one
 *   `Atomics.exchange(0)`, whose old value says whether to `Atomics.notify`
 *   (a futex mutex as in Drepper's "Futexes Are Tricky", with the owner kept
 *   in the word for recovery), or on x86-64, when a plain load finds no
 *   LOCK_WAITERS, with a plain store of 0. A thread about to park sets
 *   LOCK_WAITERS with a CAS first, so an unlock that misses it makes the
 *   park return at once (or, rarely, within WAIT_SLICE_MS: "Ordering").
 * - D_SEQ: even = stable, odd = a write is in progress. Only the lock holder
 *   writes it: +1 on entering the window (`begin`) and +1 on leaving it
 *   (`end`), so every completed write adds exactly 2. How: see "Ordering".
 * - D_LAST_*: the last writer (thread, op, slot, the seq it finished with),
 *   plain stores by the lock holder inside the window; read only to name the
 *   other party of a conflict.
 *
 * # Protocol ('lock' mode)
 *
 * ```
 *   lock(d)          CAS D_LOCK 0 -> owner (spin, then park on Atomics.wait)
 *   intend(d, ...)   the intent record (plain stores)
 *   begin(d)         D_SEQ += 1 (odd)          -- readers now retry
 *   ... mutate slots, counts, region ...      -- plain stores, under the lock
 *   end(d, op, at)   note last writer, clear the intent; D_SEQ += 1 (even)
 *   unlock(d)        exchange D_LOCK -> 0; notify one waiter if the old
 *                    value had LOCK_WAITERS (x86-64, no LOCK_WAITERS seen:
 *                    a plain store of 0)
 * ```
 *
 * One `Atomics` operation per write on x86-64 (the lock's CAS; the unlock's
 * exchange only when a waiter announced itself), four elsewhere (CAS, the
 * seq's two adds, the exchange); an `Atomics` call costs ~15-25 ns here, a
 * plain store ~1 ns.
 *
 * The fused set. `set` on a map of one-word number keys and number values
 * (map.ts, `setNumber`; x86-64 only) takes the lock with `lock`, then makes
 * an overwrite's stores from `intend` to `unlock` itself, written out in
 * map.ts: the stores these methods make, in the same order, with the plain
 * seq stores and plain unlock of x86-64 ("Ordering"). A change to the
 * protocol here must be made there too, and in wasm.ts, which makes the
 * same stores in WebAssembly for a map that lives in a WebAssembly.Memory
 * (its plain stores are ordered as typed-array stores are, below);
 * map-fused-set.test.ts runs one op sequence through the three paths and
 * compares the buffers word for word.
 *
 * A write that changes nothing (a delete of an absent key, a failed
 * compareAndSet) takes the lock and never opens the window. Readers that
 * fell back to the lock (`lockForRead` / `unlockRead`) never open it either.
 *
 * Ordering. A reader loads D_SEQ, reads the slot with plain loads, then
 * loads D_SEQ again with `Atomics.load` (map.ts, "Concurrency"); it trusts
 * what it read when both loads saw the same even seq. That is sound when the
 * writer's odd seq becomes visible before any of its slot stores, and its
 * slot stores before its even seq:
 * - On x86-64 (PLAIN_STORES_ORDERED) plain stores do that: the CPU makes
 *   stores visible in program order (TSO: no store is reordered with an
 *   earlier store), and V8 emits typed-array stores in program order, each
 *   on its effect chain, none of them removed (a seq stored twice in one
 *   write is stored twice). So `begin` and `end` store the seq plainly.
 * - Elsewhere (ARM64) a later plain store may become visible first, so
 *   `begin` and `end` use `Atomics.add` (sequentially consistent: a full
 *   barrier on each side).
 * - Between writers the lock orders everything: the CAS that takes it and
 *   the exchange that frees it are sequentially consistent operations on one
 *   word, so a writer sees every store of the previous holder, the seq's
 *   included. The exchange is also what makes the unlock's check of
 *   LOCK_WAITERS safe against a thread that is about to park.
 * - On x86-64 (PLAIN_UNLOCK) an unlock that finds no LOCK_WAITERS frees the
 *   lock with a plain store of 0. It is a release: TSO makes it visible
 *   after every earlier store of the holder (V8 emits it after them, in
 *   program order, as it does the seq's stores), and a taker's CAS that
 *   reads 0 is a full barrier, so the next holder sees all of them, as
 *   with the exchange. What the plain pair (load, then store) gives up is
 *   atomicity against a waiter: one that sets LOCK_WAITERS between the load
 *   and the store has its bit overwritten and gets no notify. It parks on
 *   a value the word no longer holds: the wait returns at once when the
 *   store is visible by then (a store buffer drains in nanoseconds, a wait
 *   takes microseconds to enter), else (the unlocking thread was
 *   descheduled between two adjacent instructions) it sleeps out its slice,
 *   WAIT_SLICE_MS (5 ms), and takes the lock then. A lost wake-up costs at most
 *   one slice, never the lock.
 *
 * # Iterations (iterator.ts, `forEach`)
 *
 * A running `forEach` must see every write that begins after it started,
 * at its next step. Instead of loading every shard's seq per step, it
 * checks one word, H_ITER_WRITES, which writers bump while H_ITERATING (the
 * number of running `forEach` calls) is non-zero. A writer loads
 * H_ITERATING after taking the lock with its CAS and bumps H_ITER_WRITES
 * after making the seq odd and before changing anything; `forEach` raises
 * H_ITERATING (Atomics.add), then notes each shard's seq when that shard's
 * lock word is free (else under the shard's lock). Why no write is missed:
 * - Dekker's argument over two sequentially consistent pairs: the writer's
 *   CAS on D_LOCK then its load of H_ITERATING, and the iterator's add to
 *   H_ITERATING then its Atomics.load of D_LOCK. Either the writer's load
 *   sees the iterator registered (it bumps), or the iterator's load of
 *   D_LOCK comes after the writer's CAS in the total order: it saw the lock
 *   held and waited for it (the seq it notes includes the write), or it
 *   saw it free again, after the unlock (its exchange, or its plain store
 *   on x86-64, a release: "Ordering"), with every store of the write
 *   visible (the seq it notes includes the write).
 * - On x86-64 the writer's load of H_ITERATING may be plain: the CAS is a
 *   locked instruction, a full barrier (no later load is satisfied before
 *   it), and V8 keeps typed-array loads after a call on the effect chain.
 *   Elsewhere it is an `Atomics.load`.
 * - The bump is an `Atomics.add` made after the odd seq and before the
 *   write's other stores (stores stay in order on x86-64; elsewhere the
 *   seq's own add orders them). So an iterator that loads H_ITER_WRITES
 *   with `Atomics.load` after reading a slot and finds it unchanged read no
 *   store of a write begun since (the entry is consistent), and one that
 *   finds it moved sees that write's odd or moved seq in the shard check it
 *   then makes.
 * Recovery's `closeRecovered` bumps it too (its seq move is a write).
 * While no `forEach` runs, this costs a write one plain load and a branch.
 *
 * # Protocol ('none' mode: Go's unsynchronized map)
 *
 * No lock. `lock` itself makes the seq odd (Go's `hashWriting` flag) after
 * checking it was even; `unlock` makes it even again after checking nobody
 * else moved it meanwhile. Finding it otherwise is "concurrent map writes",
 * reported through the `onConflict` callback the map gives. `begin` does
 * nothing: the window is open from `lock` to `unlock`. Before making the
 * seq odd, `lock` names itself and its op (D_WRITING, D_HOLD_OP), so the
 * conflict record of a thread that finds the seq odd names the write in
 * progress: the last writer to finish (D_LAST_*) is often the detector
 * itself, when the other thread was preempted inside its window.
 */
import {
  D_HOLD_OP,
  D_UNDO_KIND,
  D_WAIT_OWNER,
  D_WAIT_SINCE_F64_WORD,
  D_LAST_OP,
  D_LAST_SEQ,
  D_LAST_SLOT,
  D_LAST_THREAD,
  D_LOCK,
  D_LOCK_WAITS,
  D_SEQ,
  D_UNDO_AT,
  D_UNDO_WORD,
  D_WRITING,
  H_ITERATING,
  H_ITER_WRITES,
  shardOf,
} from './layout.js';
import { LOCK_SPINS, PLAIN_LOADS_ORDERED } from './sync.js';
import { holderGone, LIVENESS_SLICE_MS } from './liveness.js';
import { KIND_WRITES, OP_NAMES, sharedNow } from './conflict-log.js';
import { LockTimeoutError, RecursiveUpdateError } from './errors.js';

/**
 * Whether `begin` and `end` may move the seq with plain stores: x86-64 keeps
 * stores in order (see "Ordering"); the same property of the CPU and of V8's
 * typed-array accesses that lets readers load the first seq plainly.
 */
const PLAIN_STORES_ORDERED = PLAIN_LOADS_ORDERED;

/**
 * Whether `unlock` frees a lock no waiter announced itself on with a plain
 * store of 0 instead of `Atomics.exchange` (x86-64: see "Ordering"); ~15-30 ns
 * less per write (int32 set, 1,024 keys, one process alternating builds,
 * Node 20 and 26).
 */
const PLAIN_UNLOCK = PLAIN_STORES_ORDERED;

/**
 * Longest single `Atomics.wait` of a parked waiter (ms): how often it looks
 * whether the holder's thread is gone (liveness.ts), and how late a waiter
 * whose LOCK_WAITERS a plain unlock overwrote can wake (see "Ordering").
 */
const WAIT_SLICE_MS = LIVENESS_SLICE_MS;

/** The slice in use: WAIT_SLICE_MS, or what a test set (Infinity: the negative control of the lost-wake-up test). */
let waitSliceMs = WAIT_SLICE_MS;

/** @internal Test back door: sets the longest single wait of a parked waiter (undefined: back to WAIT_SLICE_MS). */
export function setWaitSliceMs(ms: number | undefined): void {
  waitSliceMs = ms ?? WAIT_SLICE_MS;
}

/** D_LOCK bit set by a thread about to park on the word: the unlocker must notify. Thread ids stay below it. */
export const LOCK_WAITERS = 1 << 30;

/**
 * Test back door: when set, called at named points inside the odd-seq
 * window of a write (`park('set:empty')`, ...), so a test can stop a writer
 * there and terminate its thread. Null in production: one load and branch.
 * @internal
 */
export let park: ((point: string) => void) | null = null;

/** @internal Sets the test back door (null to clear). */
export function setPark(fn: ((point: string) => void) | null): void {
  park = fn;
}

/**
 * Test back door: when true, writers do not bump H_ITER_WRITES (a broken
 * map: the negative control of the forEach tests). Read only when a
 * `forEach` is running, so it costs the hot path nothing.
 * @internal
 */
export let skipIterationWrites = false;

/** @internal Sets the test back door. */
export function setSkipIterationWrites(on: boolean): void {
  skipIterationWrites = on;
}

/** A write began while a `forEach` runs: H_ITER_WRITES += 1 (sequentially consistent; see "Iterations"). */
export function noteIterationWrite(i32: Int32Array): void {
  if (!skipIterationWrites) Atomics.add(i32, H_ITER_WRITES, 1);
}

/**
 * What the window reports a detected conflict through ('none' mode): the
 * kind, the shard's descriptor, the op, the seq expected and the seq found.
 * It may throw (the map throws on conflicts unless `onConflict: 'record'`).
 */
export type ConflictSink = (kind: number, d: number, op: number, seqSeen: number, seqNow: number) => void;

/**
 * One thread's side of the protocol for one map handle. `d` is always a
 * shard descriptor's word index (layout.ts, `descI32`).
 */
export class WriteWindow {
  /** The lock word's value meaning "held by this thread" (its threadId + 1), LOCK_WAITERS aside. */
  private readonly owner: number;
  /** In 'none' mode, the (odd) seq a write set on entering, to check on leaving, and its op. */
  private noneSeq = 0;
  private noneOp = 0;

  constructor(
    /** A view over the header and shard descriptors (and `f64` over the same). */
    private readonly f64: Float64Array,
    /** How long a thread waits for a lock before LockTimeoutError (ms; Infinity = forever). */
    private readonly timeoutMs: number,
    /** A view over the header and shard descriptors. */
    private readonly i32: Int32Array,
    /** 'none' mode (no lock; Go's writing flag). */
    private readonly none: boolean,
    /** This thread's id (worker_threads.threadId). */
    private readonly thread: number,
    /** Seq this thread's own writes added per shard (+2 per write), indexed by shard; the iterators read it. */
    private readonly own: Int32Array,
    /** Word index of shard 0's descriptor. */
    private readonly shard0: number,
    /** Word offset of the key inside a slot, for D_LAST_SLOT. */
    private readonly keyOffW: number,
    private readonly onConflict: ConflictSink,
    /** Recovers a lock holder found gone (liveness.ts), as `watch` would. */
    private readonly onHolderGone: (thread: number) => void,
  ) {
    this.owner = thread + 1;
  }

  /**
   * Takes shard `d` for writing. 'lock': the mutex (a lock already held by
   * this thread means a call from inside update/sweep: RecursiveUpdateError).
   * 'none': Go's writing flag: the seq goes odd; finding it odd already is a
   * "concurrent map writes".
   */
  lock(d: number, op: number): void {
    // Kept this small so that V8 inlines it into every write path; all but
    // the free lock's CAS is in lockOther.
    if (!this.none && Atomics.compareExchange(this.i32, d + D_LOCK, 0, this.owner) === 0) {
      this.i32[d + D_HOLD_OP] = op;
      return;
    }
    this.lockOther(d, op);
  }

  /** `lock` but for a free lock in 'lock' mode: 'none' mode's flag, a lock this thread holds, a contended lock. */
  private lockOther(d: number, op: number): void {
    const i32 = this.i32;
    if (this.none) {
      const seq = Atomics.load(i32, d + D_SEQ);
      this.noneOp = op;
      if ((seq & 1) !== 0) this.onConflict(KIND_WRITES, d, op, seq & ~1, seq);
      // Named before the seq goes odd, so a thread that finds it odd reads
      // who is writing (D_WRITING), not only who wrote last.
      i32[d + D_WRITING] = this.owner;
      i32[d + D_HOLD_OP] = op;
      this.noneSeq = seq | 1;
      Atomics.store(i32, d + D_SEQ, this.noneSeq);
      return;
    }
    if ((Atomics.load(i32, d + D_LOCK) & ~LOCK_WAITERS) === this.owner) throw new RecursiveUpdateError();
    this.lockSlow(d, op);
  }

  /**
   * The contended path of `lock`: spin, then park on the lock word with
   * `Atomics.wait`, in slices, until the lock is free or `timeoutMs` has
   * passed since this thread started waiting; then LockTimeoutError, naming
   * the holder, its op, and how long it has held the lock (at least since the
   * first waiter noted it). Nothing here changes the map: the caller has
   * not written anything yet.
   */
  private lockSlow(d: number, op: number): void {
    const i32 = this.i32;
    Atomics.add(i32, d + D_LOCK_WAITS, 1);
    for (let i = 0; i < LOCK_SPINS; i++) {
      if (Atomics.load(i32, d + D_LOCK) === 0 && Atomics.compareExchange(i32, d + D_LOCK, 0, this.owner) === 0) {
        i32[d + D_HOLD_OP] = op;
        return;
      }
    }
    const deadline = sharedNow() + this.timeoutMs;
    // Once this thread has parked, others may be parked too: it takes the
    // lock with LOCK_WAITERS set, so its own unlock wakes the next one.
    const take = this.owner | LOCK_WAITERS;
    for (;;) {
      let seen = Atomics.compareExchange(i32, d + D_LOCK, 0, take);
      if (seen === 0) break;
      if ((seen & LOCK_WAITERS) === 0) {
        // Announce the park; if the word moved meanwhile, look again.
        if (Atomics.compareExchange(i32, d + D_LOCK, seen, seen | LOCK_WAITERS) !== seen) continue;
        seen |= LOCK_WAITERS;
      }
      const holder = seen & ~LOCK_WAITERS;
      if (i32[d + D_WAIT_OWNER] !== holder) {
        i32[d + D_WAIT_OWNER] = holder;
        this.f64[(d + D_WAIT_SINCE_F64_WORD) >> 1] = sharedNow();
      }
      const left = deadline - sharedNow();
      if (left <= 0) throw this.timeoutError(d, holder);
      // Sleeps only while the word still holds `seen`: an unlock between
      // the CAS and the wait makes the wait return at once ("not-equal").
      // In slices (at most WAIT_SLICE_MS each): after each, a holder whose
      // kernel thread is gone (a thread terminated holding the lock, before
      // any 'exit' event could reach a watcher) is recovered here, which
      // frees the lock; and a plain unlock that overwrote this thread's
      // LOCK_WAITERS without waking it ("Ordering") is noticed.
      const slice = Math.min(left, waitSliceMs);
      const woke = Atomics.wait(i32, d + D_LOCK, seen, slice === Infinity ? undefined : slice);
      if (woke === 'timed-out' && holderGone(i32, holder - 1)) this.onHolderGone(holder - 1);
    }
    i32[d + D_HOLD_OP] = op;
  }

  private timeoutError(d: number, seen: number): LockTimeoutError {
    const i32 = this.i32;
    const since = i32[d + D_WAIT_OWNER] === seen ? this.f64[(d + D_WAIT_SINCE_F64_WORD) >> 1]! : sharedNow();
    return new LockTimeoutError(
      shardOf(this.shard0, d),
      seen - 1,
      OP_NAMES[i32[d + D_HOLD_OP]!] ?? 'unknown',
      Math.max(0, sharedNow() - since),
      this.timeoutMs,
    );
  }

  /** Takes shard `d`'s lock only if it is free ('lock' mode). Returns whether it did. */
  tryLock(d: number, op: number): boolean {
    if (Atomics.compareExchange(this.i32, d + D_LOCK, 0, this.owner) !== 0) return false;
    this.i32[d + D_HOLD_OP] = op;
    return true;
  }

  /** Releases what `lock` took. 'none': checks nobody else wrote meanwhile, then clears the flag. */
  unlock(d: number): void {
    const i32 = this.i32;
    if (this.none) {
      const seq = Atomics.load(i32, d + D_SEQ);
      const mine = this.noneSeq;
      Atomics.store(i32, d + D_SEQ, (seq | 1) + 1);
      this.own[shardOf(this.shard0, d)]! += 2;
      if (seq !== mine) this.onConflict(KIND_WRITES, d, this.noneOp, mine, seq);
      return;
    }
    // x86-64: with no waiter announced, a plain store of 0 frees the lock (a
    // release under TSO; see "Ordering" for the waiter that announces itself
    // between this load and the store). Else (and elsewhere) the exchange,
    // whose old value says whether to wake a parked waiter.
    if (PLAIN_UNLOCK && (i32[d + D_LOCK]! & LOCK_WAITERS) === 0) {
      i32[d + D_LOCK] = 0;
      return;
    }
    this.unlockWaking(d);
  }

  /**
   * Notes what the write about to start changes (layout.ts, D_UNDO_*): the
   * fields first, the kind last. Plain stores: only a recoverer reads them,
   * after the writer died, and it learned of the death through a
   * synchronizing handoff (see "Recovery" above). Precondition: lock held.
   */
  intend(d: number, kind: number, at: number, word: number): void {
    const i32 = this.i32;
    i32[d + D_UNDO_AT] = at;
    i32[d + D_UNDO_WORD] = word;
    i32[d + D_UNDO_KIND] = kind;
  }

  /** Frees the lock with the exchange, waking one parked waiter if the old value had LOCK_WAITERS. */
  private unlockWaking(d: number): void {
    if ((Atomics.exchange(this.i32, d + D_LOCK, 0) & LOCK_WAITERS) !== 0) Atomics.notify(this.i32, d + D_LOCK, 1);
  }

  /**
   * Clears the intent of a change made without opening the window (a lease
   * op, UNDO_LEASE): from here on the change is whole. Precondition: lock held.
   */
  settle(d: number): void {
    this.i32[d + D_UNDO_KIND] = 0;
  }

  /**
   * Recovery: takes shard `d`'s lock over from `deadThread` when it holds
   * it (CAS from its lock word value to ours). Returns false when it does
   * not hold it. The caller then repairs the shard from the intent record
   * and calls `releaseRecovered`.
   */
  takeOver(d: number, deadThread: number): boolean {
    const dead = deadThread + 1;
    for (;;) {
      const seen = Atomics.load(this.i32, d + D_LOCK);
      if ((seen & ~LOCK_WAITERS) !== dead) return false;
      // Keeps LOCK_WAITERS: releaseRecovered wakes every waiter anyway.
      if (Atomics.compareExchange(this.i32, d + D_LOCK, seen, this.owner | (seen & LOCK_WAITERS)) === seen) return true;
    }
  }

  /**
   * Recovery, after the repair: clears the intent and closes the window the
   * dead thread left open (seq back to even, the dead thread noted as the
   * last writer, with its op). The lock stays taken (the recoverer may
   * still write, e.g. give back the dead thread's leases); `releaseRecovered`
   * frees it. Returns the seq it leaves.
   */
  closeRecovered(d: number, deadThread: number, op: number): number {
    const i32 = this.i32;
    i32[d + D_UNDO_KIND] = 0;
    let seq = Atomics.load(i32, d + D_SEQ);
    if ((seq & 1) !== 0) {
      i32[d + D_LAST_THREAD] = deadThread;
      i32[d + D_LAST_OP] = op;
      i32[d + D_LAST_SLOT] = -1;
      i32[d + D_LAST_SEQ] = seq + 1;
      seq = Atomics.add(i32, d + D_SEQ, 1) + 1;
      // The dead writer bumped H_ITER_WRITES in its `begin` unless it died
      // first; this seq move is a write a running forEach must see either way.
      if (Atomics.load(i32, H_ITERATING) !== 0) noteIterationWrite(i32);
    }
    return seq;
  }

  /** Recovery, last: frees the lock taken over, waking every waiter. */
  releaseRecovered(d: number): void {
    Atomics.store(this.i32, d + D_LOCK, 0);
    Atomics.notify(this.i32, d + D_LOCK);
  }

  /** Takes shard `d`'s lock for a read that gave up on optimistic tries ('lock' mode only). */
  lockForRead(d: number, op: number): void {
    this.lock(d, op);
  }

  /** Releases what `lockForRead` took ('lock' mode only). */
  unlockRead(d: number): void {
    this.unlock(d);
  }

  /**
   * Enters the odd-seq window ('lock' mode; in 'none' mode `lock` already
   * did), and tells a running `forEach` about it: when H_ITERATING is
   * non-zero, bumps H_ITER_WRITES (see "Iterations" above for why a plain
   * load of H_ITERATING is enough on x86-64). Precondition: `lock(d)` held.
   */
  begin(d: number): void {
    if (this.none) return;
    const i32 = this.i32;
    if (PLAIN_STORES_ORDERED) i32[d + D_SEQ]++;
    else Atomics.add(i32, d + D_SEQ, 1);
    if ((PLAIN_LOADS_ORDERED ? i32[H_ITERATING] : Atomics.load(i32, H_ITERATING)) !== 0) noteIterationWrite(i32);
  }

  /** Notes the last writer and leaves the odd-seq window. `at`: the slot written (-1: several). */
  end(d: number, op: number, at: number): void {
    const i32 = this.i32;
    i32[d + D_LAST_THREAD] = this.thread;
    i32[d + D_LAST_OP] = op;
    i32[d + D_LAST_SLOT] = at < 0 ? -1 : at + this.keyOffW;
    if (this.none) {
      i32[d + D_LAST_SEQ] = this.noneSeq + 1;
      return;
    }
    const seq = i32[d + D_SEQ]! + 1;
    i32[d + D_LAST_SEQ] = seq;
    i32[d + D_UNDO_KIND] = 0;
    if (PLAIN_STORES_ORDERED) i32[d + D_SEQ] = seq;
    else Atomics.add(i32, d + D_SEQ, 1);
    this.own[shardOf(this.shard0, d)]! += 2;
  }
}

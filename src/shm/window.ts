/**
 * The write window: how a thread takes a shard for writing and how it tells
 * readers that the shard is changing. This is the whole locking protocol of
 * the map; a concurrency reviewer can read it alone.
 *
 * # Words (a shard's descriptor, layout.ts)
 *
 * - D_LOCK: 0 = free, else the owner's threadId + 1. Taken with
 *   `Atomics.compareExchange(0 -> me)`, released with `Atomics.store(0)`.
 * - D_WAITERS: threads parked (or about to park) on D_LOCK, `Atomics.add` /
 *   `Atomics.sub`; the unlocker calls `Atomics.notify` only when it is > 0.
 * - D_SEQ: even = stable, odd = a write is in progress. The lock holder adds
 *   1 with `Atomics.add` on entering the window (`begin`) and 1 on leaving it
 *   (`end`), so every completed write adds exactly 2.
 * - D_LAST_*: the last writer (thread, op, slot, the seq it finished with),
 *   plain stores by the lock holder inside the window; read only to name the
 *   other party of a conflict.
 *
 * # Protocol ('lock' mode)
 *
 * ```
 *   lock(d)          CAS D_LOCK 0 -> me (spin, then park on Atomics.wait)
 *   begin(d)         D_SEQ += 1 (odd)          -- readers now retry
 *   ... mutate slots, counts, region ...      -- plain stores, under the lock
 *   end(d, op, at)   note last writer; D_SEQ += 1 (even)
 *   unlock(d)        D_LOCK = 0; notify one waiter if any
 * ```
 *
 * A write that changes nothing (a delete of an absent key, a failed
 * compareAndSet) takes the lock and never opens the window. Readers that
 * fell back to the lock (`lockForRead` / `unlockRead`) never open it either.
 *
 * Ordering: every `Atomics` operation is sequentially consistent, so the
 * plain stores made inside the window are ordered before the `end` add, and a
 * reader whose second `Atomics.load` of D_SEQ equals its first (even) one saw
 * none of them half done (the reader side is in map.ts, "Concurrency").
 *
 * # Protocol ('none' mode: Go's unsynchronized map)
 *
 * No lock. `lock` itself makes the seq odd (Go's `hashWriting` flag) after
 * checking it was even; `unlock` makes it even again after checking nobody
 * else moved it meanwhile. Finding it otherwise is "concurrent map writes",
 * reported through the `onConflict` callback the map gives. `begin` does
 * nothing: the window is open from `lock` to `unlock`.
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
  D_WAITERS,
  shardOf,
} from './layout.js';
import { LOCK_SPINS } from './sync.js';
import { KIND_WRITES, OP_NAMES, sharedNow } from './conflict-log.js';
import { LockTimeoutError, RecursiveUpdateError } from './errors.js';

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
  /** The lock word value meaning "held by this thread". */
  private readonly me: number;
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
  ) {
    this.me = thread + 1;
  }

  /**
   * Takes shard `d` for writing. 'lock': the mutex (a lock already held by
   * this thread means a call from inside update/sweep: RecursiveUpdateError).
   * 'none': Go's writing flag: the seq goes odd; finding it odd already is a
   * "concurrent map writes".
   */
  lock(d: number, op: number): void {
    const i32 = this.i32;
    if (this.none) {
      const seq = Atomics.load(i32, d + D_SEQ);
      this.noneOp = op;
      if ((seq & 1) !== 0) this.onConflict(KIND_WRITES, d, op, seq & ~1, seq);
      this.noneSeq = seq | 1;
      Atomics.store(i32, d + D_SEQ, this.noneSeq);
      return;
    }
    if (Atomics.compareExchange(i32, d + D_LOCK, 0, this.me) === 0) {
      i32[d + D_HOLD_OP] = op;
      return;
    }
    if (Atomics.load(i32, d + D_LOCK) === this.me) throw new RecursiveUpdateError();
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
      if (Atomics.load(i32, d + D_LOCK) === 0 && Atomics.compareExchange(i32, d + D_LOCK, 0, this.me) === 0) {
        i32[d + D_HOLD_OP] = op;
        return;
      }
    }
    const start = sharedNow();
    const deadline = start + this.timeoutMs;
    Atomics.add(i32, d + D_WAITERS, 1);
    try {
      for (;;) {
        const seen = Atomics.compareExchange(i32, d + D_LOCK, 0, this.me);
        if (seen === 0) break;
        if (i32[d + D_WAIT_OWNER] !== seen) {
          i32[d + D_WAIT_OWNER] = seen;
          this.f64[(d + D_WAIT_SINCE_F64_WORD) >> 1] = sharedNow();
        }
        const left = deadline - sharedNow();
        if (left <= 0) throw this.timeoutError(d, seen);
        // Sleeps only while the word still holds `seen`: an unlock between
        // the CAS and the wait makes the wait return at once ("not-equal").
        Atomics.wait(i32, d + D_LOCK, seen, left === Infinity ? undefined : left);
      }
    } finally {
      Atomics.sub(i32, d + D_WAITERS, 1);
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
    if (Atomics.compareExchange(this.i32, d + D_LOCK, 0, this.me) !== 0) return false;
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
    Atomics.store(i32, d + D_LOCK, 0);
    if (Atomics.load(i32, d + D_WAITERS) > 0) Atomics.notify(i32, d + D_LOCK, 1);
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

  /**
   * Recovery: takes shard `d`'s lock over from `deadThread` when it holds
   * it (CAS from its lock word value to ours). Returns false when it does
   * not hold it. The caller then repairs the shard from the intent record
   * and calls `releaseRecovered`.
   */
  takeOver(d: number, deadThread: number): boolean {
    return Atomics.compareExchange(this.i32, d + D_LOCK, deadThread + 1, this.me) === deadThread + 1;
  }

  /**
   * Recovery, after the repair: clears the intent, closes the window the
   * dead thread left open (seq back to even, the dead thread noted as the
   * last writer, with its op), and frees the lock, waking every waiter.
   * Returns the seq it leaves.
   */
  releaseRecovered(d: number, deadThread: number, op: number): number {
    const i32 = this.i32;
    i32[d + D_UNDO_KIND] = 0;
    let seq = Atomics.load(i32, d + D_SEQ);
    if ((seq & 1) !== 0) {
      i32[d + D_LAST_THREAD] = deadThread;
      i32[d + D_LAST_OP] = op;
      i32[d + D_LAST_SLOT] = -1;
      i32[d + D_LAST_SEQ] = seq + 1;
      seq = Atomics.add(i32, d + D_SEQ, 1) + 1;
    }
    Atomics.store(i32, d + D_LOCK, 0);
    Atomics.notify(i32, d + D_LOCK);
    return seq;
  }

  /** Takes shard `d`'s lock for a read that gave up on optimistic tries ('lock' mode only). */
  lockForRead(d: number, op: number): void {
    this.lock(d, op);
  }

  /** Releases what `lockForRead` took ('lock' mode only). */
  unlockRead(d: number): void {
    this.unlock(d);
  }

  /** Enters the odd-seq window ('lock' mode; in 'none' mode `lock` already did). Precondition: `lock(d)` held. */
  begin(d: number): void {
    if (!this.none) Atomics.add(this.i32, d + D_SEQ, 1);
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
    i32[d + D_LAST_SEQ] = i32[d + D_SEQ]! + 1;
    i32[d + D_UNDO_KIND] = 0;
    Atomics.add(i32, d + D_SEQ, 1);
    this.own[shardOf(this.shard0, d)]! += 2;
  }
}

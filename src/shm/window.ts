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
  D_LAST_OP,
  D_LAST_SEQ,
  D_LAST_SLOT,
  D_LAST_THREAD,
  D_LOCK,
  D_LOCK_WAITS,
  D_SEQ,
  D_WAITERS,
  shardOf,
} from './layout.js';
import { mutexLock, mutexUnlock } from './sync.js';
import { KIND_WRITES } from './conflict-log.js';
import { RecursiveUpdateError } from './errors.js';

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
    if (Atomics.compareExchange(i32, d + D_LOCK, 0, this.me) === 0) return;
    if (Atomics.load(i32, d + D_LOCK) === this.me) throw new RecursiveUpdateError();
    Atomics.add(i32, d + D_LOCK_WAITS, 1);
    mutexLock(i32, d + D_LOCK, d + D_WAITERS, this.thread);
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

  /** Takes shard `d`'s lock for a read that gave up on optimistic tries ('lock' mode only). */
  lockForRead(d: number, op: number): void {
    this.lock(d, op);
  }

  /** Releases what `lockForRead` took ('lock' mode only). */
  unlockRead(d: number): void {
    mutexUnlock(this.i32, d + D_LOCK, d + D_WAITERS);
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
    Atomics.add(i32, d + D_SEQ, 1);
    this.own[shardOf(this.shard0, d)]! += 2;
  }
}

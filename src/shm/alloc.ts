/**
 * Region allocator over the growable buffer.
 *
 * Regions are handed out from the top (`H_ALLOC_TOP`), growing the buffer
 * with `SharedArrayBuffer.prototype.grow` when the top passes its length, or
 * taken first-fit from a free list of their size class (ceil(log2(bytes))).
 * A shard that rehashes frees its old region here; as shards grow by
 * doubling, region sizes repeat and are reused exactly.
 *
 * Memory is never shrunk and a freed region is never unmapped: a reader still
 * probing an old region reads stale or reused bytes, never out of bounds, and
 * its seqlock check makes it read again.
 *
 * Every function here runs under the allocator mutex (H_ALLOC_LOCK), which is
 * only ever taken while holding at most one shard lock, and never the other
 * way round, so the two cannot deadlock.
 *
 * A thread that dies holding the mutex (terminated mid-growth) would leave
 * every later growth waiting for it, each waiter holding its own shard's
 * lock. So a waiter waits in slices and, after each, looks whether the
 * holder's kernel thread is gone (liveness.ts, as a shard lock's waiter
 * does); if it is, it hands the holder to `onHolderGone`, the map's
 * recovery, which frees the mutex first (`releaseDeadAllocator`).
 */
import {
  FREE_NEXT,
  FREE_SIZE,
  H_ALLOC_LOCK,
  H_ALLOC_TOP,
  H_ALLOC_WAITERS,
  H_FREE_HEADS,
  REGION_ALIGN_BYTES,
  sizeClass,
} from './layout.js';
import { mutexLockLooking, mutexTryLock, mutexUnlock } from './sync.js';
import { holderGone, LIVENESS_SLICE_MS } from './liveness.js';
import { park } from './window.js';
import type { Views } from './views.js';

/** Words in the whole buffer now. */
function bufferWords(views: Views): number {
  return views.byteLength() >> 2;
}

/** What a waiter for the allocator's mutex calls with a holder whose thread is gone: the map's recovery of that thread. */
export type OnHolderGone = (thread: number) => void;

/**
 * Takes the allocator's mutex for thread `owner` (sync.ts, `mutexLock`);
 * a parked waiter waits in slices of LIVENESS_SLICE_MS, after each of which
 * a holder found gone (`holderGone`) is handed to `onHolderGone`
 * (undefined: waits for the holder however long).
 */
function lockAllocator(views: Views, owner: number, onHolderGone: OnHolderGone | undefined): void {
  const i32 = views.i32;
  // Uncontended: the CAS alone (no closure made for the look).
  if (mutexTryLock(i32, H_ALLOC_LOCK, owner)) return;
  const look =
    onHolderGone === undefined
      ? undefined
      : {
          sliceMs: LIVENESS_SLICE_MS,
          holder: (thread: number) => {
            if (holderGone(i32, thread)) onHolderGone(thread);
          },
        };
  mutexLockLooking(i32, H_ALLOC_LOCK, H_ALLOC_WAITERS, owner, look);
}

/** Growth step of the buffer: at least this factor of its current length, to keep `grow` calls rare. */
const BUFFER_GROWTH = 1.5;

/**
 * Returns the byte offset of a region of at least `bytes` bytes, or -1 when
 * the buffer cannot grow enough (its maxByteLength). `owner` is the caller's
 * thread id (for the mutex). `noteI32` (when >= 0): a word that receives the
 * offset under the allocator's lock, right after the allocation commits, so
 * that a recoverer knows of the region even if the caller dies next.
 * `onHolderGone`: see `lockAllocator`.
 */
export function allocRegion(
  views: Views,
  bytes: number,
  owner: number,
  noteI32 = -1,
  onHolderGone?: OnHolderGone,
): number {
  lockAllocator(views, owner, onHolderGone);
  try {
    if (park !== null) park('alloc:held');
    const length = views.byteLength();
    views.fit(length >> 2);
    const i32 = views.i32;
    const cls = sizeClass(bytes);
    // First fit in this size class, then the next one up (at most 2x waste).
    for (let c = cls; c <= cls + 1 && c < 32; c++) {
      let prevI32 = H_FREE_HEADS + c;
      let off = i32[prevI32]!;
      while (off !== 0) {
        const at = off >> 2;
        if (i32[at + FREE_SIZE]! >= bytes) {
          i32[prevI32] = i32[at + FREE_NEXT]!;
          if (noteI32 >= 0) i32[noteI32] = off;
          return off;
        }
        prevI32 = at + FREE_NEXT;
        off = i32[prevI32]!;
      }
    }
    const top = i32[H_ALLOC_TOP]!;
    const end = top + bytes;
    if (end > length) {
      if (end > views.maxByteLength) return -1;
      const want = Math.min(
        views.maxByteLength,
        Math.max(end, Math.ceil((length * BUFFER_GROWTH) / REGION_ALIGN_BYTES) * REGION_ALIGN_BYTES),
      );
      if (!views.grow(want) && !views.grow(end)) return -1;
    }
    i32[H_ALLOC_TOP] = end;
    if (noteI32 >= 0) i32[noteI32] = top;
    return top;
  } finally {
    mutexUnlock(views.i32, H_ALLOC_LOCK, H_ALLOC_WAITERS);
  }
}

/**
 * Puts a region back on its size class's free list. Precondition: nobody will
 * write it again until it is handed out. `noteI32` (when >= 0): a word set to
 * 0 under the allocator's lock right after the free commits (the caller set
 * it to the region before: a recoverer frees the region only if it is not 0).
 * `onHolderGone`: see `lockAllocator`.
 */
export function freeRegion(
  views: Views,
  off: number,
  bytes: number,
  owner: number,
  noteI32 = -1,
  onHolderGone?: OnHolderGone,
): void {
  lockAllocator(views, owner, onHolderGone);
  try {
    views.fit(bufferWords(views));
    const i32 = views.i32;
    const at = off >> 2;
    const head = H_FREE_HEADS + sizeClass(bytes);
    i32[at + FREE_SIZE] = bytes;
    i32[at + FREE_NEXT] = i32[head]!;
    i32[head] = off;
    if (noteI32 >= 0) i32[noteI32] = 0;
  } finally {
    mutexUnlock(views.i32, H_ALLOC_LOCK, H_ALLOC_WAITERS);
  }
}

/**
 * Frees the allocator's lock when `deadThread` holds it (recovery). Every
 * change the allocator makes is committed by one store (a free-list head or
 * H_ALLOC_TOP), and `noteI32` is written right after it with no call in
 * between, so a holder that died left the lists and the top consistent, and
 * the note says whether its last allocation or free took effect. Returns
 * whether it freed the lock.
 */
export function releaseDeadAllocator(views: Views, deadThread: number): boolean {
  const i32 = views.i32;
  if (Atomics.compareExchange(i32, H_ALLOC_LOCK, deadThread + 1, 0) !== deadThread + 1) return false;
  Atomics.notify(i32, H_ALLOC_LOCK);
  return true;
}

/** Bytes on the free lists (for stats). Reads without the lock: a snapshot. */
export function freeBytes(views: Views): number {
  views.fit(bufferWords(views));
  const i32 = views.i32;
  let total = 0;
  for (let c = 0; c < 32; c++) {
    let off = i32[H_FREE_HEADS + c]!;
    let guard = 0;
    while (off !== 0 && guard++ < 1_000_000) {
      total += i32[(off >> 2) + FREE_SIZE]!;
      off = i32[(off >> 2) + FREE_NEXT]!;
    }
  }
  return total;
}

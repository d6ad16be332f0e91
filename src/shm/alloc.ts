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
import { mutexLock, mutexUnlock } from './sync.js';
import type { Views } from './views.js';

/** Words in the whole buffer now. */
function sab(v: Views): number {
  return v.sab.byteLength >> 2;
}

/** Growth step of the buffer: at least this factor of its current length, to keep `grow` calls rare. */
const BUFFER_GROWTH = 1.5;

/**
 * Returns the byte offset of a region of at least `bytes` bytes, or -1 when
 * the buffer cannot grow enough (its maxByteLength). `owner` is the caller's
 * thread id (for the mutex).
 */
export function allocRegion(v: Views, bytes: number, owner: number): number {
  const sab = v.sab;
  mutexLock(v.i32, H_ALLOC_LOCK, H_ALLOC_WAITERS, owner);
  try {
    v.fit(sab.byteLength >> 2);
    const i32 = v.i32;
    const cls = sizeClass(bytes);
    // First fit in this size class, then the next one up (at most 2x waste).
    for (let c = cls; c <= cls + 1 && c < 32; c++) {
      let prevI32 = H_FREE_HEADS + c;
      let off = i32[prevI32]!;
      while (off !== 0) {
        const at = off >> 2;
        if (i32[at + FREE_SIZE]! >= bytes) {
          i32[prevI32] = i32[at + FREE_NEXT]!;
          return off;
        }
        prevI32 = at + FREE_NEXT;
        off = i32[prevI32]!;
      }
    }
    const top = i32[H_ALLOC_TOP]!;
    const end = top + bytes;
    if (end > sab.byteLength) {
      if (end > sab.maxByteLength) return -1;
      const want = Math.min(
        sab.maxByteLength,
        Math.max(end, Math.ceil((sab.byteLength * BUFFER_GROWTH) / REGION_ALIGN_BYTES) * REGION_ALIGN_BYTES),
      );
      sab.grow(want);
    }
    i32[H_ALLOC_TOP] = end;
    return top;
  } finally {
    mutexUnlock(v.i32, H_ALLOC_LOCK, H_ALLOC_WAITERS);
  }
}

/** Puts a region back on its size class's free list. Precondition: nobody will write it again until it is handed out. */
export function freeRegion(v: Views, off: number, bytes: number, owner: number): void {
  mutexLock(v.i32, H_ALLOC_LOCK, H_ALLOC_WAITERS, owner);
  try {
    v.fit(sab(v));
    const i32 = v.i32;
    const at = off >> 2;
    const head = H_FREE_HEADS + sizeClass(bytes);
    i32[at + FREE_SIZE] = bytes;
    i32[at + FREE_NEXT] = i32[head]!;
    i32[head] = off;
  } finally {
    mutexUnlock(v.i32, H_ALLOC_LOCK, H_ALLOC_WAITERS);
  }
}

/** Bytes on the free lists (for stats). Reads without the lock: a snapshot. */
export function freeBytes(v: Views): number {
  v.fit(sab(v));
  const i32 = v.i32;
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

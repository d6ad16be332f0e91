/**
 * src/shm/alloc.ts on a tiny fresh buffer, with exact offsets after each step
 * (thi.ng/malloc's way): regions come from the top, the buffer grows by at
 * least half its length when the top passes it, a freed region is handed out
 * again to a request of its size class or the class below, a request the
 * buffer cannot grow for answers -1 and changes nothing, the recovery note
 * word follows every commit, and the allocator's lock is free after every
 * call and freed for a dead holder only.
 */
import { describe, expect, it } from 'vitest';
import { allocRegion, freeBytes, freeRegion, releaseDeadAllocator } from '../../src/shm/alloc.js';
import { FREE_NEXT, FREE_SIZE, H_ALLOC_LOCK, H_ALLOC_TOP, H_FREE_HEADS, sizeClass } from '../../src/shm/layout.js';
import { Views } from '../../src/shm/views.js';

const OWNER = 7;
/** A word past the header, used as the recovery note. */
const NOTE = 60;
/** Where the first region starts in these tests. */
const BASE = 1024;

function fresh(bytes = 4096, maxBytes = 16384): Views {
  const v = new Views(new SharedArrayBuffer(bytes, { maxByteLength: maxBytes }));
  v.i32[H_ALLOC_TOP] = BASE;
  return v;
}

const top = (v: Views): number => v.i32[H_ALLOC_TOP]!;
const lockFree = (v: Views): boolean => Atomics.load(v.i32, H_ALLOC_LOCK) === 0;

describe('alloc', () => {
  it('hands out regions from the top, one after another', () => {
    const v = fresh();
    expect(allocRegion(v, 128, OWNER)).toBe(BASE);
    expect(top(v)).toBe(BASE + 128);
    expect(allocRegion(v, 64, OWNER)).toBe(BASE + 128);
    expect(top(v)).toBe(BASE + 192);
    expect(freeBytes(v)).toBe(0);
    expect(lockFree(v)).toBe(true);
  });

  it('a freed region is reused exactly by the next request of its size, and leaves the free list', () => {
    const v = fresh();
    const a = allocRegion(v, 256, OWNER);
    const b = allocRegion(v, 256, OWNER);
    freeRegion(v, a, 256, OWNER);
    expect(v.i32[H_FREE_HEADS + sizeClass(256)]).toBe(a);
    expect(v.i32[(a >> 2) + FREE_SIZE]).toBe(256);
    expect(freeBytes(v)).toBe(256);
    const topBefore = top(v);
    expect(allocRegion(v, 256, OWNER)).toBe(a);
    expect(top(v)).toBe(topBefore); // nothing new from the top
    expect(v.i32[H_FREE_HEADS + sizeClass(256)]).toBe(0);
    expect(freeBytes(v)).toBe(0);
    // The list is empty again: the next request comes from the top.
    expect(allocRegion(v, 256, OWNER)).toBe(topBefore);
    expect(b).toBe(BASE + 256);
  });

  it('a free list is last in, first out, and an unlinked region keeps the rest of the list', () => {
    const v = fresh();
    const a = allocRegion(v, 64, OWNER);
    const b = allocRegion(v, 64, OWNER);
    const c = allocRegion(v, 64, OWNER);
    freeRegion(v, a, 64, OWNER);
    freeRegion(v, b, 64, OWNER);
    freeRegion(v, c, 64, OWNER);
    expect(v.i32[(c >> 2) + FREE_NEXT]).toBe(b);
    expect(freeBytes(v)).toBe(192);
    expect([allocRegion(v, 64, OWNER), allocRegion(v, 64, OWNER), allocRegion(v, 64, OWNER)]).toEqual([c, b, a]);
    expect(freeBytes(v)).toBe(0);
  });

  it('a request takes a free region of the next size class up (at most 2x waste), never two classes up', () => {
    const v = fresh();
    const r128 = allocRegion(v, 128, OWNER);
    const r256 = allocRegion(v, 256, OWNER);
    freeRegion(v, r128, 128, OWNER);
    freeRegion(v, r256, 256, OWNER);
    const topBefore = top(v);
    // 64 bytes: class 6; the 128-byte region is class 7 (taken), the 256 one is class 8 (not).
    expect(allocRegion(v, 64, OWNER)).toBe(r128);
    expect(allocRegion(v, 64, OWNER)).toBe(topBefore);
    expect(freeBytes(v)).toBe(256);
  });

  it('a free region too small for the request is passed over', () => {
    const v = fresh();
    // 192 and 256 share size class 8; a 200-byte request must not get the 192-byte region.
    const small = allocRegion(v, 192, OWNER);
    allocRegion(v, 64, OWNER);
    freeRegion(v, small, 192, OWNER);
    const got = allocRegion(v, 200, OWNER);
    expect(got).not.toBe(small);
    expect(got).toBe(BASE + 256);
    expect(freeBytes(v)).toBe(192);
  });

  it('grows the buffer by at least half its length when the top passes it, and the views reach it once fitted', () => {
    const v = fresh(4096, 65536);
    expect(allocRegion(v, 4096 - BASE, OWNER)).toBe(BASE);
    expect(v.sab.byteLength).toBe(4096);
    const next = allocRegion(v, 64, OWNER);
    expect(next).toBe(4096);
    expect(v.sab.byteLength).toBe(6144); // 4096 * 1.5, region-aligned
    // The caller's views reach the new region once fitted to it.
    v.fit((next + 64) >> 2);
    expect(v.i32.length).toBe(6144 >> 2);
    // A request larger than the growth step gets exactly what it needs.
    const big = allocRegion(v, 32768, OWNER);
    expect(big).toBe(4160);
    expect(v.sab.byteLength).toBe(4160 + 32768);
  });

  it('growth stops at maxByteLength: the buffer grows to it, not past it', () => {
    const v = fresh(4096, 5120);
    expect(allocRegion(v, 3072, OWNER)).toBe(BASE);
    expect(allocRegion(v, 64, OWNER)).toBe(4096);
    expect(v.sab.byteLength).toBe(5120);
  });

  it('a request the buffer cannot grow for answers -1, changes nothing and frees the lock', () => {
    const v = fresh(4096, 8192);
    allocRegion(v, 128, OWNER);
    v.i32[NOTE] = 123;
    const before = { top: top(v), bytes: v.sab.byteLength };
    expect(allocRegion(v, 8192, OWNER, NOTE)).toBe(-1);
    expect(top(v)).toBe(before.top);
    expect(v.sab.byteLength).toBe(before.bytes);
    expect(v.i32[NOTE]).toBe(123);
    expect(lockFree(v)).toBe(true);
    // The allocator still works afterwards.
    expect(allocRegion(v, 64, OWNER)).toBe(before.top);
  });

  it('the note word receives each allocation and is cleared by the free', () => {
    const v = fresh();
    const a = allocRegion(v, 128, OWNER, NOTE);
    expect(v.i32[NOTE]).toBe(a);
    freeRegion(v, a, 128, OWNER, NOTE);
    expect(v.i32[NOTE]).toBe(0);
    // A reuse from the free list is noted too.
    expect(allocRegion(v, 128, OWNER, NOTE)).toBe(a);
    expect(v.i32[NOTE]).toBe(a);
    // Without a note word nothing else is written.
    v.i32[NOTE] = 99;
    allocRegion(v, 64, OWNER);
    expect(v.i32[NOTE]).toBe(99);
  });

  it('releaseDeadAllocator frees the lock only when the dead thread holds it', () => {
    const v = fresh();
    v.i32[H_ALLOC_LOCK] = 5 + 1; // thread 5 holds it
    expect(releaseDeadAllocator(v, 4)).toBe(false);
    expect(v.i32[H_ALLOC_LOCK]).toBe(6);
    expect(releaseDeadAllocator(v, 5)).toBe(true);
    expect(lockFree(v)).toBe(true);
    expect(releaseDeadAllocator(v, 5)).toBe(false);
    // Free again: the next allocation takes it and gives it back.
    expect(allocRegion(v, 64, OWNER)).toBe(BASE);
    expect(lockFree(v)).toBe(true);
  });
});

/**
 * src/shm/sync.ts: mutex with owner, barrier, semaphore, seqlock helpers,
 * exercised by real worker threads over one shared Int32Array.
 */
import { describe, it, expect, beforeAll } from 'vitest';
import {
  mutexLock,
  mutexTryLock,
  mutexUnlock,
  mutexOwner,
  barrierWait,
  BARRIER_WORDS,
  semaphoreAcquire,
  semaphoreTryAcquire,
  semaphoreRelease,
  seqWriteBegin,
  seqWriteEnd,
  seqReadBegin,
  seqReadValid,
} from '../../src/index.js';
import { controlWords, requireDist, spawn } from './support.js';

beforeAll(requireDist);

/** Blocks the test's thread until words[i] >= value (bounded): the test thread takes part in the choreography. */
function waitUntil(words: Int32Array, i: number, value: number, timeoutMs = 20_000): void {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const seen = Atomics.load(words, i);
    if (seen >= value) return;
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`word ${i} still ${seen} < ${value} after ${timeoutMs} ms`);
    Atomics.wait(words, i, seen, left);
  }
}

/** Like waitUntil, for a word nobody calls Atomics.notify on: re-checks every millisecond, bounded. */
function pollUntil(words: Int32Array, i: number, value: number, timeoutMs = 20_000): void {
  const deadline = Date.now() + timeoutMs;
  while (Atomics.load(words, i) < value) {
    if (Date.now() > deadline) throw new Error(`word ${i} still < ${value} after ${timeoutMs} ms`);
    Atomics.wait(words, i, Atomics.load(words, i), 1);
  }
}

function signal(words: Int32Array, i: number, value: number): void {
  Atomics.store(words, i, value);
  Atomics.notify(words, i);
}

describe('mutex', () => {
  const L = { lock: 0, waiters: 1, counter: 2, scratch: 3, phase: 4, waitPhase: 5, barrier: 8 };

  it('keeps a plain counter exact under 4 workers, and names the holder as owner', async () => {
    const words = controlWords();
    const workers = 4;
    const iters = 20_000;
    const runs = Array.from({ length: workers }, () =>
      spawn<{ waited: number; wrongOwner: number }>('sync-mutex.mjs', {
        role: 'count',
        words,
        L,
        iters,
        parties: workers,
      }),
    );
    const results = await Promise.all(runs.map((r) => r.result));
    expect(words[L.counter]).toBe(workers * iters);
    for (const r of results) expect(r.wrongOwner).toBe(0);
    expect(mutexOwner(words, L.lock)).toBe(-1);
    expect(words[L.waiters]).toBe(0);
  });

  it('records its owner, refuses tryLock while held, and is free after unlock (one thread)', () => {
    const words = controlWords();
    expect(mutexOwner(words, L.lock)).toBe(-1);
    expect(mutexLock(words, L.lock, L.waiters, 7)).toBe(true);
    expect(mutexOwner(words, L.lock)).toBe(7);
    expect(mutexTryLock(words, L.lock, 9)).toBe(false);
    expect(mutexOwner(words, L.lock)).toBe(7);
    mutexUnlock(words, L.lock, L.waiters);
    expect(mutexOwner(words, L.lock)).toBe(-1);
    expect(mutexTryLock(words, L.lock, 0)).toBe(true);
    expect(mutexOwner(words, L.lock)).toBe(0);
    mutexUnlock(words, L.lock, L.waiters);
  });

  it('blocks a second thread while a first holds it, shows the holder as owner, and hands over on unlock', async () => {
    const words = controlWords();
    const holder = spawn<{ took: boolean; ownerSeen: number }>('sync-mutex.mjs', { role: 'hold', words, L });
    const waiter = spawn<{ tryWhileHeld: boolean; immediate: boolean; ownerSeen: number }>('sync-mutex.mjs', {
      role: 'wait',
      words,
      L,
    });
    waitUntil(words, L.phase, 1); // the holder has it
    expect(mutexOwner(words, L.lock)).toBe(holder.threadId);
    waitUntil(words, L.waitPhase, 1); // the waiter is about to block on it
    // The waiter counts itself in the waiters word once it gives up spinning.
    // Nobody notifies that word, so poll it (bounded), then release.
    pollUntil(words, L.waiters, 1);
    expect(mutexOwner(words, L.lock)).toBe(holder.threadId);
    signal(words, L.phase, 2); // release
    const [h, w] = await Promise.all([holder.result, waiter.result]);
    expect(h).toEqual({ took: true, ownerSeen: holder.threadId });
    expect(w.tryWhileHeld).toBe(false);
    expect(w.immediate).toBe(false); // it had to wait: the map counts these as lock waits
    expect(w.ownerSeen).toBe(waiter.threadId);
    expect(mutexOwner(words, L.lock)).toBe(-1);
  });
});

describe('barrier', () => {
  it('releases all parties only when all arrived, tells exactly one per round it was last, and is reusable', async () => {
    const rounds = 50;
    const parties = 4;
    const L = { barrier: 0, arrivals: 2, leaders: 2 + rounds };
    const words = controlWords(2 + 2 * rounds);
    const runs = Array.from({ length: parties }, () =>
      spawn<{ early: number; last: number }>('sync-barrier.mjs', { words, L, parties, rounds }),
    );
    const results = await Promise.all(runs.map((r) => r.result));
    for (const r of results) expect(r.early).toBe(0);
    expect(results.reduce((s, r) => s + r.last, 0)).toBe(rounds);
    for (let r = 0; r < rounds; r++) {
      expect(words[L.arrivals + r]).toBe(parties);
      expect(words[L.leaders + r]).toBe(1);
    }
    expect(words[L.barrier]).toBe(0); // arrival count reset for the next round
    expect(words[L.barrier + 1]).toBe(rounds); // one generation per round
  });

  it('throws after its timeout when a party never arrives', () => {
    const words = controlWords(BARRIER_WORDS);
    expect(() => barrierWait(words, 0, 2, 20)).toThrow(/timed out/);
  });

  it('lets a single party straight through', () => {
    const words = controlWords(BARRIER_WORDS);
    expect(barrierWait(words, 0, 1)).toBe(true);
    expect(barrierWait(words, 0, 1)).toBe(true);
  });
});

describe('semaphore', () => {
  it('never lets more than `permits` threads in at once, and gives every permit back', async () => {
    const L = { permits: 0, inside: 1, maxInside: 2, entries: 3, barrier: 4 };
    const words = controlWords();
    const permits = 2;
    const parties = 6;
    const rounds = 200;
    words[L.permits] = permits;
    const runs = Array.from({ length: parties }, () =>
      spawn<{ timeouts: number }>('sync-semaphore.mjs', { role: 'limit', words, L, rounds, permits, parties }),
    );
    const results = await Promise.all(runs.map((r) => r.result));
    for (const r of results) expect(r.timeouts).toBe(0);
    expect(words[L.entries]).toBe(parties * rounds);
    expect(words[L.maxInside]).toBeGreaterThanOrEqual(1);
    expect(words[L.maxInside]).toBeLessThanOrEqual(permits);
    expect(words[L.inside]).toBe(0);
    expect(words[L.permits]).toBe(permits);
  });

  it('counts permits in one thread: tryAcquire fails at zero, acquire times out, release gives back', () => {
    const words = controlWords(1);
    words[0] = 2;
    expect(semaphoreTryAcquire(words, 0)).toBe(true);
    expect(semaphoreAcquire(words, 0, 100)).toBe(true);
    expect(semaphoreTryAcquire(words, 0)).toBe(false);
    expect(semaphoreAcquire(words, 0, 10)).toBe(false);
    semaphoreRelease(words, 0, 2);
    expect(words[0]).toBe(2);
  });

  it('wakes a thread blocked on an empty semaphore when a permit is given back', async () => {
    const L = { permits: 0, phase: 1 };
    const words = controlWords();
    words[L.permits] = 0;
    const run = spawn<{ tryWhenEmpty: boolean; got: boolean }>('sync-semaphore.mjs', { role: 'block', words, L });
    waitUntil(words, L.phase, 1);
    semaphoreRelease(words, L.permits);
    expect(await run.result).toEqual({ tryWhenEmpty: false, got: true });
    expect(words[L.permits]).toBe(0);
  });
});

describe('seqlock helpers', () => {
  it('reports odd windows as unreadable and any write as invalidating a read', () => {
    const words = controlWords(1);
    const s0 = seqReadBegin(words, 0);
    expect(s0).toBe(0);
    expect(seqReadValid(words, 0, s0)).toBe(true);
    expect(seqWriteBegin(words, 0)).toBe(1);
    expect(seqReadBegin(words, 0)).toBe(-1);
    expect(seqReadValid(words, 0, s0)).toBe(false);
    expect(seqWriteEnd(words, 0)).toBe(2);
    expect(seqReadValid(words, 0, s0)).toBe(false);
    expect(seqReadBegin(words, 0)).toBe(2);
  });
});

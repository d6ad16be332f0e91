/**
 * Synchronization primitives over `Int32Array` words that live anywhere in a
 * shared buffer: a mutex that records its owner, seqlock helpers, a barrier
 * and a counting semaphore.
 *
 * All of them are plain functions over (array, index) pairs rather than
 * objects, so a word inside the map's buffer (a shard's lock, a shard's seq)
 * is used in place, and the hot paths allocate nothing.
 *
 * Memory ordering: every `Atomics` operation is sequentially consistent. A
 * lock acquired with `Atomics.compareExchange` and released with
 * `Atomics.store` orders every plain access made while holding it before the
 * next owner's accesses (the release store and the next owner's CAS are both
 * SC operations on the same word).
 *
 * Why `Atomics.wait` and not a message: a waiting thread parks in the kernel
 * on the word's address (a futex) and is woken by `Atomics.notify` from the
 * unlocking thread in a few microseconds; no event loop turn, no copy.
 * `Atomics.wait` is allowed on Node's main thread too.
 */

/**
 * Whether plain typed-array loads are kept in order with each other by both
 * V8 and the CPU: true on x86-64 (TSO: loads are not reordered with loads;
 * V8 keeps typed-array loads on its effect chain in program order). The map
 * then loads a seq word with a plain read where the first load of a seqlock
 * read would otherwise be an `Atomics.load` (~10-20 ns each on Node 20 here).
 * On ARM64 a later plain load may be satisfied first, so it is false there.
 */
export const PLAIN_LOADS_ORDERED = process.arch === 'x64';

/** Spins before a contended lock parks. A lock is held for one short map operation (~50-200 ns), so a short spin usually wins it. */
export const LOCK_SPINS = 64;

/** The value of a free lock word. A held lock word holds its owner's id + 1. */
export const UNLOCKED = 0;

/**
 * Mutex word layout: `[lockI32]` holds 0 (free) or owner + 1, written by
 * `Atomics.compareExchange` (lock) and `Atomics.store` (unlock);
 * `[waitersI32]` counts threads parked or about to park, written with
 * `Atomics.add` / `Atomics.sub`.
 *
 * Returns true when the lock was taken at once, false when the caller had to
 * wait (the map counts those as lock waits).
 */
export function mutexLock(words: Int32Array, lockI32: number, waitersI32: number, owner: number): boolean {
  return mutexLockLooking(words, lockI32, waitersI32, owner, undefined);
}

/**
 * @internal `mutexLock` whose parked waiter, when `look` is given, waits in
 * slices of `sliceMs` and after each hands `look` the holder's owner id
 * (the allocator looks whether the holder's thread is gone and recovers
 * it, which frees the lock: alloc.ts). Without `look`, `mutexLock` itself.
 */
export function mutexLockLooking(
  words: Int32Array,
  lockI32: number,
  waitersI32: number,
  owner: number,
  look: { sliceMs: number; holder: (owner: number) => void } | undefined,
): boolean {
  const me = owner + 1;
  if (Atomics.compareExchange(words, lockI32, UNLOCKED, me) === UNLOCKED) return true;
  for (let i = 0; i < LOCK_SPINS; i++) {
    if (
      Atomics.load(words, lockI32) === UNLOCKED &&
      Atomics.compareExchange(words, lockI32, UNLOCKED, me) === UNLOCKED
    ) {
      return false;
    }
  }
  Atomics.add(words, waitersI32, 1);
  try {
    for (;;) {
      const seen = Atomics.compareExchange(words, lockI32, UNLOCKED, me);
      if (seen === UNLOCKED) break;
      // Sleeps only while the word still holds `seen`: an unlock between the
      // CAS and the wait makes the wait return at once ("not-equal").
      const woke = Atomics.wait(words, lockI32, seen, look?.sliceMs);
      if (woke === 'timed-out' && look !== undefined) look.holder(seen - 1);
    }
  } finally {
    Atomics.sub(words, waitersI32, 1);
  }
  return false;
}

/** Takes the lock only if it is free. */
export function mutexTryLock(words: Int32Array, lockI32: number, owner: number): boolean {
  return Atomics.compareExchange(words, lockI32, UNLOCKED, owner + 1) === UNLOCKED;
}

/** Releases the lock; wakes one parked thread if any. Precondition: the caller holds it. */
export function mutexUnlock(words: Int32Array, lockI32: number, waitersI32: number): void {
  Atomics.store(words, lockI32, UNLOCKED);
  if (Atomics.load(words, waitersI32) > 0) Atomics.notify(words, lockI32, 1);
}

/** The owner id holding the lock, or -1 when it is free. */
export function mutexOwner(words: Int32Array, lockI32: number): number {
  return Atomics.load(words, lockI32) - 1;
}

// ---------------------------------------------------------------------------
// Seqlock. The seq word is even when the protected data is stable and odd
// while a writer changes it. Writers (holding the lock that guards the data)
// bump it to odd, write, and bump it to even; readers load it before and after
// reading and retry when it was odd or changed.

/** Writer: enter the odd window. Precondition: the caller holds the data's lock. Returns the new (odd) seq. */
export function seqWriteBegin(words: Int32Array, seqI32: number): number {
  return Atomics.add(words, seqI32, 1) + 1;
}

/** Writer: leave the odd window. Returns the new (even) seq. */
export function seqWriteEnd(words: Int32Array, seqI32: number): number {
  return Atomics.add(words, seqI32, 1) + 1;
}

/** Reader: the seq to validate against, or -1 while a write is in progress. */
export function seqReadBegin(words: Int32Array, seqI32: number): number {
  const s = Atomics.load(words, seqI32);
  return (s & 1) === 0 ? s : -1;
}

/** Reader: true when what was read since `seqReadBegin` returned `seen` is consistent. */
export function seqReadValid(words: Int32Array, seqI32: number, seen: number): boolean {
  return Atomics.load(words, seqI32) === seen;
}

// ---------------------------------------------------------------------------
// Barrier: `parties` threads wait until all have arrived, then all go on; it
// can be reused. Words: [countI32] arrivals in this round (Atomics.add),
// [generationI32] bumped by the last arrival (Atomics.add) to release the rest.

/** Size of a barrier in Int32 words. */
export const BARRIER_WORDS = 2;

/**
 * Waits until `parties` threads have called this for the same round. Returns
 * true in exactly one thread per round (the last to arrive). `timeoutMs`
 * bounds each wait; on timeout it throws, so a missing party cannot hang a test.
 */
export function barrierWait(words: Int32Array, baseI32: number, parties: number, timeoutMs = Infinity): boolean {
  const countI32 = baseI32;
  const genI32 = baseI32 + 1;
  const gen = Atomics.load(words, genI32);
  const arrived = Atomics.add(words, countI32, 1) + 1;
  if (arrived === parties) {
    Atomics.store(words, countI32, 0);
    Atomics.add(words, genI32, 1);
    Atomics.notify(words, genI32);
    return true;
  }
  const deadline = timeoutMs === Infinity ? Infinity : Date.now() + timeoutMs;
  while (Atomics.load(words, genI32) === gen) {
    const left = deadline - Date.now();
    if (left <= 0)
      throw new Error(
        `barrier: timed out after ${timeoutMs} ms with ${Atomics.load(words, countI32)} of ${parties} arrived`,
      );
    Atomics.wait(words, genI32, gen, left === Infinity ? undefined : left);
  }
  return false;
}

// ---------------------------------------------------------------------------
// Counting semaphore over one word holding the number of permits left
// (Atomics.compareExchange to take, Atomics.add to give).

/** Takes one permit, waiting up to `timeoutMs`. Returns false on timeout. */
export function semaphoreAcquire(words: Int32Array, i32: number, timeoutMs = Infinity): boolean {
  const deadline = timeoutMs === Infinity ? Infinity : Date.now() + timeoutMs;
  for (;;) {
    const n = Atomics.load(words, i32);
    if (n > 0) {
      if (Atomics.compareExchange(words, i32, n, n - 1) === n) return true;
      continue;
    }
    const left = deadline - Date.now();
    if (left <= 0) return false;
    Atomics.wait(words, i32, n, left === Infinity ? undefined : left);
  }
}

/** Takes one permit if one is free, without waiting. */
export function semaphoreTryAcquire(words: Int32Array, i32: number): boolean {
  for (;;) {
    const n = Atomics.load(words, i32);
    if (n <= 0) return false;
    if (Atomics.compareExchange(words, i32, n, n - 1) === n) return true;
  }
}

/** Gives back `count` permits and wakes as many waiters. */
export function semaphoreRelease(words: Int32Array, i32: number, count = 1): void {
  Atomics.add(words, i32, count);
  Atomics.notify(words, i32, count);
}

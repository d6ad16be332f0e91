/**
 * A global readers-writer lock outside the map: how an application "stops
 * the world" around a range + delete (the map has no public "lock every
 * shard", and holding its shard locks from outside would make its own
 * `delete` throw RecursiveUpdateError).
 *
 * Two Int32 words of a SharedArrayBuffer the caller owns, at `at` and `at + 1`:
 *
 *   readers (at)      threads inside a shared section. Written by every
 *                     shared holder with Atomics.add / Atomics.sub; the
 *                     exclusive taker parks on it until it reads 0.
 *   writer  (at + 1)  0 = free, 1 = an exclusive taker wants or holds the
 *                     world. Taken with Atomics.compareExchange (0 -> 1) so
 *                     two exclusive takers never both enter; released with
 *                     Atomics.store + notify. Shared takers park on it.
 *
 * Shared holders do not block each other; what the lock costs them is two
 * atomic read-modify-writes on one shared word per section, and the wait
 * while an exclusive section runs. Sections must be synchronous: a holder
 * that awaits inside one would hold the world across an event-loop turn.
 * Used by `bench cleanup` (stop-the-world) and `serve` (stop-the-world, and
 * the writers' gate of `rebuild`).
 */

/** Words the lock takes at `at`. */
export const WORLD_LOCK_WORDS = 2;

/** Enters a shared section, waiting while an exclusive taker wants or holds the world. */
export function enterShared(words: Int32Array, at: number): void {
  const writer = at + 1;
  for (;;) {
    if (Atomics.load(words, writer) !== 0) {
      Atomics.wait(words, writer, 1);
      continue;
    }
    Atomics.add(words, at, 1);
    if (Atomics.load(words, writer) === 0) return;
    // An exclusive taker came in between: back out (waking it if we were the last) and wait.
    exitShared(words, at);
  }
}

/** Leaves a shared section; the last one out wakes an exclusive taker. */
export function exitShared(words: Int32Array, at: number): void {
  if (Atomics.sub(words, at, 1) === 1 && Atomics.load(words, at + 1) !== 0) Atomics.notify(words, at);
}

/** Takes the world exclusively: no new shared section starts, and this waits until none is running. */
export function stopTheWorld(words: Int32Array, at: number): void {
  const writer = at + 1;
  while (Atomics.compareExchange(words, writer, 0, 1) !== 0) Atomics.wait(words, writer, 1, 10);
  for (;;) {
    const r = Atomics.load(words, at);
    if (r === 0) return;
    Atomics.wait(words, at, r, 1);
  }
}

/** Gives the world back and wakes every waiting thread. */
export function resumeTheWorld(words: Int32Array, at: number): void {
  Atomics.store(words, at + 1, 0);
  Atomics.notify(words, at + 1);
}

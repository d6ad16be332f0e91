/**
 * TTL entries and their sweepers.
 *
 * A map created with `ttl: true` keeps an expiry per entry (a float64 in the
 * slot, ms on the shared clock; +Infinity = never). An expired entry is
 * absent to every read at once — `get`, `has`, iteration, `snapshot`,
 * `sweep` — and its slot is reclaimed by `map.sweepExpired()`, which a
 * sweeper runs now and then: `startSweeper` on a timer in the calling
 * thread, or `src/workers/sweeper` on a thread of its own.
 *
 * The shared clock is `performance.timeOrigin + performance.now()`: the
 * monotonic clock of this process, in ms since the epoch. On Node 20 every
 * worker thread has the main thread's `timeOrigin` and counts `now()` from
 * it (checked here: workers started 150 ms apart had the same origin, and a
 * worker woken by Atomics.notify always stamped after the notifier), so an
 * expiry written by one thread means the same instant to every other.
 * Across processes it is not shared: one map lives in one process.
 */
import type { SharedMap } from '../map.js';
import { sharedNow } from '../conflict-log.js';
import { InvalidOptionError } from '../errors.js';

export { sharedNow };

export interface SweeperOptions {
  /** How often to sweep, in ms. */
  intervalMs: number;
  /** Called after each sweep with how many entries it reclaimed. */
  onSweep?: (removed: number) => void;
}

/**
 * Runs `map.sweepExpired()` every `intervalMs` in the calling thread (an
 * unref'd timer: it does not keep the process alive). Returns the function
 * that stops it.
 */
export function startSweeper(map: SharedMap<unknown, unknown>, options: SweeperOptions): () => void {
  const { intervalMs, onSweep } = options ?? ({} as SweeperOptions);
  if (typeof intervalMs !== 'number' || !(intervalMs > 0) || intervalMs === Infinity) {
    throw new InvalidOptionError(
      `startSweeper: options.intervalMs must be a positive number of milliseconds, got ${String(intervalMs)}`,
    );
  }
  if (!map.ttl) throw new InvalidOptionError('startSweeper needs a map created with { ttl: true }');
  const timer = setInterval(() => {
    const removed = map.sweepExpired();
    onSweep?.(removed);
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}

/**
 * The stop switch of a sweeper (or drainer) thread, and the sweeper's shared
 * state: a small SharedArrayBuffer of its own, so that a sweeper thread that
 * dies (terminated, aborted) can be replaced by a new one started with the
 * same switch, which resumes: stop requests reach it, and its counts go on
 * from the dead one's. Words (Int32 index / BigInt64 index):
 *  - STOP_I32: 0 = run, 1 = stop. The owner sets it with `Atomics.store` and
 *    wakes the thread with `Atomics.notify`, so a thread parked between
 *    sweeps stops at once instead of after its interval.
 *  - RUNNING_I32: threadId + 1 of the sweeper thread that started last, 0
 *    when it stopped normally. Written by the sweeper (`Atomics.store`).
 *  - THREADS_I32: sweeper threads started with this switch (`Atomics.add`).
 *  - SWEEPS_I64, REMOVED_I64: sweeps run and entries removed by all of them
 *    (`Atomics.add` after each sweep; a thread killed inside a sweep does not
 *    count that sweep, though the entries it removed stay removed).
 */
export interface StopSwitch {
  readonly buffer: SharedArrayBuffer;
}

const STOP_I32 = 0;
const RUNNING_I32 = 1;
const THREADS_I32 = 2;
const SWEEPS_I64 = 2;
const REMOVED_I64 = 3;
const SWITCH_BYTES = 32;

export function createStopSwitch(): StopSwitch {
  return { buffer: new SharedArrayBuffer(SWITCH_BYTES) };
}

export function requestStop(sw: StopSwitch): void {
  const w = new Int32Array(sw.buffer);
  Atomics.store(w, STOP_I32, 1);
  Atomics.notify(w, STOP_I32);
}

/** Parks up to `ms` unless a stop is requested; returns true when it was. */
export function waitForStop(sw: StopSwitch, ms: number): boolean {
  const w = new Int32Array(sw.buffer);
  if (Atomics.load(w, STOP_I32) === 1) return true;
  Atomics.wait(w, STOP_I32, 0, ms);
  return Atomics.load(w, STOP_I32) === 1;
}

/** What the sweeper threads of one switch did together. */
export interface SweeperTotals {
  /** Sweeps finished, by every sweeper thread of this switch. */
  sweeps: number;
  /** Entries they removed. */
  removed: number;
  /** Sweeper threads started with this switch (more than 1 after a replacement). */
  threads: number;
  /** threadId of the sweeper thread running now, or undefined when none started or the last one stopped normally. */
  running: number | undefined;
}

export function sweeperTotals(sw: StopSwitch): SweeperTotals {
  const w = new Int32Array(sw.buffer);
  if (sw.buffer.byteLength < SWITCH_BYTES) return { sweeps: 0, removed: 0, threads: 0, running: undefined };
  const big = new BigInt64Array(sw.buffer);
  const running = Atomics.load(w, RUNNING_I32);
  return {
    sweeps: Number(Atomics.load(big, SWEEPS_I64)),
    removed: Number(Atomics.load(big, REMOVED_I64)),
    threads: Atomics.load(w, THREADS_I32),
    running: running === 0 ? undefined : running - 1,
  };
}

/**
 * Runs `sweep` every `intervalMs` in the calling thread (blocking it) until
 * a stop is requested on `sw`, then once more, and returns the totals of
 * every sweeper thread of `sw`. A thread that replaces a dead one resumes.
 * @internal The loop of src/workers/sweeper.ts.
 */
export function runSweeperLoop(sw: StopSwitch, intervalMs: number, sweep: () => number, me: number): SweeperTotals {
  const w = new Int32Array(sw.buffer);
  const big = new BigInt64Array(sw.buffer);
  Atomics.add(w, THREADS_I32, 1);
  Atomics.store(w, RUNNING_I32, me + 1);
  for (;;) {
    const removed = sweep();
    Atomics.add(big, REMOVED_I64, BigInt(removed));
    Atomics.add(big, SWEEPS_I64, 1n);
    if (waitForStop(sw, intervalMs)) break;
  }
  Atomics.compareExchange(w, RUNNING_I32, me + 1, 0);
  return sweeperTotals(sw);
}

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
 * The stop switch of a sweeper (or drainer) thread: one Int32 word in a
 * SharedArrayBuffer of its own. 0 = run, 1 = stop; the owner sets it with
 * Atomics.store and wakes the thread with Atomics.notify, so a thread parked
 * between sweeps stops at once instead of after its interval.
 */
export interface StopSwitch {
  readonly buffer: SharedArrayBuffer;
}

export function createStopSwitch(): StopSwitch {
  return { buffer: new SharedArrayBuffer(4) };
}

export function requestStop(sw: StopSwitch): void {
  const w = new Int32Array(sw.buffer);
  Atomics.store(w, 0, 1);
  Atomics.notify(w, 0);
}

/** Parks up to `ms` unless a stop is requested; returns true when it was. */
export function waitForStop(sw: StopSwitch, ms: number): boolean {
  const w = new Int32Array(sw.buffer);
  if (Atomics.load(w, 0) === 1) return true;
  Atomics.wait(w, 0, 0, ms);
  return Atomics.load(w, 0) === 1;
}

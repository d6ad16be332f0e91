import { sharedNow } from '../../src/shm/patterns/ttl.js';

/**
 * Polls `cond` until it holds, or fails after `timeoutMs` naming `what` it
 * waited for. The one poll-until of the tests: the bound is generous (a loaded
 * machine is slow, never wrong), so it only fires when the awaited thing can
 * no longer happen.
 */
export async function until(
  cond: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 20_000,
  stepMs = 2,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, stepMs));
  }
}

/** `until` for a bounded wait that may end either way (a negative control): true if `cond` came to hold within `boundMs`. */
export async function within(cond: () => boolean | Promise<boolean>, boundMs: number): Promise<boolean> {
  try {
    await until(cond, 'the condition', boundMs);
    return true;
  } catch {
    return false;
  }
}

const pause = new Int32Array(new SharedArrayBuffer(4));

/** `until` for synchronous tests: re-checks `cond` every millisecond (blocking this thread), bounded the same way. */
export function untilSync(cond: () => boolean, what: string, timeoutMs = 20_000): void {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    Atomics.wait(pause, 0, 0, 1);
  }
}

/** Waits (blocking, bounded) until the shared clock of the TTL code is past `t`. */
export function untilClockPast(t: number, timeoutMs = 20_000): void {
  untilSync(() => sharedNow() > t, `the shared clock to pass ${t}`, timeoutMs);
}

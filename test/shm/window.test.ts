/**
 * src/shm/window.ts: the unlock on x86-64 frees a lock nobody announced a
 * park on with a plain load and a plain store, so a waiter that announces
 * itself (LOCK_WAITERS) between the two has its bit overwritten and is not
 * notified. It must still take the lock: it waits in slices of at most
 * WAIT_SLICE_MS and looks again. Here the test holds a shard's lock, a
 * writer thread parks on it, and the test frees the lock as that unlock
 * would, without a notify. Negative control: with one unbounded wait (the
 * slice set to Infinity) the writer sleeps on (the map's lockTimeoutMs is
 * 10 minutes).
 */
import { describe, expect, it } from 'vitest';
import { setTimeout as sleep } from 'node:timers/promises';
import { SharedMap } from '../../src/index.js';
import { D_LOCK, H_SHARDS_OFF, shardI32 } from '../../src/shm/layout.js';
import { LOCK_WAITERS } from '../../src/shm/window.js';
import { requireDist, spawn } from './support.js';
import { until } from '../helpers/until.js';

requireDist();

/** A lock word value of a thread that is not running: the test holds the lock in its name. */
const HOLDER = 1_000_000 + 1;

/** Returns whether the parked writer took the lock and set its key after the lock was freed without a notify. */
async function writerAfterLostWakeup(slice: number | undefined): Promise<boolean> {
  const map = SharedMap.create<number, number>({ key: 'int32', value: 'float64', shards: 1, lockTimeoutMs: 600_000 });
  const i32 = new Int32Array(map.handle.buffer);
  const lock = shardI32(i32[H_SHARDS_OFF]!, 0) + D_LOCK;
  Atomics.store(i32, lock, HOLDER);
  const run = spawn<{ done: boolean }>('map-lock-waiter.mjs', { handle: map.handle, key: 7, slice }, 120_000);
  run.result.catch(() => {}); // terminated below when it never takes the lock
  await until(() => Atomics.load(i32, lock) === (HOLDER | LOCK_WAITERS), 'the writer to announce its park');
  // Gives it time to be asleep in Atomics.wait (were it not yet, its wait would return at once and the
  // negative control could not show anything; the first case passes either way).
  await sleep(500);
  Atomics.store(i32, lock, 0); // freed as a plain unlock that overwrote LOCK_WAITERS: no notify
  const done = await Promise.race([
    run.result.then((r) => r.done),
    sleep(slice === undefined ? 60_000 : 2_000).then(() => false),
  ]);
  await run.worker.terminate();
  expect(map.get(7)).toBe(done ? 1.5 : undefined);
  return done;
}

describe('window: a waiter whose announcement an unlock overwrote', () => {
  it('still takes the lock (it waits in slices) and writes', async () => {
    expect(await writerAfterLostWakeup(undefined)).toBe(true);
  });

  it('negative control: with one unbounded wait it sleeps on', async () => {
    expect(await writerAfterLostWakeup(Infinity)).toBe(false);
  });
});

/**
 * A thread killed inside `forEach` holds no lock, but its registration in
 * H_ITERATING makes every later write pay one more `Atomics` operation
 * (a bump of H_ITER_WRITES) for an iteration nobody runs. Recovery (by hand
 * or by `watch`) gives it back, as does a thread that takes over the thread
 * table entry of a thread that is gone. Negative control: recovery that
 * keeps the registration leaves writes bumping.
 */
import { describe, expect, it, afterEach } from 'vitest';
import { SharedMap, checkInvariants } from '../../src/index.js';
import { recoveryTestSwitch } from '../../src/shm/recover.js';
import {
  H_ITERATING,
  H_ITER_WRITES,
  H_THREADS_CAP,
  H_THREADS_OFF,
  T_ITERATING,
  T_OWNER,
  T_TID,
  threadEntryI32,
} from '../../src/shm/layout.js';
import { controlWords, DEATH_WORDS, parkInOp, requireDist, spawn } from './support.js';
import { until } from '../helpers/until.js';

requireDist();

const W = DEATH_WORDS;

type AnyMap = SharedMap<number, number>;

function makeMap(): AnyMap {
  const map = SharedMap.create<number, number>({ shards: 4, capacity: 64, seed: 7 });
  for (let k = 0; k < 8; k++) map.set(k, k);
  return map;
}

const header = (map: AnyMap) => new Int32Array(map.handle.buffer);

/** Writes bumped H_ITER_WRITES during `set`? (i.e. some forEach is registered.) */
function writesPayForIteration(map: AnyMap): boolean {
  const i32 = header(map);
  const before = Atomics.load(i32, H_ITER_WRITES);
  map.set(1, 100);
  return Atomics.load(i32, H_ITER_WRITES) !== before;
}

/** A worker parked inside forEach's callback (registered, holding no lock). */
const parkInForEach = (map: AnyMap) => parkInOp(map.handle, 'forEach', '', [0]);

afterEach(() => {
  recoveryTestSwitch.mode = 'on';
});

describe('a thread killed inside forEach', () => {
  it('map.recover gives its registration back: writes stop paying for it', async () => {
    const map = makeMap();
    const w = await parkInForEach(map);
    expect(Atomics.load(header(map), H_ITERATING)).toBe(1);
    expect(writesPayForIteration(map)).toBe(true);
    await w.worker.terminate();
    const report = map.recover(w.threadId);
    expect(report.iterations).toBe(1);
    expect(report.shards).toEqual([]); // it held no lock
    expect(Atomics.load(header(map), H_ITERATING)).toBe(0);
    expect(writesPayForIteration(map)).toBe(false);
    // Iteration works as before, and a second recover finds nothing.
    let n = 0;
    map.forEach(() => n++);
    expect(n).toBe(8);
    expect(map.recover(w.threadId).iterations).toBe(0);
    checkInvariants(map);
  });

  it('negative control — recovery that keeps the registration leaves every write paying', async () => {
    recoveryTestSwitch.mode = 'keep-iterations';
    const map = makeMap();
    const w = await parkInForEach(map);
    await w.worker.terminate();
    expect(map.recover(w.threadId).iterations).toBe(0);
    expect(Atomics.load(header(map), H_ITERATING)).toBe(1);
    expect(writesPayForIteration(map)).toBe(true);
  });

  it('map.watch gives it back on the thread exit, by itself', async () => {
    const map = makeMap();
    const w = await parkInForEach(map);
    const stop = map.watch(w.worker);
    try {
      void w.worker.terminate();
      await until(
        () => Atomics.load(header(map), H_ITERATING) === 0,
        'the watch to give the registration back',
        20_000,
      );
      expect(writesPayForIteration(map)).toBe(false);
    } finally {
      stop();
    }
  });
});

describe.skipIf(process.platform !== 'linux' || process.arch !== 'x64')('the thread table', () => {
  it('a thread that takes over the entry of a gone thread (table full) gives back its registrations first', async () => {
    const map = makeMap();
    const i32 = header(map);
    const off = i32[H_THREADS_OFF]!;
    const cap = i32[H_THREADS_CAP]!;
    // Fill every entry but this thread's with threads that are gone (a kernel thread id no
    // process has: over pid_max), each killed inside forEach (one registration each).
    const entries = Array.from({ length: cap }, (_, e) => threadEntryI32(off, e));
    const ghosts = entries.filter((at) => Atomics.load(i32, at + T_OWNER) !== map.thread + 1);
    expect(ghosts).toHaveLength(cap - 1);
    for (const [e, at] of ghosts.entries()) {
      Atomics.store(i32, at + T_TID, 999_999_999);
      Atomics.store(i32, at + T_ITERATING, 1);
      Atomics.store(i32, at + T_OWNER, 100_000 + e);
    }
    Atomics.add(i32, H_ITERATING, ghosts.length);
    // A new thread attaches: no free entry, so it takes a gone thread's, giving its registration back.
    const words = controlWords();
    const run = spawn<{ ok?: boolean }>('map-death.mjs', {
      map: map.handle,
      words,
      W,
      op: 'wait-set',
      key: 50,
      value: 5,
    });
    expect(await run.result).toEqual({ ok: true, value: 5 });
    const taken = entries.filter((at) => Atomics.load(i32, at + T_OWNER) === run.threadId + 1);
    expect(taken).toHaveLength(1);
    expect(ghosts).toContain(taken[0]);
    expect(Atomics.load(i32, taken[0]! + T_TID)).not.toBe(999_999_999);
    expect(Atomics.load(i32, taken[0]! + T_ITERATING)).toBe(0);
    expect(Atomics.load(i32, H_ITERATING)).toBe(ghosts.length - 1);
  });
});

/**
 * A thread waiting for a shard lock whose holder was terminated recovers the
 * holder itself, with no `watch` and no 'exit' event (src/shm/liveness.ts):
 * the main thread writing synchronously right after `terminate()`, and a
 * waiting worker. A live holder is never taken for dead, nor a holder the
 * thread table does not know. Negative controls: with the look switched off
 * the synchronous write waits out the lock timeout; a checker that calls
 * every holder dead is caught recovering a live one.
 *
 * The allocator's lock too: a thread terminated while it held it (inside a
 * growth) is recovered by the next thread that waits for it, itself holding
 * another shard's lock; negative control: without the look, that waiter
 * stays stuck until someone calls `recover`.
 */
import { describe, expect, it, afterEach } from 'vitest';
import { SharedMap, checkInvariants, LockTimeoutError } from '../../src/index.js';
import { livenessTestSwitch } from '../../src/shm/liveness.js';
import { D_LOCK, H_ALLOC_LOCK, H_ALLOC_WAITERS, H_SHARDS_OFF, shardI32 } from '../../src/shm/layout.js';
import { controlWords, DEATH_WORDS, parkInOp, requireDist, spawn, thrown } from './support.js';
import { until } from '../helpers/until.js';

requireDist();

const W = DEATH_WORDS;
const DIED = 'thread died holding a shard lock';

type AnyMap = SharedMap<number, number>;

/** One shard, keys 0..7 set to k * 10 + 2 (the parked writer writes k * 10 + 1). */
function makeMap(lockTimeoutMs: number): AnyMap {
  const map = SharedMap.create<number, number>({ shards: 1, capacity: 64, seed: 7, lockTimeoutMs });
  for (let k = 0; k < 8; k++) map.set(k, k * 10 + 2);
  return map;
}

/** A worker that parks inside its overwrite of key 3, holding the shard's lock; resolves once it has parked. */
const parkOverwrite = (map: AnyMap) => parkInOp(map.handle, 'set', 'set:overwrite', [3]);

const died = (map: AnyMap) => map.conflicts().filter((r) => r.kind === DIED);

afterEach(() => {
  livenessTestSwitch.mode = 'on';
});

describe.skipIf(process.platform !== 'linux' || process.arch !== 'x64')('a lock holder that is gone', () => {
  it('the main thread writing right after terminate() (no watch, no event turn) recovers it and writes', async () => {
    const map = makeMap(60_000);
    const w = await parkOverwrite(map);
    void w.worker.terminate();
    w.result.catch(() => {});
    // Synchronously: no 'exit' event can be delivered before this returns.
    map.set(3, 333);
    map.set(100, 1);
    expect(map.get(3)).toBe(333);
    const records = died(map);
    expect(records).toHaveLength(1);
    expect(records[0]!.other.thread).toBe(w.threadId);
    expect(records[0]!.other.op).toBe('set');
    expect(records[0]!.detector.thread).toBe(map.thread);
    checkInvariants(map);
    // Every other entry as before; the parked overwrite rolled back, then overwritten by ours.
    for (let k = 0; k < 8; k++) if (k !== 3) expect(map.get(k)).toBe(k * 10 + 2);
    expect(map.size).toBe(9);
    // A watcher's recover, when the event comes, finds nothing left.
    expect(map.recover(w.threadId).shards).toEqual([]);
  });

  it('negative control — without the look, the same write waits out lockTimeoutMs (LockTimeoutError) and changes nothing', async () => {
    livenessTestSwitch.mode = 'off';
    const map = makeMap(300);
    const w = await parkOverwrite(map);
    void w.worker.terminate();
    w.result.catch(() => {});
    const e = thrown(() => map.set(3, 333));
    expect(e).toBeInstanceOf(LockTimeoutError);
    expect((e as LockTimeoutError).ownerThread).toBe(w.threadId);
    expect(died(map)).toHaveLength(0);
    await w.worker.terminate();
    map.recover(w.threadId);
    expect(map.get(3)).toBe(32); // the parked overwrite, rolled back
    checkInvariants(map);
  });

  it('a waiting worker recovers it by itself, with nobody calling recover', async () => {
    const map = makeMap(60_000);
    const w = await parkOverwrite(map);
    const words = controlWords();
    const waiter = spawn<{ ok?: boolean; value?: number }>('map-death.mjs', {
      map: map.handle,
      words,
      W,
      op: 'wait-set',
      key: 3,
      value: 99,
      selfRecover: true,
    });
    await until(() => Atomics.load(words, W.waiting) !== 0, 'the waiter to start', 20_000);
    await w.worker.terminate();
    w.result.catch(() => {});
    expect(await waiter.result).toEqual({ ok: true, value: 99 });
    const records = died(map);
    expect(records).toHaveLength(1);
    expect(records[0]!.other.thread).toBe(w.threadId);
    expect(records[0]!.detector.thread).toBe(waiter.threadId);
    checkInvariants(map);
  });

  /** A live holder parked in its write; the main thread tries to write with a short lock timeout, then the holder goes on. */
  async function liveHolder() {
    const map = makeMap(200);
    const w = await parkOverwrite(map);
    let error: unknown;
    try {
      map.set(3, 333);
    } catch (e) {
      error = e;
    }
    const recovered = died(map).length;
    // Let the holder finish its write.
    Atomics.store(w.words, W.never, 1);
    Atomics.notify(w.words, W.never);
    await w.result.catch(() => undefined);
    await w.worker.terminate();
    return { map, error, recovered };
  }

  it('a live holder (parked inside its write for longer than the waiter waits) is not taken for dead', async () => {
    const { map, error, recovered } = await liveHolder();
    expect(error).toBeInstanceOf(LockTimeoutError);
    expect(recovered).toBe(0);
    expect(map.get(3)).toBe(31); // the holder's own write, finished after the timeout
    checkInvariants(map);
  });

  it('negative control — a checker that calls every holder dead is caught recovering the live one', async () => {
    livenessTestSwitch.mode = 'always-dead';
    const { error, recovered } = await liveHolder();
    expect(error).toBeUndefined(); // the write went ahead under the stolen lock
    expect(recovered).toBe(1);
  });

  it('a holder the thread table does not know (no entry) is waited for, not recovered', () => {
    const map = makeMap(100);
    const i32 = new Int32Array(map.handle.buffer);
    const lock = shardI32(i32[H_SHARDS_OFF]!, 0) + D_LOCK;
    Atomics.store(i32, lock, 1_000_000); // "held by thread 999,999", which never took a handle
    try {
      expect(thrown(() => map.set(3, 333))).toBeInstanceOf(LockTimeoutError);
      expect(died(map)).toHaveLength(0);
    } finally {
      Atomics.store(i32, lock, 0);
    }
    expect(map.get(3)).toBe(32);
    checkInvariants(map);
  });
});

describe.skipIf(process.platform !== 'linux' || process.arch !== 'x64')('the allocator lock’s holder gone', () => {
  /**
   * Two shards, little room: a worker sets keys until a shard grows, and is
   * parked inside the growth holding the allocator's lock (and that shard's
   * lock). Returns the map, the worker, that shard, and 300 keys of the other
   * shard (enough to make it grow too).
   */
  async function parkedInAllocator() {
    const map = SharedMap.create<number, number>({ shards: 2, capacity: 8, seed: 7, lockTimeoutMs: 60_000 });
    const w = await parkInOp(map.handle, 'set', 'alloc:held', range(0, 400));
    const i32 = new Int32Array(map.handle.buffer);
    expect(Atomics.load(i32, H_ALLOC_LOCK)).toBe(w.threadId + 1);
    const held = [0, 1].filter((s) => Atomics.load(i32, shardI32(i32[H_SHARDS_OFF]!, s) + D_LOCK) !== 0);
    expect(held).toHaveLength(1);
    const other = 1 - held[0]!;
    const keys: number[] = [];
    for (let k = 10_000; keys.length < 300; k++) if ((map.keyCodec.prepare(k) & map.shardMask) === other) keys.push(k);
    const before = map.stats().capacity;
    return { map, w, keys, before };
  }

  const range = (a: number, b: number) => Array.from({ length: b - a }, (_, i) => a + i);

  /** A worker that sets `keys` (growing their shard), looking for gone holders unless `look` is false; resolves once it runs. */
  async function grower(map: AnyMap, keys: number[], look: boolean) {
    const words = controlWords();
    const run = spawn<{ ok?: boolean; value?: number }>('map-death.mjs', {
      map: map.handle,
      words,
      W,
      op: 'wait-set',
      keys,
      value: 5,
      selfRecover: look,
    });
    await until(() => Atomics.load(words, W.waiting) !== 0, 'the grower to start', 20_000);
    return run;
  }

  // In a worker, not this thread: a regression would leave the waiter stuck
  // for good, which the test's timeout can end only outside this thread.
  it('a worker growing another shard recovers it by itself and grows', async () => {
    const { map, w, keys, before } = await parkedInAllocator();
    const done = Atomics.load(w.words, W.done);
    await w.worker.terminate();
    const g = await grower(map, keys, true);
    expect(await g.result).toEqual({ ok: true, value: keys.length });
    expect(map.stats().capacity).toBeGreaterThan(before);
    const records = died(map);
    expect(records).toHaveLength(1);
    expect(records[0]!.other.thread).toBe(w.threadId);
    expect(records[0]!.detector.thread).toBe(g.threadId);
    // The dead worker's sets before the growth stay; the one growing was rolled back.
    for (let k = 0; k < done; k++) expect(map.get(k)).toBe(k * 10 + 1);
    expect(map.get(done)).toBeUndefined();
    expect(map.size).toBe(done + keys.length);
    checkInvariants(map);
    expect(map.recover(w.threadId)).toMatchObject({ shards: [], allocator: false });
  });

  it('negative control — without the look, the same worker stays stuck until recover is called', async () => {
    const { map, w, keys } = await parkedInAllocator();
    await w.worker.terminate();
    const g = await grower(map, keys, false);
    let finished = false;
    void g.result.then(() => (finished = true));
    // It needs the allocator for its shard's growth; the holder is dead and nobody looks.
    const i32 = new Int32Array(map.handle.buffer);
    await until(() => Atomics.load(i32, H_ALLOC_WAITERS) === 1, 'the grower to wait for the allocator', 20_000);
    await new Promise((r) => setTimeout(r, 500));
    expect(finished).toBe(false);
    expect(map.recover(w.threadId).allocator).toBe(true);
    expect(await g.result).toEqual({ ok: true, value: keys.length });
    expect(died(map)[0]!.detector.thread).toBe(map.thread);
    checkInvariants(map);
  });
});

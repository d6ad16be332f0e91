/**
 * A thread that dies holding a shard lock: real worker threads parked at a
 * named point inside the odd-seq window (src/shm/window.ts back door), then
 * terminated. After `recover` (or `watch`), the map holds the write wholly or
 * not at all, its invariants hold, and a thread that was waiting for the
 * lock goes on. Negative controls: with recovery switched off the waiter
 * wedges (caught by the lock timeout), and a recovery that skips the undo
 * leaves a broken invariant that checkInvariants catches.
 */
import { describe, expect, it, afterEach } from 'vitest';
import { Piscina } from 'piscina';
import {
  SharedMap,
  checkInvariants,
  formatConflicts,
  LockTimeoutError,
  RecoveryError,
  onThreadDeath,
} from '../../src/index.js';
import type { RecoveryReport, SharedMapOptions } from '../../src/index.js';
import { recoveryTestSwitch } from '../../src/shm/recover.js';
import { freeBytes } from '../../src/shm/alloc.js';
import { regionBytes } from '../../src/shm/layout.js';
import { canonEntries, controlWords, requireDist, spawn, thrown } from './support.js';
import { testPath } from '../helpers/paths.js';
import { until } from '../helpers/until.js';

requireDist();

const W = { parked: 0, done: 1, never: 2, waiting: 3, pointHit: 4 };

type AnyMap = SharedMap<number, number>;

function makeMap(opts: SharedMapOptions = {}): AnyMap {
  return SharedMap.create<number, number>({ shards: 1, capacity: 64, seed: 7, ...opts });
}

function fill(map: AnyMap, keys: number[]): void {
  for (const k of keys) map.set(k, k * 10 + 1);
}

async function waitWord(words: Int32Array, i: number, what: string, timeoutMs = 20_000): Promise<void> {
  await until(() => Atomics.load(words, i) !== 0, what, timeoutMs);
}

/** Starts a writer that parks at `point` while running `op` over `keys`; resolves once it is parked (fails if it finished without parking). */
async function parkWriter(map: AnyMap, op: string, point: string, keys: number[]) {
  const words = controlWords();
  const run = spawn<{ done: number }>('map-death.mjs', { map: map.handle, words, W, op, point, keys });
  const finished = run.result.then((r) => `finished without reaching ${point} (done ${r.done})`);
  const parked = waitWord(words, W.parked, `${op} to park at ${point}`).then(() => 'parked');
  const outcome = await Promise.race([finished, parked]);
  expect(outcome).toBe('parked');
  run.result.catch(() => {}); // it is terminated without a result
  return { ...run, words, done: Atomics.load(words, W.done) };
}

/** A thread blocked on the shard's lock: sets `key` once the lock is free. */
function startWaiter(map: AnyMap, key: number) {
  const words = controlWords();
  return spawn<{ ok?: boolean; value?: number; error?: { code: string } }>('map-death.mjs', {
    map: map.handle,
    words,
    W,
    op: 'wait-set',
    key,
    value: 99,
  });
}

/** The model after the first `n` ops of `op` over `keys`, from `before`. */
function model(before: Map<number, number>, op: string, keys: number[], n: number): Map<number, number> {
  const m = new Map(before);
  for (const k of keys.slice(0, n)) {
    if (op === 'set') m.set(k, k * 10 + 1);
    else if (op === 'delete') m.delete(k);
    else if (op === 'add') m.set(k, (m.get(k) ?? 0) + 5);
    else if (op === 'update') m.set(k, (m.get(k) ?? 0) + 7);
  }
  return m;
}

afterEach(() => {
  recoveryTestSwitch.mode = 'on';
});

interface Case {
  name: string;
  op: string;
  point: string;
  setup: (map: AnyMap) => number[];
  opts?: SharedMapOptions;
  action: string;
}

const range = (a: number, b: number) => Array.from({ length: b - a }, (_, i) => a + i);

const cases: Case[] = [
  {
    name: 'set into EMPTY',
    op: 'set',
    point: 'set:empty',
    setup: (m) => (fill(m, range(0, 8)), [100, 101]),
    action: 'rolled back',
  },
  {
    name: 'set overwrite',
    op: 'set',
    point: 'set:overwrite',
    setup: (m) => (fill(m, range(0, 8)), [3]),
    action: 'rolled back',
  },
  {
    name: 'set into TOMBSTONE',
    op: 'set',
    point: 'set:tombstone',
    setup: (m) => {
      fill(m, range(0, 40));
      const deleted = range(0, 40).filter((k) => k % 3 === 0);
      for (const k of deleted) m.delete(k);
      expect(m.stats().tombstones).toBeGreaterThan(0);
      return deleted;
    },
    action: 'rolled back',
  },
  {
    name: 'delete to EMPTY',
    op: 'delete',
    point: 'delete:empty',
    setup: (m) => (fill(m, range(0, 40)), range(0, 40)),
    action: 'rolled back',
  },
  {
    name: 'delete to TOMBSTONE',
    op: 'delete',
    point: 'delete:tombstone',
    setup: (m) => (fill(m, range(0, 40)), range(0, 40)),
    action: 'rolled back',
  },
  {
    name: 'add (overwrite)',
    op: 'add',
    point: 'set:overwrite',
    setup: (m) => (fill(m, range(0, 8)), [2]),
    action: 'rolled back',
  },
  {
    name: 'update (insert)',
    op: 'update',
    point: 'set:empty',
    setup: (m) => (fill(m, range(0, 8)), [50]),
    action: 'rolled back',
  },
  // Growth, at each of its four points: a full shard of 4 slots grows on the next insert.
  ...(
    [
      ['growth before copy', 'grow:before-copy', 'rolled back'],
      ['growth mid-copy', 'grow:mid-copy', 'rolled back'],
      ['growth after the copy, before publishing', 'grow:after-copy', 'rolled back'],
      ['growth after publish', 'grow:after-publish', 'completed'],
    ] as const
  ).map(([name, point, action]) => ({
    name,
    op: 'set',
    point,
    opts: { capacity: 4 },
    setup: () => range(0, 200),
    action,
  })),
];

describe('a writer terminated inside its write is recovered', () => {
  for (const c of cases) {
    it(`${c.name}: the write is undone (or finished), invariants hold, a waiter goes on`, async () => {
      const map = makeMap(c.opts);
      const keys = c.setup(map);
      const before = new Map(map.snapshot());
      const capBefore = map.stats().capacity;
      const w = await parkWriter(map, c.op, c.point, keys);
      const waiter = startWaiter(map, 777);
      await w.worker.terminate();
      const report = map.recover(w.threadId, { verify: true });
      expect(report.thread).toBe(w.threadId);
      expect(report.shards).toHaveLength(1);
      expect(report.shards[0]!.invariants).toBe('ok');
      expect(report.shards[0]!.action).toBe(c.action);
      expect(report.shards[0]!.op).toBe(c.op);
      checkInvariants(map);
      // Wholly or not at all: the ops before the parked one, and not the parked one.
      const want = model(before, c.op, keys, w.done);
      const got = new Map(map.snapshot());
      got.delete(777); // the waiter's key (it may already be in)
      expect(canonEntries(got)).toEqual(canonEntries(want));
      if (c.point === 'grow:after-publish') expect(map.stats().capacity).toBeGreaterThan(capBefore);
      const wr = await waiter.result;
      expect(wr).toEqual({ ok: true, value: 99 });
      checkInvariants(map);
      // One record of the new kind, naming the dead thread and its op.
      const died = map.conflicts().filter((r) => r.kind === 'thread died holding a shard lock');
      expect(died).toHaveLength(1);
      expect(died[0]!.other.thread).toBe(w.threadId);
      expect(died[0]!.other.op).toBe(c.op);
      expect(died[0]!.detector.thread).toBe(map.thread);
      expect(map.stats().recoveries).toBe(1);
      expect(formatConflicts(map.conflicts())).toContain('thread died holding a shard lock');
      // Recovering again finds nothing.
      expect(map.recover(w.threadId).shards).toEqual([]);
    });
  }

  it('clear interrupted: completed (every entry gone, counts exact)', async () => {
    const map = makeMap();
    fill(map, range(0, 30));
    const w = await parkWriter(map, 'clear', 'clear', [0]);
    await w.worker.terminate();
    expect(map.recover(w.threadId).shards[0]!.op).toBe('clear');
    checkInvariants(map);
    expect(map.size).toBe(0);
    expect(map.snapshot()).toEqual([]);
  });

  it('sweep interrupted after one removal: that removal kept, whole; the rest untouched', async () => {
    const map = makeMap();
    fill(map, range(0, 30));
    const w = await parkWriter(map, 'sweep', 'sweep', [0]);
    await w.worker.terminate();
    expect(map.recover(w.threadId).shards[0]!.action).toBe('kept removals');
    checkInvariants(map);
    expect(map.size).toBe(29);
    const left = new Set(map.snapshot().map(([k]) => k));
    const gone = range(0, 30).filter((k) => !left.has(k));
    expect(gone).toHaveLength(1);
    expect(gone[0]! % 2).toBe(0);
  });

  it('growth interrupted at each point: the region the shard no longer uses goes to the free list, not leaked', async () => {
    for (const point of ['grow:before-copy', 'grow:mid-copy', 'grow:after-copy', 'grow:after-publish']) {
      const map = makeMap({ capacity: 4 });
      const w = await parkWriter(map, 'set', point, range(0, 200));
      const capAtPark = map.stats().perShard[0]!.capacity;
      const freeBefore = freeBytes(map.views);
      await w.worker.terminate();
      map.recover(w.threadId);
      checkInvariants(map);
      // Unpublished, the new region (twice the capacity) goes back; published, the old one (half).
      const published = point === 'grow:after-publish';
      expect(map.stats().perShard[0]!.capacity, point).toBe(capAtPark);
      const unusedCap = published ? capAtPark / 2 : capAtPark * 2;
      expect(freeBytes(map.views) - freeBefore, point).toBe(regionBytes(unusedCap, map.slotWords * 4));
    }
  });

  it('sweepExpired interrupted after one removal: that removal kept, whole; the rest stay for the next sweep; counts exact', async () => {
    const map = makeMap({ ttl: true });
    for (const k of range(0, 30)) map.set(k, k * 10 + 1, { ttlMs: 3_600_000 });
    fill(map, range(30, 40)); // no expiry: never swept
    const w = await parkWriter(map, 'sweepExpired', 'sweep', [0]);
    await w.worker.terminate();
    const shard = map.recover(w.threadId, { verify: true }).shards[0]!;
    expect(shard.action).toBe('kept removals');
    expect(shard.invariants).toBe('ok');
    checkInvariants(map);
    expect(map.size).toBe(39);
    const left = new Set(map.snapshot().map(([k]) => k));
    expect(left.size).toBe(39);
    const gone = range(0, 40).filter((k) => !left.has(k));
    expect(gone).toHaveLength(1);
    expect(gone[0]!).toBeLessThan(30);
    expect(map.sweepExpired(Infinity)).toBe(29);
    expect(map.size).toBe(10);
    checkInvariants(map);
  });

  it('leases: retire, acquire and release rolled back (the lease word and the ledger together)', async () => {
    const map = makeMap({ leases: true });
    fill(map, range(0, 8));
    expect(map.acquire(1)).toBe(11);
    let w = await parkWriter(map, 'retire', 'retire', [1]);
    await w.worker.terminate();
    expect(map.recover(w.threadId).shards[0]!.action).toBe('rolled back');
    checkInvariants(map);
    expect(map.get(1)).toBe(11); // not retired
    expect(map.leaseCount(1)).toBe(1);

    w = await parkWriter(map, 'acquire', 'acquire', [2]);
    await w.worker.terminate();
    let report = map.recover(w.threadId);
    expect(report.shards[0]!.action).toBe('rolled back');
    expect(report.leases).toBe(0); // the acquire never happened: nothing of it to give back
    expect(map.leaseCount(2)).toBe(0);
    expect(map.retire(2)).toBe('removed'); // not pinned

    // A release of the lease this thread took (handed over): rolled back, the lease still this thread's.
    w = await parkWriter(map, 'release', 'release', [1]);
    await w.worker.terminate();
    report = map.recover(w.threadId);
    expect(report.shards[0]!.action).toBe('rolled back');
    expect(report.leases).toBe(0);
    expect(map.leaseCount(1)).toBe(1);
    expect(map.release(1)).toBe(false);
    expect(map.leaseCount(1)).toBe(0);
    checkInvariants(map);
  });

  it('recover refuses the calling thread and bad ids (RecoveryError), changing nothing', () => {
    const map = makeMap();
    fill(map, [1, 2]);
    const e = thrown(() => map.recover(map.thread));
    expect(e).toBeInstanceOf(RecoveryError);
    expect((e as RecoveryError).code).toBe('SHMAP_RECOVERY');
    expect(thrown(() => map.recover(-1))).toBeInstanceOf(RecoveryError);
    expect(thrown(() => map.recover(1.5))).toBeInstanceOf(RecoveryError);
    expect((thrown(() => map.recover(123_456, 'x' as never)) as Error).message).toMatch(
      /recover: options must be an object/,
    );
    expect((thrown(() => map.recover(123_456, { verify: 1 as never })) as Error).message).toMatch(/options\.verify/);
    expect(
      (thrown(() => map.watch({ threads: [], on() {}, off() {} }, { onRecovery: 5 as never })) as Error).message,
    ).toMatch(/watch: options\.onRecovery must be a function/);
    expect(map.size).toBe(2);
    checkInvariants(map);
  });
});

describe('lock timeout', () => {
  it('a writer, a reader that falls back to the lock, and snapshot throw LockTimeoutError naming shard, owner, op, hold time', async () => {
    const map = makeMap({ lockTimeoutMs: 150 });
    fill(map, range(0, 8));
    const w = await parkWriter(map, 'set', 'set:overwrite', [3]);
    for (const call of [() => map.set(1, 5), () => map.get(1), () => map.snapshot(), () => map.delete(2)]) {
      const e = thrown(call) as LockTimeoutError;
      expect(e).toBeInstanceOf(LockTimeoutError);
      expect(e.code).toBe('SHMAP_LOCK_TIMEOUT');
      expect(e.shard).toBe(0);
      expect(e.ownerThread).toBe(w.threadId);
      expect(e.ownerOp).toBe('set');
      expect(e.heldMs).toBeGreaterThanOrEqual(0);
      expect(e.message).toContain(`thread ${w.threadId} (set)`);
    }
    await w.worker.terminate();
    map.recover(w.threadId);
    expect(map.get(1)).toBe(11);
    expect(map.get(3)).toBe(31);
    checkInvariants(map);
  });

  it('lockTimeoutMs must be a positive number or Infinity', () => {
    for (const bad of [0, -1, NaN, '10', null]) {
      expect(() => makeMap({ lockTimeoutMs: bad as never })).toThrow(/options\.lockTimeoutMs/);
    }
    makeMap({ lockTimeoutMs: Infinity }).set(1, 1);
  });
});

describe('negative controls', () => {
  it('recovery switched off: the waiter wedges, caught by the bounded lock wait', async () => {
    const map = makeMap({ lockTimeoutMs: 300 });
    fill(map, range(0, 8));
    const w = await parkWriter(map, 'set', 'set:empty', [100]);
    await w.worker.terminate();
    recoveryTestSwitch.mode = 'off';
    expect(map.recover(w.threadId).shards).toEqual([]);
    const wr = await startWaiter(map, 777).result;
    expect(wr.error?.code).toBe('SHMAP_LOCK_TIMEOUT');
    recoveryTestSwitch.mode = 'on';
    expect(map.recover(w.threadId).shards).toHaveLength(1);
    checkInvariants(map);
  });

  it("a recovery that keeps an interrupted growth's new region leaks it: the free-list check sees it", async () => {
    const map = makeMap({ capacity: 4 });
    const w = await parkWriter(map, 'set', 'grow:after-copy', range(0, 200));
    const freeBefore = freeBytes(map.views);
    await w.worker.terminate();
    recoveryTestSwitch.mode = 'keep-regions';
    expect(map.recover(w.threadId).shards[0]!.action).toBe('rolled back');
    checkInvariants(map); // the leak breaks no invariant: only the free list shows it
    expect(freeBytes(map.views)).toBe(freeBefore);
  });

  it('a recovery that skips the undo leaves a broken invariant that checkInvariants catches', async () => {
    const map = makeMap();
    fill(map, range(0, 8));
    const w = await parkWriter(map, 'set', 'set:empty', [100]);
    await w.worker.terminate();
    recoveryTestSwitch.mode = 'skip-undo';
    const report = map.recover(w.threadId, { verify: true });
    // The check recovery makes before freeing the lock (verify) sees it too.
    expect(report.shards[0]!.invariants).toMatch(/invariant failed/);
    expect(() => checkInvariants(map)).toThrow(/invariant failed/);
  });
});

describe('an overwrite keeps only its value and expiry words for the undo', () => {
  it('rolled back to the old value (TTL map); a recovery that skips the undo leaves the new one, and the check sees it', async () => {
    for (const mode of ['on', 'skip-undo'] as const) {
      const map = makeMap({ value: 'float64', ttl: true, defaultTtlMs: 3_600_000 });
      for (let k = 0; k < 8; k++) map.set(k, k + 0.5);
      const before = canonEntries(map.snapshot());
      const w = await parkWriter(map, 'set', 'set:overwrite', [3]);
      await w.worker.terminate();
      recoveryTestSwitch.mode = mode;
      const report = map.recover(w.threadId, { verify: true });
      recoveryTestSwitch.mode = 'on';
      expect(report.shards[0]!.action).toBe('rolled back');
      checkInvariants(map);
      if (mode === 'on') {
        expect(canonEntries(map.snapshot())).toEqual(before);
        expect(map.get(3)).toBe(3.5);
      } else {
        // The half-done overwrite stays: neither the old entry nor a whole new one.
        expect(canonEntries(map.snapshot())).not.toEqual(before);
        expect(map.get(3)).toBe(31);
      }
    }
  });
});

describe('watch: deaths recovered without a call', () => {
  it('a Worker terminated mid-write: recovered from its exit event; onThreadDeath hooks run', async () => {
    const map = makeMap();
    fill(map, range(0, 8));
    const before = canonEntries(map.snapshot());
    const deaths: number[] = [];
    const unhook = onThreadDeath((id) => deaths.push(id));
    const w = await parkWriter(map, 'set', 'set:overwrite', [3]);
    const reports: RecoveryReport[] = [];
    const unwatch = map.watch(w.worker, { verify: true, onRecovery: (r) => reports.push(r) });
    await w.worker.terminate();
    await until(() => map.stats().recoveries === 1, 'the watch to recover');
    expect(deaths).toEqual([w.threadId]);
    expect(reports).toHaveLength(1);
    expect(reports[0]!.shards).toMatchObject([{ action: 'rolled back', op: 'set', invariants: 'ok' }]);
    expect(canonEntries(map.snapshot())).toEqual(before);
    checkInvariants(map);
    unwatch();
    unhook();
  });

  it('a piscina pool whose task is aborted mid-write: recovered', async () => {
    const map = makeMap();
    fill(map, range(0, 8));
    const before = canonEntries(map.snapshot());
    const pool = new Piscina({ filename: testPath('workers/map-death-task.mjs'), maxThreads: 1, minThreads: 1 });
    const unwatch = map.watch(pool);
    try {
      const words = controlWords();
      const ac = new AbortController();
      const task = pool.run(
        { map: map.handle, words, W, op: 'set', point: 'set:empty', keys: [100] },
        { signal: ac.signal },
      );
      task.catch(() => {});
      await waitWord(words, W.parked, 'the task to park');
      ac.abort();
      await until(() => map.stats().recoveries === 1, 'the pool watch to recover');
      expect(canonEntries(map.snapshot())).toEqual(before);
      map.set(5, 5);
      checkInvariants(map);
    } finally {
      unwatch();
      await pool.destroy();
    }
  });
});

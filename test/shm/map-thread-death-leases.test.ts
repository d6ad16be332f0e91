/**
 * A thread that dies holding leases: real worker threads take leases, wait
 * holding them, and are terminated. Recovery (`recover(threadId)`, or a
 * `watch`) gives back exactly the dead thread's leases, never another live
 * thread's, so no entry stays pinned: it can be retired and removed, and
 * one retired meanwhile goes with the dead thread's last lease. Negative
 * control: a recovery that keeps the dead thread's leases leaves entries
 * pinned, and the check below says which.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { SharedMap, checkInvariants, LeaseError } from '../../src/index.js';
import type { RecoveryReport } from '../../src/index.js';
import { recoveryTestSwitch } from '../../src/shm/recover.js';
import { controlWords, requireDist, spawn, thrown } from './support.js';
import { until } from '../helpers/until.js';

requireDist();

type LeaseMap = SharedMap<number, number>;

function makeMap(shards = 4): LeaseMap {
  const map = SharedMap.create<number, number>({ shards, capacity: 64, seed: 11, leases: true });
  for (let k = 0; k < 16; k++) map.set(k, k * 10 + 1);
  return map;
}

/** Starts a worker that acquires `keys` and waits holding them; resolves once it holds them. */
async function holder(map: LeaseMap, keys: number[], release: number[] = []) {
  const words = controlWords(4);
  const run = spawn<{ got: number[] }>('lease-death.mjs', { map: map.handle, words, acquire: keys, release });
  run.result.catch(() => {}); // terminated without a result
  await until(() => Atomics.load(words, 0) === 1, `a worker to acquire ${keys.join(', ')}`, 20_000);
  return { ...run, words };
}

/**
 * The check: every key's lease count equals what the live holders hold
 * (`expected`, key -> leases; missing: 0). Returns the keys that differ,
 * e.g. pinned by a dead thread's leases that nobody gave back.
 */
function leaseProblems(map: LeaseMap, expected: Record<number, number>): string[] {
  const out: string[] = [];
  for (let k = 0; k < 16; k++) {
    const n = map.leaseCount(k);
    if (n !== (expected[k] ?? 0)) out.push(`key ${k}: ${n} lease(s), live holders hold ${expected[k] ?? 0}`);
  }
  return out;
}

afterEach(() => {
  recoveryTestSwitch.mode = 'on';
});

describe('a thread that dies holding leases', () => {
  it('recover gives back exactly its leases (growth moved the entries meanwhile), none of a live thread’s; nothing stays pinned', async () => {
    const map = makeMap();
    // This thread (alive throughout) holds 1 and 3; worker B (alive) holds 1 and 4.
    map.acquire(1);
    map.acquire(3);
    const b = await holder(map, [1, 4]);
    const a = await holder(map, [1, 1, 2, 3, 5, 9]);
    expect(map.retire(5)).toBe('deferred'); // retired while the doomed thread holds its only lease
    // Growth moves every entry of its shard while A holds leases on them.
    for (let k = 100; k < 400; k++) map.set(k, k);
    await a.worker.terminate();
    const report: RecoveryReport = map.recover(a.threadId);
    expect(report.leases).toBe(6);
    expect(report.leasesLater).toBe(0);
    expect(report.shards).toEqual([]); // it held no shard lock, only leases
    expect(leaseProblems(map, { 1: 2, 3: 1, 4: 1 })).toEqual([]);
    expect(map.has(5)).toBe(false); // its last lease was the dead thread's: removed as a release would
    expect(map.retire(2)).toBe('removed'); // not pinned
    expect(map.retire(9)).toBe('removed');
    checkInvariants(map);

    // The live holder still holds its leases, and gives them back itself.
    Atomics.store(b.words, 1, 1);
    Atomics.notify(b.words, 1);
    await b.worker.terminate();
    expect(map.recover(b.threadId).leases).toBe(2); // it had not released yet: now its two go
    expect(leaseProblems(map, { 1: 1, 3: 1 })).toEqual([]);
    expect(map.release(1)).toBe(false);
    expect(map.release(3)).toBe(false);
    expect(leaseProblems(map, {})).toEqual([]);
    checkInvariants(map);
  });

  it('a lease handed over and released by another thread is not given back twice', async () => {
    const map = makeMap(1);
    const a = await holder(map, [6, 7]);
    expect(map.release(6)).toBe(false); // this thread releases the lease A took (handed over)
    await a.worker.terminate();
    expect(map.recover(a.threadId).leases).toBe(1); // only 7
    expect(leaseProblems(map, {})).toEqual([]);
    checkInvariants(map);
  });

  it('map.watch gives the leases back by itself when the worker dies', async () => {
    const map = makeMap();
    const a = await holder(map, [2, 2, 8]);
    const reports: RecoveryReport[] = [];
    const unwatch = map.watch(a.worker, { onRecovery: (r) => reports.push(r) });
    await a.worker.terminate();
    await until(() => reports.length === 1, 'the watch to recover the dead worker', 20_000);
    unwatch();
    expect(reports[0]!.thread).toBe(a.threadId);
    expect(reports[0]!.leases).toBe(3);
    expect(leaseProblems(map, {})).toEqual([]);
  });

  it('negative control: a recovery that keeps the dead thread’s leases leaves entries pinned, and the check says which', async () => {
    const map = makeMap();
    map.acquire(1);
    const a = await holder(map, [1, 2]);
    await a.worker.terminate();
    recoveryTestSwitch.mode = 'keep-leases';
    expect(map.recover(a.threadId).leases).toBe(0);
    expect(leaseProblems(map, { 1: 1 })).toEqual([
      'key 1: 2 lease(s), live holders hold 1',
      'key 2: 1 lease(s), live holders hold 0',
    ]);
    expect(map.retire(2)).toBe('deferred'); // pinned: nobody alive will ever release it
    expect(map.has(2)).toBe(false);
    expect(map.leaseCount(2)).toBe(1);
  });

  it('a full lease ledger refuses the acquire with LeaseError and changes nothing', () => {
    const map = SharedMap.create<number, number>({ shards: 1, capacity: 128, leases: true });
    for (let k = 0; k < 40; k++) map.set(k, k);
    for (let k = 0; k < 32; k++) expect(map.acquire(k)).toBe(k);
    expect(map.acquire(0)).toBe(0); // a second lease on a key already in the ledger needs no record
    const e = thrown(() => map.acquire(32));
    expect(e).toBeInstanceOf(LeaseError);
    expect((e as Error).message).toMatch(/key 32: its shard's lease ledger is full \(32 \(thread, key\) pairs/);
    expect(map.leaseCount(32)).toBe(0);
    expect(map.get(32)).toBe(32);
    expect(map.release(5)).toBe(false); // a record freed...
    expect(map.acquire(32)).toBe(32); // ...is taken again
    checkInvariants(map);
  });
});

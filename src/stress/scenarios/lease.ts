/**
 * The `lease` scenario: a safe cleanup shape, entries retired while leased.
 *
 * Shared state the checks need lives in one "scratch" SharedArrayBuffer per
 * run (layout below); the workers write it with Atomics where several threads
 * meet, and the main thread reads it once every worker is done.
 *
 * lease (worker 0 the `retirer`, the others `lease-user` writers, over the
 * first LEASE_KEYS shared keys; a user holds up to MAX_HELD leases at once):
 *   held[k]    lease users holding key k (Atomics.add after acquire returns,
 *              Atomics.sub before release is called): never more than the
 *              map's lease count.
 *   retired[k] entries of key k the retirer retired (plain, retirer only).
 *   removed[k] removals of an entry of key k (Atomics.add by whoever removed
 *              it: the retirer on 'removed', a user whose release returned true).
 *   While holding, a user checks `leaseCount(k) >= 1` and that `get(k)` returns
 *   its entry's value or nothing (a retired entry is hidden), never another
 *   entry's (one can only exist after its entry was removed). Whoever removes
 *   an entry checks held[k] === 0. The retirer re-inserts a key (new unique
 *   value) only once removed[k] === retired[k], so no entry of k exists then.
 *   At the end, for every key: removed === retired (each retired entry removed
 *   exactly once), held === 0 and leaseCount === 0; release never threw
 *   LeaseError (the count never went below zero) and retire never found a key
 *   the retirer had inserted absent.
 *
 */
import type { KeyCodec } from '../keys.js';
import type { StressOptions } from '../options.js';
import { CONTROL } from '../protocol.js';
import type { Run } from '../workload.js';
import {
  addCount,
  FINAL_WAIT_MS,
  sumCounts,
  type PatternMap,
  type PatternRun,
  type Scenario,
  unsyncedConflicts,
} from './scenario.js';

/** The resources are the first LEASE_KEYS shared keys (few, so that retires meet held leases); a user holds up to MAX_HELD at once. */
const LEASE_KEYS = 64;
const MAX_HELD = 3;

/** lease: held, retired, removed: Int32[keys] each. */
function leaseViews(
  scratch: SharedArrayBuffer,
  keys: number,
): { held: Int32Array; retired: Int32Array; removed: Int32Array } {
  return {
    held: new Int32Array(scratch, 0, keys),
    retired: new Int32Array(scratch, keys * 4, keys),
    removed: new Int32Array(scratch, keys * 8, keys),
  };
}

/** lease user: acquires entries, uses them (checking each is still there), releases them; holds up to MAX_HELD at once (a writing role). */
export function runLeaseUser(run: Run): void {
  const { task, rng, kc, vc } = run;
  const map = run.map as unknown as PatternMap;
  const { held, removed } = leaseViews(task.pattern!.scratch, task.keys);
  const c = run.pattern;
  const resources = Math.min(task.keys, LEASE_KEYS);
  const mine: Array<{ k: number; key: unknown; value: unknown }> = [];

  const use = (lease: { k: number; key: unknown; value: unknown }): void => {
    addCount(c, 'leaseChecks');
    const n = map.leaseCount(lease.key);
    if (n < 1) {
      addCount(c, 'removedWhileLeased');
      run.loss(`key ${vc.show(lease.key)}: leaseCount ${n} while this worker holds a lease`);
    }
    const now = run.op('get', lease.key);
    if (now !== undefined && !vc.equal(now, lease.value)) {
      addCount(c, 'removedWhileLeased');
      run.loss(
        `key ${vc.show(lease.key)}: holding a lease on value ${vc.show(lease.value)}, get returned ${vc.show(now)} (another entry)`,
      );
    }
  };

  const release = (i: number): void => {
    const { k, key } = mine[i]!;
    mine[i] = mine[mine.length - 1]!;
    mine.pop();
    Atomics.sub(held, k, 1);
    const t0 = performance.now();
    let last = false;
    try {
      last = map.release(key);
    } catch (err) {
      const code = (err as { code?: unknown } | null)?.code;
      if (code !== 'SHMAP_LEASE') throw err;
      addCount(c, 'releaseErrors');
      run.loss(
        `key ${vc.show(key)}: release threw LeaseError (${(err as Error).message}): the lease count would go below zero`,
      );
    }
    run.recordLatency('release', t0);
    if (!last) return;
    // This release removed the retired entry: nobody may still be holding it.
    addCount(c, 'removedByRelease');
    const h = Atomics.load(held, k);
    if (h !== 0) {
      addCount(c, 'removedWhileLeased');
      run.loss(`key ${vc.show(key)}: the last release removed the entry while ${h} holder(s) still counted it held`);
    }
    Atomics.add(removed, k, 1);
  };

  while (run.more(task.ops)) {
    if (rng.next() < 0.25) {
      run.ownedOp(rng.next() < 0.5 ? 'set' : 'get');
      continue;
    }
    if (mine.length === 0 || (mine.length < MAX_HELD && rng.next() < 0.5)) {
      const k = rng.below(resources);
      const key = kc.key(k);
      const t0 = performance.now();
      let value: unknown;
      try {
        value = map.acquire(key);
      } catch (err) {
        run.failed(err);
      }
      run.recordLatency('acquire', t0);
      if (value === undefined) {
        addCount(c, 'acquireMisses');
        continue;
      }
      addCount(c, 'acquires');
      Atomics.add(held, k, 1);
      mine.push({ k, key, value });
      continue;
    }
    const i = rng.below(mine.length);
    use(mine[i]!);
    if (rng.next() < 0.5) release(i);
  }
  while (mine.length > 0) release(mine.length - 1);
}

/** lease retirer: retires live keys, re-inserts them once their entry is gone (a handler role: runs until the writers are done). */
export function runRetirer(run: Run): void {
  const { task, rng, kc, vc } = run;
  const map = run.map as unknown as PatternMap;
  const { held, retired, removed } = leaseViews(task.pattern!.scratch, task.keys);
  const c = run.pattern;
  const live = new Uint8Array(task.keys).fill(1); // prefilled by the runner
  const pending: number[] = [];
  const reinsertReady = (): void => {
    for (let i = pending.length - 1; i >= 0; i--) {
      const k = pending[i]!;
      if (Atomics.load(removed, k) !== retired[k]) continue;
      pending[i] = pending[pending.length - 1]!;
      pending.pop();
      run.op('set', kc.key(k), vc.value(++run.writeN, task.index));
      live[k] = 1;
      addCount(c, 'reinserted');
    }
  };
  const resources = Math.min(task.keys, LEASE_KEYS);
  do {
    const k = rng.below(resources);
    if (live[k] === 1) {
      const key = kc.key(k);
      const t0 = performance.now();
      let res: 'removed' | 'deferred' | 'absent' = 'absent';
      try {
        res = map.retire(key);
      } catch (err) {
        run.failed(err);
      }
      run.recordLatency('retire', t0);
      if (res === 'absent') {
        addCount(c, 'retireAbsent');
        run.loss(`key ${vc.show(key)}: retire found absent an entry only the retirer inserts`);
      } else {
        retired[k]!++;
        live[k] = 0;
        pending.push(k);
        addCount(c, 'retired');
        if (res === 'removed') {
          addCount(c, 'removedByRetire');
          const h = Atomics.load(held, k);
          if (h !== 0) {
            addCount(c, 'removedWhileLeased');
            run.loss(`key ${vc.show(key)}: retire removed the entry at once while ${h} holder(s) counted it held`);
          }
          Atomics.add(removed, k, 1);
        } else addCount(c, 'deferred');
      }
    }
    reinsertReady();
    for (let j = 0; j < 4; j++) run.ownedOp(rng.next() < 0.5 ? 'set' : 'get');
    run.progress[CONTROL.progressF64(task.index)] = run.ops;
  } while (run.writersRunning());
  // Every lease user has stopped and released: every deferred removal is done.
  const deadline = performance.now() + FINAL_WAIT_MS;
  while (pending.length > 0 && performance.now() < deadline) reinsertReady();
  if (pending.length > 0)
    run.loss(`retirer: ${pending.length} retired entr(ies) never removed after every user stopped`);
}

function leaseRun(o: StressOptions, kc: KeyCodec): PatternRun {
  const scratch = new SharedArrayBuffer(o.keys * 12);
  return {
    task: { scratch },
    aux: undefined,
    stop: () => undefined,
    async verify(m, results) {
      const checks = sumCounts(results);
      checks.removedWhileLeased ??= 0;
      checks.releaseErrors ??= 0;
      const losses: string[] = [];
      const { held, retired, removed } = leaseViews(scratch, o.keys);
      const map = m as unknown as PatternMap;
      let bad = 0;
      for (let k = 0; k < o.keys; k++) {
        const key = kc.key(k);
        const leases = map.leaseCount(key);
        if (retired[k] === removed[k] && held[k] === 0 && leases === 0) continue;
        bad++;
        if (losses.length < 20)
          losses.push(
            `lease: key ${String(key)}: retired ${retired[k]}, removed ${removed[k]} (must be equal), held ${held[k]} and leaseCount ${leases} (must be 0)`,
          );
      }
      if (bad > losses.length) losses.push(`lease: ... ${bad - losses.length} more key(s) like that`);
      checks.keysChecked = o.keys;
      checks.keysWrong = bad;
      return { checks, losses };
    },
  };
}

export const lease: Scenario = {
  name: 'lease',
  summary:
    'workers acquire/use/release entries while worker 0 retires and re-inserts them: no leased entry removed, each retired entry removed once',
  minWorkers: 2,
  numeric: false,
  role: (i) => (i === 0 ? 'retirer' : 'lease-user'),
  expectedConflicts: unsyncedConflicts,
  map: { leases: true },
  prepare: (o, _map, _workerFile, kc) => leaseRun(o, kc),
};

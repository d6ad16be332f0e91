/**
 * The stress scenarios of the safe cleanup shapes (issue 5): `ttl`, `lease`
 * and `delete-queue`. Each has worker roles (run inside the stress task, see
 * ./workload.ts), a helper thread started by the runner beside the stress
 * workers (the TTL sweeper, the delete-queue drainer: src/workers/sweeper.ts
 * and src/workers/drainer.ts, run as piscina tasks of the same pool), and its
 * own end-of-run verification, run by ./run.ts after the usual owned-key
 * check.
 *
 * Shared state the checks need lives in one "scratch" SharedArrayBuffer per
 * run (layouts below); the workers write it with Atomics where several threads
 * meet, and the main thread reads it once every worker is done.
 *
 * ttl (every worker a `ttl` writer; a sweeper thread every SWEEP_MS):
 *   shared key k is written only by worker k % workers, always with a TTL (mostly
 *   1..MAX_TTL_MS ms, one in LONG_TTL_EVERY much longer), value = the write
 *   counter g of the writer (unique per key).
 *   After each set the writer publishes, under a tiny seqlock (gen word -1 while
 *   writing), g and the bounds of the expiry the map gave it:
 *   lower = (clock before set) + ttl <= expiry <= (clock after set) + ttl = upper.
 *   A reader loads (g, upper) consistently, takes t0 = sharedNow(), then reads
 *   the key: if t0 > upper the entry g had expired before the read began, so
 *   the read MUST NOT return g (it may return a newer g or nothing). Each such
 *   read is an "expired read checked"; returning g is a violation (a loss).
 *   At the end: a last sweep at a fixed time T must leave exactly the owned
 *   entries plus the TTL entries with expiry > T (between the count of those
 *   with lower > T and those with upper > T); then, once every upper bound has
 *   passed, a sweep must leave only the owned entries.
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
 * delete-queue (the first quarter of the workers `enqueuer`s, the others the
 * `mixed` workload; a drainer thread; a small queue so it fills):
 *   enqueuer w creates keys in a range only it uses (ids after the owned keys,
 *   DOOMED_PER_WORKER each), ranges over the map with `snapshot()` and, instead
 *   of deleting, enqueues its doomed keys it meets. state[w][i] records
 *   1 = set, 2 = enqueued (enqueue returned true). A key is enqueued at most
 *   once and never set again. A full queue makes `enqueue` return false: the
 *   key stays state 1 and is tried again next range; at the end the enqueuer
 *   flushes with `enqueueWait`. At the end: every state-2 key absent, every
 *   state-1 key present; enqueued (counted by the enqueuers) === the queue's
 *   enqueued === drained === the drainer's deletes that returned true, none
 *   returned false (deleted exactly once), and every false from enqueue is
 *   counted by the queue too (no silent loss).
 */
import { dirname, join } from 'node:path';
import { DeleteQueue, type DeleteQueueHandle } from '../shm/patterns/delete-queue.js';
import { createStopSwitch, requestStop, sharedNow, type StopSwitch } from '../shm/patterns/ttl.js';
import type { SharedMap } from '../shm/map.js';
import type { KeyCodec, ValueCodec } from './keys.js';
import type { StressOptions } from './options.js';
import { DOOMED_PER_WORKER } from './scenarios.js';
import { CONTROL, type StressTask, type WorkerResult } from './protocol.js';
import type { Run } from './workload.js';

/** Longest short TTL a `ttl` writer gives (ms); most sets pick 1..MAX_TTL_MS. */
export const MAX_TTL_MS = 20;
/** One set in LONG_TTL_EVERY picks a TTL of LONG_TTL_MS..2*LONG_TTL_MS instead, so entries are still live when the run ends. */
const LONG_TTL_EVERY = 10;
const LONG_TTL_MS = 250;
/** lease: the resources are the first LEASE_KEYS shared keys (few, so that retires meet held leases); a user holds up to MAX_HELD at once. */
const LEASE_KEYS = 64;
const MAX_HELD = 3;
/** The sweeper thread's interval in the `ttl` scenario, ms. */
export const SWEEP_MS = 5;
/** The delete queue's capacity: small, so that bursts fill it. */
export const QUEUE_CAPACITY = 64;
/** Doomed keys an enqueuer creates per round; it ranges every RANGE_EVERY rounds (bursts larger than the queue). */
const DOOMED_BATCH = 32;
const RANGE_EVERY = 4;
/** How long the end-of-run waits for stragglers (deferred removals, final enqueues), ms. */
const FINAL_WAIT_MS = 5_000;

/** What a pattern scenario adds to each stress task. Structured-clonable. */
export interface PatternTask {
  scratch: SharedArrayBuffer;
  queue?: DeleteQueueHandle;
}

/** The part of SharedMap's API the pattern roles use beyond StressMap. */
interface PatternMap {
  get(key: unknown): unknown;
  set(key: unknown, value: unknown, options?: { ttlMs?: number }): unknown;
  acquire(key: unknown): unknown;
  release(key: unknown): boolean;
  retire(key: unknown): 'removed' | 'deferred' | 'absent';
  leaseCount(key: unknown): number;
  snapshot(): Array<[unknown, unknown]>;
}

/** Id of the first doomed key of worker `index` (delete-queue). */
export function doomedBase(task: Pick<StressTask, 'keys' | 'workers' | 'owned'>, index: number): number {
  return task.keys + task.workers * task.owned + index * DOOMED_PER_WORKER;
}

// ---------------------------------------------------------------------------
// Scratch layouts.

/** ttl: gen Int32[keys], then lower Float64[keys], upper Float64[keys]. */
function ttlViews(
  scratch: SharedArrayBuffer,
  keys: number,
): { gen: Int32Array; lower: Float64Array; upper: Float64Array } {
  const genBytes = Math.ceil((keys * 4) / 8) * 8;
  return {
    gen: new Int32Array(scratch, 0, keys),
    lower: new Float64Array(scratch, genBytes, keys),
    upper: new Float64Array(scratch, genBytes + keys * 8, keys),
  };
}

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

function scratchBytes(scenario: string, keys: number, workers: number): number {
  if (scenario === 'ttl') return Math.ceil((keys * 4) / 8) * 8 + keys * 16;
  if (scenario === 'lease') return keys * 12;
  if (scenario === 'delete-queue') return workers * DOOMED_PER_WORKER;
  return 0;
}

function add(counts: Record<string, number>, name: string, n = 1): void {
  counts[name] = (counts[name] ?? 0) + n;
}

// ---------------------------------------------------------------------------
// Worker side: one loop per role.

/** ttl writer and reader (a writing role: it has an op budget in `--ops` mode). */
export function runTtl(run: Run): void {
  const { task, rng, kc, vc } = run;
  const map = run.map as unknown as PatternMap;
  const { gen, lower, upper } = ttlViews(task.pattern!.scratch, task.keys);
  const c = run.pattern;
  // Keys this worker writes: index, index + workers, ...
  const mine = Math.max(0, Math.ceil((task.keys - task.index) / task.workers));
  const options = { ttlMs: 1 };
  while (run.more(task.ops)) {
    const r = rng.next();
    if (r < 0.25) {
      run.ownedOp(rng.next() < 0.5 ? 'set' : 'get');
      continue;
    }
    if (r < 0.5 && mine > 0) {
      const k = task.index + task.workers * rng.below(mine);
      const g = ++run.writeN;
      const ttl = rng.below(LONG_TTL_EVERY) === 0 ? LONG_TTL_MS + rng.below(LONG_TTL_MS) : 1 + rng.below(MAX_TTL_MS);
      options.ttlMs = ttl;
      const before = sharedNow();
      const t0 = performance.now();
      try {
        map.set(kc.key(k), vc.value(g, task.index), options);
      } catch (err) {
        run.failed(err);
      }
      run.recordLatency('set', t0);
      const after = sharedNow();
      Atomics.store(gen, k, -1);
      lower[k] = before + ttl;
      upper[k] = after + ttl;
      Atomics.store(gen, k, g);
      add(c, 'ttlSets');
      continue;
    }
    const k = rng.below(task.keys);
    const g1 = Atomics.load(gen, k);
    const bound = upper[k]!;
    const g2 = Atomics.load(gen, k);
    const t0 = sharedNow();
    const got = run.op('get', kc.key(k));
    if (g1 > 0 && g1 === g2 && t0 > bound) {
      add(c, 'expiredReadsChecked');
      if (got !== undefined && vc.equal(got, vc.value(g1, k % task.workers))) {
        add(c, 'expiredReadViolations');
        run.loss(
          `key ${vc.show(kc.key(k))}: get at ${t0.toFixed(3)} returned the entry written as ${g1}, expired by ${bound.toFixed(3)} at the latest`,
        );
      }
    }
  }
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
    add(c, 'leaseChecks');
    const n = map.leaseCount(lease.key);
    if (n < 1) {
      add(c, 'removedWhileLeased');
      run.loss(`key ${vc.show(lease.key)}: leaseCount ${n} while this worker holds a lease`);
    }
    const now = run.op('get', lease.key);
    if (now !== undefined && !vc.equal(now, lease.value)) {
      add(c, 'removedWhileLeased');
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
      add(c, 'releaseErrors');
      run.loss(
        `key ${vc.show(key)}: release threw LeaseError (${(err as Error).message}): the lease count would go below zero`,
      );
    }
    run.recordLatency('release', t0);
    if (!last) return;
    // This release removed the retired entry: nobody may still be holding it.
    add(c, 'removedByRelease');
    const h = Atomics.load(held, k);
    if (h !== 0) {
      add(c, 'removedWhileLeased');
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
        add(c, 'acquireMisses');
        continue;
      }
      add(c, 'acquires');
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
      add(c, 'reinserted');
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
        add(c, 'retireAbsent');
        run.loss(`key ${vc.show(key)}: retire found absent an entry only the retirer inserts`);
      } else {
        retired[k]!++;
        live[k] = 0;
        pending.push(k);
        add(c, 'retired');
        if (res === 'removed') {
          add(c, 'removedByRetire');
          const h = Atomics.load(held, k);
          if (h !== 0) {
            add(c, 'removedWhileLeased');
            run.loss(`key ${vc.show(key)}: retire removed the entry at once while ${h} holder(s) counted it held`);
          }
          Atomics.add(removed, k, 1);
        } else add(c, 'deferred');
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

/** delete-queue enqueuer: makes doomed keys, ranges over a snapshot and enqueues them instead of deleting (a handler role). */
export function runEnqueuer(run: Run): void {
  const { task, rng, kc, vc } = run;
  const map = run.map as unknown as PatternMap;
  const queue = DeleteQueue.attach<unknown>(task.pattern!.queue!);
  const state = new Uint8Array(task.pattern!.scratch, task.index * DOOMED_PER_WORKER, DOOMED_PER_WORKER);
  const first = doomedBase(task, task.index);
  const c = run.pattern;
  let made = 0;
  let round = 0;
  const range = (final: boolean): void => {
    const t0 = performance.now();
    const entries = map.snapshot();
    run.recordLatency('snapshot', t0);
    for (const [key] of entries) {
      const i = kc.id(key) - first;
      if (i < 0 || i >= made || state[i] !== 1) continue;
      const t1 = performance.now();
      const ok = final ? queue.enqueueWait(key, FINAL_WAIT_MS) : queue.enqueue(key);
      run.recordLatency('enqueue', t1);
      if (ok) {
        state[i] = 2;
        add(c, 'enqueued');
      } else add(c, 'enqueueRefused');
    }
  };
  do {
    for (let j = 0; j < DOOMED_BATCH && made < DOOMED_PER_WORKER; j++, made++) {
      run.op('set', kc.key(first + made), vc.value(++run.writeN, task.index));
      state[made] = 1;
      add(c, 'doomedSet');
    }
    for (let j = 0; j < 8; j++) run.ownedOp(rng.next() < 0.5 ? 'set' : 'get');
    if (++round % RANGE_EVERY === 0) range(false);
    run.progress[CONTROL.progressF64(task.index)] = run.ops;
  } while (run.writersRunning());
  range(true);
}

// ---------------------------------------------------------------------------
// Main side: setup, the helper thread, verification.

/** What a pattern scenario adds to one stress run, on the main thread. */
export interface PatternRun {
  /** Added to every stress task. */
  task: PatternTask | undefined;
  /** The helper thread: a piscina task of the same pool, file beside the stress task's. */
  aux: { file: string; task: unknown } | undefined;
  /** Tells the helper thread to finish (after every stress worker is done). */
  stop(): void;
  /** The scenario's own checks; returns counts for the summary and losses (empty when all hold). */
  verify(
    map: SharedMap<unknown, unknown>,
    results: WorkerResult[],
    auxResult: unknown,
  ): Promise<{ checks: Record<string, number>; losses: string[] }>;
}

/** `name` in the folder of `base` (a path or a file: URL). */
export function siblingFile(base: string, name: string): string {
  return base.startsWith('file:') ? new URL(name, base).href : join(dirname(base), name);
}

function sumCounts(results: WorkerResult[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of results) for (const [k, n] of Object.entries(r.pattern ?? {})) add(out, k, n);
  return out;
}

function ownedPresent(results: WorkerResult[]): number {
  return results.reduce((n, r) => n + r.owned.filter((e) => e.present).length, 0);
}

/** Sets up the scenario's shared state and helper thread; undefined for the other scenarios. */
export function preparePattern(
  o: StressOptions,
  map: SharedMap<unknown, unknown>,
  workerFile: string,
  kc: KeyCodec,
  vc: ValueCodec,
): PatternRun | undefined {
  const bytes = scratchBytes(o.scenario, o.keys, o.workers);
  if (bytes === 0) return undefined;
  const scratch = new SharedArrayBuffer(bytes);
  if (o.scenario === 'ttl') return ttlRun(o, scratch, map, workerFile);
  if (o.scenario === 'lease') return leaseRun(o, scratch, kc);
  return queueRun(o, scratch, map, workerFile, kc, vc);
}

function ttlRun(
  o: StressOptions,
  scratch: SharedArrayBuffer,
  map: SharedMap<unknown, unknown>,
  workerFile: string,
): PatternRun {
  const stop: StopSwitch = createStopSwitch();
  return {
    task: { scratch },
    aux: { file: siblingFile(workerFile, 'sweeper.js'), task: { map: map.handle, stop, intervalMs: SWEEP_MS } },
    stop: () => requestStop(stop),
    async verify(m, results, auxResult) {
      const checks = sumCounts(results);
      const losses: string[] = [];
      const sweeper = auxResult as { sweeps: number; removed: number } | undefined;
      checks.sweeperSweeps = sweeper?.sweeps ?? 0;
      checks.sweeperRemoved = sweeper?.removed ?? 0;
      const { gen, lower, upper } = ttlViews(scratch, o.keys);
      const owned = ownedPresent(results);
      // A last sweep at a fixed time T: what stays is the owned entries and the TTL entries expiring after T.
      const T = sharedNow();
      checks.finalSweepRemoved = m.sweepExpired(T);
      let surely = 0;
      let maybe = 0;
      let lastExpiry = 0;
      for (let k = 0; k < o.keys; k++) {
        if (gen[k]! <= 0) continue;
        if (lower[k]! > T) surely++;
        else if (upper[k]! > T) maybe++;
        lastExpiry = Math.max(lastExpiry, upper[k]!);
      }
      const ttlLeft = m.size - owned;
      checks.unexpiredAtFinalSweep = ttlLeft;
      if (ttlLeft < surely || ttlLeft > surely + maybe) {
        losses.push(
          `ttl: after a sweep at T, ${ttlLeft} TTL entries remain; expected between ${surely} (expiring surely after T) and ${surely + maybe}`,
        );
      }
      // Once every entry has expired, a sweep leaves exactly the owned entries.
      while (sharedNow() <= lastExpiry) await new Promise((resolve) => setTimeout(resolve, 1));
      checks.lastSweepRemoved = m.sweepExpired();
      const visible = m.snapshot().length;
      if (m.size !== owned || visible !== owned) {
        losses.push(
          `ttl: after every TTL expired and a sweep, size ${m.size} and ${visible} visible entries; expected ${owned} (the owned entries)`,
        );
      }
      checks.finalSize = m.size;
      checks.expiredReadViolations ??= 0;
      return { checks, losses };
    },
  };
}

function leaseRun(o: StressOptions, scratch: SharedArrayBuffer, kc: KeyCodec): PatternRun {
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

function queueRun(
  o: StressOptions,
  scratch: SharedArrayBuffer,
  map: SharedMap<unknown, unknown>,
  workerFile: string,
  kc: KeyCodec,
  vc: ValueCodec,
): PatternRun {
  const queue = DeleteQueue.create<unknown>({ capacity: QUEUE_CAPACITY, key: o.keyType });
  return {
    task: { scratch, queue: queue.handle },
    aux: {
      file: siblingFile(workerFile, 'drainer.js'),
      task: { queue: queue.handle, map: map.handle, idleWaitMs: 100, finalWaitMs: FINAL_WAIT_MS },
    },
    stop: () => queue.close(),
    async verify(m, results, auxResult) {
      const checks = sumCounts(results);
      checks.enqueued ??= 0;
      checks.enqueueRefused ??= 0;
      const losses: string[] = [];
      const drainer = auxResult as
        { drained: number; removed: number; absent: number; pendingAtExit: number } | undefined;
      const qs = queue.stats();
      checks.queueFullRejections = qs.fullRejections;
      checks.queueFullWaits = qs.fullWaits;
      checks.drained = drainer?.drained ?? 0;
      checks.drainerDeleted = drainer?.removed ?? 0;
      checks.drainerFoundAbsent = drainer?.absent ?? 0;
      if (drainer === undefined) losses.push('delete-queue: the drainer thread returned no result');
      else {
        if (
          drainer.removed !== checks.enqueued ||
          drainer.absent !== 0 ||
          qs.enqueued !== checks.enqueued ||
          qs.drained !== checks.enqueued ||
          drainer.pendingAtExit !== 0
        ) {
          losses.push(
            `delete-queue: enqueuers enqueued ${checks.enqueued}; queue says enqueued ${qs.enqueued}, drained ${qs.drained}; drainer deleted ${drainer.removed}, found ${drainer.absent} absent, left ${drainer.pendingAtExit} (each must equal the enqueued count, absent and left 0)`,
          );
        }
      }
      if (qs.fullRejections + qs.closedRejections !== checks.enqueueRefused) {
        losses.push(
          `delete-queue: enqueuers saw ${checks.enqueueRefused} refusals, the queue counted ${qs.fullRejections} full + ${qs.closedRejections} closed`,
        );
      }
      let keysChecked = 0;
      let bad = 0;
      for (let w = 0; w < o.workers; w++) {
        const state = new Uint8Array(scratch, w * DOOMED_PER_WORKER, DOOMED_PER_WORKER);
        const first = doomedBase(o, w);
        for (let i = 0; i < DOOMED_PER_WORKER; i++) {
          if (state[i] === 0) continue;
          keysChecked++;
          const key = kc.key(first + i);
          const got = m.get(key);
          const ok = state[i] === 2 ? got === undefined : got !== undefined;
          if (ok) continue;
          bad++;
          if (losses.length < 20)
            losses.push(
              `delete-queue: worker ${w} key ${vc.show(key)}: ${state[i] === 2 ? 'enqueued, still present' : 'not enqueued, but gone'} (${vc.show(got)})`,
            );
        }
      }
      checks.doomedKeysChecked = keysChecked;
      checks.doomedKeysWrong = bad;
      return { checks, losses };
    },
  };
}

/**
 * The `ttl` scenario: a safe cleanup shape, entries that expire. Every worker
 * is a `ttl` writer and reader; a sweeper thread (src/workers/sweeper.ts, a
 * piscina task of the same pool) reclaims expired entries every SWEEP_MS.
 *
 * Shared state the checks need lives in one "scratch" SharedArrayBuffer per
 * run (layout below); the workers write it with Atomics where several threads
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
 */
import type { SharedMap } from '../../shm/map.js';
import { createStopSwitch, requestStop, sharedNow, type StopSwitch } from '../../shm/patterns/ttl.js';
import type { StressOptions } from '../options.js';
import type { Run } from '../workload.js';
import {
  addCount,
  ownedPresent,
  siblingFile,
  sumCounts,
  type PatternMap,
  type PatternRun,
  type Scenario,
  unsyncedConflicts,
} from './scenario.js';

/** Longest short TTL a `ttl` writer gives (ms); most sets pick 1..MAX_TTL_MS. */
export const MAX_TTL_MS = 20;
/** One set in LONG_TTL_EVERY picks a TTL of LONG_TTL_MS..2*LONG_TTL_MS instead, so entries are still live when the run ends. */
const LONG_TTL_EVERY = 10;
const LONG_TTL_MS = 250;
/** The sweeper thread's interval, ms. */
export const SWEEP_MS = 5;

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

function scratchBytes(keys: number): number {
  return Math.ceil((keys * 4) / 8) * 8 + keys * 16;
}

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
      addCount(c, 'ttlSets');
      continue;
    }
    const k = rng.below(task.keys);
    const g1 = Atomics.load(gen, k);
    const bound = upper[k]!;
    const g2 = Atomics.load(gen, k);
    const t0 = sharedNow();
    const got = run.op('get', kc.key(k));
    if (g1 > 0 && g1 === g2 && t0 > bound) {
      addCount(c, 'expiredReadsChecked');
      if (got !== undefined && vc.equal(got, vc.value(g1, k % task.workers))) {
        addCount(c, 'expiredReadViolations');
        run.loss(
          `key ${vc.show(kc.key(k))}: get at ${t0.toFixed(3)} returned the entry written as ${g1}, expired by ${bound.toFixed(3)} at the latest`,
        );
      }
    }
  }
}

function ttlRun(o: StressOptions, map: SharedMap<unknown, unknown>, workerFile: string): PatternRun {
  const scratch = new SharedArrayBuffer(scratchBytes(o.keys));
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

export const ttl: Scenario = {
  name: 'ttl',
  summary:
    'workers set keys with 1-20 ms TTLs and read them while a sweeper thread reclaims: no expired entry readable',
  minWorkers: 1,
  numeric: false,
  role: () => 'ttl',
  expectedConflicts: unsyncedConflicts,
  map: { ttl: true },
  prefill: false,
  prepare: (o, map, workerFile) => ttlRun(o, map, workerFile),
};

/**
 * The stress runner, callable in-process: `runStress(options)` creates one
 * SharedMap, starts a piscina pool with one thread per worker, runs every
 * worker's task at once (they meet at a start barrier), then verifies the
 * map against what each worker says it wrote and reads the race checker's log.
 *
 * The CLI (src/commands/stress.ts) and the race-detection tests both call it.
 */
import { performance } from 'node:perf_hooks';
import { Piscina } from 'piscina';
import { SharedMap } from '../shm/map.js';
import type { ConflictKind, ConflictRecord, SharedMapStats } from '../shm/types.js';
import { countConflicts } from '../race/report.js';
import { mergeHistograms, summarize, type LatencySummary } from './histogram.js';
import { keyCodec, valueCodec, type KeyCodec, type ValueCodec } from './keys.js';
import { formatDist, formatMix, type StressOptions } from './options.js';
import { validateOptions } from './validate.js';
import { CONTROL, isWriterRole, type Role, type StressTask, type WorkerResult } from './protocol.js';
import { COUNTER_KEYS, preparePattern, SCENARIOS } from './scenarios/index.js';
import { collectHistory, DEFAULT_HISTORY_BUFFER, recordInitialState, type StressHistory } from './history.js';
import { HOT_METRICS, hotSpots, type HotSpots } from './hot.js';

/** Losses printed key by key, at most this many. */
export const LOSSES_SHOWN = 20;

export { validateOptions };

export interface RunHooks {
  /** The compiled piscina task (default: dist/workers/stress.js beside this file). Tests pass distPath('workers/stress.js'). */
  workerFile?: string;
  /** Called about every `progressEveryMs` with the ops done so far. */
  onProgress?: (p: { ops: number; elapsedMs: number; fraction: number }) => void;
  progressEveryMs?: number;
  /** Aborting stops every worker at its next check; the run then verifies what was done. */
  signal?: AbortSignal;
  /** Called with the map as soon as it exists, before any worker starts (`--metrics-port`, `--watch`, `--alert-url` watch it). */
  onMap?: (map: SharedMap<unknown, unknown>) => void | Promise<void>;
}

export interface WorkerSummary {
  index: number;
  threadId: number;
  role: Role;
  ops: number;
  opsPerSec: number;
  gc: { count: number; totalMs: number; maxMs: number };
  iterationsCompleted: number;
  iterationsAborted: number;
  deleted: number;
  errors: Record<string, number>;
}

export interface Verification {
  ok: boolean;
  ownedKeysChecked: number;
  countersChecked: number;
  /** Every loss found, first LOSSES_SHOWN described key by key. */
  lossCount: number;
  losses: string[];
  /** checkInvariants(map) result when src/shm/debug.ts provides it: 'ok', the failure, or 'unavailable'. */
  invariants: string;
  /** The ttl / lease / delete-queue scenario's own checks (./scenarios/): counts by name. */
  pattern?: Record<string, number>;
}

export interface StressResult {
  options: Omit<StressOptions, 'mix' | 'dist'> & { mix: string; dist: string };
  elapsedMs: number;
  /** Stopped early through RunHooks.signal (Ctrl-C in the CLI); what was done is still verified. */
  interrupted: boolean;
  totalOps: number;
  opsPerSec: number;
  workers: WorkerSummary[];
  /** Per op kind, merged over every worker; nanoseconds. */
  latency: Record<string, LatencySummary>;
  conflicts: {
    records: ConflictRecord[];
    byKind: Record<ConflictKind, number>;
    overflowed: number;
    /** Kinds the scenario provokes on purpose. */
    expected: ConflictKind[];
    /** Recorded conflicts of other kinds (with sync 'lock' these fail the run). */
    unexpected: number;
  };
  stats: SharedMapStats;
  /** The hottest sampled keys and the most contended shards (./hot.ts). */
  hot: HotSpots;
  verification: Verification;
  /** 0 verified and no unexpected conflict, 1 otherwise. */
  exitCode: 0 | 1;
  /** Why the exit code is 1 (empty when 0). */
  failures: string[];
  /** threadId -> 'worker N', for reports. */
  threadNames: Map<number, string>;
  /** `--history`: what was recorded, the merged history, and the check (`--check`). */
  history?: StressHistory;
}

function defaultWorkerFile(): string {
  return new URL('../workers/stress.js', import.meta.url).href;
}

/** Splits `total` ops over the writer roles; handler roles get undefined (they run until the writers are done). */
function budgets(total: number, roles: Role[]): Array<number | undefined> {
  const writers = roles.filter(isWriterRole).length;
  let w = 0;
  return roles.map((r) => {
    if (!isWriterRole(r)) return undefined;
    return Math.floor(total / writers) + (w++ < total % writers ? 1 : 0);
  });
}

export async function runStress(options: StressOptions, hooks: RunHooks = {}): Promise<StressResult> {
  validateOptions(options);
  const o = options;
  const scenario = SCENARIOS[o.scenario]!;
  const roles = Array.from({ length: o.workers }, (_, i) => scenario.role(i, o.workers));
  const writers = roles.filter(isWriterRole).length;
  const totalKeys = o.keys + o.workers * o.owned;

  const map = SharedMap.create<unknown, unknown>({
    key: o.keyType,
    value: o.valueType,
    capacity: totalKeys + 1024,
    maxCapacity: Math.max(4 * totalKeys, 1 << 16),
    ...(o.shards === undefined ? {} : { shards: o.shards }),
    sync: o.sync,
    // With locks the only conflict is an iteration overlapping a foreign
    // write, and the fail-fast iterator must throw it (Go's fatal error). Without
    // locks, writers and readers only record, so the run goes on and the
    // verification shows what the races lost.
    onConflict: o.sync === 'lock' ? 'throw' : 'record',
    seed: o.seed | 0,
    conflictLogSize: 1024,
    metrics: HOT_METRICS,
    ...scenario.map,
  });
  await hooks.onMap?.(map);
  const kc = keyCodec(o.keyType);
  const vc = valueCodec(o.valueType);
  // Start with the shared key space full (counters start absent, i.e. 0).
  if (o.scenario !== 'counters' && scenario.prefill !== false)
    for (let id = 0; id < o.keys; id++) map.set(kc.key(id), vc.value(0, 0));

  const control = new SharedArrayBuffer(CONTROL.bytes(o.workers));
  const words = new Int32Array(control);
  const progress = new Float64Array(control);
  const stop = (): void => {
    Atomics.store(words, CONTROL.STOP_I32, 1);
  };
  hooks.signal?.addEventListener('abort', stop, { once: true });

  // The ttl / lease / delete-queue scenarios' shared state and helper thread (a task of the same pool).
  const pattern = preparePattern(o, map, hooks.workerFile ?? defaultWorkerFile(), kc, vc);
  const threads = o.workers + (pattern?.aux === undefined ? 0 : 1);
  const pool = new Piscina<StressTask, WorkerResult>({
    filename: hooks.workerFile ?? defaultWorkerFile(),
    minThreads: threads,
    maxThreads: threads,
    concurrentTasksPerWorker: 1,
    idleTimeout: 60_000,
  });
  const opBudgets = o.ops === undefined ? roles.map(() => undefined) : budgets(o.ops, roles);
  const timer = setInterval(() => {
    let ops = 0;
    for (let w = 0; w < o.workers; w++) ops += progress[CONTROL.progressF64(w)]!;
    // Time since the workers passed the start barrier (0 while the pool starts).
    const startedAt = progress[CONTROL.START_F64]!;
    const elapsedMs = startedAt === 0 ? 0 : performance.timeOrigin + performance.now() - startedAt;
    const fraction = o.ops === undefined ? elapsedMs / o.durationMs : ops / o.ops;
    hooks.onProgress?.({ ops, elapsedMs, fraction: Math.min(1, fraction) });
  }, hooks.progressEveryMs ?? 250);

  // `--history`: the sampled keys' state before any worker starts (the main thread is thread `workers`).
  const initial =
    (o.historyKeys ?? 0) > 0 ? recordInitialState(map, kc, Math.min(o.historyKeys!, o.keys), o.workers) : [];
  let results: WorkerResult[];
  let auxResult: unknown;
  const aux =
    pattern?.aux === undefined
      ? undefined
      : (pool.run(pattern.aux.task as never, { filename: pattern.aux.file }) as Promise<unknown>);
  aux?.catch(() => undefined);
  try {
    results = await Promise.all(
      roles.map((role, index) =>
        pool.run({
          handle: map.handle,
          control,
          index,
          workers: o.workers,
          writers,
          role,
          keys: o.keys,
          owned: o.owned,
          keyType: o.keyType,
          valueType: o.valueType,
          mix: o.mix,
          dist: o.dist,
          sync: o.sync,
          seed: o.seed,
          durationMs: o.durationMs,
          ops: opBudgets[index],
          byOps: o.ops !== undefined,
          historyKeys: o.historyKeys ?? 0,
          historyBuffer: o.historyBuffer ?? DEFAULT_HISTORY_BUFFER,
          ...(pattern === undefined ? {} : { pattern: pattern.task }),
        }),
      ),
    );
    pattern?.stop();
    auxResult = await aux;
  } catch (err) {
    stop();
    pattern?.stop();
    throw err;
  } finally {
    clearInterval(timer);
    hooks.signal?.removeEventListener('abort', stop);
    await pool.destroy();
  }
  const elapsedMs = Math.max(...results.map((r) => r.elapsedMs));

  const verification = await verify(map, results, o.scenario === 'counters', kc, vc);
  if (pattern !== undefined) {
    const own = await pattern.verify(map, results, auxResult);
    verification.pattern = own.checks;
    for (const text of own.losses) {
      verification.lossCount++;
      if (verification.losses.length < LOSSES_SHOWN) verification.losses.push(text);
    }
    verification.ok = verification.lossCount === 0;
  }
  const stats = map.stats();
  const records = map.conflicts();
  const expected = scenario.expectedConflicts(o.sync, o.mix);
  const byKind = countConflicts(records);
  const unexpected = records.filter((r) => !expected.includes(r.kind)).length;

  const failures: string[] = [];
  if (!verification.ok) failures.push(`verification failed: ${verification.lossCount} loss(es)`);
  const history =
    (o.historyKeys ?? 0) > 0
      ? await collectHistory(
          initial,
          results.map((r) => r.history),
          Math.min(o.historyKeys!, o.keys),
          kc,
          o.valueType,
          o.historyCheckTimeoutMs === undefined ? undefined : { timeoutMs: o.historyCheckTimeoutMs },
          progress[CONTROL.START_F64],
        )
      : undefined;
  // A violation fails the run; `unknown` (a key's search ran out of time) is reported, not a failure.
  if (history?.check?.status === 'violation')
    failures.push(`history not linearizable: ${history.check.counts.violation} key(s) in violation`);
  if (verification.invariants !== 'ok' && verification.invariants !== 'unavailable')
    failures.push(`invariants: ${verification.invariants}`);
  if (o.sync === 'lock') {
    if (unexpected > 0) failures.push(`${unexpected} unexpected conflict(s) with --sync lock`);
    if (expected.length === 0 && stats.conflictsOverflowed > 0)
      failures.push(`${stats.conflictsOverflowed} conflict record(s) overflowed with --sync lock`);
    const nonConflictErrors = results
      .flatMap((r) => Object.keys(r.errors))
      .filter((c) => c !== 'SHMAP_CONCURRENT_ITERATION');
    if (nonConflictErrors.length > 0)
      failures.push(`map operations threw ${[...new Set(nonConflictErrors)].join(', ')}`);
  }

  const totalOps = results.reduce((s, r) => s + r.ops, 0);
  const merged = mergeHistograms(results.map((r) => r.histograms));
  const latency: Record<string, LatencySummary> = {};
  for (const [kind, h] of merged) latency[kind] = summarize(h);
  return {
    options: { ...o, mix: formatMix(o.mix), dist: formatDist(o.dist) },
    elapsedMs,
    interrupted: hooks.signal?.aborted ?? false,
    totalOps,
    opsPerSec: totalOps / (elapsedMs / 1000),
    workers: results.map((r) => ({
      index: r.index,
      threadId: r.threadId,
      role: r.role,
      ops: r.ops,
      opsPerSec: r.ops / (r.elapsedMs / 1000),
      gc: r.gc,
      iterationsCompleted: r.iterationsCompleted,
      iterationsAborted: r.iterationsAborted,
      deleted: r.deleted,
      errors: r.errors,
    })),
    latency,
    conflicts: { records, byKind, overflowed: stats.conflictsOverflowed, expected, unexpected },
    stats,
    hot: hotSpots(map, stats, kc.id, vc.show),
    verification,
    exitCode: failures.length === 0 ? 0 : 1,
    failures,
    threadNames: new Map(results.map((r) => [r.threadId, `worker ${r.index}`])),
    ...(history === undefined ? {} : { history }),
  };
}

/** The end-of-run check: every owned key exact, every counter sum exact, the map's invariants (when available). */
async function verify(
  map: SharedMap<unknown, unknown>,
  results: WorkerResult[],
  counters: boolean,
  kc: KeyCodec,
  vc: ValueCodec,
): Promise<Verification> {
  const losses: string[] = [];
  let lossCount = 0;
  const loss = (text: string): void => {
    lossCount++;
    if (losses.length < LOSSES_SHOWN) losses.push(text);
  };
  let ownedKeysChecked = 0;
  for (const r of results) {
    for (const text of r.inFlightLosses) loss(`during the run, ${text}`);
    lossCount += r.inFlightLossCount - r.inFlightLosses.length;
  }
  const probe = (key: unknown): unknown => {
    try {
      return map.get(key);
    } catch (err) {
      return `<get threw ${(err as Error).message}>`;
    }
  };
  for (const r of results) {
    for (const e of r.owned) {
      ownedKeysChecked++;
      const key = kc.key(e.id);
      const got = probe(key);
      const ok = e.present ? vc.equal(got, e.value) : got === undefined;
      if (!ok)
        loss(
          `worker ${r.index} key ${vc.show(key)}: expected ${e.present ? vc.show(e.value) : 'absent'}, found ${vc.show(got)}`,
        );
    }
  }
  let countersChecked = 0;
  if (counters) {
    for (let c = 0; c < COUNTER_KEYS; c++) {
      countersChecked++;
      const want = results.reduce((s, r) => s + (r.counterSums[c] ?? 0), 0);
      const key = kc.key(c);
      const got = probe(key) ?? 0;
      if (got !== want)
        loss(
          `counter key ${vc.show(key)}: expected sum ${want}, found ${vc.show(got)} (${typeof got === 'number' ? want - got : '?'} lost)`,
        );
    }
  }
  return {
    ok: lossCount === 0,
    ownedKeysChecked,
    countersChecked,
    lossCount,
    losses,
    invariants: await invariants(map),
  };
}

/** Runs src/shm/debug.ts checkInvariants(map) if that module exists. */
async function invariants(map: SharedMap<unknown, unknown>): Promise<string> {
  let debug: { checkInvariants?: (m: unknown) => unknown };
  try {
    debug = (await import(['..', 'shm', 'debug.js'].join('/'))) as typeof debug;
  } catch {
    return 'unavailable';
  }
  if (typeof debug.checkInvariants !== 'function') return 'unavailable';
  try {
    debug.checkInvariants(map);
    return 'ok';
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

/**
 * What a stress scenario is, and the pieces several scenarios share. One file
 * per scenario beside this one defines its row (which worker plays which role,
 * which conflicts it provokes on purpose), its roles' loops, and, for the
 * scenarios with a helper thread or checks of their own, its main-thread side;
 * ./index.ts is the registry. With `--sync lock`, any conflict a scenario does
 * not expect fails the run.
 */
import { dirname, join } from 'node:path';
import type { SharedMap } from '../../shm/map.js';
import type { ConflictKind, SyncMode } from '../../shm/types.js';
import type { KeyCodec, ValueCodec } from '../keys.js';
import type { Mix, StressOptions } from '../options.js';
import type { PatternTask, Role, WorkerResult } from '../protocol.js';
import { CONTROL } from '../protocol.js';
import type { Run } from '../workload.js';

export interface Scenario {
  name: string;
  summary: string;
  /** Fewest workers that make the scenario meaningful. */
  minWorkers: number;
  /** Needs a numeric value type (uses map.add). */
  numeric: boolean;
  /** The role of worker `index` of `workers`. */
  role(index: number, workers: number): Role;
  /** Conflict kinds the scenario provokes on purpose under `sync`. */
  expectedConflicts(sync: SyncMode, mix: Mix): ConflictKind[];
  /** Map features the scenario needs (default none). */
  map?: { ttl?: boolean; leases?: boolean };
  /** Fill the shared key space before the run (default true). */
  prefill?: boolean;
  /** Key ids the scenario uses beyond the shared and owned ones (default 0). */
  extraKeyIds?(workers: number): number;
  /** Sets up the scenario's shared state, helper thread and own checks on the main thread (default none). */
  prepare?(
    o: StressOptions,
    map: SharedMap<unknown, unknown>,
    workerFile: string,
    kc: KeyCodec,
    vc: ValueCodec,
  ): PatternRun;
}

/** What a scenario with its own shared state adds to one stress run, on the main thread. */
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

/** The part of SharedMap's API the pattern roles use beyond StressMap. */
export interface PatternMap {
  get(key: unknown): unknown;
  set(key: unknown, value: unknown, options?: { ttlMs?: number }): unknown;
  acquire(key: unknown): unknown;
  release(key: unknown): boolean;
  retire(key: unknown): 'removed' | 'deferred' | 'absent';
  leaseCount(key: unknown): number;
  snapshot(): Array<[unknown, unknown]>;
}

export const ITERATION: ConflictKind = 'concurrent map iteration and map write';
export const ALL_KINDS: ConflictKind[] = ['concurrent map writes', 'concurrent map read and map write', ITERATION];

/** `expectedConflicts` of a scenario that never iterates: every kind with sync 'none', none under the locks. */
export function unsyncedConflicts(sync: SyncMode): ConflictKind[] {
  return sync === 'none' ? ALL_KINDS : [];
}

/** `expectedConflicts` of a scenario whose only iteration is the mix's `iterate` share: as above, plus iteration conflicts when the mix iterates. */
export function mixConflicts(sync: SyncMode, mix: Mix): ConflictKind[] {
  return sync === 'none' ? ALL_KINDS : mix.iterate > 0 ? [ITERATION] : [];
}

/** Share of write/read ops that go to the worker's owned keys instead of the shared space. */
export const OWNED_SHARE = 0.25;

/** How long the end of a run waits for stragglers (deferred removals, final enqueues), ms. */
export const FINAL_WAIT_MS = 5_000;

/** Workers 0 .. handlers-1 clean up, the rest write: a quarter of the pool, at least one of each. */
export function handlerCount(workers: number): number {
  return Math.max(1, Math.min(workers - 1, Math.floor(workers / 4)));
}

/** Range-deleters and sweepers: a cleanup pass, then a few owned writes, until the writers are done. */
export function runCleanup(run: Run, sweep: boolean): void {
  let round = 0;
  do {
    if (sweep) run.sweep(round);
    else run.rangeDelete(round);
    round++;
    for (let j = 0; j < 8; j++) run.ownedOp(run.rng.next() < 0.5 ? 'set' : 'get');
    run.progress[CONTROL.progressF64(run.task.index)] = run.ops;
  } while (run.writersRunning());
}

export function addCount(counts: Record<string, number>, name: string, n = 1): void {
  counts[name] = (counts[name] ?? 0) + n;
}

/** `name` in the folder of `base` (a path or a file: URL). */
export function siblingFile(base: string, name: string): string {
  return base.startsWith('file:') ? new URL(name, base).href : join(dirname(base), name);
}

/** The pattern counts of every worker, summed. */
export function sumCounts(results: WorkerResult[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of results) for (const [k, n] of Object.entries(r.pattern ?? {})) addCount(out, k, n);
  return out;
}

/** Owned keys expected present at the end, over every worker. */
export function ownedPresent(results: WorkerResult[]): number {
  return results.reduce((n, r) => n + r.owned.filter((e) => e.present).length, 0);
}

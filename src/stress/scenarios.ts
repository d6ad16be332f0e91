/**
 * The scenario table: what each `--scenario` does, which workers play which
 * role, and which conflicts it provokes on purpose (with `--sync lock`, any
 * other conflict fails the run). The loops themselves are in ./workload.ts;
 * add a scenario by adding a row here and a case there.
 */
import type { ConflictKind, SyncMode } from '../shm/types.js';
import type { Mix } from './options.js';

/** What one worker does in a scenario. */
export type Role =
  /** The `--mix` workload over the shared key space, plus writes to its owned keys. */
  | 'mixed'
  /** Ranges over the map with for...of and deletes what it meets (the anti-pattern). */
  | 'range-deleter'
  /** The same cleanup done with map.sweep(pred). */
  | 'sweeper'
  /** map.add on a few hot counter keys shared by every worker. */
  | 'counter'
  /** ttl: sets shared keys with short TTLs and checks no expired entry is readable (./patterns.ts). */
  | 'ttl'
  /** lease: acquire, use, release shared keys, checking a leased entry is never removed. */
  | 'lease-user'
  /** lease: retires shared keys and re-inserts them once removed. */
  | 'retirer'
  /** delete-queue: ranges over a snapshot and enqueues its doomed keys instead of deleting them. */
  | 'enqueuer';

/** Roles with an op budget in `--ops` mode; the others run until these are done. */
export function isWriterRole(role: Role): boolean {
  return role === 'mixed' || role === 'counter' || role === 'ttl' || role === 'lease-user';
}

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
}

const ITERATION: ConflictKind = 'concurrent map iteration and map write';
const ALL_KINDS: ConflictKind[] = ['concurrent map writes', 'concurrent map read and map write', ITERATION];

/** Workers 0 .. handlers-1 clean up, the rest write: a quarter of the pool, at least one of each. */
function handlerCount(workers: number): number {
  return Math.max(1, Math.min(workers - 1, Math.floor(workers / 4)));
}

export const SCENARIOS: Record<string, Scenario> = {
  mixed: {
    name: 'mixed',
    summary: 'every worker runs the --mix workload over the whole key space (default)',
    minWorkers: 1,
    numeric: false,
    role: () => 'mixed',
    // An `iterate` op in the mix overlaps other workers' writes by design: the
    // fail-fast iterator is expected to catch those.
    expectedConflicts: (sync, mix) => (sync === 'none' ? ALL_KINDS : mix.iterate > 0 ? [ITERATION] : []),
  },
  'range-delete': {
    name: 'range-delete',
    summary:
      'handler workers range over the map and delete while the others write (the anti-pattern: expect conflicts)',
    minWorkers: 2,
    numeric: false,
    role: (i, n) => (i < handlerCount(n) ? 'range-deleter' : 'mixed'),
    expectedConflicts: (sync) => (sync === 'none' ? ALL_KINDS : [ITERATION]),
  },
  sweep: {
    name: 'sweep',
    summary: 'the same cleanup done safely with map.sweep() while the others write: zero conflicts',
    minWorkers: 2,
    numeric: false,
    role: (i, n) => (i < handlerCount(n) ? 'sweeper' : 'mixed'),
    expectedConflicts: (sync, mix) => (sync === 'none' ? ALL_KINDS : mix.iterate > 0 ? [ITERATION] : []),
  },
  counters: {
    name: 'counters',
    summary: 'every worker adds to a few hot counter keys: the final sums must be exact',
    minWorkers: 1,
    numeric: true,
    role: () => 'counter',
    expectedConflicts: (sync) => (sync === 'none' ? ALL_KINDS : []),
  },
  // The safe cleanup shapes of issue 5; roles, checks and helper threads in ./patterns.ts.
  ttl: {
    name: 'ttl',
    summary:
      'workers set keys with 1-20 ms TTLs and read them while a sweeper thread reclaims: no expired entry readable',
    minWorkers: 1,
    numeric: false,
    role: () => 'ttl',
    expectedConflicts: (sync) => (sync === 'none' ? ALL_KINDS : []),
    map: { ttl: true },
    prefill: false,
  },
  lease: {
    name: 'lease',
    summary:
      'workers acquire/use/release entries while worker 0 retires and re-inserts them: no leased entry removed, each retired entry removed once',
    minWorkers: 2,
    numeric: false,
    role: (i) => (i === 0 ? 'retirer' : 'lease-user'),
    expectedConflicts: (sync) => (sync === 'none' ? ALL_KINDS : []),
    map: { leases: true },
  },
  'delete-queue': {
    name: 'delete-queue',
    summary:
      'handlers enqueue keys to delete into a DeleteQueue, a drainer thread deletes them: each exactly once, none lost when full',
    minWorkers: 2,
    numeric: false,
    role: (i, n) => (i < handlerCount(n) ? 'enqueuer' : 'mixed'),
    expectedConflicts: (sync, mix) => (sync === 'none' ? ALL_KINDS : mix.iterate > 0 ? [ITERATION] : []),
  },
  // Runs through src/stress/chaos.ts (its own runner: kills, replacements, its own verification).
  chaos: {
    name: 'chaos',
    summary:
      'the mixed workload plus a TTL sweeper and a delete-queue drainer while tasks are aborted at random (--kill-interval): nothing lost, nothing wedged',
    minWorkers: 1,
    numeric: false,
    role: () => 'mixed',
    expectedConflicts: () => [],
    map: { ttl: true },
  },
};

/** Hot counter keys of the `counters` scenario (ids 0 .. COUNTER_KEYS-1 of the shared space). */
export const COUNTER_KEYS = 8;

/** Doomed keys each worker of the `delete-queue` scenario may create (ids reserved after the owned keys). */
export const DOOMED_PER_WORKER = 4096;

/** Key ids a scenario uses beyond the shared and owned ones. */
export function extraKeyIds(scenario: string, workers: number): number {
  return scenario === 'delete-queue' || scenario === 'chaos' ? workers * DOOMED_PER_WORKER : 0;
}

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
  | 'counter';

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
    summary: 'handler workers range over the map and delete while the others write (the anti-pattern: expect conflicts)',
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
};

/** Hot counter keys of the `counters` scenario (ids 0 .. COUNTER_KEYS-1 of the shared space). */
export const COUNTER_KEYS = 8;

/**
 * The scenario registry: every `--scenario`, and the loop each worker role
 * runs. A scenario lives in its own file beside this one (its row, its roles'
 * loops, its main-thread side if it has one; ./scenario.ts says what a row
 * holds); add one by writing that file and listing it here.
 */
import type { SharedMap } from '../../shm/map.js';
import type { KeyCodec, ValueCodec } from '../keys.js';
import type { StressOptions } from '../options.js';
import type { Role } from '../protocol.js';
import type { Run } from '../workload.js';
import { chaos } from './chaos.js';
import { counters, runCounters } from './counters.js';
import { deleteQueue, runEnqueuer } from './delete-queue.js';
import { lease, runLeaseUser, runRetirer } from './lease.js';
import { mixed, runMixed } from './mixed.js';
import { nearCache } from './near-cache.js';
import { rangeDelete, runRangeDeleter } from './range-delete.js';
import type { PatternRun, Scenario } from './scenario.js';
import { runSweeper, sweep } from './sweep.js';
import { runTtl, ttl } from './ttl.js';

export type { PatternRun, Scenario } from './scenario.js';
export { COUNTER_KEYS } from './counters.js';

/** Every scenario by its `--scenario` name. */
export const SCENARIOS: Record<string, Scenario> = Object.fromEntries(
  [mixed, rangeDelete, sweep, counters, ttl, lease, deleteQueue, chaos, nearCache].map((s) => [s.name, s]),
);

/** The loop a worker of each role runs (in its stress task, see ../worker.ts). */
export const ROLE_LOOPS: Record<Role, (run: Run) => void> = {
  mixed: runMixed,
  'range-deleter': runRangeDeleter,
  sweeper: runSweeper,
  counter: runCounters,
  ttl: runTtl,
  'lease-user': runLeaseUser,
  retirer: runRetirer,
  enqueuer: runEnqueuer,
};

/** Key ids `scenario` uses beyond the shared and owned ones. */
export function extraKeyIds(scenario: string, workers: number): number {
  return SCENARIOS[scenario]?.extraKeyIds?.(workers) ?? 0;
}

/** Sets up the scenario's shared state, helper thread and own checks (ttl, lease, delete-queue); undefined for the others. */
export function preparePattern(
  o: StressOptions,
  map: SharedMap<unknown, unknown>,
  workerFile: string,
  kc: KeyCodec,
  vc: ValueCodec,
): PatternRun | undefined {
  return SCENARIOS[o.scenario]?.prepare?.(o, map, workerFile, kc, vc);
}

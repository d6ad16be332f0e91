/**
 * The `chaos` scenario's row. It runs through ../chaos.ts, its own runner
 * (kills, replacements, its own verification); the `mixed` role here only
 * names what its worker slots do.
 */
import { CHAOS_DOOMED } from '../chaos.js';
import type { Scenario } from './scenario.js';

export const chaos: Scenario = {
  name: 'chaos',
  summary:
    'the mixed workload plus a TTL sweeper and a delete-queue drainer while tasks are aborted at random (--kill-interval): nothing lost, nothing wedged',
  minWorkers: 1,
  numeric: false,
  role: () => 'mixed',
  expectedConflicts: () => [],
  map: { ttl: true },
  extraKeyIds: (workers) => workers * CHAOS_DOOMED,
};

/**
 * The `near-cache` scenario's row. It runs through ../near-cache.ts, its own
 * runner (a redis-server, a NearCache shared by the workers, a direct writer,
 * its own check of every read against the staleness bound); the `mixed` role
 * here only names what its worker slots do.
 */
import type { Scenario } from './scenario.js';

export const nearCache: Scenario = {
  name: 'near-cache',
  summary:
    'workers read and write Redis through one NearCache while a plain client writes Redis directly: every read within the staleness bound',
  minWorkers: 1,
  numeric: false,
  role: () => 'mixed',
  expectedConflicts: () => [],
};

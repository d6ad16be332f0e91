/**
 * The `near-cache` scenario's row. It runs through ../near-cache.ts, its own
 * runner (a redis-server, P processes each with a NearCache shared by its
 * worker threads, a direct writer, its own check of every read against the
 * staleness bound); the `mixed` role here only names what its worker slots
 * do.
 */
import type { Scenario } from './scenario.js';

export const nearCache: Scenario = {
  name: 'near-cache',
  summary:
    "P processes x W threads read and write Redis through each process's NearCache while a plain client writes Redis directly: every read within the staleness bound",
  minWorkers: 1,
  numeric: false,
  role: () => 'mixed',
  expectedConflicts: () => [],
};

/**
 * The `range-delete` scenario, the anti-pattern: handler workers range over
 * the map with for...of and delete what they meet while the others write. The
 * fail-fast iterator must catch it (expected conflicts, even under a lock).
 */
import type { Run } from '../workload.js';
import { ALL_KINDS, handlerCount, ITERATION, runCleanup, type Scenario } from './scenario.js';

export function runRangeDeleter(run: Run): void {
  runCleanup(run, false);
}

export const rangeDelete: Scenario = {
  name: 'range-delete',
  summary: 'handler workers range over the map and delete while the others write (the anti-pattern: expect conflicts)',
  minWorkers: 2,
  numeric: false,
  role: (i, n) => (i < handlerCount(n) ? 'range-deleter' : 'mixed'),
  expectedConflicts: (sync) => (sync === 'none' ? ALL_KINDS : [ITERATION]),
};

/**
 * The `sweep` scenario: the cleanup of range-delete done safely with
 * map.sweep(pred) while the others write: no conflict under a lock.
 */
import type { Run } from '../workload.js';
import { handlerCount, runCleanup, type Scenario, mixConflicts } from './scenario.js';

export function runSweeper(run: Run): void {
  runCleanup(run, true);
}

export const sweep: Scenario = {
  name: 'sweep',
  summary: 'the same cleanup done safely with map.sweep() while the others write: zero conflicts',
  minWorkers: 2,
  numeric: false,
  role: (i, n) => (i < handlerCount(n) ? 'sweeper' : 'mixed'),
  expectedConflicts: mixConflicts,
};

/**
 * The `counters` scenario: every worker adds to a few hot counter keys; each
 * worker reports what it added (WorkerResult.counterSums) and the runner
 * checks every final sum is exact.
 */
import type { Run } from '../workload.js';
import { OWNED_SHARE, type Scenario, unsyncedConflicts } from './scenario.js';

/** Hot counter keys (ids 0 .. COUNTER_KEYS-1 of the shared space). */
export const COUNTER_KEYS = 8;

export function runCounters(run: Run): void {
  const { task, rng, kc } = run;
  const counterKeys = Array.from({ length: COUNTER_KEYS }, (_, c) => kc.key(c));
  const sums = run.counterSums;
  for (let c = 0; c < COUNTER_KEYS; c++) sums[c] = 0;
  while (run.more(task.ops)) {
    if (rng.next() < OWNED_SHARE) {
      run.ownedOp(rng.next() < 0.5 ? 'add' : 'set');
      continue;
    }
    const c = rng.below(COUNTER_KEYS);
    const delta = 1 + rng.below(3);
    const out =
      c < run.sampled
        ? run.recordedOp('add', c, counterKeys[c], delta, undefined)
        : run.op('add', counterKeys[c], delta);
    // Count only adds that returned: one that threw may not have happened.
    if (out !== undefined) sums[c]! += delta;
  }
}

export const counters: Scenario = {
  name: 'counters',
  summary: 'every worker adds to a few hot counter keys: the final sums must be exact',
  minWorkers: 1,
  numeric: true,
  role: () => 'counter',
  expectedConflicts: unsyncedConflicts,
};

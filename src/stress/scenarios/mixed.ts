/**
 * The `mixed` scenario (the default): every worker runs the `--mix` workload
 * over the shared key space, plus checked ops on the keys it owns. The
 * `mixed` role is also the writers' loop of range-delete, sweep and
 * delete-queue.
 */
import { keyPicker } from '../keys.js';
import { MIX_OPS, type MixOp } from '../options.js';
import type { StressTask } from '../protocol.js';
import type { Run } from '../workload.js';
import { OWNED_SHARE, type Scenario, mixConflicts } from './scenario.js';

/** Op picked for each percent 0..99 of the mix. */
function mixTable(task: StressTask): MixOp[] {
  const table: MixOp[] = [];
  for (const op of MIX_OPS) for (let i = 0; i < task.mix[op]; i++) table.push(op);
  return table;
}

export function runMixed(run: Run): void {
  const { task, rng, kc } = run;
  const table = mixTable(task);
  const picker = keyPicker(task.dist, task.keys);
  let round = 0;
  // One update function for the whole run (no closure per op): it returns the value set just before the call.
  let pending: unknown;
  const updateToPending = (): unknown => pending;
  while (run.more(task.ops)) {
    const op = table[rng.below(100)]!;
    if (op === 'iterate') {
      run.iterate();
      continue;
    }
    if (op === 'sweep') {
      run.sweep(round++);
      continue;
    }
    if (rng.next() < OWNED_SHARE) {
      run.ownedOp(op);
      continue;
    }
    const id = picker.pick(rng);
    const key = kc.key(id);
    let value: unknown;
    if (op === 'set' || op === 'update') value = pending = run.vc.value(++run.writeN, task.index);
    const arg = op === 'set' ? value : op === 'update' ? updateToPending : 1;
    if (id < run.sampled) run.recordedOp(op, id, key, arg, value);
    else run.op(op, key, arg);
  }
}

export const mixed: Scenario = {
  name: 'mixed',
  summary: 'every worker runs the --mix workload over the whole key space (default)',
  minWorkers: 1,
  numeric: false,
  role: () => 'mixed',
  // An `iterate` op in the mix overlaps other workers' writes by design: the
  // fail-fast iterator is expected to catch those.
  expectedConflicts: mixConflicts,
};

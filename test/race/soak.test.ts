/**
 * The false-alarm soak of both checkers, bounded for the suite (the long one
 * is `node dist/main.js lincheck soak`): short stress runs of every scenario
 * that is correct by design, on hot keys, the race checker on, each history
 * recorded into buffers small enough to fill early (so every history is cut)
 * and checked for linearizability. On the real map every run must pass. The
 * negative controls in the same suite prove both checkers still bite on
 * this path: with `sync: 'none'` the race checker records the collisions,
 * and a recorded history in which one read returns a value nobody wrote is a
 * violation whose counterexample holds that read and only ops of the input.
 */
import { describe, expect, it } from 'vitest';
import { checkLinearizability } from '../../src/race/linearizability.js';
import type { HistoryOp } from '../../src/race/history.js';
import { runStress } from '../../src/stress/run.js';
import { SOAK_SCENARIOS, runSoak, soakOptions } from '../../src/stress/soak.js';
import { distPath } from '../helpers/paths.js';

const workerFile = distPath('workers/stress.js');
const SEED = Number(process.env.SHMAP_TEST_SEED ?? Date.now() % 0x7fffffff);
console.log(`soak.test.ts seed ${SEED} (SHMAP_TEST_SEED=${SEED} to replay)`);

describe('false-alarm soak (bounded)', { timeout: 300_000 }, () => {
  it('every scenario that is correct by design passes, with every history cut by a full buffer', async () => {
    const r = await runSoak({ runs: 3 * SOAK_SCENARIOS.length, seed: SEED, workerFile });
    const failed = r.runs.filter((run) => !run.ok).map((run) => `${run.scenario} seed ${run.seed}: ${run.failures}`);
    expect(failed).toEqual([]);
    expect({ falseAlarms: r.falseAlarms, race: r.raceFalseAlarms, lin: r.linFalseAlarms }).toEqual({
      falseAlarms: 0,
      race: 0,
      lin: 0,
    });
    expect(new Set(r.runs.map((run) => run.scenario))).toEqual(new Set(SOAK_SCENARIOS));
    expect(r.runs.every((run) => run.check === 'ok' || run.check === 'unknown')).toBe(true);
    expect(r.cut).toBe(r.runs.length);
    expect(r.opsChecked).toBeGreaterThan(0);
  });

  it("negative control: the same runs with sync: 'none' make the race checker record conflicts", async () => {
    // Collisions need preemption at the right moment: up to 5 runs, stopping at the first that records one.
    let conflicts = 0;
    for (let i = 0; i < 5 && conflicts === 0; i++) {
      const r = await runStress(soakOptions(0, SEED + i, { sync: 'none', ops: 30_000 }), { workerFile });
      conflicts = r.conflicts.records.length + r.conflicts.overflowed;
    }
    expect(conflicts).toBeGreaterThan(0);
  });

  it('negative control: a recorded history with one read of a value nobody wrote is a violation, shown with ops of the input only', async () => {
    const r = await runStress(soakOptions(0, SEED), { workerFile });
    const ops = r.history!.ops;
    expect(r.history!.check?.status).toBe('ok');
    // The last completed get of a key that was written: it now returns a value no op wrote.
    const at = ops.findLastIndex(
      (op, i) =>
        op.op === 'get' && op.ret !== Infinity && ops.some((w, j) => j < i && w.key === op.key && w.op === 'set'),
    );
    expect(at).toBeGreaterThanOrEqual(0);
    const broken: HistoryOp[] = ops.map((op, i) => (i === at ? { ...op, result: -987_654_321 } : op));
    const check = await checkLinearizability(broken, { timeoutMs: 20_000 });
    expect(check.status).toBe('violation');
    const example = check.problems.find((p) => p.status === 'violation')!.counterexample!;
    expect(example).toContain(at);
    for (const i of example) expect(broken[i]).toBeDefined();
  });
});

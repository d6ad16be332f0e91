/**
 * The race-detection suite: every stress scenario, small and bounded (an op
 * budget, not a duration), on real piscina workers sharing one map. Each
 * asserts its outcome: conflicts of the expected kind where the scenario
 * provokes them, none where it is safe, exact verification, and a negative
 * control where unsynchronized writers must make the checker or the
 * verification fail. Assertions are on outcomes ("at least one conflict of
 * kind X"), never on timing. Seeds are printed so a failure can be replayed
 * with `node dist/main.js stress --seed N ...`.
 */
import { describe, expect, it } from 'vitest';
import { formatConflicts } from '../../src/race/report.js';
import type { ConflictKind } from '../../src/shm/types.js';
import { defaultOptions, parseMix, type StressOptions } from '../../src/stress/options.js';
import { runStress, type StressResult } from '../../src/stress/run.js';
import { distPath } from '../helpers/paths.js';

const ITERATION: ConflictKind = 'concurrent map iteration and map write';
const WRITES: ConflictKind = 'concurrent map writes';

const BASE_SEED = Number(process.env.SHMAP_SEED ?? Date.now() % 1_000_000);

function options(over: Partial<StressOptions>): StressOptions {
  return { ...defaultOptions(), workers: 3, keys: 2_000, owned: 200, ops: 24_000, seed: BASE_SEED, ...over };
}

async function stress(over: Partial<StressOptions>): Promise<StressResult> {
  const o = options(over);
  console.log(`stress ${o.scenario} sync=${o.sync} workers=${o.workers} seed=${o.seed}`);
  return runStress(o, { workerFile: distPath('workers/stress.js') });
}

function kinds(r: StressResult): ConflictKind[] {
  return [...new Set(r.conflicts.records.map((c) => c.kind))];
}

function expectVerified(r: StressResult): void {
  expect(r.verification.losses).toEqual([]);
  expect(r.verification.ok).toBe(true);
  expect(r.verification.ownedKeysChecked).toBe(r.options.workers * r.options.owned);
  expect(r.verification.invariants).not.toMatch(/invariant failed/);
}

describe('stress scenarios with sync lock', () => {
  it('mixed: every owned key exact, no conflict, exit 0', async () => {
    const r = await stress({ scenario: 'mixed' });
    expectVerified(r);
    expect(r.conflicts.records).toEqual([]);
    expect(r.conflicts.overflowed).toBe(0);
    expect(r.totalOps).toBe(24_000);
    expect(Object.keys(r.latency).sort()).toEqual(['delete', 'get', 'set', 'update']);
    expect(r.exitCode).toBe(0);
  });

  it('mixed with other key and value types (string keys, json values): verified', async () => {
    const r = await stress({ scenario: 'mixed', keyType: 'string:12', valueType: 'json:48', ops: 12_000 });
    expectVerified(r);
    expect(r.conflicts.records).toEqual([]);
    expect(r.exitCode).toBe(0);
  });

  it('mixed with iterate and sweep in the mix: only iteration conflicts, and they are expected', async () => {
    const r = await stress({
      scenario: 'mixed',
      mix: parseMix('get=40,set=40,add=5,iterate=5,sweep=10'),
      keys: 500,
      ops: 8_000,
    });
    expectVerified(r);
    expect(kinds(r).filter((k) => k !== ITERATION)).toEqual([]);
    expect(r.conflicts.unexpected).toBe(0);
    expect(r.exitCode).toBe(0);
  });

  it('range-delete: the fail-fast iterator catches the overlap as "concurrent map iteration and map write"', async () => {
    const r = await stress({ scenario: 'range-delete', workers: 4 });
    expectVerified(r);
    expect(r.conflicts.byKind[ITERATION]).toBeGreaterThanOrEqual(1);
    expect(kinds(r)).toEqual([ITERATION]);
    const aborted = r.workers.reduce((n, w) => n + w.iterationsAborted, 0);
    expect(aborted).toBeGreaterThanOrEqual(1);
    // Every throw was recorded (the log may have dropped some records, but counted them).
    expect(r.conflicts.records.length + r.conflicts.overflowed).toBeGreaterThanOrEqual(aborted);
    const report = formatConflicts(r.conflicts.records, { overflowed: r.conflicts.overflowed });
    expect(report).toContain(`WARNING: CONFLICT: ${ITERATION}`);
    expect(r.exitCode).toBe(0);
  });

  it('sweep: the same cleanup with map.sweep() records no conflict and deletes', async () => {
    const r = await stress({ scenario: 'sweep', workers: 4 });
    expectVerified(r);
    expect(r.conflicts.records).toEqual([]);
    expect(r.conflicts.overflowed).toBe(0);
    expect(r.workers.reduce((n, w) => n + w.deleted, 0)).toBeGreaterThan(0);
    expect(r.exitCode).toBe(0);
  });

  it('counters: every counter sum exact', async () => {
    const r = await stress({ scenario: 'counters', workers: 4 });
    expectVerified(r);
    expect(r.verification.countersChecked).toBe(8);
    expect(r.conflicts.records).toEqual([]);
    expect(r.exitCode).toBe(0);
  });
});

describe('stress scenarios with sync none (the races on purpose)', () => {
  /** A race may not show in one short run; try a few seeds, and fail if none shows it. */
  async function untilRaceShows(
    over: Partial<StressOptions>,
    shows: (r: StressResult) => boolean,
  ): Promise<StressResult> {
    let last: StressResult | undefined;
    for (let attempt = 0; attempt < 4; attempt++) {
      last = await stress({ ...over, seed: BASE_SEED + attempt });
      if (shows(last)) return last;
    }
    return last!;
  }

  it('negative control: unsynchronized writers on the same keys make the checker or the verification fail', async () => {
    const failed = (r: StressResult): boolean =>
      r.conflicts.records.length + r.conflicts.overflowed > 0 || !r.verification.ok;
    const r = await untilRaceShows({ scenario: 'counters', sync: 'none', workers: 4, ops: 40_000 }, failed);
    expect(failed(r)).toBe(true);
    if (r.conflicts.records.length > 0) expect(kinds(r)).toContain(WRITES);
    if (!r.verification.ok) expect(r.exitCode).toBe(1);
  });

  it('the verification itself catches lost counter updates, key by key, and fails the run', async () => {
    const r = await untilRaceShows(
      { scenario: 'counters', sync: 'none', workers: 4, ops: 40_000 },
      (x) => !x.verification.ok,
    );
    expect(r.verification.ok).toBe(false);
    expect(r.verification.losses.length).toBeGreaterThanOrEqual(1);
    expect(r.verification.losses.length).toBeLessThanOrEqual(20);
    expect(r.verification.losses.join('\n')).toMatch(/expected sum \d+, found \d+ \(\d+ lost\)|expected .*, found /);
    expect(r.exitCode).toBe(1);
    expect(r.failures.join('; ')).toMatch(/verification failed/);
  });

  it('range-delete without locks shows the Go conflicts', async () => {
    const r = await untilRaceShows(
      { scenario: 'range-delete', sync: 'none', workers: 4 },
      (x) => x.conflicts.byKind[ITERATION] > 0,
    );
    expect(r.conflicts.byKind[ITERATION]).toBeGreaterThanOrEqual(1);
  });

  it('mixed without locks on a hot key set records concurrent map writes', async () => {
    const r = await untilRaceShows(
      {
        scenario: 'mixed',
        sync: 'none',
        workers: 4,
        mix: parseMix('get=50,set=50'),
        dist: { kind: 'hot', percent: 90 },
      },
      (x) => x.conflicts.byKind[WRITES] > 0,
    );
    expect(r.conflicts.byKind[WRITES]).toBeGreaterThanOrEqual(1);
  });
});

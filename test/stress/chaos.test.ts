/**
 * `stress --scenario chaos` (src/stress/chaos.ts), run in-process with real
 * piscina threads: the run without kills verifies every key it checks; with
 * kills and the map unwatched (recovery off) it must fail by its
 * progress-stall check, within a bounded time, instead of hanging; with the
 * map's death watch, many terminations during load must lose nothing.
 */
import { describe, it, expect, beforeAll } from 'vitest';
import { defaultOptions } from '../../src/stress/options.js';
import { runChaos, type ChaosOptions } from '../../src/stress/chaos.js';
import { distPath } from '../helpers/paths.js';
import { requireDist } from '../shm/support.js';

const SEED = Number(process.env.SHMAP_SEED ?? Date.now() % 0x7fffffff);

function options(over: Partial<ChaosOptions> = {}): ChaosOptions {
  return {
    ...defaultOptions(),
    scenario: 'chaos',
    workers: 3,
    keys: 2_000,
    owned: 200,
    durationMs: 1_500,
    seed: SEED,
    killIntervalMs: 3_600_000,
    stallLimitMs: 10_000,
    ...over,
  };
}

describe('stress --scenario chaos', () => {
  beforeAll(requireDist);

  it('without kills: every owned key, counter sum and acknowledged delete verified; invariants hold', async () => {
    console.log(`chaos: seed ${SEED} (SHMAP_SEED replays the workers' choices)`);
    const r = await runChaos(options(), distPath('workers/stress.js'));
    expect(r.failures, `seed ${SEED}`).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.invariants).toBe('ok');
    expect(r.ownedKeysChecked).toBe(3 * 200);
    expect(r.countersChecked).toBe(8);
    // Not vacuous: work happened on every path the verification covers.
    expect(r.totalOps).toBeGreaterThan(0);
    expect(r.doomedKeysChecked).toBeGreaterThan(0);
    expect(r.chaos.queue.enqueued).toBeGreaterThan(0);
    expect(r.chaos.queue.drained).toBe(r.chaos.queue.enqueued);
    expect(r.chaos.kills.total).toBe(0);
    expect(r.chaos.stalled).toBe(false);
  });

  it('negative control: with recovery off, kills wedge the map and the run fails by the stall check instead of hanging', async () => {
    // A kill wedges the map only when it lands while the thread holds a shard lock: try a few runs.
    let last: Awaited<ReturnType<typeof runChaos>> | undefined;
    for (let attempt = 0; attempt < 4; attempt++) {
      last = await runChaos(
        options({ noRecovery: true, killIntervalMs: 10, durationMs: 4_000, stallLimitMs: 1_000, seed: SEED + attempt }),
        distPath('workers/stress.js'),
      );
      if (!last.ok) break;
    }
    expect(last!.ok).toBe(false);
    expect(last!.failures.join('; ')).toMatch(/progress stalled|LockTimeout|lock timeout/i);
    expect(last!.chaos.kills.total).toBeGreaterThan(0);
  });

  it('with the map watched: terminations every ~1 ms during mixed load, up to 1,000 (45 s of runs at most): no stall, nothing lost, invariants hold after every recovery', async () => {
    // Each kill costs a new thread (an isolate and the task's modules): about
    // 20-30 kills a second on an idle 2-core machine, so the runs stop at
    // 1,000 kills or after 45 s, whichever comes first; a slower machine
    // gets fewer kills, never a failure for being slow.
    let kills = 0;
    let recoveries = 0;
    let verified = 0;
    const started = Date.now();
    for (let run = 0; kills < 1_000 && Date.now() - started < 45_000; run++) {
      const r = await runChaos(
        options({ workers: 2, killIntervalMs: 1, durationMs: 3_000, stallLimitMs: 10_000, seed: SEED + run }),
        distPath('workers/chaos.js'),
      );
      expect(r.failures, `seed ${SEED + run}`).toEqual([]);
      expect(r.chaos.stalled).toBe(false);
      expect(r.invariants).toBe('ok');
      expect(r.chaos.shardsVerified).toBe(r.chaos.recoveries);
      kills += r.chaos.kills.total;
      recoveries += r.chaos.recoveries;
      verified += r.chaos.shardsVerified;
    }
    console.log(
      `chaos: ${kills} terminations, ${recoveries} shard locks recovered, ${verified} checked, in ${Date.now() - started} ms`,
    );
    // Not vacuous: threads died holding locks, and each repaired shard was checked (that a
    // broken shard fails the check: test/shm/map-thread-death.test.ts, "verify").
    expect(kills).toBeGreaterThan(0);
    expect(recoveries).toBeGreaterThan(0);
  }, 120_000);
});

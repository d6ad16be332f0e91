/**
 * `stress --scenario near-cache`: its check of every read against the
 * staleness bound fails a history that breaks it (a synthetic one, and a run
 * with the fetch-version check disabled) and passes the real NearCache.
 */
import { describe, expect, it } from 'vitest';
import { checkReads, runNearCacheStress, type CheckedWrite } from '../../src/stress/near-cache.js';
import { distPath } from '../helpers/paths.js';
import { noRedis } from './redis.js';

describe('the near-cache read check', () => {
  // Key 0: 'init', then 'a' (acknowledged at 10, its invalidation applied at 12), then 'b' (ack 20, applied 21).
  const writes: CheckedWrite[][] = [
    [
      { value: 'init', start: 0, ack: 0, visible: 0 },
      { value: 'a', start: 9, ack: 10, visible: 12 },
      { value: 'b', start: 19, ack: 20, visible: 21 },
    ],
  ];
  const read = (start: number, value: string | null) => ({ key: 0, thread: 0, start, end: start + 1, value });

  it('allows the latest value, and an overwritten one within the bound (counted with its age)', () => {
    const r = checkReads(writes, [read(5, 'init'), read(11, 'init'), read(15, 'a'), read(20.5, 'a'), read(30, 'b')], 0);
    expect(r.violations).toBe(0);
    expect(r.staleReads).toBe(2);
    expect(r.maxAgeMs).toBe(1);
  });

  it('flags an old value after a later write was visible, a value never written, a value read before its write', () => {
    const r = checkReads(writes, [read(13, 'init'), read(25, 'a'), read(30, 'zz'), read(30, null), read(3, 'b')], 0);
    expect(r.violations).toBe(5);
    expect(r.examples[0]).toMatch(/after a later write was visible everywhere/);
  });
});

describe.skipIf(noRedis !== undefined)('stress --scenario near-cache', () => {
  const run = (unsafeSkipFetchCheck: boolean) =>
    runNearCacheStress({
      workers: 4,
      durationMs: 1000,
      minDirectWrites: 300, // enough double writes for the race to happen, however slow the machine
      seed: 7,
      unsafeSkipFetchCheck,
      workerFile: distPath('workers/near-cache-stress.js'),
    });

  it('every read of the real NearCache is within the staleness bound, while direct writes race its fetches', async () => {
    const r = await run(false);
    expect(r.errors).toEqual([]);
    expect(r.violations).toBe(0);
    expect(r.ok).toBe(true);
    expect(r.reads).toBeGreaterThan(0);
    expect(r.directWrites).toBeGreaterThan(0);
    expect(r.declined).toBeGreaterThan(0); // the race happened: fetches overtaken by an invalidation declined
  });

  it('negative control — without the fetch-version check, stale entries outlive the bound and the check fails', async () => {
    const r = await run(true);
    expect(r.violations).toBeGreaterThan(0);
    expect(r.ok).toBe(false);
  });
});

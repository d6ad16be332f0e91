/**
 * `stress --scenario near-cache`: its check of every read against the
 * staleness bound fails a history that breaks it (a synthetic one, and a run
 * with the fetch-version check disabled) and passes the real NearCache, two
 * processes of two threads each, with a direct writer besides.
 */
import { describe, expect, it } from 'vitest';
import { checkReads, runNearCacheCommand, runNearCacheStress, type CheckedWrite } from '../../src/stress/near-cache.js';
import { defaultOptions } from '../../src/stress/options.js';
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

describe('stress --scenario near-cache options', () => {
  it('refuses a bad --processes and too few --keys by name, before starting anything', async () => {
    const errors: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((chunk: string) => (errors.push(String(chunk)), true)) as typeof process.stderr.write;
    try {
      const o = { ...defaultOptions(), scenario: 'near-cache', workers: 2 };
      expect(await runNearCacheCommand(o, ['--scenario', 'near-cache', '--processes', '0'], false)).toBe(2);
      expect(await runNearCacheCommand({ ...o, keys: 4 }, ['--processes=2', '--keys', '4'], false)).toBe(2);
      expect(await runNearCacheCommand(o, ['--mix', 'get:100'], false)).toBe(2);
    } finally {
      process.stderr.write = write;
    }
    expect(errors[0]).toMatch(/--processes/);
    expect(errors[1]).toMatch(/--keys must be at least --processes x --workers \+ 1/);
    expect(errors[2]).toMatch(/takes --processes, --cluster, --workers.*got --mix/);
  });
});

describe.skipIf(noRedis !== undefined)('stress --scenario near-cache', () => {
  const run = (unsafeSkipFetchCheck: boolean, cluster = false) =>
    runNearCacheStress({
      cluster,
      processes: 2,
      workers: 2,
      durationMs: 1000,
      minDirectWrites: cluster ? 100 : 300, // enough double writes for the race to happen, however slow the machine
      seed: 7,
      unsafeSkipFetchCheck,
      workerFile: distPath('workers/near-cache-stress.js'),
      processFile: distPath('stress/near-cache-process.js'),
    });

  it('every read in either process is within the staleness bound, while direct writes race its fetches', async () => {
    const r = await run(false);
    expect(r.errors).toEqual([]);
    expect(r.violations).toBe(0);
    expect(r.beyondBound).toBe(0);
    expect(r.ok).toBe(true);
    expect(r.processes).toBe(2);
    expect(r.reads).toBeGreaterThan(0);
    expect(r.directWrites).toBeGreaterThanOrEqual(300);
    expect(r.writesThroughCache).toBeGreaterThan(0);
    expect(r.bound.samples).toBeGreaterThanOrEqual(r.directWrites); // every write measured against the other process(es)
    expect(r.bound.max).toBeGreaterThanOrEqual(r.bound.p50);
    expect(r.hitRate).toBeGreaterThan(0);
    expect(r.invalidationsPerSec).toBeGreaterThan(0);
    expect(r.declined).toBeGreaterThan(0); // the race happened: fetches overtaken by an invalidation declined
  });

  it('on a Redis Cluster of three masters: every read in either process is within the staleness bound', async () => {
    const r = await run(false, true);
    expect(r.errors).toEqual([]);
    expect(r.cluster).toBe(true);
    expect(r.violations).toBe(0);
    expect(r.beyondBound).toBe(0);
    expect(r.ok).toBe(true);
    expect(r.bound.samples).toBeGreaterThanOrEqual(r.directWrites);
    expect(r.reads).toBeGreaterThan(0);
  });

  it('negative control — without the fetch-version check, stale reads outlive the bound and the check fails', async () => {
    const r = await run(true);
    expect(r.errors).toEqual([]);
    expect(r.violations).toBeGreaterThan(0);
    expect(r.beyondBound).toBeGreaterThan(0);
    expect(r.ok).toBe(false);
  });
});

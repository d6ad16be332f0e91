/**
 * `bench` as a command: bad options exit 2 with a one-line reason, and a tiny
 * run through real piscina workers (compiled worker from dist/) produces one
 * row per system x phase x thread count, none with an error (the read-only
 * phase itself checks that every get hit a preloaded key).
 */
import { describe, expect, it } from 'vitest';
import { run } from '../../src/commands/bench.js';
import { runBench, type BenchConfig } from '../../src/bench/runner.js';
import { derive, evaluateTargets } from '../../src/bench/report.js';
import { distPath } from '../helpers/paths.js';
import { captureOutput } from '../helpers/output.js';

describe('bench command arguments', () => {
  it.each([[['--bogus']], [['--only', 'nosuch']], [['--only', 'shmap,nosuch']], [['--only', '']], [['extra']]])(
    '%j exits 2 with one line',
    async (argv) => {
      const r = await captureOutput(() => run(argv));
      expect(r.result).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/^shmap bench: .* \(see shmap bench --help\)\n$/);
      expect(r.stdout).toBe('');
    },
  );

  it('--help exits 0 and prints the options', async () => {
    const r = await captureOutput(() => run(['--help']));
    expect(r.result).toBe(0);
    expect(r.stdout).toContain('--only');
    expect(r.stderr).toBe('');
  });
});

describe('runBench on real workers', () => {
  it('one row per system, phase and thread count, no errors', async () => {
    const config: BenchConfig = {
      preload: 2000,
      opsLength: 1 << 12,
      threads: [1, 2],
      workloads: ['int32', 'string'],
      phases: ['get', 'mix'],
      dists: ['uniform'],
      plan: { warmupMs: 5, reps: 2, repMs: 20, latencyMs: 10 },
      systems: ['map', 'map-per-worker', 'shmap', 'shmap-none', 'postmessage-b64', 'lmdb'],
      seed: 42,
      workerFile: distPath('bench/worker.js'),
    };
    const notes: string[] = [];
    const result = await runBench(config, { row: () => {}, note: (l) => notes.push(l) });
    const errors = result.rows
      .filter((r) => r.error !== undefined)
      .map((r) => `${r.system} ${r.workload} ${r.phase} ${r.threads}: ${r.error}`);
    expect(errors).toEqual([]);
    // map: 1 thread x 2 phases; shmap-none: read-only x 2 threads; the others 2 phases x 2 threads; per workload.
    expect(result.rows).toHaveLength(2 * (2 + 4 + 4 + 2 + 4 + 4));
    for (const r of result.rows) {
      expect(r.opsPerSec).toBeGreaterThan(0);
      expect(r.repsOpsPerSec).toHaveLength(2);
      expect(r.latencySamples).toBeGreaterThan(0);
    }
    const rows = derive(result.rows);
    const shmap2 = rows.find(
      (r) => r.system === 'shmap' && r.threads === 2 && r.phase === 'get' && r.workload === 'int32',
    );
    expect(shmap2?.shmapOver).toBe(1);
    expect(shmap2?.speedup).toBeGreaterThan(0);
    expect(rows.find((r) => r.system === 'lmdb' && r.threads === 1)?.overMap).toBeGreaterThan(0);
    expect(evaluateTargets(rows).filter((t) => t.met !== undefined).length).toBeGreaterThan(0);
  });
});

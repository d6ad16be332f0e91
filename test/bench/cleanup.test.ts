/**
 * `bench cleanup` on real worker threads, tiny and short: every safe strategy
 * cleans stale entries and loses, corrupts and conflicts nothing; the
 * anti-pattern (range + delete, sync none) shows its races in the counts; bad
 * arguments exit 2. Loaded from dist/ (its workers are compiled files).
 * Assertions are on outcomes, not on speed.
 */
import { describe, expect, it } from 'vitest';
import { distPath } from '../helpers/paths.js';
import { captureOutput } from '../helpers/output.js';

type Mod = typeof import('../../src/bench/cleanup.js');
const load = async (): Promise<Mod> => (await import(distPath('bench/cleanup.js'))) as Mod;

const SEED = Number(process.env.SHMAP_SEED ?? Date.now() % 1_000_000);
const tiny = (m: Mod, seed = SEED) => ({
  ...m.QUICK,
  keys: 4_000,
  ageMs: 20,
  intervalMs: 10,
  warmupMs: 100,
  measureMs: 400,
  seed,
});

describe('bench cleanup', () => {
  it.each(['stop-the-world', 'sweep', 'ttl', 'delete-queue'] as const)(
    '%s: cleans stale entries, nothing lost or wrong, no conflict',
    async (strategy) => {
      const m = await load();
      console.log(`bench cleanup ${strategy} seed=${SEED}`);
      const r = await m.runStrategy(strategy, tiny(m));
      expect(r.error).toBeUndefined();
      expect(r.get.count).toBeGreaterThan(0);
      expect(r.set.count).toBeGreaterThan(0);
      expect(r.handlerOpsPerSec).toBeGreaterThan(0);
      // Preloaded entries are all stale after 20 ms: every strategy must have removed some.
      expect(r.cleaned).toBeGreaterThan(0);
      expect(r.lost).toBe(0);
      expect(r.wrong).toBe(0);
      expect(r.conflicts).toBe(0);
    },
  );

  it('range-none: the races show (conflicts recorded, or entries lost or wrong)', async () => {
    const m = await load();
    let shown = false;
    for (let attempt = 0; attempt < 3 && !shown; attempt++) {
      console.log(`bench cleanup range-none seed=${SEED + attempt}`);
      const r = await m.runStrategy('range-none', tiny(m, SEED + attempt));
      expect(r.error).toBeUndefined();
      shown = r.conflicts + r.lost + r.wrong > 0;
    }
    expect(shown).toBe(true);
  });

  it('formats one row per strategy', async () => {
    const m = await load();
    const r = await m.runStrategy('sweep', tiny(m));
    const table = m.formatTable([r]);
    expect(table.split('\n')).toHaveLength(3);
    expect(table).toMatch(/^strategy +handler ops\/s/);
    expect(table).toMatch(/\nsweep /);
  });

  it('bad arguments exit 2 with one line, --help exits 0 and prints the strategies', async () => {
    const m = await load();
    for (const bad of [['--bogus'], ['extra']]) {
      const r = await captureOutput(() => m.run(bad));
      expect(r.result).toBe(2);
      expect(r.stderr).toMatch(/^shmap bench cleanup: [^\n]+ \(see shmap bench cleanup --help\)\n$/);
      expect(r.stdout).toBe('');
    }
    const help = await captureOutput(() => m.run(['--help']));
    expect(help.result).toBe(0);
    expect(help.stdout).toContain('delete-queue');
    expect(help.stderr).toBe('');
  });
});

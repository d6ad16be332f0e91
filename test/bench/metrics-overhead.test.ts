/**
 * The metrics-overhead measurement bench:core prints: a tiny run gives one
 * row per op and key count with positive finite figures, the chunk count it
 * was asked for, and a map with metrics that counted exactly the gets and
 * sets it was given. Never a timing threshold: the machine may be loaded.
 */
import { describe, expect, it } from 'vitest';
import {
  formatMetricsOverhead,
  measureMetricsOverhead,
  metricsOverhead,
  type MetricsOverheadResult,
} from '../../src/bench/metrics-overhead.js';

const SIZES = [64, 300];
const OPTIONS = { chunkOps: 128, chunks: 12, warmup: 2 };

/** What is wrong with a result of `measureMetricsOverhead(SIZES, OPTIONS)`, or [] if nothing. */
function problems(r: MetricsOverheadResult): string[] {
  const out: string[] = [];
  const positive = (x: number): boolean => Number.isFinite(x) && x > 0;
  if (r.node !== process.version) out.push(`node ${r.node}`);
  if (r.chunkOps !== OPTIONS.chunkOps || r.chunks !== OPTIONS.chunks || r.warmup !== OPTIONS.warmup)
    out.push('options');
  if (r.loadBefore.length !== 3 || r.loadAfter.length !== 3) out.push('load averages');
  const expected = SIZES.flatMap((keys) => (['get', 'set'] as const).map((op) => `${op} ${keys}`));
  const got = r.rows.map((row) => `${row.op} ${row.keys}`);
  if (got.join() !== expected.join()) out.push(`rows ${got.join()}`);
  for (const row of r.rows) {
    const at = `${row.op} ${row.keys}`;
    for (const [name, v] of Object.entries({
      withoutNs: row.withoutNs,
      withNs: row.withNs,
      ratio: row.ratio,
      p25: row.p25,
      p75: row.p75,
    })) {
      if (!positive(v)) out.push(`${at}: ${name} ${v}`);
    }
    if (Math.abs(row.ratio - row.withNs / row.withoutNs) > 1e-9 * row.ratio)
      out.push(`${at}: ratio is not with/without`);
    if (!(row.p25 <= row.p75)) out.push(`${at}: p25 ${row.p25} > p75 ${row.p75}`);
    if (row.chunks !== OPTIONS.chunks) out.push(`${at}: ${row.chunks} chunks`);
  }
  // Every chunk (warm-up ones too) runs each op once on the map with metrics;
  // the fill inserted every key once.
  const ops = (OPTIONS.warmup + OPTIONS.chunks) * OPTIONS.chunkOps;
  const counted = r.counted.map((c) => `${c.keys}: ${c.gets} gets, ${c.sets} sets`);
  const want = SIZES.map((keys) => `${keys}: ${ops} gets, ${keys + ops} sets`);
  if (counted.join() !== want.join()) out.push(`counted ${counted.join('; ')}`);
  for (const c of r.counted) if (!(c.samples >= 0)) out.push(`${c.keys}: samples ${c.samples}`);
  return out;
}

describe('metricsOverhead', () => {
  const r = measureMetricsOverhead(SIZES, OPTIONS);

  it('one sane row per op and key count, and the map with metrics counted every op', () => {
    expect(problems(r)).toEqual([]);
  });

  it('the sanity check fails on broken results (negative control)', () => {
    const broken = (f: (b: MetricsOverheadResult) => void): string[] => {
      const b = structuredClone(r);
      f(b);
      return problems(b);
    };
    expect(broken((b) => (b.rows[0]!.withNs = Number.NaN))).not.toEqual([]);
    expect(broken((b) => (b.rows[1]!.withoutNs = 0))).not.toEqual([]);
    expect(broken((b) => b.rows.pop())).not.toEqual([]);
    expect(broken((b) => (b.rows[2]!.chunks = OPTIONS.chunks - 1))).not.toEqual([]);
    expect(broken((b) => ([b.rows[3]!.p25, b.rows[3]!.p75] = [2, 1]))).not.toEqual([]);
    expect(broken((b) => (b.counted[1]!.gets -= 1))).not.toEqual([]);
  });

  it('the table has a line per row with the chunk count, the Node version and the load average', () => {
    const text = formatMetricsOverhead(r);
    expect(text).toContain(`Node ${process.version}`);
    expect(text).toContain('load average');
    const rows = text.split('\n').filter((l) => l.startsWith('| int32 '));
    expect(rows).toHaveLength(SIZES.length * 2);
    for (const line of rows)
      expect(line).toMatch(/\| \d+\.\d{3}x \| \d+\.\d{3}-\d+\.\d{3} \| 12 \| <= 1\.05x (met|MISSED) \|$/);
    expect(metricsOverhead([32], { chunkOps: 64, chunks: 3, warmup: 0 })).toContain('median of 3 chunks per map');
  });

  it.each([
    [{ chunkOps: 0 }, /chunkOps/],
    [{ chunks: 1.5 }, /chunks/],
    [{ warmup: -1 }, /warmup/],
  ])('refuses %j naming the option', (options, name) => {
    expect(() => measureMetricsOverhead([16], options)).toThrow(name);
  });
});

/**
 * What `metrics: true` costs: bench:core's int32 -> float64 get and set
 * (overwrite) rows on two SharedMaps, one created without metrics and one
 * with them. The target is at most 5% (1.05x). bench:core prints this table
 * after its own.
 *
 * How, so that a 5% difference shows on a loaded machine: both maps are
 * created up front in this process and filled with the same keys; the same
 * pre-generated random visiting order is cut into small chunks (8,192 ops by
 * default), and each chunk is run on both maps back to back, for get and for
 * set, which map goes first alternating from chunk to chunk. Each run of a
 * chunk is timed in the process's CPU time (`process.cpuUsage`, to the
 * microsecond: a chunk takes hundreds of them), which time spent preempted
 * does not inflate, as wall time is inflated on a loaded machine; a chunk
 * that met a collection or a cold cache is in the tail, which a median
 * ignores, and both maps meet the same machine within a millisecond or
 * two of each other. The figure per map
 * is the median ns/op over all its chunks, the ratio is
 * median(with) / median(without), and the spread is p25-p75 of the
 * per-chunk ratios (with / without on the same chunk). Rounds of millions
 * of ops per map instead scattered 0.74-1.89x within one run at load 11-14.
 */
import { loadavg } from 'node:os';
import { SharedMap } from '../shm/map.js';
import { Rng } from '../rng.js';

type Loop = (m: SharedMap<number, number>, order: Int32Array, from: number, to: number) => number;

// Function expressions: `ownCopy` re-evaluates their source text.
const LOOPS: Record<'get' | 'set', Loop> = {
  get: function (m, order, from, to) {
    let x = 0;
    for (let i = from; i < to; i++) if (m.get(order[i]!) !== undefined) x++;
    return x;
  },
  set: function (m, order, from, to) {
    for (let i = from; i < to; i++) m.set(order[i]!, i * 0.5);
    return to - from;
  },
};

/** A copy of `f` with its own type feedback, so each map's loop stays monomorphic. */
function ownCopy(f: Loop): Loop {
  return new Function(`return (${f.toString()});`)() as Loop;
}

/** CPU ns per op of one chunk (the process's CPU time, to the microsecond). */
function nsPerOp(loop: Loop, m: SharedMap<number, number>, order: Int32Array, from: number, to: number): number {
  const t0 = process.cpuUsage();
  if (loop(m, order, from, to) < 0) throw new Error('unreachable');
  const cpu = process.cpuUsage(t0);
  return ((cpu.user + cpu.system) * 1000) / (to - from);
}

/** The q-quantile (0..1) of `xs`, nearest rank. */
function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
}

export interface MetricsOverheadOptions {
  /** Operations per chunk (default 8,192). */
  chunkOps?: number;
  /** Measured chunks per map and op (default 400), after `warmup` unmeasured ones. */
  chunks?: number;
  /** Chunks run first and not measured (default 16). */
  warmup?: number;
}

export interface MetricsOverheadRow {
  op: 'get' | 'set';
  keys: number;
  /** Median ns/op over the chunks, map without metrics. */
  withoutNs: number;
  /** Median ns/op over the chunks, map with metrics. */
  withNs: number;
  /** withNs / withoutNs. */
  ratio: number;
  /** p25 and p75 of the per-chunk ratios (with / without on the same chunk). */
  p25: number;
  p75: number;
  /** Measured chunks per map. */
  chunks: number;
}

export interface MetricsOverheadResult {
  node: string;
  chunkOps: number;
  chunks: number;
  warmup: number;
  /** The load average (1, 5, 15 minutes) before and after the measurement. */
  loadBefore: number[];
  loadAfter: number[];
  rows: MetricsOverheadRow[];
  /** What the map with metrics counted, per key count: every op it was given. */
  counted: { keys: number; gets: number; sets: number; samples: number }[];
}

function whole(name: string, v: number, min: number): number {
  if (!Number.isSafeInteger(v) || v < min)
    throw new RangeError(`metricsOverhead: ${name} must be a whole number >= ${min}, got ${v}`);
  return v;
}

/** Measures the metrics overhead for each key count in `sizes` (see the top of this file). */
export function measureMetricsOverhead(sizes: number[], options: MetricsOverheadOptions = {}): MetricsOverheadResult {
  const chunkOps = whole('chunkOps', options.chunkOps ?? 8192, 1);
  const chunks = whole('chunks', options.chunks ?? 400, 1);
  const warmup = whole('warmup', options.warmup ?? 16, 0);
  for (const size of sizes) whole('size', size, 1);
  const result: MetricsOverheadResult = {
    node: process.version,
    chunkOps,
    chunks,
    warmup,
    loadBefore: loadavg(),
    loadAfter: [],
    rows: [],
    counted: [],
  };
  for (const size of sizes) {
    const rng = new Rng(21, size);
    const keys = rng.shuffle(Array.from({ length: size }, (_, i) => i * 7 + 1));
    // 64 distinct chunks of visiting order (or fewer if fewer are run), cycled.
    const distinct = Math.min(64, warmup + chunks);
    const order = Int32Array.from({ length: distinct * chunkOps }, () => keys[rng.below(size)]!);
    const make = (metrics: boolean): SharedMap<number, number> => {
      const m = SharedMap.create<number, number>({ key: 'int32', value: 'float64', capacity: size, metrics });
      for (const k of keys) m.set(k, k * 0.5);
      return m;
    };
    const plain = make(false);
    const counted = make(true);
    const ops = ['get', 'set'] as const;
    const loops = ops.map((op) => ({ plain: ownCopy(LOOPS[op]), counted: ownCopy(LOOPS[op]) }));
    const off = ops.map((): number[] => []);
    const on = ops.map((): number[] => []);
    const ratios = ops.map((): number[] => []);
    for (let c = 0; c < warmup + chunks; c++) {
      const from = (c % distinct) * chunkOps;
      const to = from + chunkOps;
      const plainFirst = c % 2 === 0;
      for (let o = 0; o < ops.length; o++) {
        const l = loops[o]!;
        const a = plainFirst ? nsPerOp(l.plain, plain, order, from, to) : nsPerOp(l.counted, counted, order, from, to);
        const b = plainFirst ? nsPerOp(l.counted, counted, order, from, to) : nsPerOp(l.plain, plain, order, from, to);
        if (c < warmup) continue;
        const [without, withM] = plainFirst ? [a, b] : [b, a];
        off[o]!.push(without);
        on[o]!.push(withM);
        ratios[o]!.push(withM / without);
      }
    }
    for (let o = 0; o < ops.length; o++) {
      const withoutNs = quantile(off[o]!, 0.5);
      const withNs = quantile(on[o]!, 0.5);
      result.rows.push({
        op: ops[o]!,
        keys: size,
        withoutNs,
        withNs,
        ratio: withNs / withoutNs,
        p25: quantile(ratios[o]!, 0.25),
        p75: quantile(ratios[o]!, 0.75),
        chunks: on[o]!.length,
      });
    }
    const m = counted.metrics();
    result.counted.push({
      keys: size,
      gets: m.gets.hit + m.gets.miss,
      sets: m.sets.insert + m.sets.overwrite,
      samples: m.samples,
    });
  }
  result.loadAfter = loadavg();
  return result;
}

/** The table of a measurement, as bench:core prints it. */
export function formatMetricsOverhead(r: MetricsOverheadResult): string {
  const load = (xs: number[]): string => xs.map((x) => x.toFixed(2)).join(' ');
  const lines = [
    '',
    `metrics overhead: SharedMap without vs with { metrics: true } (the default sampling, 1 op in 1,024 per thread), Node ${r.node}, same keys and visiting order, chunks of ${r.chunkOps.toLocaleString('en-US')} ops run on both maps back to back (which first alternating), CPU ns per op, median of ${r.chunks.toLocaleString('en-US')} chunks per map after ${r.warmup} warm-up chunks; load average ${load(r.loadBefore)} before, ${load(r.loadAfter)} after`,
    '| op | keys | without ns/op | with ns/op | with/without | chunk ratios p25-p75 | chunks | target |',
    '|---|---:|---:|---:|---:|---:|---:|---|',
  ];
  for (const row of r.rows) {
    lines.push(
      `| int32 ${row.op === 'get' ? 'get' : 'set (overwrite)'} | ${row.keys.toLocaleString('en-US')} | ${row.withoutNs.toFixed(1)} | ${row.withNs.toFixed(1)} | ${row.ratio.toFixed(3)}x | ${row.p25.toFixed(3)}-${row.p75.toFixed(3)} | ${row.chunks} | <= 1.05x ${row.ratio <= 1.05 ? 'met' : 'MISSED'} |`,
    );
  }
  for (const c of r.counted) {
    lines.push(
      `${c.keys.toLocaleString('en-US')} keys: the map with metrics counted ${c.gets.toLocaleString('en-US')} gets and ${c.sets.toLocaleString('en-US')} sets, ${c.samples.toLocaleString('en-US')} sampled`,
    );
  }
  return lines.join('\n');
}

/** The metrics-overhead table for each key count in `sizes` (measure, then format). */
export function metricsOverhead(sizes: number[], options: MetricsOverheadOptions = {}): string {
  return formatMetricsOverhead(measureMetricsOverhead(sizes, options));
}

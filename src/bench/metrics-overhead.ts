/**
 * What `metrics: true` costs: bench:core's int32 -> float64 get and set
 * (overwrite) rows on two SharedMaps, one created without metrics and one
 * with them, the same random key sequence on each, in alternating rounds of
 * one run (CPU time, median round of each, ratio of the medians and the
 * range of the per-round ratios). The target is at most 5% (1.05x).
 * bench:core prints this table after its own.
 */
import { SharedMap } from '../shm/map.js';
import { Rng } from '../rng.js';

type Loop = (m: SharedMap<number, number>, keys: number[]) => number;

// Function expressions: `ownCopy` re-evaluates their source text.
const LOOPS: Record<'get' | 'set', Loop> = {
  get: function (m, keys) {
    let x = 0;
    for (let i = 0; i < keys.length; i++) if (m.get(keys[i]!) !== undefined) x++;
    return x;
  },
  set: function (m, keys) {
    for (let i = 0; i < keys.length; i++) m.set(keys[i]!, i * 0.5);
    return keys.length;
  },
};

/** A copy of `f` with its own type feedback, so each map's loop stays monomorphic. */
function ownCopy(f: Loop): Loop {
  return new Function(`return (${f.toString()});`)() as Loop;
}

function cpuNsPerOp(loop: Loop, m: SharedMap<number, number>, keys: number[]): number {
  (globalThis as { gc?: () => void }).gc?.();
  const t0 = process.cpuUsage();
  if (loop(m, keys) < 0) throw new Error('unreachable');
  const cpu = process.cpuUsage(t0);
  return ((cpu.user + cpu.system) * 1000) / keys.length;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

/** The table of the metrics overhead, for each key count in `sizes`, `ops` operations per measurement, `rounds` rounds. */
export function metricsOverhead(sizes: number[], ops: number, rounds: number): string {
  const lines = [
    '',
    `metrics overhead: SharedMap without vs with { metrics: true } (the default sampling, 1 op in 1,024 per thread), same key sequence, CPU ns per op, median of ${rounds} alternating rounds`,
    '| op | keys | without ns/op | with ns/op | with/without | round ratios | target |',
    '|---|---:|---:|---:|---:|---:|---|',
  ];
  const checks: string[] = [];
  for (const size of sizes) {
    const rng = new Rng(21, size);
    const keys = rng.shuffle(Array.from({ length: size }, (_, i) => i * 7 + 1));
    const order = Array.from({ length: ops }, () => keys[rng.below(size)]!);
    const make = (metrics: boolean): SharedMap<number, number> => {
      const m = SharedMap.create<number, number>({ key: 'int32', value: 'float64', capacity: size, metrics });
      for (const k of keys) m.set(k, k * 0.5);
      return m;
    };
    const plain = make(false);
    const counted = make(true);
    for (const op of ['get', 'set'] as const) {
      const plainLoop = ownCopy(LOOPS[op]);
      const countedLoop = ownCopy(LOOPS[op]);
      const off: number[] = [];
      const on: number[] = [];
      const ratios: number[] = [];
      for (let r = -1; r < rounds; r++) {
        const first = r % 2 === 0;
        const a = first ? cpuNsPerOp(plainLoop, plain, order) : cpuNsPerOp(countedLoop, counted, order);
        const b = first ? cpuNsPerOp(countedLoop, counted, order) : cpuNsPerOp(plainLoop, plain, order);
        if (r < 0) continue;
        const [without, withM] = first ? [a, b] : [b, a];
        off.push(without);
        on.push(withM);
        ratios.push(withM / without);
      }
      const ratio = median(on) / median(off);
      lines.push(
        `| int32 ${op === 'get' ? 'get' : 'set (overwrite)'} | ${size.toLocaleString('en-US')} | ${median(off).toFixed(1)} | ${median(on).toFixed(1)} | ${ratio.toFixed(3)}x | ${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)} | <= 1.05x ${ratio <= 1.05 ? 'met' : 'MISSED'} |`,
      );
    }
    const m = counted.metrics();
    checks.push(
      `${size.toLocaleString('en-US')} keys: the map with metrics counted ${(m.gets.hit + m.gets.miss).toLocaleString('en-US')} gets and ${(m.sets.insert + m.sets.overwrite).toLocaleString('en-US')} sets, ${m.samples.toLocaleString('en-US')} sampled`,
    );
  }
  return [...lines, ...checks].join('\n');
}

/**
 * What `bench` prints: one table per (workload, phase, key distribution),
 * the ratios taken inside the same run, and shmap's performance targets with the
 * measured figure next to each.
 */
import type { WorkloadName } from './driver.js';
import type { Row } from './runner.js';
import { REFERENCE } from './systems.js';
import type { Dist, Phase } from './workload.js';

export interface DerivedRow extends Row {
  /** shmap's ops/s over this row's, same scenario and thread count (how many times faster shmap is). */
  readonly shmapOver?: number;
  /** This row's ops/s over the single-thread `map` row's (single-thread rows only). */
  readonly overMap?: number;
  /** ops/s over the same system's 1-thread ops/s, and that over the thread count (efficiency). */
  readonly speedup?: number;
  readonly efficiency?: number;
}

type ScenarioKey = `${WorkloadName}/${Phase}/${Dist}`;
const scenarioOf = (r: Pick<Row, 'workload' | 'phase' | 'dist'>): ScenarioKey => `${r.workload}/${r.phase}/${r.dist}`;

function ok(r: Row | undefined): r is Row {
  return r !== undefined && r.error === undefined && Number.isFinite(r.opsPerSec);
}

export function derive(rows: readonly Row[]): DerivedRow[] {
  const find = (s: ScenarioKey, system: string, threads: number) =>
    rows.find((r) => scenarioOf(r) === s && r.system === system && r.threads === threads);
  return rows.map((r) => {
    if (!ok(r)) return r;
    const s = scenarioOf(r);
    const out: { -readonly [K in keyof DerivedRow]: DerivedRow[K] } = { ...r };
    const ref = find(s, REFERENCE, r.threads);
    if (ok(ref)) out.shmapOver = ref.opsPerSec / r.opsPerSec;
    const map = find(s, 'map', 1);
    if (r.threads === 1 && ok(map)) out.overMap = r.opsPerSec / map.opsPerSec;
    const one = find(s, r.system, 1);
    if (r.threads > 1 && ok(one)) {
      out.speedup = r.opsPerSec / one.opsPerSec;
      out.efficiency = out.speedup / r.threads;
    }
    return out;
  });
}

export function fmtNs(ns: number): string {
  if (!Number.isFinite(ns)) return '-';
  if (ns < 10_000) return `${Math.round(ns)}ns`;
  if (ns < 10_000_000) return `${(ns / 1000).toFixed(ns < 100_000 ? 1 : 0)}us`;
  return `${(ns / 1e6).toFixed(1)}ms`;
}

export function fmtRate(x: number): string {
  if (!Number.isFinite(x)) return '-';
  if (x >= 1e6) return `${(x / 1e6).toFixed(2)}M`;
  if (x >= 1e3) return `${(x / 1e3).toFixed(1)}k`;
  return x.toFixed(0);
}

function fmtRatio(x: number | undefined): string {
  if (x === undefined) return '';
  if (x < 0.1) return `x${x.toPrecision(2)}`;
  return x >= 100 ? `x${x.toFixed(0)}` : x >= 10 ? `x${x.toFixed(1)}` : `x${x.toFixed(2)}`;
}

const WORKLOAD_TEXT: Record<WorkloadName, string> = {
  int32: 'int32 keys -> float64 values',
  string: "'session:<base36>' keys -> 32-byte string values",
};
const PHASE_TEXT: Record<Phase, string> = { get: 'read-only (100% get)', mix: 'mix 90% get / 9% set / 1% delete' };
const DIST_TEXT: Record<Dist, string> = { uniform: 'uniform keys', zipf: 'zipf(0.99) keys' };

function table(header: string[], body: string[][], rightFrom: number): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i < rightFrom ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)];
}

/** The tables, one per scenario, in run order. */
export function formatTables(rows: readonly DerivedRow[], preload: number): string {
  const out: string[] = [];
  const scenarios: ScenarioKey[] = [];
  for (const r of rows) if (!scenarios.includes(scenarioOf(r))) scenarios.push(scenarioOf(r));
  // Read-only tables first, then the mix, workload by workload.
  scenarios.sort((a, b) => {
    const [wa, pa] = a.split('/');
    const [wb, pb] = b.split('/');
    return wa === wb ? (pa === pb ? 0 : pa === 'get' ? -1 : 1) : 0;
  });
  for (const s of scenarios) {
    const [w, p, d] = s.split('/') as [WorkloadName, Phase, Dist];
    out.push(
      '',
      `== ${WORKLOAD_TEXT[w]} | ${PHASE_TEXT[p]} | ${DIST_TEXT[d]} | ${preload.toLocaleString('en-US')} keys preloaded ==`,
    );
    const body = rows
      .filter((r) => scenarioOf(r) === s)
      .map((r) => {
        if (r.error !== undefined)
          return [r.system, String(r.threads), 'ERROR', r.error, '', '', '', '', '', '', '', ''];
        const spread = r.opsPerSec > 0 ? ((r.opsPerSecMax - r.opsPerSecMin) / 2 / r.opsPerSec) * 100 : 0;
        return [
          r.system,
          String(r.threads),
          fmtRate(r.opsPerSec),
          `±${spread.toFixed(spread < 10 ? 1 : 0)}%`,
          r.nsPerOp.toFixed(r.nsPerOp < 100 ? 1 : 0),
          fmtNs(r.p50),
          fmtNs(r.p99),
          fmtNs(r.p999),
          r.batch === 1 ? 'op' : `batch${r.batch}`,
          fmtRatio(r.shmapOver),
          r.overMap === undefined ? '' : fmtRatio(r.overMap),
          r.speedup === undefined ? '' : `${fmtRatio(r.speedup)} ${((r.efficiency ?? 0) * 100).toFixed(0)}%`,
        ];
      });
    out.push(
      ...table(
        [
          'system',
          'thr',
          'ops/s',
          'spread',
          'ns/op',
          'p50',
          'p99',
          'p99.9',
          'lat per',
          'shmap/this',
          'this/Map',
          'scaling',
        ],
        body,
        2,
      ),
    );
  }
  return out.join('\n');
}

export interface TargetResult {
  readonly target: string;
  /** Each measured figure the target is judged on, with where it was measured. */
  readonly figures: Array<{ where: string; value: number }>;
  readonly goal: number;
  /** 'more' means value >= goal passes (ratios); 'strictly' means value > goal. */
  readonly strict: boolean;
  readonly met: boolean | undefined;
}

/** shmap's performance targets (README, Benchmarks), judged on this run's rows. */
export function evaluateTargets(rows: readonly DerivedRow[]): TargetResult[] {
  const where = (r: Row) => `${r.workload} ${r.phase} ${r.dist} ${r.threads}thr`;
  const good = rows.filter(ok);
  const get = (system: string, pred: (r: Row) => boolean): DerivedRow[] =>
    good.filter((r) => r.system === system && pred(r));
  const results: TargetResult[] = [];
  const add = (target: string, figures: Array<{ where: string; value: number }>, goal: number, strict = false) => {
    const met = figures.length === 0 ? undefined : figures.every((f) => (strict ? f.value > goal : f.value >= goal));
    results.push({ target, figures, goal, strict, met });
  };

  for (const [workload, goal, text] of [
    ['int32', 1, 'single thread, int32 keys: SharedMap.get >= Map.get'],
    ['string', 0.5, 'single thread, string keys: SharedMap.get within 2x of Map.get'],
  ] as const) {
    add(
      text + ' (shmap 1 worker / map, read-only)',
      get(REFERENCE, (r) => r.workload === workload && r.phase === 'get' && r.threads === 1)
        .filter((r) => r.overMap !== undefined)
        .map((r) => ({ where: where(r), value: r.overMap! })),
      goal,
    );
  }
  for (const [phase, goal] of [
    ['get', 1.8],
    ['mix', 1.5],
  ] as const) {
    add(
      `2 workers: shmap >= ${goal}x its 1-worker throughput (${phase === 'get' ? 'read-only' : 'mix'})`,
      get(REFERENCE, (r) => r.phase === phase && r.threads === 2)
        .filter((r) => r.speedup !== undefined)
        .map((r) => ({ where: where(r), value: r.speedup! })),
      goal,
    );
  }
  for (const [system, goal, strict, phases] of [
    ['postmessage', 100, false, ['get', 'mix']],
    ['redis', 100, false, ['get', 'mix']],
    ['postmessage-b64', 5, false, ['get', 'mix']],
    ['lmdb', 1, true, ['get']],
  ] as const) {
    add(
      `shmap ${strict ? 'ahead of' : `>= ${goal}x`} ${system}${phases.length === 1 ? ' on get' : ''} (same threads)`,
      get(system, (r) => (phases as readonly string[]).includes(r.phase))
        .filter((r) => r.shmapOver !== undefined)
        .map((r) => ({ where: where(r), value: r.shmapOver! })),
      goal,
      strict,
    );
  }
  return results;
}

export function formatTargets(targets: readonly TargetResult[]): string {
  const out = ['', "== shmap's performance targets, judged on this run =="];
  for (const t of targets) {
    if (t.met === undefined) {
      out.push(`  n/a     ${t.target}: not measured in this run`);
      continue;
    }
    const worst = t.figures.reduce((a, b) => (b.value < a.value ? b : a));
    const best = t.figures.reduce((a, b) => (b.value > a.value ? b : a));
    const passing = t.figures.filter((f) => (t.strict ? f.value > t.goal : f.value >= t.goal)).length;
    const range = `worst ${fmtRatio(worst.value)} (${worst.where}), best ${fmtRatio(best.value)} (${best.where})`;
    if (t.met) {
      out.push(`  met     ${t.target}: ${passing}/${t.figures.length}; ${range}`);
    } else {
      const short = (1 - worst.value / t.goal) * 100;
      out.push(
        `  MISSED  ${t.target}: ${passing}/${t.figures.length} pass; ${range}; worst is ${short.toFixed(0)}% short of x${t.goal}`,
      );
    }
  }
  return out.join('\n');
}

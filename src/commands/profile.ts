/**
 * `shmap profile [stress options]`: runs a stress scenario with every thread
 * under V8's CPU profiler and writes one flamegraph per thread.
 *
 * Why not plain `0x`: 0x profiles the main isolate only (it picks one of the
 * `--prof` isolate logs), so the workers, where every map operation runs,
 * would not appear. Node's `--cpu-prof` writes one `.cpuprofile` per thread,
 * worker threads included (a worker inherits the flag through execArgv, and
 * writes its profile when piscina terminates it), and
 * `0x --visualize-cpu-profile` renders each one. This command runs
 * `node --cpu-prof dist/main.js stress ...` as a child, renders every profile
 * it wrote, and checks that SharedMap's own frames show up in the workers'.
 *
 * Output: profiles/<scenario>-<date>-<commit>/thread-<id>.html (+ the
 * .cpuprofile, which Chrome DevTools and speedscope also open).
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gitCommit } from '../bench/results.js';
import { installHint, installed } from '../optional.js';
import { UsageError } from '../stress/options.js';
import { usageFailure } from '../args.js';
import { parseStressArgs, usage as stressUsage } from './stress.js';

/** Sampling interval of the CPU profiler, us (V8's default is 1000). */
const SAMPLE_INTERVAL_US = 250;
/** Load duration when neither --duration nor --ops is given, s. */
const DEFAULT_DURATION_S = '4';

interface CpuProfile {
  nodes: Array<{ id: number; callFrame: { functionName: string; url: string }; children?: number[] }>;
  samples?: number[];
}

/** Functions under src/shm/ that only the stress harness calls (its start barrier), not SharedMap's work. */
const HARNESS_FRAMES = new Set(['sync.js:barrierWait']);

/** Share of samples per SharedMap function (self + callees, i.e. inclusive) in one profile. */
export function shmapFrames(profile: CpuProfile): { total: number; byFunction: Map<string, number> } {
  const parent = new Map<number, number>();
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const samples = profile.samples ?? [];
  const byFunction = new Map<string, number>();
  for (const leaf of samples) {
    const seen = new Set<string>();
    for (let id: number | undefined = leaf; id !== undefined; id = parent.get(id)) {
      const f = byId.get(id)!.callFrame;
      if (!/\/shm\/[^/]+\.js$/.test(f.url)) continue;
      const name = `${f.url.slice(f.url.lastIndexOf('/') + 1)}:${f.functionName || '(anonymous)'}`;
      if (seen.has(name) || HARNESS_FRAMES.has(name)) continue;
      seen.add(name);
      byFunction.set(name, (byFunction.get(name) ?? 0) + 1);
    }
  }
  return { total: samples.length, byFunction };
}

/**
 * Worker numbers by thread id, read from the stress report's worker table
 * (columns `worker`, `thread id`, ...), so the flamegraph list names threads
 * as the stress table does. Empty when the report has no such table.
 */
export function workersByThreadId(report: string): Map<number, number> {
  const out = new Map<number, number>();
  const lines = report.split('\n');
  const header = lines.findIndex((l) => /^\s*worker\s+thread id\b/.test(l));
  if (header < 0) return out;
  for (const line of lines.slice(header + 1)) {
    const m = /^\s*(\d+)\s+(\d+)\s/.exec(line);
    if (m === null) break;
    out.set(Number(m[2]), Number(m[1]));
  }
  return out;
}

function stamp(d = new Date()): string {
  return d
    .toISOString()
    .replace(/\.\d+Z$/, '')
    .replace(/:/g, '-');
}

export function usage(): string {
  return stressUsage('profile')
    .replace('  -h, --help', '  --out DIR           where to write the flamegraphs (default profiles/)\n  -h, --help')
    .replace(
      /--duration S {8}seconds of load \(default [\d.]+\)/,
      `--duration S        seconds of load (default ${DEFAULT_DURATION_S} under profile)`,
    )
    .replace(
      /\nexit codes:[\s\S]*$/,
      "\nexit codes: the stress run's (0, 1); 2 bad arguments; 1 also when a flamegraph could not be written\nor no worker profile shows SharedMap frames",
    );
}

export async function run(argv: string[]): Promise<number> {
  // --out is ours; everything else goes to stress.
  const stressArgs: string[] = [];
  let outDir = 'profiles';
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--out') {
      const v = argv[++i];
      if (v === undefined || v === '') return bad('--out needs a directory');
      outDir = v;
    } else if (a.startsWith('--out=')) outDir = a.slice('--out='.length);
    else stressArgs.push(a);
  }
  let parsed;
  try {
    parsed = parseStressArgs(stressArgs);
  } catch (err) {
    if (err instanceof UsageError) return bad(err.message);
    throw err;
  }
  if (parsed.help) {
    process.stdout.write(usage() + '\n');
    return 0;
  }
  // Checked before any work: without 0x there would be profiles and no flamegraphs.
  if (!installed('0x/cmd.js')) {
    process.stderr.write(`shmap profile: ${installHint('drawing flamegraphs', '0x')}\n`);
    return 2;
  }
  if (!stressArgs.some((a) => a.startsWith('--duration') || a.startsWith('--ops')))
    stressArgs.push('--duration', DEFAULT_DURATION_S);

  const mainJs = fileURLToPath(new URL('../main.js', import.meta.url));
  const scenario = parsed.options.scenario;
  const dir = resolve(outDir, `${scenario}-${stamp()}-${gitCommit()}`);
  mkdirSync(dir, { recursive: true });
  const raw = mkdtempSync(join(tmpdir(), 'shmap-cpuprof-'));

  const child = spawnSync(
    process.execPath,
    [
      '--cpu-prof',
      '--cpu-prof-dir',
      raw,
      '--cpu-prof-interval',
      String(SAMPLE_INTERVAL_US),
      mainJs,
      'stress',
      ...stressArgs,
      '--report',
      join(dir, 'stress-report.txt'),
    ],
    { stdio: 'inherit' },
  );
  const stressCode = child.status ?? 1;
  if (stressCode === 2) return 2;

  // CPU.<date>.<time>.<pid>.<threadId>.<seq>.cpuprofile
  const files = readdirSync(raw)
    .filter((f) => f.endsWith('.cpuprofile'))
    .sort();
  if (files.length === 0) {
    process.stderr.write(`shmap profile: the stress run wrote no CPU profile (exit ${stressCode})\n`);
    return 1;
  }
  const zeroX = fileURLToPath(import.meta.resolve('0x/cmd.js'));
  let failures = 0;
  let workersWithMapFrames = 0;
  const lines: string[] = [];
  let workers = new Map<number, number>();
  try {
    workers = workersByThreadId(readFileSync(join(dir, 'stress-report.txt'), 'utf8'));
  } catch {
    // No report (the run failed early): threads are named by their ids alone.
  }
  const who = (tid: number): string => {
    if (tid === 0) return 'main thread';
    const w = workers.get(tid);
    return w === undefined ? `threadId ${tid}` : `worker ${w} (threadId ${tid})`;
  };
  for (const f of files) {
    const tid = Number(f.split('.')[4]);
    const name = tid === 0 ? 'thread-0-main' : `thread-${tid}`;
    const cpuprofile = join(dir, `${name}.cpuprofile`);
    const html = join(dir, `${name}.html`);
    copyFileSync(join(raw, f), cpuprofile);
    const r = spawnSync(
      process.execPath,
      [zeroX, '--visualize-cpu-profile', cpuprofile, '--output-html', html, '--quiet'],
      { encoding: 'utf8' },
    );
    if (r.status !== 0) {
      failures++;
      lines.push(`  ${relative(process.cwd(), html)}: 0x failed: ${(r.stderr || r.stdout).trim().split('\n')[0]}`);
      continue;
    }
    const frames = shmapFrames(JSON.parse(readFileSync(cpuprofile, 'utf8')) as CpuProfile);
    const top = [...frames.byFunction].sort((a, b) => b[1] - a[1]).slice(0, 6);
    if (tid !== 0 && top.length > 0) workersWithMapFrames++;
    const share = top.map(([fn, n]) => `${fn} ${((100 * n) / Math.max(frames.total, 1)).toFixed(1)}%`).join(', ');
    lines.push(
      `  ${relative(process.cwd(), html)}  (${who(tid)}; ${frames.total} samples${share ? `; SharedMap frames: ${share}` : ''})`,
    );
  }
  rmSync(raw, { recursive: true, force: true });

  process.stdout.write(
    `\nflamegraphs (one per thread; open in a browser; profiles/README.md says how to read them):\n${lines.join('\n')}\n`,
  );
  process.stdout.write(
    `  ${relative(process.cwd(), join(dir, 'stress-report.txt'))}  (the run's summary and every conflict report)\n`,
  );
  if (failures > 0) return 1;
  if (workersWithMapFrames === 0) {
    process.stderr.write('shmap profile: no worker profile shows SharedMap frames (dist/shm/*.js)\n');
    return 1;
  }
  return stressCode;
}

function bad(reason: string): number {
  return usageFailure('profile', reason);
}

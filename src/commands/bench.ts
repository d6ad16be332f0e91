/**
 * `shmap bench`: shmap against what people use instead (Map, a Map per
 * worker, postMessage to a Map on the main thread, Redis, lmdb), measured
 * side by side in one run. `bench cleanup` is its own subcommand (the
 * cleanup strategies), dispatched to src/bench/cleanup.ts.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SingleBar, Presets } from 'cli-progress';
import { parseBenchFlags } from '../bench/args.js';
import { usageFailure } from '../args.js';
import { derive, evaluateTargets, fmtRate, formatTables, formatTargets } from '../bench/report.js';
import { fileStamp, gitCommit, machineInfo, resultsDir } from '../bench/results.js';
import { runBench, type BenchConfig, type Progress } from '../bench/runner.js';
import { SYSTEM_NAMES } from '../bench/systems.js';

/** The full matrix (about 8 minutes on 2 cores). */
const FULL: Omit<BenchConfig, 'systems' | 'workerFile'> = {
  preload: 1_000_000,
  opsLength: 1 << 20,
  threads: [1, 2, 4],
  workloads: ['int32', 'string'],
  phases: ['get', 'mix'],
  dists: ['uniform', 'zipf'],
  plan: { warmupMs: 300, reps: 5, repMs: 300, latencyMs: 300 },
  seed: 0x5eed_b3c4,
};

/** `--quick`: under a minute. Smaller preload, uniform keys only, 1 and 2 threads, shorter windows. */
const QUICK: Omit<BenchConfig, 'systems' | 'workerFile'> = {
  ...FULL,
  preload: 100_000,
  opsLength: 1 << 16,
  threads: [1, 2],
  dists: ['uniform'],
  plan: { warmupMs: 50, reps: 3, repMs: 100, latencyMs: 80 },
};

function help(): string {
  return [
    'usage: shmap bench [--quick] [--json] [--only name,...]',
    '       shmap bench cleanup ...      (the cleanup strategies; see `bench cleanup --help`)',
    '       shmap bench http ...         (the HTTP session service under load; see `bench http --help`)',
    '       shmap bench near-cache ...   (NearCache vs Redis clients in each thread; see `bench near-cache --help`)',
    '',
    'Benchmarks shmap against the alternatives in one run: 1,000,000 preloaded keys,',
    "int32 -> float64 and 'session:<base36>' -> 32-byte strings; 100% get and",
    '90% get / 9% set / 1% delete; uniform and zipf(0.99) keys; 1, 2 and 4 workers.',
    'Every system runs the same pre-generated op sequences, the same warm-up and',
    'repetitions. Prints ops/s (median of repetitions, spread = half the range),',
    'ns/op per thread, p50/p99/p99.9 latency (per op, or per batch of 64 for batched',
    "rows), shmap's ratio to each row, this/Map for single-thread rows, scaling over",
    "the 1-thread row, and shmap's performance targets judged on the run. Writes",
    'bench/results/<date>_<commit>.json under the current directory.',
    '',
    'options:',
    `  --quick        under a minute: ${QUICK.preload.toLocaleString('en-US')} keys, uniform only, 1 and 2 workers, short windows`,
    '  --json         print the results as JSON instead of tables',
    '  --only a,b     run only these systems (shmap is the reference for ratios)',
    '  --help         this text',
    '',
    'systems:',
    '  map              a Map on the main thread: the single-thread ceiling',
    '  map-per-worker   a private Map in each worker (no sharing): the N-thread ceiling',
    "  shmap            SharedMap, sync: 'lock', attached in each worker",
    "  shmap-none       SharedMap, sync: 'none' (read-only phase only)",
    '  postmessage      a Map on the main thread behind postMessage, one op per message',
    '  postmessage-b64  the same, 64 ops per message',
    '  redis            redis-server on 127.0.0.1 (started by bench), one connection per worker',
    '  redis-p64        the same, pipelined 64',
    '  lmdb             lmdb-js, one environment, opened in each worker',
    '',
    'exit codes: 0 ok, 1 a system failed or returned wrong results, 2 bad arguments',
  ].join('\n');
}

function progressReporter(): Progress & { stop(): void } {
  if (process.stderr.isTTY) {
    const bar = new SingleBar(
      { format: 'bench [{bar}] {value}/{total} {last}', stream: process.stderr, hideCursor: true },
      Presets.shades_classic,
    );
    let started = false;
    return {
      row(row, done, total) {
        if (!started) {
          bar.start(total, 0, { last: '' });
          started = true;
        }
        bar.update(done, { last: `${row.workload} ${row.phase} ${row.dist} ${row.system} ${row.threads}thr` });
      },
      note(line) {
        process.stderr.write(line + '\n');
      },
      stop() {
        if (started) bar.stop();
      },
    };
  }
  return {
    row(row, done, total) {
      const what = row.error === undefined ? `${fmtRate(row.opsPerSec)} ops/s` : `ERROR ${row.error}`;
      process.stderr.write(
        `[${done}/${total}] ${row.workload} ${row.phase} ${row.dist} ${row.system} ${row.threads}thr: ${what}\n`,
      );
    },
    note(line) {
      process.stderr.write(line + '\n');
    },
    stop() {},
  };
}

export async function run(argv: string[]): Promise<number> {
  if (argv[0] === 'cleanup') return (await import('../bench/cleanup.js')).run(argv.slice(1));
  if (argv[0] === 'http') return (await import('../bench/http.js')).run(argv.slice(1));
  if (argv[0] === 'near-cache') return (await import('../bench/near-cache.js')).run(argv.slice(1));

  const values = parseBenchFlags('bench', argv);
  if (values === undefined) return 2;
  if (values.help) {
    process.stdout.write(help() + '\n');
    return 0;
  }
  let systems = [...SYSTEM_NAMES];
  if (values.only !== undefined) {
    const names = values.only
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
    const unknown = names.filter((n) => !SYSTEM_NAMES.includes(n));
    if (names.length === 0 || unknown.length > 0) {
      return usageFailure('bench', `--only: unknown system '${unknown[0] ?? ''}' (known: ${SYSTEM_NAMES.join(', ')})`);
    }
    systems = SYSTEM_NAMES.filter((n) => names.includes(n));
  }

  const base = values.quick ? QUICK : FULL;
  const config: BenchConfig = {
    ...base,
    systems,
    workerFile: fileURLToPath(new URL('../bench/worker.js', import.meta.url)),
  };
  const started = new Date();
  // Other processes on the machine move every figure; the load average says how busy it was.
  const loadBefore = loadavg()[0]!;
  const rev = gitCommit();
  const machine = machineInfo();
  const command = `node dist/main.js bench${argv.length > 0 ? ' ' + argv.join(' ') : ''}`;

  const progress = progressReporter();
  let result;
  try {
    result = await runBench(config, progress);
  } finally {
    progress.stop();
  }
  const rows = derive(result.rows);
  const targets = evaluateTargets(rows);
  const seconds = (Date.now() - started.getTime()) / 1000;
  const loadAfter = loadavg()[0]!;
  const timerNs = rows.map((r) => r.timerNs).filter(Number.isFinite);

  const head = [
    `$ ${command}`,
    `machine: ${machine.cpu}, ${machine.cores} cores, Node ${machine.node}, ${machine.platform}; commit ${rev}; ${started.toISOString()}; ${seconds.toFixed(0)} s; load average (1 min) ${loadBefore.toFixed(1)} before, ${loadAfter.toFixed(1)} after`,
    values.quick
      ? `--quick: ${config.preload.toLocaleString('en-US')} keys preloaded (the full run: ${FULL.preload.toLocaleString('en-US')}), uniform keys only, 1 and 2 workers, ${config.plan.reps} x ${config.plan.repMs} ms windows`
      : `${config.preload.toLocaleString('en-US')} keys preloaded; ${config.plan.reps} repetitions of ${config.plan.repMs} ms after a ${config.plan.warmupMs} ms warm-up`,
    `ops/s: total over threads, median of repetitions; spread: half the range over the median. ns/op: wall time per op in one thread.`,
    `latency: a separate ${config.plan.latencyMs} ms window timing every unit (one op; one batch of 64 for 'batch64' rows), HDR histogram; includes a timer pair of ~${timerNs.length > 0 ? Math.round(timerNs.sort((a, b) => a - b)[timerNs.length >> 1]!) : '?'} ns.`,
    `shmap/this: shmap's ops/s over this row's (same scenario and threads). this/Map: over the single-thread Map row. scaling: over the same system's 1-thread row, and efficiency.`,
    ...result.skipped
      .filter((s, i, all) => all.findIndex((t) => t.reason === s.reason) === i)
      .map((s) => `skipped: ${s.reason}`),
  ];
  const text = [...head, formatTables(rows, config.preload), formatTargets(targets)].join('\n') + '\n';

  const file = `${resultsDir()}/${fileStamp(started)}_${rev}${values.quick ? '_quick' : ''}`;
  const json = {
    command,
    machine,
    commit: rev,
    started: started.toISOString(),
    seconds,
    loadAverage: { before: loadBefore, after: loadAfter },
    config,
    skipped: result.skipped,
    rows,
    targets,
  };
  let written: string;
  try {
    mkdirSync(resultsDir(), { recursive: true });
    writeFileSync(`${file}.json`, JSON.stringify(json, null, 2) + '\n');
    writeFileSync(`${file}.txt`, text);
    written = `results: ${relative(process.cwd(), file)}.json (and .txt)\n`;
  } catch (err) {
    written = `results not written: ${(err as Error).message}\n`;
  }
  if (values.json) {
    process.stdout.write(JSON.stringify(json, null, 2) + '\n');
    process.stderr.write(written);
  } else {
    process.stdout.write(text + written);
  }
  return rows.some((r) => r.error !== undefined) ? 1 : 0;
}

/**
 * `shmap lincheck`: Lincheck's stress mode for SharedMap. Generates random
 * small concurrent scenarios (per thread a short list of operations over a
 * few keys with small values), runs each one many times on real worker
 * threads released together on a fresh map per run, records every run's
 * history (src/race/recorder.ts) and checks it for linearizability
 * (src/race/linearizability.ts). The first run that cannot be linearized
 * stops everything and is printed: the scenario, the seed that replays it,
 * and the counterexample.
 *
 * The thread side is src/workers/lincheck.ts. `LincheckSession` is exported
 * for tests, which run it with a broken map's worker file to prove that a
 * real bug is caught.
 */
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import cliProgress from 'cli-progress';
import { SharedMap } from '../shm/map.js';
import type { SharedMapOptions, ValueType } from '../shm/types.js';
import { formatHistory, type HistoryOp, type HistoryOpName, type JsonValue } from '../race/history.js';
import { checkLinearizabilitySync, type LinearizabilityResult } from '../race/linearizability.js';
import { decodeRecorded, mergeHistories } from '../race/recorder.js';
import { formatCheckReport } from '../race/timeline.js';
import { Rng } from '../stress/keys.js';
import { parseInteger, UsageError } from '../stress/options.js';
import { parseCommandArgs, usageFailure } from '../args.js';
import { LC, type ScenarioOp, type ScenarioRequest, type ScenarioResponse } from '../workers/lincheck.js';

export type { ScenarioOp };

/** What values a scenario's ops use: small integers (all seven ops) or strings of different lengths (no `add`). */
export type LincheckValues = 'int' | 'string';

/** A scenario: per thread, the ops it runs in order. */
export interface Scenario {
  seed: number;
  keys: number;
  values: LincheckValues;
  threads: ScenarioOp[][];
}

export interface LincheckOptions {
  threads: number;
  ops: number;
  scenarios: number;
  runs: number;
  keys: number;
  values: LincheckValues;
  /** Scenario i is generated from seed + i (so `--seed seed+i --scenarios 1` replays it). */
  seed: number;
  /** Time limit per key of one run's check, ms. */
  timeoutMs: number;
}

export function defaultLincheckOptions(): LincheckOptions {
  return {
    threads: 3,
    ops: 5,
    scenarios: 500,
    runs: 20,
    keys: 2,
    values: 'int',
    seed: Date.now() % 0x7fffffff,
    timeoutMs: 2_000,
  };
}

// ---------------------------------------------------------------------------
// Scenarios.

/** String values: distinct letters and lengths, so a torn read (length of one, bytes of another) is a value nobody wrote. */
export const STRING_VALUES: readonly string[] = ['a'.repeat(5), 'b'.repeat(13), 'c'.repeat(24), 'd'.repeat(31)];
/** Integer values. */
export const INT_VALUES: readonly number[] = [1, 2, 3, 4];

/** Op weights (percent) by value kind; `add` needs numbers. */
const WEIGHTS: Record<LincheckValues, Array<[HistoryOpName, number]>> = {
  int: [
    ['get', 22],
    ['has', 8],
    ['set', 20],
    ['delete', 10],
    ['putIfAbsent', 10],
    ['compareAndSet', 12],
    ['add', 18],
  ],
  string: [
    ['get', 30],
    ['has', 8],
    ['set', 25],
    ['delete', 12],
    ['putIfAbsent', 12],
    ['compareAndSet', 13],
  ],
};

function pickOp(rng: Rng, values: LincheckValues): HistoryOpName {
  let x = rng.below(100);
  for (const [op, w] of WEIGHTS[values]) {
    if (x < w) return op;
    x -= w;
  }
  return 'get';
}

/** A random scenario from `seed` (same seed, same sizes: same scenario). */
export function generateScenario(
  seed: number,
  threads: number,
  ops: number,
  keys: number,
  values: LincheckValues,
): Scenario {
  const rng = new Rng(seed, 0x11c);
  const table: readonly JsonValue[] = values === 'int' ? INT_VALUES : STRING_VALUES;
  const value = (): JsonValue => table[rng.below(table.length)]!;
  const out: ScenarioOp[][] = [];
  for (let t = 0; t < threads; t++) {
    const list: ScenarioOp[] = [];
    for (let i = 0; i < ops; i++) {
      const op = pickOp(rng, values);
      const key = rng.below(keys);
      let args: JsonValue[] = [];
      if (op === 'set' || op === 'putIfAbsent') args = [value()];
      else if (op === 'add') args = [1 + rng.below(3)];
      else if (op === 'compareAndSet') args = [rng.below(4) === 0 ? null : value(), value()];
      list.push({ op, key, args });
    }
    out.push(list);
  }
  return { seed, keys, values, threads: out };
}

function formatArgs(o: ScenarioOp): string {
  return o.args.map((a) => JSON.stringify(a)).join(', ');
}

/** The scenario as per-thread op lists. */
export function formatScenario(s: Scenario): string {
  const lines = [`scenario (seed ${s.seed}, ${s.threads.length} threads, keys 0..${s.keys - 1}, ${s.values} values):`];
  s.threads.forEach((ops, t) => {
    lines.push(
      `  thread ${t}: ` +
        ops.map((o) => `${o.op}(${[String(o.key), formatArgs(o)].filter((x) => x !== '').join(', ')})`).join('; '),
    );
  });
  return lines.join('\n');
}

// ---------------------------------------------------------------------------
// Running scenarios on worker threads.

/** How each run's fresh map is made. */
export type MapOptionsFor = (values: LincheckValues) => SharedMapOptions;

export const DEFAULT_MAP_OPTIONS: MapOptionsFor = (values) => ({
  key: 'int32',
  value: (values === 'int' ? 'int32' : 'string:32') as ValueType,
  // One shard: every key of the scenario contends on one lock and one seq.
  shards: 1,
  capacity: 8,
  maxCapacity: 64,
  conflictLogSize: 16,
});

/**
 * Most jitter, in spin iterations before a thread's first op (a few ns each):
 * about one op's time, so runs start the threads a little apart in
 * different ways without pulling them apart altogether.
 */
export const JITTER_MAX = 300;

export interface SessionOptions {
  threads: number;
  /** The worker file (default: dist/workers/lincheck.js beside this module). */
  workerFile?: string | URL;
  /** workerData for each thread (default `{ lincheck: 'real' }`). */
  workerData?: unknown;
  mapOptions?: MapOptionsFor;
  timeoutMs?: number;
}

/** One run of a scenario, checked. */
export interface RunOutcome {
  run: number;
  history: HistoryOp[];
  result: LinearizabilityResult;
}

export interface ScenarioOutcome {
  scenario: Scenario;
  runs: number;
  opsChecked: number;
  /** The first run in violation (the scenario stops there). */
  violation?: RunOutcome;
  /** Runs whose check answered unknown. */
  unknown: number;
  /** Runs in which some two ops of different threads overlapped in time (so the threads really ran together). */
  overlapped: number;
  /** Ops that threw in a worker (each fails the scenario). */
  errors: string[];
  /** Ops not recorded (a full buffer: never expected here). */
  dropped: number;
}

/** Whether two ops of different threads overlap in time in `history` (sorted by call). */
export function threadsOverlap(history: readonly HistoryOp[]): boolean {
  for (let i = 0; i < history.length; i++) {
    const a = history[i]!;
    for (let j = i + 1; j < history.length && history[j]!.call < a.ret; j++) {
      if (history[j]!.thread !== a.thread) return true;
    }
  }
  return false;
}

/** `threads` long-lived worker threads that run scenarios; close() when done. */
export class LincheckSession {
  private readonly workers: Worker[];
  private readonly control = new SharedArrayBuffer(LC.bytes);
  private nextId = 0;
  private readonly mapOptions: MapOptionsFor;
  private readonly timeoutMs: number;
  private failure: Error | undefined;

  constructor(readonly options: SessionOptions) {
    const file = options.workerFile ?? new URL('../workers/lincheck.js', import.meta.url);
    this.workers = Array.from(
      { length: options.threads },
      () => new Worker(file, { workerData: options.workerData ?? { lincheck: 'real' } }),
    );
    for (const w of this.workers) {
      w.on('error', (err) => {
        this.failure = err;
      });
    }
    this.mapOptions = options.mapOptions ?? DEFAULT_MAP_OPTIONS;
    this.timeoutMs = options.timeoutMs ?? 2_000;
  }

  /** Runs `scenario` `runs` times (stopping at the first violation) and checks every run. */
  async runScenario(scenario: Scenario, runs: number): Promise<ScenarioOutcome> {
    if (scenario.threads.length !== this.workers.length)
      throw new Error(`scenario has ${scenario.threads.length} threads, the session ${this.workers.length}`);
    const id = this.nextId++;
    const rng = new Rng(scenario.seed, 0x7177);
    const maps = Array.from({ length: runs }, () => SharedMap.create(this.mapOptions(scenario.values)));
    const jitter = Array.from({ length: runs }, () => (rng.below(3) === 0 ? 0 : rng.below(JITTER_MAX)));
    const values: JsonValue[] = scenario.values === 'int' ? [...INT_VALUES] : [...STRING_VALUES];
    Atomics.store(new Int32Array(this.control), LC.ALIGN_I32, 0);
    const responses = await Promise.all(
      this.workers.map(
        (w, thread) =>
          new Promise<ScenarioResponse>((resolve, reject) => {
            const onMessage = (msg: ScenarioResponse): void => {
              if (msg.id !== id) return;
              w.off('message', onMessage);
              w.off('error', onError);
              w.off('exit', onExit);
              resolve(msg);
            };
            const onError = (err: Error): void => reject(err);
            const onExit = (code: number): void =>
              reject(new Error(`lincheck worker ${thread} exited with code ${code}`));
            w.on('message', onMessage);
            w.once('error', onError);
            w.once('exit', onExit);
            const req: ScenarioRequest = {
              id,
              thread,
              threads: this.workers.length,
              control: this.control,
              handles: maps.map((m) => m.handle),
              ops: scenario.threads[thread]!,
              keys: scenario.keys,
              values,
              jitter: jitter.map((j) => (j + thread * 131) % JITTER_MAX),
            };
            w.postMessage(req);
          }),
      ),
    );
    if (this.failure) throw this.failure;
    // Split each thread's records by run (key index = run * keys + key), then check run by run.
    const perRun: HistoryOp[][][] = Array.from({ length: runs }, () => []);
    let dropped = 0;
    const errors: string[] = [];
    for (const resp of responses) {
      dropped += resp.rec.dropped;
      for (const e of resp.errors) errors.push(`thread ${resp.thread}: ${e}`);
      const ops = decodeRecorded(resp.rec, resp.thread, (k) => k);
      const byRun: HistoryOp[][] = Array.from({ length: runs }, () => []);
      for (const op of ops) {
        const k = op.key as number;
        const run = Math.floor(k / scenario.keys);
        byRun[run]!.push({ ...op, key: k % scenario.keys });
      }
      byRun.forEach((list, r) => perRun[r]!.push(list));
    }
    const outcome: ScenarioOutcome = { scenario, runs: 0, opsChecked: 0, unknown: 0, overlapped: 0, errors, dropped };
    for (let r = 0; r < runs; r++) {
      const history = mergeHistories(perRun[r]!);
      const result = checkLinearizabilitySync(history, { timeoutMs: this.timeoutMs });
      outcome.runs++;
      outcome.opsChecked += history.length;
      if (threadsOverlap(history)) outcome.overlapped++;
      if (result.status === 'unknown') outcome.unknown++;
      if (result.status === 'violation') {
        outcome.violation = { run: r, history, result };
        break;
      }
    }
    return outcome;
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

/** What a whole lincheck run found. */
export interface LincheckResult {
  options: LincheckOptions;
  scenarios: number;
  runs: number;
  opsChecked: number;
  unknownRuns: number;
  /** Runs in which threads' ops overlapped in time. */
  overlappedRuns: number;
  elapsedMs: number;
  /** The scenario that failed (violation or an op that threw), if any. */
  failed?: ScenarioOutcome;
  /**
   * 0 every run linearizable and some overlapped; 1 a violation or an error;
   * 3 inconclusive: nothing failed, but some runs were unknown, or no run
   * overlapped ops of different threads (nothing concurrent was tested).
   */
  exitCode: 0 | 1 | 3;
}

export interface LincheckHooks {
  session?: Omit<SessionOptions, 'threads' | 'timeoutMs'>;
  onProgress?: (p: { scenarios: number; runs: number; opsChecked: number; elapsedMs: number }) => void;
  signal?: AbortSignal;
}

/** Generates and runs `options.scenarios` scenarios; stops at the first failure. */
export async function runLincheck(options: LincheckOptions, hooks: LincheckHooks = {}): Promise<LincheckResult> {
  const started = performance.now();
  const session = new LincheckSession({ ...hooks.session, threads: options.threads, timeoutMs: options.timeoutMs });
  const result: LincheckResult = {
    options,
    scenarios: 0,
    runs: 0,
    opsChecked: 0,
    unknownRuns: 0,
    overlappedRuns: 0,
    elapsedMs: 0,
    exitCode: 0,
  };
  try {
    for (let i = 0; i < options.scenarios && !hooks.signal?.aborted; i++) {
      const scenario = generateScenario(
        (options.seed + i) | 0,
        options.threads,
        options.ops,
        options.keys,
        options.values,
      );
      const outcome = await session.runScenario(scenario, options.runs);
      result.scenarios++;
      result.runs += outcome.runs;
      result.opsChecked += outcome.opsChecked;
      result.unknownRuns += outcome.unknown;
      result.overlappedRuns += outcome.overlapped;
      hooks.onProgress?.({
        scenarios: result.scenarios,
        runs: result.runs,
        opsChecked: result.opsChecked,
        elapsedMs: performance.now() - started,
      });
      if (outcome.violation !== undefined || outcome.errors.length > 0 || outcome.dropped > 0) {
        result.failed = outcome;
        break;
      }
    }
  } finally {
    await session.close();
  }
  result.elapsedMs = performance.now() - started;
  result.exitCode = lincheckExitCode(result);
  return result;
}

/**
 * The exit code of a lincheck run: 1 when something failed; 3 (inconclusive)
 * when nothing failed but some run's check was unknown, or no run overlapped
 * ops of different threads — every run was then sequential, and a sequential
 * run passes on any map, broken or not, so it says nothing; else 0.
 */
export function lincheckExitCode(r: Pick<LincheckResult, 'failed' | 'unknownRuns' | 'overlappedRuns'>): 0 | 1 | 3 {
  if (r.failed !== undefined) return 1;
  return r.unknownRuns > 0 || r.overlappedRuns === 0 ? 3 : 0;
}

/** How to replay a failed scenario from the command line. */
export function replayCommand(o: LincheckOptions, scenarioSeed: number): string {
  return (
    `node dist/main.js lincheck --threads ${o.threads} --ops ${o.ops} --keys ${o.keys} --values ${o.values}` +
    ` --runs ${o.runs} --scenarios 1 --seed ${scenarioSeed}`
  );
}

/** The failure report: scenario, replay seed, and the counterexample (or the errors). */
export function formatFailure(o: LincheckOptions, f: ScenarioOutcome): string {
  const out = [
    formatScenario(f.scenario),
    '',
    `replay: ${replayCommand(o, f.scenario.seed)}`,
    "  (the same scenario; the interleaving is the scheduler's, so raise --runs to hit it again)",
    '',
  ];
  if (f.violation !== undefined) {
    out.push(`run ${f.violation.run + 1} of the scenario is not linearizable:`, '');
    out.push(formatCheckReport(f.violation.history, f.violation.result));
    out.push('', 'the whole run (history, JSON Lines):', formatHistory(f.violation.history).trimEnd());
  }
  if (f.errors.length > 0) out.push('operations threw:', ...f.errors.map((e) => `  ${e}`));
  if (f.dropped > 0) out.push(`${f.dropped} operations were not recorded (recorder buffer full)`);
  return out.join('\n');
}

export function formatLincheckSummary(r: LincheckResult): string {
  const o = r.options;
  const inconclusive: string[] = [];
  if (r.overlappedRuns === 0)
    inconclusive.push(
      'no run overlapped ops of different threads, so nothing concurrent was tested: raise --runs or --ops (or --threads)',
    );
  if (r.unknownRuns > 0) inconclusive.push(`${r.unknownRuns} run(s) unknown (raise --timeout)`);
  const verdict =
    r.exitCode === 0
      ? 'PASS: every run linearizable'
      : r.exitCode === 3
        ? `INCONCLUSIVE: no violation, but ${inconclusive.join('; ')}`
        : 'FAIL';
  return [
    `lincheck: ${r.scenarios} scenarios x up to ${o.runs} runs = ${r.runs.toLocaleString('en-US')} runs, ` +
      `${r.opsChecked.toLocaleString('en-US')} ops checked in ${(r.elapsedMs / 1000).toFixed(1)} s ` +
      `(${o.threads} threads x ${o.ops} ops, ${o.keys} keys, ${o.values} values, seed ${o.seed})`,
    `  runs in which ops of different threads overlapped in time: ${r.overlappedRuns.toLocaleString('en-US')} of ${r.runs.toLocaleString('en-US')}` +
      ` (${r.runs === 0 ? 0 : Math.round((100 * r.overlappedRuns) / r.runs)}%)`,
    `result: ${verdict}`,
  ].join('\n');
}

// ---------------------------------------------------------------------------
// The command.

const HELP = (
  d: LincheckOptions,
): string => `usage: shmap lincheck [--threads N] [--ops N] [--scenarios N] [--runs N] [--keys N] [--values int|string] [--seed S] [--timeout MS]
       shmap lincheck soak [--runs N] [--seed S] [--json]   (the false-alarm soak; see lincheck soak --help)

Lincheck's stress mode for SharedMap: generates random small concurrent
scenarios (per thread a list of --ops operations over --keys keys with small
values), runs each --runs times on real worker threads released together from
a barrier on a fresh map per run, records each run's history and checks it for
linearizability. Stops at the first run that cannot be linearized and prints
the scenario, the command that replays it, and the counterexample.

options:
  --threads N     worker threads, one op list each (default ${d.threads})
  --ops N         operations per thread per scenario (default ${d.ops})
  --scenarios N   scenarios to generate (default ${d.scenarios})
  --runs N        runs of each scenario, each on a fresh map (default ${d.runs})
  --keys N        keys the scenarios use (default ${d.keys})
  --values KIND   int: values 1..4, all seven ops (default) | string: strings of
                  different lengths, no add (a torn read shows as a value nobody wrote)
  --seed S        scenario i is generated from S + i (default: from the clock; printed)
  --timeout MS    time limit of one run's check per key (default ${d.timeoutMs}); a run that
                  runs out is "unknown", reported but not a failure
  -h, --help      this text

Ops: get, has, set, delete, putIfAbsent, compareAndSet (expected null = absent), add.

exit codes: 0 every run linearizable, and ops of different threads overlapped
              in time in at least one run
            1 a violation (or an op threw)
            2 bad arguments
            3 inconclusive, no violation: some runs unknown (a check timed out),
              or no run overlapped (nothing concurrent tested: raise --runs or --ops)
`;

/** Parses lincheck arguments; throws UsageError with a one-line reason. */
export function parseLincheckArgs(argv: string[]): { options: LincheckOptions; help: boolean } {
  const { values } = parseCommandArgs({
    args: argv,
    allowPositionals: false,
    strict: true,
    options: {
      threads: { type: 'string' },
      ops: { type: 'string' },
      scenarios: { type: 'string' },
      runs: { type: 'string' },
      keys: { type: 'string' },
      values: { type: 'string' },
      seed: { type: 'string' },
      timeout: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  }) as { values: Record<string, string | boolean | undefined> };
  const o = defaultLincheckOptions();
  const str = (name: string): string | undefined => values[name] as string | undefined;
  if (str('threads') !== undefined) o.threads = parseInteger(str('threads')!, '--threads', 2, 64);
  if (str('ops') !== undefined) o.ops = parseInteger(str('ops')!, '--ops', 1, 1_000);
  if (str('scenarios') !== undefined) o.scenarios = parseInteger(str('scenarios')!, '--scenarios', 1);
  if (str('runs') !== undefined) o.runs = parseInteger(str('runs')!, '--runs', 1, 100_000);
  if (str('keys') !== undefined) o.keys = parseInteger(str('keys')!, '--keys', 1, 1_000);
  if (str('seed') !== undefined) o.seed = parseInteger(str('seed')!, '--seed', -0x80000000, 0x7fffffff);
  if (str('timeout') !== undefined) o.timeoutMs = parseInteger(str('timeout')!, '--timeout', 1);
  const v = str('values');
  if (v !== undefined) {
    if (v !== 'int' && v !== 'string') throw new UsageError(`--values must be int or string, got '${v}'`);
    o.values = v;
  }
  return { options: o, help: values.help === true };
}

export async function run(argv: string[]): Promise<number> {
  if (argv[0] === 'soak') return (await import('../stress/soak.js')).runSoakCommand(argv.slice(1));
  let parsed: ReturnType<typeof parseLincheckArgs>;
  try {
    parsed = parseLincheckArgs(argv);
  } catch (err) {
    if (err instanceof UsageError) {
      return usageFailure('lincheck', err.message);
    }
    throw err;
  }
  if (parsed.help) {
    process.stdout.write(HELP(defaultLincheckOptions()));
    return 0;
  }
  const o = parsed.options;
  process.stderr.write(
    `lincheck: seed ${o.seed}, ${o.scenarios} scenarios x ${o.runs} runs, ${o.threads} threads x ${o.ops} ops\n`,
  );
  const abort = new AbortController();
  const onSigint = (): void => abort.abort();
  process.once('SIGINT', onSigint);
  let onProgress: LincheckHooks['onProgress'];
  let done = (): void => {};
  if (process.stderr.isTTY) {
    const bar = new cliProgress.SingleBar(
      {
        stream: process.stderr,
        format: 'lincheck [{bar}] {value}/{total} scenarios | {runs} runs | {ops} ops checked',
        hideCursor: true,
      },
      cliProgress.Presets.shades_classic,
    );
    bar.start(o.scenarios, 0, { runs: 0, ops: 0 });
    onProgress = (p) => bar.update(p.scenarios, { runs: p.runs, ops: p.opsChecked });
    done = () => bar.stop();
  } else {
    let last = 0;
    onProgress = (p) => {
      if (p.elapsedMs - last < 2_000) return;
      last = p.elapsedMs;
      process.stderr.write(
        `lincheck: ${p.scenarios}/${o.scenarios} scenarios, ${p.runs} runs, ${p.opsChecked} ops checked, ${(p.elapsedMs / 1000).toFixed(1)} s\n`,
      );
    };
  }
  let result: LincheckResult;
  try {
    result = await runLincheck(o, { onProgress, signal: abort.signal });
  } finally {
    done();
    process.off('SIGINT', onSigint);
  }
  if (result.failed !== undefined) process.stdout.write(formatFailure(o, result.failed) + '\n\n');
  process.stdout.write(formatLincheckSummary(result) + '\n');
  return result.exitCode;
}

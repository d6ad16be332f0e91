/**
 * The false-alarm soak of both checkers: many short stress runs of every
 * scenario that is correct by design, each with the race checker on and a
 * recorded history checked for linearizability (`--history --check`), on hot
 * keys, with history buffers small enough to fill early (so every run is
 * cut off: src/stress/history.ts, "The cut-off"), across seeds. On a correct
 * map every run must pass: a run that fails is a false alarm of the race
 * checker (a conflict the scenario does not provoke, with `sync: 'lock'`),
 * of the linearizability checker (a violation), or of the verification.
 *
 * The race suite runs a bounded soak with negative controls beside it;
 * `node dist/main.js lincheck soak --runs 1000` runs the long one.
 */
import { cpus, loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { parseCommandArgs, usageFailure } from '../args.js';
import { defaultOptions, parseMix, type StressOptions } from './options.js';
import { runStress, type StressResult } from './run.js';

/** The scenarios that are correct by design and can be recorded (ttl and lease refuse --history). */
export const SOAK_SCENARIOS = ['mixed', 'sweep', 'range-delete', 'counters', 'delete-queue'] as const;

/** Sampled keys: few, so every worker meets every one of them often. */
const SOAK_HISTORY_KEYS = 8;
/** History buffers per worker: 64..575 ops, filled within a few ms of load. */
const SOAK_BUFFER_MIN = 64;
const SOAK_BUFFER_SPREAD = 512;

/** The options of soak run `i` from `seed` (every run a different scenario, seed and buffer size). */
export function soakOptions(i: number, seed: number, over: Partial<StressOptions> = {}): StressOptions {
  const scenario = SOAK_SCENARIOS[i % SOAK_SCENARIOS.length]!;
  const runSeed = (seed + i) | 0;
  return {
    ...defaultOptions(),
    scenario,
    workers: 3,
    ops: 6_000,
    keys: 200,
    owned: 50,
    dist: { kind: 'hot', percent: 90 },
    // A mix with every single-key op, so reads meet writes of every kind.
    mix: parseMix(scenario === 'counters' ? 'get=70,set=20,delete=5,update=5' : 'get=50,set=30,delete=10,update=10'),
    seed: runSeed,
    historyKeys: SOAK_HISTORY_KEYS,
    historyBuffer: SOAK_BUFFER_MIN + ((Math.imul(runSeed, 0x9e3779b1) >>> 0) % SOAK_BUFFER_SPREAD),
    historyCheckTimeoutMs: 5_000,
    ...over,
  };
}

/** What one soak run found. */
export interface SoakRun {
  i: number;
  scenario: string;
  seed: number;
  historyBuffer: number;
  /** The run passed: no false alarm. */
  ok: boolean;
  /** Why not (the run's failures). */
  failures: string[];
  /** Race-checker false alarm: conflicts of kinds the scenario does not provoke. */
  unexpectedConflicts: number;
  /** Linearizability verdict of the recorded history. */
  check: string;
  /** Ops checked, and whether the history was cut (a buffer filled). */
  opsChecked: number;
  cut: boolean;
}

export interface SoakResult {
  runs: SoakRun[];
  /** Runs that failed: each a false alarm of one of the checkers or of the verification. */
  falseAlarms: number;
  /** Of those, race-checker ones (unexpected conflicts) and linearizability ones (violations). */
  raceFalseAlarms: number;
  linFalseAlarms: number;
  /** Runs whose check was unknown (a key not decided in time): reported, not a false alarm. */
  unknown: number;
  /** Runs whose history was cut because a buffer filled (the case the soak is about). */
  cut: number;
  opsChecked: number;
  elapsedMs: number;
}

export interface SoakOptions {
  runs: number;
  seed: number;
  /** Options every run gets on top of soakOptions (tests: the negative controls use the same shape). */
  over?: Partial<StressOptions>;
  workerFile?: string;
  onRun?: (run: SoakRun, done: number) => void;
  signal?: AbortSignal;
}

/** Summarizes one stress run as a soak run. */
export function soakRun(i: number, o: StressOptions, r: StressResult): SoakRun {
  return {
    i,
    scenario: o.scenario,
    seed: o.seed,
    historyBuffer: o.historyBuffer ?? 0,
    ok: r.exitCode === 0,
    failures: r.failures,
    unexpectedConflicts: r.conflicts.unexpected,
    check: r.history?.check?.status ?? 'none',
    opsChecked: r.history?.checked ?? 0,
    cut: r.history?.cutoff !== undefined,
  };
}

/** Runs `runs` soak runs one after another and counts the false alarms. */
export async function runSoak(options: SoakOptions): Promise<SoakResult> {
  const started = performance.now();
  const out: SoakResult = {
    runs: [],
    falseAlarms: 0,
    raceFalseAlarms: 0,
    linFalseAlarms: 0,
    unknown: 0,
    cut: 0,
    opsChecked: 0,
    elapsedMs: 0,
  };
  for (let i = 0; i < options.runs && !options.signal?.aborted; i++) {
    const o = soakOptions(i, options.seed, options.over);
    const r = await runStress(o, options.workerFile === undefined ? {} : { workerFile: options.workerFile });
    const run = soakRun(i, o, r);
    out.runs.push(run);
    if (!run.ok) out.falseAlarms++;
    if (o.sync === 'lock' && run.unexpectedConflicts > 0) out.raceFalseAlarms++;
    if (run.check === 'violation') out.linFalseAlarms++;
    if (run.check === 'unknown') out.unknown++;
    if (run.cut) out.cut++;
    out.opsChecked += run.opsChecked;
    options.onRun?.(run, i + 1);
  }
  out.elapsedMs = performance.now() - started;
  return out;
}

const SOAK_HELP = `usage: shmap lincheck soak [--runs N] [--seed S] [--json]

The false-alarm soak of both checkers: N short stress runs (default 1000),
cycling through the scenarios that are correct by design (${SOAK_SCENARIOS.join(', ')}),
each with 3 workers on hot keys (hot:90 over 200 keys), the race checker on,
and every op on ${SOAK_HISTORY_KEYS} sampled keys recorded into history buffers of
${SOAK_BUFFER_MIN}..${SOAK_BUFFER_MIN + SOAK_BUFFER_SPREAD - 1} ops per worker (they fill early, so the history is
cut) and checked for linearizability. On a correct map every run passes;
each failed run is a false alarm and is printed with its seed.

options:
  --runs N    runs (default 1000)
  --seed S    first seed; run i uses seed S + i (default 1)
  --json      print the result as JSON

exit codes: 0 no false alarm, 1 false alarms, 2 bad arguments
`;

/** `shmap lincheck soak`: the long soak; prints the false-alarm count with the command, machine, Node and load. */
export async function runSoakCommand(argv: string[]): Promise<number> {
  let values: { runs?: string; seed?: string; json?: boolean; help?: boolean };
  try {
    ({ values } = parseCommandArgs({
      args: argv,
      options: {
        runs: { type: 'string' },
        seed: { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    return usageFailure('lincheck soak', (err as Error).message);
  }
  if (values.help === true) {
    process.stdout.write(SOAK_HELP);
    return 0;
  }
  const int = (name: string, raw: string | undefined, fallback: number, min: number, max: number): number => {
    if (raw === undefined) return fallback;
    const v = Number(raw);
    if (!/^-?\d+$/.test(raw) || v < min || v > max)
      throw new RangeError(`--${name} must be an integer from ${min} to ${max}, got '${raw}'`);
    return v;
  };
  let runs: number;
  let seed: number;
  try {
    runs = int('runs', values.runs, 1000, 1, 1_000_000);
    seed = int('seed', values.seed, 1, -0x80000000, 0x7fffffff);
  } catch (err) {
    return usageFailure('lincheck soak', (err as Error).message);
  }
  const abort = new AbortController();
  const onSigint = (): void => abort.abort();
  process.once('SIGINT', onSigint);
  const started = new Date();
  const loadBefore = loadavg()[0]!;
  let result: SoakResult;
  try {
    result = await runSoak({
      runs,
      seed,
      signal: abort.signal,
      onRun(run, done) {
        if (!run.ok)
          process.stderr.write(
            `run ${run.i} (${run.scenario}, seed ${run.seed}, buffer ${run.historyBuffer}): FALSE ALARM: ${run.failures.join('; ')}\n`,
          );
        if (done % 10 === 0 || done === runs) process.stderr.write(`soak: ${done}/${runs} runs\n`);
      },
    });
  } finally {
    process.off('SIGINT', onSigint);
  }
  const loadAfter = loadavg()[0]!;
  const command = `node dist/main.js lincheck soak${argv.length > 0 ? ' ' + argv.join(' ') : ''}`;
  const machine = `${cpus()[0]?.model ?? 'unknown'}, ${cpus().length} cores, Node ${process.version}`;
  const n = (v: number) => v.toLocaleString('en-US');
  const done = result.runs.length;
  const text = [
    `$ ${command}`,
    `machine: ${machine}; ${started.toISOString()}; ${(result.elapsedMs / 1000).toFixed(0)} s; load average (1 min) ${loadBefore.toFixed(1)} before, ${loadAfter.toFixed(1)} after`,
    `runs: ${n(done)}${done < runs ? ` of ${n(runs)} (interrupted)` : ''} over ${SOAK_SCENARIOS.join(', ')}; seeds ${seed}..${seed + done - 1}`,
    `histories cut by a full buffer: ${n(result.cut)} of ${n(done)}; ops checked for linearizability: ${n(result.opsChecked)}`,
    `false alarms: ${n(result.falseAlarms)} (race checker ${n(result.raceFalseAlarms)}, linearizability ${n(result.linFalseAlarms)}, other ${n(result.falseAlarms - result.raceFalseAlarms - result.linFalseAlarms)}); checks out of time (unknown, not alarms): ${n(result.unknown)}`,
    `result: ${result.falseAlarms === 0 ? 'PASS' : 'FAIL'}`,
  ].join('\n');
  process.stdout.write(
    values.json === true
      ? JSON.stringify(
          {
            command,
            machine,
            started: started.toISOString(),
            loadAverage: { before: loadBefore, after: loadAfter },
            ...result,
          },
          null,
          2,
        ) + '\n'
      : text + '\n',
  );
  return result.falseAlarms === 0 ? 0 : 1;
}

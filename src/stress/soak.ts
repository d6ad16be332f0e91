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
import { performance } from 'node:perf_hooks';
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

/**
 * `shmap stress`: hammer one SharedMap from a piscina pool, record every
 * conflict, and verify at the end that nothing was lost. The work is in
 * src/stress/run.ts (runStress); this module parses arguments, shows
 * progress and prints the summary.
 */
import { closeSync, openSync, writeFileSync, writeSync } from 'node:fs';
import cliProgress from 'cli-progress';
import type { KeyType, ValueType } from '../shm/types.js';
import {
  DEFAULT_MIX,
  defaultOptions,
  parseDist,
  parseInteger,
  parseMix,
  parsePositive,
  parseType,
  UsageError,
  type StressOptions,
} from '../stress/options.js';
import { runStress, type RunHooks, type StressResult } from '../stress/run.js';
import { validateOptions } from '../stress/validate.js';
import { parseCommandArgs, usageFailure } from '../args.js';
import { SCENARIOS } from '../stress/scenarios/index.js';
import { formatReport, formatSummary, toJson } from '../stress/summary.js';
import { DEFAULT_HISTORY_BUFFER, DEFAULT_HISTORY_KEYS } from '../stress/history.js';
import { formatHistory, type HistoryOp } from '../race/history.js';
import type { SharedMap } from '../shm/map.js';
import { startMetricsServer, type MetricsServer } from '../metrics/server.js';
import { watchConflicts, type WatchSummary } from '../metrics/watch.js';
import { alertOnConflicts, type AlertStats } from '../metrics/alerts.js';

/** Default time between two alerts of one conflict kind (`--alert-url`), ms. */
const DEFAULT_ALERT_INTERVAL_MS = 10_000;
import {
  DEFAULT_KILL_INTERVAL_MS,
  DEFAULT_STALL_LIMIT_MS,
  formatChaos,
  runChaos,
  type ChaosOptions,
} from '../stress/chaos.js';

/** Default time limit per key of `--check`, ms. */
const DEFAULT_CHECK_TIMEOUT_MS = 10_000;

export { runStress, type StressResult };

const OPTIONS = {
  workers: { type: 'string' },
  duration: { type: 'string' },
  ops: { type: 'string' },
  keys: { type: 'string' },
  owned: { type: 'string' },
  'key-type': { type: 'string' },
  'value-type': { type: 'string' },
  mix: { type: 'string' },
  dist: { type: 'string' },
  sync: { type: 'string' },
  shards: { type: 'string' },
  scenario: { type: 'string' },
  seed: { type: 'string' },
  json: { type: 'boolean' },
  report: { type: 'string' },
  history: { type: 'string' },
  'history-keys': { type: 'string' },
  'history-buffer': { type: 'string' },
  check: { type: 'boolean' },
  'check-timeout': { type: 'string' },
  'metrics-port': { type: 'string' },
  watch: { type: 'boolean' },
  'alert-url': { type: 'string' },
  'alert-interval': { type: 'string' },
  'kill-interval': { type: 'string' },
  'stall-limit': { type: 'string' },
  processes: { type: 'string' },
  cluster: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export function usage(command = 'stress'): string {
  const d = defaultOptions();
  const scenarios = Object.values(SCENARIOS).map((s) => `    ${s.name.padEnd(13)} ${s.summary}`);
  return [
    `usage: shmap ${command} [options]`,
    '',
    command === 'stress'
      ? 'Hammers one SharedMap from a pool of piscina workers while the race checker records every conflict, then verifies that nothing was lost.'
      : 'Runs a stress scenario with every thread under the V8 CPU profiler and writes one flamegraph per thread to profiles/.',
    '',
    'options:',
    `  --scenario NAME     ${Object.keys(SCENARIOS).join(' | ')} (default mixed)`,
    ...scenarios,
    `  --workers N         piscina threads, one task each (default 2 x cores = ${d.workers}; oversubscribed on purpose)`,
    `  --duration S        seconds of load (default ${d.durationMs / 1000})`,
    '  --ops N             total operations instead of a duration, split over the writing workers',
    `  --keys N            shared key space (default ${d.keys})`,
    `  --owned N           keys each worker owns and verifies exactly at the end (default ${d.owned})`,
    `  --key-type T        int32 | uint32 | float64 | bigint64 | string:N | bytes:N (default ${d.keyType})`,
    `  --value-type T      the key types, or json:N (default ${d.valueType}); add needs int32, uint32 or float64`,
    `  --mix M             op shares in percent summing to 100, from get, set, delete, update, add, iterate, sweep`,
    `                      (default ${DEFAULT_MIX})`,
    '  --dist D            key choice: uniform | zipf:S (exponent S > 0) | hot:P (P% of picks on the hottest 1% of keys) (default uniform)',
    '  --sync MODE         lock (per-shard locks, default) | none (unsynchronized, to reproduce the races)',
    "  --shards N          map shards, a power of two (default: the map's)",
    "  --seed N            seeds key choice and the map's hash (default: from the clock; printed)",
    '  --json              print one JSON document on stdout (progress stays on stderr when it is a terminal)',
    '  --report FILE       also write the summary with every conflict report to FILE',
    '  --history FILE      record every op on the sampled keys and write the history (JSON Lines, as `check` reads) to FILE',
    `  --history-keys N    keys to sample: ids 0..N-1 of the shared space, the hottest of every --dist (default ${DEFAULT_HISTORY_KEYS});`,
    '                      sweeps and range-deletes leave them alone while recording (chaos: the 8 counters and',
    '                      ids 8..8+N-1, which get no TTL; a killed op is recorded pending, with no "ret")',
    `  --history-buffer N  ops each worker can record (default ${DEFAULT_HISTORY_BUFFER}); when the first worker's buffer fills,`,
    '                      every worker stops recording at that point (ops in flight kept as pending, later ones dropped),',
    '                      and the summary says where the cut-off fell, how many ops were checked and how many dropped',
    '                      (the ttl and lease scenarios refuse --history: expiry and retirement are unrecorded writes)',
    '  --check             check the history for linearizability at the end: a violation fails the run (exit 1) and',
    '                      prints the counterexample; "unknown" (a key not decided in time) is reported, not a failure',
    `  --check-timeout MS  time limit per key for --check (default ${DEFAULT_CHECK_TIMEOUT_MS})`,
    '  --metrics-port N    serve Prometheus metrics at http://127.0.0.1:N/metrics while the run goes on (0: any free',
    '                      port; the URL is printed on stderr); needs prom-client installed',
    '  --watch             print conflict reports on stderr as they happen (on a terminal: the first of each kind',
    '                      in full, then counts per second)',
    '  --alert-url URL     POST a JSON alert per conflict kind to URL: the first at once, then at most one per kind',
    `                      per --alert-interval with the count (default ${DEFAULT_ALERT_INTERVAL_MS / 1000} s); retried, queue bounded`,
    '  --alert-interval S  seconds between alerts of one kind (needs --alert-url)',
    `  --kill-interval MS  chaos: abort a random running task every MS on average (uniform 0..2 MS; default ${DEFAULT_KILL_INTERVAL_MS})`,
    `  --stall-limit MS    chaos: fail (and stop) when no op completes for MS (default ${DEFAULT_STALL_LIMIT_MS})`,
    '  --processes N       near-cache: processes, each with --workers threads and its own NearCache (default 2)',
    '  --cluster           near-cache: against a Redis Cluster of three masters on loopback instead of one redis-server',
    '  -h, --help          this text',
    '',
    'Every worker writes a set of keys only it owns and remembers their final values; at the end each must hold',
    'exactly that value (or be absent if deleted last), and counter sums must be exact. Losses are printed key by key.',
    '',
    'chaos: tasks are aborted through piscina (their threads terminated mid-op) while the map is watched; each slot',
    'keeps its expected state in shared memory, so the op in flight at a kill may or may not have taken effect, and',
    'nothing else may differ. Uses int32 keys and float64 values.',
    '',
    'exit codes:',
    '  0  verified, and (with --sync lock) no conflict other than those the scenario provokes on purpose',
    '  1  verification failed, or unexpected conflicts, or a worker failed, or (--check) the history is not linearizable',
    '  2  bad arguments (one-line reason on stderr)',
  ].join('\n');
}

export interface ParsedStressArgs {
  options: StressOptions;
  json: boolean;
  report: string | undefined;
  /** `--history FILE`. */
  history: string | undefined;
  /** `--metrics-port N`. */
  metricsPort: number | undefined;
  /** `--watch`. */
  watch: boolean;
  /** `--alert-url URL` and `--alert-interval S` (ms). */
  alertUrl: string | undefined;
  alertIntervalMs: number;
  help: boolean;
}

/** Parses and validates `stress` arguments; throws UsageError with a one-line reason. */
export function parseStressArgs(argv: string[]): ParsedStressArgs {
  const { values } = parseCommandArgs({ args: argv, options: OPTIONS, allowPositionals: false }) as {
    values: Record<string, string | boolean | undefined>;
  };
  const str = (name: string): string | undefined => values[name] as string | undefined;
  const o = defaultOptions();
  const help = values.help === true;
  if (str('scenario') !== undefined) o.scenario = str('scenario')!;
  if (str('workers') !== undefined) o.workers = parseInteger(str('workers')!, '--workers', 1, 256);
  if (str('duration') !== undefined && str('ops') !== undefined)
    throw new UsageError('give --duration or --ops, not both');
  if (str('duration') !== undefined)
    o.durationMs = Math.round(parsePositive(str('duration')!, '--duration', 86_400) * 1000);
  if (str('ops') !== undefined) o.ops = parseInteger(str('ops')!, '--ops', 1);
  if (str('keys') !== undefined) o.keys = parseInteger(str('keys')!, '--keys', 1, 50_000_000);
  if (str('owned') !== undefined) o.owned = parseInteger(str('owned')!, '--owned', 1, 1_000_000);
  if (str('key-type') !== undefined) o.keyType = parseType(str('key-type')!, '--key-type', false) as KeyType;
  if (str('value-type') !== undefined) o.valueType = parseType(str('value-type')!, '--value-type', true) as ValueType;
  if (str('mix') !== undefined) o.mix = parseMix(str('mix')!);
  if (str('dist') !== undefined) o.dist = parseDist(str('dist')!);
  const sync = str('sync');
  if (sync !== undefined) {
    if (sync !== 'lock' && sync !== 'none') throw new UsageError(`--sync must be lock or none, got '${sync}'`);
    o.sync = sync;
  }
  if (str('shards') !== undefined) {
    const n = parseInteger(str('shards')!, '--shards', 1, 65_536);
    if ((n & (n - 1)) !== 0) throw new UsageError(`--shards must be a power of two, got ${n}`);
    o.shards = n;
  }
  if (str('seed') !== undefined) o.seed = parseInteger(str('seed')!, '--seed', 0, 0x7fffffff);
  const report = str('report');
  if (report === '') throw new UsageError('--report needs a file name');
  const history = str('history');
  if (history === '') throw new UsageError('--history needs a file name');
  if (history === undefined) {
    for (const name of ['history-keys', 'history-buffer', 'check-timeout'])
      if (str(name) !== undefined) throw new UsageError(`--${name} needs --history FILE`);
    if (values.check === true) throw new UsageError('--check needs --history FILE');
  } else {
    o.historyKeys =
      str('history-keys') === undefined
        ? DEFAULT_HISTORY_KEYS
        : parseInteger(str('history-keys')!, '--history-keys', 1, 1_000_000);
    o.historyBuffer =
      str('history-buffer') === undefined
        ? DEFAULT_HISTORY_BUFFER
        : parseInteger(str('history-buffer')!, '--history-buffer', 1, 1 << 26);
    if (values.check === true) {
      o.historyCheckTimeoutMs =
        str('check-timeout') === undefined
          ? DEFAULT_CHECK_TIMEOUT_MS
          : parseInteger(str('check-timeout')!, '--check-timeout', 1);
    } else if (str('check-timeout') !== undefined) throw new UsageError('--check-timeout needs --check');
  }
  const metricsPort =
    str('metrics-port') === undefined ? undefined : parseInteger(str('metrics-port')!, '--metrics-port', 0, 65_535);
  const alertUrl = str('alert-url');
  if (alertUrl !== undefined) {
    let url: URL | undefined;
    try {
      url = new URL(alertUrl);
    } catch {
      url = undefined;
    }
    if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:'))
      throw new UsageError(`--alert-url must be an http(s) URL, got '${alertUrl}'`);
  } else if (str('alert-interval') !== undefined) throw new UsageError('--alert-interval needs --alert-url URL');
  const alertIntervalMs =
    str('alert-interval') === undefined
      ? DEFAULT_ALERT_INTERVAL_MS
      : Math.round(parsePositive(str('alert-interval')!, '--alert-interval', 86_400) * 1000);
  if (str('kill-interval') !== undefined)
    o.killIntervalMs = parseInteger(str('kill-interval')!, '--kill-interval', 1, 3_600_000);
  if (str('stall-limit') !== undefined)
    o.stallLimitMs = parseInteger(str('stall-limit')!, '--stall-limit', 10, 3_600_000);
  if (!help) validateOptions(o);
  return {
    options: o,
    json: values.json === true,
    report,
    history,
    metricsPort,
    watch: values.watch === true,
    alertUrl,
    alertIntervalMs,
    help,
  };
}

/**
 * Progress on stderr: a bar on a terminal (with --json too: stdout carries
 * the document, stderr the bar), a plain line every 2 s otherwise, nothing
 * with --json when stderr is not a terminal.
 */
function progressHooks(parsed: ParsedStressArgs): { hooks: RunHooks; done: () => void } {
  if (parsed.json && !process.stderr.isTTY) return { hooks: {}, done: () => {} };
  const o = parsed.options;
  const what = o.ops === undefined ? `${o.durationMs / 1000} s` : `${o.ops} ops`;
  if (process.stderr.isTTY) {
    const bar = new cliProgress.SingleBar(
      {
        stream: process.stderr,
        format: `stress ${o.scenario} [{bar}] {percentage}% | {ops} ops | {rate} ops/s | ${what}`,
        hideCursor: true,
      },
      cliProgress.Presets.shades_classic,
    );
    bar.start(100, 0, { ops: 0, rate: 0 });
    return {
      hooks: {
        progressEveryMs: 200,
        onProgress: (p) =>
          bar.update(Math.floor(p.fraction * 100), {
            ops: Math.round(p.ops).toLocaleString('en-US'),
            rate: Math.round(p.ops / Math.max(p.elapsedMs / 1000, 1e-3)).toLocaleString('en-US'),
          }),
      },
      done: () => bar.stop(),
    };
  }
  return {
    hooks: {
      progressEveryMs: 2_000,
      onProgress: (p) =>
        process.stderr.write(
          `stress ${o.scenario}: ${(p.elapsedMs / 1000).toFixed(1)} s, ${Math.round(p.ops).toLocaleString('en-US')} ops (${Math.round(p.fraction * 100)}% of ${what})\n`,
        ),
    },
    done: () => {},
  };
}

/** Lines per write: a history of millions of ops is longer than the longest string V8 makes (~512 MiB). */
const HISTORY_CHUNK = 50_000;

/** Writes a history as JSON Lines, a chunk at a time. */
function writeHistory(file: string, ops: readonly HistoryOp[]): void {
  const fd = openSync(file, 'w');
  try {
    for (let i = 0; i < ops.length; i += HISTORY_CHUNK) writeSync(fd, formatHistory(ops.slice(i, i + HISTORY_CHUNK)));
  } finally {
    closeSync(fd);
  }
}

/** `--metrics-port`, `--watch` and `--alert-url`: what watches the map while the run goes on (main thread only). */
class Watchers {
  private server: MetricsServer | undefined;
  private stopWatch: (() => WatchSummary) | undefined;
  private stopAlerts: (() => Promise<AlertStats>) | undefined;
  constructor(private readonly parsed: ParsedStressArgs) {}

  async start(map: SharedMap<unknown, unknown>): Promise<void> {
    const p = this.parsed;
    if (p.metricsPort !== undefined) {
      this.server = await startMetricsServer(map, { port: p.metricsPort, name: 'stress' });
      process.stderr.write(`metrics: ${this.server.url}\n`);
    }
    if (p.watch) this.stopWatch = watchConflicts(map);
    if (p.alertUrl !== undefined)
      this.stopAlerts = alertOnConflicts(map, { url: p.alertUrl, name: 'stress', intervalMs: p.alertIntervalMs });
  }

  /** Stops them all; returns what the alert sender did (undefined without --alert-url). */
  async stop(): Promise<AlertStats | undefined> {
    this.stopWatch?.();
    const alerts = await this.stopAlerts?.();
    if (alerts !== undefined && !this.parsed.json)
      process.stderr.write(
        `alerts: ${alerts.sent} sent, ${alerts.failed} failed after retries, ${alerts.dropped} dropped (queue full)` +
          (alerts.queued > 0 ? `, ${alerts.queued} unsent at exit` : '') +
          '\n',
      );
    await this.server?.close();
    return alerts;
  }
}

function jsonReplacer(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Uint8Array) return Array.from(value);
  return value;
}

export async function run(argv: string[]): Promise<number> {
  let parsed: ParsedStressArgs;
  try {
    parsed = parseStressArgs(argv);
  } catch (err) {
    if (err instanceof UsageError) {
      return usageFailure('stress', err.message);
    }
    throw err;
  }
  if (parsed.help) {
    process.stdout.write(usage() + '\n');
    return 0;
  }
  const abort = new AbortController();
  const onSigint = (): void => abort.abort();
  process.once('SIGINT', onSigint);
  if (parsed.options.scenario === 'chaos') {
    try {
      const o: ChaosOptions = {
        ...parsed.options,
        killIntervalMs: parsed.options.killIntervalMs ?? DEFAULT_KILL_INTERVAL_MS,
        stallLimitMs: parsed.options.stallLimitMs ?? DEFAULT_STALL_LIMIT_MS,
      };
      if (!parsed.json)
        process.stderr.write(`stress chaos: ${o.durationMs / 1000} s, a kill every ~${o.killIntervalMs} ms\n`);
      // The chaos task bundled into one file (npm run build): each replacement thread loads one module, not thirty.
      const r = await runChaos(o, new URL('../workers/bundled/chaos.js', import.meta.url).href, abort.signal);
      const { conflicts, history, ...rest } = r;
      if (parsed.history !== undefined && history !== undefined) writeHistory(parsed.history, history.ops);
      const historyJson = history === undefined ? {} : { history: { ...history, ops: history.ops.length } };
      if (parsed.json)
        process.stdout.write(
          JSON.stringify({ options: o, ...rest, ...historyJson, conflicts: conflicts.length }, jsonReplacer) + '\n',
        );
      else process.stdout.write(formatChaos(o, r) + '\n');
      if (parsed.history !== undefined && !parsed.json) process.stdout.write(`history written to ${parsed.history}\n`);
      return r.ok ? 0 : 1;
    } finally {
      process.off('SIGINT', onSigint);
    }
  }
  if (parsed.options.scenario === 'near-cache') {
    try {
      return await (await import('../stress/near-cache.js')).runNearCacheCommand(parsed.options, argv, parsed.json);
    } finally {
      process.off('SIGINT', onSigint);
    }
  }
  const progress = progressHooks(parsed);
  const watchers = new Watchers(parsed);
  let result: StressResult;
  let alerts: AlertStats | undefined;
  try {
    result = await runStress(parsed.options, {
      ...progress.hooks,
      signal: abort.signal,
      onMap: (map) => watchers.start(map),
    });
  } finally {
    progress.done();
    process.off('SIGINT', onSigint);
    alerts = await watchers.stop();
  }
  if (parsed.history !== undefined && result.history !== undefined) writeHistory(parsed.history, result.history.ops);
  if (parsed.json)
    process.stdout.write(
      JSON.stringify({ ...(toJson(result) as object), ...(alerts === undefined ? {} : { alerts }) }, jsonReplacer) +
        '\n',
    );
  else process.stdout.write(formatSummary(result) + '\n');
  if (parsed.report !== undefined) {
    writeFileSync(parsed.report, formatReport(result));
    if (!parsed.json) process.stdout.write(`report written to ${parsed.report}\n`);
  }
  if (parsed.history !== undefined && !parsed.json) process.stdout.write(`history written to ${parsed.history}\n`);
  return result.exitCode;
}

/**
 * `shmap bench http`: the motivating setting for real. For each cleanup
 * strategy, `serve` runs in a child process and autocannon loads it over
 * HTTP with a realistic session mix (src/bench/http-load.ts); then the
 * client reads back what must still be there. Peers under the same load in
 * the same run: a private Map per thread (not shared), Redis on loopback
 * (skipped with a one-line reason when redis-server is absent), and, where
 * reusePort exists, dispatch mode. One table; results under bench/results/.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { spawnServe } from '../serve/child.js';
import { reusePortAvailable } from '../serve/options.js';
import type { StopSummary } from '../serve/server.js';
import { installHint, installed } from '../optional.js';
import { parseBenchFlags } from './args.js';
import { usageFailure } from '../args.js';
import { fileStamp, gitCommit } from './results.js';
import type { RedisServer } from './redis.js';
import { missingPackage } from './systems.js';
import { runLoad, staleMargin, type LoadResult } from './http-load.js';

/** One row: a strategy (or peer) and the serve arguments that make it. */
export interface Variant {
  name: string;
  args: string[];
  /** Expected to lose or corrupt nothing (the run fails if it does). */
  safe: boolean;
  needsRedis?: boolean;
}

export function variants(threads: number): Variant[] {
  const t = ['--threads', String(threads)];
  const v: Variant[] = [
    { name: 'range-delete', args: [...t, '--cleanup', 'range-delete'], safe: false },
    { name: 'range-delete (sync none)', args: [...t, '--cleanup', 'range-delete', '--sync', 'none'], safe: false },
    { name: 'stop-the-world', args: [...t, '--cleanup', 'stop-the-world'], safe: true },
    { name: 'sweep', args: [...t, '--cleanup', 'sweep'], safe: true },
    { name: 'ttl', args: [...t, '--cleanup', 'ttl'], safe: true },
    { name: 'delete-queue', args: [...t, '--cleanup', 'delete-queue'], safe: true },
    { name: 'lease', args: [...t, '--cleanup', 'lease'], safe: true },
    { name: 'rebuild', args: [...t, '--cleanup', 'rebuild'], safe: true },
  ];
  if (reusePortAvailable())
    v.push({ name: 'sweep, dispatch mode', args: [...t, '--cleanup', 'sweep', '--mode', 'dispatch'], safe: true });
  v.push({ name: 'private Map per thread', args: [...t, '--store', 'map'], safe: false });
  v.push({ name: 'redis', args: [...t, '--store', 'redis'], safe: true, needsRedis: true });
  return v;
}

export interface HttpBenchConfig {
  /** Load of one round of one row, s. */
  durationS: number;
  /** Rounds: every row runs once per round, rows alternating (odd rounds in reverse order), so drift in the
   * machine's load hits every row alike; a row's figures are merged over its rounds (mergeRounds). */
  rounds: number;
  connections: number;
  threads: number;
  staleMs: number;
  rangeEvery: number;
  workMs: number;
  window: number;
  seed: number;
  /** Requests per row instead of a duration (tests). */
  amount?: number;
}

export const FULL: HttpBenchConfig = {
  durationS: 4,
  rounds: 3,
  connections: 32,
  threads: availableParallelism(),
  staleMs: 2_000,
  rangeEvery: 500,
  workMs: 1,
  window: 20_000,
  seed: 7,
};
export const QUICK: HttpBenchConfig = {
  ...FULL,
  durationS: 1,
  rounds: 2,
  connections: 16,
  staleMs: 1_000,
  rangeEvery: 100,
};

export interface HttpRow {
  name: string;
  mode: string;
  safe: boolean;
  /** req/s of each round (the row's req/s is their mean; their spread says how steady the machine was). */
  roundsReqPerSec?: number[];
  load?: LoadResult;
  server?: {
    cleaned: number;
    cleanedPerSec: number;
    conflicts: number;
    iterationErrors: number;
    gcCount: number;
    gcMs: number;
    gcMaxMs: number;
    maxRssBytes: number;
    exitCode: number | null;
    forced: number;
  };
  skipped?: string;
  error?: string;
}

/** Runs one variant: serve in a child, the load, then SIGTERM and the server's own figures. */
export async function runVariant(v: Variant, c: HttpBenchConfig, redisUrl?: string): Promise<HttpRow> {
  const args = [
    '--port',
    '0',
    '--stale-ms',
    String(c.staleMs),
    '--range-every',
    String(c.rangeEvery),
    '--work-ms',
    String(c.workMs),
    ...v.args,
    ...(v.needsRedis === true && redisUrl !== undefined ? ['--redis-url', redisUrl] : []),
  ];
  const child = await spawnServe(args);
  const mode = /mode (\w+)/.exec(child.modeLine)?.[1] ?? '?';
  let load: LoadResult;
  const t0 = performance.now();
  try {
    load = await runLoad({
      url: child.url,
      connections: c.connections,
      durationS: c.durationS,
      staleMs: c.staleMs,
      seed: c.seed,
      window: c.window,
      timeoutS: 10,
      ...(c.amount === undefined ? {} : { amount: c.amount }),
    });
  } catch (err) {
    await child.stop().catch(() => undefined);
    throw err;
  }
  const seconds = (performance.now() - t0) / 1000;
  const stopped = await child.stop();
  const s: StopSummary | undefined = stopped.summary;
  if (s === undefined)
    return { name: v.name, mode, safe: v.safe, load, error: `no summary: ${child.output().slice(-300)}` };
  const map = s.stats.map as { conflicts?: number; expiredKeys?: number };
  const cleaned = s.stats.server.cleaned + (map.expiredKeys ?? 0);
  return {
    name: v.name,
    mode,
    safe: v.safe,
    load,
    server: {
      cleaned,
      cleanedPerSec: cleaned / seconds,
      conflicts: map.conflicts ?? 0,
      iterationErrors: s.stats.server.iterationErrors,
      gcCount: s.stats.server.gcCount,
      gcMs: s.stats.server.gcMs,
      gcMaxMs: s.stats.server.gcMaxMs,
      maxRssBytes: s.stats.maxRssBytes,
      exitCode: stopped.code,
      forced: s.forced,
    },
  };
}

/** The middle of `values` (the mean of the middle two for an even count). */
function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const h = s.length >> 1;
  return s.length % 2 === 1 ? s[h]! : (s[h - 1]! + s[h]!) / 2;
}

/**
 * One row from its rounds (each a fresh server under the same load): counts,
 * cleaned sessions and GC figures add up, req/s is the mean, p50 / p99 /
 * p99.9 the median over rounds, max and peak RSS the largest. A round that
 * failed makes the row fail.
 */
export function mergeRounds(rounds: HttpRow[]): HttpRow {
  const first = rounds[0]!;
  const failed = rounds.findIndex((r) => r.load === undefined || r.server === undefined || r.error !== undefined);
  if (failed >= 0)
    return { ...first, error: `round ${failed + 1}: ${rounds[failed]!.error ?? rounds[failed]!.skipped ?? '?'}` };
  const loads = rounds.map((r) => r.load!);
  const servers = rounds.map((r) => r.server!);
  const sum = <T>(xs: T[], f: (x: T) => number) => xs.reduce((n, x) => n + f(x), 0);
  const statuses: Record<string, number> = {};
  for (const l of loads) for (const [code, n] of Object.entries(l.statuses)) statuses[code] = (statuses[code] ?? 0) + n;
  const reqs = loads.map((l) => l.reqPerSec);
  return {
    name: first.name,
    mode: first.mode,
    safe: first.safe,
    roundsReqPerSec: reqs,
    load: {
      requests: sum(loads, (l) => l.requests),
      reqPerSec: sum(reqs, (v) => v) / reqs.length,
      p50: median(loads.map((l) => l.p50)),
      p99: median(loads.map((l) => l.p99)),
      p999: median(loads.map((l) => l.p999)),
      max: Math.max(...loads.map((l) => l.max)),
      non2xx: sum(loads, (l) => l.non2xx),
      errors: sum(loads, (l) => l.errors),
      timeouts: sum(loads, (l) => l.timeouts),
      statuses,
      lost: sum(loads, (l) => l.lost),
      wrong: sum(loads, (l) => l.wrong),
      verified: sum(loads, (l) => l.verified),
      unknown: sum(loads, (l) => l.unknown),
      examples: loads.flatMap((l) => l.examples).slice(0, 5),
      errors500: {
        iteration: sum(loads, (l) => l.errors500.iteration),
        other: sum(loads, (l) => l.errors500.other),
      },
    },
    server: {
      cleaned: sum(servers, (s) => s.cleaned),
      cleanedPerSec: sum(servers, (s) => s.cleanedPerSec) / servers.length,
      conflicts: sum(servers, (s) => s.conflicts),
      iterationErrors: sum(servers, (s) => s.iterationErrors),
      gcCount: sum(servers, (s) => s.gcCount),
      gcMs: sum(servers, (s) => s.gcMs),
      gcMaxMs: Math.max(...servers.map((s) => s.gcMaxMs)),
      maxRssBytes: Math.max(...servers.map((s) => s.maxRssBytes)),
      exitCode: servers.find((s) => s.exitCode !== 0)?.exitCode ?? 0,
      forced: sum(servers, (s) => s.forced),
    },
  };
}

/** Half the range of the rounds' req/s over their mean, in percent ('' for one round). */
function spread(r: HttpRow): string {
  const v = r.roundsReqPerSec ?? [];
  if (v.length < 2) return '';
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  return `±${mean > 0 ? (((Math.max(...v) - Math.min(...v)) / 2 / mean) * 100).toFixed(0) : '0'}%`;
}

const ms = (v: number) => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));
const count = (v: number) => Math.round(v).toLocaleString('en-US');
const rate = (v: number) => (v >= 1e3 ? `${(v / 1e3).toFixed(1)} k` : v.toFixed(0));

export function formatHttpTable(rows: HttpRow[]): string {
  const head = [
    'strategy',
    'mode',
    'req/s',
    'rounds',
    'p50 ms',
    'p99',
    'p99.9',
    'max',
    'non-2xx',
    '5xx',
    'errors',
    'timeouts',
    'lost',
    'wrong',
    'cleaned/s',
    'conflicts',
    'GCs',
    'GC total',
    'GC max',
    'peak RSS',
  ];
  const body = rows.map((r) => {
    if (r.load === undefined || r.server === undefined)
      return [r.name, r.mode, r.skipped !== undefined ? `skipped: ${r.skipped}` : `ERROR ${r.error ?? ''}`];
    const l = r.load;
    const s = r.server;
    const fivexx = Object.entries(l.statuses)
      .filter(([code]) => code.startsWith('5'))
      .reduce((n, [, v]) => n + v, 0);
    return [
      r.name,
      r.mode,
      rate(l.reqPerSec),
      spread(r),
      ms(l.p50),
      ms(l.p99),
      ms(l.p999),
      ms(l.max),
      count(l.non2xx),
      count(fivexx),
      count(l.errors),
      count(l.timeouts),
      count(l.lost),
      count(l.wrong),
      rate(s.cleanedPerSec),
      count(s.conflicts),
      count(s.gcCount),
      `${s.gcMs.toFixed(0)} ms`,
      `${s.gcMaxMs.toFixed(1)} ms`,
      `${(s.maxRssBytes / 2 ** 20).toFixed(0)} MiB`,
    ];
  });
  // A skipped or failed row's last cell is its reason, printed as it is: it does not widen a column.
  const full = [head, ...body.filter((row) => row.length === head.length)];
  const widths = head.map((_, i) => Math.max(...full.map((row) => row[i]!.length)));
  const line = (row: string[]) =>
    row
      .map((cell, i) =>
        i >= row.length - 1 && row.length < head.length
          ? cell
          : i < 2
            ? cell.padEnd(widths[i]!)
            : cell.padStart(widths[i]!),
      )
      .join('  ')
      .trimEnd();
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}

function help(): string {
  return [
    'usage: shmap bench http [--quick] [--json] [--only name,...] [--help]',
    '',
    'For each cleanup strategy: `serve` in a child process, loaded by autocannon over HTTP with',
    'GET 70% / touch 15% / PUT 10% / DELETE 5% on zipf-distributed session ids (the newest sessions',
    'are the hottest; half the PUTs create a new session), then every session acknowledged and',
    'neither deleted nor stale since is read back. Peers under the same load: a private Map per',
    'thread (not shared), Redis on loopback (needs redis-server), and dispatch mode where reusePort',
    'exists. Rows alternate in rounds (each row once per round). One table: req/s, latency, non-2xx, errors, timeouts, sessions lost, wrong answers,',
    "cleaned/s, conflicts, GC pauses in the server's threads, peak RSS.",
    "Needs the 'autocannon' package (npm install autocannon); the redis row also needs the 'redis' package",
    'and redis-server, and is skipped with one line saying what to install without them.',
    '',
    'options:',
    `  --quick      ${QUICK.rounds} rounds of ${QUICK.durationS} s per row, ${QUICK.connections} connections (under a minute);`,
    `               full: ${FULL.rounds} rounds of ${FULL.durationS} s, ${FULL.connections} connections`,
    '  --json       print the results as JSON instead of the table',
    '  --only a,b   run only the rows whose names start with these (e.g. --only sweep,redis)',
    '  --help       this text',
    '',
    'Writes bench/results/<date>_<commit>_http[_quick].json and .txt in the current directory.',
    'exit codes: 0 ok, 1 a safe strategy lost sessions or answered wrong, or a row failed; 2 bad arguments',
  ].join('\n');
}

export async function run(argv: string[]): Promise<number> {
  const values = parseBenchFlags('bench http', argv);
  if (values === undefined) return 2;
  if (values.help) {
    process.stdout.write(help() + '\n');
    return 0;
  }
  if (!installed('autocannon')) {
    process.stderr.write(`shmap ${installHint('bench http', 'autocannon')}\n`);
    return 2;
  }
  const c = values.quick ? QUICK : FULL;
  let list = variants(c.threads);
  if (values.only !== undefined) {
    const names = values.only.split(',').map((s) => s.trim());
    list = list.filter((v) => names.some((n) => n !== '' && v.name.startsWith(n)));
    if (list.length === 0) {
      return usageFailure('bench http', `--only: no row starts with '${values.only}'`);
    }
  }

  const started = new Date();
  const loadBefore = loadavg()[0]!;
  // The redis row needs the 'redis' package (an optional peer dependency, loaded only when it is
  // installed) and a redis-server to start; without either it is skipped with one line saying why.
  const noRedis = list.some((v) => v.needsRedis === true)
    ? (missingPackage('redis') ?? (await import('./redis.js')).redisUnavailable())
    : undefined;
  let redis: RedisServer | undefined;
  // Every row once per round; odd rounds run the rows in reverse, so a load that drifts over the run
  // (other processes starting or ending) meets every row alike.
  const rounds: HttpRow[][] = list.map(() => []);
  const loadPerRound: number[] = [];
  try {
    for (let round = 0; round < c.rounds; round++) {
      loadPerRound.push(loadavg()[0]!);
      const order = list.map((_, i) => (round % 2 === 0 ? i : list.length - 1 - i));
      for (const i of order) {
        const v = list[i]!;
        const tag = `[round ${round + 1}/${c.rounds}, ${i + 1}/${list.length}] ${v.name}`;
        if (v.needsRedis === true && noRedis !== undefined) {
          if (round === 0) process.stderr.write(`${tag}: skipped: ${noRedis}\n`);
          continue;
        }
        try {
          // A fresh redis-server for every redis row, like the fresh `serve` of every row: the ids
          // repeat from round to round (one seed), so sessions a previous round left in a shared
          // Redis (younger than --stale-ms) would answer requests the new round's model calls absent.
          if (v.needsRedis === true) {
            await redis?.stop();
            redis = await (await import('./redis.js')).RedisServer.start();
          }
          const row = await runVariant(v, c, redis?.url);
          rounds[i]!.push(row);
          const l = row.load!;
          process.stderr.write(
            `${tag}: ${rate(l.reqPerSec)} req/s, p99 ${ms(l.p99)} ms, lost ${l.lost}, wrong ${l.wrong}, cleaned/s ${rate(row.server?.cleanedPerSec ?? 0)}\n`,
          );
        } catch (err) {
          const message = (err as Error).message.split('\n')[0]!;
          rounds[i]!.push({ name: v.name, mode: '-', safe: v.safe, error: message });
          process.stderr.write(`${tag}: ERROR ${message}\n`);
        }
      }
    }
  } finally {
    await redis?.stop();
  }
  const rows: HttpRow[] = list.map((v, i) =>
    v.needsRedis === true && noRedis !== undefined
      ? { name: v.name, mode: '-', safe: v.safe, skipped: noRedis }
      : mergeRounds(rounds[i]!),
  );
  const loadAfter = loadavg()[0]!;
  const seconds = (Date.now() - started.getTime()) / 1000;
  const command = `node dist/main.js bench http${argv.length > 0 ? ' ' + argv.join(' ') : ''}`;
  const machine = { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, node: process.version };
  const commit = gitCommit();
  const text = [
    `$ ${command}`,
    `machine: ${machine.cpu}, ${machine.cores} cores, Node ${machine.node}; commit ${commit}; ${started.toISOString()}; ${seconds.toFixed(0)} s;`,
    `load average (1 min) ${loadBefore.toFixed(1)} before, ${loadPerRound.map((l) => l.toFixed(1)).join(' / ')} at the start of each round, ${loadAfter.toFixed(1)} after`,
    `${c.rounds} rounds, every row once per round (odd rounds in reverse order), each time a fresh server:`,
    `serve --threads ${c.threads} in a child process, autocannon with ${c.connections} connections for ${c.durationS} s (in this process, on the same cores),`,
    `GET 70% / touch 15% / PUT 10% / DELETE 5%, zipf(1) over the newest ${c.window.toLocaleString('en-US')} sessions; stale after ${c.staleMs} ms; every GET waits --work-ms ${c.workMs};`,
    `range-delete / stop-the-world range every ${c.rangeEvery} requests of a thread; other cleaners every 100 ms.`,
    '',
    formatHttpTable(rows),
    '',
    `req/s: the mean over rounds, rounds: half the range of the rounds' req/s over that mean; p50 / p99 / p99.9: the median over rounds; max: the largest.`,
    `lost: a GET / touch / read-back found no session although its last acknowledged write was less than ${c.staleMs - staleMargin(c.staleMs)} ms old (stale after ${c.staleMs} ms, margin ${staleMargin(c.staleMs)} ms);`,
    'wrong: a 200 whose body was not the last acknowledged one. non-2xx includes the 404s of absent sessions the mix asks for.',
    'GCs / GC total / GC max: every thread of the server (handlers, main, and the cleaner thread of sweep, ttl, delete-queue,',
    "lease and rebuild: sweeper, drainer, rebuilder; Redis's own process is not counted). peak RSS: the server process.",
    ...rows
      .filter((r) => r.load !== undefined && r.load.examples.length > 0)
      .map((r) => `${r.name}: e.g. ${r.load!.examples[0]}`),
  ].join('\n');
  const doc = {
    command,
    machine,
    commit,
    started: started.toISOString(),
    seconds,
    loadAverage: { before: loadBefore, rounds: loadPerRound, after: loadAfter },
    config: c,
    rows,
  };
  try {
    const dir = 'bench/results/';
    mkdirSync(dir, { recursive: true });
    const name = `${fileStamp(started)}_${commit}_http${values.quick ? '_quick' : ''}`;
    writeFileSync(dir + name + '.json', JSON.stringify(doc, null, 2) + '\n');
    writeFileSync(dir + name + '.txt', text + '\n');
    process.stderr.write(`wrote bench/results/${name}.json and .txt\n`);
  } catch (err) {
    process.stderr.write(`could not write bench/results: ${(err as Error).message}\n`);
  }
  process.stdout.write(values.json ? JSON.stringify(doc, null, 2) + '\n' : text + '\n');
  const failed = rows.some(
    (r) =>
      r.error !== undefined ||
      (r.safe && r.load !== undefined && (r.load.lost > 0 || r.load.wrong > 0)) ||
      (r.server !== undefined && (r.server.exitCode !== 0 || r.server.forced > 0)),
  );
  return failed ? 1 : 0;
}

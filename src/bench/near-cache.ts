/**
 * `shmap bench near-cache`: reading Redis from W worker threads of one
 * process, three ways, side by side in one run:
 *
 * - `redis`: each thread its own node-redis client, a GET per read;
 * - `client-cache`: each thread its own node-redis client with node-redis's
 *   `clientSideCache` (RESP3): W copies of each hot key, W invalidation
 *   streams;
 * - `near-cache`: one NearCache shared by the W threads: one copy, one
 *   invalidation connection (held by the main thread, which does nothing
 *   else).
 *
 * For each key-space size and thread count, the three systems' threads are
 * all started and warmed (every thread reads every key once), then measured
 * in alternating rounds (the order rotates each round, so a drift in the
 * machine's load falls on all three); reads/s is the median over rounds,
 * latency an HDR histogram over every read of every round. Then copies held
 * (entries in every cache), the bytes of cached values, the threads' heap
 * growth over the warm-up, and invalidations received per write: a plain
 * client in the main thread writes keys every thread has cached, and the
 * invalidations each system received are counted.
 *
 * Starts its own redis-server on a free loopback port (persistence off) and
 * stops it by pid at the end.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import * as hdr from 'hdr-histogram-js';
import { createClient } from 'redis';
import { parseCommandArgs, usageFailure } from '../args.js';
import { NearCache } from '../near-cache/near-cache.js';
import { fmtNs, fmtRate } from './report.js';
import { RedisServer, redisUnavailable } from './redis.js';
import { fileStamp, gitCommit, machineInfo, resultsDir } from './results.js';
import type { ReaderData, ReaderRequest, ReaderSystem, RunReply, StatsReply } from './near-cache-worker.js';

const SYSTEMS: readonly ReaderSystem[] = ['redis', 'client-cache', 'near-cache'];
/** Bytes of every value (a string of this many ASCII characters). */
const VALUE_BYTES = 100;
/** Keys written in the invalidation phase (each cached by every thread first). */
const WRITES = 200;

export interface NearCacheBenchConfig {
  threads: number[];
  keys: number[];
  rounds: number;
  roundMs: number;
  /** The compiled reader thread (near-cache-worker.js); default: beside this file. */
  workerFile?: string;
  /** The NearCache's ownerTimeoutMs (default: its own default). */
  ownerTimeoutMs?: number;
}

const FULL: NearCacheBenchConfig = { threads: [1, 2, 4], keys: [1_000, 20_000], rounds: 5, roundMs: 1000 };
const QUICK: NearCacheBenchConfig = { threads: [1, 2, 4], keys: [1_000, 5_000], rounds: 3, roundMs: 300 };

export interface NearCacheRow {
  keys: number;
  threads: number;
  system: ReaderSystem;
  readsPerSec: number;
  readsPerSecMin: number;
  readsPerSecMax: number;
  p50Ns: number;
  p99Ns: number;
  p999Ns: number;
  /** Reads served from the system's cache, over all reads of all rounds. */
  hitRate: number;
  /** Entries held by the system's caches together after the warm-up (the near cache: its one map). */
  copies: number;
  /** copies x VALUE_BYTES. */
  valueBytes: number;
  /** Heap growth of the system's threads over the warm-up, summed (each measured after a full GC); the near cache's shared buffer is outside every heap and counted in sharedBytes. */
  heapGrowth: number;
  sharedBytes: number;
  /** Invalidations received (applied) per write of a key every thread had cached. */
  invalidationsPerWrite: number;
}

function help(): string {
  return [
    'usage: shmap bench near-cache [--quick] [--json] [--threads 1,2,4] [--keys 1000,20000] [--rounds N] [--round-ms MS]',
    '',
    'Reads Redis keys (100-byte values, uniformly random keys, one read at a time per thread)',
    'from W worker threads of one process: a plain GET per read (redis), node-redis',
    'clientSideCache in each thread (client-cache), one NearCache shared by the threads',
    '(near-cache). Alternating rounds in one run; prints reads/s (median of rounds),',
    'p50/p99/p99.9 latency, hit rate, copies of the values held, heap growth, and',
    'invalidations received per write. Starts its own redis-server on 127.0.0.1.',
    'Writes bench/results/<date>_<commit>_near-cache.json under the current directory.',
    '',
    'options:',
    `  --quick        ${QUICK.keys.join(' and ')} keys, ${QUICK.rounds} rounds of ${QUICK.roundMs} ms (the full run: ${FULL.keys.join(' and ')} keys, ${FULL.rounds} x ${FULL.roundMs} ms)`,
    '  --json         print the results as JSON',
    '  --threads L    thread counts (default 1,2,4)',
    '  --keys L       key-space sizes',
    '  --rounds N     alternating rounds',
    "  --round-ms MS  length of one system's turn in a round",
    '',
    'exit codes: 0 ok, 1 a system failed, 2 bad arguments or no redis-server',
  ].join('\n');
}

/** A reader thread and its one outstanding request. */
class Reader {
  readonly worker: Worker;
  readonly ready: Promise<unknown>;
  private pending: { resolve: (v: unknown) => void; reject: (e: Error) => void } | undefined;

  constructor(file: string, data: ReaderData) {
    this.worker = new Worker(file, { workerData: data });
    this.worker.on('message', (m: { error?: string }) => {
      const p = this.pending;
      this.pending = undefined;
      if (p === undefined) return;
      if (m.error !== undefined) p.reject(new Error(m.error));
      else p.resolve(m);
    });
    this.worker.on('error', (err) => {
      const p = this.pending;
      this.pending = undefined;
      p?.reject(err);
    });
    this.ready = new Promise((resolve, reject) => (this.pending = { resolve, reject }));
  }

  ask<T>(req: ReaderRequest): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.pending = { resolve: resolve as (v: unknown) => void, reject };
      this.worker.postMessage(req);
    });
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

async function until(cond: () => Promise<boolean>, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
}

/** One key-space size and thread count: the three systems side by side. */
async function measureConfig(
  url: string,
  keys: number,
  threads: number,
  config: NearCacheBenchConfig,
): Promise<NearCacheRow[]> {
  const prefix = `k${keys}:`;
  const file = config.workerFile ?? fileURLToPath(new URL('./near-cache-worker.js', import.meta.url));
  const near = await NearCache.create<string>({
    url,
    capacity: keys,
    key: 'string:32',
    value: `string:${VALUE_BYTES}`,
    ...(config.ownerTimeoutMs === undefined ? {} : { ownerTimeoutMs: config.ownerTimeoutMs }),
  });
  const readers = new Map<ReaderSystem, Reader[]>();
  try {
    for (const system of SYSTEMS) {
      const data: ReaderData = {
        system,
        url,
        prefix,
        keys,
        ...(system === 'near-cache' ? { handle: near.handle } : {}),
      };
      readers.set(
        system,
        Array.from({ length: threads }, () => new Reader(file, data)),
      );
    }
    await Promise.all([...readers.values()].flat().map((r) => r.ready));

    // Warm-up: every thread reads every key once (the near cache's threads one after another, so that one
    // thread's fetch serves the others, as it does in a running service); heap growth over it, per system.
    const heap = new Map<ReaderSystem, number>([['redis', 0]]);
    for (const system of SYSTEMS) {
      if (system === 'redis') continue; // nothing to warm: every read goes to Redis
      const rs = readers.get(system)!;
      const before = await Promise.all(rs.map((r) => r.ask<StatsReply>({ op: 'stats' })));
      const warm = (r: Reader): Promise<{ heapUsed: number }> => r.ask({ op: 'warm', from: 0, to: keys });
      const after: { heapUsed: number }[] = [];
      if (system === 'near-cache') for (const r of rs) after.push(await warm(r));
      else after.push(...(await Promise.all(rs.map(warm))));
      heap.set(
        system,
        after.reduce((s, a, i) => s + a.heapUsed - before[i]!.heapUsed, 0),
      );
    }
    const copies = new Map<ReaderSystem, number>();
    for (const system of SYSTEMS) {
      const stats = await Promise.all(readers.get(system)!.map((r) => r.ask<StatsReply>({ op: 'stats' })));
      copies.set(system, system === 'near-cache' ? near.map.size : stats.reduce((s, x) => s + x.entries, 0));
    }
    const sharedBytes = near.map.stats().bytes;

    // Alternating rounds.
    const rates = new Map<ReaderSystem, number[]>(SYSTEMS.map((s) => [s, []]));
    const hists = new Map(
      SYSTEMS.map((s) => [
        s,
        hdr.build({ lowestDiscernibleValue: 1, numberOfSignificantValueDigits: 3, autoResize: true }),
      ]),
    );
    const reads = new Map<ReaderSystem, { reads: number; hits: number }>(
      SYSTEMS.map((s) => [s, { reads: 0, hits: 0 }]),
    );
    for (let round = 0; round < config.rounds; round++) {
      const order = SYSTEMS.map((_, i) => SYSTEMS[(i + round) % SYSTEMS.length]!);
      for (const system of order) {
        const replies = await Promise.all(
          readers
            .get(system)!
            .map((r, i) => r.ask<RunReply>({ op: 'run', ms: config.roundMs, seed: round * 64 + i + 1 })),
        );
        let rate = 0;
        const total = reads.get(system)!;
        for (const rep of replies) {
          rate += rep.reads / (rep.ns / 1e9);
          total.reads += rep.reads;
          total.hits += rep.hits;
          const h = hdr.decodeFromCompressedBase64(rep.latency);
          hists.get(system)!.add(h);
          h.destroy();
        }
        rates.get(system)!.push(rate);
      }
    }

    // Invalidations per write: WRITES keys every thread has cached, written by a plain client.
    for (const r of [...readers.get('client-cache')!, ...readers.get('near-cache')!])
      await r.ask({ op: 'warm', from: 0, to: WRITES });
    const writer = createClient({ url, socket: { reconnectStrategy: false } });
    writer.on('error', () => {});
    await writer.connect();
    const clientInvalidations = async (): Promise<number> =>
      (await Promise.all(readers.get('client-cache')!.map((r) => r.ask<StatsReply>({ op: 'stats' })))).reduce(
        (s, x) => s + x.invalidations,
        0,
      );
    const nearBefore = near.stats().invalidations;
    const clientBefore = await clientInvalidations();
    for (let i = 0; i < WRITES; i++) await writer.set(prefix + i, value(i));
    // Wait (up to 30 s) for the invalidations every cache is owed; a missing one lowers the figure.
    let clientAfter = clientBefore;
    await until(async () => {
      clientAfter = await clientInvalidations();
      return near.stats().invalidations - nearBefore >= WRITES && clientAfter - clientBefore >= WRITES * threads;
    }, 30_000);
    await writer.close();
    const invalidations: Record<ReaderSystem, number> = {
      redis: 0,
      'client-cache': (clientAfter - clientBefore) / WRITES,
      'near-cache': (near.stats().invalidations - nearBefore) / WRITES,
    };

    return SYSTEMS.map((system) => {
      const r = rates.get(system)!;
      const h = hists.get(system)!;
      const total = reads.get(system)!;
      const row: NearCacheRow = {
        keys,
        threads,
        system,
        readsPerSec: median(r),
        readsPerSecMin: Math.min(...r),
        readsPerSecMax: Math.max(...r),
        p50Ns: h.getValueAtPercentile(50),
        p99Ns: h.getValueAtPercentile(99),
        p999Ns: h.getValueAtPercentile(99.9),
        hitRate: total.reads === 0 ? 0 : total.hits / total.reads,
        copies: copies.get(system)!,
        valueBytes: copies.get(system)! * VALUE_BYTES,
        heapGrowth: heap.get(system)!,
        sharedBytes: system === 'near-cache' ? sharedBytes : 0,
        invalidationsPerWrite: invalidations[system],
      };
      h.destroy();
      return row;
    });
  } finally {
    for (const rs of readers.values())
      await Promise.all(
        rs.map(async (r) => {
          await r.ask({ op: 'close' }).catch(() => {});
          await r.worker.terminate();
        }),
      );
    await near.close();
  }
}

/** The value of key i: VALUE_BYTES ASCII characters. */
function value(i: number): string {
  return `v${i}:`.padEnd(VALUE_BYTES, 'x');
}

/** Starts nothing: preloads the key spaces into the server at `url`, then measures every key-space size and thread count. */
export async function benchNearCache(
  url: string,
  config: NearCacheBenchConfig,
  onConfig?: (keys: number, threads: number) => void,
): Promise<NearCacheRow[]> {
  await preload(url, config);
  const rows: NearCacheRow[] = [];
  for (const keys of config.keys) {
    for (const threads of config.threads) {
      onConfig?.(keys, threads);
      rows.push(...(await measureConfig(url, keys, threads, config)));
    }
  }
  return rows;
}

async function preload(url: string, config: NearCacheBenchConfig): Promise<void> {
  const client = createClient({ url, socket: { reconnectStrategy: false } });
  client.on('error', () => {});
  await client.connect();
  for (const keys of config.keys) {
    for (let from = 0; from < keys; from += 1000) {
      const args: string[] = [];
      for (let i = from; i < Math.min(keys, from + 1000); i++) args.push(`k${keys}:${i}`, value(i));
      await client.mSet(args);
    }
  }
  await client.close();
}

function mb(bytes: number): string {
  return (bytes / (1 << 20)).toFixed(1);
}

function formatRows(rows: readonly NearCacheRow[]): string {
  const head = [
    'keys',
    'threads',
    'system',
    'reads/s',
    'spread',
    'p50',
    'p99',
    'p99.9',
    'hits',
    'copies',
    'values MB',
    'heap+ MB',
    'shared MB',
    'inval/write',
  ];
  const lines = rows.map((r) => [
    r.keys.toLocaleString('en-US'),
    String(r.threads),
    r.system,
    fmtRate(r.readsPerSec),
    `±${((100 * (r.readsPerSecMax - r.readsPerSecMin)) / 2 / r.readsPerSec).toFixed(0)}%`,
    fmtNs(r.p50Ns),
    fmtNs(r.p99Ns),
    fmtNs(r.p999Ns),
    `${(100 * r.hitRate).toFixed(1)}%`,
    r.copies.toLocaleString('en-US'),
    mb(r.valueBytes),
    mb(r.heapGrowth),
    mb(r.sharedBytes),
    r.invalidationsPerWrite.toFixed(2),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const fmt = (cells: string[]): string =>
    cells.map((c, i) => (i < 3 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  const out = [fmt(head)];
  let last = '';
  for (const [i, l] of lines.entries()) {
    const group = `${rows[i]!.keys}/${rows[i]!.threads}`;
    if (last !== '' && group !== last) out.push('');
    last = group;
    out.push(fmt(l));
  }
  return out.join('\n');
}

function list(text: string | undefined, option: string): number[] | undefined {
  if (text === undefined) return undefined;
  const xs = text.split(',').map((s) => Number(s.trim()));
  if (xs.length === 0 || !xs.every((x) => Number.isInteger(x) && x > 0))
    throw new Error(`${option} must be a comma-separated list of positive integers, got '${text}'`);
  return xs;
}

export async function run(argv: string[]): Promise<number> {
  let values: {
    quick?: boolean;
    json?: boolean;
    threads?: string;
    keys?: string;
    rounds?: string;
    'round-ms'?: string;
    help?: boolean;
  };
  let config: NearCacheBenchConfig;
  try {
    ({ values } = parseCommandArgs({
      args: argv,
      options: {
        quick: { type: 'boolean' },
        json: { type: 'boolean' },
        threads: { type: 'string' },
        keys: { type: 'string' },
        rounds: { type: 'string' },
        'round-ms': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
    const base = values.quick === true ? QUICK : FULL;
    config = {
      threads: list(values.threads, '--threads') ?? base.threads,
      keys: list(values.keys, '--keys') ?? base.keys,
      rounds: list(values.rounds, '--rounds')?.[0] ?? base.rounds,
      roundMs: list(values['round-ms'], '--round-ms')?.[0] ?? base.roundMs,
    };
    if (config.keys.some((k) => k < WRITES)) throw new Error(`--keys must each be at least ${WRITES}`);
  } catch (err) {
    return usageFailure('bench near-cache', (err as Error).message);
  }
  if (values.help === true) {
    process.stdout.write(help() + '\n');
    return 0;
  }
  const missing = redisUnavailable();
  if (missing !== undefined) {
    process.stderr.write(`shmap bench near-cache: ${missing}\n`);
    return 2;
  }

  const started = new Date();
  const loadBefore = loadavg()[0]!;
  const rev = gitCommit();
  const machine = machineInfo();
  const command = `node dist/main.js bench near-cache${argv.length > 0 ? ' ' + argv.join(' ') : ''}`;
  const server = await RedisServer.start();
  const rows: NearCacheRow[] = [];
  let failed: string | undefined;
  try {
    rows.push(
      ...(await benchNearCache(server.url, config, (keys, threads) =>
        process.stderr.write(`bench near-cache: ${keys.toLocaleString('en-US')} keys, ${threads} thread(s)\n`),
      )),
    );
  } catch (err) {
    failed = (err as Error).message;
  } finally {
    await server.stop();
  }
  const seconds = (Date.now() - started.getTime()) / 1000;
  const loadAfter = loadavg()[0]!;
  const text =
    [
      `$ ${command}`,
      `machine: ${machine.cpu}, ${machine.cores} cores, Node ${machine.node}, ${machine.platform}; commit ${rev}; ${started.toISOString()}; ${seconds.toFixed(0)} s; load average (1 min) ${loadBefore.toFixed(1)} before, ${loadAfter.toFixed(1)} after`,
      `redis-server on 127.0.0.1; ${VALUE_BYTES}-byte values; uniform keys, one read at a time per thread; ${config.rounds} alternating rounds of ${config.roundMs} ms per system; reads/s: median of rounds (spread: half the range); latency: every read, HDR histogram`,
      `copies: entries held by the system's caches after every thread read every key (the near cache's threads in turn, the others at once); heap+: the threads' heap growth over that warm-up (after a full GC); shared: the near cache's SharedArrayBuffer; inval/write: invalidation messages received per write of a key every thread had cached (${WRITES} writes by a plain client; in default tracking the server sends one per connection that read the key)`,
      formatRows(rows),
      ...(failed === undefined ? [] : [`FAILED: ${failed}`]),
    ].join('\n') + '\n';
  const json = {
    command,
    machine,
    commit: rev,
    started: started.toISOString(),
    seconds,
    loadAverage: { before: loadBefore, after: loadAfter },
    config,
    rows,
    failed,
  };
  const file = `${resultsDir()}/${fileStamp(started)}_${rev}_near-cache${values.quick === true ? '_quick' : ''}`;
  let written: string;
  try {
    mkdirSync(resultsDir(), { recursive: true });
    writeFileSync(`${file}.json`, JSON.stringify(json, null, 2) + '\n');
    writeFileSync(`${file}.txt`, text);
    written = `results: ${relative(process.cwd(), file)}.json (and .txt)\n`;
  } catch (err) {
    written = `results not written: ${(err as Error).message}\n`;
  }
  if (values.json === true) {
    process.stdout.write(JSON.stringify(json, null, 2) + '\n');
    process.stderr.write(written);
  } else process.stdout.write(text + written);
  return failed === undefined ? 0 : 1;
}

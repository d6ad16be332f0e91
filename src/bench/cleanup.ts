/**
 * `shmap bench cleanup`: the ways to clean stale entries out of a shared map
 * while handler threads keep using it, measured side by side in one run under
 * the same load.
 *
 * Load: HANDLERS worker threads each doing get (80%) / set (20%) on its own
 * part of a key space of `keys` int32 keys; a value is the shared-clock time
 * it was written, and an entry older than `ageMs` is stale and must go. Every
 * get is checked against what that handler last wrote: absent although
 * written less than ageMs ago is a lost entry, a value it never wrote is a
 * wrong one. Strategies (one more thread each, beside the handlers):
 *
 *   range-none      for...of + delete on a map with sync 'none' (the
 *                   anti-pattern; onConflict 'record': conflicts counted)
 *   stop-the-world  for...of + delete while every handler is held out by a
 *                   global readers-writer lock (see below)
 *   sweep           map.sweep(stale): shard by shard under each shard's lock
 *   ttl             set(k, v, { ttlMs: ageMs }) and the sweeper thread
 *                   (src/workers/sweeper.js) running sweepExpired
 *   delete-queue    handlers enqueue the stale entries they meet into a
 *                   DeleteQueue; a drainer thread deletes each if still stale
 *
 * Stop the world, how: the map has no public "lock every shard", and holding
 * its shard locks from outside would make its own `delete` throw
 * RecursiveUpdateError; so the world is stopped the way an application would
 * do it: a global readers-writer lock outside the map (two Int32 words),
 * taken shared by the handlers around every op and exclusively by the cleaner
 * for a whole range + delete pass. Handlers do not block each other; what it
 * costs them is two atomic read-modify-writes on one shared word per op, and
 * the wait while a pass runs.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { parseBenchFlags } from './args.js';
import * as hdr from 'hdr-histogram-js';
import { Piscina } from 'piscina';
import { SharedMap } from '../shm/map.js';
import { DeleteQueue } from '../shm/patterns/delete-queue.js';
import { createStopSwitch, requestStop, sharedNow } from '../shm/patterns/ttl.js';
import { fileStamp, gitCommit, resultsDir } from './results.js';
import { CTL, type CleanerResult, type CleanupTask, type HandlerResult, type Strategy } from './cleanup-worker.js';

export const STRATEGIES: Strategy[] = ['range-none', 'stop-the-world', 'sweep', 'ttl', 'delete-queue'];

export interface CleanupConfig {
  keys: number;
  handlers: number;
  ageMs: number;
  intervalMs: number;
  warmupMs: number;
  measureMs: number;
  queueCapacity: number;
  seed: number;
}

export const FULL: CleanupConfig = {
  keys: 200_000,
  handlers: 2,
  ageMs: 200,
  intervalMs: 50,
  warmupMs: 4_000,
  measureMs: 40_000,
  queueCapacity: 4096,
  seed: 1,
};
export const QUICK: CleanupConfig = { ...FULL, keys: 100_000, warmupMs: 2_000, measureMs: 8_000 };

export interface Latency {
  p50: number;
  p99: number;
  p999: number;
  count: number;
}

export interface StrategyResult {
  strategy: Strategy;
  handlerOpsPerSec: number;
  get: Latency;
  set: Latency;
  cleaned: number;
  cleanedPerSec: number;
  /** Cleaner passes (range / sweep), or sweeps, or drained keys. */
  passes: number;
  /** delete-queue: queued keys found refreshed and kept; enqueue refusals (queue full). */
  kept: number;
  enqueueFull: number;
  conflicts: number;
  lost: number;
  wrong: number;
  gcCount: number;
  gcMs: number;
  heapGrowthBytes: number;
  entriesAtEnd: number;
  error?: string;
}

function help(): string {
  return [
    'usage: shmap bench cleanup [--quick] [--json] [--help]',
    '',
    'Cleans stale entries out of a SharedMap while handler threads use it, five ways, side by side:',
    `${FULL.handlers} handler threads do get 80% / set 20% on their own keys; an entry older than ${FULL.ageMs} ms is stale.`,
    '  range-none      for...of + delete, sync none (the anti-pattern: conflicts, lost and wrong entries counted)',
    '  stop-the-world  for...of + delete holding a global readers-writer lock every handler op takes shared',
    `  sweep           map.sweep(stale) every ${FULL.intervalMs} ms, shard by shard under each shard's lock`,
    `  ttl             entries set with ttlMs ${FULL.ageMs}; the sweeper thread runs sweepExpired every ${FULL.intervalMs} ms`,
    '  delete-queue    handlers enqueue stale entries they read; a drainer thread deletes each if still stale',
    'Per strategy: handler ops/s, get and set latency p50/p99/p99.9 during cleanup, entries cleaned per second,',
    'conflicts, lost and wrong entries, GC pauses and heap growth in the handler threads. Rows in order of handler ops/s.',
    `Full: ${FULL.keys.toLocaleString('en-US')} keys, ${FULL.warmupMs / 1000} s warm-up + ${FULL.measureMs / 1000} s measured per strategy (~4 min).`,
    '',
    'options:',
    `  --quick   ${QUICK.keys.toLocaleString('en-US')} keys, ${QUICK.warmupMs / 1000} s + ${QUICK.measureMs / 1000} s per strategy (~1 min)`,
    '  --json    print the results as JSON instead of the table',
    '  --help    this text',
    '',
    'Writes bench/results/<date>_<commit>_cleanup[_quick].json and .txt.',
    'exit codes: 0 ok, 1 a safe strategy lost or corrupted entries, recorded conflicts, or failed; 2 bad arguments',
  ].join('\n');
}

function summarize(hist: hdr.Histogram): Latency {
  return {
    p50: hist.getValueAtPercentile(50),
    p99: hist.getValueAtPercentile(99),
    p999: hist.getValueAtPercentile(99.9),
    count: hist.totalCount,
  };
}

function merge(encoded: string[]): hdr.Histogram {
  const total = hdr.build({
    bitBucketSize: 64,
    autoResize: true,
    lowestDiscernibleValue: 1,
    numberOfSignificantValueDigits: 3,
  });
  for (const e of encoded) total.add(hdr.decodeFromCompressedBase64(e, 64, false));
  return total;
}

/** Runs one strategy under the load and returns its row. */
export async function runStrategy(strategy: Strategy, c: CleanupConfig): Promise<StrategyResult> {
  const map = SharedMap.create<number, number>({
    key: 'int32',
    value: 'float64',
    capacity: Math.ceil(c.keys * 1.25),
    sync: strategy === 'range-none' ? 'none' : 'lock',
    onConflict: 'record',
    ttl: strategy === 'ttl',
    seed: c.seed,
  });
  const preloadedAt = sharedNow();
  for (let k = 0; k < c.keys; k++) {
    if (strategy === 'ttl') map.set(k, preloadedAt, { ttlMs: c.ageMs });
    else map.set(k, preloadedAt);
  }
  const control = new SharedArrayBuffer(CTL.BYTES);
  const queue = strategy === 'delete-queue' ? DeleteQueue.create<number>({ capacity: c.queueCapacity }) : undefined;
  const stop = createStopSwitch();
  const pool = new Piscina({
    filename: new URL('./cleanup-worker.js', import.meta.url).href,
    minThreads: c.handlers + 1,
    maxThreads: c.handlers + 1,
    concurrentTasksPerWorker: 1,
    idleTimeout: 60_000,
  });
  // Handlers and the range/sweep cleaner meet at the start barrier; the sweeper and the drainer run until told to stop.
  const cleanerAtBarrier = strategy === 'range-none' || strategy === 'stop-the-world' || strategy === 'sweep';
  const parties = c.handlers + (cleanerAtBarrier ? 1 : 0);
  const base: Omit<CleanupTask, 'role' | 'index'> = {
    strategy,
    map: map.handle,
    control,
    ...(queue === undefined ? {} : { queue: queue.handle }),
    handlers: c.handlers,
    parties,
    keys: c.keys,
    ageMs: c.ageMs,
    intervalMs: c.intervalMs,
    preloadedAt,
    seed: c.seed,
    warmupMs: c.warmupMs,
    measureMs: c.measureMs,
  };
  let helper: Promise<unknown>;
  if (strategy === 'ttl') {
    helper = pool.run(
      { map: map.handle, stop, intervalMs: c.intervalMs },
      { filename: new URL('../workers/sweeper.js', import.meta.url).href },
    );
  } else if (strategy === 'delete-queue') {
    helper = pool.run({ ...base, role: 'drainer', index: -1 });
  } else {
    helper = pool.run({ ...base, role: 'cleaner', index: -1 });
  }
  helper.catch(() => undefined);
  try {
    const handlers = (await Promise.all(
      Array.from({ length: c.handlers }, (_, index) => pool.run({ ...base, role: 'handler', index })),
    )) as HandlerResult[];
    if (strategy === 'ttl') requestStop(stop);
    queue?.close();
    const h = (await helper) as CleanerResult | { sweeps: number; removed: number };
    const cleaned = h.removed;
    const passes = 'sweeps' in h ? h.sweeps : h.passes;
    const kept = 'kept' in h ? h.kept : 0;
    const stats = map.stats();
    const get = merge(handlers.map((r) => r.get));
    const set = merge(handlers.map((r) => r.set));
    return {
      strategy,
      handlerOpsPerSec: handlers.reduce((s, r) => s + r.ops / (r.measuredMs / 1000), 0),
      get: summarize(get),
      set: summarize(set),
      cleaned,
      cleanedPerSec: cleaned / ((c.warmupMs + c.measureMs) / 1000),
      passes,
      kept,
      enqueueFull: handlers.reduce((s, r) => s + r.enqueueFull, 0),
      conflicts: stats.conflicts + stats.conflictsOverflowed,
      lost: handlers.reduce((s, r) => s + r.lost, 0),
      wrong: handlers.reduce((s, r) => s + r.wrong, 0),
      gcCount: handlers.reduce((s, r) => s + r.gcCount, 0),
      gcMs: handlers.reduce((s, r) => s + r.gcMs, 0),
      heapGrowthBytes: handlers.reduce((s, r) => s + r.heapGrowthBytes, 0),
      entriesAtEnd: stats.count,
    };
  } finally {
    requestStop(stop);
    queue?.close();
    await pool.destroy();
  }
}

function ns(v: number): string {
  if (v >= 1e6) return `${(v / 1e6).toFixed(v >= 1e8 ? 0 : 1)} ms`;
  if (v >= 1e3) return `${(v / 1e3).toFixed(v >= 1e5 ? 0 : 1)} us`;
  return `${Math.round(v)} ns`;
}

function rate(v: number): string {
  if (v >= 1e6) return `${(v / 1e6).toFixed(2)} M`;
  if (v >= 1e3) return `${(v / 1e3).toFixed(1)} k`;
  return v.toFixed(0);
}

function bytes(v: number): string {
  const sign = v < 0 ? '-' : '+';
  const a = Math.abs(v);
  if (a >= 2 ** 20) return `${sign}${(a / 2 ** 20).toFixed(1)} MiB`;
  return `${sign}${(a / 1024).toFixed(0)} KiB`;
}

export function formatTable(rows: StrategyResult[]): string {
  const head = [
    'strategy',
    'handler ops/s',
    'get p50',
    'p99',
    'p99.9',
    'set p50',
    'p99',
    'p99.9',
    'cleaned/s',
    'conflicts',
    'lost',
    'wrong',
    'GCs',
    'GC pause',
    'heap growth',
  ];
  const body = rows.map((r) =>
    r.error !== undefined
      ? [r.strategy, `ERROR ${r.error}`, '', '', '', '', '', '', '', '', '', '', '', '', '']
      : [
          r.strategy,
          rate(r.handlerOpsPerSec),
          ns(r.get.p50),
          ns(r.get.p99),
          ns(r.get.p999),
          ns(r.set.p50),
          ns(r.set.p99),
          ns(r.set.p999),
          rate(r.cleanedPerSec),
          r.conflicts.toLocaleString('en-US'),
          r.lost.toLocaleString('en-US'),
          r.wrong.toLocaleString('en-US'),
          String(r.gcCount),
          `${r.gcMs.toFixed(1)} ms`,
          bytes(r.heapGrowthBytes),
        ],
  );
  const all = [head, ...body];
  const widths = head.map((_, i) => Math.max(...all.map((row) => row[i]!.length)));
  const line = (row: string[]) =>
    row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ');
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}

export async function run(argv: string[]): Promise<number> {
  const values = parseBenchFlags('bench cleanup', argv, { only: false });
  if (values === undefined) return 2;
  if (values.help) {
    process.stdout.write(help() + '\n');
    return 0;
  }
  const c = values.quick ? QUICK : FULL;
  const machine = {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    node: process.version,
    loadBefore: loadavg()
      .map((l) => l.toFixed(2))
      .join(' '),
    loadAfter: '',
  };
  const rows: StrategyResult[] = [];
  const t0 = performance.now();
  for (const [i, strategy] of STRATEGIES.entries()) {
    process.stderr.write(`[${i + 1}/${STRATEGIES.length}] ${strategy} ...`);
    try {
      const r = await runStrategy(strategy, c);
      rows.push(r);
      process.stderr.write(` ${rate(r.handlerOpsPerSec)} handler ops/s, ${rate(r.cleanedPerSec)} cleaned/s\n`);
    } catch (err) {
      const message = (err as Error).message.split('\n')[0]!;
      rows.push({ strategy, error: message } as StrategyResult);
      process.stderr.write(` ERROR ${message}\n`);
    }
  }
  machine.loadAfter = loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
  rows.sort((a, b) => (b.handlerOpsPerSec ?? -1) - (a.handlerOpsPerSec ?? -1));
  const elapsedS = (performance.now() - t0) / 1000;

  const text = [
    `shmap bench cleanup${values.quick ? ' --quick' : ''}: ${c.handlers} handler threads, ${c.keys.toLocaleString('en-US')} int32 keys, get 80% / set 20%, stale after ${c.ageMs} ms, cleanup every ${c.intervalMs} ms`,
    `${c.warmupMs / 1000} s warm-up + ${c.measureMs / 1000} s measured per strategy; latency over the measured window (HDR); cleaned/s over warm-up + measured`,
    `machine: ${machine.cpu}, ${machine.cores} cores, Node ${machine.node}; load average before ${machine.loadBefore}, after ${machine.loadAfter}; ${elapsedS.toFixed(0)} s total`,
    '',
    formatTable(rows),
    '',
    'lost: a get found no entry though its handler wrote it less than the stale age ago; wrong: a value its handler never wrote.',
    'GCs / GC pause / heap growth: in the handler threads, over the measured window (summed over handlers).',
    ...rows
      .filter((r) => r.error === undefined && r.strategy === 'delete-queue')
      .map(
        (r) =>
          `delete-queue: ${r.kept.toLocaleString('en-US')} queued keys refreshed before the drain and kept; ${r.enqueueFull.toLocaleString('en-US')} enqueues refused (queue full, retried at the next stale read).`,
      ),
  ].join('\n');

  const doc = { command: `bench cleanup${values.quick ? ' --quick' : ''}`, config: c, machine, elapsedS, rows };
  try {
    const dir = resultsDir() + '/';
    mkdirSync(dir, { recursive: true });
    const name = `${fileStamp(new Date())}_${gitCommit()}_cleanup${values.quick ? '_quick' : ''}`;
    writeFileSync(dir + name + '.json', JSON.stringify(doc, null, 2) + '\n');
    writeFileSync(dir + name + '.txt', text + '\n');
    process.stderr.write(`wrote bench/results/${name}.json and .txt\n`);
  } catch (err) {
    process.stderr.write(`could not write bench/results: ${(err as Error).message}\n`);
  }
  process.stdout.write(values.json ? JSON.stringify(doc, null, 2) + '\n' : text + '\n');
  const failed = rows.some(
    (r) => r.error !== undefined || (r.strategy !== 'range-none' && (r.lost > 0 || r.wrong > 0 || r.conflicts > 0)),
  );
  return failed ? 1 : 0;
}

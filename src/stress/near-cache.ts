/**
 * `stress --scenario near-cache`: P processes (default 2), each with W worker
 * threads reading and writing Redis keys through the process's one
 * NearCache, while a plain client in this process writes Redis directly
 * (bypassing every cache); at the end, every read is checked against the
 * guarantee the README states:
 *
 *   a read returns a value that Redis held at some moment after the read's
 *   start minus the staleness bound, the time from a write's acknowledgement
 *   to its invalidation applied in the reader's process.
 *
 * This driver starts its own redis-server (loopback, free port), or with
 * `cluster` a Redis Cluster of three masters on loopback
 * (near-cache-cluster.ts), fills the key space, and forks the processes (near-cache-process.ts: each creates
 * its NearCache with `mode: 'bcast'`, so that every write is announced to
 * every process, and timestamps each invalidation it applies). Key k is
 * written by one writer only: writer k mod (P x W + 1), where writer
 * p x W + t is thread t of process p and the last one is the direct writer.
 * Per key the writes are then totally ordered (one writer, one write at a
 * time), and, the server (the key's master, on a cluster) announcing each
 * write once to each process in the order it applied them, the i-th
 * invalidation of k that process q applied is that of k's i-th write. After
 * the run each process waits until it applied as many invalidations of each
 * key as the key had writes. From it, per write and per process q, the
 * moment from which no read in q may return an older value (`visible`):
 *
 * - when q applied the write's invalidation;
 * - for a write through q's own cache, or when `cache.set` resolved, if
 *   sooner (the key is dropped for q's threads before set resolves).
 *
 * The staleness bound is measured: per write, the time from its
 * acknowledgement to its invalidation applied in every other process (the
 * slowest of them); p50/p99/max in the summary.
 *
 * The check, per read in process q of key k that returned the value of write
 * i: the value is one that was written to k (or the initial one), its write
 * began before the read ended, and no later write of k was visible in q
 * before the read began (give or take CLOCK_TOLERANCE_MS between clocks).
 * A read that returned a value already overwritten but not yet visible in
 * its process (within the bound) is allowed and counted ("stale within the
 * bound"), with its age. Then, over all processes: no read returned a value
 * overwritten more than the measured bound (max) before the read began.
 *
 * To make the near-cache race frequent in a short run, every fetch waits a
 * random 0..fetchDelayMs before it installs, and the direct writer writes
 * each of its keys twice in quick succession (the second write lands while
 * fetches of the first are in flight). The negative control
 * (`unsafeSkipFetchCheck`) installs such fetches anyway: the stale entries
 * they leave outlive the bound, and both checks report them.
 *
 * Clocks: every timestamp is `sharedNow()` (timeOrigin + performance.now()),
 * which agrees between the processes and threads of one machine to within
 * tens of microseconds (both terms come from the same system clocks).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { sharedNow } from '../shm/conflict-log.js';
import { RedisServer, redisUnavailable } from '../bench/redis.js';
import { LoopbackCluster } from './near-cache-cluster.js';
import { loadRedis } from '../near-cache/client.js';
import { RedisClientMissingError } from '../shm/errors.js';
import { parseArgs } from 'node:util';
import { defaultOptions, parseInteger, UsageError, type StressOptions } from './options.js';
import { Rng } from '../rng.js';
import { keyName } from '../workers/near-cache-stress.js';
import {
  type DriverMessage,
  type NearCacheProcessResult,
  type NearCacheProcessTask,
  type ProcessMessage,
} from './near-cache-process.js';

export interface NearCacheStressOptions {
  /** Processes, each with its own NearCache (default 2). */
  processes?: number;
  /** Worker threads per process. */
  workers: number;
  durationMs: number;
  /** Keys in the space (default 16 per writer, the direct writer included). */
  keys?: number;
  /** Share of a thread's operations that are writes of its own keys (default 0.1). */
  setShare?: number;
  /** Longest wait between a fetch's GET and its install, ms (default 5). */
  fetchDelayMs?: number;
  seed: number;
  /** The negative control: install fetches without the fetch-version check. */
  unsafeSkipFetchCheck?: boolean;
  /** Run past durationMs until the direct writer has made this many writes (default 0): a run that must see races, whatever the machine's speed. */
  minDirectWrites?: number;
  /** The compiled thread (near-cache-stress.js); default: dist/workers beside this file's folder. */
  workerFile?: string;
  /** The compiled process (near-cache-process.js); default: beside this file. */
  processFile?: string;
  /** Run against a Redis Cluster on loopback (three masters) instead of one redis-server. */
  cluster?: boolean;
  /** The NearCache's ownerTimeoutMs. Default 10 minutes: each process's main thread holds its link for the whole run (owner death has its own tests), so a pause of a loaded machine does not hand it over mid-measurement. */
  ownerTimeoutMs?: number;
}

export interface NearCacheStressResult {
  ok: boolean;
  node: string;
  loadAverage: { before: number; after: number };
  seconds: number;
  processes: number;
  /** Whether the run was against a three-master Redis Cluster. */
  cluster: boolean;
  /** Worker threads per process. */
  workers: number;
  keys: number;
  reads: number;
  writesThroughCache: number;
  directWrites: number;
  hitRate: number;
  declined: number;
  /** Invalidations applied per second, summed over the processes. */
  invalidationsPerSec: number;
  /** Per write: time from its acknowledgement to its invalidation applied in every other process, ms (0 when every process applied it before the writer had the acknowledgement: the server sends invalidations before the write's reply; `beforeAck` counts those writes). */
  bound: { samples: number; p50: number; p99: number; max: number; beforeAck: number };
  /** Reads that returned an overwritten value within the bound, and the age of the overwrite at the read's start, ms. */
  staleWithinBound: { reads: number; maxAgeMs: number };
  /** Reads that broke the guarantee in their process (first few described). */
  violations: number;
  /** Reads that returned a value overwritten longer than the bound's max before the read began. */
  beyondBound: number;
  examples: string[];
  errors: string[];
}

/** Threads read the shared clock (`sharedNow`: each thread's timeOrigin + performance.now()); a read is held to a write's visibility only from this long after it, ms. */
export const CLOCK_TOLERANCE_MS = 1;

/** One write of a key in the checker's terms. */
export interface CheckedWrite {
  value: string;
  start: number;
  /** From this moment no read may return an older value of the key. */
  visible: number;
  /** When the write was acknowledged (the age of an overwrite is counted from here). */
  ack: number;
}

export interface CheckedRead {
  key: number;
  start: number;
  end: number;
  value: string | null;
  thread: number;
}

/**
 * The check: `writes[k]` are key k's writes in order, the initial value
 * first. Returns the violations (described) and the reads that were stale
 * within the bound, with their largest age.
 */
export function checkReads(
  writes: readonly (readonly CheckedWrite[])[],
  reads: Iterable<CheckedRead>,
  toleranceMs = CLOCK_TOLERANCE_MS,
): { violations: number; examples: string[]; staleReads: number; maxAgeMs: number } {
  const index = writes.map((ws) => new Map(ws.map((w, i) => [w.value, i])));
  // For each write, the earliest `visible` of any later write of the key.
  const laterVisible = writes.map((ws) => {
    const out = new Array<number>(ws.length);
    let min = Infinity;
    for (let i = ws.length - 1; i >= 0; i--) {
      out[i] = min;
      min = Math.min(min, ws[i]!.visible);
    }
    return out;
  });
  let violations = 0;
  let staleReads = 0;
  let maxAgeMs = 0;
  const examples: string[] = [];
  const violation = (text: string): void => {
    violations++;
    if (examples.length < 5) examples.push(text);
  };
  for (const r of reads) {
    const ws = writes[r.key]!;
    const i = r.value === null ? undefined : index[r.key]!.get(r.value);
    if (i === undefined) {
      violation(`thread ${r.thread} read ${keyName(r.key)} = ${String(r.value)}, a value never written there`);
      continue;
    }
    const w = ws[i]!;
    if (w.start > r.end) {
      violation(`thread ${r.thread} read ${keyName(r.key)} = ${w.value} before that write began`);
      continue;
    }
    const next = ws[i + 1];
    if (laterVisible[r.key]![i]! + toleranceMs < r.start) {
      violation(
        `thread ${r.thread} read ${keyName(r.key)} = ${w.value} ${(r.start - laterVisible[r.key]![i]!).toFixed(1)} ms after a later write was visible everywhere`,
      );
      continue;
    }
    if (next !== undefined && next.ack < r.start) {
      staleReads++;
      maxAgeMs = Math.max(maxAgeMs, r.start - next.ack);
    }
  }
  return { violations, examples, staleReads, maxAgeMs };
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function besideThis(file: string): string {
  return fileURLToPath(new URL(file, import.meta.url));
}

/** One forked process of the run, driven by messages (near-cache-process.ts). */
class StressProcess {
  private readonly child: ChildProcess;
  private readonly inbox: ProcessMessage[] = [];
  private waiting: { resolve: (m: ProcessMessage) => void; reject: (e: Error) => void } | undefined;
  private gone: Error | undefined;

  constructor(file: string, task: NearCacheProcessTask) {
    this.child = fork(file, [], {
      serialization: 'advanced',
      execArgv: [],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.child.on('message', (m: ProcessMessage) => {
      const w = this.waiting;
      this.waiting = undefined;
      if (w !== undefined) w.resolve(m);
      else this.inbox.push(m);
    });
    // 'close', not 'exit': a large last message may still be in the pipe when the process exits.
    this.child.once('close', (code) => {
      this.gone = new Error(`near-cache stress process ${task.process} exited (code ${code}) before it reported`);
      this.waiting?.reject(this.gone);
      this.waiting = undefined;
    });
    this.send({ start: task });
  }

  send(m: DriverMessage): void {
    this.child.send(m);
  }

  /** The next message of the kind `kind`. */
  async next<K extends 'ready' | 'stopped' | 'result'>(kind: K): Promise<Extract<ProcessMessage, Record<K, unknown>>> {
    const m =
      this.inbox.shift() ??
      (await new Promise<ProcessMessage>((resolve, reject) => {
        if (this.gone !== undefined) reject(this.gone);
        else this.waiting = { resolve, reject };
      }));
    if (!(kind in m))
      throw new Error(`near-cache stress process: expected '${kind}', got ${JSON.stringify(Object.keys(m))}`);
    return m as Extract<ProcessMessage, Record<K, unknown>>;
  }

  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}

/** One write of the run, before it is seen from a process. */
interface RunWrite {
  value: string;
  start: number;
  ack: number;
  /** Which process's cache made it; -1 the direct writer (or the initial fill). */
  process: number;
}

/** What the direct writer needs of node-redis's client or cluster client. */
interface DirectWriter {
  on(event: 'error', listener: () => void): unknown;
  connect(): Promise<unknown>;
  set(key: string, value: string): Promise<unknown>;
  close(): Promise<unknown>;
}

/** Runs the scenario: throws (one line) when redis-server or the redis client is missing. */
export async function runNearCacheStress(o: NearCacheStressOptions): Promise<NearCacheStressResult> {
  const missing = redisUnavailable();
  if (missing !== undefined) throw new Error(missing);
  const redis = await loadRedis();
  const P = o.processes ?? 2;
  const W = o.workers;
  const owners = P * W + 1;
  const direct = owners - 1;
  const keys = o.keys ?? 16 * owners;
  const started = Date.now();
  const loadBefore = loadavg()[0]!;
  const server = o.cluster === true ? await LoopbackCluster.start() : await RedisServer.start();
  const procs: StressProcess[] = [];
  let writer: DirectWriter | undefined;
  try {
    // The direct writer is a plain client: node-redis's own, or its cluster client (routing each key to its master).
    writer = (o.cluster === true
      ? redis.createCluster({ rootNodes: [{ url: server.url }] })
      : redis.createClient({ url: server.url, socket: { reconnectStrategy: false } })) as unknown as DirectWriter;
    writer.on('error', () => {});
    await writer.connect();
    const plain = writer;
    const writes: RunWrite[][] = [];
    const initial = sharedNow();
    for (let k = 0; k < keys; k++) {
      await plain.set(keyName(k), 'init');
      writes.push([{ value: 'init', start: initial, ack: sharedNow(), process: -1 }]);
    }
    const processFile = o.processFile ?? besideThis('./near-cache-process.js');
    const workerFile = o.workerFile ?? besideThis('../workers/near-cache-stress.js');
    for (let p = 0; p < P; p++) {
      procs.push(
        new StressProcess(processFile, {
          url: server.url,
          process: p,
          workers: W,
          owners,
          keys,
          setShare: o.setShare ?? 0.1,
          fetchDelayMs: o.fetchDelayMs ?? 5,
          seed: (o.seed + p * 104_729) | 0,
          unsafeSkipFetchCheck: o.unsafeSkipFetchCheck === true,
          ownerTimeoutMs: o.ownerTimeoutMs ?? 600_000,
          workerFile,
        }),
      );
    }
    await Promise.all(procs.map((p) => p.next('ready')));
    // The run starts once every thread of every process is attached: a slow start costs no run time.
    const begun = sharedNow();
    const deadline = begun + o.durationMs;
    for (const p of procs) p.send({ go: true });

    // The direct writer: each of its keys twice in quick succession (the second lands while fetches of the first are in flight).
    const mine = Array.from({ length: keys }, (_, k) => k).filter((k) => k % owners === direct);
    const random = new Rng(o.seed ^ 0x5eed);
    const next = (): number => random.next();
    let seq = 0;
    let directWrites = 0;
    const write = async (k: number): Promise<void> => {
      const value = `d.${++seq}`;
      const start = sharedNow();
      await plain.set(keyName(k), value);
      writes[k]!.push({ value, start, ack: sharedNow(), process: -1 });
      directWrites++;
    };
    const minDirect = o.minDirectWrites ?? 0;
    while ((sharedNow() < deadline || directWrites < minDirect) && mine.length > 0) {
      const k = mine[Math.floor(next() * mine.length)]!;
      await write(k);
      await new Promise((r) => setTimeout(r, 1 + next() * (o.fetchDelayMs ?? 5)));
      await write(k);
    }
    for (const p of procs) p.send({ stop: true });
    const counts = (await Promise.all(procs.map((p) => p.next('stopped')))).map((m) => m.stopped);
    const ranMs = sharedNow() - begun;
    // Each process waits for one invalidation per write of the run (writes[k][0] is the fill, before any cache).
    const expected = writes.map((ws, k) => ws.length - 1 + counts.reduce((n, c) => n + c[k]!, 0));
    for (const p of procs) p.send({ expect: expected });
    const results = (await Promise.all(procs.map((p) => p.next('result')))).map((m) => m.result);
    return judge({ writes, results, keys, W, ranMs, started, loadBefore, cluster: o.cluster === true });
  } finally {
    for (const p of procs) p.kill();
    await writer?.close().catch(() => {});
    await server.stop();
  }
}

/** What the run recorded, put together and checked. */
function judge(run: {
  cluster: boolean;
  writes: RunWrite[][];
  results: NearCacheProcessResult[];
  keys: number;
  W: number;
  ranMs: number;
  started: number;
  loadBefore: number;
}): NearCacheStressResult {
  const { writes, results, keys, W } = run;
  const P = results.length;
  const errors: string[] = [];
  // Writes through the caches, in each key's order (one writer per key, one write at a time).
  for (const r of results) {
    for (const log of r.logs) {
      for (let i = 0; i < log.writeKey.length; i++) {
        const k = log.writeKey[i]!;
        writes[k]!.push({
          value: log.writeValue[i]!,
          start: log.writeStart[i]!,
          ack: log.writeEnd[i]!,
          process: r.process,
        });
      }
    }
    errors.push(...r.errors, ...r.logs.flatMap((l) => l.errors));
    if (r.flushes > 0 || r.reconnects > 0)
      errors.push(
        `process ${r.process}: its invalidation connection flushed ${r.flushes} times (${r.reconnects} reconnects) during the run; its invalidations no longer match the writes`,
      );
  }
  // Per process, when each write became visible there; per write, the bound sample.
  const delays: number[] = [];
  let beforeAck = 0;
  const seen: CheckedWrite[][][] = results.map(() => []);
  for (let k = 0; k < keys; k++) {
    const ws = writes[k]!;
    for (const r of results) {
      const applied = r.invalidated[k]!;
      if (applied.length !== ws.length - 1 && errors.length < 50)
        errors.push(
          `process ${r.process} applied ${applied.length} invalidations of ${keyName(k)}, which was written ${ws.length - 1} times`,
        );
      seen[r.process]![k] = ws.map((w, i) => {
        const inval = i === 0 ? w.ack : (applied[i - 1] ?? Infinity);
        const local = w.process === r.process ? w.ack : Infinity; // set resolved after dropping the key here
        return { value: w.value, start: w.start, ack: w.ack, visible: Math.min(inval, local) };
      });
    }
    for (let i = 1; i < ws.length; i++) {
      let slowest = -Infinity;
      for (const r of results)
        if (r.process !== ws[i]!.process) slowest = Math.max(slowest, r.invalidated[k]![i - 1] ?? Infinity);
      if (slowest > -Infinity && slowest < Infinity) {
        delays.push(Math.max(0, slowest - ws[i]!.ack));
        if (slowest < ws[i]!.ack) beforeAck++;
      }
    }
  }
  delays.sort((a, b) => a - b);
  const boundMax = delays.length === 0 ? NaN : delays[delays.length - 1]!;

  let violations = 0;
  let staleReads = 0;
  let maxAgeMs = 0;
  let beyondBound = 0;
  const examples: string[] = [];
  // Over all processes: an overwrite is visible everywhere at the latest bound.max after its acknowledgement.
  const byBound = writes.map((ws) =>
    ws.map((w) => ({ value: w.value, start: w.start, ack: w.ack, visible: w.ack + boundMax })),
  );
  for (const r of results) {
    const c = checkReads(seen[r.process]!, readsOf(r, W));
    violations += c.violations;
    staleReads += c.staleReads;
    maxAgeMs = Math.max(maxAgeMs, c.maxAgeMs);
    examples.push(...c.examples.map((e) => `process ${r.process}: ${e}`));
    if (!Number.isNaN(boundMax)) beyondBound += checkReads(byBound, readsOf(r, W)).violations;
  }
  const logs = results.flatMap((r) => r.logs);
  const reads = logs.reduce((n, l) => n + l.readKey.length, 0);
  const hits = logs.reduce((n, l) => n + l.hits, 0);
  const misses = logs.reduce((n, l) => n + l.misses, 0);
  const invalidations = results.reduce((n, r) => n + r.invalidated.reduce((m, a) => m + a.length, 0), 0);
  return {
    ok: violations === 0 && beyondBound === 0 && errors.length === 0 && reads > 0 && delays.length > 0,
    node: process.version,
    loadAverage: { before: run.loadBefore, after: loadavg()[0]! },
    seconds: (Date.now() - run.started) / 1000,
    processes: P,
    cluster: run.cluster,
    workers: W,
    keys,
    reads,
    writesThroughCache: logs.reduce((n, l) => n + l.writeKey.length, 0),
    directWrites: writes.reduce((n, ws) => n + ws.filter((w, i) => i > 0 && w.process === -1).length, 0),
    hitRate: hits + misses === 0 ? 0 : hits / (hits + misses),
    declined: logs.reduce((n, l) => n + l.declined, 0),
    invalidationsPerSec: invalidations / (run.ranMs / 1000),
    bound: {
      samples: delays.length,
      p50: percentile(delays, 50),
      p99: percentile(delays, 99),
      max: boundMax,
      beforeAck,
    },
    staleWithinBound: { reads: staleReads, maxAgeMs },
    violations,
    beyondBound,
    examples: examples.slice(0, 5),
    errors: errors.slice(0, 5),
  };
}

/** Every read a process's threads recorded; thread t of process p is writer p x W + t. */
function* readsOf(r: NearCacheProcessResult, W: number): Generator<CheckedRead> {
  for (const [t, log] of r.logs.entries())
    for (let i = 0; i < log.readKey.length; i++)
      yield {
        thread: r.process * W + t,
        key: log.readKey[i]!,
        start: log.readStart[i]!,
        end: log.readEnd[i]!,
        value: log.readValue[i]!,
      };
}

export function formatNearCacheStress(r: NearCacheStressResult, command: string): string {
  const ms = (x: number): string => `${x.toFixed(2)} ms`;
  return [
    `$ ${command}`,
    `Node ${r.node}; load average (1 min) ${r.loadAverage.before.toFixed(1)} before, ${r.loadAverage.after.toFixed(1)} after; ${r.seconds.toFixed(1)} s`,
    `near-cache: ${r.processes} processes x ${r.workers} threads, each process's threads through its one NearCache (bcast), + a direct writer; ${r.keys} keys; ${r.cluster ? 'a Redis Cluster of three masters on loopback' : 'one redis-server'}`,
    `  reads ${r.reads.toLocaleString('en-US')} (hit rate ${(100 * r.hitRate).toFixed(1)}%), writes through the cache ${r.writesThroughCache.toLocaleString('en-US')}, direct writes ${r.directWrites.toLocaleString('en-US')}`,
    `  invalidations applied ${r.invalidationsPerSec.toFixed(0)}/s (all processes); fetches declined (an invalidation came first) ${r.declined.toLocaleString('en-US')}`,
    `  staleness bound (write acknowledged -> invalidation applied in every other process): p50 ${ms(r.bound.p50)}, p99 ${ms(r.bound.p99)}, max ${ms(r.bound.max)} over ${r.bound.samples} writes (${r.bound.beforeAck} applied everywhere before the writer had its acknowledgement)`,
    `  reads of an overwritten value within the bound: ${r.staleWithinBound.reads} (oldest overwrite ${ms(r.staleWithinBound.maxAgeMs)} before the read began)`,
    `  reads that broke the guarantee in their process: ${r.violations}; reads of a value overwritten longer than the bound (max) before: ${r.beyondBound}`,
    ...r.examples.map((e) => `    ${e}`),
    ...r.errors.map((e) => `  error: ${e}`),
    r.ok ? 'OK: every read returned a value Redis held within the staleness bound' : 'FAILED',
  ].join('\n');
}

/** `stress --scenario near-cache` from the CLI: --processes, --cluster, --workers, --duration, --keys, --seed, --json. Exit code 0 ok, 1 failed, 2 cannot run. */
export async function runNearCacheCommand(o: StressOptions, argv: string[], json: boolean): Promise<number> {
  const allowed = new Set(['scenario', 'processes', 'cluster', 'workers', 'duration', 'keys', 'seed', 'json']);
  const other = argv.find((a) => a.startsWith('--') && !allowed.has(a.slice(2).split('=')[0]!));
  if (other !== undefined) {
    process.stderr.write(
      `shmap stress: --scenario near-cache takes --processes, --cluster, --workers, --duration, --keys, --seed and --json only, got ${other.split('=')[0]}\n`,
    );
    return 2;
  }
  const { values } = parseArgs({
    args: argv,
    options: { processes: { type: 'string' }, cluster: { type: 'boolean' } },
    strict: false,
  });
  const cluster = values.cluster === true;
  let processes = 2;
  try {
    if (typeof values.processes === 'string') processes = parseInteger(values.processes, '--processes', 1, 64);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`shmap stress: ${err.message}\n`);
    return 2;
  }
  const keys = o.keys === defaultOptions().keys ? undefined : o.keys;
  if (keys !== undefined && keys < processes * o.workers + 1) {
    process.stderr.write(
      `shmap stress: --keys must be at least --processes x --workers + 1 for near-cache (a key per writer), got ${keys}\n`,
    );
    return 2;
  }
  let r: NearCacheStressResult;
  try {
    if (!json)
      process.stderr.write(
        `stress near-cache: ${processes} processes x ${o.workers} threads, ${o.durationMs / 1000} s\n`,
      );
    r = await runNearCacheStress({
      processes,
      cluster,
      workers: o.workers,
      durationMs: o.durationMs,
      seed: o.seed,
      ...(keys === undefined ? {} : { keys }),
    });
  } catch (err) {
    if (err instanceof RedisClientMissingError || /redis-server is not installed/.test(String(err))) {
      process.stderr.write(`shmap stress: ${(err as Error).message}\n`);
      return 2;
    }
    throw err;
  }
  const command = `node dist/main.js stress${argv.length > 0 ? ' ' + argv.join(' ') : ''}`;
  process.stdout.write((json ? JSON.stringify(r) : formatNearCacheStress(r, command)) + '\n');
  return r.ok ? 0 : 1;
}

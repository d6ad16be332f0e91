/**
 * `stress --scenario near-cache`: worker threads read and write Redis keys
 * through one NearCache while a plain client on the main thread writes Redis
 * directly (bypassing the cache); at the end, every read is checked against
 * the guarantee the README states:
 *
 *   a read returns a value that Redis held at some moment after the read's
 *   start minus the staleness bound, the time from a write's acknowledgement
 *   to its invalidation applied in the process.
 *
 * The runner starts its own redis-server (loopback, free port), creates the
 * NearCache on the main thread (which so holds the invalidation connection,
 * `mode: 'bcast'`, so that every write is announced), and fills the key
 * space. Key i is written by one writer only: thread i mod (W + 1), the
 * direct writer for W. Per key the writes are then totally ordered (one
 * writer, one write at a time), and each has the moment from which no read
 * may return an older value (`visible`):
 *
 * - a write through the cache (`cache.set`): when set resolved (the key is
 *   dropped for every thread before it resolves);
 * - a direct write: when its invalidation was applied (the main thread
 *   timestamps every invalidation; the direct writer waits for its write's
 *   before the next). Their delay after the write's acknowledgement is the
 *   staleness bound, measured: p50/p99/max in the summary.
 *
 * The check, per read of key k that returned the value of write i: the value
 * is one that was written to k (or the initial one), its write began before
 * the read ended, and no later write of k was visible before the read began
 * (give or take CLOCK_TOLERANCE_MS between threads' clocks).
 * A read that returned a value already overwritten but not yet visible
 * everywhere (within the bound) is allowed and counted ("stale within the
 * bound"), with its age.
 *
 * To make the near-cache race frequent in a short run, every fetch waits a
 * random 0..fetchDelayMs before it installs, and the direct writer writes
 * each of its keys twice in quick succession (the second write lands while
 * fetches of the first are in flight). The negative control
 * (`unsafeSkipFetchCheck`) installs such fetches anyway: the stale entries
 * they leave outlive the bound, and the check reports them.
 */
import { Worker } from 'node:worker_threads';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { NearCache } from '../near-cache/near-cache.js';
import { sharedNow } from '../shm/conflict-log.js';
import { RedisServer, redisUnavailable } from '../bench/redis.js';
import { loadRedis } from '../near-cache/client.js';
import { RedisClientMissingError } from '../shm/errors.js';
import { defaultOptions, type StressOptions } from './options.js';
import { Rng } from '../rng.js';
import { keyName, type NearCacheStressLog, type NearCacheStressTask } from '../workers/near-cache-stress.js';

export interface NearCacheStressOptions {
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
  /** The compiled worker (near-cache-stress.js); default: dist/workers beside this file's folder. */
  workerFile?: string;
  /** The NearCache's ownerTimeoutMs. Default 10 minutes: the main thread holds the link for the whole run (owner death has its own tests), so a pause of a loaded machine does not hand it over mid-measurement. */
  ownerTimeoutMs?: number;
}

export interface NearCacheStressResult {
  ok: boolean;
  node: string;
  loadAverage: { before: number; after: number };
  seconds: number;
  workers: number;
  keys: number;
  reads: number;
  writesThroughCache: number;
  directWrites: number;
  hitRate: number;
  declined: number;
  invalidationsPerSec: number;
  /** Time from a direct write's acknowledgement to its invalidation applied, ms. */
  bound: { samples: number; p50: number; p99: number; max: number };
  /** Reads that returned an overwritten value within the bound, and the age of the overwrite at the read's start, ms. */
  staleWithinBound: { reads: number; maxAgeMs: number };
  /** Reads that broke the guarantee (first few described). */
  violations: number;
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

function defaultWorkerFile(): string {
  return fileURLToPath(new URL('../workers/near-cache-stress.js', import.meta.url));
}

/** Runs the scenario: throws (one line) when redis-server or the redis client is missing. */
export async function runNearCacheStress(o: NearCacheStressOptions): Promise<NearCacheStressResult> {
  const missing = redisUnavailable();
  if (missing !== undefined) throw new Error(missing);
  const redis = await loadRedis();
  const W = o.workers;
  const owners = W + 1;
  const keys = o.keys ?? 16 * owners;
  const started = Date.now();
  const loadBefore = loadavg()[0]!;
  const server = await RedisServer.start();
  try {
    const writer = redis.createClient({ url: server.url, socket: { reconnectStrategy: false } });
    writer.on('error', () => {});
    await writer.connect();
    const writes: CheckedWrite[][] = [];
    const initial = sharedNow();
    for (let k = 0; k < keys; k++) {
      await writer.set(keyName(k), 'init');
      const t = sharedNow();
      writes.push([{ value: 'init', start: initial, visible: t, ack: t }]);
    }
    const cache = await NearCache.create<string>({
      url: server.url,
      capacity: keys,
      key: 'string:16',
      value: 'string:32',
      mode: 'bcast',
      prefixes: ['nc:'],
      ownerTimeoutMs: o.ownerTimeoutMs ?? 600_000,
    });
    // Invalidations applied, by key, as they happen (this thread holds the link).
    const waiters = new Map<string, (t: number) => void>();
    let invalidations = 0;
    cache.testHooks.onInvalidate = (key) => {
      invalidations++;
      const w = waiters.get(key);
      if (w !== undefined) {
        waiters.delete(key);
        w(sharedNow());
      }
    };
    const workerFile = o.workerFile ?? defaultWorkerFile();
    const stop = new SharedArrayBuffer(4);
    const workers = Array.from({ length: W }, (_, index) => {
      const task: NearCacheStressTask = {
        handle: cache.handle,
        index,
        workers: W,
        keys,
        setShare: o.setShare ?? 0.1,
        fetchDelayMs: o.fetchDelayMs ?? 5,
        seed: (o.seed + index * 7919) | 0,
        unsafeSkipFetchCheck: o.unsafeSkipFetchCheck === true,
        stop,
      };
      return new Worker(workerFile, { workerData: task });
    });
    const replies = workers.map((worker) => {
      const ready = new Promise<void>((resolve, reject) => {
        worker.once('message', () => resolve());
        worker.once('error', reject);
      });
      const log = ready.then(
        () =>
          new Promise<NearCacheStressLog>((resolve, reject) => {
            worker.once('message', (m: { log?: NearCacheStressLog; error?: string }) =>
              m.log !== undefined ? resolve(m.log) : reject(new Error(m.error)),
            );
            worker.once('error', reject);
          }),
      );
      return { ready, log: log.finally(() => void worker.terminate()) };
    });
    await Promise.all(replies.map((r) => r.ready));
    // The run starts once every thread is attached: a slow start on a loaded machine costs no run time.
    const deadline = sharedNow() + o.durationMs;
    for (const w of workers) w.postMessage({ go: true });
    const logs = replies.map((r) => r.log);

    // The direct writer: each of its keys twice in quick succession, waiting for each write's invalidation.
    const delays: number[] = [];
    const errors: string[] = [];
    const mine = Array.from({ length: keys }, (_, k) => k).filter((k) => k % owners === W);
    const random = new Rng(o.seed ^ 0x5eed);
    const next = (): number => random.next();
    let seq = 0;
    const direct = async (k: number): Promise<void> => {
      const value = `d.${++seq}`;
      const key = keyName(k);
      const applied = new Promise<number>((resolve) => waiters.set(key, resolve));
      const start = sharedNow();
      await writer.set(key, value);
      const ack = sharedNow();
      const timeout = new Promise<number>((resolve) => setTimeout(() => resolve(NaN), 30_000).unref());
      const visible = await Promise.race([applied, timeout]);
      waiters.delete(key);
      if (Number.isNaN(visible)) {
        errors.push(`the invalidation of the direct write ${key} = ${value} did not come within 30 s`);
        writes[k]!.push({ value, start, visible: Infinity, ack });
        return;
      }
      delays.push(Math.max(0, visible - ack));
      writes[k]!.push({ value, start, visible, ack });
    };
    const minDirect = o.minDirectWrites ?? 0;
    while ((sharedNow() < deadline || delays.length < minDirect) && errors.length < 10 && mine.length > 0) {
      const k = mine[Math.floor(next() * mine.length)]!;
      await direct(k);
      await new Promise((r) => setTimeout(r, 1 + next() * (o.fetchDelayMs ?? 5))); // fetches of the first write start
      await direct(k);
    }
    Atomics.store(new Int32Array(stop), 0, 1);
    const ranMs = sharedNow() - (deadline - o.durationMs);
    let threadLogs: NearCacheStressLog[];
    try {
      threadLogs = await Promise.all(logs);
    } finally {
      await writer.close();
      await cache.close();
    }

    // Writes through the cache, in each key's order (one writer per key).
    for (const log of threadLogs) {
      for (let i = 0; i < log.writeKey.length; i++) {
        writes[log.writeKey[i]!]!.push({
          value: log.writeValue[i]!,
          start: log.writeStart[i]!,
          visible: log.writeEnd[i]!,
          ack: log.writeEnd[i]!,
        });
      }
    }
    function* allReads(): Generator<CheckedRead> {
      for (const [thread, log] of threadLogs.entries())
        for (let i = 0; i < log.readKey.length; i++)
          yield {
            thread,
            key: log.readKey[i]!,
            start: log.readStart[i]!,
            end: log.readEnd[i]!,
            value: log.readValue[i]!,
          };
    }
    const check = checkReads(writes, allReads());
    const reads = threadLogs.reduce((n, l) => n + l.readKey.length, 0);
    const hits = threadLogs.reduce((n, l) => n + l.hits, 0);
    const misses = threadLogs.reduce((n, l) => n + l.misses, 0);
    errors.push(...threadLogs.flatMap((l) => l.errors));
    delays.sort((a, b) => a - b);
    const seconds = (Date.now() - started) / 1000;
    return {
      ok: check.violations === 0 && errors.length === 0 && reads > 0 && delays.length > 0,
      node: process.version,
      loadAverage: { before: loadBefore, after: loadavg()[0]! },
      seconds,
      workers: W,
      keys,
      reads,
      writesThroughCache: threadLogs.reduce((n, l) => n + l.writeKey.length, 0),
      directWrites: delays.length,
      hitRate: hits + misses === 0 ? 0 : hits / (hits + misses),
      declined: threadLogs.reduce((n, l) => n + l.declined, 0),
      invalidationsPerSec: invalidations / (ranMs / 1000),
      bound: {
        samples: delays.length,
        p50: percentile(delays, 50),
        p99: percentile(delays, 99),
        max: delays.length === 0 ? NaN : delays[delays.length - 1]!,
      },
      staleWithinBound: { reads: check.staleReads, maxAgeMs: check.maxAgeMs },
      violations: check.violations,
      examples: check.examples,
      errors: errors.slice(0, 5),
    };
  } finally {
    await server.stop();
  }
}

export function formatNearCacheStress(r: NearCacheStressResult, command: string): string {
  const ms = (x: number): string => `${x.toFixed(2)} ms`;
  return [
    `$ ${command}`,
    `Node ${r.node}; load average (1 min) ${r.loadAverage.before.toFixed(1)} before, ${r.loadAverage.after.toFixed(1)} after; ${r.seconds.toFixed(1)} s`,
    `near-cache: ${r.workers} threads through one NearCache (bcast) + a direct writer, ${r.keys} keys`,
    `  reads ${r.reads.toLocaleString('en-US')} (hit rate ${(100 * r.hitRate).toFixed(1)}%), writes through the cache ${r.writesThroughCache.toLocaleString('en-US')}, direct writes ${r.directWrites.toLocaleString('en-US')}`,
    `  invalidations ${r.invalidationsPerSec.toFixed(0)}/s; fetches declined (an invalidation came first) ${r.declined.toLocaleString('en-US')}`,
    `  staleness bound (direct write acknowledged -> invalidation applied): p50 ${ms(r.bound.p50)}, p99 ${ms(r.bound.p99)}, max ${ms(r.bound.max)} over ${r.bound.samples} writes`,
    `  reads of an overwritten value within the bound: ${r.staleWithinBound.reads} (oldest overwrite ${ms(r.staleWithinBound.maxAgeMs)} before the read began)`,
    `  reads that broke the guarantee: ${r.violations}`,
    ...r.examples.map((e) => `    ${e}`),
    ...r.errors.map((e) => `  error: ${e}`),
    r.ok ? 'OK: every read returned a value Redis held within the staleness bound' : 'FAILED',
  ].join('\n');
}

/** `stress --scenario near-cache` from the CLI: --workers, --duration, --keys, --seed, --json. Exit code 0 ok, 1 failed, 2 cannot run. */
export async function runNearCacheCommand(o: StressOptions, argv: string[], json: boolean): Promise<number> {
  const allowed = new Set(['scenario', 'workers', 'duration', 'keys', 'seed', 'json']);
  const other = argv.find((a) => a.startsWith('--') && !allowed.has(a.slice(2).split('=')[0]!));
  if (other !== undefined) {
    process.stderr.write(
      `shmap stress: --scenario near-cache takes --workers, --duration, --keys, --seed and --json only, got ${other.split('=')[0]}\n`,
    );
    return 2;
  }
  const keys = o.keys === defaultOptions().keys ? undefined : o.keys;
  if (keys !== undefined && keys < o.workers + 1) {
    process.stderr.write(`shmap stress: --keys must be at least --workers + 1 for near-cache, got ${keys}\n`);
    return 2;
  }
  let r: NearCacheStressResult;
  try {
    if (!json) process.stderr.write(`stress near-cache: ${o.workers} threads, ${o.durationMs / 1000} s\n`);
    r = await runNearCacheStress({
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

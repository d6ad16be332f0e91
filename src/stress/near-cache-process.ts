/**
 * One process of `stress --scenario near-cache` (src/stress/near-cache.ts
 * forks P of them and checks what they record). It creates the process's
 * NearCache on its main thread, which so holds the invalidation connection
 * (`mode: 'bcast'`, prefix `nc:`: every write of a key is announced to every
 * process), starts W worker threads that attach to it (near-cache-stress.js),
 * and timestamps every invalidation it applies: those times, against the
 * writes' acknowledgements, are the staleness bound, and the moment from
 * which no read in this process may return the overwritten value.
 *
 * The main thread does nothing else while the threads run, so its event loop
 * is free to apply invalidations (the bound includes its delay).
 *
 * Messages with the driver (IPC, `serialization: 'advanced'`):
 *
 * ```
 * driver -> process              process -> driver
 * { start: task }                { ready: true }   every thread attached
 * { go: true }                   (threads run)
 * { stop: true }                 { stopped: true } every thread's log is in
 * (driver writes FENCE_KEY)      { result }        after FENCE_KEY's invalidation
 * ```
 *
 * The server sends one connection's invalidations in the order it applied
 * the writes, so once FENCE_KEY's invalidation (written after every other
 * write of the run) is applied, every earlier one is too.
 */
import { Worker } from 'node:worker_threads';
import { NearCache } from '../near-cache/near-cache.js';
import { sharedNow } from '../shm/conflict-log.js';
import { keyIndex, type NearCacheStressLog, type NearCacheStressTask } from '../workers/near-cache-stress.js';

/** Written by the driver after every other write; its invalidation closes a process's record. */
export const FENCE_KEY = 'nc:fence';

export interface NearCacheProcessTask {
  url: string;
  /** This process's index (0..processes-1) and its worker threads. */
  process: number;
  workers: number;
  /** Writers of the whole run: processes x workers threads, then the direct writer. */
  owners: number;
  keys: number;
  setShare: number;
  fetchDelayMs: number;
  seed: number;
  unsafeSkipFetchCheck: boolean;
  ownerTimeoutMs: number;
  /** The compiled thread (near-cache-stress.js). */
  workerFile: string;
}

export interface NearCacheProcessResult {
  process: number;
  /** One log per thread, in thread order. */
  logs: NearCacheStressLog[];
  /** invalidated[k]: when each invalidation of key k was applied here (shared clock, ms), in order. */
  invalidated: number[][];
  /** Flushes and reconnects of the invalidation connection during the run (each loses the count of invalidations). */
  flushes: number;
  reconnects: number;
  errors: string[];
}

export type DriverMessage = { start: NearCacheProcessTask } | { go: true } | { stop: true };
export type ProcessMessage = { ready: true } | { stopped: true } | { result: NearCacheProcessResult };

function send(m: ProcessMessage): void {
  process.send!(m);
}

function next(): Promise<DriverMessage> {
  return new Promise((resolve) => process.once('message', (m: DriverMessage) => resolve(m)));
}

async function main(task: NearCacheProcessTask): Promise<void> {
  const cache = await NearCache.create<string>({
    url: task.url,
    capacity: task.keys,
    key: 'string:16',
    value: 'string:32',
    mode: 'bcast',
    prefixes: ['nc:'],
    ownerTimeoutMs: task.ownerTimeoutMs,
  });
  const invalidated = Array.from({ length: task.keys }, (): number[] => []);
  let fenced: () => void = () => {};
  const fence = new Promise<void>((resolve) => (fenced = resolve));
  cache.testHooks.onInvalidate = (key) => {
    const t = sharedNow();
    const k = keyIndex(key);
    if (k >= 0 && k < task.keys) invalidated[k]!.push(t);
    else if (key === FENCE_KEY) fenced();
  };
  const stop = new SharedArrayBuffer(4);
  const threads = Array.from({ length: task.workers }, (_, t) => {
    const data: NearCacheStressTask = {
      handle: cache.handle,
      owner: task.process * task.workers + t,
      owners: task.owners,
      keys: task.keys,
      setShare: task.setShare,
      fetchDelayMs: task.fetchDelayMs,
      seed: (task.seed + (task.process * task.workers + t) * 7919) | 0,
      unsafeSkipFetchCheck: task.unsafeSkipFetchCheck,
      stop,
    };
    const worker = new Worker(task.workerFile, { workerData: data });
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
    return { worker, ready, log: log.finally(() => void worker.terminate()) };
  });
  await Promise.all(threads.map((t) => t.ready));
  const before = cache.stats();
  send({ ready: true });
  await next(); // go
  for (const t of threads) t.worker.postMessage({ go: true });
  await next(); // stop
  Atomics.store(new Int32Array(stop), 0, 1);
  const errors: string[] = [];
  const logs = await Promise.all(
    threads.map((t) =>
      t.log.catch((err: unknown): NearCacheStressLog => {
        errors.push(`thread failed: ${String(err)}`);
        return emptyLog();
      }),
    ),
  );
  send({ stopped: true });
  const late = setTimeout(() => {
    errors.push(`the invalidation of ${FENCE_KEY} did not come within 30 s`);
    fenced();
  }, 30_000);
  await fence;
  clearTimeout(late);
  const after = cache.stats();
  await cache.close();
  send({
    result: {
      process: task.process,
      logs,
      invalidated,
      flushes: after.flushes - before.flushes,
      reconnects: after.reconnects - before.reconnects,
      errors,
    },
  });
}

function emptyLog(): NearCacheStressLog {
  return {
    readKey: [],
    readStart: [],
    readEnd: [],
    readValue: [],
    writeKey: [],
    writeValue: [],
    writeStart: [],
    writeEnd: [],
    errors: [],
    hits: 0,
    misses: 0,
    declined: 0,
  };
}

if (process.send !== undefined) {
  process.once('message', (m: DriverMessage) => {
    if (!('start' in m)) return;
    main(m.start).then(
      () => process.disconnect(),
      (err: unknown) => {
        process.stderr.write(`near-cache stress process ${m.start.process}: ${String(err)}\n`);
        process.exitCode = 1;
        process.disconnect();
      },
    );
  });
}

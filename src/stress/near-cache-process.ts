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
 * { stop: true }                 { stopped: writes } every thread's log is in; writes[k]: its threads' writes of key k
 * { expect: writes }             { result }        once it applied writes[k] invalidations of every key k
 * ```
 *
 * The driver's `expect` counts every write of the run (every process's and
 * the direct writer's); the server announces each write once to each
 * process, so once as many invalidations of each key have been applied, the
 * record is complete, on one server or on a cluster's several masters alike.
 */
import { Worker } from 'node:worker_threads';
import { NearCache } from '../near-cache/near-cache.js';
import { sharedNow } from '../shm/conflict-log.js';
import { emptyLog, keyIndex, type NearCacheStressLog, type NearCacheStressTask } from '../workers/near-cache-stress.js';

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

export type DriverMessage = { start: NearCacheProcessTask } | { go: true } | { stop: true } | { expect: number[] };
export type ProcessMessage = { ready: true } | { stopped: number[] } | { result: NearCacheProcessResult };

/** Resolves once the message is handed to the channel (disconnecting before that would drop it). */
function send(m: ProcessMessage): Promise<void> {
  return new Promise((resolve, reject) => process.send!(m, undefined, {}, (err) => (err ? reject(err) : resolve())));
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
  cache.testHooks.onInvalidate = (key) => {
    const t = sharedNow();
    const k = keyIndex(key);
    if (k >= 0 && k < task.keys) invalidated[k]!.push(t);
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
  const go = next(); // listening before the driver can answer
  await send({ ready: true });
  await go;
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
  const writes = new Array<number>(task.keys).fill(0);
  for (const log of logs) for (const k of log.writeKey) writes[k]!++;
  const expect = next();
  await send({ stopped: writes });
  const expected = ((await expect) as { expect: number[] }).expect;
  const complete = (): boolean => expected.every((n, k) => invalidated[k]!.length >= n);
  for (const deadline = Date.now() + 30_000; !complete(); await new Promise((r) => setTimeout(r, 5))) {
    if (Date.now() > deadline) {
      errors.push('the invalidations of some writes did not come within 30 s');
      break;
    }
  }
  const after = cache.stats();
  await cache.close();
  await send({
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

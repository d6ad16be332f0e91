/**
 * One thread of `stress --scenario near-cache` (src/stress/near-cache.ts
 * drives the run, src/stress/near-cache-process.ts the thread's process). It
 * attaches to the process's NearCache and, from its process's go until its
 * stop flag, reads uniformly random keys and writes its own keys through the
 * cache, one operation at a time, recording each read (key, start, end, the
 * value returned) and each write (key, value, start, end) on the shared
 * clock (`sharedNow`). Every writer of the run (each thread of each process,
 * and the direct writer) has an index `owner`; key k belongs to writer
 * k mod owners. Every value written is unique: `w<owner>.<seq>`.
 *
 * After each fetch from Redis the cache waits a random 0..fetchDelayMs
 * before installing (its `afterFetch` seam): a loaded machine's preemption,
 * made frequent, so that the near-cache race happens in a short run.
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { NearCache, type NearCacheHandle } from '../near-cache/near-cache.js';
import { sharedNow } from '../shm/conflict-log.js';
import { Rng } from '../rng.js';

export interface NearCacheStressTask {
  readonly handle: NearCacheHandle;
  /** This thread's writer index, and how many writers the run has (threads of every process, and the direct writer). */
  readonly owner: number;
  readonly owners: number;
  readonly keys: number;
  readonly setShare: number;
  readonly fetchDelayMs: number;
  /** Int32 word 0: set to 1 (Atomics.store) by the main thread when the run is over; read with Atomics.load before each operation. */
  readonly stop: SharedArrayBuffer;
  readonly seed: number;
  /** The negative control: installs without the fetch-version check. */
  readonly unsafeSkipFetchCheck: boolean;
}

/** What a thread recorded: parallel arrays, one entry per operation. */
export interface NearCacheStressLog {
  readKey: number[];
  readStart: number[];
  readEnd: number[];
  readValue: (string | null)[];
  writeKey: number[];
  writeValue: string[];
  writeStart: number[];
  writeEnd: number[];
  errors: string[];
  hits: number;
  misses: number;
  declined: number;
}

export function keyName(i: number): string {
  return `nc:${i}`;
}

/** A log with nothing recorded yet. */
export function emptyLog(): NearCacheStressLog {
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

/** The key index of a key name, or -1 for a name that is not `keyName(i)`. */
export function keyIndex(name: string): number {
  const i = name.startsWith('nc:') ? Number(name.slice(3)) : NaN;
  return Number.isInteger(i) && i >= 0 ? i : -1;
}

/** Attaches, says it is ready, and runs from the main thread's go until its stop flag. */
async function main(task: NearCacheStressTask, port: MessagePort): Promise<NearCacheStressLog> {
  const cache = await NearCache.attach<string>(task.handle);
  const stop = new Int32Array(task.stop);
  await new Promise<void>((resolve) => {
    port.once('message', () => resolve());
    port.postMessage({ ready: true });
  });
  cache.testHooks.unsafeSkipFetchCheck = task.unsafeSkipFetchCheck;
  const random = new Rng(task.seed);
  const next = (): number => random.next();
  if (task.fetchDelayMs > 0)
    cache.testHooks.afterFetch = () => new Promise((r) => setTimeout(r, next() * task.fetchDelayMs));
  const log = emptyLog();
  const { owner, owners } = task;
  const mine = Math.ceil((task.keys - owner) / owners);
  let seq = 0;
  try {
    while (Atomics.load(stop, 0) === 0 && log.errors.length < 10) {
      try {
        if (mine > 0 && next() < task.setShare) {
          const k = owner + owners * Math.floor(next() * mine);
          const value = `w${owner}.${++seq}`;
          const start = sharedNow();
          await cache.set(keyName(k), value);
          log.writeKey.push(k);
          log.writeValue.push(value);
          log.writeStart.push(start);
          log.writeEnd.push(sharedNow());
        } else {
          const k = Math.floor(next() * task.keys);
          const start = sharedNow();
          const v = await cache.get(keyName(k));
          log.readKey.push(k);
          log.readStart.push(start);
          log.readEnd.push(sharedNow());
          log.readValue.push(v ?? null);
        }
      } catch (err) {
        log.errors.push(String(err));
      }
    }
    const s = cache.stats();
    log.hits = s.hits;
    log.misses = s.misses;
    log.declined = s.declined;
  } finally {
    await cache.close();
  }
  return log;
}

if (parentPort !== null) {
  const port = parentPort;
  main(workerData as NearCacheStressTask, port).then(
    (log) => port.postMessage({ log }),
    (err: unknown) => port.postMessage({ error: String(err) }),
  );
}

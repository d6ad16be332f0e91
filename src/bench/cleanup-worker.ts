/**
 * The piscina task of `bench cleanup`: one thread of one strategy's run.
 *
 *  - `handler`: get/set on its own keys (key % handlers === index), timing
 *    every op in the measured window, checking every get against what it
 *    last wrote (lost: absent though written less than AGE ago; wrong: a
 *    value it never wrote), and counting its own GC pauses and heap growth.
 *    In the `delete-queue` strategy it also enqueues the stale entries it
 *    meets (instead of deleting them).
 *  - `cleaner`: a pass every interval: range + delete (`range-none`,
 *    `stop-the-world`) or `map.sweep` (`sweep`) of entries older than AGE.
 *  - `drainer`: the delete queue's drain loop, deleting a queued key only if
 *    it is still stale (an atomic `update`), so a key refreshed after it was
 *    queued is kept.
 * The TTL strategy's cleaner is src/workers/sweeper.js itself.
 *
 * Control block (Int32 words of `task.control`): see CTL below.
 */
import { PerformanceObserver, performance } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';
import { encodeHistogram, newHistogram } from '../stress/histogram.js';
import { SharedMap } from '../shm/map.js';
import { barrierWait } from '../shm/sync.js';
import { DeleteQueue, runDrainLoop, type DeleteQueueHandle } from '../shm/patterns/delete-queue.js';
import { sharedNow } from '../shm/patterns/ttl.js';
import { staleDeleter } from './conditional-delete.js';
import { enterShared, exitShared, resumeTheWorld, stopTheWorld } from './world-lock.js';
import type { SharedMapHandle } from '../shm/types.js';
import { Rng } from '../rng.js';

export type Strategy = 'range-none' | 'stop-the-world' | 'sweep' | 'ttl' | 'delete-queue';

/** Control block words. */
export const CTL = {
  /** Start barrier (2 words): every handler and the cleaner. */
  BARRIER_I32: 0,
  /** Stop-the-world: the world lock's two words (readers, then writer; see world-lock.ts). */
  READERS_I32: 2,
  /** Float64 index (bytes 16..31): shared-clock time (ms) the measured window starts; index + 1: when it ends. */
  WINDOW_F64: 2,
  /** 1 once the last party through the barrier has set the window (others park on it). */
  READY_I32: 8,
  BYTES: 64,
} as const;

export interface CleanupTask {
  role: 'handler' | 'cleaner' | 'drainer';
  strategy: Strategy;
  map: SharedMapHandle;
  control: SharedArrayBuffer;
  queue?: DeleteQueueHandle;
  index: number;
  handlers: number;
  /** Threads at the start barrier (handlers + cleaner). */
  parties: number;
  keys: number;
  /** Entries older than this are stale (ms). */
  ageMs: number;
  intervalMs: number;
  /** Value every key was preloaded with (shared clock, ms). */
  preloadedAt: number;
  seed: number;
  warmupMs: number;
  measureMs: number;
}

/** Meets the other parties; the last one in sets the window (warm-up, then measured) for all. */
function meet(task: CleanupTask, words: Int32Array, f64: Float64Array): void {
  if (barrierWait(words, CTL.BARRIER_I32, task.parties, 120_000)) {
    const start = sharedNow() + task.warmupMs;
    f64[CTL.WINDOW_F64] = start;
    f64[CTL.WINDOW_F64 + 1] = start + task.measureMs;
    Atomics.store(words, CTL.READY_I32, 1);
    Atomics.notify(words, CTL.READY_I32);
  } else {
    while (Atomics.load(words, CTL.READY_I32) === 0) Atomics.wait(words, CTL.READY_I32, 0, 1000);
  }
}

export interface HandlerResult {
  ops: number;
  gets: number;
  sets: number;
  measuredMs: number;
  /** HDR histograms (ns), base64: get and set. */
  get: string;
  set: string;
  lost: number;
  wrong: number;
  staleSeen: number;
  enqueued: number;
  enqueueFull: number;
  gcCount: number;
  gcMs: number;
  heapGrowthBytes: number;
}

export interface CleanerResult {
  removed: number;
  passes: number;
  /** Drainer: queued keys found refreshed and kept. */
  kept: number;
  elapsedMs: number;
}

const CHECK_EVERY = 256;
const SET_SHARE = 0.2;

function runHandler(task: CleanupTask): HandlerResult {
  const map = SharedMap.attach<number, number>(task.map);
  const words = new Int32Array(task.control);
  const f64 = new Float64Array(task.control);
  const queue = task.queue === undefined ? undefined : DeleteQueue.attach<number>(task.queue);
  const stw = task.strategy === 'stop-the-world';
  const ttlOptions = task.strategy === 'ttl' ? { ttlMs: task.ageMs } : undefined;
  const age = task.ageMs;
  const mine = Math.ceil((task.keys - task.index) / task.handlers);
  // What this thread last wrote to each of its keys (NaN: known absent).
  const last = new Float64Array(mine).fill(task.preloadedAt);
  const queued = new Uint8Array(mine);
  const rng = new Rng(task.seed, task.index);
  const hGet = newHistogram();
  const hSet = newHistogram();
  let ops = 0;
  let gets = 0;
  let sets = 0;
  let lost = 0;
  let wrong = 0;
  let staleSeen = 0;
  let enqueued = 0;
  let enqueueFull = 0;

  meet(task, words, f64);
  const start = f64[CTL.WINDOW_F64]!;
  const end = f64[CTL.WINDOW_F64 + 1]!;
  let measuring = false;
  let heapAtStart = 0;
  let measuredFrom = 0;
  for (;;) {
    if (ops % CHECK_EVERY === 0) {
      const now = sharedNow();
      if (now >= end) break;
      if (!measuring && now >= start) {
        measuring = true;
        heapAtStart = getHeapStatistics().used_heap_size;
        measuredFrom = performance.now();
        ops = 0;
      }
    }
    ops++;
    const i = Math.floor(rng.next() * mine);
    const key = task.index + i * task.handlers;
    const isSet = rng.next() < SET_SHARE;
    const before = sharedNow();
    const t0 = performance.now();
    if (stw) enterShared(words, CTL.READERS_I32);
    let v: number | undefined;
    if (isSet) {
      if (ttlOptions === undefined) map.set(key, before);
      else map.set(key, before, ttlOptions);
    } else v = map.get(key);
    if (stw) exitShared(words, CTL.READERS_I32);
    const ns = (performance.now() - t0) * 1e6;
    if (isSet) {
      last[i] = before;
      queued[i] = 0;
      if (measuring) {
        hSet.recordValue(Math.max(1, Math.round(ns)));
        sets++;
      }
      continue;
    }
    if (measuring) {
      hGet.recordValue(Math.max(1, Math.round(ns)));
      gets++;
    }
    const want = last[i]!;
    if (v === undefined) {
      // Absent: fine once what we wrote was stale (a cleaner decided so before our get ended), lost
      // otherwise. The clock after the get: a TTL entry expires at (clock in set) + age >= want + age.
      if (!Number.isNaN(want) && sharedNow() - want < age) lost++;
      last[i] = NaN;
    } else if (v !== want) {
      wrong++;
      last[i] = v;
    } else if (before - v > age) {
      staleSeen++;
      if (queue !== undefined && queued[i] === 0) {
        if (queue.enqueue(key)) {
          queued[i] = 1;
          enqueued++;
        } else enqueueFull++;
      }
    }
  }
  const measuredMs = performance.now() - measuredFrom;
  const heapGrowthBytes = getHeapStatistics().used_heap_size - heapAtStart;
  return {
    ops,
    gets,
    sets,
    measuredMs,
    get: encodeHistogram(hGet),
    set: encodeHistogram(hSet),
    lost,
    wrong,
    staleSeen,
    enqueued,
    enqueueFull,
    gcCount: 0,
    gcMs: 0,
    heapGrowthBytes,
  };
}

function runCleaner(task: CleanupTask): CleanerResult {
  const map = SharedMap.attach<number, number>(task.map);
  const words = new Int32Array(task.control);
  const f64 = new Float64Array(task.control);
  const age = task.ageMs;
  let removed = 0;
  let passes = 0;
  meet(task, words, f64);
  const t0 = performance.now();
  const end = f64[CTL.WINDOW_F64 + 1]!;
  const sleeper = new Int32Array(new SharedArrayBuffer(4));
  for (;;) {
    const passStart = sharedNow();
    if (passStart >= end) break;
    const now = passStart;
    if (task.strategy === 'sweep') {
      removed += map.sweep((v) => now - v > age);
    } else {
      if (task.strategy === 'stop-the-world') stopTheWorld(words, CTL.READERS_I32);
      try {
        for (const [k, v] of map) {
          if (now - v > age && map.delete(k)) removed++;
        }
      } catch {
        // sync 'none' with onConflict 'record' records and goes on; anything else ends the pass.
      } finally {
        if (task.strategy === 'stop-the-world') resumeTheWorld(words, CTL.READERS_I32);
      }
    }
    passes++;
    const wait = passStart + task.intervalMs - sharedNow();
    if (wait > 0) Atomics.wait(sleeper, 0, 0, Math.min(wait, end - sharedNow()));
  }
  return { removed, passes, kept: 0, elapsedMs: performance.now() - t0 };
}

function runDrainer(task: CleanupTask): CleanerResult {
  const map = SharedMap.attach<number, number>(task.map);
  const queue = DeleteQueue.attach<number>(task.queue!);
  const age = task.ageMs;
  const t0 = performance.now();
  const conditional = staleDeleter<number, number>(map, (written, now) => now - written > age);
  runDrainLoop(queue, conditional, { idleWaitMs: 50, finalWaitMs: 1000 });
  return {
    removed: conditional.counts.removed,
    passes: 0,
    kept: conditional.counts.kept,
    elapsedMs: performance.now() - t0,
  };
}

export default async function cleanupTask(task: CleanupTask): Promise<HandlerResult | CleanerResult> {
  if (task.role === 'cleaner') return runCleaner(task);
  if (task.role === 'drainer') return runDrainer(task);
  // GC pauses of this isolate in the measured window (entries arrive after the synchronous loop).
  const gc = { count: 0, ms: 0 };
  let from = Infinity;
  let to = Infinity;
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      if (e.startTime < from || e.startTime > to) continue;
      gc.count++;
      gc.ms += e.duration;
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  try {
    const result = runHandler(task);
    to = performance.now();
    from = to - result.measuredMs;
    await new Promise((resolve) => setTimeout(resolve, 20));
    result.gcCount = gc.count;
    result.gcMs = gc.ms;
    return result;
  } finally {
    observer.disconnect();
  }
}

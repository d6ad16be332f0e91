/**
 * Helpers shared by the test/shm suites (not a test file itself): comparing a
 * map's contents in a canonical form, checking that a failed operation left
 * the map as it was, and running the worker scripts in test/workers/.
 */
import { Worker } from 'node:worker_threads';
import { expect } from 'vitest';
import { until } from '../helpers/until.js';
import { distPath, testPath } from '../helpers/paths.js';
import { checkInvariants } from '../../src/shm/debug.js';
import type { MapCore } from '../../src/shm/core.js';

/** A printable, comparable form of any key or value a map can hold (numbers keep NaN and -0 apart from other values). */
export function canon(x: unknown): string {
  if (typeof x === 'number') return Object.is(x, -0) ? 'n:-0' : 'n:' + String(x);
  if (typeof x === 'bigint') return 'b:' + x.toString();
  if (typeof x === 'string') return 's:' + JSON.stringify(x);
  if (x instanceof Uint8Array) return 'u8:' + Array.from(x, (b) => b.toString(16).padStart(2, '0')).join('');
  if (x === undefined) return 'undefined';
  return 'j:' + JSON.stringify(x);
}

/** Entries as sorted `key => value` strings, for exact comparison. */
export function canonEntries(entries: Iterable<readonly [unknown, unknown]>): string[] {
  const out: string[] = [];
  for (const [k, v] of entries) out.push(canon(k) + ' => ' + canon(v));
  return out.sort();
}

/** What a map looks like from outside: its size and its entries (via snapshot, which never throws). */
export interface MapPicture {
  size: number;
  entries: string[];
}

interface Snapshottable {
  readonly size: number;
  snapshot(): Array<[unknown, unknown]>;
}

export function picture(map: Snapshottable): MapPicture {
  return { size: map.size, entries: canonEntries(map.snapshot()) };
}

/** Asserts the map looks exactly as in `before` and its invariants hold. */
export function expectUnchanged(map: Snapshottable & MapCore, before: MapPicture): void {
  expect(map.size).toBe(before.size);
  expect(canonEntries(map.snapshot())).toEqual(before.entries);
  checkInvariants(map);
}

/** Runs `fn` and returns what it threw (fails the test when it throws nothing). */
export function thrown(fn: () => unknown, label = 'the call'): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error(`expected ${label} to throw, it returned normally`);
}

// ---------------------------------------------------------------------------
// Worker scripts. They are plain .mjs files under test/workers/ importing the
// package from dist/, so dist/ must be built (`npm test` builds it first).

/** Throws a clear message when dist/ is not built. */
export function requireDist(): void {
  distPath('index.js');
}

export interface WorkerRun<T> {
  worker: Worker;
  /** The worker's threadId, known as soon as it is spawned. */
  threadId: number;
  /** The first message the worker posts (its result); rejects when it errors, exits without one, or exceeds the timeout. */
  result: Promise<T>;
}

/**
 * Spawns test/workers/<script> with `workerData`. The worker posts exactly one
 * result message and exits. A bounded timeout terminates a hung worker so a
 * deadlock fails the test instead of hanging the suite.
 */
export function spawn<T = unknown>(script: string, workerData: unknown, timeoutMs = 30_000): WorkerRun<T> {
  const worker = new Worker(testPath('workers/' + script), { workerData });
  const result = new Promise<T>((resolve, reject) => {
    let settled = false;
    const timer = setTimeout(() => {
      if (settled) return;
      settled = true;
      void worker.terminate();
      reject(new Error(`${script}: no result within ${timeoutMs} ms (deadlock?); terminated`));
    }, timeoutMs);
    worker.once('message', (m: T) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(m);
    });
    worker.once('error', (e) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(e);
    });
    worker.once('exit', (code) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(new Error(`${script}: exited with code ${code} before posting a result`));
    });
  });
  return { worker, threadId: worker.threadId, result };
}

/** A small control block of Int32 words shared with workers (phases, barriers, counters). */
export function controlWords(n = 64): Int32Array {
  return new Int32Array(new SharedArrayBuffer(n * 4));
}

/** The control words of test/workers/map-death.mjs (a parked writer, or a waiter). */
export const DEATH_WORDS = { parked: 0, done: 1, never: 2, waiting: 3, pointHit: 4 };

/**
 * Starts test/workers/map-death.mjs running `op` over `keys` on the map
 * `handle`, and resolves once it has parked at `point` (a window.ts park
 * point; forEach parks inside its callback), holding what the op holds
 * there. Its result is caught: the test terminates it.
 */
export async function parkInOp(handle: unknown, op: string, point: string, keys: number[]) {
  const words = controlWords();
  const run = spawn<{ done: number }>('map-death.mjs', { map: handle, words, W: DEATH_WORDS, op, point, keys });
  run.result.catch(() => {});
  await until(
    () => Atomics.load(words, DEATH_WORDS.parked) !== 0,
    `${op} to park at ${point || 'its callback'}`,
    20_000,
  );
  return { ...run, words };
}

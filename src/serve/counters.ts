/**
 * The server's per-thread counters: one row of Float64 words per thread in a
 * SharedArrayBuffer every thread of the server holds, so `GET /stats` (served
 * by whichever thread gets it) can report every thread's figures.
 *
 * Row claim: word 0 of the Int32 view is the next free row; a thread claims
 * its row once with Atomics.add. Each row is written by its own thread only,
 * with plain stores (single writer; a figure for a report, so a reader that
 * sees one update late reads a value the row held a moment earlier), and
 * read by any thread.
 *
 * GC pauses are counted in every thread of the server, two ways: a thread
 * whose event loop runs (handlers, the main thread) gets them from a
 * PerformanceObserver; a cleaner thread, which parks on Atomics.wait and
 * never returns to its event loop (where an observer is called back), has
 * v8's GCProfiler record them inside the isolate and adds them to its row at
 * every flush (each cleanup cycle, and when it ends).
 */
import { PerformanceObserver } from 'node:perf_hooks';
import { GCProfiler } from 'node:v8';

/** The words of a row (Float64 indexes within it). */
export const C = {
  /** 1 once the row is claimed. */
  USED: 0,
  /** Requests answered by this thread. */
  REQUESTS: 1,
  /** GC pauses in this thread: count, total ms, longest ms. */
  GC_COUNT: 2,
  GC_MS: 3,
  GC_MAX_MS: 4,
  /** Sessions this thread cleaned (deleted, retired, reclaimed). */
  CLEANED: 5,
  /** Requests answered 500 because a range over the map met a concurrent write. */
  ITERATION_ERRORS: 6,
  /** Ids this thread put on the delete queue; enqueues refused because the queue was full. */
  ENQUEUED: 7,
  ENQUEUE_FULL: 8,
  /** Rebuilds (map switches) done by this thread. */
  REBUILDS: 9,
  /** Longest time writers were held out by one rebuild, ms. */
  REBUILD_MAX_MS: 10,
  /** Role: 1 handler, 2 main (dispatch acceptor), 3 cleaner. */
  ROLE: 11,
  WORDS: 16,
} as const;

export const ROLE = { handler: 1, main: 2, cleaner: 3 } as const;
export type Role = keyof typeof ROLE;

/** Room for this many threads. */
export const MAX_ROWS = 264;
/** Row 0 is the claim word's row; rows start at 1. */
export const COUNTERS_BYTES = (MAX_ROWS + 1) * C.WORDS * 8;

export function createCounters(): SharedArrayBuffer {
  return new SharedArrayBuffer(COUNTERS_BYTES);
}

/** This thread's row in the counters buffer. */
export class ThreadCounters {
  readonly f64: Float64Array;
  private readonly base: number;
  private observer: PerformanceObserver | undefined;
  private profiler: GCProfiler | undefined;

  constructor(buffer: SharedArrayBuffer, role: Role) {
    const i32 = new Int32Array(buffer, 0, 1);
    const row = Atomics.add(i32, 0, 1) + 1;
    if (row > MAX_ROWS) throw new Error(`serve: more than ${MAX_ROWS} threads`);
    this.f64 = new Float64Array(buffer);
    this.base = row * C.WORDS;
    this.f64[this.base + C.USED] = 1;
    this.f64[this.base + C.ROLE] = ROLE[role];
  }

  add(word: number, n = 1): void {
    this.f64[this.base + word]! += n;
  }

  max(word: number, v: number): void {
    if (v > this.f64[this.base + word]!) this.f64[this.base + word] = v;
  }

  /** Counts this thread's GC pauses until `stopGcObserver`. */
  observeGc(): void {
    this.observer = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) this.gcPause(e.duration);
    });
    this.observer.observe({ entryTypes: ['gc'] });
  }

  stopGcObserver(): void {
    this.observer?.disconnect();
    this.observer = undefined;
  }

  private gcPause(ms: number): void {
    this.add(C.GC_COUNT);
    this.add(C.GC_MS, ms);
    this.max(C.GC_MAX_MS, ms);
  }

  /** Counts this thread's GC pauses without its event loop (a cleaner thread), until `stopGcProfiler`; see `flushGc`. */
  profileGc(): void {
    this.profiler = new GCProfiler();
    this.profiler.start();
  }

  /** Adds the pauses the profiler recorded since the last flush to this row. */
  flushGc(): void {
    const profiler = this.profiler;
    if (profiler === undefined) return;
    const result = profiler.stop();
    profiler.start();
    for (const gc of result?.statistics ?? []) this.gcPause(gc.cost / 1000);
  }

  stopGcProfiler(): void {
    this.flushGc();
    this.profiler?.stop();
    this.profiler = undefined;
  }
}

export interface CounterTotals {
  threads: number;
  requests: number;
  /** GC pauses over every thread of the server: handlers, the main thread and the cleaner thread. */
  gcCount: number;
  gcMs: number;
  gcMaxMs: number;
  cleaned: number;
  iterationErrors: number;
  enqueued: number;
  enqueueFull: number;
  rebuilds: number;
  rebuildMaxMs: number;
  perThread: Array<{ role: Role; requests: number; gcCount: number; gcMs: number; gcMaxMs: number; cleaned: number }>;
}

const ROLE_NAMES: Record<number, Role> = { 1: 'handler', 2: 'main', 3: 'cleaner' };

/** Sums every claimed row. */
export function readCounters(buffer: SharedArrayBuffer): CounterTotals {
  const f64 = new Float64Array(buffer);
  const t: CounterTotals = {
    threads: 0,
    requests: 0,
    gcCount: 0,
    gcMs: 0,
    gcMaxMs: 0,
    cleaned: 0,
    iterationErrors: 0,
    enqueued: 0,
    enqueueFull: 0,
    rebuilds: 0,
    rebuildMaxMs: 0,
    perThread: [],
  };
  for (let row = 1; row <= MAX_ROWS; row++) {
    const b = row * C.WORDS;
    if (f64[b + C.USED] !== 1) continue;
    const w = (i: number) => f64[b + i]!;
    t.threads++;
    t.requests += w(C.REQUESTS);
    t.gcCount += w(C.GC_COUNT);
    t.gcMs += w(C.GC_MS);
    t.gcMaxMs = Math.max(t.gcMaxMs, w(C.GC_MAX_MS));
    t.cleaned += w(C.CLEANED);
    t.iterationErrors += w(C.ITERATION_ERRORS);
    t.enqueued += w(C.ENQUEUED);
    t.enqueueFull += w(C.ENQUEUE_FULL);
    t.rebuilds += w(C.REBUILDS);
    t.rebuildMaxMs = Math.max(t.rebuildMaxMs, w(C.REBUILD_MAX_MS));
    t.perThread.push({
      role: ROLE_NAMES[w(C.ROLE)] ?? 'handler',
      requests: w(C.REQUESTS),
      gcCount: w(C.GC_COUNT),
      gcMs: w(C.GC_MS),
      gcMaxMs: w(C.GC_MAX_MS),
      cleaned: w(C.CLEANED),
    });
  }
  return t;
}

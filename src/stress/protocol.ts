/**
 * What crosses the thread boundary between the stress runner and its piscina
 * tasks: the task argument, the result, and the control block (a small
 * SharedArrayBuffer the workers and the main thread share without messages).
 * No side effects, and no import of a scenario or of the worker loops: both
 * sides and every scenario import it.
 */
import type { SharedMapHandle, SyncMode, KeyType, ValueType } from '../shm/types.js';
import type { EncodedHistograms } from './histogram.js';
import type { Dist, Mix } from './options.js';
import type { RecordedOps } from '../race/recorder.js';
import type { DeleteQueueHandle } from '../shm/patterns/delete-queue.js';

/** What one worker does in a scenario (each scenario's roles and loops: ./scenarios/). */
export type Role =
  /** The `--mix` workload over the shared key space, plus writes to its owned keys. */
  | 'mixed'
  /** Ranges over the map with for...of and deletes what it meets (the anti-pattern). */
  | 'range-deleter'
  /** The same cleanup done with map.sweep(pred). */
  | 'sweeper'
  /** map.add on a few hot counter keys shared by every worker. */
  | 'counter'
  /** ttl: sets shared keys with short TTLs and checks no expired entry is readable. */
  | 'ttl'
  /** lease: acquire, use, release shared keys, checking a leased entry is never removed. */
  | 'lease-user'
  /** lease: retires shared keys and re-inserts them once removed. */
  | 'retirer'
  /** delete-queue: ranges over a snapshot and enqueues its doomed keys instead of deleting them. */
  | 'enqueuer';

/** Roles with an op budget in `--ops` mode; the others run until these are done. */
export function isWriterRole(role: Role): boolean {
  return role === 'mixed' || role === 'counter' || role === 'ttl' || role === 'lease-user';
}

/** What the ttl / lease / delete-queue scenarios add to each stress task. Structured-clonable. */
export interface PatternTask {
  /** The scenario's scratch memory, shared by the workers and the main thread. */
  scratch: SharedArrayBuffer;
  queue?: DeleteQueueHandle;
}

/**
 * Control block layout. Int32 words in the first 64-byte line; then one
 * 64-byte line per worker holding its progress (so a worker's progress
 * stores never share a cache line with another's).
 */
export const CONTROL = {
  /** Start barrier (BARRIER_WORDS = 2 words): every worker waits here so the load overlaps from the first op. */
  BARRIER_I32: 0,
  /** Workers whose own op budget is done (Atomics.add); handler roles run until every writer is done (`--ops` mode). */
  WRITERS_DONE_I32: 2,
  /** Set to 1 by the main thread (Atomics.store) to stop every worker early, e.g. on Ctrl-C. */
  STOP_I32: 3,
  /**
   * `--history`: 0 while every worker records; the first worker whose
   * recording stops (its buffer filled, an op threw, its run failed) stores
   * its index + 1 (Atomics.compareExchange from 0), and every worker loads it
   * (Atomics.load) before each recorded op and stops recording once it is
   * set, so the workers' histories end together (src/stress/history.ts).
   */
  HISTORY_STOP_I32: 4,
  /** Float64 index of the start time (epoch ms), stored by the last worker through the start barrier; 0 until then. */
  START_F64: 4,
  /** Float64 index of worker w's op count: (w + 1) * 8. Plain stores by the worker, plain loads by the main thread (progress display only). */
  progressF64: (worker: number): number => (worker + 1) * 8,
  bytes: (workers: number): number => (workers + 1) * 64,
} as const;

/** One worker's task. Everything is structured-clonable; `handle` and `control` share memory. */
export interface StressTask {
  handle: SharedMapHandle;
  control: SharedArrayBuffer;
  index: number;
  workers: number;
  /** Workers with a writing role (they count themselves done in WRITERS_DONE_I32). */
  writers: number;
  role: Role;
  keys: number;
  owned: number;
  keyType: KeyType;
  valueType: ValueType;
  mix: Mix;
  dist: Dist;
  sync: SyncMode;
  seed: number;
  durationMs: number;
  /** This worker's op budget, or undefined to run for durationMs (writers) or until the writers are done (handlers in `--ops` mode). */
  ops: number | undefined;
  /** The run is bounded by an op budget (`--ops`), not by durationMs. */
  byOps: boolean;
  /** `--history`: record every op on shared key ids below this (0: none), in a buffer of historyBuffer ops (./history.ts). */
  historyKeys?: number;
  historyBuffer?: number;
  /** Shared state of the ttl / lease / delete-queue scenarios (./scenarios/ttl.ts, lease.ts, delete-queue.ts). */
  pattern?: PatternTask;
}

/** The expected final state of one owned key. */
export interface OwnedExpectation {
  id: number;
  present: boolean;
  value: unknown;
}

export interface WorkerResult {
  index: number;
  threadId: number;
  role: Role;
  ops: number;
  elapsedMs: number;
  opsByKind: Record<string, number>;
  histograms: EncodedHistograms;
  gc: { count: number; totalMs: number; maxMs: number };
  /** Expected final value of each owned key this worker wrote. */
  owned: OwnedExpectation[];
  /** Sum this worker added to each counter key (counters scenario). */
  counterSums: number[];
  /** Mismatches seen during the run on owned keys (an op saw a value other than the one this worker wrote): first 20, and the count. */
  inFlightLosses: string[];
  inFlightLossCount: number;
  /** Iterations that threw ConcurrentMapIterationError (the fail-fast check caught a foreign write). */
  iterationsAborted: number;
  iterationsCompleted: number;
  /** Entries deleted by sweeps / range-deletes. */
  deleted: number;
  /** Errors thrown by map operations, by error code (conflict errors included). */
  errors: Record<string, number>;
  /** `--history`: the ops this worker recorded on the sampled keys. */
  history?: RecordedOps;
  /** Counts kept by the ttl / lease / delete-queue roles (./scenarios/), summed by the runner. */
  pattern?: Record<string, number>;
}

/**
 * The one small interface every benchmarked system sits behind, so the runner
 * treats `Map`, shmap, postMessage, Redis and lmdb alike, and another system
 * is one more module.
 *
 * A driver has two halves that run in different threads:
 *
 * - `prepare` runs once per (system, workload) on the main thread: it creates
 *   the store, preloads every key, and says what each measuring thread gets
 *   (`forWorker(i)`: a handle, a port, a path; structured-clonable).
 * - `open` runs in the measuring thread (a piscina worker, or the main thread
 *   for `where: 'main'`) and returns a `Session`: the store as that thread sees it.
 *
 * Ops are never built inside the timed loop: every thread gets pre-generated
 * arrays (`OpStream`) of op kinds and key / value indices, the same arrays for
 * every system, and looks the key up in a pre-built table.
 */

import type { TransferListItem } from 'node:worker_threads';

/** Op kinds in `OpStream.kinds`. */
export const GET = 0;
export const SET = 1;
export const DEL = 2;
export type OpKind = typeof GET | typeof SET | typeof DEL;

export type Key = number | string;
export type Value = number | string;

/** The benchmark workloads: int32 keys / float64 values, and `session:<base36>` keys / ~32-byte strings. */
export type WorkloadName = 'int32' | 'string';

/** One thread's ops: op i is `kinds[i]` on `keys[keyIdx[i]]` (with `values[valIdx[i]]` for a set). Lengths are equal and a power of two. */
export interface OpStream {
  readonly kinds: Uint8Array;
  readonly keyIdx: Int32Array;
  readonly valIdx: Uint16Array;
  readonly keys: ArrayLike<Key>;
  readonly values: ArrayLike<Value>;
}

interface SessionBase {
  /** Ops one call to `run` performs as one unit: 1, or 64 for batched systems (one message / one pipeline). Latency is recorded per unit. */
  readonly batch: number;
  close(): void | Promise<void>;
}

/**
 * A store whose ops return synchronously. `run(ops, from, to)` performs ops
 * [from, to) in its own tight loop (one loop per driver, so its call sites
 * stay monomorphic) and returns how many gets found a value.
 */
export interface SyncSession extends SessionBase {
  readonly kind: 'sync';
  run(ops: OpStream, from: number, to: number): number;
  get(key: Key): Value | undefined;
  set(key: Key, value: Value): void;
  delete(key: Key): void;
}

/** A store reached through a message or a socket. `run` performs exactly one unit (`to - from === batch`). */
export interface AsyncSession extends SessionBase {
  readonly kind: 'async';
  run(ops: OpStream, from: number, to: number): Promise<number>;
  get(key: Key): Promise<Value | undefined>;
  set(key: Key, value: Value): Promise<void>;
  delete(key: Key): Promise<void>;
}

export type Session = SyncSession | AsyncSession;

/** What `prepare` gets: the workload, its key and value tables, and the keys to preload (`keys[0..preload)`, key i with `values[i % values.length]`). */
export interface PrepareInput {
  readonly workload: WorkloadName;
  readonly preload: number;
  readonly keys: ArrayLike<Key>;
  readonly values: ArrayLike<Value>;
}

/** What one measuring thread gets from the main thread. `transfer` lists objects to move rather than copy (a MessagePort). */
export interface WorkerData {
  readonly data: unknown;
  readonly transfer?: TransferListItem[];
}

export interface Prepared {
  /** Called once per measuring thread per run, i = 0..threads-1. */
  forWorker(i: number): WorkerData;
  /** Frees the store (stops servers, removes files). */
  close(): Promise<void>;
}

export interface Driver {
  /** The name `--only` takes and the table prints, e.g. 'redis-p64'. */
  readonly name: string;
  /** One line for `--help`. */
  readonly summary: string;
  /** 'main': measured on the main thread only (one thread). 'workers': from 1, 2, 4 piscina workers. */
  readonly where: 'main' | 'workers';
  /** Runs only the read-only phase (shmap `sync: 'none'` is not safe with concurrent writers). */
  readonly readOnly: boolean;
  /** Ops per unit (1, or 64 for batched rows): latency is per unit. */
  readonly batch: number;
  /** Why this system cannot run here (one line, with how to include it), or undefined when it can. */
  unavailable?(): string | undefined;
  prepare(input: PrepareInput): Promise<Prepared>;
  /** In the measuring thread: `data` is `forWorker(i).data`. */
  open(data: unknown, workload: WorkloadName): Promise<Session>;
  /** Called once after the last run of the bench (stops a server started on demand). */
  shutdown?(): Promise<void>;
}

/**
 * Recording histories inside the threads that use a map: what each thread
 * asked, what it got, when it asked and when it got the answer. The
 * linearizability checker (linearizability.ts) reads the result after the
 * recorders' threads hand their buffers to the main thread.
 *
 * ## Cost
 *
 * Recording must not change what it measures more than it has to. A
 * `HistoryRecorder` preallocates its buffer as parallel typed arrays indexed
 * by record number (node-lru-cache style) and `record()` only stores numbers
 * into them: an op code, a key index, three value fields (the arguments after
 * the key and the result) each as a kind byte plus a float64, and the two
 * times. Values that are not numbers, booleans or missing go through a
 * `ValueCoding`, which turns the values a workload uses into numbers without
 * allocating (e.g. a base-36 string `"k3f"` into its integer and length); a
 * value the coding does not know (a torn read under `sync: 'none'`, say) goes
 * into a small intern table, bounded by `internMax`. When the buffer or the
 * intern table is full, or the caller `halt`s it, recording stops for that
 * thread and every later op is counted as dropped, never silently lost: a
 * history with a gap in one thread would be checked as if the missing ops
 * never happened.
 *
 * ## Stopping, and the cut-off
 *
 * A recorder that stops remembers `firstDroppedCall`, the call time of the
 * first op it did not keep: every op of its thread called before that is in
 * its buffer. Several threads' recorders make a complete history up to
 * `cutoff` = the least `firstDroppedCall` of them all (`historyCutoff`): no
 * thread lost an op called before it. Ops called at or after the cut-off are
 * dropped from every thread's history (one thread's later ops could have
 * seen a write another thread no longer recorded), and ops called before it
 * that returned after it are kept as pending (their result could depend on
 * dropped ops; their effect may or may not have happened before the
 * cut-off): see history.ts, "Pending operations". Each thread's ops stay a
 * prefix of what it did, so the cut needs no ordering between threads
 * beyond the shared clock. Threads that share a stop word (the stress
 * runner's control block) halt together when the first one stops, so little
 * is recorded past the cut-off.
 *
 * ## The clock
 *
 * `call` and `ret` are `performance.timeOrigin + performance.now()`, read in
 * the recording thread just before the call and just after it returns. On
 * Node 20.20 a worker's `timeOrigin` is the process's, and its `now()` counts
 * from that same origin on the OS monotonic clock (`uv_hrtime`), so the sum is
 * one clock for all threads: checked by the checker's author (see history.ts,
 * "The clock"), who saw workers started 150 ms apart report the main thread's
 * origin exactly, and a worker woken by `Atomics.notify` never stamp a time
 * before the notifier's. So an op whose `ret` is below another's `call`
 * really finished first, which is all the checker relies on.
 */
import { performance } from 'node:perf_hooks';
import type { HistoryKey, HistoryOp, HistoryOpName, JsonValue } from './history.js';

/** Op codes stored in a recorder's `op` array (index into OP_NAMES). */
export const REC_OP = {
  get: 0,
  has: 1,
  set: 2,
  delete: 3,
  putIfAbsent: 4,
  compareAndSet: 5,
  add: 6,
} as const satisfies Record<HistoryOpName, number>;

export const OP_NAMES: readonly HistoryOpName[] = [
  'get',
  'has',
  'set',
  'delete',
  'putIfAbsent',
  'compareAndSet',
  'add',
];

/**
 * Kind of one stored value field:
 *   NONE   undefined / null (written as null)
 *   FALSE, TRUE
 *   NUM    a JS number, stored as itself
 *   CODED  a value the ValueCoding turned into the stored number
 *   REF    an interned value: the stored number indexes `interned`
 */
export const KIND_NONE = 0;
export const KIND_FALSE = 1;
export const KIND_TRUE = 2;
export const KIND_NUM = 3;
export const KIND_CODED = 4;
export const KIND_REF = 5;

/** Value fields per record: args[0], args[1], result. */
const FIELDS = 3;

/**
 * How a workload's non-number values become numbers in the recording thread
 * (`encode`, must not allocate) and JSON values again in the main thread
 * (`decode`). Both sides build the same coding from plain options.
 */
export interface ValueCoding {
  /** A number standing for `v` (a string, bigint, object, bytes...), or NaN when this coding has none for it. */
  encode(v: unknown): number;
  /** The JSON value `encode` mapped to `code`. */
  decode(code: number): JsonValue;
  /** `v` as a JSON value, for the intern table (called once per distinct value the coding does not know). */
  toJson(v: unknown): JsonValue;
}

/** A coding for workloads whose values are numbers, booleans and strings only: strings are interned. */
export const PLAIN_CODING: ValueCoding = {
  encode: () => NaN,
  decode: (code) => code,
  toJson: (v) => plainJson(v),
};

/** A JSON value for any map value: bigint as a number (or a string when unsafe), bytes as an array of numbers. */
export function plainJson(v: unknown): JsonValue {
  if (v === undefined || v === null) return null;
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  if (v instanceof Uint8Array) return Array.from(v);
  if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
  return v as JsonValue;
}

/** Default most entries in a recorder's intern table. */
export const DEFAULT_INTERN_MAX = 4096;

/** Why a recorder stopped: its own buffer or intern table filled, or its owner halted it (`halt`). */
export type StopReason = 'buffer full' | 'intern table full' | 'stopped with the other threads' | 'an op threw';

/** What a recorder hands to the main thread (structured-clonable: typed arrays cut to `count`). */
export interface RecordedOps {
  count: number;
  /** Ops not recorded because the buffer or the intern table was full (recording stopped then). */
  dropped: number;
  /** Why recording stopped, if it did. */
  stoppedBy: StopReason | undefined;
  /** Call time of the first op not recorded (Infinity while recording): every earlier op of the thread is here. */
  firstDroppedCall: number;
  op: Uint8Array;
  key: Int32Array;
  kinds: Uint8Array;
  vals: Float64Array;
  call: Float64Array;
  ret: Float64Array;
  interned: JsonValue[];
}

/**
 * One thread's history buffer. Preconditions: one recorder per thread, and
 * each `record` describes one completed call of that thread (calls of one
 * thread never overlap).
 */
export class HistoryRecorder {
  readonly capacity: number;
  count = 0;
  dropped = 0;
  stoppedBy: StopReason | undefined = undefined;
  /** Call time of the first op not recorded; Infinity while recording (see "Stopping, and the cut-off"). */
  firstDroppedCall = Infinity;
  readonly op: Uint8Array;
  readonly key: Int32Array;
  readonly kinds: Uint8Array;
  readonly vals: Float64Array;
  readonly call: Float64Array;
  readonly ret: Float64Array;
  readonly interned: JsonValue[] = [];
  private readonly internIndex = new Map<unknown, number>();
  private readonly internMax: number;
  private readonly coding: ValueCoding;
  /** performance.timeOrigin, read once (it is constant for the thread). */
  private readonly origin = performance.timeOrigin;

  /**
   * `capacity`: most ops kept. `preset`: values to intern before the run (so
   * `record` finds them without inserting), e.g. a scenario's value table.
   */
  constructor(
    capacity: number,
    coding: ValueCoding = PLAIN_CODING,
    preset: readonly unknown[] = [],
    internMax = DEFAULT_INTERN_MAX,
  ) {
    if (!Number.isInteger(capacity) || capacity < 0)
      throw new RangeError(`HistoryRecorder: capacity must be a non-negative integer, got ${capacity}`);
    this.capacity = capacity;
    this.coding = coding;
    this.internMax = Math.max(internMax, preset.length);
    this.op = new Uint8Array(capacity);
    this.key = new Int32Array(capacity);
    this.kinds = new Uint8Array(capacity * FIELDS);
    this.vals = new Float64Array(capacity * FIELDS);
    this.call = new Float64Array(capacity);
    this.ret = new Float64Array(capacity);
    for (const v of preset) this.intern(v);
  }

  /** The shared clock: `performance.timeOrigin + performance.now()` (see the module comment). */
  now(): number {
    return this.origin + performance.now();
  }

  /** A `performance.now()` reading taken in this thread, on the shared clock (adds `timeOrigin`). */
  stamp(nowMs: number): number {
    return this.origin + nowMs;
  }

  /** Whether `record` still keeps ops (false once the buffer or intern table filled). */
  get recording(): boolean {
    return this.stoppedBy === undefined;
  }

  /**
   * Records one completed op: `opCode` from REC_OP, `keyIndex` the caller's
   * index of the key, `a0`/`a1` the arguments after the key (undefined when
   * the op has fewer), `result` what it returned, `call`/`ret` from `now()`.
   * Returns false when it was dropped.
   */
  record(
    opCode: number,
    keyIndex: number,
    a0: unknown,
    a1: unknown,
    result: unknown,
    call: number,
    ret: number,
  ): boolean {
    if (this.stoppedBy !== undefined) {
      this.dropped++;
      return false;
    }
    const i = this.count;
    if (i >= this.capacity) return this.stop('buffer full', call);
    const f = i * FIELDS;
    if (!this.store(f, a0) || !this.store(f + 1, a1) || !this.store(f + 2, result))
      return this.stop('intern table full', call);
    this.op[i] = opCode;
    this.key[i] = keyIndex;
    this.call[i] = call;
    this.ret[i] = ret;
    this.count = i + 1;
    return true;
  }

  private stop(why: StopReason, call: number): false {
    this.halt(call, why);
    this.dropped++;
    return false;
  }

  /**
   * Stops recording from the op called at `call` on (that op and every later
   * one are dropped: pass the op to `record` too, so it is counted). Does
   * nothing when already stopped.
   */
  halt(call: number, why: StopReason): void {
    if (this.stoppedBy !== undefined) return;
    this.stoppedBy = why;
    this.firstDroppedCall = call;
  }

  /** Stores one value field; false when it needed a new intern entry and the table is full. */
  private store(f: number, v: unknown): boolean {
    switch (typeof v) {
      case 'undefined':
        this.kinds[f] = KIND_NONE;
        return true;
      case 'boolean':
        this.kinds[f] = v ? KIND_TRUE : KIND_FALSE;
        return true;
      case 'number':
        this.kinds[f] = KIND_NUM;
        this.vals[f] = v;
        return true;
      default: {
        if (v === null) {
          this.kinds[f] = KIND_NONE;
          return true;
        }
        const code = this.coding.encode(v);
        if (code === code) {
          this.kinds[f] = KIND_CODED;
          this.vals[f] = code;
          return true;
        }
        const ref = this.intern(v);
        if (ref < 0) return false;
        this.kinds[f] = KIND_REF;
        this.vals[f] = ref;
        return true;
      }
    }
  }

  /**
   * Index of `v` in the intern table, adding it if there is room (-1 if not).
   * Strings are looked up by content, which allocates nothing on a hit; other
   * values by their JSON text (allocates: only values the coding does not know).
   */
  private intern(v: unknown): number {
    const lookup = typeof v === 'string' || typeof v === 'number' ? v : JSON.stringify(this.coding.toJson(v));
    const found = this.internIndex.get(lookup);
    if (found !== undefined) return found;
    if (this.interned.length >= this.internMax) return -1;
    const ref = this.interned.length;
    this.interned.push(typeof v === 'string' ? v : this.coding.toJson(v));
    this.internIndex.set(lookup, ref);
    return ref;
  }

  /** The recorded ops, copied out and cut to `count`, for postMessage / a piscina result. */
  take(): RecordedOps {
    const n = this.count;
    return {
      count: n,
      dropped: this.dropped,
      stoppedBy: this.stoppedBy,
      firstDroppedCall: this.firstDroppedCall,
      op: this.op.slice(0, n),
      key: this.key.slice(0, n),
      kinds: this.kinds.slice(0, n * FIELDS),
      vals: this.vals.slice(0, n * FIELDS),
      call: this.call.slice(0, n),
      ret: this.ret.slice(0, n),
      interned: this.interned.slice(),
    };
  }

  /** Forgets every op (the buffer and intern table are kept): for a thread that records many short runs. */
  reset(): void {
    this.count = 0;
    this.dropped = 0;
    this.stoppedBy = undefined;
    this.firstDroppedCall = Infinity;
  }
}

function decodeField(rec: RecordedOps, f: number, coding: ValueCoding): JsonValue {
  switch (rec.kinds[f]) {
    case KIND_FALSE:
      return false;
    case KIND_TRUE:
      return true;
    case KIND_NUM:
      return rec.vals[f]!;
    case KIND_CODED:
      return coding.decode(rec.vals[f]!);
    case KIND_REF:
      return rec.interned[rec.vals[f]!]!;
    default:
      return null;
  }
}

const ARITY = [0, 0, 1, 0, 1, 2, 1];

/**
 * Turns one thread's recorded ops into history ops. `thread`: the number
 * written as the ops' thread; `keys[i]`: the history key of key index i;
 * `coding`: the coding the recorder used (only `decode` is called).
 */
export function decodeRecorded(
  rec: RecordedOps,
  thread: number,
  keys: (index: number) => HistoryKey,
  coding: ValueCoding = PLAIN_CODING,
): HistoryOp[] {
  const out: HistoryOp[] = new Array(rec.count);
  for (let i = 0; i < rec.count; i++) {
    const code = rec.op[i]!;
    const f = i * FIELDS;
    const args: JsonValue[] = [];
    for (let a = 0; a < ARITY[code]!; a++) args.push(decodeField(rec, f + a, coding));
    out[i] = {
      thread,
      op: OP_NAMES[code]!,
      key: keys(rec.key[i]!),
      args,
      result: code === REC_OP.set ? null : decodeField(rec, f + 2, coding),
      call: rec.call[i]!,
      ret: rec.ret[i]!,
    };
  }
  return out;
}

/** Where a set of recorders' histories is cut (see "Stopping, and the cut-off"). */
export interface HistoryCutoff {
  /** The least `firstDroppedCall` (shared-clock ms); Infinity when no recorder stopped. */
  at: number;
  /** Index (in the list given) of the recorder that stopped first, -1 when none did. */
  by: number;
  /** Why it stopped. */
  why: StopReason | undefined;
}

/** The cut-off of several recorders' histories: the earliest call any of them did not record. */
export function historyCutoff(recs: ReadonlyArray<Pick<RecordedOps, 'firstDroppedCall' | 'stoppedBy'>>): HistoryCutoff {
  let out: HistoryCutoff = { at: Infinity, by: -1, why: undefined };
  recs.forEach((r, i) => {
    if (r.firstDroppedCall < out.at) out = { at: r.firstDroppedCall, by: i, why: r.stoppedBy };
  });
  return out;
}

/**
 * Cuts a history at `cutoff` (shared-clock ms): drops every op called at or
 * after it and makes every op still in flight at it pending (`ret` Infinity,
 * result null). Returns the ops kept, how many were dropped, and how many of
 * those kept are pending (ops already pending stay pending).
 */
export function cutHistory(
  ops: readonly HistoryOp[],
  cutoff: number,
): { ops: HistoryOp[]; dropped: number; pending: number } {
  const kept: HistoryOp[] = [];
  let dropped = 0;
  let pending = 0;
  for (const op of ops) {
    if (op.call >= cutoff) {
      dropped++;
    } else if (op.ret >= cutoff) {
      pending++;
      kept.push({ ...op, result: null, ret: Infinity });
    } else {
      kept.push(op);
    }
  }
  return { ops: kept, dropped, pending };
}

/** Merges threads' histories into one, sorted by call time (the order `formatHistory` writes). */
export function mergeHistories(parts: readonly HistoryOp[][]): HistoryOp[] {
  const all = parts.flat();
  all.sort((a, b) => a.call - b.call || a.thread - b.thread);
  return all;
}

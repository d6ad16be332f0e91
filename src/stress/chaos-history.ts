/**
 * `stress --scenario chaos --history FILE`: a history of the ops chaos
 * threads make on the sampled keys, kept where a killed thread cannot take
 * it with it: one shared log that every task appends to, read by the
 * runner after every thread has stopped.
 *
 * Sampled keys: the counters (ids 0..CHAOS_COUNTERS-1: `add` from every
 * slot, the most contended keys of the run) and the first `keys` ids of the
 * shared space after them (get, set, delete, and update recorded as the
 * set of the value it stores). The chaos loop never gives a sampled shared
 * key a TTL, so no expiry removes one at a moment nobody records; the
 * drainer deletes only doomed keys, past the owned ones. The main thread
 * fills the shared space before any task starts: that fill is the
 * history's initial state (sets by thread 0). After every task has
 * stopped, the runner reads each sampled key once more (a thread after the
 * tasks' ids): the final state, which a pending op's effect must explain.
 *
 * One record per op, claimed with `Atomics.add` on the log's next-record
 * word, then filled with plain stores in this order: thread, op, key,
 * argument, then `call` (a record whose call is still NaN was claimed by a
 * thread killed before it called anything: skipped); then the op runs;
 * then `result`, then `ret`. A record whose `ret` is NaN is **pending**:
 * its thread was killed inside the op (or the op threw), and the op may or
 * may not have taken effect (src/race/history.ts, "Pending operations").
 * Each task gets its own history thread id (the log's task counter), so a
 * pending op is always its thread's last, even when piscina runs the next
 * task of the slot on a thread that lived on, or a task threw mid-op.
 * The runner reads the log only after every thread that wrote it has
 * stopped (Node joins a thread before its 'exit', and piscina's pool is
 * destroyed first), so it sees every store each thread made, in order.
 *
 * When the log is full, a thread that cannot claim a record sets the stop
 * word, and from then on no thread records; each slot notes the call time
 * of its first op not recorded, and the history is cut at the least of
 * those (src/race/recorder.ts, "Stopping, and the cut-off").
 */
import { performance } from 'node:perf_hooks';
import type { HistoryOp, HistoryOpName } from '../race/history.js';

/** Float64 words per record. */
const REC_WORDS = 8;
const F_THREAD = 0;
const F_OP = 1;
const F_KEY = 2;
const F_ARG = 3;
const F_RESULT = 4;
const F_CALL = 5;
const F_RET = 6;

/** Int32 header words. */
const H_NEXT = 0;
const H_STOP = 1;
const H_TASKS = 2;
const H_CAPACITY = 3;
const H_SLOTS = 4;
const HEADER_BYTES = 64;

/** Op codes in F_OP. Results: NaN for null (undefined); booleans as 0 / 1. */
const OPS: readonly HistoryOpName[] = ['get', 'set', 'delete', 'add'];
export const HOP_GET = 0;
export const HOP_SET = 1;
export const HOP_DELETE = 2;
export const HOP_ADD = 3;

/** Bytes of a log for `capacity` records and `slots` slots. */
export function chaosHistoryBytes(capacity: number, slots: number): number {
  return HEADER_BYTES + slots * 8 + capacity * REC_WORDS * 8;
}

/** Creates a log (main thread): every record's call and ret NaN, every slot's first-dropped call +Infinity. */
export function createChaosHistory(capacity: number, slots: number): SharedArrayBuffer {
  const buffer = new SharedArrayBuffer(chaosHistoryBytes(capacity, slots));
  const header = new Int32Array(buffer, 0, HEADER_BYTES / 4);
  header[H_CAPACITY] = capacity;
  header[H_SLOTS] = slots;
  const log = new ChaosHistoryLog(buffer);
  log.firstDropped.fill(Infinity);
  log.recs.fill(NaN);
  return buffer;
}

/** Views over a log, and the recording side (one per task). */
export class ChaosHistoryLog {
  readonly i32: Int32Array;
  /** Per slot: call time of the first op not recorded (+Infinity while recording). Plain stores by the slot's task. */
  readonly firstDropped: Float64Array;
  readonly recs: Float64Array;
  /** This task's history thread id (1, 2, ...; 0 is the main thread's initial state). */
  private thread = -1;
  private readonly origin = performance.timeOrigin;
  /** The record of the op in progress (-1: none, or not recorded). */
  private at = -1;

  constructor(readonly buffer: SharedArrayBuffer) {
    this.i32 = new Int32Array(buffer, 0, HEADER_BYTES / 4);
    const slots = this.i32[H_SLOTS]!;
    this.firstDropped = new Float64Array(buffer, HEADER_BYTES, slots);
    const recOff = HEADER_BYTES + slots * 8;
    this.recs = new Float64Array(buffer, recOff, (buffer.byteLength - recOff) >> 3);
  }

  /** A task starts: takes its history thread id. */
  startTask(): void {
    this.thread = Atomics.add(this.i32, H_TASKS, 1) + 1;
  }

  /**
   * Before an op on a sampled key: claims and fills its record (everything
   * but the result and the return). Precondition: `startTask` was called.
   */
  begin(slot: number, op: number, key: number, arg: number): void {
    const call = this.origin + performance.now();
    this.at = -1;
    if (Atomics.load(this.i32, H_STOP) !== 0) {
      this.dropped(slot, call);
      return;
    }
    const i = Atomics.add(this.i32, H_NEXT, 1);
    if (i >= this.i32[H_CAPACITY]!) {
      Atomics.store(this.i32, H_STOP, 1);
      this.dropped(slot, call);
      return;
    }
    const r = this.recs;
    const f = i * REC_WORDS;
    r[f + F_THREAD] = this.thread;
    r[f + F_OP] = op;
    r[f + F_KEY] = key;
    r[f + F_ARG] = arg;
    r[f + F_CALL] = call; // the record is valid from here on; pending until F_RET
    this.at = f;
  }

  /** After the op returned: its result (undefined: null; booleans as 0 / 1), then the return time. */
  end(result: number | boolean | undefined): void {
    const f = this.at;
    if (f < 0) return;
    this.recs[f + F_RESULT] = result === undefined ? NaN : +result;
    this.recs[f + F_RET] = this.origin + performance.now();
    this.at = -1;
  }

  private dropped(slot: number, call: number): void {
    if (this.firstDropped[slot] === Infinity) this.firstDropped[slot] = call;
  }
}

/** What the runner reads back: the ops (pending ones with `ret` Infinity), and where the history must be cut. */
export interface ChaosHistoryRead {
  ops: HistoryOp[];
  /** Records claimed but never filled (a thread killed between claiming and calling): left out. */
  unfilled: number;
  /** Ops killed (or thrown) in flight: pending. */
  pending: number;
  /** The least first-dropped call of any slot (+Infinity: nothing was dropped). */
  cutoff: number;
  /** Whether the log filled up. */
  full: boolean;
  /** History thread ids the tasks took (1..tasks). */
  tasks: number;
}

/** Reads a log. Precondition: every thread that wrote it has stopped (module comment). */
export function readChaosHistory(buffer: SharedArrayBuffer): ChaosHistoryRead {
  const log = new ChaosHistoryLog(buffer);
  const n = Math.min(log.i32[H_NEXT]!, log.i32[H_CAPACITY]!);
  const r = log.recs;
  const ops: HistoryOp[] = [];
  let unfilled = 0;
  let pending = 0;
  for (let i = 0; i < n; i++) {
    const f = i * REC_WORDS;
    const call = r[f + F_CALL]!;
    if (Number.isNaN(call)) {
      unfilled++;
      continue;
    }
    const code = r[f + F_OP]!;
    const op = OPS[code]!;
    const ret = r[f + F_RET]!;
    const done = !Number.isNaN(ret);
    if (!done) pending++;
    const raw = r[f + F_RESULT]!;
    let result: HistoryOp['result'] = null;
    if (done && code === HOP_DELETE) result = raw === 1;
    else if (done && code !== HOP_SET && !Number.isNaN(raw)) result = raw;
    ops.push({
      thread: r[f + F_THREAD]!,
      op,
      key: r[f + F_KEY]!,
      args: code === HOP_GET || code === HOP_DELETE ? [] : [r[f + F_ARG]!],
      result,
      call,
      ret: done ? ret : Infinity,
    });
  }
  let cutoff = Infinity;
  for (const c of log.firstDropped) cutoff = Math.min(cutoff, c);
  return {
    ops,
    unfilled,
    pending,
    cutoff,
    full: Atomics.load(log.i32, H_STOP) !== 0,
    tasks: Atomics.load(log.i32, H_TASKS),
  };
}

/**
 * The race checker's log: a fixed array of records inside the map's buffer,
 * shared by every thread.
 *
 * Any thread appends: it claims record number `Atomics.add(H_LOG_NEXT, 1)`;
 * when that is past the end, it counts the record in `H_LOG_OVERFLOW` instead
 * (the first records are kept: they are the ones closest to the cause). It
 * writes the record's fields with plain stores and publishes it last with
 * `Atomics.store(R_READY, 1)`; a reader takes a record only after
 * `Atomics.load(R_READY) === 1`, so it never sees half a record. A thread
 * that dies between claiming a record and publishing it leaves it
 * unpublished for good: the record is dropped (readers skip it; its fields
 * are unknown, so nobody could complete it), while its kind was already
 * counted in the tally.
 *
 * After the records, the log's tally (layout.ts, T_*): conflicts by kind,
 * recorded or dropped, and an events word that every append bumps and
 * notifies, so that a follower (src/metrics/follow.ts) sleeps on it in
 * `Atomics.waitAsync` instead of polling. Both are on the conflict path only;
 * the map's operations never touch them.
 */
import {
  H_LOG_CAP,
  H_LOG_NEXT,
  H_LOG_OFF,
  H_LOG_OVERFLOW,
  LOG_KEY_BYTES,
  R_DET_KEY,
  R_DET_KEY_LEN,
  R_DET_OP,
  R_DET_THREAD,
  R_KIND,
  R_OTHER_KEY,
  R_OTHER_KEY_LEN,
  R_OTHER_OP,
  R_OTHER_SEQ,
  R_OTHER_THREAD,
  R_READY,
  R_SEQ_NOW,
  R_SEQ_SEEN,
  R_SHARD,
  R_TIME_F64_WORD,
  T_BY_KIND,
  T_EVENTS,
  T_KINDS,
  logTallyI32,
  recordI32,
} from './layout.js';
import { writeText } from './codec.js';
import type { Views } from './views.js';
import type { ConflictKind, ConflictRecord, OpName } from './types.js';

/** Op codes stored in last-writer fields and records. Index = code. */
export const OP_NAMES: readonly OpName[] = [
  'unknown',
  'get',
  'has',
  'set',
  'delete',
  'clear',
  'putIfAbsent',
  'compareAndSet',
  'update',
  'add',
  'sweep',
  'iterate',
  'snapshot',
  'rehash',
  'recover',
];
export const OP = Object.fromEntries(OP_NAMES.map((n, i) => [n, i])) as Record<OpName, number>;

/** Kind codes. Index = code. */
export const KIND_NAMES: readonly ConflictKind[] = [
  'concurrent map writes',
  'concurrent map read and map write',
  'concurrent map iteration and map write',
  'thread died holding a shard lock',
];
export const KIND_WRITES = 0;
export const KIND_READ = 1;
export const KIND_ITERATION = 2;
/** A recovery: `other` is the dead thread and its op, `detector` the recovering thread. */
export const KIND_THREAD_DIED = 3;

/** The shared clock: ms since the epoch, comparable across the threads of one process. */
export function sharedNow(): number {
  return performance.timeOrigin + performance.now();
}

export interface ConflictInput {
  kind: number;
  shard: number;
  detThread: number;
  detOp: number;
  detKey: string;
  seqSeen: number;
  seqNow: number;
  otherThread: number;
  otherOp: number;
  otherKey: string;
  otherSeq: number;
}

/** Appends a record (or counts an overflow). Any thread, no lock. */
export function appendConflict(views: Views, c: ConflictInput): void {
  const i32 = views.i32;
  const cap = i32[H_LOG_CAP]!;
  const tally = logTallyI32(i32[H_LOG_OFF]!, cap);
  Atomics.add(i32, tally + T_BY_KIND + Math.min(c.kind, T_KINDS - 1), 1);
  const n = Atomics.add(i32, H_LOG_NEXT, 1);
  if (n >= cap) {
    Atomics.add(i32, H_LOG_OVERFLOW, 1);
    logEvent(i32, tally);
    return;
  }
  const r = recordI32(i32[H_LOG_OFF]!, n);
  i32[r + R_KIND] = c.kind;
  i32[r + R_SHARD] = c.shard;
  i32[r + R_DET_THREAD] = c.detThread;
  i32[r + R_DET_OP] = c.detOp;
  i32[r + R_SEQ_SEEN] = c.seqSeen;
  i32[r + R_SEQ_NOW] = c.seqNow;
  i32[r + R_OTHER_THREAD] = c.otherThread;
  i32[r + R_OTHER_OP] = c.otherOp;
  i32[r + R_OTHER_SEQ] = c.otherSeq;
  views.f64[(r + R_TIME_F64_WORD) >> 1] = sharedNow();
  i32[r + R_DET_KEY_LEN] = writeText(views.u8, (r + R_DET_KEY) << 2, c.detKey, LOG_KEY_BYTES);
  i32[r + R_OTHER_KEY_LEN] = writeText(views.u8, (r + R_OTHER_KEY) << 2, c.otherKey, LOG_KEY_BYTES);
  Atomics.store(i32, r + R_READY, 1);
  logEvent(i32, tally);
}

/** Wakes the log's followers: a record was published or dropped. */
function logEvent(i32: Int32Array, tally: number): void {
  Atomics.add(i32, tally + T_EVENTS, 1);
  Atomics.notify(i32, tally + T_EVENTS);
}

/** Every complete record, oldest first. */
export function readConflicts(views: Views): ConflictRecord[] {
  const n = Math.min(Atomics.load(views.i32, H_LOG_NEXT), views.i32[H_LOG_CAP]!);
  const out: ConflictRecord[] = [];
  for (let k = 0; k < n; k++) {
    const record = readConflict(views, k);
    if (record !== undefined) out.push(record);
  }
  return out;
}

/** Record number `k` (0 = oldest), or undefined while it is still being written (or was never claimed). */
export function readConflict(views: Views, k: number): ConflictRecord | undefined {
  const i32 = views.i32;
  if (k < 0 || k >= i32[H_LOG_CAP]!) return undefined;
  const r = recordI32(i32[H_LOG_OFF]!, k);
  if (Atomics.load(i32, r + R_READY) !== 1) return undefined;
  const text = (word: number, len: number) =>
    views.bufFor((word << 2) + len).toString('utf8', word << 2, (word << 2) + len);
  return {
    kind: KIND_NAMES[i32[r + R_KIND]!] ?? 'concurrent map writes',
    time: views.f64[(r + R_TIME_F64_WORD) >> 1]!,
    shard: i32[r + R_SHARD]!,
    detector: {
      thread: i32[r + R_DET_THREAD]!,
      op: OP_NAMES[i32[r + R_DET_OP]!] ?? 'unknown',
      key: text(r + R_DET_KEY, i32[r + R_DET_KEY_LEN]!),
      seqSeen: i32[r + R_SEQ_SEEN]!,
      seqNow: i32[r + R_SEQ_NOW]!,
    },
    other: {
      thread: i32[r + R_OTHER_THREAD]!,
      op: OP_NAMES[i32[r + R_OTHER_OP]!] ?? 'unknown',
      key: text(r + R_OTHER_KEY, i32[r + R_OTHER_KEY_LEN]!),
      seq: i32[r + R_OTHER_SEQ]!,
    },
  };
}

/**
 * The log's position, for a follower: `claimed` records numbers handed out so
 * far (complete or not, dropped ones included), `overflowed` the dropped
 * ones, `events` the events word (wait on it at `logEventsI32`), `byKind`
 * conflicts detected per kind code (recorded or dropped).
 */
export function logPosition(views: Views): { claimed: number; overflowed: number; events: number; byKind: number[] } {
  const i32 = views.i32;
  const tally = logTallyI32(i32[H_LOG_OFF]!, i32[H_LOG_CAP]!);
  const events = Atomics.load(i32, tally + T_EVENTS);
  const byKind: number[] = [];
  for (let k = 0; k < T_KINDS; k++) byKind.push(Atomics.load(i32, tally + T_BY_KIND + k));
  return {
    claimed: Atomics.load(i32, H_LOG_NEXT),
    overflowed: Atomics.load(i32, H_LOG_OVERFLOW),
    events,
    byKind,
  };
}

/** Word index of the log's events word (layout.ts T_EVENTS), to wait on. */
export function logEventsI32(views: Views): number {
  return logTallyI32(views.i32[H_LOG_OFF]!, views.i32[H_LOG_CAP]!) + T_EVENTS;
}

/** Records written (complete or not) and records dropped. */
export function conflictCounts(views: Views): { recorded: number; overflowed: number } {
  const i32 = views.i32;
  return {
    recorded: Math.min(Atomics.load(i32, H_LOG_NEXT), i32[H_LOG_CAP]!),
    overflowed: Atomics.load(i32, H_LOG_OVERFLOW),
  };
}

/**
 * The race checker's log: a fixed array of records inside the map's buffer,
 * shared by every thread.
 *
 * Any thread appends: it claims record number `Atomics.add(H_LOG_NEXT, 1)`;
 * when that is past the end, it counts the record in `H_LOG_OVERFLOW` instead
 * (the first records are kept: they are the ones closest to the cause). It
 * writes the record's fields with plain stores and publishes it last with
 * `Atomics.store(R_READY, 1)`; a reader takes a record only after
 * `Atomics.load(R_READY) === 1`, so it never sees half a record.
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
  recordI32,
} from './layout.js';
import { writeText, type Views } from './codec.js';
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
];
export const OP = Object.fromEntries(OP_NAMES.map((n, i) => [n, i])) as Record<OpName, number>;

/** Kind codes. Index = code. */
export const KIND_NAMES: readonly ConflictKind[] = [
  'concurrent map writes',
  'concurrent map read and map write',
  'concurrent map iteration and map write',
];
export const KIND_WRITES = 0;
export const KIND_READ = 1;
export const KIND_ITERATION = 2;

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
export function appendConflict(v: Views, c: ConflictInput): void {
  const i32 = v.i32;
  const cap = i32[H_LOG_CAP]!;
  const n = Atomics.add(i32, H_LOG_NEXT, 1);
  if (n >= cap) {
    Atomics.add(i32, H_LOG_OVERFLOW, 1);
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
  v.f64[(r + R_TIME_F64_WORD) >> 1] = sharedNow();
  i32[r + R_DET_KEY_LEN] = writeText(v.u8, (r + R_DET_KEY) << 2, c.detKey, LOG_KEY_BYTES);
  i32[r + R_OTHER_KEY_LEN] = writeText(v.u8, (r + R_OTHER_KEY) << 2, c.otherKey, LOG_KEY_BYTES);
  Atomics.store(i32, r + R_READY, 1);
}

/** Every complete record, oldest first. */
export function readConflicts(v: Views): ConflictRecord[] {
  const i32 = v.i32;
  const n = Math.min(Atomics.load(i32, H_LOG_NEXT), i32[H_LOG_CAP]!);
  const out: ConflictRecord[] = [];
  for (let k = 0; k < n; k++) {
    const r = recordI32(i32[H_LOG_OFF]!, k);
    if (Atomics.load(i32, r + R_READY) !== 1) continue;
    const text = (word: number, len: number) =>
      v.bufFor((word << 2) + len).toString('utf8', word << 2, (word << 2) + len);
    out.push({
      kind: KIND_NAMES[i32[r + R_KIND]!] ?? 'concurrent map writes',
      time: v.f64[(r + R_TIME_F64_WORD) >> 1]!,
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
    });
  }
  return out;
}

/** Records written (complete or not) and records dropped. */
export function conflictCounts(v: Views): { recorded: number; overflowed: number } {
  const i32 = v.i32;
  return {
    recorded: Math.min(Atomics.load(i32, H_LOG_NEXT), i32[H_LOG_CAP]!),
    overflowed: Atomics.load(i32, H_LOG_OVERFLOW),
  };
}

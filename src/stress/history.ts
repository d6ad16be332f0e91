/**
 * `stress --history FILE`: which keys are recorded, how a stress value
 * becomes a number in the recording worker (no allocation) and a JSON value
 * again in the main thread, and the main-thread side: merge the workers'
 * records into one history and (with `--check`) check it.
 *
 * Sampled keys: ids 0 .. historyKeys-1 of the shared key space. Those are the
 * hottest keys of every distribution (zipf's first ranks, hot:P's hot set,
 * the counters scenario's counter keys) and, being shared, every worker
 * touches them, so the history is contended. Every op a worker makes on a
 * sampled key is recorded: get, set, delete, add, and update (the stress
 * update on a shared key always stores a new value, so it is recorded as
 * the `set` of that value: the same sequential effect and result).
 * Sweeps and range-deletes skip sampled keys while recording, because a
 * deletion nobody recorded would make a correct history look wrong.
 */
import { performance } from 'node:perf_hooks';
import type { ValueType } from '../shm/types.js';
import type { HistoryKey, HistoryOp } from '../race/history.js';
import {
  decodeRecorded,
  mergeHistories,
  plainJson,
  PLAIN_CODING,
  type RecordedOps,
  type ValueCoding,
} from '../race/recorder.js';
import { checkLinearizability, type LinearizabilityResult } from '../race/linearizability.js';
import type { KeyCodec } from './keys.js';

/** Default sampled keys (`--history-keys`). */
export const DEFAULT_HISTORY_KEYS = 64;
/** Default recorder capacity per worker, ops (`--history-buffer`): ~56 bytes an op, so 14 MiB per worker. */
export const DEFAULT_HISTORY_BUFFER = 1 << 18;

/** Base-36 strings of at most this many characters are coded as numbers (36^9 * 16 < 2^53). */
const MAX_B36 = 9;

/**
 * The coding of stress values of `type` (see keys.ts valueCodec): numbers
 * are stored as themselves; `string:N` values (base-36 counters) as their
 * integer times 16 plus their length; `bytes:N` values (up to 6 bytes,
 * little-endian counters) as their integer times 8 plus their length;
 * `json:N` values `{w, n}` as n * 1024 + w; bigint64 as the number. Anything
 * else (a torn value under `sync: 'none'`) goes to the recorder's intern table.
 */
export function stressCoding(type: ValueType): ValueCoding {
  if (type.startsWith('string:')) {
    return {
      encode(v) {
        if (typeof v !== 'string' || v.length === 0 || v.length > MAX_B36) return NaN;
        let n = 0;
        for (let i = 0; i < v.length; i++) {
          const c = v.charCodeAt(i);
          const d = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 122 ? c - 87 : -1;
          if (d < 0) return NaN;
          n = n * 36 + d;
        }
        return n * 16 + v.length;
      },
      decode(code) {
        const len = code % 16;
        return Math.floor(code / 16)
          .toString(36)
          .padStart(len, '0');
      },
      toJson: plainJson,
    };
  }
  if (type.startsWith('bytes:')) {
    return {
      encode(v) {
        if (!(v instanceof Uint8Array) || v.length > 6) return NaN;
        let n = 0;
        for (let i = v.length - 1; i >= 0; i--) n = n * 256 + v[i]!;
        return n * 8 + v.length;
      },
      decode(code) {
        const len = code % 8;
        const out: number[] = [];
        for (let i = 0, x = Math.floor(code / 8); i < len; i++, x = Math.floor(x / 256)) out.push(x % 256);
        return out;
      },
      toJson: plainJson,
    };
  }
  if (type.startsWith('json:')) {
    return {
      encode(v) {
        const o = v as { w?: unknown; n?: unknown } | null;
        if (typeof o !== 'object' || o === null) return NaN;
        const { w, n } = o;
        if (
          typeof w !== 'number' ||
          typeof n !== 'number' ||
          !Number.isInteger(w) ||
          !Number.isInteger(n) ||
          w < 0 ||
          w >= 1024 ||
          n < 0 ||
          n > 2 ** 42
        )
          return NaN;
        return n * 1024 + w;
      },
      decode: (code) => ({ w: code % 1024, n: Math.floor(code / 1024) }),
      toJson: plainJson,
    };
  }
  if (type === 'bigint64') {
    return {
      encode: (v) => (typeof v === 'bigint' && v >= -(2n ** 53n) && v <= 2n ** 53n ? Number(v) : NaN),
      decode: (code) => code,
      toJson: plainJson,
    };
  }
  return PLAIN_CODING;
}

/** The history key of key id `id`: the map key itself when it is a number or string, else the id (bigint64, bytes:N keys). */
export function historyKey(kc: KeyCodec, id: number): HistoryKey {
  const k = kc.key(id);
  return typeof k === 'number' || typeof k === 'string' ? k : id;
}

/** The part of SharedMap `recordInitialState` uses. */
interface InitialStateMap {
  get(key: unknown): unknown;
  set(key: unknown, value: unknown): unknown;
}

/**
 * The state the sampled keys start in, as history ops. The runner fills the
 * shared key space before the workers start, and a history is checked from
 * missing keys, so the main thread sets each present sampled key again to
 * the value it holds (no change to the map), stamped like any recorded op,
 * as thread `thread` (one past the last worker). Call it after the fill and
 * before the workers start.
 */
export function recordInitialState(map: InitialStateMap, kc: KeyCodec, keys: number, thread: number): HistoryOp[] {
  const origin = performance.timeOrigin;
  const ops: HistoryOp[] = [];
  for (let id = 0; id < keys; id++) {
    const key = kc.key(id);
    const value = map.get(key);
    if (value === undefined) continue;
    const call = origin + performance.now();
    map.set(key, value);
    const ret = origin + performance.now();
    ops.push({ thread, op: 'set', key: historyKey(kc, id), args: [plainJson(value)], result: null, call, ret });
  }
  return ops;
}

/** What the stress summary says about the history. */
export interface StressHistory {
  /** Keys sampled (ids 0 .. keys-1). */
  keys: number;
  /** Ops recorded over all workers. */
  recorded: number;
  /** Initial-state sets by the main thread (recordInitialState), also in `ops`. */
  initial: number;
  /** Ops not recorded because a worker's buffer (or intern table) filled; recording stopped there. */
  dropped: number;
  /** Workers whose recording stopped early: index, why, ops dropped. */
  stopped: Array<{ worker: number; why: string; dropped: number }>;
  /** The merged history, sorted by call (written with formatHistory). */
  ops: HistoryOp[];
  /** The checker's verdict, with `--check`. */
  check?: LinearizabilityResult;
}

/**
 * Merges the initial state and the workers' records (thread = worker index) and, when `check`,
 * checks the history (a violation fails the run; unknown is reported only).
 */
export async function collectHistory(
  initial: HistoryOp[],
  records: Array<RecordedOps | undefined>,
  keys: number,
  kc: KeyCodec,
  valueType: ValueType,
  check: { timeoutMs: number } | undefined,
): Promise<StressHistory> {
  const coding = stressCoding(valueType);
  const key = (id: number): HistoryKey => historyKey(kc, id);
  const parts: HistoryOp[][] = [initial];
  const stopped: StressHistory['stopped'] = [];
  let dropped = 0;
  records.forEach((rec, worker) => {
    if (rec === undefined) return;
    parts.push(decodeRecorded(rec, worker, key, coding));
    dropped += rec.dropped;
    if (rec.stoppedBy !== undefined) stopped.push({ worker, why: rec.stoppedBy, dropped: rec.dropped });
  });
  const ops = mergeHistories(parts);
  const out: StressHistory = {
    keys,
    recorded: ops.length - initial.length,
    initial: initial.length,
    dropped,
    stopped,
    ops,
  };
  if (check !== undefined) out.check = await checkLinearizability(ops, { timeoutMs: check.timeoutMs });
  return out;
}

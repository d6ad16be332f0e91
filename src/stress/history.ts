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
 *
 * ## Completeness: every write to a sampled key is in the history, up to the cut-off
 *
 * A history that misses a write makes a correct map look wrong (a read
 * returns a value no recorded op wrote), so every source of writes to a
 * sampled key is accounted for:
 * - **The main thread** fills the key space before the workers start;
 *   `recordInitialState` records the sampled keys' state as sets by the main
 *   thread (thread `workers`) after the fill and before any worker starts.
 * - **Workers** record every single-key op on a sampled key (`Run.recordedOp`).
 * - **Sweeps and range-deletes** (the `sweep` and `range-delete` handlers,
 *   `sweep` in `--mix`) skip sampled keys (`Run.doomed`): a deletion nobody
 *   recorded would make a correct history look wrong.
 * - **The delete-queue drainer** deletes only the enqueuers' doomed keys,
 *   ids past the owned keys (./scenarios/delete-queue.ts, `doomedBase`), never a sampled id.
 * - **TTL expiry and lease retirement** remove entries at moments nobody
 *   records: the `ttl` and `lease` scenarios write every key they sample
 *   that way, so `--history` refuses them (./validate.ts) rather than
 *   sample keys whose writes it cannot see.
 *
 * ## The cut-off
 *
 * Each worker records into its own preallocated buffer. When the first one
 * stops (its buffer or intern table filled, or an op threw), it sets a stop
 * word in the control block that every worker loads before each recorded
 * op, and they all stop recording (src/race/recorder.ts, "Stopping, and the
 * cut-off"). The merged history is cut at the earliest call any worker did
 * not record: every op called from then on is dropped from every worker's
 * history, and the ops in flight at that moment are kept as pending (no
 * `ret`: they may or may not have taken effect). Without the common cut, a
 * worker whose buffer filled early would go on writing unrecorded values
 * that the others' recorded reads return: false violations (the checker
 * saw `set(83720)` then the same thread's `get() → 96628`). A worker that
 * left no records at all (its task lost) cuts the history before any worker
 * op: only the initial state remains.
 */
import { performance } from 'node:perf_hooks';
import type { ValueType } from '../shm/types.js';
import type { HistoryKey, HistoryOp } from '../race/history.js';
import {
  cutHistory,
  decodeRecorded,
  historyCutoff,
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
  /** Ops the workers recorded (before the cut-off was applied). */
  recorded: number;
  /** Initial-state sets by the main thread (recordInitialState), also in `ops`. */
  initial: number;
  /** Ops in the history, checked with `--check`: the initial sets and every worker op called before the cut-off. */
  checked: number;
  /** Of those, pending: in flight at the cut-off (no `ret`). */
  pending: number;
  /** Ops on sampled keys left out of the history: never recorded (a worker had stopped) or recorded but called at or after the cut-off. */
  dropped: number;
  /** Where the history was cut, if it was: every worker op called from `at` on is dropped. */
  cutoff?: {
    /** Shared-clock ms (performance.timeOrigin + performance.now()). */
    at: number;
    /** ms after the workers started (negative or 0: before any worker op). */
    afterStartMs: number;
    /** The worker whose recording stopped first (-1: a worker left no records). */
    worker: number;
    why: string;
  };
  /** Workers whose recording stopped early: index, why, ops it did not record. */
  stopped: Array<{ worker: number; why: string; dropped: number }>;
  /** The merged history, sorted by call (written with formatHistory). */
  ops: HistoryOp[];
  /** The checker's verdict, with `--check`. */
  check?: LinearizabilityResult;
}

/**
 * Merges the initial state and the workers' records (thread = worker index),
 * cut at the common cut-off (module comment), and, when `check`, checks the
 * history (a violation fails the run; unknown is reported only).
 * `records[w]` undefined: worker w left no records (its task was lost).
 * `startedAt`: when the workers started, shared-clock ms (for the report).
 */
export async function collectHistory(
  initial: HistoryOp[],
  records: Array<RecordedOps | undefined>,
  keys: number,
  kc: KeyCodec,
  valueType: ValueType,
  check: { timeoutMs: number } | undefined,
  startedAt = NaN,
): Promise<StressHistory> {
  const coding = stressCoding(valueType);
  const key = (id: number): HistoryKey => historyKey(kc, id);
  const parts: HistoryOp[][] = [];
  const stopped: StressHistory['stopped'] = [];
  let unrecorded = 0;
  let recorded = 0;
  const present: RecordedOps[] = [];
  records.forEach((rec, worker) => {
    if (rec === undefined) return;
    present.push(rec);
    parts.push(decodeRecorded(rec, worker, key, coding));
    recorded += rec.count;
    unrecorded += rec.dropped;
    if (rec.stoppedBy !== undefined) stopped.push({ worker, why: rec.stoppedBy, dropped: rec.dropped });
  });
  let cut = historyCutoff(records.map((rec) => rec ?? { firstDroppedCall: Infinity, stoppedBy: undefined }));
  let cutWhy = cut.why as string | undefined;
  const lost = records.findIndex((rec) => rec === undefined);
  if (lost !== -1) {
    cut = { at: -Infinity, by: lost, why: undefined };
    cutWhy = `worker ${lost} left no records`;
  }
  const kept = cutHistory(parts.flat(), cut.at);
  const ops = mergeHistories([initial, kept.ops]);
  const out: StressHistory = {
    keys,
    recorded,
    initial: initial.length,
    checked: ops.length,
    pending: kept.pending,
    dropped: unrecorded + kept.dropped,
    stopped,
    ops,
  };
  if (cut.by !== -1) {
    out.cutoff = {
      at: cut.at,
      afterStartMs: cut.at - startedAt,
      worker: lost !== -1 ? -1 : cut.by,
      why: cutWhy ?? 'stopped',
    };
  }
  if (check !== undefined) out.check = await checkLinearizability(ops, { timeoutMs: check.timeoutMs });
  return out;
}

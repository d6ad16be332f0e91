/**
 * Histories: what each thread asked a map and what it got, with when it asked
 * and when it got the answer. The linearizability checker (linearizability.ts)
 * reads them; `stress --history` and `lincheck` write them.
 *
 * ## Format (the contract; other tools read and write it)
 *
 * JSON Lines, one operation per line:
 *
 *     {"thread": 3, "op": "set", "key": "k7", "args": [42], "result": null, "call": 1200, "ret": 1350}
 *     {"thread": 4, "op": "add", "key": "k7", "args": [1], "call": 1300}
 *
 * The first is a completed op; the second is pending (below).
 *
 * - `thread`: a non-negative integer naming the thread that made the call.
 * - `op`: one of `get`, `has`, `set`, `delete`, `putIfAbsent`, `compareAndSet`, `add`.
 * - `key`: a string or a number, as it appears in the JSON. `"1"` and `1` are
 *   different keys.
 * - `args`: the arguments after the key (`set`: [value]; `putIfAbsent`:
 *   [value]; `compareAndSet`: [expected, next]; `add`: [delta]; the rest: []).
 * - `result`: what the call returned; `undefined` is written as `null`.
 * - `call`, `ret`: when the call started and when it returned, on one clock
 *   shared by every thread (below). `call <= ret`.
 *
 * ## Pending operations
 *
 * An op with no `ret` (or `"ret": null`) is **pending**: it was called and
 * its return was never seen — the history was cut off while it was in flight
 * (`stress --history` cuts every thread's recording at one common point), or
 * its thread was killed inside it. Its `result` must be absent or null. The
 * checker treats it as Herlihy and Wing do an op that has not returned: it
 * may have taken effect at any moment after its call, or not at all, and its
 * result is not checked. A thread makes one call at a time, so a pending op
 * must be its thread's last. In memory (`HistoryOp`), a pending op has
 * `ret: Infinity` (`isPending`), so every "returned before" comparison is
 * false for it without a special case; `formatHistoryLine` writes it back
 * as `"ret": null`.
 *
 * Other fields are ignored, so recorders may add their own (a sequence
 * number, a run id). Blank lines are skipped.
 *
 * ## The clock
 *
 * `call` and `ret` are milliseconds of `performance.timeOrigin +
 * performance.now()`, read in the recording thread. `performance.now()` is
 * monotonic (it reads the OS's monotonic clock, `uv_hrtime`, never the wall
 * clock, so NTP steps cannot move it backwards), and adding the origin puts
 * every thread of the process on one base. On Node 20.20 here, a worker's
 * `performance.timeOrigin` is the main thread's (the process's) origin, and
 * its `performance.now()` counts from that same origin, so the sum is one
 * clock for all threads; where a Node version gives each worker its own
 * origin, the sum still lands on the shared monotonic base. Checked by
 * experiment: workers started 150 ms apart reported the main thread's origin
 * exactly, and each worker woken by an `Atomics.notify` stamped a time 0.26 to
 * 1.8 ms after the time the main thread stamped just before notifying — never
 * earlier. The sum is about 1.8e12 ms, where a double resolves 2^-12 ms
 * (0.24 us), finer than the operations being timed.
 *
 * What the checker relies on: if one operation's `ret` is less than
 * another's `call`, the first really finished before the second started
 * (real-time order). Equal stamps are treated as overlapping, which can only
 * make the checker more lenient, never report a false violation.
 *
 * ## The sequential model
 *
 * A map from key to value. Values are JSON values compared by deep equality
 * (through a canonical JSON string: object keys sorted). `get` returns the
 * value or null; `has` a boolean; `set` returns null; `delete` returns whether
 * the key was present; `putIfAbsent` returns the existing value or null (and
 * inserts when the key was missing); `compareAndSet(expected, next)` returns
 * whether the value equalled `expected` (and then sets `next`) — `expected`
 * null matches a missing key; `add(delta)` returns the new value (a missing key
 * counts as 0; `add` on a non-number value cannot happen).
 *
 * Because `undefined` is written as null, a stored `null` value and a missing
 * key read the same through `get`; `has` tells them apart.
 */

/** A JSON value, as `JSON.parse` produces it. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** A map key in a history: a string or a number, as written in the JSON. */
export type HistoryKey = string | number;

/** The operations a history can hold. */
export type HistoryOpName = 'get' | 'has' | 'set' | 'delete' | 'putIfAbsent' | 'compareAndSet' | 'add';

/** One operation: one line of a history file (completed, or pending: `ret` Infinity). */
export interface HistoryOp {
  /** The thread that made the call (a non-negative integer). */
  thread: number;
  op: HistoryOpName;
  key: HistoryKey;
  /** The arguments after the key. */
  args: JsonValue[];
  /** What the call returned; `undefined` is null. Null (and not checked) for a pending op. */
  result: JsonValue;
  /** When the call started, in ms on the shared clock (see the module comment). */
  call: number;
  /** When the call returned, in ms on the same clock; `call <= ret`. Infinity: pending, never returned. */
  ret: number;
}

/** Whether `op` is pending: called, never seen to return (see "Pending operations" above). */
export function isPending(op: Pick<HistoryOp, 'ret'>): boolean {
  return op.ret === Infinity;
}

/** A history: completed operations in any order (the checker sorts what it needs). */
export type History = HistoryOp[];

/** Number of arguments after the key, per operation. */
export const OP_ARITY: Readonly<Record<HistoryOpName, number>> = {
  get: 0,
  has: 0,
  set: 1,
  delete: 0,
  putIfAbsent: 1,
  compareAndSet: 2,
  add: 1,
};

/** A line of a history that cannot be read. `line` is 1-based. */
export class HistoryParseError extends Error {
  readonly code = 'SHMAP_BAD_HISTORY' as const;
  readonly line: number;
  constructor(line: number, reason: string) {
    super(`line ${line}: ${reason}`);
    this.name = 'HistoryParseError';
    this.line = line;
  }
}

function isOpName(s: unknown): s is HistoryOpName {
  return typeof s === 'string' && Object.hasOwn(OP_ARITY, s);
}

/**
 * Checks one parsed JSON object against the format and returns it as a
 * HistoryOp, or throws HistoryParseError naming `line`.
 */
export function toHistoryOp(value: unknown, line: number): HistoryOp {
  const bad = (reason: string): never => {
    throw new HistoryParseError(line, reason);
  };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) bad('expected a JSON object');
  const o = value as Record<string, unknown>;
  const { thread, op, key, args, result, call, ret } = o;
  if (typeof thread !== 'number' || !Number.isInteger(thread) || thread < 0)
    bad('"thread" must be a non-negative integer');
  if (!isOpName(op)) bad(`"op" must be one of ${Object.keys(OP_ARITY).join(', ')} (got ${JSON.stringify(op)})`);
  const name = op as HistoryOpName;
  if (typeof key !== 'string' && (typeof key !== 'number' || !Number.isFinite(key)))
    bad('"key" must be a string or a finite number');
  if (!Array.isArray(args)) bad('"args" must be an array');
  const argv = args as JsonValue[];
  if (argv.length !== OP_ARITY[name])
    bad(`${name} takes ${OP_ARITY[name]} argument(s) after the key, "args" has ${argv.length}`);
  if (typeof call !== 'number' || !Number.isFinite(call)) bad('"call" must be a finite number');
  if (ret === undefined || ret === null) {
    // Pending: the result was never seen.
    if (result !== undefined && result !== null)
      bad(`a pending op (no "ret") has no result, "result" is ${JSON.stringify(result)}`);
    if (name === 'add' && typeof argv[0] !== 'number') bad('add takes a number delta');
    return {
      thread: thread as number,
      op: name,
      key: key as HistoryKey,
      args: argv,
      result: null,
      call: call as number,
      ret: Infinity,
    };
  }
  if (!('result' in o)) bad('"result" is missing (write undefined as null; leave out "ret" for a pending op)');
  if (typeof ret !== 'number' || !Number.isFinite(ret)) bad('"ret" must be a finite number, or null for a pending op');
  if ((ret as number) < (call as number)) bad(`"ret" (${ret as number}) is before "call" (${call as number})`);
  switch (name) {
    case 'has':
    case 'delete':
    case 'compareAndSet':
      if (typeof result !== 'boolean') bad(`${name} returns a boolean, "result" is ${JSON.stringify(result)}`);
      break;
    case 'set':
      if (result !== null) bad(`set returns nothing (null), "result" is ${JSON.stringify(result)}`);
      break;
    case 'add':
      if (typeof argv[0] !== 'number') bad('add takes a number delta');
      if (typeof result !== 'number') bad(`add returns a number, "result" is ${JSON.stringify(result)}`);
      break;
    default:
      break;
  }
  return {
    thread: thread as number,
    op: name,
    key: key as HistoryKey,
    args: argv,
    result: result as JsonValue,
    call: call as number,
    ret: ret as number,
  };
}

/**
 * Parses a whole JSON Lines history. Throws HistoryParseError (with the
 * 1-based line number) at the first line that is not a valid operation, so a
 * caller never checks a half-read file. Blank lines are skipped. When
 * `lineNumbers` is given, the line of each returned op is pushed onto it.
 */
export function parseHistory(text: string, lineNumbers?: number[]): History {
  const ops: History = [];
  let line = 0;
  let start = 0;
  while (start <= text.length) {
    let end = text.indexOf('\n', start);
    if (end === -1) end = text.length;
    line++;
    const raw = text.slice(start, end).trim();
    start = end + 1;
    if (raw === '') continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch (err) {
      throw new HistoryParseError(line, `not valid JSON (${err instanceof Error ? err.message : String(err)})`);
    }
    ops.push(toHistoryOp(parsed, line));
    lineNumbers?.push(line);
  }
  return ops;
}

/**
 * Checks what a line-by-line parse cannot: one thread's operations must not
 * overlap (a thread makes one call at a time). Returns the index of the first
 * op that starts before the previous op of its thread returned, or -1.
 */
export function findThreadOverlap(history: readonly HistoryOp[]): number {
  const byThread = new Map<number, number[]>();
  history.forEach((op, i) => {
    let list = byThread.get(op.thread);
    if (list === undefined) byThread.set(op.thread, (list = []));
    list.push(i);
  });
  let first = -1;
  for (const list of byThread.values()) {
    list.sort((a, b) => history[a]!.call - history[b]!.call || history[a]!.ret - history[b]!.ret);
    for (let j = 1; j < list.length; j++) {
      const prev = history[list[j - 1]!]!;
      const cur = history[list[j]!]!;
      if (cur.call < prev.ret) {
        const i = Math.max(list[j]!, list[j - 1]!);
        if (first === -1 || i < first) first = i;
        break;
      }
    }
  }
  return first;
}

/** One op as a history line (no newline); a pending op is written with `"ret": null`. */
export function formatHistoryLine(op: HistoryOp): string {
  const pending = isPending(op);
  return JSON.stringify({
    thread: op.thread,
    op: op.op,
    key: op.key,
    args: op.args,
    result: pending ? null : op.result,
    call: op.call,
    ret: pending ? null : op.ret,
  });
}

/** A whole history as JSON Lines (each line ends with a newline). */
export function formatHistory(history: readonly HistoryOp[]): string {
  let out = '';
  for (const op of history) out += formatHistoryLine(op) + '\n';
  return out;
}

/**
 * Deep-equality identity of a JSON value: JSON with object keys sorted.
 * Two values are equal in the model exactly when their canonical strings are.
 */
export function canonicalJson(value: JsonValue): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return '[' + value.map(canonicalJson).join(',') + ']';
  const keys = Object.keys(value).sort();
  return '{' + keys.map((k) => JSON.stringify(k) + ':' + canonicalJson(value[k]!)).join(',') + '}';
}

/** A key's partition name: numbers and strings never collide ("n:1" vs "s:1"). */
export function partitionName(key: HistoryKey): string {
  return typeof key === 'number' ? 'n:' + String(key) : 's:' + key;
}

// ---------------------------------------------------------------------------
// The sequential model of one key.
//
// A key's state is a string: ABSENT ('') when the key is missing, else the
// canonical JSON of its value ('' is never canonical JSON). Strings compare by
// content, so a state doubles as a memoization key.

/** The state of a missing key. */
export const ABSENT = '';

/**
 * One op prepared for the model: its arguments and result as canonical
 * strings, computed once, so a step is string comparisons only.
 */
export interface ModelOp {
  op: HistoryOpName;
  /** canonical(args[0]) ('' when there is none). */
  a0: string;
  /** canonical(args[1]) ('' when there is none). */
  a1: string;
  /** add: the delta. */
  delta: number;
  /** canonical(result). */
  result: string;
  /** A pending op: its result is not checked (and the search may leave it out). */
  pending: boolean;
}

export function toModelOp(op: HistoryOp): ModelOp {
  return {
    op: op.op,
    a0: op.args.length > 0 ? canonicalJson(op.args[0]!) : '',
    a1: op.args.length > 1 ? canonicalJson(op.args[1]!) : '',
    delta: op.op === 'add' ? (op.args[0] as number) : 0,
    result: canonicalJson(op.result),
    pending: isPending(op),
  };
}

const NULL = 'null';
const TRUE = 'true';
const FALSE = 'false';

/**
 * Applies `op` to a key in `state`. Returns the next state when the op, run
 * alone on that state, returns exactly the recorded result (any result, for
 * a pending op); otherwise undefined (this op cannot come next).
 */
export function stepModel(state: string, op: ModelOp): string | undefined {
  const any = op.pending;
  switch (op.op) {
    case 'get':
      return any || op.result === (state === ABSENT ? NULL : state) ? state : undefined;
    case 'has':
      return any || op.result === (state === ABSENT ? FALSE : TRUE) ? state : undefined;
    case 'set':
      return any || op.result === NULL ? op.a0 : undefined;
    case 'delete':
      return any || op.result === (state === ABSENT ? FALSE : TRUE) ? ABSENT : undefined;
    case 'putIfAbsent':
      if (state === ABSENT) return any || op.result === NULL ? op.a0 : undefined;
      return any || op.result === state ? state : undefined;
    case 'compareAndSet': {
      const matches = state === op.a0 || (state === ABSENT && op.a0 === NULL);
      if (!any && op.result !== (matches ? TRUE : FALSE)) return undefined;
      return matches ? op.a1 : state;
    }
    case 'add': {
      let old = 0;
      if (state !== ABSENT) {
        old = JSON.parse(state) as number;
        if (typeof old !== 'number') return undefined;
      }
      const next = JSON.stringify(old + op.delta);
      return any || op.result === next ? next : undefined;
    }
  }
}

/**
 * The linearizability checker: is there one order of all the operations in a
 * history that (a) respects real time — an op that returned before another was
 * called comes first — and (b) gives every op the result it really got when
 * run on the sequential model (history.ts)?
 *
 * ## How
 *
 * - **Partition by key.** Operations on different keys of a map commute, so a
 *   map's history is linearizable if and only if each key's sub-history is
 *   (Herlihy & Wing's locality; Porcupine's P-compositionality). Each key is
 *   checked alone, and the keys are spread over worker threads.
 * - **Search** (Wing & Gong, with Lowe's memoization, as Porcupine does it).
 *   Lay out the key's call and return events in time order in a doubly linked
 *   list. Walk it from the head: at a call event, try to linearize that op now —
 *   step the model; if the result matches and the pair (set of ops linearized,
 *   model state) was never reached before, lift the op's call and return out of
 *   the list, push (op, old state), and restart from the head. Reaching a return
 *   event means an op that has already returned was not linearized yet, so the
 *   current prefix is a dead end: pop the last op, put its events back, and go
 *   on from the event after its call. An empty list is a linearization; popping
 *   from an empty stack means there is none.
 * - **Memoization.** A (linearized set, state) pair is recorded once; a second
 *   arrival is the same sub-problem, already failed. The set is a bitset with a
 *   Zobrist hash (a random 53-bit word per op, XORed in and out as ops are
 *   linearized and undone), so the hash costs O(1) per step; equal hashes are
 *   confirmed by comparing the bitsets and states, so a collision can cost time
 *   but never a wrong answer.
 * - **Time limit.** Each key has one (`timeoutMs`); a search that runs out
 *   answers `unknown`, never a guess.
 * - **Counterexample.** For a key in violation, the checker shrinks the key's
 *   history to a small set of operations that still cannot be ordered —
 *   whatever state the earlier operations left, and even with any of the
 *   operations overlapping them placed among them — so it is a faithful
 *   witness and reads on its own: "set(2) returned before get() was called,
 *   yet get() returned 1" (see "Shrinking a violation" below).
 * - **Pending ops** (history.ts, "Pending operations": called, never seen to
 *   return) have their return at +Infinity, may be placed anywhere after
 *   their call with any result, or left out: the search treats them as the
 *   optional ops of shrinking below, with their result unchecked.
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { Rng } from '../rng.js';
import {
  ABSENT,
  canonicalJson,
  partitionName,
  stepModel,
  toModelOp,
  type HistoryKey,
  type HistoryOp,
  type ModelOp,
} from './history.js';

/** A verdict: for one key, or for a whole history (the worst of its keys: violation > unknown > ok). */
export type CheckStatus = 'ok' | 'violation' | 'unknown';

export interface CheckOptions {
  /** Time limit of one key's search, ms (default 10_000). A key that runs out is `unknown`. */
  timeoutMs?: number;
  /**
   * Worker threads to check keys on: a number (0 = all inline on the
   * calling thread), or 'auto' (default): each key gets `INLINE_SLICE_MS`
   * inline, and the keys still undecided go to one worker per core.
   */
  workers?: number | 'auto';
  /** The compiled lin-worker.js (default: the one next to this module; inline when it is missing, as under a TS test runner). */
  workerUrl?: string | URL;
  /** Shrink each violation to a small counterexample (default true). */
  minimize?: boolean;
  /** Time budget for shrinking one key's counterexample, ms (default 2_000). Past it, the set found so far is reported, `minimal: false`. */
  minimizeBudgetMs?: number;
}

/** The verdict for one key. */
export interface KeyCheckResult {
  key: HistoryKey;
  status: CheckStatus;
  /** Operations on this key. */
  ops: number;
  /** Time spent on this key (search, plus shrinking for a violation), ms. */
  elapsedMs: number;
  /**
   * violation only: indices (into the checked history) of a set of this key's
   * operations that no order can explain, sorted by call time.
   */
  counterexample?: number[];
  /** violation only: whether no single op can be dropped from the counterexample (false when shrinking ran out of budget). */
  minimal?: boolean;
  /**
   * violation only: true when other ops returned before the counterexample
   * began, and it fails whatever state they left; false when it starts at the
   * beginning of the key's history (so from a missing key).
   */
  anyInitialState?: boolean;
  /**
   * violation only: how many other ops that can change the key's state
   * overlap the counterexample in time. It fails even when any of them are
   * placed among its ops (or left out), which is what makes it a faithful
   * witness of the whole history's failure.
   */
  overlapping?: number;
  /**
   * violation only: those overlapping ops (indices into the checked history,
   * sorted by call), so the witness can be checked by hand from what is
   * printed: the counterexample's ops, plus these, each placed or left out.
   */
  others?: number[];
}

/** The verdict for a history. */
export interface LinearizabilityResult {
  status: CheckStatus;
  /** Operations checked (pending ones included). */
  ops: number;
  /** Of those, pending (no return: history.ts, "Pending operations"). */
  pending: number;
  /** Keys (partitions) checked. */
  keys: number;
  /** How many keys were ok / violation / unknown. */
  counts: Record<CheckStatus, number>;
  /** The keys in violation, then the unknown ones: only those (ok keys are only counted). */
  problems: KeyCheckResult[];
  /** Worker threads used (0: inline). */
  workers: number;
  elapsedMs: number;
}

export const DEFAULT_TIMEOUT_MS = 10_000;
export const DEFAULT_MINIMIZE_BUDGET_MS = 2_000;

// ---------------------------------------------------------------------------
// One key's search.

/** A key's history prepared for searching: model ops and times, indexed 0..n-1. */
interface Prepared {
  n: number;
  model: ModelOp[];
  call: Float64Array;
  ret: Float64Array;
  /**
   * 1 for an op the search may also leave out: a pending op (its result is
   * not checked either), or, when shrinking, an op overlapping the set being
   * tested (it must still match its result when it is placed; see
   * minimizeViolation).
   */
  optional?: Uint8Array;
}

function prepare(ops: readonly HistoryOp[]): Prepared {
  const n = ops.length;
  const call = new Float64Array(n);
  const ret = new Float64Array(n);
  const model: ModelOp[] = new Array(n);
  let optional: Uint8Array | undefined;
  for (let i = 0; i < n; i++) {
    const op = ops[i]!;
    call[i] = op.call;
    ret[i] = op.ret;
    model[i] = toModelOp(op);
    if (model[i]!.pending) (optional ??= new Uint8Array(n))[i] = 1;
  }
  return { n, model, call, ret, optional };
}

/** A sub-history: the prepared ops at `required`, then those at `optional` marked optional. */
function restrict(p: Prepared, required: readonly number[], optional: readonly number[] = []): Prepared {
  const n = required.length + optional.length;
  const call = new Float64Array(n);
  const ret = new Float64Array(n);
  const model: ModelOp[] = new Array(n);
  const flags = new Uint8Array(n);
  let any = false;
  let i = 0;
  for (const list of [required, optional]) {
    for (const j of list) {
      call[i] = p.call[j]!;
      ret[i] = p.ret[j]!;
      model[i] = p.model[j]!;
      flags[i] = list === optional || p.model[j]!.pending ? 1 : 0;
      any ||= flags[i] === 1;
      i++;
    }
  }
  return { n, model, call, ret, optional: any ? flags : undefined };
}

interface SearchOutcome {
  status: CheckStatus;
  /**
   * violation: the op whose return ended the deepest attempt — the search
   * got furthest before this op could not be placed; where shrinking starts.
   */
  blocked?: number;
}

/** Zobrist words from a fixed seed: the same history always searches the same way. */
function zobristWords(n: number): Float64Array {
  const words = new Float64Array(n);
  const rng = new Rng(0x9e3779b9);
  for (let i = 0; i < n; i++) words[i] = (rng.nextU32() & 0x1fffff) * 0x1_0000_0000 + rng.nextU32();
  return words;
}

/** XOR of two non-negative integers below 2^53 (JS `^` is 32-bit). */
function xor53(a: number, b: number): number {
  const hi = (Math.floor(a / 0x1_0000_0000) ^ Math.floor(b / 0x1_0000_0000)) >>> 0;
  const lo = ((a >>> 0) ^ (b >>> 0)) >>> 0;
  return hi * 0x1_0000_0000 + lo;
}

interface CacheEntry {
  bits: Uint32Array;
  state: string;
}

/**
 * Is there a linearization of `p` starting from `initial`? Answers `unknown`
 * when `performance.now()` passes `deadline`.
 */
function search(p: Prepared, initial: string, deadline: number): SearchOutcome {
  const n = p.n;
  if (n === 0) return { status: 'ok' };

  // Events: 2i is op i's call, 2i+1 its return. Sorted by time; at equal
  // times calls come first, so ops whose stamps touch count as overlapping.
  // Pending ops return at +Infinity: after every other event.
  const order = new Int32Array(2 * n);
  for (let i = 0; i < 2 * n; i++) order[i] = i;
  const time = (e: number): number => ((e & 1) === 0 ? p.call[e >> 1]! : p.ret[e >> 1]!);
  order.sort((a, b) => {
    const ta = time(a);
    const tb = time(b);
    return ta < tb ? -1 : ta > tb ? 1 : (a & 1) - (b & 1);
  });

  // Doubly linked list over events; HEAD is a sentinel, -1 ends the list.
  const HEAD = 2 * n;
  const next = new Int32Array(2 * n + 1);
  const prev = new Int32Array(2 * n + 1);
  let last = HEAD;
  for (let k = 0; k < 2 * n; k++) {
    const e = order[k]!;
    next[last] = e;
    prev[e] = last;
    last = e;
  }
  next[last] = -1;

  const unlink = (e: number): void => {
    next[prev[e]!] = next[e]!;
    if (next[e]! !== -1) prev[next[e]!] = prev[e]!;
  };
  const relink = (e: number): void => {
    next[prev[e]!] = e;
    if (next[e]! !== -1) prev[next[e]!] = e;
  };

  const zobrist = zobristWords(n);
  const bits = new Uint32Array((n + 31) >>> 5);
  let setHash = 0;
  const cache = new Map<number, CacheEntry[]>();
  const stateHash = new Map<string, number>();
  const hashOfState = (s: string): number => {
    let h = stateHash.get(s);
    if (h === undefined) {
      // A state's hash: its interning number spread over 53 bits.
      h = ((stateHash.size * 0x9e3779b1) >>> 0) * 0x200000 + (stateHash.size & 0x1fffff);
      stateHash.set(s, h);
    }
    return h;
  };
  /** Records (bits, state) unless already recorded; true when it was new. */
  const remember = (state: string): boolean => {
    const h = xor53(setHash, hashOfState(state));
    let bucket = cache.get(h);
    if (bucket === undefined) {
      cache.set(h, (bucket = []));
    } else {
      outer: for (const c of bucket) {
        if (c.state !== state) continue;
        for (let w = 0; w < bits.length; w++) if (c.bits[w] !== bits[w]) continue outer;
        return false;
      }
    }
    bucket.push({ bits: bits.slice(), state });
    return true;
  };

  // The stack of choices: which op was placed, the state before it, and
  // how (0: applied to the model; 1: left out, for an optional op).
  const stackOp = new Int32Array(n);
  const stackAlt = new Uint8Array(n);
  const stackState: string[] = new Array(n);
  const optional = p.optional;
  let depth = 0;
  let state = initial;
  let blocked = -1;
  let blockedDepth = -1;

  /** Places `op` now, trying ways from `from` on; true when one leads somewhere new (and it is pushed). */
  const place = (op: number, from: number): boolean => {
    const last = optional !== undefined && optional[op] === 1 ? 1 : 0;
    for (let alt = from; alt <= last; alt++) {
      const after = alt === 0 ? stepModel(state, p.model[op]!) : state;
      if (after === undefined) continue;
      bits[op >>> 5] |= 1 << (op & 31);
      setHash = xor53(setHash, zobrist[op]!);
      if (remember(after)) {
        stackOp[depth] = op;
        stackAlt[depth] = alt;
        stackState[depth] = state;
        depth++;
        state = after;
        unlink(2 * op);
        unlink(2 * op + 1);
        return true;
      }
      bits[op >>> 5] &= ~(1 << (op & 31));
      setHash = xor53(setHash, zobrist[op]!);
    }
    return false;
  };

  let e = next[HEAD]!;
  let steps = 0;
  while (next[HEAD]! !== -1) {
    if ((++steps & 0x3ff) === 0 && performance.now() > deadline) return { status: 'unknown' };
    if ((e & 1) === 0) {
      e = place(e >> 1, 0) ? next[HEAD]! : next[e]!;
      continue;
    }
    // An op returned before anything placed it: this prefix is a dead end.
    if (depth > blockedDepth) {
      blockedDepth = depth;
      blocked = e >> 1;
    }
    if (depth === 0) return { status: 'violation', blocked };
    depth--;
    const op = stackOp[depth]!;
    state = stackState[depth]!;
    bits[op >>> 5] &= ~(1 << (op & 31));
    setHash = xor53(setHash, zobrist[op]!);
    relink(2 * op + 1);
    relink(2 * op);
    // The next way to place the same op here, else the events after its call.
    e = place(op, stackAlt[depth]! + 1) ? next[HEAD]! : next[2 * op]!;
  }
  return { status: 'ok' };
}

// ---------------------------------------------------------------------------
// Shrinking a violation.
//
// Which subsets of a failing history can stand for it? Dropping ops can both
// hide a bug and invent one (drop the `set(2)` between `set(1)` and a
// `get() → 2` and the get looks wrong). The test used here is sound: take a
// set S of the key's ops ("required"), let PAST be the ops that returned before
// any op of S was called, and OTHERS the rest of the ops that overlap S's span
// (from S's first call to its last return). In any linearization of the whole
// history, PAST comes before every op of S, so the stretch from S's first op to
// its last holds S, some of OTHERS, in real-time order, starting from whatever
// state PAST left. So if no order of S plus any subset of OTHERS, started from
// any state (from a missing key when PAST is empty), gives the recorded
// results, the whole history cannot be linearized either: S is a
// counterexample that reads on its own. The search lets OTHERS be placed or
// left out (`Prepared.optional`).
//
// Only the OTHERS that can change the key's state are kept (`mayWrite`): an
// op that, placed, leaves the state as it found it (a get, a has, a delete
// that returned false, a putIfAbsent that returned a value, a compareAndSet
// that returned false) can always be left out instead, which constrains
// nothing, so it never helps an order exist. That keeps the witness — S plus
// the OTHERS printed beside it — small enough to check by hand.

/** Whether op `m`, placed in an order, can change the key's state (see above). */
function mayWrite(m: ModelOp): boolean {
  switch (m.op) {
    case 'get':
    case 'has':
      return false;
    case 'delete':
    case 'compareAndSet':
      return m.pending || m.result === 'true';
    case 'putIfAbsent':
      return m.pending || m.result === 'null';
    default:
      return true;
  }
}

/** A value none of a history's ops mention: stands for "anything else" as a state. */
const OTHER_VALUE = canonicalJson('\u0000shmap: some other value');

/**
 * States that can make a difference before a set of ops: missing, each value
 * the ops mention, each value an `add` implies was there before it, and one
 * value none of them mention (any other value behaves like it: it is only
 * seen by being returned, compared or added to, and then it is one of these).
 */
function initialStates(p: Prepared): string[] {
  const states = new Set<string>([ABSENT, OTHER_VALUE]);
  for (const m of p.model) {
    if (m.a0 !== '') states.add(m.a0);
    if (m.a1 !== '') states.add(m.a1);
    if (m.pending) continue; // its result says nothing
    if (m.op === 'add') states.add(JSON.stringify((JSON.parse(m.result) as number) - m.delta));
    else if (m.op === 'get' || m.op === 'putIfAbsent') states.add(m.result);
  }
  return [...states];
}

interface MinimizeOutcome {
  /** Indices into the key's ops, sorted by call. */
  core: number[];
  minimal: boolean;
  anyInitialState: boolean;
  /** The other ops that overlap the core (allowed in or out of the order), sorted by call. */
  others: number[];
}

/**
 * Shrinks a key history `p`, known to be in violation, to a small set of
 * required ops that still fails the sound test above. Starts from a time
 * window around `blocked` (where the search got stuck), doubling it back in
 * time until it fails; then drops chunks, then single ops, while the rest
 * still fails (Zeller's ddmin, greedily) until no single op can go. Past the
 * budget it stops and reports what it has (the whole history at worst).
 */
function minimizeViolation(
  p: Prepared,
  blocked: number | undefined,
  timeoutMs: number,
  budgetMs: number,
): MinimizeOutcome {
  const budgetEnd = performance.now() + budgetMs;
  let outOfBudget = false;
  const n = p.n;
  // Candidates for the core: the completed ops (a pending op is optional
  // wherever it is, so it only ever takes part as one of the others).
  const all = Array.from({ length: n }, (_, i) => i)
    .filter((i) => !p.model[i]!.pending)
    .sort((a, b) => p.call[a]! - p.call[b]! || a - b);

  /** The test, and the facts of the set it was run on. */
  const probe = (required: readonly number[]): { fails: boolean; anyState: boolean; others: number[] } => {
    let minCall = Infinity;
    let maxRet = -Infinity;
    const inSet = new Uint8Array(n);
    for (const i of required) {
      inSet[i] = 1;
      minCall = Math.min(minCall, p.call[i]!);
      maxRet = Math.max(maxRet, p.ret[i]!);
    }
    let pastExists = false;
    const others: number[] = [];
    for (let i = 0; i < n; i++) {
      if (inSet[i] === 1) continue;
      if (p.ret[i]! < minCall) pastExists = true;
      else if (p.call[i]! <= maxRet && mayWrite(p.model[i]!)) others.push(i);
    }
    const result = { fails: false, anyState: pastExists, others };
    if (required.length === 0) return result;
    const sub = restrict(p, required, others);
    for (const init of pastExists ? initialStates(sub) : [ABSENT]) {
      const now = performance.now();
      if (now > budgetEnd) {
        outOfBudget = true;
        return result;
      }
      const r = search(sub, init, Math.min(budgetEnd, now + timeoutMs));
      if (r.status === 'unknown') outOfBudget = true;
      if (r.status !== 'violation') return result;
    }
    result.fails = true;
    return result;
  };
  const fails = (required: readonly number[]): boolean => probe(required).fails;

  // 1. A failing window: the ops inside [a, b], from the stuck op's own
  //    interval, doubled back in time (then forward) until it fails.
  let core = all;
  if (blocked !== undefined && blocked >= 0 && all.length > 0) {
    const firstCall = p.call[all[0]!]!;
    let lastRet = -Infinity;
    for (const i of all) lastRet = Math.max(lastRet, p.ret[i]!);
    let b = Math.min(p.ret[blocked]!, lastRet);
    let a = p.call[blocked]!;
    let width = Math.max(b - a, 1e-6);
    while (!outOfBudget) {
      const window = all.filter((i) => p.call[i]! >= a && p.ret[i]! <= b);
      if (window.length === all.length) break;
      if (fails(window)) {
        core = window;
        break;
      }
      width *= 2;
      if (a > firstCall) a = b - width;
      else if (b < lastRet) b = a + width;
      else break;
    }
  }

  // 2. Drop chunks, halving the chunk size down to single ops.
  for (let chunk = core.length >>> 1; chunk >= 1 && !outOfBudget; chunk >>>= 1) {
    for (let start = 0; start < core.length && !outOfBudget;) {
      const without = core.slice(0, start).concat(core.slice(start + chunk));
      if (fails(without)) core = without;
      else start += chunk;
    }
  }
  // 3. Single ops until a full pass drops nothing (1-minimal).
  let changed = !outOfBudget;
  while (changed && !outOfBudget) {
    changed = false;
    for (let k = 0; k < core.length && !outOfBudget;) {
      const without = core.slice(0, k).concat(core.slice(k + 1));
      if (fails(without)) {
        core = without;
        changed = true;
      } else k++;
    }
  }
  const facts = probe(core);
  // `facts.fails` is true unless the budget ran out on this last probe; every
  // core kept was seen to fail (or is the whole history, known to).
  const others = facts.others.sort((x, y) => p.call[x]! - p.call[y]! || x - y);
  return { core, minimal: !outOfBudget, anyInitialState: facts.anyState, others };
}

// ---------------------------------------------------------------------------
// Checking keys and histories.

/** The verdict for one key's ops, with counterexample indices into `ops`. */
export interface KeyVerdict {
  status: CheckStatus;
  elapsedMs: number;
  counterexample?: number[];
  minimal?: boolean;
  anyInitialState?: boolean;
  overlapping?: number;
  others?: number[];
}

/**
 * Checks one key's operations (all must be on one key; the key is not looked
 * at). The building block of `checkLinearizability`, and what a worker runs.
 */
export function checkKeyHistory(ops: readonly HistoryOp[], options: CheckOptions = {}): KeyVerdict {
  const started = performance.now();
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const p = prepare(ops);
  const r = search(p, ABSENT, started + timeoutMs);
  if (r.status !== 'violation') return { status: r.status, elapsedMs: performance.now() - started };
  if (options.minimize === false) {
    // The whole key: its completed ops, with its pending ones as the others.
    const byCall = (a: number, b: number): number => p.call[a]! - p.call[b]! || a - b;
    const all = Array.from({ length: p.n }, (_, i) => i);
    const others = all.filter((i) => p.model[i]!.pending).sort(byCall);
    return {
      status: 'violation',
      elapsedMs: performance.now() - started,
      counterexample: all.filter((i) => !p.model[i]!.pending).sort(byCall),
      minimal: false,
      anyInitialState: false,
      overlapping: others.length,
      others,
    };
  }
  const m = minimizeViolation(p, r.blocked, timeoutMs, options.minimizeBudgetMs ?? DEFAULT_MINIMIZE_BUDGET_MS);
  return {
    status: 'violation',
    elapsedMs: performance.now() - started,
    counterexample: m.core,
    minimal: m.minimal,
    anyInitialState: m.anyInitialState,
    overlapping: m.others.length,
    others: m.others,
  };
}

/** A history split by key: the ops' indices in the history, per key, in first-seen order. */
export interface Partition {
  key: HistoryKey;
  indices: number[];
}

export function partitionByKey(history: readonly HistoryOp[]): Partition[] {
  const byName = new Map<string, Partition>();
  for (let i = 0; i < history.length; i++) {
    const key = history[i]!.key;
    const name = partitionName(key);
    let part = byName.get(name);
    if (part === undefined) byName.set(name, (part = { key, indices: [] }));
    part.indices.push(i);
  }
  return [...byName.values()];
}

/** Turns a key's verdict (indices into its own ops) into a result with history indices. */
function toKeyResult(part: Partition, v: KeyVerdict): KeyCheckResult {
  const result: KeyCheckResult = { key: part.key, status: v.status, ops: part.indices.length, elapsedMs: v.elapsedMs };
  if (v.status === 'violation' && v.counterexample !== undefined) {
    result.counterexample = v.counterexample.map((i) => part.indices[i]!);
    result.minimal = v.minimal;
    result.anyInitialState = v.anyInitialState;
    result.overlapping = v.overlapping;
    result.others = v.others?.map((i) => part.indices[i]!);
  }
  return result;
}

function summarize(
  history: readonly HistoryOp[],
  results: KeyCheckResult[],
  workers: number,
  started: number,
): LinearizabilityResult {
  const counts: Record<CheckStatus, number> = { ok: 0, violation: 0, unknown: 0 };
  for (const r of results) counts[r.status]++;
  const problems = [
    ...results.filter((r) => r.status === 'violation'),
    ...results.filter((r) => r.status === 'unknown'),
  ];
  const status: CheckStatus = counts.violation > 0 ? 'violation' : counts.unknown > 0 ? 'unknown' : 'ok';
  let pending = 0;
  for (const op of history) if (op.ret === Infinity) pending++;
  return {
    status,
    ops: history.length,
    pending,
    keys: results.length,
    counts,
    problems,
    workers,
    elapsedMs: performance.now() - started,
  };
}

/** Checks a history on the calling thread. */
export function checkLinearizabilitySync(
  history: readonly HistoryOp[],
  options: CheckOptions = {},
): LinearizabilityResult {
  const started = performance.now();
  const results = partitionByKey(history).map((part) =>
    toKeyResult(
      part,
      checkKeyHistory(
        part.indices.map((i) => history[i]!),
        options,
      ),
    ),
  );
  return summarize(history, results, 0, started);
}

/** What the main thread sends a lin-worker: a batch of key histories. */
export interface WorkerRequest {
  batch: number;
  options: Pick<CheckOptions, 'timeoutMs' | 'minimize' | 'minimizeBudgetMs'>;
  keys: HistoryOp[][];
}

/** What a lin-worker answers: one verdict per key of the batch, in order. */
export interface WorkerResponse {
  batch: number;
  verdicts: KeyVerdict[];
}

function defaultWorkerUrl(): URL | undefined {
  const url = new URL('./lin-worker.js', import.meta.url);
  return existsSync(fileURLToPath(url)) ? url : undefined;
}

/**
 * Checks `parts` on a pool of `workers` threads, in batches of whole keys
 * (~8 per worker, so one slow key does not leave the others idle at the
 * end); each idle worker takes the next batch. Results come back in the order
 * of `parts`.
 */
async function checkOnWorkers(
  history: readonly HistoryOp[],
  parts: readonly Partition[],
  workers: number,
  url: string | URL,
  options: CheckOptions,
): Promise<KeyCheckResult[]> {
  const total = parts.reduce((n, part) => n + part.indices.length, 0);
  const target = Math.max(1, Math.ceil(total / (workers * 8)));
  const batches: Partition[][] = [];
  let current: Partition[] = [];
  let size = 0;
  for (const part of parts) {
    current.push(part);
    size += part.indices.length;
    if (size >= target) {
      batches.push(current);
      current = [];
      size = 0;
    }
  }
  if (current.length > 0) batches.push(current);

  const results: KeyCheckResult[][] = new Array(batches.length);
  const taskOptions = {
    timeoutMs: options.timeoutMs,
    minimize: options.minimize,
    minimizeBudgetMs: options.minimizeBudgetMs,
  };
  let nextBatch = 0;
  const pool = Array.from({ length: Math.min(workers, batches.length) }, () => new Worker(url));
  try {
    await Promise.all(
      pool.map(
        (worker) =>
          new Promise<void>((resolve, reject) => {
            const send = (): void => {
              if (nextBatch >= batches.length) return resolve();
              const batch = nextBatch++;
              const request: WorkerRequest = {
                batch,
                options: taskOptions,
                keys: batches[batch]!.map((part) => part.indices.map((i) => history[i]!)),
              };
              worker.postMessage(request);
            };
            worker.on('message', (msg: WorkerResponse) => {
              const batchParts = batches[msg.batch]!;
              results[msg.batch] = msg.verdicts.map((v, i) => toKeyResult(batchParts[i]!, v));
              send();
            });
            worker.once('error', reject);
            worker.once('exit', (code) => reject(new Error(`lin-worker exited early with code ${code}`)));
            send();
          }),
      ),
    );
  } finally {
    await Promise.all(pool.map((w) => w.terminate()));
  }
  return results.flat();
}

/**
 * How long 'auto' lets each key search on the calling thread before handing
 * it to a worker, ms. Copying ops to a worker (structured clone) costs about
 * 2 us an op, and an easy key checks in about 3.5 us an op (bench/checker:
 * 100,000 ops check in ~360 ms inline, ~900 ms spread over 2 workers), so
 * only keys that are slow to search are worth sending.
 */
export const INLINE_SLICE_MS = 100;

/**
 * Checks a history for linearizability, key by key.
 *
 * With `workers: 'auto'` (the default) every key first gets `INLINE_SLICE_MS`
 * on the calling thread; the keys still undecided then go to one worker
 * thread per core with the full `timeoutMs`. With `workers: N` every key goes
 * to a pool of N workers; with 0, everything runs inline.
 */
export async function checkLinearizability(
  history: readonly HistoryOp[],
  options: CheckOptions = {},
): Promise<LinearizabilityResult> {
  const started = performance.now();
  const url = options.workerUrl ?? defaultWorkerUrl();
  const mode = options.workers ?? 'auto';
  if (mode !== 'auto' && (!Number.isInteger(mode) || mode < 0))
    throw new TypeError('options.workers must be a non-negative integer or "auto"');
  const parts = partitionByKey(history);
  if (url === undefined || mode === 0) return checkLinearizabilitySync(history, options);
  if (mode !== 'auto') {
    const results = await checkOnWorkers(history, parts, Math.min(mode, parts.length), url, options);
    return summarize(history, results, Math.min(mode, parts.length), started);
  }

  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const slice = Math.min(timeoutMs, INLINE_SLICE_MS);
  const results = parts.map((part) =>
    toKeyResult(
      part,
      checkKeyHistory(
        part.indices.map((i) => history[i]!),
        { ...options, timeoutMs: slice },
      ),
    ),
  );
  const slow = slice < timeoutMs ? parts.filter((_, k) => results[k]!.status === 'unknown') : [];
  if (slow.length === 0) return summarize(history, results, 0, started);
  const workers = Math.min(availableParallelism(), slow.length);
  // One slow key gains nothing from a worker: finish it here.
  const slowResults =
    workers <= 1
      ? slow.map((part) =>
          toKeyResult(
            part,
            checkKeyHistory(
              part.indices.map((i) => history[i]!),
              options,
            ),
          ),
        )
      : await checkOnWorkers(history, slow, workers, url, options);
  const byPart = new Map(slow.map((part, k) => [part, slowResults[k]!]));
  return summarize(
    history,
    parts.map((part, k) => byPart.get(part) ?? results[k]!),
    workers <= 1 ? 0 : workers,
    started,
  );
}

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
 *   history to a small set of operations that still cannot be ordered (see
 *   `minimizeViolation`), preferring a set that cannot be ordered whatever the
 *   key held before it, so it reads on its own: "set(2) returned before get
 *   started, yet get returned 1".
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
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
   * Worker threads to check partitions on: a number (0 = check inline on the
   * calling thread), or 'auto' (default): inline for histories under
   * `INLINE_MAX_OPS` ops, else one worker per core.
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
   * violation only: whether the counterexample fails whatever the key held
   * before it (true), or only from a missing key (false, e.g. a get of a
   * value nobody wrote).
   */
  anyInitialState?: boolean;
  /** violation only: the longest prefix of the counterexample that can be ordered, as history indices, in that order. */
  longestPrefix?: number[];
}

/** The verdict for a history. */
export interface LinearizabilityResult {
  status: CheckStatus;
  /** Operations checked. */
  ops: number;
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
/** Below this many ops 'auto' checks inline: starting workers and copying the history to them costs more than it saves. */
export const INLINE_MAX_OPS = 20_000;

// ---------------------------------------------------------------------------
// One key's search.

/** A key's history prepared for searching: model ops and times, indexed 0..n-1. */
interface Prepared {
  n: number;
  model: ModelOp[];
  call: Float64Array;
  ret: Float64Array;
}

function prepare(ops: readonly HistoryOp[]): Prepared {
  const n = ops.length;
  const call = new Float64Array(n);
  const ret = new Float64Array(n);
  const model: ModelOp[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const op = ops[i]!;
    call[i] = op.call;
    ret[i] = op.ret;
    model[i] = toModelOp(op);
  }
  return { n, model, call, ret };
}

/** A sub-history: the prepared ops at `subset` (indices into `p`). */
function restrict(p: Prepared, subset: readonly number[]): Prepared {
  const n = subset.length;
  const call = new Float64Array(n);
  const ret = new Float64Array(n);
  const model: ModelOp[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const j = subset[i]!;
    call[i] = p.call[j]!;
    ret[i] = p.ret[j]!;
    model[i] = p.model[j]!;
  }
  return { n, model, call, ret };
}

interface SearchOutcome {
  status: CheckStatus;
  /** With `wantPrefix`: the deepest linearized prefix reached (op indices in order). */
  prefix?: number[];
}

/** Fixed-seed xorshift32, for Zobrist words: the same history always searches the same way. */
function zobristWords(n: number): Float64Array {
  const words = new Float64Array(n);
  let x = 0x9e3779b9 | 0;
  const next = (): number => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
  for (let i = 0; i < n; i++) words[i] = (next() & 0x1fffff) * 0x1_0000_0000 + next();
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
function search(p: Prepared, initial: string, deadline: number, wantPrefix = false): SearchOutcome {
  const n = p.n;
  if (n === 0) return { status: 'ok', prefix: [] };

  // Events: 2i is op i's call, 2i+1 its return. Sorted by time; at equal
  // times calls come first, so ops whose stamps touch count as overlapping.
  const order = new Int32Array(2 * n);
  for (let i = 0; i < 2 * n; i++) order[i] = i;
  const time = (e: number): number => ((e & 1) === 0 ? p.call[e >> 1]! : p.ret[e >> 1]!);
  order.sort((a, b) => time(a) - time(b) || (a & 1) - (b & 1));

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

  const stackOp = new Int32Array(n);
  const stackState: string[] = new Array(n);
  let depth = 0;
  let best: number[] | undefined = wantPrefix ? [] : undefined;
  let state = initial;
  let e = next[HEAD]!;
  let steps = 0;

  while (next[HEAD]! !== -1) {
    if ((++steps & 0x3ff) === 0 && performance.now() > deadline) return { status: 'unknown' };
    if ((e & 1) === 0) {
      const op = e >> 1;
      const after = stepModel(state, p.model[op]!);
      if (after !== undefined) {
        bits[op >>> 5] |= 1 << (op & 31);
        setHash = xor53(setHash, zobrist[op]!);
        if (remember(after)) {
          stackOp[depth] = op;
          stackState[depth] = state;
          depth++;
          if (best !== undefined && depth > best.length) best = Array.from(stackOp.subarray(0, depth));
          state = after;
          unlink(e);
          unlink(e + 1);
          e = next[HEAD]!;
          continue;
        }
        bits[op >>> 5] &= ~(1 << (op & 31));
        setHash = xor53(setHash, zobrist[op]!);
      }
      e = next[e]!;
    } else {
      // An op returned before anything linearized it: undo the last choice.
      if (depth === 0) return { status: 'violation', prefix: best };
      depth--;
      const op = stackOp[depth]!;
      state = stackState[depth]!;
      bits[op >>> 5] &= ~(1 << (op & 31));
      setHash = xor53(setHash, zobrist[op]!);
      relink(2 * op + 1);
      relink(2 * op);
      e = next[2 * op]!;
    }
  }
  return { status: 'ok', prefix: wantPrefix ? Array.from(stackOp.subarray(0, depth)) : undefined };
}

// ---------------------------------------------------------------------------
// Shrinking a violation.

/** A value none of a history's ops mention: stands for "anything else" as an initial state. */
const OTHER_VALUE = canonicalJson('\u0000shmap: some other value');
/** Past this many candidate initial states, shrinking only asks "fails from a missing key". */
const MAX_INITIAL_STATES = 64;

/**
 * States a key could have held before a history for the history to matter:
 * missing, each value the ops mention, each value an `add` implies was there
 * before it, and one value none of them mention. (A stored JSON null is left
 * out: null also means undefined in results, and that ambiguity makes poor
 * explanations.)
 */
function initialStates(p: Prepared): string[] {
  const states = new Set<string>([ABSENT, OTHER_VALUE]);
  for (const m of p.model) {
    if (m.a0 !== '') states.add(m.a0);
    if (m.a1 !== '') states.add(m.a1);
    if (m.op === 'add') {
      const r = JSON.parse(m.result) as number;
      states.add(JSON.stringify(r - m.delta));
    } else if (m.op === 'get' || m.op === 'putIfAbsent') {
      states.add(m.result);
    }
  }
  states.delete('null');
  return [...states];
}

interface MinimizeOutcome {
  /** Indices into the key's ops, sorted by call. */
  core: number[];
  minimal: boolean;
  anyInitialState: boolean;
  /** Longest prefix of the core that can be ordered (indices into the key's ops). */
  prefix: number[];
}

/**
 * Shrinks a key history `p` that is known to be in violation (from a missing
 * key) to a small subset that still is. Every subset accepted is re-checked,
 * so the result is a violation whatever the budget; the budget only decides
 * how small it gets.
 *
 * The test a subset must pass is the strong one when the whole history passes
 * it — no order works from any plausible initial state — else the weak one,
 * from a missing key only. Then: the shortest prefix (by call time) that
 * fails, by bisection; then chunks, then single ops, are dropped while the
 * rest still fails (Zeller's ddmin, greedily), until no single op can go.
 */
function minimizeViolation(p: Prepared, timeoutMs: number, budgetMs: number): MinimizeOutcome {
  const budgetEnd = performance.now() + budgetMs;
  let outOfBudget = false;
  const candidates = initialStates(p);

  const failsFrom = (subset: readonly number[], inits: readonly string[]): boolean => {
    const sub = restrict(p, subset);
    for (const init of inits) {
      const now = performance.now();
      if (now > budgetEnd) {
        outOfBudget = true;
        return false;
      }
      const r = search(sub, init, Math.min(budgetEnd, now + timeoutMs));
      if (r.status === 'unknown') outOfBudget = true;
      if (r.status !== 'violation') return false;
    }
    return true;
  };

  const all = Array.from({ length: p.n }, (_, i) => i).sort((a, b) => p.call[a]! - p.call[b]! || a - b);
  const anyInitialState = candidates.length <= MAX_INITIAL_STATES && failsFrom(all, candidates);
  outOfBudget = false;
  const inits = anyInitialState ? candidates : [ABSENT];
  const fails = (subset: readonly number[]): boolean => subset.length > 0 && failsFrom(subset, inits);

  // 1. The shortest failing prefix by call time (bisection; failing is not
  //    monotone in the prefix, so this finds a short one, not the shortest).
  let lo = 0;
  let hi = all.length;
  while (hi - lo > 1 && !outOfBudget) {
    const mid = (lo + hi) >>> 1;
    if (fails(all.slice(0, mid))) hi = mid;
    else lo = mid;
  }
  let core = all.slice(0, hi);

  // 2. Drop chunks, halving the chunk size down to single ops.
  for (let chunk = core.length >>> 1; chunk >= 1 && !outOfBudget; chunk >>>= 1) {
    for (let start = 0; start < core.length && !outOfBudget; ) {
      const without = core.slice(0, start).concat(core.slice(start + chunk));
      if (fails(without)) core = without;
      else start += chunk;
    }
  }
  // 3. Single ops until a full pass drops nothing (1-minimal).
  let changed = !outOfBudget;
  while (changed && !outOfBudget) {
    changed = false;
    for (let k = 0; k < core.length && !outOfBudget; ) {
      const without = core.slice(0, k).concat(core.slice(k + 1));
      if (fails(without)) {
        core = without;
        changed = true;
      } else k++;
    }
  }

  const sub = restrict(p, core);
  const r = search(sub, ABSENT, performance.now() + timeoutMs, true);
  const prefix = (r.prefix ?? []).map((i) => core[i]!);
  return { core, minimal: !outOfBudget, anyInitialState, prefix };
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
  longestPrefix?: number[];
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
  if (r.status !== 'violation' || options.minimize === false) {
    return { status: r.status, elapsedMs: performance.now() - started };
  }
  const m = minimizeViolation(p, timeoutMs, options.minimizeBudgetMs ?? DEFAULT_MINIMIZE_BUDGET_MS);
  return {
    status: 'violation',
    elapsedMs: performance.now() - started,
    counterexample: m.core,
    minimal: m.minimal,
    anyInitialState: m.anyInitialState,
    longestPrefix: m.prefix,
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
    result.longestPrefix = (v.longestPrefix ?? []).map((i) => part.indices[i]!);
  }
  return result;
}

function summarize(history: readonly HistoryOp[], results: KeyCheckResult[], workers: number, started: number): LinearizabilityResult {
  const counts: Record<CheckStatus, number> = { ok: 0, violation: 0, unknown: 0 };
  for (const r of results) counts[r.status]++;
  const problems = [...results.filter((r) => r.status === 'violation'), ...results.filter((r) => r.status === 'unknown')];
  const status: CheckStatus = counts.violation > 0 ? 'violation' : counts.unknown > 0 ? 'unknown' : 'ok';
  return { status, ops: history.length, keys: results.length, counts, problems, workers, elapsedMs: performance.now() - started };
}

/** Checks a history on the calling thread. */
export function checkLinearizabilitySync(history: readonly HistoryOp[], options: CheckOptions = {}): LinearizabilityResult {
  const started = performance.now();
  const results = partitionByKey(history).map((part) =>
    toKeyResult(part, checkKeyHistory(part.indices.map((i) => history[i]!), options)),
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
 * Checks a history for linearizability, key by key, on worker threads when it
 * is big enough to be worth it (see `CheckOptions.workers`).
 */
export async function checkLinearizability(history: readonly HistoryOp[], options: CheckOptions = {}): Promise<LinearizabilityResult> {
  const started = performance.now();
  const url = options.workerUrl ?? defaultWorkerUrl();
  const parts = partitionByKey(history);
  let workers =
    options.workers === undefined || options.workers === 'auto'
      ? history.length < INLINE_MAX_OPS
        ? 0
        : availableParallelism()
      : options.workers;
  if (!Number.isInteger(workers) || workers < 0) throw new TypeError('options.workers must be a non-negative integer or "auto"');
  workers = Math.min(workers, parts.length);
  if (workers === 0 || url === undefined) return checkLinearizabilitySync(history, options);

  // Batches of whole keys, ~8 per worker so a slow key does not leave the
  // other workers idle at the end; each idle worker takes the next batch.
  const target = Math.max(1, Math.ceil(history.length / (workers * 8)));
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
  const taskOptions = { timeoutMs: options.timeoutMs, minimize: options.minimize, minimizeBudgetMs: options.minimizeBudgetMs };
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
              const parts = batches[msg.batch]!;
              results[msg.batch] = msg.verdicts.map((v, i) => toKeyResult(parts[i]!, v));
              send();
            });
            worker.once('error', reject);
            worker.once('exit', (code) => {
              if (nextBatch < batches.length || code !== 0) reject(new Error(`lin-worker exited with code ${code}`));
            });
            send();
          }),
      ),
    );
  } finally {
    await Promise.all(pool.map((w) => w.terminate()));
  }
  return summarize(history, results.flat(), pool.length, started);
}

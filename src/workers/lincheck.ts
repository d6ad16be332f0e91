/**
 * The thread side of `lincheck` (src/commands/lincheck.ts): a plain worker
 * thread that, for each scenario the main thread sends, runs its own list of
 * operations once per run on that run's fresh map, starting together with
 * the other threads, and records every call with a HistoryRecorder.
 *
 * Started with `workerData: { lincheck: 'real' }` it serves the real
 * SharedMap. Tests start their own worker file that calls `serveLincheck`
 * with a deliberately broken map (test/workers/lincheck-broken.mjs), to show
 * the checker catches it.
 *
 * Starting together: `barrierWait` gathers every thread (Atomics.wait, so a
 * thread not yet scheduled costs nothing), but a thread woken by
 * `Atomics.notify` starts tens of microseconds after the one that notified,
 * longer than a whole scenario. So after the barrier each thread also counts
 * itself in on an `align` word and spins (bounded) until all have: the
 * threads that are running leave the spin within a few hundred nanoseconds of
 * each other. Then each spins a per-run random number of iterations (the
 * jitter) so that different runs try different interleavings.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { SharedMap } from '../shm/map.js';
import { barrierWait } from '../shm/sync.js';
import type { SharedMapHandle } from '../shm/types.js';
import type { HistoryOpName, JsonValue } from '../race/history.js';
import { HistoryRecorder, REC_OP, type RecordedOps } from '../race/recorder.js';

/** The operations lincheck calls: the part of SharedMap's API a history can hold. */
export interface LincheckMap {
  get(key: unknown): unknown;
  has(key: unknown): boolean;
  set(key: unknown, value: unknown): unknown;
  delete(key: unknown): boolean;
  putIfAbsent(key: unknown, value: unknown): unknown;
  compareAndSet(key: unknown, expected: unknown, next: unknown): boolean;
  add(key: unknown, delta: number): number;
}

/** One operation of a scenario: `key` is a key index (the map key is the same number); `args` as in a history (null: undefined). */
export interface ScenarioOp {
  op: HistoryOpName;
  key: number;
  args: JsonValue[];
}

/** Control words (Int32 indices) of the SharedArrayBuffer every lincheck thread shares. */
export const LC = {
  /** barrierWait's two words. */
  BARRIER_I32: 0,
  /** Threads that passed the barrier, over the whole scenario (the main thread zeroes it before each scenario). */
  ALIGN_I32: 2,
  bytes: 64,
} as const;

/** Main thread -> lincheck thread: run one scenario. */
export interface ScenarioRequest {
  id: number;
  /** This thread's number (0-based) and how many run the scenario. */
  thread: number;
  threads: number;
  control: SharedArrayBuffer;
  /** One fresh map per run. */
  handles: SharedMapHandle[];
  /** This thread's ops, run in order in every run. */
  ops: ScenarioOp[];
  /** Key indices per run: a record's key index is run * keys + key. */
  keys: number;
  /** Every value the scenario uses (interned before the run). */
  values: JsonValue[];
  /** Spin iterations before the first op, per run. */
  jitter: number[];
}

/** Lincheck thread -> main thread: the runs' records, or what went wrong. */
export interface ScenarioResponse {
  id: number;
  thread: number;
  rec: RecordedOps;
  /** Ops that threw instead of returning: "run r, op i: message" (not recorded). */
  errors: string[];
}

/**
 * Most spins waiting for the other threads to pass the barrier, then go
 * anyway: a descheduled thread must not stall the run. 20,000 (~0.1 ms here)
 * kept a run at ~1 ms; 200,000 made runs ~6 ms without more overlap on this
 * (shared, loaded) 2-core machine, where a thread is often simply not on a CPU.
 */
const ALIGN_SPINS = 20_000;
/** Most wait for the barrier, ms (a thread that never comes fails the scenario instead of hanging it). */
const BARRIER_TIMEOUT_MS = 30_000;

/** Runs one op on `map`; `null` arguments are passed as undefined (compareAndSet's "absent"). */
function callOp(map: LincheckMap, o: ScenarioOp): unknown {
  const a0 = o.args[0] ?? undefined;
  switch (o.op) {
    case 'get':
      return map.get(o.key);
    case 'has':
      return map.has(o.key);
    case 'set':
      map.set(o.key, a0);
      return undefined;
    case 'delete':
      return map.delete(o.key);
    case 'putIfAbsent':
      return map.putIfAbsent(o.key, a0);
    case 'compareAndSet':
      return map.compareAndSet(o.key, a0, o.args[1] ?? undefined);
    case 'add':
      return map.add(o.key, a0 as number);
  }
}

/** Runs every run of one scenario for this thread. */
export function runScenarioThread(
  req: ScenarioRequest,
  attach: (handle: SharedMapHandle) => LincheckMap,
): ScenarioResponse {
  const words = new Int32Array(req.control);
  const runs = req.handles.length;
  const rec = new HistoryRecorder(runs * req.ops.length, undefined, req.values);
  const errors: string[] = [];
  const maps = req.handles.map(attach);
  const codes = req.ops.map((o) => REC_OP[o.op]);
  let sink = 0;
  for (let r = 0; r < runs; r++) {
    const map = maps[r]!;
    barrierWait(words, LC.BARRIER_I32, req.threads, BARRIER_TIMEOUT_MS);
    Atomics.add(words, LC.ALIGN_I32, 1);
    const target = req.threads * (r + 1);
    for (let s = 0; s < ALIGN_SPINS && Atomics.load(words, LC.ALIGN_I32) < target; s++);
    for (let s = req.jitter[r]!; s > 0; s--) sink = (sink + s) | 0;
    for (let i = 0; i < req.ops.length; i++) {
      const o = req.ops[i]!;
      const call = rec.now();
      let result: unknown;
      try {
        result = callOp(map, o);
      } catch (err) {
        if (errors.length < 20)
          errors.push(`run ${r}, op ${i} (${o.op}): ${err instanceof Error ? err.message : String(err)}`);
        continue;
      }
      const ret = rec.now();
      rec.record(codes[i]!, r * req.keys + o.key, o.args[0] ?? undefined, o.args[1] ?? undefined, result, call, ret);
    }
  }
  if (sink === 0x7fffffff) errors.push('(jitter sink)'); // keeps the jitter loop from being optimized away
  return { id: req.id, thread: req.thread, rec: rec.take(), errors };
}

/** Serves scenario requests on this worker thread's port with maps made by `attach`. */
export function serveLincheck(attach: (handle: SharedMapHandle) => LincheckMap): void {
  const port = parentPort;
  if (port === null) throw new Error('serveLincheck: not on a worker thread');
  port.on('message', (req: ScenarioRequest) => {
    port.postMessage(runScenarioThread(req, attach));
  });
}

if ((workerData as { lincheck?: unknown } | null)?.lincheck === 'real') {
  serveLincheck((handle) => SharedMap.attach(handle) as unknown as LincheckMap);
}

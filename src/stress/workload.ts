/**
 * One stress worker's run state (`Run`), which every role's loop (one per
 * role, in ./scenarios/) drives. It times every map operation into an HDR
 * histogram of its kind, and keeps the
 * expected final state of the keys it owns: worker w is the only thread that
 * writes ids keys + w*owned .. keys + (w+1)*owned - 1, so whatever the other
 * threads do, each of those keys must end holding exactly what w last wrote
 * (or be absent if w last deleted it). Ops on owned keys also check, as they
 * go, that the map returns what w wrote (`get`, the old value seen by
 * `update`, `delete`'s result, `add`'s result).
 *
 * A run is synchronous from start to end (no awaits inside a loop): the
 * worker thread is busy for the whole run, as a request handler would be
 * (./worker.ts starts it).
 */
import { performance } from 'node:perf_hooks';
import type { Histogram } from 'hdr-histogram-js';
import { encodeHistogram, newHistogram } from './histogram.js';
import { keyCodec, Rng, valueCodec, type KeyCodec, type ValueCodec } from './keys.js';
import type { MixOp } from './options.js';
import { CONTROL, type OwnedExpectation, type StressTask, type WorkerResult } from './protocol.js';
import { HistoryRecorder, REC_OP } from '../race/recorder.js';
import { DEFAULT_HISTORY_BUFFER, stressCoding } from './history.js';

/** The part of SharedMap's API the workload uses. */
export interface StressMap {
  get(key: unknown): unknown;
  set(key: unknown, value: unknown): unknown;
  delete(key: unknown): boolean;
  update(key: unknown, fn: (old: unknown) => unknown): unknown;
  add(key: unknown, delta: number): number;
  sweep(pred: (value: unknown, key: unknown) => boolean): number;
  [Symbol.iterator](): Iterator<[unknown, unknown]>;
}

/** Keep at most this many in-flight loss descriptions per worker. */
const LOSSES_KEPT = 20;
/** Check the clock and publish progress every this many ops. */
const CHECK_EVERY = 256;

const ITERATION_CODE = 'SHMAP_CONCURRENT_ITERATION';

function errorCode(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : err instanceof Error ? err.name : 'non-error';
}

/** One worker's run: the state every role shares (each role's loop, in ./scenarios/, drives one). */
export class Run {
  readonly rng: Rng;
  readonly kc: KeyCodec;
  readonly vc: ValueCodec;
  readonly words: Int32Array;
  readonly progress: Float64Array;
  readonly hist = new Map<string, Histogram>();
  readonly opsByKind: Record<string, number> = {};
  readonly errors: Record<string, number> = {};
  readonly losses: string[] = [];
  lossCount = 0;
  ops = 0;
  writeN = 0;
  deleted = 0;
  iterationsAborted = 0;
  iterationsCompleted = 0;
  readonly ownedBase: number;
  readonly expected: unknown[];
  readonly present: Uint8Array;
  /** Sum this worker added to each counter key (filled by the counters role only). */
  readonly counterSums: number[] = [];
  /** Counts of the ttl / lease / delete-queue roles (./scenarios/). */
  readonly pattern: Record<string, number> = {};
  deadline = Infinity;
  /** `--history`: ops on shared key ids below this are recorded (0: recording off; see ./history.ts). */
  readonly sampled: number;
  /** The history buffer, allocated in the constructor, before the start barrier. */
  readonly recorder: HistoryRecorder | undefined;
  /** Set by `failed`: the last op threw. */
  threw = false;
  /** `--history`: this worker has set the shared stop word (or seen it set). */
  stopSignalled = false;
  /** `performance.now()` just before and just after the last single-key op (`op`): its latency, and its history stamps. */
  opStart = 0;
  opEnd = 0;

  constructor(
    readonly map: StressMap,
    readonly task: StressTask,
  ) {
    this.rng = new Rng(task.seed, task.index);
    this.kc = keyCodec(task.keyType);
    this.vc = valueCodec(task.valueType);
    this.words = new Int32Array(task.control);
    this.progress = new Float64Array(task.control);
    this.ownedBase = task.keys + task.index * task.owned;
    this.expected = new Array<unknown>(task.owned).fill(undefined);
    this.present = new Uint8Array(task.owned);
    this.sampled = Math.min(task.historyKeys ?? 0, task.keys);
    this.recorder =
      this.sampled > 0
        ? new HistoryRecorder(task.historyBuffer ?? DEFAULT_HISTORY_BUFFER, stressCoding(task.valueType))
        : undefined;
  }

  /**
   * Runs one single-key op and times it. No closure per op: the harness must
   * not make garbage of its own, or the GC pauses it reports would be its own
   * (the map's get/set allocate nothing). `arg`: the value for set, the
   * function for update, the delta for add.
   */
  op(kind: MixOp, key: unknown, arg?: unknown): unknown {
    const map = this.map;
    const t0 = performance.now();
    this.opStart = t0;
    let out: unknown;
    try {
      switch (kind) {
        case 'get':
          out = map.get(key);
          break;
        case 'set':
          out = map.set(key, arg);
          break;
        case 'delete':
          out = map.delete(key);
          break;
        case 'update':
          out = map.update(key, arg as (old: unknown) => unknown);
          break;
        case 'add':
          out = map.add(key, arg as number);
          break;
        default:
          throw new Error(`op: ${kind} is not a single-key op`);
      }
    } catch (err) {
      this.failed(err);
      out = undefined;
    }
    this.recordLatency(kind, t0);
    return out;
  }

  /**
   * `op` on a sampled key (`id < sampled`), recorded in the history with
   * `value` (what set / update store). The history's call and ret are the
   * two clock reads `op` takes for the latency histogram (+ timeOrigin), so
   * recording reads no clock of its own (a read costs ~0.7 us on this VM).
   *
   * Recording stops for every worker together (./history.ts, "The
   * cut-off"): before the op this worker loads the shared stop word, and if
   * another worker has stopped, it stops too, from this op on. When its own
   * recording stops (buffer full), it sets the stop word. An op that threw
   * stops recording as well, at its call: whether it had an effect is then
   * never in question, as the history is cut before it began.
   */
  recordedOp(kind: MixOp, id: number, key: unknown, arg: unknown, value: unknown): unknown {
    const rec = this.recorder!;
    const othersStopped = rec.recording && Atomics.load(this.words, CONTROL.HISTORY_STOP_I32) !== 0;
    this.threw = false;
    const out = this.op(kind, key, arg);
    const call = rec.stamp(this.opStart);
    const ret = rec.stamp(this.opEnd);
    if (othersStopped) rec.halt(call, 'stopped with the other threads');
    else if (this.threw) rec.halt(call, 'an op threw');
    switch (kind) {
      case 'get':
        rec.record(REC_OP.get, id, undefined, undefined, out, call, ret);
        break;
      case 'set':
      case 'update':
        // The stress update on a shared key always returns a new value: sequentially, a set of it.
        rec.record(REC_OP.set, id, value, undefined, undefined, call, ret);
        break;
      case 'delete':
        rec.record(REC_OP.delete, id, undefined, undefined, out, call, ret);
        break;
      case 'add':
        rec.record(REC_OP.add, id, arg, undefined, out, call, ret);
        break;
      default:
        break;
    }
    if (!rec.recording && !this.stopSignalled) this.signalHistoryStop();
    return out;
  }

  /** Tells every worker to stop recording (the first to stop names itself in the stop word). */
  signalHistoryStop(): void {
    this.stopSignalled = true;
    Atomics.compareExchange(this.words, CONTROL.HISTORY_STOP_I32, 0, this.task.index + 1);
  }

  /** Times `fn` as one op of `kind` (iterate, sweep: whole-map ops). */
  timed<T>(kind: string, fn: () => T): T | undefined {
    const t0 = performance.now();
    let out: T | undefined;
    try {
      out = fn();
    } catch (err) {
      this.failed(err);
      out = undefined;
    }
    this.recordLatency(kind, t0);
    return out;
  }

  /** Counts an error thrown by a map op by its code; outside `sync: 'none'` only conflict errors are tolerated. */
  failed(err: unknown): void {
    const code = errorCode(err);
    this.errors[code] = (this.errors[code] ?? 0) + 1;
    this.threw = true;
    if (code === ITERATION_CODE) this.iterationsAborted++;
    else if (this.task.sync !== 'none' && !code.startsWith('SHMAP_CONCURRENT')) throw err;
  }

  recordLatency(kind: string, t0: number): void {
    const t1 = performance.now();
    this.opEnd = t1;
    const ns = Math.max(1, Math.round((t1 - t0) * 1e6));
    let h = this.hist.get(kind);
    if (h === undefined) {
      h = newHistogram();
      this.hist.set(kind, h);
      this.opsByKind[kind] = 0;
    }
    h.recordValue(ns);
    this.opsByKind[kind]!++;
    this.ops++;
  }

  /** False when the worker should stop: its budget is spent, the deadline passed, or the main thread said stop. */
  more(budget: number | undefined): boolean {
    if (budget !== undefined && this.ops >= budget) return false;
    if (this.ops % CHECK_EVERY !== 0) return true;
    this.progress[CONTROL.progressF64(this.task.index)] = this.ops;
    if (Atomics.load(this.words, CONTROL.STOP_I32) !== 0) return false;
    return budget !== undefined || performance.now() < this.deadline;
  }

  /** Handler roles (`--ops` mode): keep going until every writer is done. */
  writersRunning(): boolean {
    if (Atomics.load(this.words, CONTROL.STOP_I32) !== 0) return false;
    if (!this.task.byOps) return performance.now() < this.deadline;
    return Atomics.load(this.words, CONTROL.WRITERS_DONE_I32) < this.task.writers;
  }

  loss(text: string): void {
    this.lossCount++;
    if (this.losses.length < LOSSES_KEPT) this.losses.push(`worker ${this.task.index}: ${text}`);
  }

  ownedKey(i: number): unknown {
    return this.kc.key(this.ownedBase + i);
  }

  expectedOf(i: number): unknown {
    return this.present[i] ? this.expected[i] : undefined;
  }

  check(i: number, what: string, got: unknown): void {
    const want = this.expectedOf(i);
    if (!(want === undefined ? got === undefined : this.vc.equal(got, want))) {
      this.loss(
        `key ${this.vc.show(this.ownedKey(i))}: ${what} saw ${this.vc.show(got)}, expected ${this.vc.show(want)}`,
      );
    }
  }

  /** One op of `kind` on a random owned key, checked against the expected state. */
  ownedOp(kind: MixOp): void {
    const i = this.rng.below(this.task.owned);
    const key = this.ownedKey(i);
    switch (kind) {
      case 'get': {
        const got = this.op('get', key);
        this.check(i, 'get', got);
        return;
      }
      case 'set': {
        const v = this.vc.value(++this.writeN, this.task.index);
        this.op('set', key, v);
        this.expected[i] = v;
        this.present[i] = 1;
        return;
      }
      case 'delete': {
        const had = this.op('delete', key);
        if (had !== (this.present[i] === 1))
          this.loss(`key ${this.vc.show(key)}: delete returned ${had}, expected ${this.present[i] === 1}`);
        this.present[i] = 0;
        return;
      }
      case 'update': {
        const v = this.vc.value(++this.writeN, this.task.index);
        const remove = this.rng.next() < 0.2;
        let seen: unknown = undefined;
        let called = false;
        this.op('update', key, (old: unknown) => {
          called = true;
          seen = old;
          return remove ? undefined : v;
        });
        if (called) this.check(i, 'update', seen);
        this.expected[i] = v;
        this.present[i] = remove ? 0 : 1;
        return;
      }
      case 'add': {
        const want = ((this.present[i] ? this.expected[i] : 0) as number) + 1;
        const got = this.op('add', key, 1);
        if (got !== want) this.loss(`key ${this.vc.show(key)}: add returned ${this.vc.show(got)}, expected ${want}`);
        this.expected[i] = want;
        this.present[i] = 1;
        return;
      }
      default:
        throw new Error(`ownedOp: ${kind} is not a single-key op`);
    }
  }

  /** Deletion predicate shared by range-delete and sweep: a quarter of the shared keys, a different quarter each round. Owned keys never match. */
  doomed(key: unknown, round: number): boolean {
    const id = this.kc.id(key);
    // Sampled keys (`--history`) are left alone: an unrecorded delete would make the history look wrong.
    return id < this.task.keys && id >= this.sampled && (id + round) % 4 === 0;
  }

  rangeDelete(round: number): void {
    const map = this.map;
    this.timed('iterate', () => {
      for (const [k] of map) {
        if (this.doomed(k, round)) {
          map.delete(k);
          this.deleted++;
        }
      }
      this.iterationsCompleted++;
    });
  }

  sweep(round: number): void {
    const map = this.map;
    const n = this.timed('sweep', () => map.sweep((_v, k) => this.doomed(k, round)));
    if (typeof n === 'number') this.deleted += n;
  }

  iterate(): void {
    const map = this.map;
    this.timed('iterate', () => {
      let n = 0;
      for (const _ of map) n++;
      this.iterationsCompleted++;
      return n;
    });
  }

  result(elapsedMs: number, threadId: number): WorkerResult {
    const owned: OwnedExpectation[] = [];
    for (let i = 0; i < this.task.owned; i++) {
      // Keys never written stay absent; report them too, so a stray write by another thread is caught.
      owned.push({
        id: this.ownedBase + i,
        present: this.present[i] === 1,
        value: this.present[i] ? this.expected[i] : undefined,
      });
    }
    const histograms: Record<string, string> = {};
    for (const [kind, h] of this.hist) histograms[kind] = encodeHistogram(h);
    return {
      index: this.task.index,
      threadId,
      role: this.task.role,
      ops: this.ops,
      elapsedMs,
      opsByKind: this.opsByKind,
      histograms,
      gc: { count: 0, totalMs: 0, maxMs: 0 },
      owned,
      counterSums: this.counterSums,
      inFlightLosses: this.losses,
      inFlightLossCount: this.lossCount,
      iterationsAborted: this.iterationsAborted,
      iterationsCompleted: this.iterationsCompleted,
      deleted: this.deleted,
      errors: this.errors,
      history: this.recorder?.take(),
      pattern: this.pattern,
    };
  }
}

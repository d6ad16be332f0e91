/**
 * The worker side of `stress --scenario chaos` (the runner is chaos.ts): the
 * chaos block's layout (what survives a kill) and the loop a worker slot's
 * task runs. Kept apart from the runner so a task thread loads only the map,
 * the delete queue and this file: a killed thread's replacement starts
 * sooner, and a run gets more kills for its CPU time.
 */
import { performance } from 'node:perf_hooks';
import { DeleteQueue, type DeleteQueueHandle } from '../shm/patterns/delete-queue.js';
import type { StopSwitch } from '../shm/patterns/ttl.js';
import type { SharedMapHandle } from '../shm/types.js';
import { Rng } from '../rng.js';
import { ChaosHistoryLog, HOP_ADD, HOP_DELETE, HOP_GET, HOP_SET } from './chaos-history.js';

/** Hot counter keys (ids 0..CHAOS_COUNTERS-1 of the shared space). */
export const CHAOS_COUNTERS = 8;
/** Doomed keys each slot may create for the delete queue. */
export const CHAOS_DOOMED = 4096;

// ---------------------------------------------------------------------------
// The chaos block: one SharedArrayBuffer, views by name.

/** Int32 words per slot (a 64-byte line each). */
const SLOT_WORDS = 16;
/** Completed ops of the slot, all its tasks together. `Atomics.add` by the slot's task; the runner loads it. */
export const S_OPS = 0;
/** threadId + 1 of the slot's current task's thread; stored when the task starts. */
export const S_THREAD = 1;
/** In-flight record state: 0 idle, 1 an owned-key op, 2 a counter add. `Atomics.store` by the task, after the fields. */
export const S_STATE = 2;
/** Owned key index, or counter index. Plain, before S_STATE. */
export const S_INDEX = 3;
/** Counter delta. Plain, before S_STATE. */
export const S_DELTA = 4;
/** The owned key's presence before / after the op (0/1). Plain, before S_STATE. */
export const S_PREV_PRESENT = 5;
export const S_NEXT_PRESENT = 6;
/** Doomed keys this slot created (the next index). Plain, by the slot's task. */
export const S_DOOMED_MADE = 7;
/** Tasks started on this slot. */
export const S_TASKS = 8;
/** Losses found by the slot's tasks (in-flight resolutions that matched neither outcome, wrong returns). */
export const S_LOSSES = 9;
/** In-flight owned ops resolved at a task's start: took effect / did not. */
export const S_TOOK = 10;
export const S_NOT_TOOK = 11;

/** Global words after the slots: STOP (0 run, 1 stop), then the aux tasks' thread words (drainer, sweeper). */
export const G_STOP = 0;
export const G_DRAINER_THREAD = 1;
export const G_SWEEPER_THREAD = 2;
const G_WORDS = 16;

export interface ChaosLayout {
  slots: number;
  owned: number;
  bytes: number;
}

export function chaosLayout(slots: number, owned: number): ChaosLayout {
  const words = (slots * SLOT_WORDS + G_WORDS) * 4;
  const f64 = slots * (2 + owned + CHAOS_COUNTERS) * 8;
  const u8 = slots * (owned + CHAOS_DOOMED);
  return { slots, owned, bytes: words + f64 + u8 };
}

/** Named views over the chaos block. */
export class ChaosBlock {
  readonly i32: Int32Array;
  /** Per slot: prev, next (the in-flight owned op's values). */
  readonly inflight: Float64Array;
  /** Per slot x owned: the expected value. */
  readonly expected: Float64Array;
  /** Per slot x counter: what the slot's acknowledged adds summed to. */
  readonly sums: Float64Array;
  /** Per slot x owned: 1 when the key is expected present. */
  readonly present: Uint8Array;
  /** Per slot x doomed: 0 unknown, 1 set (not enqueued), 2 enqueue in flight, 3 enqueued. */
  readonly doomed: Uint8Array;

  constructor(
    readonly buffer: SharedArrayBuffer,
    readonly layout: ChaosLayout,
  ) {
    const { slots, owned } = layout;
    const words = slots * SLOT_WORDS + G_WORDS;
    this.i32 = new Int32Array(buffer, 0, words);
    let at = words * 4;
    this.inflight = new Float64Array(buffer, at, slots * 2);
    at += slots * 2 * 8;
    this.expected = new Float64Array(buffer, at, slots * owned);
    at += slots * owned * 8;
    this.sums = new Float64Array(buffer, at, slots * CHAOS_COUNTERS);
    at += slots * CHAOS_COUNTERS * 8;
    this.present = new Uint8Array(buffer, at, slots * owned);
    at += slots * owned;
    this.doomed = new Uint8Array(buffer, at, slots * CHAOS_DOOMED);
  }

  word(slot: number, w: number): number {
    return slot * SLOT_WORDS + w;
  }
  global(w: number): number {
    return this.layout.slots * SLOT_WORDS + w;
  }
}

// ---------------------------------------------------------------------------
// Worker side.

/** What a chaos task gets (beside the map handle). */
export interface ChaosTask {
  role: 'chaos' | 'chaos-drainer' | 'chaos-sweeper';
  handle: SharedMapHandle;
  block: SharedArrayBuffer;
  slots: number;
  owned: number;
  keys: number;
  slot: number;
  seed: number;
  durationMs: number;
  queue: DeleteQueueHandle;
  stop: StopSwitch;
  /** `--history`: the shared log (chaos-history.ts) and how many shared ids after the counters it samples. */
  history?: SharedArrayBuffer;
  historyKeys?: number;
  /** @internal The negative control's threads do not look whether a lock's holder is gone (src/shm/liveness.ts): only a watch could free its lock. */
  noLiveness?: boolean;
}

export interface ChaosTaskResult {
  slot: number;
  ops: number;
  losses: string[];
}

/** The part of SharedMap the chaos loop uses. */
interface ChaosMap {
  get(key: number): number | undefined;
  set(key: number, value: number, options?: { ttlMs?: number }): unknown;
  delete(key: number): boolean;
  update(key: number, fn: (old: number | undefined) => number | undefined): number | undefined;
  add(key: number, delta: number): number;
}

const LOSSES_KEPT = 10;

/** Runs one chaos task on slot `task.slot` until the runner says stop. Resumes the slot's state first. */
export function runChaosSlot(map: ChaosMap, task: ChaosTask, threadId: number): ChaosTaskResult {
  const b = new ChaosBlock(task.block, chaosLayout(task.slots, task.owned));
  const i32 = b.i32;
  const s = task.slot;
  const w = (k: number): number => b.word(s, k);
  const losses: string[] = [];
  const loss = (text: string): void => {
    Atomics.add(i32, w(S_LOSSES), 1);
    if (losses.length < LOSSES_KEPT) losses.push(`slot ${s}: ${text}`);
  };
  const tasks = Atomics.add(i32, w(S_TASKS), 1);
  Atomics.store(i32, w(S_THREAD), threadId + 1);
  const rng = new Rng(task.seed, s * 100_003 + tasks);
  const ownedBase = task.keys + s * task.owned;
  const doomedBase = task.keys + task.slots * task.owned + s * CHAOS_DOOMED;
  const oi = s * task.owned;

  // The previous task of this slot was killed inside an op on an owned key:
  // either outcome is right, nothing else.
  if (Atomics.load(i32, w(S_STATE)) === 1) {
    const i = i32[w(S_INDEX)]!;
    const got = map.get(ownedBase + i);
    const prev = i32[w(S_PREV_PRESENT)] === 1 ? b.inflight[s * 2]! : undefined;
    const next = i32[w(S_NEXT_PRESENT)] === 1 ? b.inflight[s * 2 + 1]! : undefined;
    if (got === next) Atomics.add(i32, w(S_TOOK), 1);
    else if (got === prev) Atomics.add(i32, w(S_NOT_TOOK), 1);
    else
      loss(
        `owned key ${ownedBase + i} after a kill inside its op: found ${got}, expected ${prev} (before) or ${next} (after)`,
      );
    b.present[oi + i] = got === undefined ? 0 : 1;
    if (got !== undefined) b.expected[oi + i] = got;
  }
  // A counter add in flight was accounted for by the runner when it saw the kill.
  Atomics.store(i32, w(S_STATE), 0);

  const deadline = performance.now() + task.durationMs;
  const queue = DeleteQueue.attach<number>(task.queue);
  const stopAt = b.global(G_STOP);
  let ops = 0;
  let unflushed = 0;
  let writes = tasks * 1_000_000;
  const options = { ttlMs: 1 };
  let pendingUpdate: number | undefined;
  const updateFn = (): number | undefined => pendingUpdate;
  // --history: the counters and the shared ids below `sampledEnd` are recorded (and never get a TTL).
  const hist = task.history === undefined ? null : new ChaosHistoryLog(task.history);
  hist?.startTask();
  const sampledEnd = hist === null ? CHAOS_COUNTERS : CHAOS_COUNTERS + (task.historyKeys ?? 0);

  while ((ops & 63) !== 0 || (Atomics.load(i32, stopAt) === 0 && performance.now() < deadline)) {
    const r = rng.next();
    if (r < 0.25) {
      // An owned key: record, op, check, bookkeeping.
      const i = rng.below(task.owned);
      const key = ownedBase + i;
      const hadIt = b.present[oi + i] === 1;
      const prev = b.expected[oi + i]!;
      const kind = rng.below(100);
      let next: number | undefined;
      if (kind < 40) next = ++writes;
      else if (kind < 55) next = undefined;
      else if (kind < 70) next = rng.next() < 0.2 ? undefined : ++writes;
      else if (kind < 85) next = (hadIt ? prev : 0) + 1;
      else next = hadIt ? prev : undefined; // get
      b.inflight[s * 2] = prev;
      b.inflight[s * 2 + 1] = next ?? 0;
      i32[w(S_INDEX)] = i;
      i32[w(S_PREV_PRESENT)] = hadIt ? 1 : 0;
      i32[w(S_NEXT_PRESENT)] = next === undefined ? 0 : 1;
      Atomics.store(i32, w(S_STATE), 1);
      if (kind < 40) map.set(key, next!);
      else if (kind < 55) {
        const had = map.delete(key);
        if (had !== hadIt) loss(`owned key ${key}: delete returned ${had}, expected ${hadIt}`);
      } else if (kind < 70) {
        pendingUpdate = next;
        map.update(key, updateFn);
      } else if (kind < 85) {
        const got = map.add(key, 1);
        if (got !== next) loss(`owned key ${key}: add returned ${got}, expected ${next}`);
      } else {
        const got = map.get(key);
        if (got !== next) loss(`owned key ${key}: get returned ${got}, expected ${next}`);
      }
      b.present[oi + i] = next === undefined ? 0 : 1;
      if (next !== undefined) b.expected[oi + i] = next;
      Atomics.store(i32, w(S_STATE), 0);
    } else if (r < 0.3) {
      const c = rng.below(CHAOS_COUNTERS);
      const delta = 1 + rng.below(3);
      i32[w(S_INDEX)] = c;
      i32[w(S_DELTA)] = delta;
      Atomics.store(i32, w(S_STATE), 2);
      if (hist === null) map.add(c, delta);
      else {
        hist.begin(s, HOP_ADD, c, delta);
        hist.end(map.add(c, delta));
      }
      b.sums[s * CHAOS_COUNTERS + c]! += delta;
      Atomics.store(i32, w(S_STATE), 0);
    } else if (r < 0.32) {
      // A doomed key: set it, then hand its delete to the queue.
      const i = i32[w(S_DOOMED_MADE)]!;
      if (i < CHAOS_DOOMED) {
        i32[w(S_DOOMED_MADE)] = i + 1;
        map.set(doomedBase + i, ++writes);
        b.doomed[s * CHAOS_DOOMED + i] = 1;
        b.doomed[s * CHAOS_DOOMED + i] = 2;
        b.doomed[s * CHAOS_DOOMED + i] = queue.enqueue(doomedBase + i) ? 3 : 1;
      }
    } else {
      // The shared space (ids CHAOS_COUNTERS..keys-1): the default mix, a tenth of the sets with a short TTL.
      const key = CHAOS_COUNTERS + rng.below(task.keys - CHAOS_COUNTERS);
      const m = rng.below(100);
      if (key < sampledEnd) sampledOp(hist!, s, map, key, m, ++writes);
      else if (m < 70) map.get(key);
      else if (m < 90) {
        if (rng.below(10) === 0) {
          options.ttlMs = 1 + rng.below(20);
          map.set(key, ++writes, options);
        } else map.set(key, ++writes);
      } else if (m < 95) map.delete(key);
      else {
        pendingUpdate = ++writes;
        map.update(key, updateFn);
      }
    }
    ops++;
    if (++unflushed === 16) {
      Atomics.add(i32, w(S_OPS), unflushed);
      unflushed = 0;
    }
  }
  Atomics.add(i32, w(S_OPS), unflushed);
  return { slot: s, ops, losses };
}

/** One op of the default mix on a sampled shared key, recorded (no TTL: an expiry would be a write nobody records). */
function sampledOp(hist: ChaosHistoryLog, slot: number, map: ChaosMap, key: number, m: number, value: number): void {
  if (m < 70) {
    hist.begin(slot, HOP_GET, key, NaN);
    hist.end(map.get(key));
  } else if (m < 90) {
    hist.begin(slot, HOP_SET, key, value);
    map.set(key, value);
    hist.end(undefined);
  } else if (m < 95) {
    hist.begin(slot, HOP_DELETE, key, NaN);
    hist.end(map.delete(key));
  } else {
    // An update that always stores `value`: the same effect and result as a set of it.
    hist.begin(slot, HOP_SET, key, value);
    map.update(key, () => value);
    hist.end(undefined);
  }
}

/** The drainer and sweeper tasks of a chaos run: mark the thread, then the usual loop. */
export function markAuxThread(task: ChaosTask, threadId: number): void {
  const b = new ChaosBlock(task.block, chaosLayout(task.slots, task.owned));
  Atomics.store(b.i32, b.global(task.role === 'chaos-drainer' ? G_DRAINER_THREAD : G_SWEEPER_THREAD), threadId + 1);
}

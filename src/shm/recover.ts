/**
 * Recovery: making a map whole again after a thread died holding one of its
 * locks (a shard's, or the allocator's).
 *
 * What a recoverer may assume about the dead thread's last stores. A
 * terminated thread stops at a point where V8 checks for termination: a
 * function's entry or a loop's back-edge, never between two plain stores
 * with no call between them. Every store it made before that point is
 * visible to a thread that learned of the death through a synchronizing
 * handoff (the Worker's 'exit' event, or the caller's own knowledge that
 * the thread has exited: Node joins the thread before either), in program
 * order; no store of it follows. So the intent record (layout.ts, D_UNDO_*),
 * written before the change it describes, is complete whenever the change
 * has started, and describes the one change that may be half done.
 *
 * Repair, per shard whose lock word names the dead thread (window.ts takes
 * the lock over):
 * - UNDO_WORD inside an open window: store the saved word back (the
 *   control word of an insert or delete, or a lease word): rolled back.
 * - UNDO_SLOT inside an open window: copy the saved value and expiry
 *   words back (an overwrite changes nothing else): rolled back.
 * - UNDO_GROW: if the new region is not published, free it (rolled back);
 *   if it is, it is complete (copied before publishing): free the old region
 *   unless its free already committed (completed; the insert that followed
 *   had not started).
 * - UNDO_CLEAR: zero the region (completed).
 * - UNDO_REMOVALS: removals made one by one are each whole: keep them.
 * - UNDO_LEASE (a lease op, window open or not): store the lease word and
 *   the ledger record back: rolled back.
 * - nothing noted, window open: the write had finished its stores
 *   (completed); window closed: only the lock was held (released).
 * Then the counts are recounted from the slots, the window closed with an
 * even seq, the dead thread's leases in that shard given back (leases.ts,
 * `releaseDeadLeases`), the lock freed (waking every waiter), and a
 * conflict record of kind "thread died holding a shard lock" appended.
 * In every other shard where the lease ledger names the dead thread, its
 * leases are given back under that shard's lock, taken without waiting
 * long (another dead thread may hold it: see `releaseLeasesLocked`).
 */
import {
  CTRL_EMPTY,
  CTRL_TOMBSTONE,
  D_CAP,
  D_COUNT,
  D_HOLD_OP,
  D_REGION,
  D_SEQ,
  D_TOMBS,
  D_UNDO_AT,
  D_UNDO_KIND,
  D_UNDO_NEW_CAP,
  D_UNDO_NEW_REGION,
  D_UNDO_OLD_CAP,
  D_UNDO_OLD_REGION,
  D_UNDO_WORD,
  H_COUNT,
  UNDO_CLEAR,
  UNDO_GROW,
  UNDO_REMOVALS,
  UNDO_SLOT,
  UNDO_WORD,
  UNDO_LEASE,
  D_UNDO_LEDGER_AT,
  D_UNDO_LEDGER_COUNT,
  D_UNDO_LEDGER_OWNER,
  L_COUNT,
  L_OWNER,
  descI32,
  regionBytes,
} from './layout.js';
import { freeRegion, releaseDeadAllocator } from './alloc.js';
import { appendConflict, KIND_THREAD_DIED, OP, OP_NAMES, sharedNow } from './conflict-log.js';
import { holdsLeases, releaseDeadLeases } from './leases.js';
import { RecoveryError } from './errors.js';
import { releaseThreadEntry } from './liveness.js';
import { releaseThread as releaseMetricsBlock } from './metrics.js';
import { checkShard } from './debug.js';
import type { MapCore } from './core.js';
import type { OpName } from './types.js';

/** What recovery did to one shard. */
export interface ShardRecovery {
  shard: number;
  /** What the dead thread was doing. */
  op: OpName;
  /** 'rolled back': its change undone; 'completed': its change finished; 'kept removals': a sweep or clear's removals so far kept; 'released': it held the lock and had changed nothing. */
  action: 'rolled back' | 'completed' | 'kept removals' | 'released';
  /** The key of the slot it was writing, printable, or '' when unknown. */
  key: string;
  /** Leases the dead thread held in this shard, given back (counted in RecoveryReport.leases too). */
  leases: number;
  /**
   * With `verify`: 'ok' when the repaired shard passed checkInvariants'
   * checks (made before its lock was freed, so no other write is mixed in),
   * else the broken invariant. Absent without `verify`.
   */
  invariants?: string;
}

/** Options of `map.recover` and `map.watch`. */
export interface RecoverOptions {
  /**
   * Check each repaired shard's invariants before freeing its lock, and say
   * the outcome in `ShardRecovery.invariants`. Costs a pass over the shard's
   * slots (decoding every key); for tests and chaos runs. Default false.
   */
  verify?: boolean;
}

/** Options of `map.watch`: those of `recover`, and a listener for each recovery's report. */
export interface ThreadWatchOptions extends RecoverOptions {
  /** Called with the report of each recovery the watch makes (after the shards are freed). A throw is reported with `process.emitWarning`. */
  onRecovery?: (report: RecoveryReport) => void;
}

/** Checks the options of `recover` / `watch` (RecoveryError naming the bad one); returns them. */
export function checkRecoverOptions<T extends RecoverOptions>(options: T | undefined, what: string): T {
  if (options === undefined) return {} as T;
  if (typeof options !== 'object' || options === null)
    throw new RecoveryError(`${what}: options must be an object, got ${options === null ? 'null' : typeof options}`);
  if (options.verify !== undefined && typeof options.verify !== 'boolean')
    throw new RecoveryError(`${what}: options.verify must be a boolean, got ${typeof options.verify}`);
  const onRecovery = (options as ThreadWatchOptions).onRecovery;
  if (onRecovery !== undefined && typeof onRecovery !== 'function')
    throw new RecoveryError(`${what}: options.onRecovery must be a function, got ${typeof onRecovery}`);
  return options;
}

/** What `map.recover(threadId)` did. */
export interface RecoveryReport {
  thread: number;
  /** Every shard whose lock the dead thread held, repaired and freed. */
  shards: ShardRecovery[];
  /** Whether it held the allocator's lock (freed). */
  allocator: boolean;
  /**
   * Leases the dead thread held, given back (in every shard: those whose
   * lock it held, and the others). A shard whose lock another thread kept
   * for longer than a short wait is done a little later, off this call
   * (`leasesLater` counts those shards): the map's `onThreadDeath` hooks
   * and this report do not wait for it.
   */
  leases: number;
  leasesLater: number;
  /**
   * `forEach` calls the dead thread was inside (killed mid-iteration),
   * whose registrations were given back: while one is registered, every
   * write to the map pays one more `Atomics` operation.
   */
  iterations: number;
}

/**
 * Test switch (negative controls): recovery skipped entirely ('off'), done
 * without the undo ('skip-undo'), without giving back the dead thread's
 * leases ('keep-leases'), without freeing an interrupted growth's
 * unused region ('keep-regions': it leaks), or without giving back its
 * `forEach` registrations ('keep-iterations'). @internal
 */
export const recoveryTestSwitch: {
  mode: 'on' | 'off' | 'skip-undo' | 'keep-leases' | 'keep-regions' | 'keep-iterations';
} = {
  mode: 'on',
};

/**
 * Recovers everything `deadThread` held in `map`'s buffer. Precondition:
 * the thread is dead (see the file comment); on a live thread this would
 * break the map, which is why `SharedMap.recover` refuses the caller's own
 * thread and documents the rest.
 */
export function recoverThread(map: MapCore, deadThread: number, options?: RecoverOptions): RecoveryReport {
  const verify = checkRecoverOptions(options, 'recover').verify === true;
  if (!Number.isInteger(deadThread) || deadThread < 0)
    throw new RecoveryError(`recover: threadId must be a non-negative integer, got ${String(deadThread)}`);
  if (deadThread === map.thread)
    throw new RecoveryError(
      `recover: thread ${deadThread} is the calling thread; recover is for threads known to be dead`,
    );
  const report: RecoveryReport = {
    thread: deadThread,
    shards: [],
    allocator: false,
    leases: 0,
    leasesLater: 0,
    iterations: 0,
  };
  // Its metrics counter block (counts kept, the block free for a new thread), in every sync mode.
  releaseMetricsBlock(map.views, deadThread);
  if (map.syncNone || recoveryTestSwitch.mode === 'off') return report;
  // The allocator first: repairing a growth may free a region.
  report.allocator = releaseDeadAllocator(map.views, deadThread);
  for (let s = 0; s < map.shards; s++) {
    const d = descI32(map.shard0I32, s);
    if (map.writeWindow.takeOver(d, deadThread)) {
      const done = repairShard(map, d, s, deadThread, verify);
      report.leases += done.leases;
      report.shards.push(done);
    } else if (recoveryTestSwitch.mode !== 'keep-leases' && holdsLeases(map, s, deadThread)) {
      const n = releaseLeasesLocked(map, d, s, deadThread);
      if (n < 0) report.leasesLater++;
      else report.leases += n;
    }
  }
  if (report.shards.length !== 0 && map.maxCapacity !== 0) resyncCount(map);
  // Its `forEach` registrations (a thread killed inside forEach), and its thread table entry.
  if (recoveryTestSwitch.mode !== 'keep-iterations') report.iterations = releaseThreadEntry(map.i32, deadThread);
  return report;
}

function repairShard(map: MapCore, d: number, s: number, deadThread: number, verify: boolean): ShardRecovery {
  const i32 = map.i32;
  const seqSeen = Atomics.load(i32, d + D_SEQ);
  const open = (seqSeen & 1) !== 0;
  const kind = i32[d + D_UNDO_KIND]!;
  const op = i32[d + D_HOLD_OP]!;
  const undo = recoveryTestSwitch.mode !== 'skip-undo';
  let action: ShardRecovery['action'] = open ? 'completed' : 'released';
  let keyAt = -1;
  map.table.regionI32(d); // make the views cover the region
  const slots = map.views.i32;
  const at = i32[d + D_UNDO_AT]!;
  if (kind === UNDO_LEASE) {
    // A lease op (never opens the window): the lease word and the ledger record back.
    if (undo) {
      slots[at] = i32[d + D_UNDO_WORD]!;
      const rec = i32[d + D_UNDO_LEDGER_AT]!;
      slots[rec + L_OWNER] = i32[d + D_UNDO_LEDGER_OWNER]!;
      slots[rec + L_COUNT] = i32[d + D_UNDO_LEDGER_COUNT]!;
    }
    action = 'rolled back';
    keyAt = at - map.leaseOffI32;
  } else if (kind === UNDO_WORD && open) {
    if (undo) slots[at] = i32[d + D_UNDO_WORD]!;
    action = 'rolled back';
    // `at` is a control word (insert, delete) or a lease word (retire).
    const ctrlAt = slots[at]! < 0 && slots[at] !== CTRL_EMPTY ? at : -1;
    keyAt = ctrlAt;
  } else if (kind === UNDO_SLOT && open) {
    // The words an overwrite changes (core.ts, saveSlot), saved at the same offsets.
    const saved = map.undo0I32 + s * map.slotWords;
    if (undo) for (let w = map.valueOffI32; w < map.overwrittenEndI32; w++) slots[at + w] = slots[saved + w]!;
    action = 'rolled back';
    keyAt = at;
  } else if (kind === UNDO_GROW) {
    const free = recoveryTestSwitch.mode !== 'keep-regions';
    const newRegion = i32[d + D_UNDO_NEW_REGION]!;
    const slotBytes = map.slotWords * 4;
    if (i32[d + D_REGION] !== newRegion) {
      if (newRegion !== 0 && free)
        freeRegion(
          map.views,
          newRegion,
          regionBytes(i32[d + D_UNDO_NEW_CAP]!, slotBytes),
          map.thread,
          -1,
          map.recoverGone,
        );
      action = 'rolled back';
    } else {
      const oldRegion = i32[d + D_UNDO_OLD_REGION]!;
      if (oldRegion !== 0 && free)
        freeRegion(
          map.views,
          oldRegion,
          regionBytes(i32[d + D_UNDO_OLD_CAP]!, slotBytes),
          map.thread,
          d + D_UNDO_OLD_REGION,
          map.recoverGone,
        );
      action = 'completed';
    }
  } else if (kind === UNDO_CLEAR && open) {
    map.table.zeroRegion(i32[d + D_REGION]!, i32[d + D_CAP]!);
  } else if (kind === UNDO_REMOVALS && open) {
    action = 'kept removals';
  }
  if (undo) recount(map, d);
  let key = '';
  if (keyAt >= 0 && map.views.i32[keyAt]! < 0) {
    try {
      key = String(map.keyCodec.load(map.views, keyAt + map.keyOffI32));
    } catch {
      key = '';
    }
  }
  let invariants: string | undefined;
  if (verify) {
    try {
      checkShard(map, s);
      invariants = 'ok';
    } catch (err) {
      invariants = (err as Error).message;
    }
  }
  const seqNow = map.writeWindow.closeRecovered(d, deadThread, op);
  const leases = recoveryTestSwitch.mode === 'keep-leases' ? 0 : releaseDeadLeases(map, d, s, deadThread);
  map.writeWindow.releaseRecovered(d);
  appendConflict(map.views, {
    kind: KIND_THREAD_DIED,
    shard: s,
    detThread: map.thread,
    detOp: OP.recover,
    detKey: key,
    seqSeen,
    seqNow,
    otherThread: deadThread,
    otherOp: op,
    otherKey: key,
    otherSeq: seqSeen,
  });
  const done: ShardRecovery = { shard: s, op: OP_NAMES[op] ?? 'unknown', action, key, leases };
  if (invariants !== undefined) done.invariants = invariants;
  return done;
}

/** How long recovery waits for a shard lock held by another thread before it leaves that shard's leases for later, ms. */
const LEASE_LOCK_WAIT_MS = 20;

/**
 * Gives back the dead thread's leases in shard `d` (number `s`), whose lock
 * it did not hold: takes the lock without waiting long (its holder may be
 * another dead thread, whose recovery runs on this same event loop after
 * this one), and when it cannot, tries again off this call (an unref'd
 * timer) until it can. Returns the leases given back, -1 when left for later.
 */
function releaseLeasesLocked(map: MapCore, d: number, s: number, deadThread: number): number {
  const tryOnce = (): number => {
    if (!map.writeWindow.tryLock(d, OP.recover)) return -1;
    try {
      return releaseDeadLeases(map, d, s, deadThread);
    } finally {
      map.writeWindow.unlock(d);
    }
  };
  const nap = new Int32Array(new SharedArrayBuffer(4));
  const until = sharedNow() + LEASE_LOCK_WAIT_MS;
  for (;;) {
    const n = tryOnce();
    if (n >= 0) return n;
    if (sharedNow() > until) break;
    Atomics.wait(nap, 0, 0, 0.1);
  }
  const retry = (): void => {
    if (tryOnce() < 0) setTimeout(retry, 2).unref();
  };
  setTimeout(retry, 1).unref();
  return -1;
}

/** Sets shard `d`'s counts from its slots. Precondition: its lock held. */
function recount(map: MapCore, d: number): void {
  const region = map.table.regionI32(d);
  const cap = map.i32[d + D_CAP]!;
  const slots = map.views.i32;
  let full = 0;
  let tombs = 0;
  for (let i = 0; i < cap; i++) {
    const c = slots[region + i * map.slotWords]!;
    if (c < 0) full++;
    else if (c === CTRL_TOMBSTONE) tombs++;
  }
  map.i32[d + D_COUNT] = full;
  map.i32[d + D_TOMBS] = tombs;
}

/**
 * The map-wide count (maps with maxCapacity) may have missed the dead
 * writer's Atomics.add / sub: recompute it as the sum of the shards' counts
 * while holding every shard's lock, which no write holds mid-way. It never
 * waits for a lock: another dead thread may hold one, and waiting here (in
 * a watch handler, on the event loop that would recover that thread next)
 * would deadlock. When a lock is taken it lets go of all of them and tries
 * again a little later, off this call (an unref'd timer), until it succeeds.
 */
function resyncCount(map: MapCore): void {
  if (tryResyncCount(map)) return;
  const retry = (): void => {
    if (!tryResyncCount(map)) setTimeout(retry, 2).unref();
  };
  setTimeout(retry, 1).unref();
}

function tryResyncCount(map: MapCore): boolean {
  const taken: number[] = [];
  try {
    let total = 0;
    for (let s = 0; s < map.shards; s++) {
      const d = descI32(map.shard0I32, s);
      if (!map.writeWindow.tryLock(d, OP.recover)) return false;
      taken.push(d);
      total += map.i32[d + D_COUNT]!;
    }
    Atomics.store(map.i32, H_COUNT, total);
    return true;
  } finally {
    for (const d of taken) map.writeWindow.unlock(d);
  }
}

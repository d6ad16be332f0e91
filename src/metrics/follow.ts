/**
 * Following the race checker's log live: `followConflicts(map, onRecord)`
 * calls `onRecord` for every conflict record any thread appends, in the
 * order the records were claimed, while the program runs.
 *
 * # How it waits
 *
 * No polling. Every append (conflict-log.ts) ends by bumping the log's
 * events word (layout.ts T_EVENTS) and `Atomics.notify`ing it. The follower
 * reads that word *before* it looks at the log, delivers every complete
 * record after its cursor, then sleeps in `Atomics.waitAsync` on the word
 * with the value it read: a record published after the read changed the
 * word, so the wait returns at once ('not-equal') instead of missing it.
 * `waitAsync` parks no thread (the event loop goes on). A pending wait does
 * not keep a thread alive on its own, so the follower holds an idle timer
 * until it is stopped (`keepAlive: false` leaves that to the program).
 *
 * # What it may miss
 *
 * The log keeps its first `conflictLogSize` records and counts the rest as
 * dropped (the first are the ones closest to a cause). A follower sees every
 * kept record; each dropped one after it started is *missed*, and reported
 * through `onMissed` as soon as the drop is counted. A record whose writer
 * claimed it but never published it (a thread terminated mid-append) would
 * stop the follower at that number: after `stallMs` it skips it and counts
 * it as missed.
 */
import type { SharedMap } from '../shm/map.js';
import type { ConflictRecord } from '../shm/types.js';
import { InvalidOptionError } from '../shm/errors.js';
import { describe } from '../shm/codec.js';
import { logEventsI32, logPosition, readConflict } from '../shm/conflict-log.js';
import { H_LOG_CAP } from '../shm/layout.js';

export interface FollowConflictsOptions {
  /** `'now'` (default): records appended from now on. `'start'`: every record already in the log first, then the new ones. */
  from?: 'now' | 'start';
  /** Called when records were dropped (the log was full) since the last call: how many now, and how many in all so far. */
  onMissed?: (missed: number, totalMissed: number) => void;
  /**
   * Keep the thread alive while following, as a listening server does
   * (default true). A pending `Atomics.waitAsync` alone does not: with
   * `false`, a thread with nothing else to do exits and the follower with it.
   */
  keepAlive?: boolean;
  /** How long to wait, ms, for a claimed record its writer has not published before skipping it as missed. Default 1000. */
  stallMs?: number;
}

/** What a follower did, as its stop function returns it. */
export interface FollowStatus {
  /** Records passed to `onRecord`. */
  delivered: number;
  /** Records it could not deliver: dropped by a full log (or never published) after it started. */
  missed: number;
}

const DEFAULT_STALL_MS = 1000;

/**
 * Calls `onRecord` for each conflict record appended to `map`'s log by any
 * thread, in order, from now on (or from the log's start with `from:
 * 'start'`). Works in any thread holding the map. Returns a function that
 * delivers every record published before it was called, stops following,
 * and returns what was delivered and missed. An exception
 * thrown by `onRecord` or `onMissed` stops the follower and is rethrown
 * outside it (an uncaught exception, as from an event handler).
 */
export function followConflicts(
  map: SharedMap<unknown, unknown>,
  onRecord: (record: ConflictRecord) => void,
  options: FollowConflictsOptions = {},
): () => FollowStatus {
  if (typeof onRecord !== 'function')
    throw new InvalidOptionError(`followConflicts: onRecord must be a function, got ${describe(onRecord)}`);
  if (options === null || typeof options !== 'object')
    throw new InvalidOptionError(`followConflicts: options must be an object, got ${describe(options)}`);
  const from = options.from ?? 'now';
  if (from !== 'now' && from !== 'start')
    throw new InvalidOptionError(`followConflicts: options.from must be 'now' or 'start', got ${describe(from)}`);
  const onMissed = options.onMissed;
  if (onMissed !== undefined && typeof onMissed !== 'function')
    throw new InvalidOptionError(`followConflicts: options.onMissed must be a function, got ${describe(onMissed)}`);
  const stallMs = options.stallMs ?? DEFAULT_STALL_MS;
  if (typeof stallMs !== 'number' || !(stallMs > 0) || stallMs === Infinity)
    throw new InvalidOptionError(
      `followConflicts: options.stallMs must be a positive number of milliseconds, got ${describe(stallMs)}`,
    );

  const keepAlive = options.keepAlive ?? true;
  if (typeof keepAlive !== 'boolean')
    throw new InvalidOptionError(`followConflicts: options.keepAlive must be a boolean, got ${describe(keepAlive)}`);

  const v = map.views;
  const i32 = v.i32;
  const eventsI32 = logEventsI32(v);
  const cap = i32[H_LOG_CAP]!;
  const start = logPosition(v);
  /** Next record number to deliver. */
  let cursor = from === 'start' ? 0 : Math.min(start.claimed, cap);
  /** Dropped records already counted as missed (or, from 'now', dropped before the start). */
  let overflowSeen = from === 'start' ? 0 : start.overflowed;
  const status: FollowStatus = { delivered: 0, missed: 0 };
  let stopped = false;

  const missed = (n: number): void => {
    status.missed += n;
    onMissed?.(n, status.missed);
  };

  /** Delivers every complete record after the cursor; returns true when it stopped at a claimed, unpublished one. */
  let draining = false;
  const drain = (): boolean => {
    draining = true;
    try {
      return drainNow();
    } finally {
      draining = false;
    }
  };
  const drainNow = (): boolean => {
    const pos = logPosition(v);
    const end = Math.min(pos.claimed, cap);
    while (cursor < end && !stopped) {
      const record = readConflict(v, cursor);
      if (record === undefined) return true;
      cursor++;
      status.delivered++;
      onRecord(record);
    }
    if (pos.overflowed > overflowSeen && !stopped) {
      const n = pos.overflowed - overflowSeen;
      overflowSeen = pos.overflowed;
      missed(n);
    }
    return false;
  };

  const loop = async (): Promise<void> => {
    /** The record number the follower is stuck at, and since when (ms); -1 = not stuck. */
    let stallCursor = -1;
    let stallSince = 0;
    while (!stopped) {
      const seen = Atomics.load(i32, eventsI32);
      const stalled = drain();
      if (stopped) return;
      let timeout = Infinity;
      if (stalled) {
        const now = performance.now();
        if (stallCursor !== cursor) {
          stallCursor = cursor;
          stallSince = now;
        } else if (now - stallSince >= stallMs) {
          // Claimed stallMs ago and still not published: its writer is gone.
          cursor++;
          stallCursor = -1;
          missed(1);
          continue;
        }
        timeout = stallMs - (now - stallSince);
      }
      const wait = Atomics.waitAsync(i32, eventsI32, seen, timeout);
      if (wait.async) await wait.value;
      // The word moved while we drained: more to read. Yield to the event loop first, so
      // that a storm of conflicts cannot keep this thread's other work from running.
      else await new Promise<void>((resolve) => setImmediate(resolve));
    }
  };

  // A timer that never fires its (empty) callback usefully: it only holds the event loop open.
  const keeper = keepAlive ? setInterval(() => {}, 1 << 30) : undefined;
  const finish = (): void => {
    stopped = true;
    if (keeper !== undefined) clearInterval(keeper);
  };
  loop().catch((err: unknown) => {
    finish();
    // Surface it as an event handler's exception would: uncaught, not swallowed.
    queueMicrotask(() => {
      throw err;
    });
  });

  return () => {
    if (!stopped) {
      // Deliver what was published before the call (unless called from inside onRecord), then stop.
      if (!draining) drain();
      finish();
      // Wake our pending wait so the loop ends now (other followers re-check and sleep again).
      Atomics.notify(i32, eventsI32);
    }
    return { ...status };
  };
}

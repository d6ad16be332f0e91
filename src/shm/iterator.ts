/**
 * Fail-fast iteration: Go's `hiter` check and Java's `modCount`, across threads.
 *
 * At creation the iterator notes every shard's seq and its handle's own-write
 * counts (`map.ownWriteSeq`). On every step — each entry produced — and once more
 * before it reports done, it checks each shard: seq now == seq at creation +
 * the seq this handle's own writes added since. Anything else is a write
 * through another handle — the "concurrent map iteration and map write" —
 * which it records in the conflict log and throws (or, with
 * `onConflict: 'record'`, records and goes on).
 *
 * `forEach` (in 'lock' mode) checks one word per step instead: it
 * registers in H_ITERATING, and while any thread's `forEach` is registered
 * every writer bumps H_ITER_WRITES as it opens its odd-seq window
 * (window.ts, "Iterations", has the ordering argument). A step then loads
 * H_ITER_WRITES with `Atomics.load`; unchanged, no write began since the
 * last check, and the entry just read is consistent; moved, the step makes
 * the shard check below (own writes bump it too). Writers pay that
 * `Atomics.add` (a hot word: ~20-55 ns) only while a `forEach` runs, and
 * one plain load otherwise; that is why iterator objects (`keys()` ...),
 * which a caller may drop unfinished, do not register. Registering waits
 * for any write in progress at the start (a writer holding a shard's lock
 * then may have looked before the registration), so `forEach` throws
 * LockTimeoutError when a lock stays held past `lockTimeoutMs`. Per step
 * over 1M int32 entries: ~100 -> ~42 ns on Node 20, ~127 -> ~43 ns on
 * Node 26 (one process alternating builds; README, bench:core).
 *
 * The shard check, per step for iterator objects, and for `forEach` when
 * H_ITER_WRITES moved. A global write counter every writer bumps would
 * make it one load, but a hot word (~55 ns per write measured, see the
 * essay in map.ts), so the cost stays with the iterator:
 *
 * - A seq only grows, so a shard whose seq equals the one the last passing
 *   check saw (`seen`) had no write at all since: the step's check is one
 *   plain load and one compare per shard, all in the descriptors' few cache
 *   lines. Only a shard that moved is looked at further (own writes or not).
 * - The current shard's seq is loaded last in the step, after the entry's
 *   slot was read, with `Atomics.load`: that validates the entry (the
 *   seqlock read's second load, see "Concurrency" in map.ts); the other
 *   shards' loads are detection only, plain where plain loads stay ordered
 *   (x86-64, PLAIN_LOADS_ORDERED).
 * - A step scans past empty slots without checking; it checks once, for the
 *   entry it produces. `forEach` allocates nothing per entry: it calls
 *   `advanceSlot` and reads the entry into locals before the check, so a
 *   float64 value is not boxed into a field (it still becomes a heap
 *   number when handed to a callback that is not inlined, as any double
 *   does; measured: ~15% of a step on Node 26). `next` returns a new result
 *   object each time, as the iterator protocol's users expect (a caller may
 *   keep several results).
 *
 * It walks shards in order and each shard's region slot by slot. The handle's
 * own writes during iteration follow Go's rules (see map.ts, Iteration): a
 * slot deleted before it is reached is no longer FULL; a key added lands
 * before or after the cursor; nothing moves, except when the shard being
 * walked rehashes. Then the map calls `shardRehashing` before it publishes
 * the new region, and the iterator copies the keys it has not reached yet
 * out of the old region; it produces those (looked up again, so deleted ones
 * are skipped) instead of walking the new region, and so never produces a key
 * twice.
 */
import { D_CAP, D_LOCK, D_SEQ, H_ITER_WRITES, SHARD_WORDS } from './layout.js';
import { iterationBegin, iterationEnd } from './liveness.js';
import { KIND_ITERATION, OP } from './conflict-log.js';
import { ConcurrentMapIterationError } from './errors.js';
import { PLAIN_LOADS_ORDERED } from './sync.js';
import type { MapCore } from './core.js';

export type IterKind = 'keys' | 'values' | 'entries';

const DONE: IteratorResult<unknown> = Object.freeze({ done: true, value: undefined });
/** `advanceSlot`: the iteration is over (checked and closed). */
const DONE_SLOT = -1;
/** `advanceSlot`: the entry is in `key` / `raw`, already checked. */
const IN_FIELDS_SLOT = -2;

export class MapIterator implements IterableIterator<unknown> {
  private readonly startSeq: Int32Array;
  private readonly ownStart: Int32Array;
  /** Each shard's seq at the last check that passed it. */
  private readonly seen: Int32Array;
  /** Current shard; slot cursor, region (word index) and capacity as read on entering the shard. */
  private shard = -1;
  private slotIndex = 0;
  private regionI32 = 0;
  private cap = 0;
  /** Keys of the current shard still to produce after it rehashed under us (own writes). */
  private pending: unknown[] | null = null;
  private pendingPos = 0;
  private finished = false;
  /**
   * Registered in H_ITERATING (`forEach` in 'lock' mode): a step checks
   * H_ITER_WRITES against `writesSeen` and looks at the shards only when it
   * moved. Cleared by `close`, which gives the registration back.
   */
  private registered: boolean;
  /** H_ITER_WRITES as of the last check that passed (registered only). */
  private writesSeen = 0;
  /** The entry the last successful `advance` reached: its key and its raw value (before the codec's `finish`). */
  key: unknown = undefined;
  raw: unknown = undefined;

  /**
   * @param register take the one-word check (window.ts, "Iterations"):
   * only for an iteration that is sure to end, since the map's writers pay
   * an `Atomics.add` each while it runs (`forEach`, whose `finally` closes
   * it; an iterator object may be dropped unfinished). Ignored in 'none'
   * mode (no lock to wait for at the start).
   */
  constructor(
    private readonly map: MapCore,
    private readonly kind: IterKind,
    register = false,
  ) {
    const n = map.shards;
    const i32 = map.i32;
    this.registered = register && !map.syncNone;
    this.startSeq = new Int32Array(n);
    if (this.registered) {
      iterationBegin(i32, map.threadEntryI32);
      this.writesSeen = Atomics.load(i32, H_ITER_WRITES);
      try {
        for (let s = 0; s < n; s++) this.startSeq[s] = this.settledSeq(map.shardDescI32(s));
      } catch (err) {
        iterationEnd(i32, map.threadEntryI32); // LockTimeoutError: no iteration, no registration
        throw err;
      }
    } else {
      for (let s = 0; s < n; s++) this.startSeq[s] = this.startingSeq(map.shardDescI32(s));
    }
    this.seen = this.startSeq.slice();
    this.ownStart = map.ownWriteSeq.slice();
    map.iterators.add(this);
  }

  /**
   * Shard `d`'s seq for an iteration that does not register: as loaded, or,
   * when odd in 'lock' mode (a write was under way as the iteration began),
   * the seq once that write is done (`settledSeq`). An odd seq noted here
   * would pass every check for as long as that write stays open, and let a
   * step read its half-written slot: an insert's FULL control word before
   * its key and value (bench http's range-delete met one under load, a JSON
   * value read as ''). ('none' mode has no lock to wait on.)
   */
  private startingSeq(d: number): number {
    const seq = Atomics.load(this.map.i32, d + D_SEQ);
    return (seq & 1) === 0 || this.map.syncNone ? seq : this.settledSeq(d);
  }

  /**
   * Shard `d`'s seq for a registered iteration, noted when no writer holds
   * the shard's lock (a writer holding it may have looked at H_ITERATING
   * before this iteration raised it, and would not bump H_ITER_WRITES):
   * loaded at once when the lock word is free, else under the lock, which
   * waits out that write (window.ts, "Iterations").
   */
  private settledSeq(d: number): number {
    const i32 = this.map.i32;
    if (Atomics.load(i32, d + D_LOCK) === 0) return Atomics.load(i32, d + D_SEQ);
    const ww = this.map.writeWindow;
    ww.lockForRead(d, OP.iterate);
    const seq = Atomics.load(i32, d + D_SEQ);
    ww.unlockRead(d);
    return seq;
  }

  [Symbol.iterator](): this {
    return this;
  }

  next(): IteratorResult<unknown> {
    if (!this.advance()) return DONE;
    const vc = this.map.valueCodec;
    const value = vc.needsFinish ? vc.finish(this.raw) : this.raw;
    if (this.kind === 'entries') return { done: false, value: [this.key, value] };
    return { done: false, value: this.kind === 'keys' ? this.key : value };
  }

  return(value?: unknown): IteratorResult<unknown> {
    this.close();
    return { done: true, value };
  }

  /**
   * One step: moves to the next entry, leaves it in `key` / `raw` and
   * returns true; or checks once more, closes and returns false at the end.
   * Throws ConcurrentMapIterationError when a check fails (and the map
   * throws on conflicts).
   */
  advance(): boolean {
    const at = this.advanceSlot();
    if (at === DONE_SLOT) return false;
    if (at >= 0) {
      const map = this.map;
      this.key = map.keyCodec.load(map.views, at + map.keyOffI32);
      this.raw = map.valueCodec.load(map.views, at + map.valueOffI32);
      // The slot was read between two checks of this shard: a foreign
      // write in between shows here, before the entry is produced.
      this.check();
    }
    return true;
  }

  /**
   * @internal The step without reading the entry: moves to the next entry
   * and returns its slot (word index), which the caller reads and then
   * validates with `check()` before using it (what `advance` does, and
   * `forEach` with the key and value kept in locals, so a float64 value is
   * not boxed into a field); or IN_FIELDS_SLOT when the entry is already in
   * `key` / `raw` and checked (a key looked up again after its shard
   * rehashed); or DONE_SLOT after the last check, closed.
   */
  advanceSlot(): number {
    if (this.finished) return DONE_SLOT;
    const map = this.map;
    for (;;) {
      if (this.pending !== null) {
        while (this.pendingPos < this.pending.length) {
          const k = this.pending[this.pendingPos++];
          if (map.lookupRaw(k)) {
            this.key = k;
            this.raw = map.lastRaw;
            this.check();
            return IN_FIELDS_SLOT;
          }
        }
        this.pending = null;
        this.slotIndex = this.cap;
      }
      if (this.slotIndex >= this.cap) {
        if (++this.shard >= map.shards) {
          this.check();
          this.close();
          return DONE_SLOT;
        }
        const d = map.shardDescI32(this.shard);
        this.regionI32 = map.table.regionI32(d);
        this.cap = map.i32[d + D_CAP];
        this.slotIndex = 0;
        // Region and capacity were read before a check of this shard: not a torn pair when it passes.
        this.check();
        continue;
      }
      // Scan to the next FULL slot (regionI32 made the views cover the region).
      const slots = map.views.i32;
      const sw = map.slotWords;
      const region = this.regionI32;
      const cap = this.cap;
      let i = this.slotIndex;
      while (i < cap) {
        const at = region + i * sw;
        i++;
        if (slots[at]! < 0 && (!map.checksVisibility || map.visible(at))) {
          this.slotIndex = i;
          return at;
        }
      }
      this.slotIndex = i;
    }
  }

  /** @internal Called by the map (this handle) before it publishes a new region for shard `s`. */
  shardRehashing(s: number): void {
    if (s !== this.shard || this.pending !== null || this.finished) return;
    const map = this.map;
    const i32 = map.views.i32;
    const keys: unknown[] = [];
    for (let i = this.slotIndex; i < this.cap; i++) {
      const at = this.regionI32 + i * map.slotWords;
      if (i32[at] < 0) keys.push(map.keyCodec.load(map.views, at + map.keyOffI32));
    }
    this.pending = keys;
    this.pendingPos = 0;
  }

  /**
   * The step's check. Registered: one `Atomics.load` of H_ITER_WRITES;
   * unchanged since the last check means no write began since (window.ts,
   * "Iterations"), which also validates the entry just read; moved, it
   * checks the shards (own writes bump it too) and notes the new count,
   * loaded before the shards' seqs so that every write it counts shows in
   * them. Otherwise (and then): `checkShards`.
   */
  check(): void {
    if (this.registered) {
      const writes = Atomics.load(this.map.i32, H_ITER_WRITES);
      if (writes === this.writesSeen) return;
      this.checkShards();
      this.writesSeen = writes;
      return;
    }
    this.checkShards();
  }

  /**
   * Every shard's seq against the one last seen, the current shard's last
   * and with `Atomics.load` (it validates the entry just read). The other
   * loads are plain where plain loads stay ordered (x86-64,
   * PLAIN_LOADS_ORDERED): they only detect.
   */
  private checkShards(): void {
    const map = this.map;
    const i32 = map.i32;
    const seen = this.seen;
    const n = map.shards;
    const current = this.shard;
    if (PLAIN_LOADS_ORDERED) {
      for (let s = 0, at = map.shard0I32 + D_SEQ; s < n; s++, at += SHARD_WORDS) {
        if (s !== current && i32[at] !== seen[s]) this.recheck(s, i32[at]!);
      }
    } else {
      for (let s = 0, at = map.shard0I32 + D_SEQ; s < n; s++, at += SHARD_WORDS) {
        if (s !== current) {
          const now = Atomics.load(i32, at);
          if (now !== seen[s]) this.recheck(s, now);
        }
      }
    }
    if (current >= 0 && current < n) {
      const now = Atomics.load(i32, map.shardDescI32(current) + D_SEQ);
      if (now !== seen[current]) this.recheck(current, now);
    }
  }

  /** Shard `s`'s seq moved since the last check (to `now`): fine when this handle's own writes account for all of it. */
  private recheck(s: number, now: number): void {
    const map = this.map;
    const expected = this.startSeq[s]! + (map.ownWriteSeq[s]! - this.ownStart[s]!);
    if (now === expected) {
      this.seen[s] = now;
      return;
    }
    const keyText = this.key === undefined ? '' : String(this.key);
    map.conflict(KIND_ITERATION, map.shardDescI32(s), OP.iterate, expected, now, keyText);
    if (map.throwOnConflict) {
      this.close();
      throw new ConcurrentMapIterationError(
        ` (shard ${s}: seq ${now}, expected ${expected}; thread ${map.thread} iterating)`,
      );
    }
    // Record only: accept the shard as it is now and go on.
    this.startSeq[s] = now - (map.ownWriteSeq[s]! - this.ownStart[s]!);
    this.seen[s] = now;
  }

  /** Ends the iteration (idempotent): later steps report done. */
  close(): void {
    this.finished = true;
    this.map.iterators.delete(this);
    if (this.registered) {
      this.registered = false;
      iterationEnd(this.map.i32, this.map.threadEntryI32);
    }
  }
}

/**
 * `map.forEach(fn)`: the iterator's steps without the iterator protocol, so
 * nothing is allocated per entry; the entry is read into locals, then
 * checked (`check`, which validates it), then handed to `fn`, as a
 * `for...of` body would get it.
 */
export function forEachEntry<K, V, M>(map: MapCore, fn: (value: V, key: K, map: M) => void, self: M): void {
  const it = new MapIterator(map, 'entries', true);
  const kc = map.keyCodec;
  const vc = map.valueCodec;
  const views = map.views;
  const keyOff = map.keyOffI32;
  const valueOff = map.valueOffI32;
  try {
    for (;;) {
      const at = it.advanceSlot();
      if (at === DONE_SLOT) return;
      let key: unknown;
      let raw: unknown;
      if (at >= 0) {
        key = kc.load(views, at + keyOff);
        raw = vc.load(views, at + valueOff);
        it.check(); // validates what was just read (advance does the same)
      } else {
        key = it.key;
        raw = it.raw;
      }
      fn((vc.needsFinish ? vc.finish(raw) : raw) as V, key as K, self);
    }
  } finally {
    it.close();
  }
}

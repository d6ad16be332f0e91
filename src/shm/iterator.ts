/**
 * Fail-fast iteration: Go's `hiter` check and Java's `modCount`, across threads.
 *
 * At creation the iterator notes every shard's seq and its handle's own-write
 * counts (`map.own`). On every step, and once more before it reports done, it
 * checks each shard: seq now == seq at creation + the seq this handle's own
 * writes added since. Anything else is a write through another handle — the
 * "concurrent map iteration and map write" — which it records in the conflict
 * log and throws (or, with `onConflict: 'record'`, records and goes on).
 * Checking every shard costs one `Atomics.load` per shard per step; a global
 * write counter would be one load, but a hot word every writer bumps
 * (~55 ns per write measured, see DESIGN.md), so the cost stays with the
 * iterator.
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
import { D_CAP, D_SEQ } from './layout.js';
import { KIND_ITERATION, OP } from './conflict-log.js';
import { ConcurrentMapIterationError } from './errors.js';
import { PLAIN_LOADS_ORDERED } from './sync.js';
import type { MapCore } from './core.js';

export type IterKind = 'keys' | 'values' | 'entries';

export class MapIterator implements IterableIterator<unknown> {
  private readonly startSeq: Int32Array;
  private readonly ownStart: Int32Array;
  /** Current shard; slot cursor, region (word index) and capacity as read on entering the shard. */
  private s = -1;
  private i = 0;
  private regionW = 0;
  private cap = 0;
  /** Keys of the current shard still to produce after it rehashed under us (own writes). */
  private pending: unknown[] | null = null;
  private pendingPos = 0;
  private lastKey: unknown = undefined;
  private finished = false;

  constructor(
    private readonly map: MapCore,
    private readonly kind: IterKind,
  ) {
    const n = map.shards;
    this.startSeq = new Int32Array(n);
    for (let s = 0; s < n; s++) this.startSeq[s] = Atomics.load(map.i32, map.shardD(s) + D_SEQ);
    this.ownStart = map.own.slice();
    map.iterators.add(this);
  }

  [Symbol.iterator](): this {
    return this;
  }

  next(): IteratorResult<unknown> {
    if (this.finished) return { done: true, value: undefined };
    const map = this.map;
    const i32 = map.i32;
    for (;;) {
      this.check();
      if (this.pending !== null) {
        while (this.pendingPos < this.pending.length) {
          const k = this.pending[this.pendingPos++];
          if (map.lookupRaw(k)) return this.produce(k, map.lastRaw);
        }
        this.pending = null;
        this.i = this.cap;
      }
      if (this.s < 0 || this.i >= this.cap) {
        if (++this.s >= map.shards) {
          this.check();
          this.close();
          return { done: true, value: undefined };
        }
        const d = map.shardD(this.s);
        this.regionW = map.t.regionW(d);
        this.cap = i32[d + D_CAP];
        this.i = 0;
        continue;
      }
      const at = this.regionW + this.i * map.slotWords;
      this.i++;
      if (!(map.v.i32[at] < 0) || (map.meta && !map.visible(at))) continue;
      const key = map.kc.load(map.v, at + map.keyOffW);
      const raw = map.vc.load(map.v, at + map.valueOffW);
      // The slot was read between two checks of this shard: a foreign write
      // in between would show here, before the entry is produced.
      this.checkShard(this.s);
      return this.produce(key, raw);
    }
  }

  return(value?: unknown): IteratorResult<unknown> {
    this.close();
    return { done: true, value };
  }

  /** @internal Called by the map (this handle) before it publishes a new region for shard `s`. */
  shardRehashing(s: number): void {
    if (s !== this.s || this.pending !== null || this.finished) return;
    const map = this.map;
    const i32 = map.v.i32;
    const keys: unknown[] = [];
    for (let i = this.i; i < this.cap; i++) {
      const at = this.regionW + i * map.slotWords;
      if (i32[at] < 0) keys.push(map.kc.load(map.v, at + map.keyOffW));
    }
    this.pending = keys;
    this.pendingPos = 0;
  }

  private produce(key: unknown, raw: unknown): IteratorResult<unknown> {
    this.lastKey = key;
    const vc = this.map.vc;
    switch (this.kind) {
      case 'keys':
        return { done: false, value: key };
      case 'values':
        return { done: false, value: vc.finish(raw) };
      default:
        return { done: false, value: [key, vc.finish(raw)] };
    }
  }

  /**
   * Checks every shard. The loads are plain where plain loads stay ordered
   * (x86-64, PLAIN_LOADS_ORDERED): this is detection, one load per shard per
   * step, and the `Atomics.load` of the current shard after reading a slot
   * (checkShard) is what validates the entry produced.
   */
  private check(): void {
    const map = this.map;
    if (!PLAIN_LOADS_ORDERED) {
      for (let s = 0; s < map.shards; s++) this.checkShard(s);
      return;
    }
    const i32 = map.i32;
    for (let s = 0; s < map.shards; s++) {
      if (i32[map.shardD(s) + D_SEQ] !== this.startSeq[s]! + (map.own[s]! - this.ownStart[s]!)) this.checkShard(s);
    }
  }

  private checkShard(s: number): void {
    const map = this.map;
    const expected = this.startSeq[s]! + (map.own[s]! - this.ownStart[s]!);
    const now = Atomics.load(map.i32, map.shardD(s) + D_SEQ);
    if (now === expected) return;
    const keyText = this.lastKey === undefined ? '' : String(this.lastKey);
    map.conflict(KIND_ITERATION, map.shardD(s), OP.iterate, expected, now, keyText);
    if (map.throwOnConflict) {
      this.close();
      throw new ConcurrentMapIterationError(
        ` (shard ${s}: seq ${now}, expected ${expected}; thread ${map.thread} iterating)`,
      );
    }
    // Record only: accept the shard as it is now and go on.
    this.startSeq[s] = now - (map.own[s]! - this.ownStart[s]!);
  }

  private close(): void {
    this.finished = true;
    this.map.iterators.delete(this);
  }
}

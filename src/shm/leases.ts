/**
 * TTL and lease operations (maps created with `ttl: true` / `leases: true`):
 * taking and giving back leases, retiring entries, and reclaiming expired
 * ones. What "visible" means and how a write treats an invisible entry is in
 * core.ts (`visible`, `checkReplaceable`); the rules are in the essay at the
 * top of map.ts ("TTL and leases"). `SharedMap` exposes these as methods.
 */
import { D_CAP, LEASE_COUNT_MASK, LEASE_RETIRED, UNDO_REMOVALS, descI32 } from './layout.js';
import { park } from './window.js';
import { describe } from './codec.js';
import { OP } from './conflict-log.js';
import { InvalidOptionError, LeaseError } from './errors.js';
import { busy, type MapCore } from './core.js';
import { C_ACQUIRE, C_EXPIRED, C_EXPIRY_SWEEPS, C_RELEASE, C_RETIRE } from './metrics.js';
import type { RetireResult } from './types.js';

/**
 * Where `lockAndFind` found the key: its slot's word index, or negative
 * when absent. Set by every call (the way shard.ts leaves `insertAt`).
 */
let foundAt = -1;

/**
 * The start of every lease operation: refuses a call from inside `update` /
 * `sweep` (RecursiveUpdateError) or on a map without leases (naming
 * `what`), prepares `key`, counts the call in the thread's metrics
 * (`counter`; -1 for none), takes the key's shard lock for `op`, and finds
 * the key (in `foundAt`). Returns the shard's descriptor.
 * Postcondition: the caller holds its lock and must unlock it.
 */
function lockAndFind(map: MapCore, key: unknown, what: string, op: number, counter: number): number {
  if (busy.length !== 0) map.checkNotBusy();
  map.needLeases(what);
  const h = map.keyCodec.prepare(key);
  if (counter >= 0 && map.counters !== null) map.counters.count(counter, h);
  const d = descI32(map.shard0I32, h & map.shardMask);
  map.writeWindow.lock(d, op);
  foundAt = map.table.find(d, h);
  return d;
}

/**
 * Takes a lease on a present, not retired, not expired entry and returns
 * its value; undefined when there is no such entry. While any lease is
 * held the entry is never removed: `delete`, `retire` and expiry only
 * retire it, and the last `release` removes it.
 */
export function acquire(map: MapCore, key: unknown): unknown {
  const d = lockAndFind(map, key, 'acquire', OP.get, C_ACQUIRE);
  const at = foundAt;
  if (at < 0 || !map.visible(at)) {
    map.writeWindow.unlock(d);
    return undefined;
  }
  const word = map.views.i32[at + map.leaseOffI32];
  if ((word & LEASE_COUNT_MASK) === LEASE_COUNT_MASK) {
    map.writeWindow.unlock(d);
    throw new LeaseError(
      `acquire: key ${map.keyCodec.preparedText()} already holds the most leases (${LEASE_COUNT_MASK})`,
    );
  }
  // The count is never read by lock-free readers: a plain store under the lock.
  map.views.i32[at + map.leaseOffI32] = word + 1;
  if (park !== null) park('acquire');
  const raw = map.valueCodec.load(map.views, at + map.valueOffI32);
  map.writeWindow.unlock(d);
  return map.valueCodec.finish(raw);
}

/**
 * Gives back a lease taken with `acquire`. Returns true when it was the
 * last lease on a retired entry: the entry is gone now, and the caller
 * should close the resource it stood for. Throws LeaseError when the key
 * holds no lease.
 */
export function release(map: MapCore, key: unknown): boolean {
  const d = lockAndFind(map, key, 'release', OP.delete, C_RELEASE);
  const at = foundAt;
  const word = at < 0 ? 0 : map.views.i32[at + map.leaseOffI32];
  if ((word & LEASE_COUNT_MASK) === 0) {
    map.writeWindow.unlock(d);
    throw new LeaseError(`release: key ${map.keyCodec.preparedText()} holds no lease`);
  }
  const next = word - 1;
  if (next === LEASE_RETIRED) {
    map.removeAt(d, at, OP.delete);
    map.writeWindow.unlock(d);
    return true;
  }
  map.views.i32[at + map.leaseOffI32] = next;
  if (park !== null) park('release');
  map.writeWindow.unlock(d);
  return false;
}

/**
 * Marks an entry for removal: removed at once when nobody holds a lease
 * ('removed'), else hidden from reads and acquires and removed by the last
 * `release` ('deferred'); 'absent' when there is no such entry.
 */
export function retire(map: MapCore, key: unknown): RetireResult {
  const d = lockAndFind(map, key, 'retire', OP.delete, C_RETIRE);
  const at = foundAt;
  if (at < 0) {
    map.writeWindow.unlock(d);
    return 'absent';
  }
  const word = map.views.i32[at + map.leaseOffI32];
  if ((word & LEASE_COUNT_MASK) === 0) {
    const live = map.visible(at);
    map.removeAt(d, at, OP.delete);
    map.writeWindow.unlock(d);
    return live ? 'removed' : 'absent';
  }
  if ((word & LEASE_RETIRED) === 0) map.setLeaseWord(d, at, word | LEASE_RETIRED, OP.delete);
  map.writeWindow.unlock(d);
  return 'deferred';
}

/** Leases held on the key's entry (retired or not), 0 when none or absent. */
export function leaseCount(map: MapCore, key: unknown): number {
  const d = lockAndFind(map, key, 'leaseCount', OP.get, -1);
  const at = foundAt;
  const n = at < 0 ? 0 : map.views.i32[at + map.leaseOffI32] & LEASE_COUNT_MASK;
  map.writeWindow.unlock(d);
  return n;
}

/**
 * Reclaims entries expired at `now` (default: the shared clock now), shard
 * by shard under each shard's lock, and returns how many it removed. An
 * expired entry still leased is retired instead, and removed by its last
 * release.
 */
export function sweepExpired(map: MapCore, now: number): number {
  if (busy.length !== 0) map.checkNotBusy();
  if (!map.ttl) throw new InvalidOptionError('sweepExpired needs a map created with { ttl: true }');
  if (typeof now !== 'number' || Number.isNaN(now))
    throw new InvalidOptionError(`sweepExpired: now must be a number (ms on the shared clock), got ${describe(now)}`);
  const i32 = map.i32;
  const sw = map.slotWords;
  let removed = 0;
  for (let s = 0; s < map.shards; s++) {
    const d = descI32(map.shard0I32, s);
    map.writeWindow.lock(d, OP.sweep);
    let writing = false;
    const region = map.table.regionI32(d);
    const cap = i32[d + D_CAP];
    for (let i = 0; i < cap; i++) {
      const at = region + i * sw;
      const slots = map.views.i32;
      const expiry = map.views.f64[(at + map.expiryOffI32) >> 1];
      // Entries without an expiry (+Infinity) never go, even for sweepExpired(Infinity).
      if (slots[at] >= 0 || expiry > now || expiry === Infinity) continue;
      if (!writing) {
        map.writeWindow.intend(d, UNDO_REMOVALS, -1, 0);
        map.writeWindow.begin(d);
        writing = true;
      }
      if (map.removeOrRetire(d, at)) removed++;
      if (park !== null) park('sweep');
    }
    if (writing) map.writeWindow.end(d, OP.sweep, -1);
    map.writeWindow.unlock(d);
  }
  if (map.counters !== null) map.counters.tally(C_EXPIRY_SWEEPS, C_EXPIRED, removed);
  return removed;
}

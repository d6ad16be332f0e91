/**
 * TTL and lease operations (maps created with `ttl: true` / `leases: true`):
 * taking and giving back leases, retiring entries, and reclaiming expired
 * ones. What "visible" means and how a write treats an invisible entry is in
 * core.ts (`visible`, `checkReplaceable`); the rules are in the essay at the
 * top of map.ts ("TTL and leases"). `SharedMap` exposes these as methods.
 *
 * # Who holds a lease: the ledger
 *
 * An entry's lease word counts its leases; the lease ledger (layout.ts,
 * LEDGER_*) says which thread holds how many of them: per shard, records
 * (owner thread, count, the key). `acquire` adds one to the caller's record
 * for the key (taking a free record when it has none); `release` takes one
 * from the caller's record, or, for a lease another thread took and handed
 * over, from that thread's. So, under the shard lock, an entry's lease
 * count is always the sum of its records' counts, and when a thread dies,
 * recovery gives back exactly its leases (`releaseDeadLeases`), never a
 * live thread's: an entry is not pinned forever by a dead holder.
 *
 * A lease op changes two words (the lease word and a record's count, and
 * a new record's owner), so it notes an intent first (UNDO_LEASE: the
 * lease word's and the record's values before) and clears it after: a
 * holder killed in between is rolled back whole by recovery. The last
 * release of a retired entry removes the entry first (its own intent) and
 * then updates the record: a holder killed between the two is left a
 * record for an entry that is gone, which its recovery frees.
 */
import {
  D_CAP,
  D_UNDO_LEDGER_AT,
  D_UNDO_LEDGER_COUNT,
  D_UNDO_LEDGER_OWNER,
  H_KEY_N,
  H_KEY_TYPE,
  H_LEDGER_OFF,
  L_COUNT,
  L_HASH,
  L_KEY,
  L_OWNER,
  LEASE_COUNT_MASK,
  LEASE_RETIRED,
  LEDGER_RECORDS,
  UNDO_LEASE,
  UNDO_REMOVALS,
  descI32,
  fieldBytes,
  ledgerRecordWords,
  ledgerShardI32,
} from './layout.js';
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
/** The key's hash, set with `foundAt`. */
let foundHash = 0;

/** Where a map's ledger is: its byte offset, words per record, the key field's words. */
interface Ledger {
  off: number;
  recWords: number;
  keyWords: number;
}
const ledgers = new WeakMap<MapCore, Ledger>();

function ledgerOf(map: MapCore): Ledger {
  let l = ledgers.get(map);
  if (l === undefined) {
    const keyWords = fieldBytes(map.i32[H_KEY_TYPE]!, map.i32[H_KEY_N]!) >> 2;
    l = { off: map.i32[H_LEDGER_OFF]!, recWords: ledgerRecordWords(keyWords), keyWords };
    ledgers.set(map, l);
  }
  return l;
}

/**
 * The ledger record of shard `s` saying that `owner` (a threadId + 1; 0:
 * any thread) holds leases on the key of hash `h` stored at word `keyAt`,
 * or -1. Precondition: the shard's lock held.
 */
function findRecord(map: MapCore, s: number, h: number, keyAt: number, owner: number): number {
  const l = ledgerOf(map);
  const w = map.views.i32;
  let rec = ledgerShardI32(l.off, s, l.keyWords);
  for (let r = 0; r < LEDGER_RECORDS; r++, rec += l.recWords) {
    const o = w[rec + L_OWNER]!;
    if (o === 0 || (owner !== 0 && o !== owner) || w[rec + L_HASH] !== h) continue;
    let k = 0;
    while (k < l.keyWords && w[rec + L_KEY + k] === w[keyAt + k]) k++;
    if (k === l.keyWords) return rec;
  }
  return -1;
}

/** A free record of shard `s`, or -1 when all LEDGER_RECORDS hold leases. Precondition: the shard's lock held. */
function freeRecord(map: MapCore, s: number): number {
  const l = ledgerOf(map);
  let rec = ledgerShardI32(l.off, s, l.keyWords);
  for (let r = 0; r < LEDGER_RECORDS; r++, rec += l.recWords) if (map.views.i32[rec + L_OWNER] === 0) return rec;
  return -1;
}

/**
 * Adds `delta` (+1 or -1) to the lease word of the entry at `at` and to
 * record `rec` (held by `owner`; a free record when adding becomes the
 * caller's, for the key at `at`), under an UNDO_LEASE intent (file
 * comment). Precondition: shard `d`'s lock held; the count stays in range.
 */
function changeLease(map: MapCore, d: number, at: number, rec: number, owner: number, delta: number): void {
  const w = map.views.i32;
  const i32 = map.i32;
  const leaseAt = at + map.leaseOffI32;
  i32[d + D_UNDO_LEDGER_AT] = rec;
  i32[d + D_UNDO_LEDGER_OWNER] = w[rec + L_OWNER]!;
  i32[d + D_UNDO_LEDGER_COUNT] = w[rec + L_COUNT]!;
  map.writeWindow.intend(d, UNDO_LEASE, leaseAt, w[leaseAt]!);
  if (w[rec + L_OWNER] === 0) {
    const l = ledgerOf(map);
    w[rec + L_HASH] = foundHash;
    for (let k = 0; k < l.keyWords; k++) w[rec + L_KEY + k] = w[at + map.keyOffI32 + k]!;
  }
  const count = w[rec + L_COUNT]! + delta;
  w[rec + L_OWNER] = count === 0 ? 0 : owner;
  w[rec + L_COUNT] = count;
  // The count is never read by lock-free readers: a plain store under the lock.
  w[leaseAt] = w[leaseAt]! + delta;
  if (park !== null) park(delta > 0 ? 'acquire' : 'release');
  map.writeWindow.settle(d);
}

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
  foundHash = h;
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
  const s = foundHash & map.shardMask;
  const me = map.thread + 1;
  let rec = findRecord(map, s, foundHash, at + map.keyOffI32, me);
  if (rec < 0) rec = freeRecord(map, s);
  if (rec < 0) {
    map.writeWindow.unlock(d);
    throw new LeaseError(
      `acquire: key ${map.keyCodec.preparedText()}: its shard's lease ledger is full (${LEDGER_RECORDS} (thread, key) pairs of shard ${s} hold leases); release some first`,
    );
  }
  changeLease(map, d, at, rec, me, 1);
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
  // The caller's record for the key, else the one of the thread that took the lease and handed it over.
  const s = foundHash & map.shardMask;
  const keyAt = at + map.keyOffI32;
  let rec = findRecord(map, s, foundHash, keyAt, map.thread + 1);
  if (rec < 0) rec = findRecord(map, s, foundHash, keyAt, 0);
  if (word - 1 === LEASE_RETIRED) {
    // The last lease of a retired entry: the entry goes first, then the record (file comment).
    map.removeAt(d, at, OP.delete);
    if (rec >= 0) {
      const w = map.views.i32;
      w[rec + L_COUNT] = w[rec + L_COUNT]! - 1;
      if (w[rec + L_COUNT] === 0) w[rec + L_OWNER] = 0;
    }
    map.writeWindow.unlock(d);
    return true;
  }
  if (rec >= 0) changeLease(map, d, at, rec, map.views.i32[rec + L_OWNER]!, -1);
  else map.views.i32[at + map.leaseOffI32] = word - 1; // no record: cannot happen while the ledger is kept
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

/** Whether shard `s`'s ledger has a record of `deadThread` (a hint read without the lock: a dead thread's records only ever go away). */
export function holdsLeases(map: MapCore, s: number, deadThread: number): boolean {
  if (!map.leases) return false;
  const l = ledgerOf(map);
  const dead = deadThread + 1;
  let rec = ledgerShardI32(l.off, s, l.keyWords);
  for (let r = 0; r < LEDGER_RECORDS; r++, rec += l.recWords) if (map.views.i32[rec + L_OWNER] === dead) return true;
  return false;
}

/**
 * Recovery: gives back every lease the dead thread `deadThread` held in
 * shard `d` (number `s`), as its releases would have: each entry's count
 * goes down by the thread's count, and an entry retired meanwhile whose
 * last lease this was is removed. Frees its records. Returns the leases
 * given back (0 on a map without leases). Precondition: the thread is
 * dead, the shard's lock held and its window closed (recover.ts).
 */
export function releaseDeadLeases(map: MapCore, d: number, s: number, deadThread: number): number {
  if (!map.leases) return 0; // no ledger
  const l = ledgerOf(map);
  const dead = deadThread + 1;
  let released = 0;
  let rec = ledgerShardI32(l.off, s, l.keyWords);
  for (let r = 0; r < LEDGER_RECORDS; r++, rec += l.recWords) {
    const w = map.views.i32;
    if (w[rec + L_OWNER] !== dead) continue;
    const count = w[rec + L_COUNT]!;
    // The entry, found by the record's key wherever growth moved it (gone: its last release removed it).
    const at = map.table.find(d, map.keyCodec.prepare(map.keyCodec.load(map.views, rec + L_KEY)));
    w[rec + L_OWNER] = 0;
    w[rec + L_COUNT] = 0;
    if (at < 0) continue;
    const word = map.views.i32[at + map.leaseOffI32]!;
    const n = Math.min(count, word & LEASE_COUNT_MASK);
    released += n;
    if (word - n === LEASE_RETIRED) map.removeAt(d, at, OP.recover);
    else map.views.i32[at + map.leaseOffI32] = word - n;
  }
  return released;
}

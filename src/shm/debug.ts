/**
 * Invariant checks and dumps, for tests and for the stress runner's quiet
 * points. Call only while no thread writes the map: they read without locks.
 */
import { CTRL_EMPTY, CTRL_TOMBSTONE, D_CAP, D_COUNT, D_SEQ, D_TOMBS } from './layout.js';
import { homeIndex } from './shard.js';
import { MAX_LOAD_DEN, MAX_LOAD_NUM } from './shard.js';
import { InvariantError } from './errors.js';
import type { MapCore } from './core.js';

/**
 * Throws InvariantError unless, in every shard: the seq is even (no write
 * half done); the counts of FULL and TOMBSTONE slots match the descriptor;
 * at least one slot is EMPTY (so probes end); count + tombstones stay within
 * the load factor; every FULL slot's key is found by a probe from its home
 * slot (no EMPTY slot between home and the key); and no key is stored twice.
 */
export function checkInvariants(map: MapCore): void {
  const i32 = map.i32;
  for (let s = 0; s < map.shards; s++) {
    const d = map.shardDescI32(s);
    const seq = Atomics.load(i32, d + D_SEQ);
    if ((seq & 1) !== 0) throw new InvariantError(`shard ${s}: seq ${seq} is odd with no write running`);
    checkShard(map, s);
  }
}

/**
 * checkInvariants for shard `s` alone, but for its seq: recovery calls it on
 * a repaired shard while it still holds the shard's lock, its window open.
 * Precondition: no other thread writes shard `s` (its lock held, or none
 * running).
 */
export function checkShard(map: MapCore, s: number): void {
  const i32 = map.i32;
  const d = map.shardDescI32(s);
  const region = map.table.regionI32(d);
  const cap = i32[d + D_CAP];
  const slots = map.views.i32;
  let full = 0;
  let tombs = 0;
  let empty = 0;
  const seen = new Set<string>();
  for (let i = 0; i < cap; i++) {
    const at = region + i * map.slotWords;
    const c = slots[at];
    if (c === CTRL_EMPTY) {
      empty++;
      continue;
    }
    if (c === CTRL_TOMBSTONE) {
      tombs++;
      continue;
    }
    if (c >= 0)
      throw new InvariantError(`shard ${s} slot ${i}: control word ${c} is neither EMPTY, TOMBSTONE nor FULL`);
    full++;
    const key = map.keyCodec.load(map.views, at + map.keyOffI32);
    const id = keyId(key);
    if (seen.has(id)) throw new InvariantError(`shard ${s}: key ${id} stored twice`);
    seen.add(id);
    for (let j = homeIndex(c & 0x7fff_ffff, cap); j !== i; j = j + 1 === cap ? 0 : j + 1) {
      if (slots[region + j * map.slotWords] === CTRL_EMPTY) {
        throw new InvariantError(
          `shard ${s}: key ${id} at slot ${i} is unreachable: slot ${j} on its probe path is EMPTY`,
        );
      }
    }
    const h = map.keyCodec.prepare(key);
    if ((h & map.shardMask) !== s)
      throw new InvariantError(`shard ${s}: key ${id} belongs to shard ${h & map.shardMask}`);
  }
  if (full !== i32[d + D_COUNT])
    throw new InvariantError(`shard ${s}: ${full} FULL slots, count says ${i32[d + D_COUNT]}`);
  if (tombs !== i32[d + D_TOMBS])
    throw new InvariantError(`shard ${s}: ${tombs} tombstones, descriptor says ${i32[d + D_TOMBS]}`);
  if (empty === 0) throw new InvariantError(`shard ${s}: no EMPTY slot, probes could run forever`);
  if ((full + tombs) * MAX_LOAD_DEN > cap * MAX_LOAD_NUM)
    throw new InvariantError(`shard ${s}: load ${full + tombs}/${cap} is over ${MAX_LOAD_NUM}/${MAX_LOAD_DEN}`);
}

function keyId(key: unknown): string {
  if (key instanceof Uint8Array) return Buffer.from(key).toString('hex');
  return typeof key === 'bigint' ? `${key}n` : String(key);
}

/** A text picture of every shard's slots: `.` EMPTY, `x` TOMBSTONE, `#` FULL. For debugging. */
export function dump(map: MapCore): string {
  const i32 = map.i32;
  const lines: string[] = [];
  for (let s = 0; s < map.shards; s++) {
    const d = map.shardDescI32(s);
    const region = map.table.regionI32(d);
    const cap = i32[d + D_CAP];
    let row = '';
    for (let i = 0; i < cap; i++) {
      const c = map.views.i32[region + i * map.slotWords];
      row += c === CTRL_EMPTY ? '.' : c === CTRL_TOMBSTONE ? 'x' : '#';
    }
    lines.push(
      `shard ${s} seq ${i32[d + D_SEQ]} region @${region * 4} cap ${cap} count ${i32[d + D_COUNT]} tombs ${i32[d + D_TOMBS]}: ${row}`,
    );
  }
  return lines.join('\n');
}

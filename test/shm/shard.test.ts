/**
 * src/shm/shard.ts on one shard of 8 slots in a fresh buffer, with exact
 * slot contents after each step: home slots stay inside the region for every
 * tag, colliding keys probe linearly and wrap at the end, a probe ends at an
 * EMPTY slot, a deleted slot becomes EMPTY when nothing probes through it and
 * a TOMBSTONE otherwise (and keys past it stay findable), an insert reuses
 * the first tombstone on its path, growth triggers at 7/8 so an EMPTY slot
 * always remains, a rehash keeps every live key findable and drops the
 * tombstones, and a probe over a table with no EMPTY slot still ends.
 */
import { describe, expect, it } from 'vitest';
import { keyCodec, parseType } from '../../src/shm/codec.js';
import {
  CTRL_EMPTY,
  CTRL_FULL_BIT,
  CTRL_TOMBSTONE,
  D_CAP,
  D_COUNT,
  D_REGION,
  D_TOMBS,
  regionBytes,
} from '../../src/shm/layout.js';
import {
  MAX_LOAD_DEN,
  MAX_LOAD_NUM,
  MIN_SHARD_SLOTS,
  Table,
  fullCtrl,
  homeIndex,
  slotsFor,
  slotsForCapacity,
} from '../../src/shm/shard.js';
import { Views } from '../../src/shm/views.js';

/** Slot layout used here: control word, int32 key, int32 value, one spare word. */
const SLOT_WORDS = 4;
const KEY_W = 1;
const VALUE_W = 2;
/** The shard's descriptor sits at word 8; its region at byte 1024; a second region at byte 2048. */
const D = 8;
const REGION = 1024;
const REGION2 = 2048;

interface Shard {
  t: Table;
  v: Views;
  /** Slot index -> word index of the slot. */
  slot(i: number): number;
  /** Key -> hash (through the table's codec). */
  hash(k: number): number;
  insert(k: number, value: number): number;
  find(k: number): number;
  remove(k: number): void;
  /** Control words of the region, as 'E' (empty), 'T' (tombstone) or the key held. */
  picture(): Array<string | number>;
}

function shard(cap = 8, seed = 99): Shard {
  const v = new Views(new SharedArrayBuffer(8192));
  const kc = keyCodec(parseType('int32', 'key', false).code, 0, seed);
  const t = new Table(v, kc, SLOT_WORDS, KEY_W, VALUE_W);
  v.i32[D + D_REGION] = REGION;
  v.i32[D + D_CAP] = cap;
  const slot = (i: number) => (v.i32[D + D_REGION]! >> 2) + i * SLOT_WORDS;
  const hash = (k: number) => kc.prepare(k);
  const s: Shard = {
    t,
    v,
    slot,
    hash,
    insert(k, value) {
      const h = hash(k);
      expect(t.findForWrite(D, h), `insert ${k}: already present`).toBe(-1);
      const at = t.insertAt;
      if (t.insertIntoTombstone) v.i32[D + D_TOMBS]--;
      v.i32[at] = fullCtrl(h);
      t.storeKey(at + KEY_W);
      v.i32[at + VALUE_W] = value;
      v.i32[D + D_COUNT]++;
      return at;
    },
    find: (k) => t.find(D, hash(k)),
    remove(k) {
      const at = t.find(D, hash(k));
      expect(at, `remove ${k}: absent`).toBeGreaterThanOrEqual(0);
      t.remove(D, at);
    },
    picture() {
      const out: Array<string | number> = [];
      for (let i = 0; i < v.i32[D + D_CAP]!; i++) {
        const c = v.i32[slot(i)]!;
        out.push(c === CTRL_EMPTY ? 'E' : c === CTRL_TOMBSTONE ? 'T' : v.i32[slot(i) + KEY_W]!);
      }
      return out;
    },
  };
  return s;
}

/** `n` int32 keys whose home slot in a table of `cap` is `home`. */
function keysHomedAt(s: Shard, home: number, n: number, cap = 8): number[] {
  const out: number[] = [];
  for (let k = 1; out.length < n; k++) if (homeIndex(s.hash(k) >>> 1, cap) === home) out.push(k);
  return out;
}

describe('shard: addressing', () => {
  it('a home slot is inside the region for every tag and capacity, from 0 up to cap - 1', () => {
    for (const cap of [1, 7, 8, 12, 1024, 1 << 20]) {
      expect(homeIndex(0, cap)).toBe(0);
      expect(homeIndex(0x7fff_ffff, cap)).toBe(cap - 1);
      for (let i = 0; i < 2000; i++) {
        const tag = (Math.imul(i, 0x9e3779b1) >>> 1) & 0x7fff_ffff;
        const home = homeIndex(tag, cap);
        expect(home).toBeGreaterThanOrEqual(0);
        expect(home).toBeLessThan(cap);
      }
    }
    // Doubling the capacity keeps the order of tags: slot i's tags go to 2i or 2i + 1.
    for (let tag = 0; tag < 0x7fff_ffff; tag += 0x0123_4567) {
      expect(homeIndex(tag, 16) >> 1).toBe(homeIndex(tag, 8));
    }
  });

  it('a FULL control word is the tag with the high bit set: never EMPTY or TOMBSTONE', () => {
    for (const h of [0, 1, 2, 3, -1, 0x7fff_ffff, -0x8000_0000]) {
      const c = fullCtrl(h);
      expect(c & CTRL_FULL_BIT).toBe(CTRL_FULL_BIT);
      expect(c).toBeLessThan(0);
      expect(c & 0x7fff_ffff).toBe(h >>> 1);
    }
  });

  it('sizes: at least MIN_SHARD_SLOTS, and room for the entries below the load factor', () => {
    expect(slotsFor(0)).toBe(MIN_SHARD_SLOTS);
    for (const n of [7, 100, 1000, 12345]) {
      expect(slotsFor(n) * MAX_LOAD_NUM).toBeGreaterThan(n * MAX_LOAD_DEN);
      expect(slotsForCapacity(n) * 3).toBeGreaterThanOrEqual(n * 4);
    }
    // A shard sized up front for n entries takes all n without growing.
    const n = 20;
    const s = shard(slotsForCapacity(n));
    for (let k = 1; k <= n; k++) {
      expect(s.t.needsGrowth(D), `before insert ${k}`).toBe(false);
      s.insert(k, k);
    }
  });
});

describe('shard: probing', () => {
  it('finds what was inserted, and answers -1 for an absent key', () => {
    const s = shard();
    const at = s.insert(42, 4200);
    expect(s.find(42)).toBe(at);
    expect(s.v.i32[at + VALUE_W]).toBe(4200);
    expect(s.find(43)).toBe(-1);
    expect(s.v.i32[D + D_COUNT]).toBe(1);
  });

  it('colliding keys take the next slots in order and wrap past the end', () => {
    const s = shard();
    const [a, b, c] = keysHomedAt(s, 6, 3);
    s.insert(a!, 1);
    s.insert(b!, 2);
    s.insert(c!, 3);
    expect(s.picture()).toEqual([c, 'E', 'E', 'E', 'E', 'E', a, b]);
    expect(s.find(c!)).toBe(s.slot(0));
    // An absent key homed at 6 probes 6, 7, 0 and stops at the EMPTY slot 1.
    const [, , , absent] = keysHomedAt(s, 6, 4);
    expect(s.find(absent!)).toBe(-1);
  });

  it('a deleted slot with an EMPTY successor becomes EMPTY, else a TOMBSTONE that keeps later keys findable', () => {
    const s = shard();
    const [a, b, c] = keysHomedAt(s, 2, 3);
    s.insert(a!, 1);
    s.insert(b!, 2);
    s.insert(c!, 3);
    expect(s.picture()).toEqual(['E', 'E', a, b, c, 'E', 'E', 'E']);
    s.remove(b!); // slot 3: its successor holds c, so a probe for c runs through it
    expect(s.picture()).toEqual(['E', 'E', a, 'T', c, 'E', 'E', 'E']);
    expect(s.v.i32[D + D_TOMBS]).toBe(1);
    expect(s.find(c!)).toBe(s.slot(4));
    s.remove(c!); // slot 4: its successor is EMPTY
    expect(s.picture()).toEqual(['E', 'E', a, 'T', 'E', 'E', 'E', 'E']);
    expect(s.v.i32[D + D_TOMBS]).toBe(1);
    expect(s.v.i32[D + D_COUNT]).toBe(1);
    expect(s.find(b!)).toBe(-1);
  });

  it('an insert reuses the first tombstone on its path, not the EMPTY slot that ends it', () => {
    const s = shard();
    const [a, b, c, d] = keysHomedAt(s, 2, 4);
    s.insert(a!, 1);
    s.insert(b!, 2);
    s.insert(c!, 3);
    s.remove(a!);
    s.remove(b!);
    expect(s.picture()).toEqual(['E', 'E', 'T', 'T', c, 'E', 'E', 'E']);
    expect(s.t.findForWrite(D, s.hash(d!))).toBe(-1);
    expect(s.t.insertAt).toBe(s.slot(2));
    expect(s.t.insertIntoTombstone).toBe(true);
    s.insert(d!, 4);
    expect(s.picture()).toEqual(['E', 'E', d, 'T', c, 'E', 'E', 'E']);
    expect(s.v.i32[D + D_TOMBS]).toBe(1);
    // A key already present is found by findForWrite even past a tombstone.
    expect(s.t.findForWrite(D, s.hash(c!))).toBe(s.slot(4));
  });

  it('a probe over a table with no EMPTY slot ends (-1), bounded by the capacity', () => {
    const s = shard();
    for (let i = 0; i < 8; i++) s.v.i32[s.slot(i)] = CTRL_TOMBSTONE;
    expect(s.find(5)).toBe(-1);
    expect(s.t.findForWrite(D, s.hash(5))).toBe(-1);
    expect(s.t.insertIntoTombstone).toBe(true);
  });
});

describe('shard: growth', () => {
  it('grows before an insert would pass 7/8: one EMPTY slot always remains', () => {
    const s = shard();
    for (let k = 1; k <= 7; k++) {
      expect(s.t.needsGrowth(D), `before insert ${k}`).toBe(false);
      s.insert(k * 1000, k);
    }
    expect(s.t.needsGrowth(D)).toBe(true);
    expect(s.picture().filter((c) => c === 'E')).toHaveLength(1);
    // Tombstones count towards the load: they lengthen probes as entries do.
    const t = shard();
    for (let k = 1; k <= 6; k++) t.insert(k, k);
    t.v.i32[D + D_TOMBS] = 1;
    expect(t.t.needsGrowth(D)).toBe(true);
  });

  it('doubles, or rehashes in place when tombstones rather than entries fill it', () => {
    const s = shard();
    for (let k = 1; k <= 7; k++) s.insert(k, k);
    expect(s.t.growthCapacity(D)).toBe(16);
    const t = shard();
    t.insert(1, 1);
    t.v.i32[D + D_TOMBS] = 6;
    expect(t.t.growthCapacity(D)).toBe(8);
  });

  it('a rehash copies every live key and its value into a zeroed region, drops tombstones, and leaves the old region as it was', () => {
    const s = shard();
    const keys = [11, 22, 33, 44, 55, 66, 77];
    for (const k of keys) s.insert(k, k * 10);
    s.remove(33);
    s.remove(66);
    const oldRegion = Array.from(s.v.i32.subarray(REGION >> 2, (REGION >> 2) + 8 * SLOT_WORDS));
    s.v.i32.fill(-7, REGION2 >> 2, (REGION2 + regionBytes(16, SLOT_WORDS * 4)) >> 2); // garbage the zeroing must clear
    s.t.zeroRegion(REGION2, 16);
    s.t.copyInto(D, REGION2, 16);
    expect(Array.from(s.v.i32.subarray(REGION >> 2, (REGION >> 2) + 8 * SLOT_WORDS))).toEqual(oldRegion);
    // Publish the new region as map.ts does, then look everything up there.
    s.v.i32[D + D_REGION] = REGION2;
    s.v.i32[D + D_CAP] = 16;
    s.v.i32[D + D_TOMBS] = 0;
    const live = keys.filter((k) => k !== 33 && k !== 66);
    for (const k of live) {
      const at = s.find(k);
      expect(at, `key ${k}`).toBeGreaterThanOrEqual(0);
      expect(s.v.i32[at + VALUE_W]).toBe(k * 10);
    }
    expect(s.find(33)).toBe(-1);
    expect(s.find(66)).toBe(-1);
    const pic = s.picture();
    expect(pic.filter((c) => c === 'T')).toEqual([]);
    expect(pic.filter((c) => typeof c === 'number').sort()).toEqual(live.slice().sort());
    expect(pic.filter((c) => c === 'E')).toHaveLength(16 - live.length);
  });
});

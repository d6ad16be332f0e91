/**
 * src/shm/conflict-log.ts on a map with a three-record log: records read back
 * field for field (what `map.conflicts()` shows a user), oldest first; past
 * the end they are counted as overflowed and the first ones kept; every
 * conflict is tallied by kind, recorded or dropped; keys are cut to the
 * record's key field without splitting a UTF-8 character; a record claimed
 * but never published (its writer died) is skipped; every append bumps and
 * notifies the events word a follower sleeps on; and the log never touches
 * the map's entries.
 */
import { describe, expect, it } from 'vitest';
import { SharedMap } from '../../src/index.js';
import {
  KIND_ITERATION,
  KIND_NAMES,
  KIND_READ,
  KIND_THREAD_DIED,
  KIND_WRITES,
  OP,
  appendConflict,
  conflictCounts,
  logEventsI32,
  logPosition,
  readConflict,
  readConflicts,
  type ConflictInput,
} from '../../src/shm/conflict-log.js';
import { H_LOG_NEXT, LOG_KEY_BYTES } from '../../src/shm/layout.js';
import { Views } from '../../src/shm/views.js';

function fresh(records = 3): { map: SharedMap<string, number>; v: Views } {
  const map = SharedMap.create<string, number>({
    key: 'string:16',
    value: 'int32',
    conflictLogSize: records,
    onConflict: 'record',
  });
  return { map, v: new Views(map.handle.buffer) };
}

function input(over: Partial<ConflictInput> = {}): ConflictInput {
  return {
    kind: KIND_WRITES,
    shard: 3,
    detThread: 11,
    detOp: OP.set,
    detKey: 'apple',
    seqSeen: 40,
    seqNow: 43,
    otherThread: 12,
    otherOp: OP.delete,
    otherKey: 'pear',
    otherSeq: 41,
    ...over,
  };
}

describe('conflict log', () => {
  it('a record reads back field for field, through map.conflicts() too', () => {
    const { map, v } = fresh();
    const before = Date.now();
    appendConflict(v, input());
    const [r, ...rest] = map.conflicts();
    expect(rest).toEqual([]);
    expect(r).toMatchObject({
      kind: 'concurrent map writes',
      shard: 3,
      detector: { thread: 11, op: 'set', key: 'apple', seqSeen: 40, seqNow: 43 },
      other: { thread: 12, op: 'delete', key: 'pear', seq: 41 },
    });
    expect(r!.time).toBeGreaterThanOrEqual(before - 1);
    expect(r!.time).toBeLessThanOrEqual(Date.now() + 1);
    expect(readConflict(v, 0)).toEqual(r);
  });

  it('every kind and op code reads back by name', () => {
    const { v } = fresh(KIND_NAMES.length);
    const kinds = [KIND_WRITES, KIND_READ, KIND_ITERATION, KIND_THREAD_DIED];
    for (const kind of kinds) appendConflict(v, input({ kind, detOp: OP.iterate, otherOp: OP.recover }));
    const got = readConflicts(v);
    expect(got.map((r) => r.kind)).toEqual(kinds.map((k) => KIND_NAMES[k]));
    expect(new Set(got.map((r) => r.detector.op))).toEqual(new Set(['iterate']));
    expect(new Set(got.map((r) => r.other.op))).toEqual(new Set(['recover']));
  });

  it('past the end records are counted as overflowed, the first ones kept, every one tallied by kind', () => {
    const { map, v } = fresh(3);
    for (let i = 0; i < 5; i++) appendConflict(v, input({ kind: i < 4 ? KIND_READ : KIND_WRITES, detKey: 'k' + i }));
    expect(readConflicts(v).map((r) => r.detector.key)).toEqual(['k0', 'k1', 'k2']);
    expect(conflictCounts(v)).toEqual({ recorded: 3, overflowed: 2 });
    const pos = logPosition(v);
    expect(pos.claimed).toBe(5);
    expect(pos.overflowed).toBe(2);
    expect(pos.byKind[KIND_READ]).toBe(4);
    expect(pos.byKind[KIND_WRITES]).toBe(1);
    expect(pos.byKind[KIND_ITERATION]).toBe(0);
    expect(pos.events).toBe(5);
    const stats = map.stats();
    expect(stats.conflicts).toBe(3);
    expect(stats.conflictsOverflowed).toBe(2);
  });

  it('keys longer than the record field are cut whole characters short, never mid-character', () => {
    const { v } = fresh();
    const ascii = 'x'.repeat(LOG_KEY_BYTES + 10);
    // 'é' is two UTF-8 bytes: an odd prefix puts a character across the field's end.
    const accented = 'a' + 'é'.repeat(LOG_KEY_BYTES);
    appendConflict(v, input({ detKey: ascii, otherKey: accented }));
    const r = readConflict(v, 0)!;
    expect(r.detector.key).toBe('x'.repeat(LOG_KEY_BYTES));
    expect(r.other.key).toBe('a' + 'é'.repeat((LOG_KEY_BYTES - 2) / 2));
    expect(Buffer.byteLength(r.other.key)).toBeLessThanOrEqual(LOG_KEY_BYTES);
    expect(r.other.key).not.toContain('\ufffd');
  });

  it('a record claimed but never published (its writer died) is skipped; later records still read', () => {
    const { v } = fresh(3);
    appendConflict(v, input({ detKey: 'first' }));
    Atomics.add(v.i32, H_LOG_NEXT, 1); // a writer claimed record 1 and died before publishing it
    appendConflict(v, input({ detKey: 'third' }));
    expect(readConflict(v, 1)).toBeUndefined();
    expect(readConflicts(v).map((r) => r.detector.key)).toEqual(['first', 'third']);
    expect(readConflict(v, -1)).toBeUndefined();
    expect(readConflict(v, 3)).toBeUndefined();
  });

  it('an append wakes a follower waiting on the events word', async () => {
    const { v } = fresh();
    const at = logEventsI32(v);
    const seen = Atomics.load(v.i32, at);
    const wait = Atomics.waitAsync(v.i32, at, seen, 10_000);
    expect(wait.async).toBe(true);
    appendConflict(v, input());
    expect(await wait.value).toBe('ok');
    expect(Atomics.load(v.i32, at)).toBe(seen + 1);
  });

  it("records never touch the map's entries", () => {
    const { map, v } = fresh(3);
    for (let i = 0; i < 200; i++) map.set('key' + i, i);
    for (let i = 0; i < 6; i++) appendConflict(v, input({ detKey: '\u{1F600}'.repeat(20), otherKey: 'y'.repeat(99) }));
    expect(map.size).toBe(200);
    for (let i = 0; i < 200; i++) expect(map.get('key' + i)).toBe(i);
  });
});

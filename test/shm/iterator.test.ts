/**
 * src/shm/iterator.ts's fail-fast check, driven deterministically: a write by
 * another thread shows in a shard's seq (+2 per completed write), so the
 * tests move a seq by hand between steps, as that thread would. Every step
 * checks every shard (reached, current or not yet reached), and so does the
 * step that reports done; a failed check throws ConcurrentMapIterationError,
 * records one conflict naming the shard, and ends the iteration; own writes
 * are told apart from foreign ones even when both moved the same shard; with
 * `onConflict: 'record'` the iteration records each foreign move once and
 * still produces every entry once. (map-iteration.test.ts covers own writes
 * during iteration, map-threads.test.ts real foreign threads.)
 */
import { describe, expect, it } from 'vitest';
import { ConcurrentMapIterationError, LockTimeoutError, SharedMap, type SharedMapOptions } from '../../src/index.js';
import { D_LOCK, D_SEQ, H_ITERATING, H_ITER_WRITES, H_SHARDS_OFF, shardI32 } from '../../src/shm/layout.js';
import { thrown } from './support.js';

const SHARDS = 4;
const N = 64;

function filled(options: SharedMapOptions = {}): SharedMap<number, number> {
  const map = SharedMap.create<number, number>({ key: 'int32', value: 'int32', shards: SHARDS, ...options });
  for (let k = 0; k < N; k++) map.set(k, k * 10);
  return map;
}

/**
 * What another thread's completed write does to shard `s`: its seq moves by
 * 2, and while a `forEach` runs (H_ITERATING non-zero) it bumps
 * H_ITER_WRITES (window.ts `begin`). `bump: false` is a broken writer that
 * skips the bump (the negative control of the forEach cases).
 */
function foreignWrite(map: SharedMap<number, number>, s: number, bump = true): void {
  const i32 = new Int32Array(map.handle.buffer);
  Atomics.add(i32, shardI32(i32[H_SHARDS_OFF]!, s) + D_SEQ, 2);
  if (bump && Atomics.load(i32, H_ITERATING) !== 0) Atomics.add(i32, H_ITER_WRITES, 1);
}

function iterating(map: SharedMap<number, number>): number {
  return Atomics.load(new Int32Array(map.handle.buffer), H_ITERATING);
}

/** The iteration conflicts the map recorded: shard and the detector's op. */
function iterationConflicts(map: SharedMap<number, number>): Array<{ shard: number; op: string }> {
  return map
    .conflicts()
    .filter((c) => c.kind === 'concurrent map iteration and map write')
    .map((c) => ({ shard: c.shard, op: c.detector.op }));
}

describe('iterator: the fail-fast check', () => {
  it('nothing moved: every entry once, no conflict (the negative control of the cases below)', () => {
    const map = filled();
    const keys = [...map.keys()].sort((a, b) => a - b);
    expect(keys).toEqual(Array.from({ length: N }, (_, k) => k));
    expect(map.conflicts()).toEqual([]);
  });

  for (const [where, shard] of [
    ['a shard not reached yet', SHARDS - 1],
    ['a shard already walked or being walked', 0],
  ] as const) {
    it(`a foreign write to ${where} throws at the next step, records it, and ends the iteration`, () => {
      const map = filled();
      const it = map.entries();
      expect(it.next().done).toBe(false);
      foreignWrite(map, shard);
      const e = thrown(() => it.next(), 'the step after a foreign write');
      expect(e).toBeInstanceOf(ConcurrentMapIterationError);
      expect((e as ConcurrentMapIterationError).code).toBe(new ConcurrentMapIterationError('').code);
      expect((e as Error).message).toContain(`shard ${shard}:`);
      expect(iterationConflicts(map)).toEqual([{ shard, op: 'iterate' }]);
      // Ended: later steps report done and record nothing more.
      expect(it.next()).toEqual({ done: true, value: undefined });
      expect(map.conflicts()).toHaveLength(1);
      // The map itself is untouched and a new iteration runs clean.
      expect(map.size).toBe(N);
      foreignWrite(map, shard); // between iterations: no iterator is open, nothing to detect
      expect([...map.keys()]).toHaveLength(N);
      expect(map.conflicts()).toHaveLength(1);
    });
  }

  it('a foreign write after the last entry is caught by the step that would report done', () => {
    const map = filled();
    const it = map.keys();
    for (let k = 0; k < N; k++) expect(it.next().done).toBe(false);
    foreignWrite(map, 1);
    expect(thrown(() => it.next())).toBeInstanceOf(ConcurrentMapIterationError);
    expect(iterationConflicts(map)).toEqual([{ shard: 1, op: 'iterate' }]);
  });

  it('own writes are allowed, but a foreign write to the same shard on top of them is caught', () => {
    const map = filled();
    const it = map.keys();
    it.next();
    // Own writes to every shard: allowed.
    for (let k = N; k < N + 16; k++) map.set(k, 0);
    for (let k = 0; k < 4; k++) expect(it.next().done).toBe(false);
    expect(map.conflicts()).toEqual([]);
    // Another own write plus one foreign write to shard 2: the seq moved by 4, own writes account for 2.
    map.set(N + 100, 0);
    foreignWrite(map, 2);
    let e: unknown;
    try {
      for (let i = 0; i < 2 * N && !it.next().done; i++);
    } catch (err) {
      e = err;
    }
    expect(e).toBeInstanceOf(ConcurrentMapIterationError);
    expect(iterationConflicts(map)).toEqual([{ shard: 2, op: 'iterate' }]);
  });

  it('forEach checks the same way and does not call the callback for the entry whose step failed', () => {
    const map = filled();
    const seen: number[] = [];
    const e = thrown(() =>
      map.forEach((_v, k) => {
        seen.push(k);
        if (seen.length === 3) foreignWrite(map, SHARDS - 1);
      }),
    );
    expect(e).toBeInstanceOf(ConcurrentMapIterationError);
    expect(seen).toHaveLength(3);
    expect(iterationConflicts(map)).toHaveLength(1);
  });

  it('forEach checks one word per step: a writer that skips the bump goes unseen (negative control of the case above)', () => {
    const map = filled();
    const seen: number[] = [];
    map.forEach((_v, k) => {
      seen.push(k);
      if (seen.length === 3) foreignWrite(map, SHARDS - 1, false);
    });
    expect(seen).toHaveLength(N);
    expect(map.conflicts()).toEqual([]);
  });

  it('forEach registers while it runs and gives the registration back however it ends', () => {
    const map = filled();
    const during: number[] = [];
    map.forEach(() => during.push(iterating(map)));
    expect(new Set(during)).toEqual(new Set([1]));
    expect(iterating(map)).toBe(0);
    // Nested: two registrations; a callback that throws, and a failed check, still give theirs back.
    const stop = thrown(() =>
      map.forEach(() => {
        map.forEach(() => during.push(iterating(map)));
        throw new Error('stop');
      }),
    );
    expect((stop as Error).message).toBe('stop');
    expect(during[during.length - 1]).toBe(2);
    expect(iterating(map)).toBe(0);
    const failed = thrown(() => map.forEach(() => foreignWrite(map, 0)));
    expect(failed).toBeInstanceOf(ConcurrentMapIterationError);
    expect(iterating(map)).toBe(0);
  });

  it('forEach does not note a shard whose lock another thread holds (that writer may not bump): it waits, and times out naming the holder', () => {
    const map = filled({ lockTimeoutMs: 50 });
    const i32 = new Int32Array(map.handle.buffer);
    const lock = shardI32(i32[H_SHARDS_OFF]!, 2) + D_LOCK;
    Atomics.store(i32, lock, 1_000_000 + 1); // held by a thread that looked at H_ITERATING before this forEach
    const calls: number[] = [];
    const e = thrown(() => map.forEach((_v, k) => calls.push(k)));
    expect(e).toBeInstanceOf(LockTimeoutError);
    expect((e as Error).message).toContain('1000000');
    expect(calls).toEqual([]);
    expect(iterating(map)).toBe(0);
    // keys() does not register: it notes the seq as it is, and runs.
    expect([...map.keys()]).toHaveLength(N);
    Atomics.store(i32, lock, 0);
    expect(() => map.forEach(() => {})).not.toThrow();
  });

  it("with onConflict 'record': each foreign move is recorded once and every entry is still produced once", () => {
    const map = filled({ onConflict: 'record' });
    const produced: number[] = [];
    for (const [k, v] of map) {
      expect(v).toBe(k * 10);
      produced.push(k);
      if (produced.length === 5) foreignWrite(map, SHARDS - 1);
      // Own writes after a recorded move are still own writes: no further record.
      if (produced.length === 20) for (let j = 0; j < N; j++) map.set(j, j * 10);
      if (produced.length === 40) {
        foreignWrite(map, 0);
        foreignWrite(map, 0); // two writes between two steps: one move, one record
      }
    }
    expect(produced.sort((a, b) => a - b)).toEqual(Array.from({ length: N }, (_, k) => k));
    expect(iterationConflicts(map)).toEqual([
      { shard: SHARDS - 1, op: 'iterate' },
      { shard: 0, op: 'iterate' },
    ]);
  });
});

/**
 * An iterator created while another thread's write to a shard is under way
 * (its odd-seq window open) must not read that write's half-written slot:
 * a writer parked inside an insert, after the slot's FULL control word and
 * before its key and value (src/shm/window.ts back door), is waited for.
 * With a short lockTimeoutMs the wait ends in LockTimeoutError, nothing
 * read; once the writer goes on, the iteration gives the map before or
 * after the insert, never the half-written slot. (Without the wait, the
 * iterator noted the odd seq as its start, every check passed while the
 * window stayed open, and the slot came out as a bogus entry.)
 */
import { describe, expect, it } from 'vitest';
import { SharedMap, LockTimeoutError } from '../../src/index.js';
import { DEATH_WORDS as W, parkInOp, requireDist, thrown } from './support.js';

requireDist();

describe('an iterator and a write under way in another thread', () => {
  it('waits the write out (LockTimeoutError while it is parked), then reads the map whole', async () => {
    const map = SharedMap.create<number, number>({ shards: 1, capacity: 64, seed: 7, lockTimeoutMs: 300 });
    for (let k = 0; k < 8; k++) map.set(k, k * 10 + 2);
    const before = [...map.entries()].sort((a, b) => a[0] - b[0]);
    const w = await parkInOp(map.handle, 'set', 'set:empty', [100]);
    expect(thrown(() => [...map.entries()])).toBeInstanceOf(LockTimeoutError);
    expect(thrown(() => [...map.keys()])).toBeInstanceOf(LockTimeoutError);
    Atomics.store(w.words, W.never, 1);
    Atomics.notify(w.words, W.never);
    await w.result;
    await w.worker.terminate();
    expect([...map.entries()].sort((a, b) => a[0] - b[0])).toEqual([...before, [100, 1001]]);
  });
});

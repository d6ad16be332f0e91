/**
 * sync: 'none': a conflict record names the write in progress as its other
 * party. A worker is parked inside an overwrite (its window open: the seq
 * odd) after the main thread was the shard's last writer to finish; a set
 * and a get from the main thread then find the seq odd. The records must
 * name the parked worker and its op, not the main thread's own last write
 * (which is what the last-writer fields hold, and what the records named
 * before `lock` noted the thread entering the window).
 */
import { describe, expect, it } from 'vitest';
import { SharedMap } from '../../src/index.js';
import { DEATH_WORDS as W, parkInOp, requireDist } from './support.js';
import { threadId } from 'node:worker_threads';

requireDist();

describe("sync: 'none', the other party of a conflict", () => {
  it('is the thread whose write is in progress, not the last writer to finish', async () => {
    const map = SharedMap.create<number, number>({
      shards: 1,
      capacity: 64,
      seed: 3,
      sync: 'none',
      onConflict: 'record',
    });
    for (let k = 0; k < 8; k++) map.set(k, k);
    const w = await parkInOp(map.handle, 'set', 'set:overwrite', [5]);
    try {
      map.get(3); // a read finds the seq odd
      map.set(2, 20); // and so does a write (which leaves it even)
      const recs = map.conflicts();
      const writes = recs.filter((r) => r.kind === 'concurrent map writes');
      const reads = recs.filter((r) => r.kind === 'concurrent map read and map write');
      expect(writes.length).toBeGreaterThanOrEqual(1);
      expect(reads.length).toBeGreaterThanOrEqual(1);
      for (const r of [writes[0]!, reads[0]!]) {
        expect(r.detector.thread).toBe(threadId);
        expect(r.other.thread).toBe(w.threadId);
        expect(r.other.op).toBe('set');
        expect(r.other.key).toBe('');
      }
      expect(writes[0]!.detector.op).toBe('set');
      expect(writes[0]!.detector.key).toBe('2');
    } finally {
      Atomics.store(w.words, W.never, 1);
      Atomics.notify(w.words, W.never);
      await w.result.catch(() => {});
      await w.worker.terminate();
    }
  });

  it("in 'lock' mode the other party is still the shard's last writer to finish", async () => {
    // An iteration conflict: the main thread's iterator, a write by a worker.
    const map = SharedMap.create<number, number>({ shards: 1, capacity: 64, seed: 3 });
    for (let k = 0; k < 8; k++) map.set(k, k);
    const it = map.entries();
    it.next();
    const w = await parkInOp(map.handle, 'set', 'set:overwrite', [5]);
    Atomics.store(w.words, W.never, 1);
    Atomics.notify(w.words, W.never);
    await w.result.catch(() => {});
    await w.worker.terminate();
    expect(() => it.next()).toThrow(/concurrent map iteration and map write/);
    const rec = map.conflicts().at(-1)!;
    expect(rec.other.thread).toBe(w.threadId);
    expect(rec.other.op).toBe('set');
    expect(rec.other.key).toBe('5');
  });
});

/**
 * SharedMap across real worker_threads (scripts in test/workers/, loaded from
 * dist/). Workers are choreographed through a shared Int32Array, never by
 * sleeping; every wait is bounded so a missing party fails instead of hanging.
 */
import { describe, it, expect, beforeAll } from 'vitest';
import { SharedMap } from '../../src/index.js';
import type { ConflictRecord } from '../../src/index.js';
import { checkInvariants } from '../../src/shm/debug.js';
import { controlWords, requireDist, spawn, canonEntries } from './support.js';

const check = checkInvariants;

beforeAll(requireDist);

type Err = { name: string; code: string; message: string; isTypeError: boolean } | undefined;

describe('writers and adders', () => {
  it('4 workers writing disjoint key ranges end with every key present with its last value', async () => {
    const map = SharedMap.create<number, number>({ capacity: 8, shards: 4 });
    const words = controlWords();
    const L = { barrier: 0 };
    const per = 4000;
    const rounds = 3;
    const runs = [0, 1, 2, 3].map((w) =>
      spawn('map-writer.mjs', { handle: map.handle, from: w * per, to: (w + 1) * per, rounds, words, L, parties: 4 }),
    );
    await Promise.all(runs.map((r) => r.result));
    expect(map.size).toBe(4 * per);
    for (let k = 0; k < 4 * per; k++) {
      if (map.get(k) !== k * 10 + rounds - 1) expect(map.get(k), `key ${k}`).toBe(k * 10 + rounds - 1);
    }
    expect(canonEntries(map.snapshot()).length).toBe(4 * per);
    check(map);
    expect(map.conflicts()).toEqual([]);
  });

  it('4 workers doing add on 16 shared counters end with exact sums', async () => {
    const map = SharedMap.create<number, number>({ capacity: 8, shards: 2 });
    const words = controlWords();
    const L = { barrier: 0 };
    const counters = 16;
    const iters = 60_000;
    const runs = [0, 1, 2, 3].map(() =>
      spawn('map-adder.mjs', { handle: map.handle, counters, iters, words, L, parties: 4 }),
    );
    await Promise.all(runs.map((r) => r.result));
    const want = new Array<number>(counters).fill(0);
    for (let i = 0; i < iters; i++) want[i % counters]! += 4 * (1 + (i % 3));
    expect(map.size).toBe(counters);
    for (let c = 0; c < counters; c++) expect(map.get(c), `counter ${c}`).toBe(want[c]);
    check(map);
    const s = map.stats();
    expect(s.lockWaits).toBeGreaterThanOrEqual(0);
  });
});

describe('atomic operations across threads', () => {
  for (const op of ['update', 'cas']) {
    it(`4 workers incrementing 16 counters with ${op === 'cas' ? 'a get/compareAndSet loop' : 'update'} end with exact sums`, async () => {
      const map = SharedMap.create<number, number>({ capacity: 8, shards: 2 });
      const words = controlWords();
      const counters = 16;
      const iters = 20_000;
      const runs = [0, 1, 2, 3].map(() =>
        spawn('map-adder.mjs', { handle: map.handle, counters, iters, words, L: { barrier: 0 }, parties: 4, op }),
      );
      await Promise.all(runs.map((r) => r.result));
      for (let c = 0; c < counters; c++) {
        let want = 0;
        for (let i = c; i < iters; i += counters) want += 4 * (1 + (i % 3));
        expect(map.get(c), `counter ${c}`).toBe(want);
      }
      expect(map.size).toBe(counters);
      check(map);
    });
  }

  it('putIfAbsent from 4 workers on the same keys: exactly one winner per key, and every loser is told the winner', async () => {
    const map = SharedMap.create<number, number>({ capacity: 8, shards: 4 });
    const words = controlWords();
    const keys = 5000;
    type R = { threadId: number; won: number[]; told: Record<string, number> };
    const runs = [0, 1, 2, 3].map(() =>
      spawn<R>('map-claim.mjs', { handle: map.handle, keys, words, L: { barrier: 0 }, parties: 4 }),
    );
    const results = await Promise.all(runs.map((r) => r.result));
    const winner = new Map<number, number>();
    for (const r of results) {
      for (const k of r.won) {
        expect(winner.has(k), `key ${k} won twice`).toBe(false);
        winner.set(k, r.threadId);
      }
    }
    expect(winner.size).toBe(keys);
    for (const r of results) for (const [k, w] of Object.entries(r.told)) expect(w).toBe(winner.get(Number(k)));
    for (const [k, w] of winner) if (map.get(k) !== w) expect(map.get(k)).toBe(w);
    expect(map.size).toBe(keys);
    check(map);
  });
});

describe('clear racing writers', () => {
  it('leaves a consistent map: size matches contents, every value is one that was written, invariants hold', async () => {
    const map = SharedMap.create<number, number>({ capacity: 8, shards: 4 });
    const words = controlWords();
    const L = { barrier: 0 };
    const per = 20_000;
    const writers = [0, 1].map((w) =>
      spawn('map-writer.mjs', {
        handle: map.handle,
        from: w * per,
        to: (w + 1) * per,
        rounds: 1,
        words,
        L,
        parties: 3,
      }),
    );
    const clearer = spawn('map-clearer.mjs', { handle: map.handle, clears: 300, words, L, parties: 3 });
    await Promise.all([...writers, clearer].map((r) => r.result));
    const snap = map.snapshot();
    expect(map.size).toBe(snap.length);
    expect(new Set(snap.map(([k]) => k)).size).toBe(snap.length);
    for (const [k, v] of snap) if (v !== k * 10) expect(v, `key ${k}`).toBe(k * 10);
    for (const [k] of snap) expect(map.get(k)).toBe(k * 10);
    // The last clear came before the clearer's last 49 inserts; they are all there.
    for (let k = -1; k > -50; k--) expect(map.get(k)).toBe(k * 10);
    const s = map.stats();
    expect(s.count).toBe(snap.length);
    check(map);
  });
});

describe('readers while another thread grows the map', () => {
  it('gets and snapshots of stable keys always see their value while shards grow and move', async () => {
    const stable = 500;
    const map = SharedMap.create<number, number>({ capacity: 8, shards: 2 });
    for (let k = 0; k < stable; k++) map.set(k, k * 3);
    const words = controlWords();
    const L = { barrier: 0, done: 2 };
    const common = { handle: map.handle, stable, from: 10_000, to: 80_000, words, L, parties: 3 };
    type R = { reads: number; wrong: number; snapshots: number; examples: unknown[]; error: Err };
    const grower = spawn('map-grow-read.mjs', { ...common, role: 'grow' });
    const readers = ['read', 'snapshot'].map((role) => spawn<R>('map-grow-read.mjs', { ...common, role }));
    const [, ...rs] = await Promise.all([grower.result, ...readers.map((r) => r.result)]);
    for (const r of rs) {
      expect(r.error).toBeUndefined();
      expect(r.examples).toEqual([]);
      expect(r.wrong).toBe(0);
      expect(r.reads).toBeGreaterThan(0);
    }
    expect(map.size).toBe(stable + 35_000);
    expect(map.conflicts()).toEqual([]);
    check(map);
  });
});

describe('fail-fast iteration against another thread', () => {
  const L = { iterating: 0, wrote: 1, firstKey: 2 };

  interface IterResult {
    threadId: number;
    produced: number[];
    done: boolean;
    error: Err;
    isIterationError: boolean;
  }

  async function race(opts: {
    shards: number;
    n: number;
    before: number;
    op: string;
    key: number | 'first';
    method?: string;
    skipIterationWrites?: boolean;
  }) {
    const map = SharedMap.create<number, number>({ capacity: 64, shards: opts.shards });
    for (let i = 0; i < opts.n; i++) map.set(i, i);
    const words = controlWords();
    const iter = spawn<IterResult>('map-iterate.mjs', {
      role: 'iterate',
      handle: map.handle,
      words,
      L,
      before: opts.before,
      method: opts.method,
    });
    const writer = spawn<{ threadId: number; error: Err }>('map-iterate.mjs', {
      role: 'write',
      handle: map.handle,
      words,
      L,
      op: opts.op,
      key: opts.key,
      skipIterationWrites: opts.skipIterationWrites,
    });
    const [it, w] = await Promise.all([iter.result, writer.result]);
    expect(w.error).toBeUndefined();
    return { map, it, w, iterThread: iter.threadId, writerThread: writer.threadId };
  }

  function expectConflict(r: Awaited<ReturnType<typeof race>>, op: string) {
    expect(r.it.error?.name, `iterator produced ${r.it.produced.length} and done=${r.it.done}`).toBe(
      'ConcurrentMapIterationError',
    );
    expect(r.it.error?.code).toBe('SHMAP_CONCURRENT_ITERATION');
    expect(r.it.error?.message).toMatch(/^concurrent map iteration and map write/);
    const recs = r.map.conflicts().filter((c: ConflictRecord) => c.kind === 'concurrent map iteration and map write');
    expect(recs.length).toBeGreaterThanOrEqual(1);
    const rec = recs[0]!;
    expect(rec.detector.thread).toBe(r.iterThread);
    expect(rec.detector.op).toBe('iterate');
    expect(rec.other.thread).toBe(r.writerThread);
    expect(rec.other.op).toBe(op);
    expect(r.map.stats().conflicts).toBeGreaterThanOrEqual(1);
    check(r.map);
  }

  it('an overwrite of an existing value (one shard) throws ConcurrentMapIterationError and records both threads and ops', async () => {
    expectConflict(await race({ shards: 1, n: 100, before: 10, op: 'set', key: 50 }), 'set');
  });

  it('an insert into another shard is caught too', async () => {
    expectConflict(await race({ shards: 4, n: 100, before: 10, op: 'set', key: 5000 }), 'set');
  });

  it('a write to an entry the iterator already produced is caught', async () => {
    expectConflict(await race({ shards: 4, n: 100, before: 30, op: 'set', key: 'first' }), 'set');
  });

  it('a delete is caught', async () => {
    expectConflict(await race({ shards: 2, n: 100, before: 10, op: 'delete', key: 70 }), 'delete');
  });

  it('add and update are caught', async () => {
    expectConflict(await race({ shards: 2, n: 100, before: 10, op: 'add', key: 70 }), 'add');
    expectConflict(await race({ shards: 2, n: 100, before: 10, op: 'update', key: 71 }), 'update');
  });

  it('a write during the last step is caught before the iterator reports done', async () => {
    const r = await race({ shards: 4, n: 100, before: 100, op: 'set', key: 3 });
    expect(r.it.produced.length).toBe(100);
    expect(r.it.done).toBe(false);
    expectConflict(r, 'set');
  });

  for (const method of ['keys', 'values', 'iterator', 'forEach']) {
    it(`${method}() is fail-fast too`, async () => {
      expectConflict(await race({ shards: 2, n: 100, before: 20, op: 'set', key: 60, method }), 'set');
    });
  }

  it('forEach: a write during its last callback is caught before it returns', async () => {
    expectConflict(await race({ shards: 2, n: 100, before: 100, op: 'set', key: 60, method: 'forEach' }), 'set');
  });

  it('forEach relies on writers bumping the one word it checks: a writer that skips it goes unseen (negative control)', async () => {
    const r = await race({
      shards: 2,
      n: 100,
      before: 20,
      op: 'set',
      key: 60,
      method: 'forEach',
      skipIterationWrites: true,
    });
    expect(r.it.error).toBeUndefined();
    expect(r.it.done).toBe(true);
    expect(r.it.produced).toHaveLength(100);
    expect(r.map.conflicts()).toEqual([]);
    // The same broken writer against keys() (which checks every shard's seq) is still caught.
    expectConflict(
      await race({ shards: 2, n: 100, before: 20, op: 'set', key: 60, method: 'keys', skipIterationWrites: true }),
      'set',
    );
  });

  it('another thread only reading (get, has, snapshot, its own iteration) is not a conflict', async () => {
    const map = SharedMap.create<number, number>({ capacity: 64, shards: 4 });
    for (let i = 0; i < 100; i++) map.set(i, i);
    const words = controlWords();
    const iter = spawn<IterResult>('map-iterate.mjs', { role: 'iterate', handle: map.handle, words, L, before: 10 });
    const reader = spawn<{ n: number; error: Err }>('map-iterate.mjs', { role: 'read', handle: map.handle, words, L });
    const [it, rd] = await Promise.all([iter.result, reader.result]);
    expect(rd.error).toBeUndefined();
    expect(rd.n).toBe(200);
    expect(it.error).toBeUndefined();
    expect(it.done).toBe(true);
    expect(it.produced.slice().sort((a, b) => a - b)).toEqual([...Array(100).keys()]);
    expect(map.conflicts()).toEqual([]);
  });
});

describe('a thread deleting during its own iteration', () => {
  it('gets Go semantics and no error, while another thread reads the whole time', async () => {
    const n = 3000;
    const map = SharedMap.create<number, number>({ capacity: 64, shards: 4 });
    for (let i = 0; i < n; i++) map.set(i, i);
    const words = controlWords();
    const L = { barrier: 0, done: 2 };
    const deleter = spawn<{ produced: number[]; deleted: number[]; deletedAhead: number[]; error: Err }>(
      'map-self-delete.mjs',
      {
        role: 'delete',
        handle: map.handle,
        n,
        words,
        L,
      },
    );
    const reader = spawn<{ reads: number; error: Err }>('map-self-delete.mjs', {
      role: 'read',
      handle: map.handle,
      n,
      words,
      L,
    });
    const [d, r] = await Promise.all([deleter.result, reader.result]);
    expect(d.error).toBeUndefined();
    expect(r.error).toBeUndefined();
    const produced = d.produced;
    expect(new Set(produced).size).toBe(produced.length); // none twice
    const deleted = new Set(d.deleted);
    const producedSet = new Set(produced);
    // Every key not deleted was produced; a key deleted before the iterator reached it never was.
    for (let k = 0; k < n; k++) if (!deleted.has(k)) expect(producedSet.has(k), `key ${k} never produced`).toBe(true);
    expect(d.deletedAhead.length).toBeGreaterThan(0);
    for (const k of d.deletedAhead) expect(producedSet.has(k), `key ${k} produced after it was deleted`).toBe(false);
    expect(map.size).toBe(n - deleted.size);
    for (const k of deleted) expect(map.has(k)).toBe(false);
    expect(map.conflicts()).toEqual([]);
    check(map);
  });
});

describe("sync: 'none' (Go's unsynchronized map with its checks)", () => {
  const L = { barrier: 0, stop: 2 };
  const keys = 64;
  const maxOps = 20_000_000;

  function racers(map: { handle: unknown }, roles: string[], wantRecords: number) {
    const words = controlWords();
    return roles.map((role) =>
      spawn<{ threadId: number; ops: number; error: Err }>(
        'map-racer.mjs',
        { role, handle: map.handle, keys, maxOps, wantRecords, words, L, parties: roles.length },
        90_000,
      ),
    );
  }

  it("concurrent writers record 'concurrent map writes' (onConflict: 'record'), naming writer threads", async () => {
    const map = SharedMap.create<number, number>({ capacity: 128, shards: 1, sync: 'none', onConflict: 'record' });
    for (let k = 0; k < keys; k++) map.set(k, 0);
    const runs = racers(map, ['write', 'write'], 5);
    const results = await Promise.all(runs.map((r) => r.result));
    for (const r of results) expect(r.error).toBeUndefined(); // record only: nothing thrown
    const writers = runs.map((r) => r.threadId);
    const recs = map.conflicts().filter((c) => c.kind === 'concurrent map writes');
    console.log(
      `sync none, 2 writers: ${results.map((r) => r.ops).join(' + ')} ops, ${recs.length} 'concurrent map writes' records`,
    );
    expect(recs.length).toBeGreaterThanOrEqual(1);
    for (const rec of recs) {
      expect(writers).toContain(rec.detector.thread);
      expect(rec.detector.op).toBe('set');
    }
    expect(
      recs.some(
        (rec) =>
          writers.includes(rec.other.thread) && rec.other.thread !== rec.detector.thread && rec.other.op === 'set',
      ),
    ).toBe(true);
    const st = map.stats();
    expect(st.conflicts + st.conflictsOverflowed).toBeGreaterThanOrEqual(map.conflicts().length);
    expect(st.conflicts).toBeGreaterThanOrEqual(1);
    expect(map.size).toBe(keys); // overwrites only: the table kept its shape
  });

  it('writers that take turns (no overlap) record nothing: no false positives', async () => {
    const map = SharedMap.create<number, number>({ capacity: 8, shards: 2, sync: 'none', onConflict: 'throw' });
    for (let w = 0; w < 3; w++) {
      const words = controlWords();
      const run = spawn('map-writer.mjs', {
        handle: map.handle,
        from: 0,
        to: 3000,
        rounds: 2,
        words,
        L: { barrier: 0 },
        parties: 1,
      });
      await run.result;
      for (let k = 0; k < 100; k++) map.get(k); // and the test thread reads in between
    }
    expect(map.conflicts()).toEqual([]);
    expect(map.size).toBe(3000);
    for (let k = 0; k < 3000; k++) if (map.get(k) !== k * 10 + 1) expect(map.get(k)).toBe(k * 10 + 1);
    check(map);
  });

  it("a reader racing a writer records 'concurrent map read and map write'", async () => {
    const map = SharedMap.create<number, number>({ capacity: 128, shards: 1, sync: 'none', onConflict: 'record' });
    for (let k = 0; k < keys; k++) map.set(k, 0);
    const runs = racers(map, ['write', 'read'], 1);
    const results = await Promise.all(runs.map((r) => r.result));
    for (const r of results) expect(r.error).toBeUndefined();
    const recs = map.conflicts().filter((c) => c.kind === 'concurrent map read and map write');
    console.log(
      `sync none, writer + reader: ${results.map((r) => r.ops).join(' + ')} ops, ${recs.length} read/write records`,
    );
    expect(recs.length).toBeGreaterThanOrEqual(1);
    expect(recs[0]!.detector.thread).toBe(runs[1]!.threadId);
    expect(recs[0]!.detector.op).toBe('get');
  });

  it("an iteration overlapped by a writer throws ConcurrentMapIterationError in sync 'none' too", async () => {
    const map = SharedMap.create<number, number>({ capacity: 64, shards: 2, sync: 'none' });
    for (let i = 0; i < 100; i++) map.set(i, i);
    const words = controlWords();
    const L2 = { iterating: 0, wrote: 1, firstKey: 2 };
    const iter = spawn<{ error: Err; done: boolean }>('map-iterate.mjs', {
      role: 'iterate',
      handle: map.handle,
      words,
      L: L2,
      before: 10,
    });
    const writer = spawn<{ error: Err }>('map-iterate.mjs', {
      role: 'write',
      handle: map.handle,
      words,
      L: L2,
      op: 'set',
      key: 40,
    });
    const [it, w] = await Promise.all([iter.result, writer.result]);
    expect(w.error).toBeUndefined();
    expect(it.error?.name).toBe('ConcurrentMapIterationError');
    const rec = map.conflicts().find((c) => c.kind === 'concurrent map iteration and map write');
    expect(rec?.detector.thread).toBe(iter.threadId);
    expect(rec?.other.thread).toBe(writer.threadId);
  });

  it("with onConflict: 'throw' a racing writer gets ConcurrentMapWriteError", async () => {
    const map = SharedMap.create<number, number>({ capacity: 128, shards: 1, sync: 'none', onConflict: 'throw' });
    for (let k = 0; k < keys; k++) map.set(k, 0);
    const runs = racers(map, ['write', 'write'], 1);
    const results = await Promise.all(runs.map((r) => r.result));
    const errors = results.map((r) => r.error).filter((e) => e !== undefined);
    expect(errors.length).toBeGreaterThanOrEqual(1);
    for (const e of errors) {
      expect(e!.name).toBe('ConcurrentMapWriteError');
      expect(e!.code).toBe('SHMAP_CONCURRENT_WRITE');
      expect(e!.message).toMatch(/^concurrent map writes/);
    }
    expect(map.conflicts().some((c) => c.kind === 'concurrent map writes')).toBe(true);
  });
});

describe('handles cross threads', () => {
  it('via workerData and via postMessage, and a map created in a worker attaches in the test thread', async () => {
    const map = SharedMap.create<string, string>({ key: 'string:16', value: 'string:32', capacity: 8, shards: 2 });
    map.set('from-test', 'hi');
    type R = { threadId: number; seen: string; size: number; ownHandle: { shmap: 1; buffer: SharedArrayBuffer } };

    const viaData = spawn<R>('map-handle.mjs', { handle: map.handle });
    const a = await viaData.result;
    expect(a.seen).toBe('hi');
    expect(map.get('from-worker')).toBe(`hello from ${viaData.threadId}`);

    const viaMessage = spawn<R>('map-handle.mjs', {});
    viaMessage.worker.postMessage({ handle: map.handle });
    const b = await viaMessage.result;
    expect(b.seen).toBe('hi');
    expect(map.get('from-worker')).toBe(`hello from ${viaMessage.threadId}`);
    expect(map.size).toBe(2);

    const theirs = SharedMap.attach<number, string>(b.ownHandle);
    expect(theirs.get(7)).toBe('seven');
    expect(theirs.size).toBe(1);
    check(map);
    check(theirs);
  });
});

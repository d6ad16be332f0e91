/**
 * src/shm/patterns/delete-queue.ts and src/workers/drainer.ts: unit behaviour
 * on small queues with exact expectations, then real worker threads
 * (producers, a drainer thread, a real SharedMap).
 */
import { describe, it, expect, beforeAll } from 'vitest';
import { Worker } from 'node:worker_threads';
import { Piscina } from 'piscina';
import {
  DeleteQueue,
  InvalidHandleError,
  InvalidOptionError,
  KeyTooLongError,
  ShmapTypeError,
  ConcurrentMapWriteError,
  type DeleteQueueHandle,
  type DrainLoopResult,
} from '../../../src/index.js';
import { SharedMap } from '../../../src/shm/map.js';
import { distPath } from '../../helpers/paths.js';
import { controlWords, requireDist, spawn, thrown, canon } from '../support.js';
import { until } from '../../helpers/until.js';

/** A map stand-in that records what was deleted, in order. */
function recorder<K>(): { deleted: K[]; delete(k: K): boolean } {
  const deleted: K[] = [];
  return { deleted, delete: (k: K) => (deleted.push(k), true) };
}

/**
 * `until`, but fails at once (with what happened) when one of `workers`
 * settles first: a worker that died or finished early cannot make the
 * condition come true, and waiting out the timeout would hide why.
 */
async function untilOr(cond: () => boolean, what: string, workers: Array<Promise<unknown>>): Promise<void> {
  const early = workers.map((w) =>
    w.then(
      (r) => {
        throw new Error(`waiting for ${what}: a worker finished first with ${JSON.stringify(r)}`);
      },
      (e: unknown) => {
        throw new Error(`waiting for ${what}: a worker failed first: ${String(e)}`);
      },
    ),
  );
  for (const e of early) e.catch(() => {}); // the race below reports it
  await Promise.race([until(cond, what), ...early]);
}

const KEY_STRIDE = 1_000_000;

/**
 * Enqueues `keys` from this (the test's) thread with enqueueWait, all within
 * one time budget: this thread is blocked meanwhile, so vitest's own timeout
 * cannot fire, and a consumer that never makes room must fail here.
 */
function enqueueAllWithin(queue: DeleteQueue, keys: Iterable<number>, budgetMs = 15_000): void {
  const deadline = Date.now() + budgetMs;
  for (const k of keys) {
    if (!queue.enqueueWait(k, Math.max(0, deadline - Date.now()))) {
      throw new Error(`enqueueWait(${k}) failed within the ${budgetMs} ms budget: ${JSON.stringify(queue.stats())}`);
    }
  }
}

function* range(from: number, to: number, step = 1): Generator<number> {
  for (let i = from; i < to; i += step) yield i;
}

describe('DeleteQueue, one thread', () => {
  it('drains keys in the order each producer enqueued them (two handles, interleaved)', () => {
    const q = DeleteQueue.create({ capacity: 16 });
    const other = DeleteQueue.attach(q.handle);
    const expected: number[] = [];
    for (let i = 0; i < 6; i++) {
      expect(q.enqueue(100 + i)).toBe(true);
      expected.push(100 + i);
      if (i % 2 === 0) {
        expect(other.enqueue(200 + i)).toBe(true);
        expected.push(200 + i);
      }
    }
    expect(q.size).toBe(9);
    expect(other.size).toBe(9);
    const r = recorder<number>();
    expect(other.drainInto(r)).toBe(9);
    expect(r.deleted).toEqual(expected);
    expect(q.size).toBe(0);
    expect(q.drainInto(r)).toBe(0);
    const s = q.stats();
    expect(s.enqueued).toBe(9);
    expect(s.drained).toBe(9);
  });

  for (const capacity of [4, 5, 1]) {
    it(`a full queue (capacity ${capacity}) returns false and changes nothing but the rejection count`, () => {
      const q = DeleteQueue.create({ capacity });
      for (let i = 0; i < capacity; i++) expect(q.enqueue(i)).toBe(true);
      const before = q.stats();
      expect(before.size).toBe(capacity);
      expect(q.enqueue(999)).toBe(false);
      expect(q.enqueue(998)).toBe(false);
      const after = q.stats();
      expect(after).toEqual({ ...before, fullRejections: before.fullRejections + 2 });
      const r = recorder<number>();
      expect(q.drainInto(r)).toBe(capacity);
      expect(r.deleted).toEqual(Array.from({ length: capacity }, (_, i) => i));
      // room again, exactly `capacity` of it
      for (let i = 0; i < capacity; i++) expect(q.enqueue(50 + i)).toBe(true);
      expect(q.enqueue(999)).toBe(false);
    });
  }

  it('enqueueWait on a full queue times out, returns false and enqueues nothing', () => {
    const q = DeleteQueue.create({ capacity: 2 });
    q.enqueue(1);
    q.enqueue(2);
    const before = q.stats();
    expect(q.enqueueWait(3, 20)).toBe(false);
    expect(q.enqueueWait(4, 0)).toBe(false);
    const after = q.stats();
    expect(after.size).toBe(2);
    expect(after.enqueued).toBe(2);
    expect(after.fullRejections).toBe(before.fullRejections + 2);
    expect(after.fullWaits).toBe(1); // the 0 ms call gives up without parking
    const r = recorder<number>();
    q.drainInto(r);
    expect(r.deleted).toEqual([1, 2]);
    expect(q.enqueueWait(5, 0)).toBe(true);
    expect((thrown(() => q.enqueueWait(6, -1)) as Error).constructor).toBe(InvalidOptionError);
  });

  const bad: Array<[string, unknown[], unknown[]]> = [
    ['int32', ['1', 1.5, 2 ** 31, -(2 ** 31) - 1, NaN, 1n, null, undefined], [0, -(2 ** 31), 2 ** 31 - 1]],
    ['uint32', [-1, 2 ** 32, 0.5, '3'], [0, 2 ** 32 - 1]],
    ['float64', ['1', 1n, {}, undefined], [NaN, -0, Infinity, 1.5, -1e300]],
    ['bigint64', [1, 2n ** 63n, -(2n ** 63n) - 1n, '1'], [0n, 2n ** 63n - 1n, -(2n ** 63n)]],
    ['string:4', [4, null, new Uint8Array(1)], ['', 'abcd', 'éab', '€a', '\u{1F600}']],
    ['bytes:3', ['abc', [1, 2], 7], [new Uint8Array(0), new Uint8Array([1, 2, 255])]],
  ];
  for (const [key, wrong, right] of bad) {
    it(`${key}: a key of the wrong type throws ShmapTypeError and enqueues nothing; good keys round-trip`, () => {
      const q = DeleteQueue.create<unknown>({ capacity: 8, key: key as 'int32' });
      for (const k of wrong) {
        const e = thrown(() => q.enqueue(k)) as ShmapTypeError;
        expect(e).toBeInstanceOf(ShmapTypeError);
        expect(e.code).toBe('SHMAP_INVALID_TYPE');
        expect((thrown(() => q.enqueueWait(k, 0)) as Error).constructor).toBe(ShmapTypeError);
      }
      expect(q.size).toBe(0);
      expect(q.stats().enqueued).toBe(0);
      for (const k of right) expect(q.enqueue(k)).toBe(true);
      const r = recorder<unknown>();
      expect(q.drainInto(r)).toBe(right.length);
      // Keys are the map's keys: -0 comes back as 0, the same key to the map (SameValueZero).
      expect(r.deleted.map(canon)).toEqual(right.map((k) => canon(Object.is(k, -0) ? 0 : k)));
    });
  }

  it('a string key with a lone surrogate throws ShmapTypeError (the map could never hold it) and enqueues nothing', () => {
    const q = DeleteQueue.create<string>({ capacity: 4, key: 'string:8' });
    expect(thrown(() => q.enqueue('a\ud800'))).toBeInstanceOf(ShmapTypeError);
    expect(q.size).toBe(0);
  });

  it('a key longer than string:N / bytes:N throws KeyTooLongError and enqueues nothing', () => {
    const s = DeleteQueue.create<string>({ capacity: 4, key: 'string:4' });
    for (const k of ['abcde', 'ééé', '\u{1F600}a']) {
      const e = thrown(() => s.enqueue(k)) as KeyTooLongError;
      expect(e).toBeInstanceOf(KeyTooLongError);
      expect(e.code).toBe('SHMAP_KEY_TOO_LONG');
    }
    expect(s.size).toBe(0);
    const b = DeleteQueue.create<Uint8Array>({ capacity: 4, key: 'bytes:2' });
    expect(thrown(() => b.enqueue(new Uint8Array(3)))).toBeInstanceOf(KeyTooLongError);
    expect(b.size).toBe(0);
    // the scratch of a rejected key does not leak into the next one
    expect(s.enqueue('ab')).toBe(true);
    const r = recorder<string>();
    s.drainInto(r);
    expect(r.deleted).toEqual(['ab']);
  });

  it('keeps order and exact stats across the 2^32 wrap of positions', () => {
    const q = DeleteQueue.createAt({ capacity: 3 }, -4);
    const r = recorder<number>();
    const expected: number[] = [];
    let next = 0;
    for (let round = 0; round < 10; round++) {
      while (q.enqueue(next)) expected.push(next++);
      q.drainInto(r);
    }
    expect(r.deleted).toEqual(expected);
    expect(expected.length).toBe(30);
    const s = q.stats();
    expect(s.enqueued).toBe(30);
    expect(s.drained).toBe(30);
    expect(s.size).toBe(0);
    expect(s.fullRejections).toBe(10);
  });

  it('rejects bad options with InvalidOptionError naming the option', () => {
    const cases: Array<[unknown, string]> = [
      [{ capacity: 0 }, 'options.capacity'],
      [{ capacity: 1.5 }, 'options.capacity'],
      [{ capacity: 2 ** 30 + 1 }, 'options.capacity'],
      [{}, 'options.capacity'],
      [{ capacity: 4, key: 'int64' }, 'options.key'],
      [{ capacity: 4, key: 'string:0' }, 'options.key'],
      [{ capacity: 4, key: 'json:8' }, 'options.key'],
      [null, 'options'],
    ];
    for (const [options, name] of cases) {
      const e = thrown(() => DeleteQueue.create(options as never)) as InvalidOptionError;
      expect(e).toBeInstanceOf(InvalidOptionError);
      expect(e.code).toBe('SHMAP_INVALID_OPTION');
      expect(e.message).toContain(name);
    }
  });

  it('attach refuses what is not a delete queue handle, and shares state when it is', () => {
    const q = DeleteQueue.create({ capacity: 4, key: 'string:8' });
    const wrongMagic = new SharedArrayBuffer(q.handle.buffer.byteLength);
    const notHandles: unknown[] = [
      null,
      {},
      { shmap: 1, buffer: new SharedArrayBuffer(1024) },
      { shmapQueue: 1, buffer: new ArrayBuffer(1024) },
      { shmapQueue: 1, buffer: new SharedArrayBuffer(16) },
      { shmapQueue: 1, buffer: wrongMagic },
    ];
    for (const h of notHandles) {
      const e = thrown(() => DeleteQueue.attach(h as DeleteQueueHandle)) as InvalidHandleError;
      expect(e).toBeInstanceOf(InvalidHandleError);
      expect(e.code).toBe('SHMAP_INVALID_HANDLE');
    }
    const a = DeleteQueue.attach<string>(structuredClone(q.handle));
    expect(a.keyType).toBe('string:8');
    expect(a.capacity).toBe(4);
    a.enqueue('x');
    expect(q.size).toBe(1);
  });

  it('close: later enqueues return false (counted), accepted keys still drain, waiting is over', () => {
    const q = DeleteQueue.create({ capacity: 4 });
    q.enqueue(1);
    q.enqueue(2);
    q.close();
    q.close();
    expect(q.closed).toBe(true);
    expect(q.enqueue(3)).toBe(false);
    expect(q.enqueueWait(4, Infinity)).toBe(false);
    expect(q.waitForKeys(Infinity)).toBe('closed');
    const r = recorder<number>();
    expect(q.drainRemaining(r, 100)).toBe(2);
    expect(r.deleted).toEqual([1, 2]);
    const s = q.stats();
    expect(s).toMatchObject({ enqueued: 2, drained: 2, size: 0, closedRejections: 2, fullRejections: 0, closed: true });
  });

  it('a drain stops at a position claimed but not yet published, and keeps order once it is', () => {
    const q = DeleteQueue.create({ capacity: 4 });
    const finishA = q._enqueueInTwoSteps(1);
    expect(finishA).toBeTypeOf('function');
    expect(q.enqueue(2)).toBe(true); // a second producer, after A's claim
    expect(q.size).toBe(2);
    const r = recorder<number>();
    expect(q.drainInto(r)).toBe(0);
    expect(q.waitForKeys(0)).toBe('timeout');
    expect((finishA as () => boolean)()).toBe(true);
    expect(q.waitForKeys(0)).toBe('ready');
    expect(q.drainInto(r)).toBe(2);
    expect(r.deleted).toEqual([1, 2]);
  });

  it("close between a producer's claim and its publish: that enqueue returns false, the closing drain steps over it", () => {
    const q = DeleteQueue.create({ capacity: 4 });
    expect(q.enqueue(1)).toBe(true);
    const finish = q._enqueueInTwoSteps(2) as () => boolean;
    q.close();
    const r = recorder<number>();
    // The closing drain waits (bounded) for the claimed position; nobody publishes it here.
    expect(q.drainRemaining(r, 10)).toBe(1);
    expect(q.size).toBe(1);
    expect(finish()).toBe(false);
    expect(q.drainRemaining(r, 10)).toBe(0);
    expect(r.deleted).toEqual([1]);
    expect(q.stats()).toMatchObject({ enqueued: 1, drained: 1, size: 0, closedRejections: 1 });
  });

  it('a delete that throws leaves its key first in the queue; a drain inside a drain is refused', () => {
    const q = DeleteQueue.create({ capacity: 4 });
    q.enqueue(1);
    q.enqueue(2);
    const boom = new Error('boom');
    expect(
      thrown(() =>
        q.drainInto({
          delete: () => {
            throw boom;
          },
        }),
      ),
    ).toBe(boom);
    expect(q.size).toBe(2);
    let inner: unknown;
    const r = recorder<number>();
    q.drainInto({
      delete(k: number) {
        inner ??= thrown(() => q.drainInto(r));
        return r.delete(k);
      },
    });
    expect(inner).toBeInstanceOf(ConcurrentMapWriteError);
    expect(r.deleted).toEqual([1, 2]);
    expect(q.stats()).toMatchObject({ enqueued: 2, drained: 2 });
  });
});

describe('DeleteQueue, real worker threads', () => {
  beforeAll(requireDist);

  it('enqueueWait parks until the consumer makes room, then enqueues', async () => {
    const q = DeleteQueue.create({ capacity: 2 });
    q.enqueue(1);
    q.enqueue(2);
    const w = spawn<{ accepted: boolean }>('delete-queue.mjs', { role: 'wait-room', queue: q.handle, key: 3 });
    await untilOr(() => q.stats().fullWaits >= 1, 'the worker to park in enqueueWait', [w.result]);
    expect(q.size).toBe(2);
    const r = recorder<number>();
    expect(q.drainInto(r)).toBe(2);
    expect((await w.result).accepted).toBe(true);
    expect(q.drainInto(r)).toBe(1);
    expect(r.deleted).toEqual([1, 2, 3]);
  });

  it('close wakes a producer parked in enqueueWait(Infinity), which returns false', async () => {
    const q = DeleteQueue.create({ capacity: 1 });
    q.enqueue(1);
    const w = spawn<{ accepted: boolean }>('delete-queue.mjs', { role: 'wait-room', queue: q.handle, key: 2 });
    await untilOr(() => q.stats().fullWaits >= 1, 'the worker to park in enqueueWait', [w.result]);
    q.close();
    expect((await w.result).accepted).toBe(false);
    expect(q.stats()).toMatchObject({ enqueued: 1, closedRejections: 1 });
  });

  /**
   * Several producers, a drainer thread started only once the queue has
   * rejected a key (so full queues certainly happen), keys logged in drain
   * order. With `withMap`, the drainer deletes from a real SharedMap holding
   * every key first.
   */
  async function producersAndDrainer(producers: number, perProducer: number, capacity: number, withMap: boolean) {
    const queue = DeleteQueue.create({ capacity });
    const total = producers * perProducer;
    let map: SharedMap<number, number> | undefined;
    if (withMap) {
      map = SharedMap.create<number, number>({ key: 'int32', value: 'int32', capacity: total });
      for (let p = 0; p < producers; p++) for (let i = 0; i < perProducer; i++) map.set(p * KEY_STRIDE + i, i);
      expect(map.size).toBe(total);
    }
    const words = controlWords();
    const L = { fulls: 0, fullSeen: 1 };
    const log = new Int32Array(new SharedArrayBuffer(4 * (1 + total + 16)));
    const runs = Array.from({ length: producers }, (_, id) =>
      spawn<{ fulls: number; waitFailures: number }>('delete-queue.mjs', {
        role: 'producer',
        queue: queue.handle,
        words,
        L,
        id,
        n: perProducer,
      }),
    );
    // No drainer yet: the producers fill the ring and one must see false.
    await untilOr(
      () => Atomics.load(words, L.fullSeen) === 1,
      'a producer to find the queue full',
      runs.map((r) => r.result),
    );
    const drainer = spawn<DrainLoopResult>('delete-queue.mjs', {
      role: 'drain-log',
      queue: queue.handle,
      map: map?.handle,
      log,
    });
    const results = await Promise.all(runs.map((r) => r.result));
    queue.close();
    const drained = await drainer.result;

    // Every key drained exactly once, per-producer order kept.
    expect(Atomics.load(log, 0)).toBe(total);
    const nextOf = new Array<number>(producers).fill(0);
    for (let j = 0; j < total; j++) {
      const key = log[1 + j]!;
      const p = Math.floor(key / KEY_STRIDE);
      expect(p).toBeGreaterThanOrEqual(0);
      expect(p).toBeLessThan(producers);
      expect(key % KEY_STRIDE).toBe(nextOf[p]); // in order, no gap, no repeat
      nextOf[p]!++;
    }
    expect(nextOf).toEqual(new Array(producers).fill(perProducer));
    // A full queue lost nothing: every false was counted and retried.
    const fulls = results.reduce((a, r) => a + r.fulls, 0);
    for (const r of results) expect(r.waitFailures).toBe(0);
    expect(fulls).toBeGreaterThanOrEqual(1);
    expect(fulls).toBe(Atomics.load(words, L.fulls));
    const s = queue.stats();
    expect(s).toMatchObject({ enqueued: total, drained: total, size: 0, fullRejections: fulls, closedRejections: 0 });
    expect(drained.drained).toBe(total);
    expect(drained.pendingAtExit).toBe(0);
    if (map) {
      expect(drained.removed).toBe(total); // each delete found its key: deleted exactly once
      expect(drained.absent).toBe(0);
      expect(map.size).toBe(0);
    }
    return { fulls, drained };
  }

  it('several producers, one drainer thread: every key drained once, per-producer order kept, fulls counted and retried', async () => {
    await producersAndDrainer(3, 5_000, 8, false);
  });

  it('the same into a real SharedMap: every enqueued key deleted exactly once', async () => {
    await producersAndDrainer(3, 4_000, 16, true);
  });

  it('src/workers/drainer as a plain Worker: drains into a SharedMap, parks when empty, stops on close', async () => {
    const queue = DeleteQueue.create({ capacity: 32 });
    const map = SharedMap.create<number, number>({ key: 'int32', value: 'int32', capacity: 4096 });
    for (let i = 0; i < 2_000; i++) map.set(i, i);
    const worker = new Worker(distPath('workers/drainer.js'), {
      workerData: { shmapDrainer: 1, queue: queue.handle, map: map.handle, idleWaitMs: 100 },
    });
    const message = new Promise<{ type: string; result?: DrainLoopResult & { queueStats: unknown }; error?: unknown }>(
      (resolve, reject) => {
        worker.once('message', resolve);
        worker.once('error', reject);
        worker.once('exit', (code) => reject(new Error(`drainer exited (${code}) without posting a result`)));
      },
    );
    const exited = new Promise<number>((resolve) => worker.once('exit', resolve));
    await untilOr(() => queue.stats().consumerParks >= 1, 'the drainer to park on the empty queue', [message]);
    // Keys 0..1999 and each even key a second time: the second delete finds nothing.
    enqueueAllWithin(queue, [...range(0, 2_000), ...range(0, 2_000, 2)]);
    queue.close();
    const m = await message;
    expect(m.type).toBe('drainer-result');
    expect(m.result).toMatchObject({ drained: 3_000, removed: 2_000, absent: 1_000, pendingAtExit: 0 });
    expect(map.size).toBe(0);
    expect(await exited).toBe(0);
  });

  it('src/workers/drainer as a piscina task returns its counts', async () => {
    const pool = new Piscina({ filename: distPath('workers/drainer.js'), minThreads: 1, maxThreads: 1 });
    try {
      const queue = DeleteQueue.create({ capacity: 8 });
      const map = SharedMap.create<number, number>({ key: 'int32', value: 'int32', capacity: 1024 });
      for (let i = 0; i < 500; i++) map.set(i, -i);
      const task = pool.run({ queue: queue.handle, map: map.handle });
      // The task reaches the pool thread through the event loop: let it
      // arrive before this thread blocks in enqueueWait.
      await untilOr(() => queue.stats().consumerParks >= 1, 'the drainer to park on the empty queue', [task]);
      enqueueAllWithin(queue, range(0, 500));
      await untilOr(() => queue.size === 0, 'the drainer to drain', [task]);
      queue.close();
      const result = (await task) as DrainLoopResult;
      expect(result).toMatchObject({ drained: 500, removed: 500, absent: 0, pendingAtExit: 0 });
      expect(map.size).toBe(0);
    } finally {
      await pool.destroy();
    }
  });
});

/**
 * DeleteQueue when threads die: a producer terminated between claiming a
 * position and publishing it, and a drainer terminated in the middle of a
 * drain. Real worker threads, choreographed through shared words (the
 * producer parks in the test back door between claim and publish; the
 * drainer parks inside a delete), then `worker.terminate()` and
 * `queue.recover(threadId)`.
 */
import { describe, it, expect, beforeAll } from 'vitest';
import { DeleteQueue, InvalidOptionError, type DrainLoopResult } from '../../../src/index.js';
import { SharedMap } from '../../../src/shm/map.js';
import { threadId } from 'node:worker_threads';
import { controlWords, requireDist, spawn, thrown, type WorkerRun } from '../support.js';
import { until, within } from '../../helpers/until.js';

const L = { claimed: 0, parked: 1, never: 2 };

type DrainReply = { ok?: DrainLoopResult; error?: { name: string; code?: string; message: string } };

/** The drainer's log of deletes: [key, returned true] in the order it handed them to map.delete. */
function logEntries(log: Int32Array): Array<[number, boolean]> {
  const n = Atomics.load(log, 0);
  return Array.from({ length: n }, (_, j) => [log[1 + 2 * j]!, log[2 + 2 * j] === 1] as [number, boolean]);
}

function setup(keys: number, capacity: number) {
  const map = SharedMap.create<number, number>({ key: 'int32', value: 'int32', capacity: keys * 2 });
  for (let k = 0; k < keys; k++) map.set(k, k);
  const queue = DeleteQueue.create({ capacity });
  const words = controlWords();
  const log = new Int32Array(new SharedArrayBuffer(4 * (1 + 4 * keys)));
  const drainer = (extra: Record<string, unknown> = {}): WorkerRun<DrainReply> =>
    spawn<DrainReply>('delete-queue-death.mjs', {
      role: 'drain-log',
      queue: queue.handle,
      map: map.handle,
      words,
      L,
      log,
      ...extra,
    });
  return { map, queue, words, log, drainer };
}

/**
 * A producer claims a position and is terminated before publishing; keys
 * enqueued after it wait behind it. Returns how the drainer fared after
 * `recover`: whether it drained them within `boundMs`.
 */
async function orphanedProducer(skip: boolean, boundMs: number) {
  const KEYS = 12;
  const { map, queue, words, log, drainer } = setup(KEYS, 16);
  const d = drainer(skip ? {} : { noSkip: true });
  const producer = spawn('delete-queue-death.mjs', { role: 'claim-park', queue: queue.handle, words, L, key: 0 });
  producer.result.catch(() => undefined);
  await until(() => Atomics.load(words, L.claimed) === 1, 'the producer to claim a position');
  for (let k = 1; k < KEYS; k++) expect(queue.enqueue(k)).toBe(true);
  expect(queue.size).toBe(KEYS);
  // The drainer is stuck behind the claimed, unpublished position (it parks and looks again).
  const parks = queue.stats().consumerParks;
  await until(() => queue.stats().consumerParks >= parks + 2, 'the drainer to park behind the claim');
  expect(Atomics.load(log, 0)).toBe(0);

  await producer.worker.terminate();
  const recovery = queue.recover(producer.threadId);
  expect(recovery).toEqual({
    threadId: producer.threadId,
    recordsFreed: 0,
    claimsOrphaned: 1,
    consumerReleased: false,
  });
  const drained = await within(() => Atomics.load(log, 0) === KEYS - 1 && queue.size === 0, boundMs);
  return { map, queue, log, d, drained, KEYS };
}

describe('DeleteQueue: a producer that dies between claim and publish', () => {
  beforeAll(requireDist);

  it('the drainer skips its position once the thread is recovered; every published key is deleted exactly once, in order', async () => {
    const { map, queue, log, d, drained, KEYS } = await orphanedProducer(true, 20_000);
    expect(drained).toBe(true);
    queue.close();
    const reply = await d.result;
    expect(reply.error).toBeUndefined();
    expect(reply.ok).toMatchObject({ drained: KEYS - 1, removed: KEYS - 1, absent: 0, pendingAtExit: 0 });
    // Keys 1..KEYS-1, each once, in enqueue order, each delete found its key.
    expect(logEntries(log)).toEqual(Array.from({ length: KEYS - 1 }, (_, i) => [i + 1, true]));
    // Key 0's enqueue never returned: it was not acknowledged, and not deleted.
    expect(map.get(0)).toBe(0);
    expect(map.size).toBe(1);
    expect(queue.stats()).toMatchObject({
      enqueued: KEYS - 1,
      drained: KEYS - 1,
      size: 0,
      orphansSkipped: 1,
      recoveries: 1,
    });
  });

  it('negative control: with the skip rule disabled the drainer stalls, and the bounded wait reports it', async () => {
    const { queue, log, d, drained, KEYS } = await orphanedProducer(false, 1_000);
    expect(drained).toBe(false);
    expect(Atomics.load(log, 0)).toBe(0);
    expect(queue.size).toBe(KEYS);
    expect(queue.stats().orphansSkipped).toBe(0);
    d.result.catch(() => undefined);
    await d.worker.terminate();
  });

  it('one map.watch recovers the queue too: a producer killed between claim and publish stops stalling the drain', async () => {
    const map = SharedMap.create<number, number>({ shards: 1, capacity: 16 });
    const queue = DeleteQueue.create({ capacity: 8 });
    const words = controlWords();
    const producer = spawn('delete-queue-death.mjs', { role: 'claim-park', queue: queue.handle, words, L, key: 0 });
    producer.result.catch(() => undefined);
    await until(() => Atomics.load(words, L.claimed) === 1, 'the producer to claim a position');
    expect(queue.enqueue(1)).toBe(true);
    const got: number[] = [];
    const sink = { delete: (k: number) => got.push(k) };
    // Behind the claimed, unpublished position nothing drains (what the watch must fix).
    expect(queue.drainInto(sink)).toBe(0);
    const unwatch = map.watch(producer.worker);
    try {
      await producer.worker.terminate();
      await until(() => queue.stats().recoveries === 1, "the map's watch to recover the queue");
      expect(queue.drainInto(sink)).toBe(1);
      expect(got).toEqual([1]);
      expect(queue.stats()).toMatchObject({ orphansSkipped: 1, size: 0 });
    } finally {
      unwatch();
    }
  });

  it("recover frees a dead producer's idle record; a busy one is reused once the drain passes its position", async () => {
    const queue = DeleteQueue.create({ capacity: 4, producers: 1 });
    const words = controlWords();
    const idle = spawn('delete-queue-death.mjs', { role: 'enqueue-park', queue: queue.handle, words, L, key: 6 });
    idle.result.catch(() => undefined);
    await until(() => Atomics.load(words, L.claimed) === 1, 'the enqueue');
    await idle.worker.terminate();
    expect(queue.recover(idle.threadId)).toEqual({
      threadId: idle.threadId,
      recordsFreed: 1,
      claimsOrphaned: 0,
      consumerReleased: false,
    });
    Atomics.store(words, L.claimed, 0);
    // The one record is free again: a second producer takes it and dies busy.
    const busy = spawn('delete-queue-death.mjs', { role: 'claim-park', queue: queue.handle, words, L, key: 7 });
    busy.result.catch(() => undefined);
    await until(() => Atomics.load(words, L.claimed) === 1, 'the claim');
    await busy.worker.terminate();
    expect(queue.recover(busy.threadId).claimsOrphaned).toBe(1);
    const got: number[] = [];
    expect(queue.drainInto({ delete: (k: number) => got.push(k) })).toBe(1);
    expect(got).toEqual([6]);
    expect(queue.stats()).toMatchObject({ orphansSkipped: 1, enqueued: 1, drained: 1, size: 0, recoveries: 2 });
    // Its record was freed by that drain: this thread takes it (and is recorded: no unrecorded claims).
    expect(queue.enqueue(8)).toBe(true);
    expect(queue.recover(busy.threadId)).toEqual({
      threadId: busy.threadId,
      recordsFreed: 0,
      claimsOrphaned: 0,
      consumerReleased: false,
    });
  });

  it('recover refuses the calling thread and bad ids, and changes nothing', () => {
    const queue = DeleteQueue.create({ capacity: 4 });
    expect(queue.enqueue(1)).toBe(true);
    const before = queue.stats();
    for (const bad of [threadId, -1, 1.5, NaN, '3']) {
      const e = thrown(() => queue.recover(bad as number)) as InvalidOptionError;
      expect(e).toBeInstanceOf(InvalidOptionError);
      expect(e.message).toContain('recover');
    }
    expect(queue.stats()).toEqual(before);
    expect(thrown(() => DeleteQueue.create({ capacity: 4, producers: 0 }))).toBeInstanceOf(InvalidOptionError);
    expect((thrown(() => DeleteQueue.create({ capacity: 4, producers: 0 })) as Error).message).toContain(
      'options.producers',
    );
  });
});

describe('DeleteQueue: a drainer that dies mid-drain', () => {
  beforeAll(requireDist);

  it('is replaced after recover; the new drainer drains the rest: nothing lost, no key removed twice', async () => {
    const KEYS = 300;
    const AT = 100;
    const { map, queue, words, log, drainer } = setup(KEYS, 512);
    for (let k = 0; k < KEYS; k++) expect(queue.enqueue(k)).toBe(true);
    const first = drainer({ parkAfter: AT });
    first.result.catch(() => undefined);
    await until(() => Atomics.load(words, L.parked) === 1, 'the drainer to park inside its delete');
    await first.worker.terminate();

    // The dead drainer still holds the consumer word: a new one is refused, and says why.
    const refused = await drainer().result;
    expect(refused.error).toMatchObject({ code: 'SHMAP_CONCURRENT_WRITE' });
    expect(refused.error!.message).toContain(`thread ${first.threadId}`);

    expect(queue.recover(first.threadId)).toMatchObject({ consumerReleased: true, claimsOrphaned: 0 });
    const second = drainer();
    await until(() => queue.size === 0, 'the new drainer to drain the rest');
    queue.close();
    const reply = await second.result;
    expect(reply.error).toBeUndefined();
    // The key the dead drainer was deleting is handed over again; its second delete finds nothing.
    expect(reply.ok).toMatchObject({ drained: KEYS - AT + 1, removed: KEYS - AT, absent: 1, pendingAtExit: 0 });
    const entries = logEntries(log);
    expect(entries.length).toBe(KEYS + 1);
    expect(entries[AT - 1]).toEqual([AT - 1, true]);
    expect(entries[AT]).toEqual([AT - 1, false]);
    const removals = new Map<number, number>();
    for (const [k, removed] of entries) if (removed) removals.set(k, (removals.get(k) ?? 0) + 1);
    expect(removals.size).toBe(KEYS);
    expect([...removals.values()].every((n) => n === 1)).toBe(true);
    expect(map.size).toBe(0);
    expect(queue.stats()).toMatchObject({ enqueued: KEYS, drained: KEYS, size: 0, recoveries: 1 });
  });
});

/**
 * DeleteQueue counts in a map's metrics (`queue.countIn(map)`): real producer
 * and drainer threads (test/workers/queue-metrics.mjs, from dist/) with a
 * known number of enqueues, drains and full refusals, which
 * `map.metrics().queue` gives exactly once the threads have exited; a
 * producer whose handle does not count leaves exactly its share out.
 */
import { describe, it, expect, beforeAll } from 'vitest';
import type { Worker } from 'node:worker_threads';
import { DeleteQueue, InvalidOptionError, SharedMap, ShmapTypeError } from '../../src/index.js';
import { controlWords, requireDist, spawn, thrown } from './support.js';

beforeAll(requireDist);

const L = { go: 0 };
const CAPACITY = 8;
const PRODUCERS = 3;
/** Keys each producer offers while nobody drains (PRODUCERS x M > CAPACITY: exactly the excess is refused). */
const M = 5;
/** Keys each producer then enqueues with the drainer running. */
const N = 400;

interface Phase1 {
  phase: 1;
  accepted: number;
  refused: number;
}
interface Phase2 {
  phase: 2;
  accepted: number;
  timeouts: number;
}

/** The messages of a producer: phase 1, then phase 2. */
function messages(worker: Worker): [Promise<Phase1>, Promise<Phase2>] {
  let first!: (m: Phase1) => void;
  let second!: (m: Phase2) => void;
  const p1 = new Promise<Phase1>((r) => (first = r));
  const p2 = new Promise<Phase2>((r) => (second = r));
  worker.on('message', (m: Phase1 | Phase2) => (m.phase === 1 ? first(m) : second(m)));
  return [p1, p2];
}

const exited = (w: Worker) => new Promise<void>((r) => w.once('exit', () => r()));

/** Runs the producers and one drainer; `counting[i]` says whether producer i's handle counts in the map. */
async function run(counting: boolean[]) {
  const map = SharedMap.create<number, number>({ metrics: true, shards: 4, capacity: 64 });
  const queue = DeleteQueue.create<number>({ capacity: CAPACITY, key: 'int32' });
  const words = controlWords();
  const producers = counting.map((count, id) => {
    const run = spawn('queue-metrics.mjs', {
      role: 'producer',
      map: map.handle,
      queue: queue.handle,
      count,
      words,
      L,
      id,
      m: M,
      n: N,
    });
    run.result.catch(() => undefined); // its messages are read below
    return { run, msgs: messages(run.worker), gone: exited(run.worker) };
  });
  const phase1 = await Promise.all(producers.map((p) => p.msgs[0]));
  // Nobody drained yet: exactly CAPACITY keys went in, the rest were refused.
  expect(phase1.reduce((s, p) => s + p.accepted, 0)).toBe(CAPACITY);
  const drainer = spawn<{ drained: number }>('queue-metrics.mjs', {
    role: 'drainer',
    map: map.handle,
    queue: queue.handle,
    count: true,
  });
  const drainerGone = exited(drainer.worker);
  Atomics.store(words, L.go, 1);
  Atomics.notify(words, L.go);
  const phase2 = await Promise.all(producers.map((p) => p.msgs[1]));
  await Promise.all(producers.map((p) => p.gone));
  queue.close();
  const drained = await drainer.result;
  await drainerGone;
  return { map, queue, phase1, phase2, drained: drained.drained };
}

describe('delete queue counters in map.metrics(), real threads', () => {
  it(`${PRODUCERS} producers and a drainer that exited: enqueues, drains and full refusals add up exactly`, async () => {
    const { map, queue, phase1, phase2, drained } = await run(Array<boolean>(PRODUCERS).fill(true));
    for (const p of phase2) expect(p.timeouts).toBe(0);
    const refused = PRODUCERS * M - CAPACITY;
    expect(phase1.reduce((s, p) => s + p.refused, 0)).toBe(refused);
    const keys = PRODUCERS * (M + N);
    expect(drained).toBe(keys);
    expect(map.metrics().queue).toEqual({ enqueued: keys, drained: keys, fullRejections: refused });
    // The queue's own tally agrees, and every key was deleted from the map (none was ever set: all misses).
    const s = queue.stats();
    expect({ enqueued: s.enqueued, drained: s.drained, fullRejections: s.fullRejections }).toEqual(map.metrics().queue);
    expect(map.metrics().deletes).toEqual({ hit: 0, miss: keys });
    // Every thread that counted has exited: only the main thread's block is still owned.
    expect(map.metrics().blocksInUse).toBe(1);
  });

  it('negative control: a producer whose handle does not count leaves exactly its keys out', async () => {
    const { map, queue, phase1, phase2 } = await run([true, false, true]);
    const s = queue.stats();
    const m = map.metrics().queue;
    expect(m.enqueued).not.toBe(s.enqueued);
    expect(m.enqueued).toBe(s.enqueued - phase2[1]!.accepted);
    expect(m.fullRejections).toBe(s.fullRejections - phase1[1]!.refused);
    expect(m.drained).toBe(s.drained);
  });
});

describe('queue.countIn(map)', () => {
  it('counts this handle only from then on, in this thread', () => {
    const map = SharedMap.create<number, number>({ metrics: true });
    const q = DeleteQueue.create<number>({ capacity: 2 });
    q.enqueue(1);
    expect(q.countIn(map)).toBe(q);
    q.enqueue(2);
    q.enqueue(3);
    expect(map.metrics().queue).toEqual({ enqueued: 1, drained: 0, fullRejections: 1 });
    expect(q.drainInto(map)).toBe(2);
    expect(map.metrics().queue).toEqual({ enqueued: 1, drained: 2, fullRejections: 1 });
  });

  it('refuses a map without metrics (InvalidOptionError) and what is not a map (ShmapTypeError); counts nothing after', () => {
    const counted = SharedMap.create<number, number>({ metrics: true });
    const plain = SharedMap.create<number, number>();
    const q = DeleteQueue.create<number>({ capacity: 4 });
    const e = thrown(() => q.countIn(plain)) as Error;
    expect(e).toBeInstanceOf(InvalidOptionError);
    expect(e.message).toContain('metrics: true');
    for (const bad of [null, {}, { counters: {} }, counted.handle])
      expect(thrown(() => q.countIn(bad as never))).toBeInstanceOf(ShmapTypeError);
    q.enqueue(1);
    q.drainInto(counted);
    expect(counted.metrics().queue).toEqual({ enqueued: 0, drained: 0, fullRejections: 0 });
    expect(q.stats().enqueued).toBe(1);
  });
});

/**
 * Operation counters across real worker_threads (test/workers/metrics-ops.mjs,
 * from dist/): N workers x a known number of operations of every counted kind
 * (but clear, which empties the others' keys) each add up exactly,
 * including workers that exited or were terminated, more workers than
 * counter blocks, and a block given back and reused; a worker that drops one
 * count makes the same check fail.
 */
import { describe, it, expect, beforeAll } from 'vitest';
import { SharedMap } from '../../src/index.js';
import { controlWords, requireDist, spawn } from './support.js';
import { allCounts, operationCounts } from './metrics-support.js';

beforeAll(requireDist);

const L = { barrier: 0, release: 2 };
const N = 2000;

/** What `workers` workers of metrics-ops.mjs with `n` keys each count, in total: every kind but clear. */
function expected(workers: number, n = N) {
  const all = (per: number) => workers * per;
  const q = n / 4;
  return allCounts({
    sets: { insert: all(n + 3 * q), overwrite: all(n) },
    gets: { hit: all(n), miss: all(n) },
    has: { hit: all(n) },
    deletes: { hit: all(n / 2), miss: all(n / 2) },
    atomic: { putIfAbsent: all(n), compareAndSet: all(n), update: all(n), add: all(n) },
    leases: { acquire: all(q), release: all(q), retire: all(q) },
    sweeps: all(1),
    swept: all(q),
    expirySweeps: all(1),
    expired: all(q),
  });
}

/** A map for the workers: metrics, and ttl and leases so that every kind can be counted. */
const create = (threads?: number) =>
  SharedMap.create<number, number>({
    metrics: threads === undefined ? true : { threads },
    ttl: true,
    leases: true,
    shards: 8,
    capacity: 64,
  });

const counted = operationCounts;

function run(map: SharedMap<number, number>, workers: number, opts: { mode?: string; lose?: number } = {}) {
  const words = controlWords();
  const runs = Array.from({ length: workers }, (_, w) =>
    spawn('metrics-ops.mjs', {
      handle: map.handle,
      from: w * N,
      n: N,
      words,
      L,
      parties: workers,
      mode: opts.mode ?? 'exit',
      lose: opts.lose === w,
    }),
  );
  return { words, runs };
}

/** Resolves once every worker has exited (its 'exit' event). */
function exited(runs: Array<{ worker: { once(e: 'exit', f: () => void): unknown; threadId: number } }>) {
  return Promise.all(
    runs.map((r) => new Promise<void>((res) => (r.worker.threadId < 0 ? res() : r.worker.once('exit', () => res())))),
  );
}

describe('operation counters across threads', () => {
  it('4 workers x a known count of each operation add up exactly after they exit, and give their blocks back', async () => {
    const map = create();
    const { runs } = run(map, 4);
    const gone = exited(runs);
    await Promise.all(runs.map((r) => r.result));
    await gone;
    const m = map.metrics();
    expect(counted(m)).toEqual(expected(4));
    // Only the main thread's block is still owned.
    expect(m.blocksInUse).toBe(1);
    expect(m.overflowUsed).toBe(false);
  });

  it('negative control: one worker dropping one count makes the totals miss by one', async () => {
    const map = create();
    const { runs } = run(map, 4, { lose: 2 });
    await Promise.all(runs.map((r) => r.result));
    expect(() => expect(counted(map.metrics())).toEqual(expected(4))).toThrow();
    const want = expected(4);
    want.sets.insert -= 1; // the first counted operation of the broken worker, its first insert
    expect(counted(map.metrics())).toEqual(want);
  });

  it('more workers than blocks: the rest count in the shared overflow block, still exactly', async () => {
    // 2 blocks of their own: the main thread holds one, so at most one worker gets the other.
    const map = create(2);
    const { runs } = run(map, 5);
    await Promise.all(runs.map((r) => r.result));
    const m = map.metrics();
    expect(counted(m)).toEqual(expected(5));
    expect(m.overflowUsed).toBe(true);
  });

  it('terminated workers keep their counts; recover gives their blocks back and new workers reuse them', async () => {
    const map = create(3);
    const first = run(map, 2, { mode: 'hold' });
    await Promise.all(first.runs.map((r) => r.result));
    expect(map.metrics().blocksInUse).toBe(3);
    // terminate() skips the worker's 'exit' handlers: the blocks stay owned until recovered.
    for (const r of first.runs) await r.worker.terminate();
    expect(map.metrics().blocksInUse).toBe(3);
    for (const r of first.runs) map.recover(r.threadId);
    expect(map.metrics().blocksInUse).toBe(1);
    expect(counted(map.metrics())).toEqual(expected(2));
    // Two more workers on other keys: they take the freed blocks (no overflow), adding to the kept counts.
    const words = controlWords();
    const second = [0, 1].map((w) =>
      spawn('metrics-ops.mjs', { handle: map.handle, from: (w + 2) * N, n: N, words, L, parties: 2, mode: 'exit' }),
    );
    await Promise.all(second.map((r) => r.result));
    const m = map.metrics();
    expect(counted(m)).toEqual(expected(4));
    expect(m.overflowUsed).toBe(false);
  });
});

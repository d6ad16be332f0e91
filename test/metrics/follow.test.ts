/**
 * followConflicts on real threads: one worker follows the log while others
 * provoke conflicts (sync: 'none' races and iteration conflicts); it must see
 * every record, in the log's order, while the run goes on; and when it falls
 * behind on purpose past a full log, it must count exactly what was dropped.
 */
import { describe, expect, it } from 'vitest';
import { SharedMap, followConflicts, InvalidOptionError, type ConflictRecord } from '../../src/index.js';
import { controlWords, requireDist, spawn, thrown } from '../shm/support.js';
import { provokers, racingMap } from '../helpers/conflicts.js';
import { until } from '../helpers/until.js';

requireDist();

const L = { stop: 0, following: 1, delivered: 2, kinds: 3, done: 4, unblock: 5 };

interface FollowerResult {
  got: ConflictRecord[];
  status: { delivered: number; missed: number };
  missedCalls: Array<[number, number]>;
  expected: number;
}

/** Waits for words[i] >= value without blocking the event loop; false after the timeout. */
async function waitWord(words: Int32Array, i: number, value: number, timeoutMs = 60_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const seen = Atomics.load(words, i);
    if (seen >= value) return true;
    if (Date.now() > deadline) return false;
    const w = Atomics.waitAsync(words, i, seen, Math.min(200, deadline - Date.now()));
    if (w.async) await w.value;
  }
}

/** The follower's records are exactly the log's, in the log's order (compared field by field). */
function expectSameRecords(got: readonly ConflictRecord[], log: readonly ConflictRecord[]): void {
  expect(got.length).toBe(log.length);
  expect(got).toEqual(log);
}

describe('followConflicts', () => {
  it('a worker following the log sees every conflict other workers provoke, live and in order', async () => {
    const map = racingMap(4096);
    const words = controlWords();
    const follower = spawn<FollowerResult>(
      'conflict-follower.mjs',
      { handle: map.handle, words, L, from: 'now' },
      120_000,
    );
    expect(await waitWord(words, L.following, 1)).toBe(true);
    const runs = provokers(map, words, L, ['write', 'write', 'iterate']);
    // The run ends only once the follower has seen records of both kinds while it went on.
    const live = (await waitWord(words, L.delivered, 20, 90_000)) && (await waitKinds(words, 0b101, 90_000));
    Atomics.store(words, L.stop, 1);
    const results = await Promise.all(runs.map((r) => r.result));
    for (const r of results) expect(r.error).toBeUndefined();
    Atomics.store(words, L.done, 1);
    Atomics.notify(words, L.done);
    const f = await follower.result;
    const log = map.conflicts();
    console.log(
      `follower: ${f.got.length} records delivered live (${log.length} in the log, ${map.stats().conflictsOverflowed} dropped); ` +
        `provokers ${results.map((r) => r.ops).join(' + ')} ops`,
    );
    expect(live).toBe(true);
    expectSameRecords(f.got, log);
    expect(f.status).toEqual({ delivered: log.length, missed: 0 });
    const kinds = new Set(f.got.map((r) => r.kind));
    expect(kinds.has('concurrent map writes')).toBe(true);
    expect(kinds.has('concurrent map iteration and map write')).toBe(true);
  });

  it('a follower that falls behind past a full log delivers the kept records and counts every dropped one', async () => {
    const cap = 8;
    const map = racingMap(cap);
    const words = controlWords();
    // The follower blocks its event loop right after it starts, until the log has overflowed.
    const follower = spawn<FollowerResult>(
      'conflict-follower.mjs',
      { handle: map.handle, words, L, from: 'now', blockUntil: L.unblock },
      120_000,
    );
    expect(await waitWord(words, L.following, 1)).toBe(true);
    const runs = provokers(map, words, L, ['write', 'write']);
    const deadline = Date.now() + 90_000;
    while (map.stats().conflictsOverflowed < 3 * cap && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 10));
    Atomics.store(words, L.stop, 1);
    const results = await Promise.all(runs.map((r) => r.result));
    for (const r of results) expect(r.error).toBeUndefined();
    Atomics.store(words, L.unblock, 1);
    Atomics.notify(words, L.unblock);
    Atomics.store(words, L.done, 1);
    Atomics.notify(words, L.done);
    const f = await follower.result;
    const st = map.stats();
    console.log(
      `behind: ${f.got.length} delivered, ${f.status.missed} missed, log ${st.conflicts} + ${st.conflictsOverflowed} dropped`,
    );
    expect(st.conflictsOverflowed).toBeGreaterThanOrEqual(3 * cap);
    expectSameRecords(f.got, map.conflicts());
    expect(f.status.delivered).toBe(cap);
    expect(f.status.missed).toBe(st.conflictsOverflowed);
    // onMissed's running total ends at the same count, and its steps add up to it.
    expect(f.missedCalls.at(-1)?.[1]).toBe(st.conflictsOverflowed);
    expect(f.missedCalls.reduce((s, [n]) => s + n, 0)).toBe(st.conflictsOverflowed);
  });

  it("from: 'start' delivers the records already in the log, then reports the ones dropped before it started", async () => {
    const map = racingMap(4);
    const words = controlWords();
    const runs = provokers(map, words, L, ['write', 'write']);
    const deadline = Date.now() + 90_000;
    while (map.stats().conflictsOverflowed < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    Atomics.store(words, L.stop, 1);
    await Promise.all(runs.map((r) => r.result));
    const got: ConflictRecord[] = [];
    const missed: number[] = [];
    const stop = followConflicts(map, (r) => got.push(r), {
      from: 'start',
      onMissed: (_n, total) => missed.push(total),
    });
    const st = map.stats();
    const caughtUp = Date.now() + 10_000;
    while ((got.length < st.conflicts || missed.at(-1) !== st.conflictsOverflowed) && Date.now() < caughtUp)
      await new Promise((r) => setTimeout(r, 5));
    expect(stop()).toEqual({ delivered: st.conflicts, missed: st.conflictsOverflowed });
    expectSameRecords(got, map.conflicts());
  });

  it('a thread that dies holding a shard lock is a record too, delivered once recover runs for it', async () => {
    const map = SharedMap.create<number, number>({ shards: 1, capacity: 64 });
    map.set(3, 31);
    const got: ConflictRecord[] = [];
    const stop = followConflicts(map, (r) => got.push(r));
    // A writer parked inside its set, holding the shard lock (src/shm/window.ts back door), then terminated.
    const words = controlWords();
    const W = { parked: 0, done: 1, never: 2, waiting: 3, pointHit: 4 };
    const run = spawn('map-death.mjs', { map: map.handle, words, W, op: 'set', point: 'set:overwrite', keys: [3] });
    run.result.catch(() => undefined); // terminated without a result
    await until(() => Atomics.load(words, W.parked) !== 0, 'the writer to park holding the lock');
    await run.worker.terminate();
    expect(got).toEqual([]);
    map.recover(run.threadId);
    await until(() => got.length > 0, 'the follower to deliver the recovery record');
    expect(stop()).toEqual({ delivered: 1, missed: 0 });
    expect(got[0]!.kind).toBe('thread died holding a shard lock');
    expect(got).toEqual(map.conflicts());
  });

  it('the order check fails on a follower that skipped or reordered records (negative control)', () => {
    const a = { kind: 'concurrent map writes', time: 1, shard: 0 } as ConflictRecord;
    const b = { ...a, time: 2 };
    const c = { ...a, time: 3 };
    expect(() => expectSameRecords([a, c, b], [a, b, c])).toThrow();
    expect(() => expectSameRecords([a, c], [a, b, c])).toThrow();
    expectSameRecords([a, b, c], [a, b, c]);
  });

  it('bad options throw InvalidOptionError naming the option, and nothing is followed', () => {
    const map = SharedMap.create<number, number>({ capacity: 8 });
    const cases: Array<[unknown, unknown, string]> = [
      [null, {}, 'onRecord'],
      [() => {}, { from: 'end' }, 'options.from'],
      [() => {}, { onMissed: 3 }, 'options.onMissed'],
      [() => {}, { stallMs: -1 }, 'options.stallMs'],
      [() => {}, 'x', 'options'],
    ];
    for (const [fn, opts, name] of cases) {
      const e = thrown(() => followConflicts(map, fn as never, opts as never));
      expect(e).toBeInstanceOf(InvalidOptionError);
      expect((e as Error).message).toContain(name);
    }
    expect(map.conflicts()).toEqual([]);
  });
});

/** Waits until every bit of `mask` is set in words[L.kinds]. */
async function waitKinds(words: Int32Array, mask: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while ((Atomics.load(words, L.kinds) & mask) !== mask) {
    if (Date.now() > deadline) return false;
    // The follower signals L.delivered after every record it sets a kind bit for.
    const w = Atomics.waitAsync(words, L.delivered, Atomics.load(words, L.delivered), 200);
    if (w.async) await w.value;
  }
  return true;
}

/**
 * Alerts and the rate-limited watch, fed by real threads provoking conflicts:
 * the receiver gets the first alert of each kind at once and a bounded number
 * after, whose counts add up to the log; failed POSTs are retried; a dead
 * receiver leaves a bounded queue and a close that returns.
 */
import { describe, expect, it } from 'vitest';
import {
  SharedMap,
  AlertSender,
  alertOnConflicts,
  watchConflicts,
  InvalidOptionError,
  type ConflictAlert,
  type ConflictRecord,
} from '../../src/index.js';
import { controlWords, requireDist, thrown } from '../shm/support.js';
import { provokers, racingMap } from '../helpers/conflicts.js';
import { deadUrl, startReceiver } from './receiver.js';

requireDist();

async function race(
  map: SharedMap<number, number>,
  ms: number,
  roles = ['write', 'write', 'iterate'],
  logSize = 8192,
): Promise<void> {
  const words = controlWords();
  const L = { stop: 0 };
  const runs = provokers(map, words, L, roles);
  // At least `ms` (or until an eighth of the log is used: an idle machine
  // records hundreds of conflicts a millisecond, and the log must not
  // overflow), and until some conflict of each kind the roles can make was
  // recorded (bounded).
  const start = Date.now();
  const want = roles.includes('iterate') ? 2 : 1;
  const logQuarter = logSize / 8;
  while (Date.now() - start < 60_000) {
    await new Promise((r) => setTimeout(r, 2));
    if (Date.now() - start < ms && map.stats().conflicts < logQuarter) continue;
    const kinds = new Set(map.conflicts().map((r) => r.kind)).size;
    if (kinds >= want) break;
  }
  Atomics.store(words, L.stop, 1);
  await Promise.all(runs.map((r) => r.result));
}

function byKind(records: readonly ConflictRecord[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const r of records) m.set(r.kind, (m.get(r.kind) ?? 0) + 1);
  return m;
}

describe('alertOnConflicts', () => {
  it('sends the first alert of each kind at once, then at most one per kind per interval, counts adding up', async () => {
    const receiver = await startReceiver();
    const map = racingMap(1 << 16);
    const intervalMs = 500;
    const started = performance.now();
    const stop = alertOnConflicts(map, { url: receiver.url, name: 'test', intervalMs });
    await race(map, 1500, undefined, 1 << 16);
    const elapsed = performance.now() - started;
    const stats = await stop();
    await receiver.close();
    const alerts = receiver.accepted as ConflictAlert[];
    const log = map.conflicts();
    expect(map.stats().conflictsOverflowed).toBe(0);
    console.log(
      `alerts: ${alerts.length} for ${log.length} conflicts in ${Math.round(elapsed)} ms (${[...byKind(log)].join('; ')})`,
    );
    expect(stats).toMatchObject({ failed: 0, dropped: 0, queued: 0 });
    expect(stats.sent).toBe(alerts.length);
    for (const [kind, n] of byKind(log)) {
      const mine = alerts.filter((a) => a.kind === kind);
      // The first one is first, with the kind's first record.
      expect(mine[0]).toMatchObject({ first: true, count: 1, total: 1, map: 'test', source: 'shmap' });
      expect(mine[0]!.record).toEqual(log.find((r) => r.kind === kind));
      expect(mine.slice(1).every((a) => !a.first)).toBe(true);
      // Counts add up to the log exactly, and totals run up to it.
      expect(mine.reduce((s, a) => s + a.count, 0)).toBe(n);
      expect(mine.at(-1)!.total).toBe(n);
      // Rate-limited: the first, one per interval elapsed, and the final flush.
      expect(mine.length).toBeLessThanOrEqual(2 + Math.ceil(elapsed / intervalMs));
    }
  });

  it('retries a refused POST until the receiver accepts it', async () => {
    const receiver = await startReceiver(2);
    const sender = new AlertSender({ url: receiver.url, retryDelayMs: 10, retries: 3 });
    const record = { kind: 'concurrent map writes', time: 1, shard: 0 } as ConflictRecord;
    sender.conflict(record);
    const stats = await sender.close(10_000);
    await receiver.close();
    expect(stats).toMatchObject({ sent: 1, failed: 0, retried: 2 });
    expect(receiver.requests).toBe(3);
    expect(receiver.accepted).toHaveLength(1);
  });

  it('a retried alert is posted again with the same id (delivery is at least once); another alert has its own', async () => {
    // The receiver refuses the first request after reading it: a receiver that took it and replied
    // too late looks the same to the sender, which posts it again.
    const receiver = await startReceiver(1);
    const sender = new AlertSender({ url: receiver.url, retryDelayMs: 5, retries: 1 });
    sender.conflict({ kind: 'concurrent map writes', time: 1, shard: 0 } as ConflictRecord);
    sender.conflict({ kind: 'concurrent map read and map write', time: 2, shard: 0 } as ConflictRecord);
    const stats = await sender.close(10_000);
    await receiver.close();
    expect(stats).toMatchObject({ sent: 2, failed: 0, retried: 1 });
    const got = receiver.received as ConflictAlert[];
    expect(got.map((a) => a.kind)).toEqual([
      'concurrent map writes',
      'concurrent map writes',
      'concurrent map read and map write',
    ]);
    expect(got[1]!.id).toBe(got[0]!.id);
    expect(got[2]!.id).not.toBe(got[0]!.id);
  });

  it('a dead receiver: bounded queue, failed alerts counted, close returns', async () => {
    const sender = new AlertSender({ url: await deadUrl(), retryDelayMs: 5, retries: 1, maxQueue: 1, timeoutMs: 2000 });
    const kinds = [
      'concurrent map writes',
      'concurrent map read and map write',
      'concurrent map iteration and map write',
    ];
    for (let i = 0; i < 300; i++) sender.conflict({ kind: kinds[i % 3], time: i, shard: 0 } as ConflictRecord);
    const stats = await sender.close(10_000);
    console.log(`dead receiver: ${JSON.stringify(stats)}`);
    // One queued at a time: the other first alerts found the queue full.
    expect(stats.dropped).toBeGreaterThanOrEqual(1);
    expect(stats.sent).toBe(0);
    expect(stats.failed + stats.queued + stats.dropped).toBeGreaterThanOrEqual(3);
    expect(stats.failed).toBeGreaterThanOrEqual(1);
  });

  it('bad options throw InvalidOptionError naming the option', () => {
    const cases: Array<[unknown, string]> = [
      [{ url: 'not a url' }, 'options.url'],
      [{ url: 'ftp://x/' }, 'options.url'],
      [{ url: 'http://127.0.0.1/', intervalMs: 0 }, 'options.intervalMs'],
      [{ url: 'http://127.0.0.1/', maxQueue: 1.5 }, 'options.maxQueue'],
      [{ url: 'http://127.0.0.1/', retries: -1 }, 'options.retries'],
      [{ url: 'http://127.0.0.1/', timeoutMs: 'x' }, 'options.timeoutMs'],
    ];
    for (const [opts, text] of cases) {
      const e = thrown(() => new AlertSender(opts as never), text);
      expect(e).toBeInstanceOf(InvalidOptionError);
      expect((e as Error).message).toContain(text);
    }
  });
});

describe('watchConflicts', () => {
  it('rate-limited: the first of each kind in full, then counts per interval that add up to the log', async () => {
    const map = racingMap();
    let out = '';
    const stop = watchConflicts(map, { write: (t) => (out += t), rateLimit: true, intervalMs: 200 });
    await race(map, 800);
    const summary = stop();
    const log = map.conflicts();
    const kinds = byKind(log);
    for (const kind of kinds.keys()) expect(out.split(`WARNING: CONFLICT: ${kind}\n`).length - 1).toBe(1);
    expect(summary.shown).toBe(kinds.size);
    let counted = 0;
    for (const line of out.split('\n').filter((l) => l.startsWith('conflicts in the last'))) {
      for (const m of line.matchAll(/(\d+) concurrent map/g)) counted += Number(m[1]);
    }
    expect(counted).toBe(summary.counted);
    expect(summary.shown + summary.counted).toBe(log.length);
  });

  it('not rate-limited (a pipe): every record in full', async () => {
    const map = racingMap();
    let out = '';
    const stop = watchConflicts(map, { write: (t) => (out += t), rateLimit: false });
    await race(map, 300, ['write', 'write']);
    const summary = stop();
    expect(out.split('WARNING: CONFLICT: ').length - 1).toBe(map.conflicts().length);
    expect(summary).toEqual({ shown: map.conflicts().length, counted: 0, missed: 0 });
  });
});

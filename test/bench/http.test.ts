/**
 * `bench http`, bounded for CI: a short run of every shmap cleanup strategy
 * against `serve` in a child process. The safe strategies lose nothing and
 * answer nothing wrong; the anti-pattern (range + delete while other threads
 * write) shows its 500s or conflicts; and the verification can fail: a
 * private Map per thread (not shared) is caught losing sessions, and the
 * client model flags a scripted loss and a scripted wrong answer.
 */
import { describe, expect, it } from 'vitest';
import { QUICK, mergeRounds, runVariant, variants, type HttpBenchConfig, type HttpRow } from '../../src/bench/http.js';
import { SessionModel } from '../../src/bench/http-load.js';
import { distPath } from '../helpers/paths.js';

distPath('main.js');

// A number of requests, not a duration: on a loaded machine the first answers can take seconds.
const CONFIG: HttpBenchConfig = { ...QUICK, amount: 1_200, connections: 8, threads: 2, rangeEvery: 10 };
const byName = new Map(variants(2).map((v) => [v.name, v]));

describe('bench http: the client model judges answers', () => {
  it('flags a 404 on a fresh session and a 200 with another body, and nothing else', () => {
    const m = new SessionModel(1_000, 1, 100);
    const put: Record<string, unknown> = {};
    const req = m.next(put);
    // Make the first op a PUT whatever the draw was: answer as the server would.
    put.op = 2;
    m.answer(200, '{"data":1,"seen":1,"hits":0}', put);
    const id = put.id as string;
    expect(req.path).toContain(id);
    const get = { id, op: 0, sentAt: (put.sentAt as number) + 10 };
    m.answer(200, '{"data":1,"seen":1,"hits":0}', { ...get });
    expect([m.lost, m.wrong]).toEqual([0, 0]);
    m.answer(200, '{"data":2,"seen":1,"hits":0}', { ...get });
    expect(m.wrong).toBe(1);
    m.answer(404, '{"error":"no such session"}', { ...get });
    expect(m.lost).toBe(1);
    // Known absent now: a second 404 is no loss; a 404 long after the last write is no loss either.
    m.answer(404, '', { ...get });
    expect(m.lost).toBe(1);
    // A write sent 5 s ago (stale after 1 s): its 404 now is no loss.
    put.sentAt = Date.now() - 5_000;
    m.answer(200, '{"data":3,"seen":1,"hits":0}', put);
    m.answer(404, '', { id, op: 0, sentAt: Date.now() });
    expect([m.lost, m.wrong]).toEqual([1, 1]);
  });

  it('tells a 500 from a range that met a write from any other 500, by its body', () => {
    const m = new SessionModel(1_000, 1, 100);
    const ctx: Record<string, unknown> = {};
    m.next(ctx);
    m.answer(500, '{"error":"concurrent map iteration and map write (shard 3)"}', { ...ctx });
    expect(m.errors500).toEqual({ iteration: 1, other: 0 });
    expect(m.examples).toEqual([]);
    m.answer(500, '{"error":"internal error: Unexpected token"}', { ...ctx });
    expect(m.errors500).toEqual({ iteration: 1, other: 1 });
    expect(m.examples[0]).toContain('500 {"error":"internal error: Unexpected token"}');
  });
});

describe('bench http: a row merged from its rounds', () => {
  const round = (reqPerSec: number, p99: number, lost: number, gcMaxMs: number): HttpRow => ({
    name: 'sweep',
    mode: 'dispatch',
    safe: true,
    load: {
      requests: reqPerSec * 2,
      reqPerSec,
      p50: p99 / 10,
      p99,
      p999: p99 * 2,
      max: p99 * 3,
      non2xx: 1,
      errors: 0,
      timeouts: 0,
      statuses: { '200': reqPerSec * 2 - 1, '404': 1 },
      lost,
      wrong: 0,
      verified: 10,
      unknown: 0,
      examples: lost > 0 ? ['GET s1: 404'] : [],
      errors500: { iteration: 0, other: 0 },
    },
    server: {
      cleaned: 4,
      cleanedPerSec: 2,
      conflicts: 0,
      iterationErrors: 0,
      gcCount: 3,
      gcMs: 9,
      gcMaxMs,
      maxRssBytes: 100 * gcMaxMs,
      exitCode: 0,
      forced: 0,
    },
  });

  it('adds counts, averages req/s, takes the median percentile and the largest max; a failed round fails the row', () => {
    const row = mergeRounds([round(100, 50, 0, 4), round(300, 10, 2, 7), round(200, 30, 0, 5)]);
    expect(row.roundsReqPerSec).toEqual([100, 300, 200]);
    expect(row.load).toMatchObject({ requests: 1200, reqPerSec: 200, p99: 30, max: 150, lost: 2, non2xx: 3 });
    expect(row.load!.statuses).toEqual({ '200': 1197, '404': 3 });
    expect(row.load!.examples).toEqual(['GET s1: 404']);
    expect(row.server).toMatchObject({ cleaned: 12, gcCount: 9, gcMs: 27, gcMaxMs: 7, maxRssBytes: 700 });
    const failed = mergeRounds([round(100, 50, 0, 4), { name: 'sweep', mode: '-', safe: true, error: 'boom' }]);
    expect(failed.error).toBe('round 2: boom');
  });
});

describe('bench http: every strategy under a short load', () => {
  for (const name of ['stop-the-world', 'sweep', 'ttl', 'delete-queue', 'lease', 'rebuild']) {
    it(`${name}: nothing lost, nothing wrong, clean shutdown`, async () => {
      const row = await runVariant(byName.get(name)!, CONFIG);
      expect(row.error).toBeUndefined();
      const l = row.load!;
      expect(l.requests).toBeGreaterThan(0);
      expect({ lost: l.lost, wrong: l.wrong, examples: l.examples }).toEqual({ lost: 0, wrong: 0, examples: [] });
      expect(l.statuses['500'] ?? 0).toBe(0);
      expect(row.server!.conflicts).toBe(0);
      expect(row.server!.exitCode).toBe(0);
      expect(row.server!.forced).toBe(0);
    });
  }

  it('range-delete (the anti-pattern) meets concurrent writes: 500s and recorded conflicts', async () => {
    // A real race is needed: every request ranges, and a run that happens to see no overlap is tried again (up to 3).
    let seen = 0;
    for (let attempt = 0; attempt < 3 && seen === 0; attempt++) {
      const row = await runVariant(byName.get('range-delete')!, { ...CONFIG, amount: 300, rangeEvery: 1 });
      expect(row.error).toBeUndefined();
      // Every 500 says it was a range that met a foreign write: none is a defect of the server (a torn
      // session, an internal error). Counted from the bodies — autocannon's status tally and the
      // server's counters are not one ledger (a request in flight when a 500 closes its connection).
      expect(row.load!.errors500.other).toBe(0);
      expect(row.load!.errors500.iteration).toBeLessThanOrEqual(row.load!.statuses['500'] ?? 0);
      seen = row.server!.iterationErrors + row.server!.conflicts + row.load!.errors500.iteration;
    }
    expect(seen).toBeGreaterThan(0);
  }, 180_000);

  it('negative control: a private Map per thread is caught losing sessions', async () => {
    const row = await runVariant(byName.get('private Map per thread')!, CONFIG);
    expect(row.error).toBeUndefined();
    expect(row.load!.lost + row.load!.wrong).toBeGreaterThan(0);
  });
});

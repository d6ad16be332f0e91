/**
 * The checker must be able to fail: hand-written non-linearizable histories are
 * each reported as a violation on the right key with a counterexample that
 * fails on its own; linearizable ones with real overlap are ok; a hard one
 * under a tiny time limit is unknown.
 */
import { describe, expect, it } from 'vitest';
import {
  checkLinearizability,
  checkLinearizabilitySync,
  type LinearizabilityResult,
} from '../../src/race/linearizability.js';
import type { HistoryOp, HistoryOpName, JsonValue } from '../../src/race/history.js';
import { simulateHistory } from '../../src/bench/checker.js';
import { distPath } from '../helpers/paths.js';

function op(
  thread: number,
  name: HistoryOpName,
  key: string | number,
  args: JsonValue[],
  result: JsonValue,
  call: number,
  ret: number,
): HistoryOp {
  return { thread, op: name, key, args, result, call, ret };
}

/** Asserts one violation on `key` whose counterexample is a subset of that key's ops and fails by itself. */
function expectViolation(
  history: HistoryOp[],
  key: string | number,
  result: LinearizabilityResult = checkLinearizabilitySync(history),
): number[] {
  expect(result.status).toBe('violation');
  expect(result.counts.violation).toBe(1);
  const v = result.problems[0]!;
  expect(v.key).toBe(key);
  const ce = v.counterexample!;
  expect(ce.length).toBeGreaterThan(0);
  for (const i of ce) expect(history[i]!.key).toBe(key);
  // The counterexample alone cannot be ordered either.
  expect(checkLinearizabilitySync(ce.map((i) => history[i]!)).status).toBe('violation');
  return ce;
}

describe('hand-written violations', () => {
  it('a stale read after a completed write', () => {
    const h = [
      op(0, 'set', 'k', [1], null, 0, 10),
      op(0, 'set', 'k', [2], null, 20, 30),
      op(1, 'get', 'k', [], 1, 40, 50),
      op(2, 'set', 'other', [1], null, 0, 60),
      op(3, 'get', 'other', [], 1, 55, 70),
    ];
    const ce = expectViolation(h, 'k');
    // The witness is the overwrite and the stale get; set(1) is not needed.
    expect(ce.sort()).toEqual([1, 2]);
    const v = checkLinearizabilitySync(h).problems[0]!;
    expect(v.minimal).toBe(true);
    expect(v.anyInitialState).toBe(true);
  });

  it('a lost add (two concurrent adds both return 1)', () => {
    const h = [op(0, 'add', 'c', [1], 1, 0, 10), op(1, 'add', 'c', [1], 1, 5, 15), op(0, 'get', 'c', [], 1, 20, 30)];
    const ce = expectViolation(h, 'c');
    expect(ce.sort()).toEqual([0, 1]);
  });

  it('two successful putIfAbsent on one key', () => {
    const h = [
      op(0, 'putIfAbsent', 7, ['a'], null, 0, 10),
      op(1, 'putIfAbsent', 7, ['b'], null, 2, 12),
      op(2, 'putIfAbsent', '7', ['c'], null, 0, 12), // another key: "7" is not 7
    ];
    const ce = expectViolation(h, 7);
    expect(ce.sort()).toEqual([0, 1]);
  });

  it('a compareAndSet that succeeded on a wrong value', () => {
    const h = [
      op(0, 'set', 'x', [1], null, 0, 10),
      op(1, 'compareAndSet', 'x', [2, 3], true, 20, 30),
      op(1, 'get', 'x', [], 3, 40, 50),
    ];
    const ce = expectViolation(h, 'x');
    expect(ce.sort()).toEqual([0, 1]);
  });

  it('a get of a value nobody wrote, in the middle of a busy key, shrinks to a few ops', () => {
    const seed = 7;
    const h = simulateHistory({ ops: 400, keys: 1, threads: 4, seed });
    const victim = h.findIndex((o, i) => i > 200 && o.op === 'get');
    h[victim]!.result = 'never written';
    const ce = expectViolation(h, 'hot');
    expect(ce).toContain(victim);
    expect(ce.length).toBeLessThanOrEqual(3);
  });

  it('does not blame a read whose writer lies between the ops it keeps (the shrinking is sound)', () => {
    // set(1); get→1; set(2); get→2 is fine; the bug is the last get→1.
    const h = [
      op(0, 'set', 'k', [1], null, 0, 1),
      op(0, 'get', 'k', [], 1, 2, 3),
      op(0, 'set', 'k', [2], null, 4, 5),
      op(0, 'get', 'k', [], 2, 6, 7),
      op(1, 'get', 'k', [], 1, 8, 9),
    ];
    // Dropping set(2) would make {set(1), get→2} look wrong; the witness is
    // instead the two reads: after get→2 nothing wrote 1 again.
    const ce = expectViolation(h, 'k');
    expect(ce.sort()).toEqual([3, 4]);
  });
});

describe('linearizable histories with real overlap', () => {
  it('reads overlapping a write may see either value', () => {
    const h = [
      op(0, 'set', 'k', [1], null, 0, 10),
      op(1, 'get', 'k', [], null, 1, 3),
      op(2, 'get', 'k', [], 1, 2, 4),
      op(1, 'get', 'k', [], 1, 5, 8),
      op(2, 'has', 'k', [], true, 11, 12),
    ];
    expect(checkLinearizabilitySync(h).status).toBe('ok');
  });

  it('concurrent adds may return in either order; one putIfAbsent wins; CAS races resolve', () => {
    const h = [
      op(0, 'add', 'n', [1], 2, 0, 10),
      op(1, 'add', 'n', [1], 1, 5, 15),
      op(0, 'putIfAbsent', 'p', [{ b: 1, a: [1, 2] }], null, 0, 10),
      op(1, 'putIfAbsent', 'p', ['other'], { a: [1, 2], b: 1 }, 0, 10),
      op(2, 'set', 'q', [0], null, 0, 1),
      op(0, 'compareAndSet', 'q', [0, 5], false, 2, 10),
      op(1, 'compareAndSet', 'q', [0, 6], true, 3, 9),
      op(2, 'delete', 'q', [], true, 4, 8),
      op(2, 'get', 'q', [], null, 11, 12),
    ];
    const r = checkLinearizabilitySync(h);
    expect(r.status).toBe('ok');
    expect(r.keys).toBe(3);
  });
});

describe('time limit', () => {
  it('answers unknown rather than hang on a search it cannot finish', () => {
    // 30 writers and 30 readers all at once, then a read of a value nobody
    // wrote: the search must try every order of the concurrent ones.
    const h: HistoryOp[] = [];
    for (let i = 0; i < 30; i++) h.push(op(i, 'set', 'k', [i], null, 0, 100));
    for (let i = 0; i < 30; i++) h.push(op(30 + i, 'get', 'k', [], (i * 7) % 30, 0, 100));
    h.push(op(0, 'get', 'k', [], 'nobody', 200, 210));
    const r = checkLinearizabilitySync(h, { timeoutMs: 50 });
    expect(r.status).toBe('unknown');
    expect(r.problems[0]!.key).toBe('k');
  });
});

describe('worker threads', () => {
  it('checks partitions on workers and finds the same violation', async () => {
    const seed = 11;
    const h = simulateHistory({ ops: 5_000, keys: 50, threads: 8, seed });
    const ok = await checkLinearizability(h, { workers: 2, workerUrl: distPath('race/lin-worker.js') });
    expect(ok.status).toBe('ok');
    expect(ok.workers).toBe(2);
    expect(ok.keys).toBe(50);
    const victim = h.findIndex((o, i) => i > 2_500 && o.op === 'add');
    h[victim]!.result = (h[victim]!.result as number) + 1;
    const bad = await checkLinearizability(h, { workers: 2, workerUrl: distPath('race/lin-worker.js') });
    const ce = expectViolation(h, h[victim]!.key, bad);
    expect(ce).toContain(victim);
    expect(bad.counts.ok).toBe(49);
  });
});

/**
 * Pending operations (called, never seen to return) in the history format
 * and the checker: a pending op may take effect at any moment after its call,
 * or never, and its result is not checked; it must be its thread's last op.
 */
import { describe, expect, it } from 'vitest';
import {
  findThreadOverlap,
  formatHistory,
  isPending,
  parseHistory,
  HistoryParseError,
  type HistoryOp,
} from '../../src/race/history.js';
import { checkLinearizabilitySync } from '../../src/race/linearizability.js';
import { formatCheckReport } from '../../src/race/timeline.js';

function op(
  thread: number,
  name: HistoryOp['op'],
  args: HistoryOp['args'],
  result: HistoryOp['result'],
  call: number,
  ret: number,
): HistoryOp {
  return { thread, op: name, key: 'k', args, result, call, ret };
}
const pending = (thread: number, name: HistoryOp['op'], args: HistoryOp['args'], call: number): HistoryOp =>
  op(thread, name, args, null, call, Infinity);

describe('pending ops in the format', () => {
  it('a line without "ret" (or with "ret": null) is pending, and is written back with "ret": null', () => {
    const text = [
      '{"thread": 0, "op": "set", "key": "k", "args": [1], "result": null, "call": 0, "ret": 10}',
      '{"thread": 1, "op": "add", "key": "k", "args": [2], "call": 5}',
      '{"thread": 2, "op": "get", "key": "k", "args": [], "result": null, "call": 6, "ret": null}',
    ].join('\n');
    const h = parseHistory(text);
    expect(h.map(isPending)).toEqual([false, true, true]);
    expect(h[1]).toEqual({ thread: 1, op: 'add', key: 'k', args: [2], result: null, call: 5, ret: Infinity });
    const written = formatHistory(h);
    expect(written.split('\n')[1]).toBe(
      '{"thread":1,"op":"add","key":"k","args":[2],"result":null,"call":5,"ret":null}',
    );
    expect(parseHistory(written)).toEqual(h);
  });

  it('a pending op with a result is refused, naming the line', () => {
    const bad = '{"thread": 0, "op": "get", "key": "k", "args": [], "result": 3, "call": 0}';
    expect(() => parseHistory(bad)).toThrow(HistoryParseError);
    expect(() => parseHistory(bad)).toThrow(/line 1: a pending op \(no "ret"\) has no result/);
  });

  it("a pending op must be its thread's last", () => {
    const h = [pending(0, 'set', [1], 0), op(0, 'get', [], 1, 5, 6)];
    expect(findThreadOverlap(h)).toBe(1);
    expect(findThreadOverlap([op(0, 'get', [], null, 0, 1), pending(0, 'set', [1], 5)])).toBe(-1);
  });
});

describe('the checker and pending ops', () => {
  it('a pending write may have taken effect, or not', () => {
    const base = [op(0, 'set', [1], null, 0, 1), pending(1, 'set', [2], 2)];
    // Seen: it took effect before the read.
    expect(checkLinearizabilitySync([...base, op(2, 'get', [], 2, 3, 4)]).status).toBe('ok');
    // Not seen: it had not (yet) taken effect.
    expect(checkLinearizabilitySync([...base, op(2, 'get', [], 1, 3, 4)]).status).toBe('ok');
    // Seen, then not seen again: it can take effect once only.
    expect(checkLinearizabilitySync([...base, op(2, 'get', [], 2, 3, 4), op(2, 'get', [], 1, 5, 6)]).status).toBe(
      'violation',
    );
    // A value nobody wrote is still a violation.
    expect(checkLinearizabilitySync([...base, op(2, 'get', [], 3, 3, 4)]).status).toBe('violation');
  });

  it('a pending op takes effect only after its call', () => {
    const h = [op(0, 'get', [], 7, 0, 1), pending(1, 'set', [7], 2)];
    const r = checkLinearizabilitySync(h);
    expect(r.status).toBe('violation');
    expect(r.pending).toBe(1);
    // The counterexample is the read; the pending set is not among the ops that could explain it.
    expect(r.problems[0]!.counterexample).toEqual([0]);
    expect(r.problems[0]!.others).toEqual([]);
  });

  it("a pending op's result is not checked, and a pending add counts once if at all", () => {
    const h = [op(0, 'add', [1], 1, 0, 1), pending(1, 'add', [5], 2), op(2, 'get', [], 6, 3, 4)];
    expect(checkLinearizabilitySync(h).status).toBe('ok');
    h.push(op(2, 'add', [1], 12, 5, 6));
    expect(checkLinearizabilitySync(h).status).toBe('violation');
  });

  it('the report draws a pending op to the right edge and says it may take effect or not', () => {
    const h = [
      op(0, 'set', [1], null, 0, 1),
      pending(1, 'set', [2], 2),
      op(2, 'get', [], 2, 3, 4),
      op(2, 'get', [], 1, 5, 6),
    ];
    const r = checkLinearizabilitySync(h);
    const text = formatCheckReport(h, r);
    expect(text).toContain('(1 pending)');
    expect(text).toMatch(/#\d\? set\(2\) → \(pending\)-*>/);
    expect(text).toContain('pending');
    expect(text).toContain('may take effect or not');
  });
});

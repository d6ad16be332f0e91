/**
 * Counterexamples are made of the input's own ops and can be checked by hand.
 * Random small histories (wrong results on purpose, some ops pending) are
 * checked, and every verdict is compared with an independent brute force over
 * every order; for each violation, the counterexample and the overlapping ops
 * printed beside it must be ops of the input on that key, and the brute force
 * must find no order of the counterexample's ops, with any of those others
 * placed among them or left out, from any starting state the report allows.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isPending, type HistoryOp, type HistoryOpName, type JsonValue } from '../../src/race/history.js';
import { checkLinearizabilitySync } from '../../src/race/linearizability.js';
import { formatCheckReport, formatOpLabel } from '../../src/race/timeline.js';

const SEED = Number(process.env.SEED ?? Date.now() % 1_000_000);
console.log(`lin-counterexample seed: ${SEED} (replay with SEED=${SEED})`);

type State = number | undefined;

/** The sequential map on one key, written apart from the checker's model: [result, next state]. */
function apply(s: State, op: HistoryOp): [JsonValue, State] {
  const a0 = op.args[0] as number | null;
  switch (op.op) {
    case 'get':
      return [s ?? null, s];
    case 'has':
      return [s !== undefined, s];
    case 'set':
      return [null, a0!];
    case 'delete':
      return [s !== undefined, undefined];
    case 'putIfAbsent':
      return s === undefined ? [null, a0!] : [s, s];
    case 'compareAndSet': {
      const ok = a0 === null ? s === undefined : s === a0;
      return [ok, ok ? (op.args[1] as number) : s];
    }
    case 'add':
      return [(s ?? 0) + a0!, (s ?? 0) + a0!];
  }
}

/**
 * Is there an order of `required` (all placed) and `optional` (each placed
 * or left out), respecting real time among the placed ones, in which every
 * placed op gives its recorded result (pending ops: any result), from `init`?
 * Plain recursion over every choice.
 */
function bruteForce(history: readonly HistoryOp[], required: number[], optional: number[], init: State): boolean {
  const all = [...required, ...optional];
  const req = new Set(required);
  const done = new Set<number>();
  const skipped = new Set<number>();
  const go = (s: State): boolean => {
    const open = all.filter((i) => !done.has(i) && !skipped.has(i));
    if (open.every((i) => !req.has(i))) return true;
    for (const i of open) {
      // i can go next only if no other open op returned before i was called.
      if (open.some((j) => j !== i && history[j]!.ret < history[i]!.call)) continue;
      const [result, next] = apply(s, history[i]!);
      if (isPending(history[i]!) || JSON.stringify(result) === JSON.stringify(history[i]!.result)) {
        done.add(i);
        if (go(next)) return true;
        done.delete(i);
      }
      if (!req.has(i)) {
        skipped.add(i);
        if (go(s)) return true;
        skipped.delete(i);
      }
    }
    return false;
  };
  return go(init);
}

const VALUES = [1, 2, 3];
const opArb: fc.Arbitrary<{ op: HistoryOpName; args: readonly JsonValue[]; result: JsonValue }> = fc.oneof(
  fc.record({ op: fc.constant<HistoryOpName>('get'), args: fc.constant([]), result: fc.constantFrom(null, 1, 2, 3) }),
  fc.record({ op: fc.constant<HistoryOpName>('has'), args: fc.constant([]), result: fc.boolean() }),
  fc.record({
    op: fc.constant<HistoryOpName>('set'),
    args: fc.tuple(fc.constantFrom(...VALUES)),
    result: fc.constant(null),
  }),
  fc.record({ op: fc.constant<HistoryOpName>('delete'), args: fc.constant([]), result: fc.boolean() }),
  fc.record({
    op: fc.constant<HistoryOpName>('putIfAbsent'),
    args: fc.tuple(fc.constantFrom(...VALUES)),
    result: fc.constantFrom(null, 1, 2),
  }),
  fc.record({
    op: fc.constant<HistoryOpName>('compareAndSet'),
    args: fc.tuple(fc.constantFrom(null, ...VALUES), fc.constantFrom(...VALUES)),
    result: fc.boolean(),
  }),
  fc.record({
    op: fc.constant<HistoryOpName>('add'),
    args: fc.tuple(fc.constantFrom(1, 2)),
    result: fc.integer({ min: 1, max: 5 }),
  }),
);

/** Up to 3 threads of up to 3 ops, sequential per thread, on key 'k'; a thread's last op pending sometimes. */
const historyArb: fc.Arbitrary<HistoryOp[]> = fc
  .array(
    fc.record({
      ops: fc.array(fc.record({ o: opArb, gap: fc.integer({ min: 0, max: 6 }), len: fc.integer({ min: 0, max: 6 }) }), {
        minLength: 1,
        maxLength: 3,
      }),
      lastPending: fc.boolean(),
    }),
    { minLength: 1, maxLength: 3 },
  )
  .map((threads) => {
    const h: HistoryOp[] = [];
    threads.forEach((t, thread) => {
      let time = 0;
      t.ops.forEach(({ o, gap, len }, k) => {
        const call = time + gap + 1;
        const pending = t.lastPending && k === t.ops.length - 1;
        const ret = pending ? Infinity : call + len;
        time = ret;
        h.push({ thread, op: o.op, key: 'k', args: [...o.args], result: pending ? null : o.result, call, ret });
      });
    });
    return h.sort((a, b) => a.call - b.call || a.thread - b.thread);
  });

/** The starting states the report may mean: missing, every value the ops mention or imply, and one other. */
function candidateStates(history: readonly HistoryOp[]): State[] {
  const s = new Set<State>([undefined, 1000]);
  for (const op of history) {
    for (const a of op.args) if (typeof a === 'number') s.add(a);
    if (typeof op.result === 'number') {
      s.add(op.result);
      if (op.op === 'add') s.add(op.result - (op.args[0] as number));
    }
  }
  return [...s];
}

describe('counterexamples', () => {
  it('agree with a brute force, hold only input ops, and fail as printed', () => {
    let violations = 0;
    fc.assert(
      fc.property(historyArb, (history) => {
        const all = history.map((_, i) => i);
        const whole = bruteForce(
          history,
          all.filter((i) => !isPending(history[i]!)),
          all.filter((i) => isPending(history[i]!)),
          undefined,
        );
        const r = checkLinearizabilitySync(history, { timeoutMs: 5_000 });
        expect(r.status).toBe(whole ? 'ok' : 'violation');
        if (r.status !== 'violation') return;
        violations++;
        const p = r.problems[0]!;
        const core = p.counterexample!;
        const others = p.others!;
        // Only ops of the input, on this key, each once, none in both lists.
        for (const i of [...core, ...others]) {
          expect(Number.isInteger(i) && i >= 0 && i < history.length).toBe(true);
          expect(history[i]!.key).toBe(p.key);
        }
        expect(new Set([...core, ...others]).size).toBe(core.length + others.length);
        expect(core.length).toBeGreaterThan(0);
        expect(p.overlapping).toBe(others.length);
        // Every op the report names is printed with its own label.
        const text = formatCheckReport(history, r);
        for (const i of [...core, ...others]) expect(text).toContain(formatOpLabel(history[i]!));
        // And it fails as printed: from any state (or a missing key), others in or out.
        const starts = p.anyInitialState ? candidateStates(history) : [undefined];
        for (const init of starts) expect(bruteForce(history, core, others, init)).toBe(false);
      }),
      { seed: SEED, numRuns: 400 },
    );
    // Not vacuous: random results make most histories violations.
    expect(violations).toBeGreaterThan(50);
  });
});

/**
 * Properties of the checker against an independent model (a plain Map):
 * histories produced by running random ops in one real order are always ok,
 * however their intervals overlap around that order; one result corrupted in
 * a strictly sequential history is always a violation on that key.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkLinearizabilitySync } from '../../src/race/linearizability.js';
import type { HistoryOp, HistoryOpName, JsonValue } from '../../src/race/history.js';

const SEED = Number(process.env.SEED ?? Date.now() % 1_000_000);
console.log(`lin-property seed: ${SEED} (replay with SEED=${SEED})`);

type Cmd = { op: HistoryOpName; key: string | number; args: readonly JsonValue[] };

const keyArb = fc.constantFrom<string | number>('a', 'b', 1, '1');
const valArb = fc.oneof(fc.integer({ min: 0, max: 3 }), fc.constantFrom<JsonValue>('x', { p: [1, 2] }));
const cmdArb: fc.Arbitrary<Cmd> = fc.oneof(
  fc.record({ op: fc.constant<HistoryOpName>('get'), key: keyArb, args: fc.constant([]) }),
  fc.record({ op: fc.constant<HistoryOpName>('has'), key: keyArb, args: fc.constant([]) }),
  fc.record({ op: fc.constant<HistoryOpName>('delete'), key: keyArb, args: fc.constant([]) }),
  fc.record({ op: fc.constant<HistoryOpName>('set'), key: keyArb, args: fc.tuple(valArb) }),
  fc.record({ op: fc.constant<HistoryOpName>('putIfAbsent'), key: keyArb, args: fc.tuple(valArb) }),
  fc.record({ op: fc.constant<HistoryOpName>('compareAndSet'), key: keyArb, args: fc.tuple(valArb, valArb) }),
  // add only on the counter key, which only ever holds numbers
  fc.record({
    op: fc.constant<HistoryOpName>('add'),
    key: fc.constant('n'),
    args: fc.tuple(fc.integer({ min: -2, max: 3 })),
  }),
);

const same = (a: JsonValue | undefined, b: JsonValue): boolean =>
  a !== undefined && JSON.stringify(a) === JSON.stringify(b);

/** Runs commands in order on a Map; returns each result (undefined as null). */
function runSequentially(cmds: Cmd[]): JsonValue[] {
  const map = new Map<string | number, JsonValue>();
  return cmds.map(({ op, key, args }) => {
    const old = map.get(key);
    switch (op) {
      case 'get':
        return old ?? null;
      case 'has':
        return map.has(key);
      case 'delete':
        return map.delete(key);
      case 'set':
        map.set(key, args[0]!);
        return null;
      case 'putIfAbsent':
        if (!map.has(key)) map.set(key, args[0]!);
        return old ?? null;
      case 'compareAndSet': {
        const ok = same(old, args[0]!);
        if (ok) map.set(key, args[1]!);
        return ok;
      }
      case 'add': {
        const next = ((old as number | undefined) ?? 0) + (args[0] as number);
        map.set(key, next);
        return next;
      }
    }
  });
}

/**
 * A history whose op i takes effect at time 10*i: each op's interval
 * [call, ret] contains its effect point, stretched by up to `slack` on each
 * side; thread = i % threads, and a thread's ops never overlap.
 */
function toHistory(cmds: Cmd[], results: JsonValue[], slacks: Array<[number, number]>, threads: number): HistoryOp[] {
  const lastRet = new Array<number>(threads).fill(-Infinity);
  return cmds.map((c, i) => {
    const thread = i % threads;
    const at = 10 * i;
    const [before, after] = slacks[i]!;
    const call = Math.max(at - before, lastRet[thread]! + 0.001);
    const ret = at + after;
    lastRet[thread] = ret;
    return { thread, op: c.op, key: c.key, args: [...c.args], result: results[i]!, call: Math.min(call, at), ret };
  });
}

describe('checker vs a sequential Map', () => {
  it('histories from one real order, with overlapping intervals, are ok', () => {
    fc.assert(
      fc.property(
        fc.array(cmdArb, { minLength: 1, maxLength: 40 }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 40 })), {
          minLength: 40,
          maxLength: 40,
        }),
        fc.integer({ min: 1, max: 5 }),
        (cmds, slacks, threads) => {
          const h = toHistory(cmds, runSequentially(cmds), slacks, threads);
          const r = checkLinearizabilitySync(h, { timeoutMs: 5_000 });
          expect(r.status).toBe('ok');
        },
      ),
      { seed: SEED, numRuns: 300 },
    );
  });

  it('one corrupted result in a sequential history is a violation on its key', () => {
    fc.assert(
      fc.property(fc.array(cmdArb, { minLength: 1, maxLength: 30 }), fc.nat(), (cmds, pick) => {
        const results = runSequentially(cmds);
        const victim = pick % cmds.length;
        const r0 = results[victim]!;
        // A different result the model can tell apart.
        let bad: JsonValue;
        switch (cmds[victim]!.op) {
          case 'has':
          case 'delete':
          case 'compareAndSet':
            bad = !(r0 as boolean);
            break;
          case 'add':
            bad = (r0 as number) + 1;
            break;
          case 'set':
            bad = 'not null';
            break;
          default:
            bad = r0 === null ? 'corrupt' : null;
        }
        results[victim] = bad;
        // No overlap at all: gaps between ops, one thread.
        const h = toHistory(
          cmds,
          results,
          cmds.map(() => [1, 1] as [number, number]),
          1,
        );
        const r = checkLinearizabilitySync(h);
        expect(r.status).toBe('violation');
        expect(r.problems[0]!.key).toBe(cmds[victim]!.key);
        // The counterexample (which need not contain the victim: with the victim
        // unable to take effect, two of its neighbours can witness it) fails alone.
        const ce = r.problems[0]!.counterexample!;
        expect(checkLinearizabilitySync(ce.map((i) => h[i]!)).status).toBe('violation');
      }),
      { seed: SEED, numRuns: 300 },
    );
  });
});

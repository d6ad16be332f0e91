/**
 * Benchmark of the linearizability checker (`node dist/bench/checker.js`).
 *
 * Histories come from a simulated correct concurrent map (`simulateHistory`):
 * each thread makes one call at a time; every op takes effect at a random
 * instant between its call and its return, and the results are what a plain
 * Map gives when the ops are applied in the order of those instants. So every
 * generated history is linearizable, with as much overlap as the durations
 * give, and the checker must say `ok` (or `unknown` past its limit).
 *
 * The checker's targets:
 * - 100,000 ops over 1,000 keys from 8 threads: must check in under 10 s on 2 cores;
 * - 2,000 ops on one hot key from 8 threads: must check, or answer `unknown`
 *   within its time limit, never hang.
 */
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { formatHistory, parseHistory, type HistoryOp, type HistoryOpName, type JsonValue } from '../race/history.js';
import { checkLinearizability, type CheckOptions, type LinearizabilityResult } from '../race/linearizability.js';
import { Rng } from '../rng.js';

export interface SimulateOptions {
  ops: number;
  keys: number;
  threads: number;
  seed: number;
  /** Values are integers below this (default 8), so gets, CASes and putIfAbsents often meet the same values. */
  values?: number;
  /** Longest time from call to effect, and from effect to return, ms (default 1). */
  maxHalfDurationMs?: number;
}

/** A linearizable history from a simulated correct map (see the module comment). */
export function simulateHistory(options: SimulateOptions): HistoryOp[] {
  const rng = new Rng(options.seed);
  const values = options.values ?? 8;
  const half = options.maxHalfDurationMs ?? 1;
  const int = (n: number): number => Math.floor(rng.next() * n);
  const perThread = Math.ceil(options.ops / options.threads);
  type Pending = { op: HistoryOp; at: number };
  const pending: Pending[] = [];
  for (let thread = 0; thread < options.threads && pending.length < options.ops; thread++) {
    let t = rng.next() * half;
    for (let k = 0; k < perThread && pending.length < options.ops; k++) {
      const call = t + rng.next() * half * 0.2;
      const at = call + rng.next() * half;
      const ret = at + rng.next() * half;
      t = ret;
      const key = options.keys === 1 ? 'hot' : `k${int(options.keys)}`;
      const r = rng.next();
      let op: HistoryOpName;
      let args: JsonValue[];
      if (r < 0.35) [op, args] = ['get', []];
      else if (r < 0.55) [op, args] = ['set', [int(values)]];
      else if (r < 0.6) [op, args] = ['has', []];
      else if (r < 0.65) [op, args] = ['delete', []];
      else if (r < 0.75) [op, args] = ['putIfAbsent', [int(values)]];
      else if (r < 0.9) [op, args] = ['compareAndSet', [int(values), int(values)]];
      else [op, args] = ['add', [1 + int(3)]];
      pending.push({ op: { thread, op, key, args, result: null, call, ret }, at });
    }
  }
  // Apply in effect order to a plain Map: the results a correct map gives.
  pending.sort((a, b) => a.at - b.at);
  const map = new Map<string | number, number>();
  for (const { op } of pending) {
    const old = map.get(op.key);
    switch (op.op) {
      case 'get':
        op.result = old ?? null;
        break;
      case 'has':
        op.result = old !== undefined;
        break;
      case 'set':
        map.set(op.key, op.args[0] as number);
        break;
      case 'delete':
        op.result = map.delete(op.key);
        break;
      case 'putIfAbsent':
        if (old === undefined) map.set(op.key, op.args[0] as number);
        op.result = old ?? null;
        break;
      case 'compareAndSet':
        op.result = old === op.args[0];
        if (op.result) map.set(op.key, op.args[1] as number);
        break;
      case 'add':
        op.result = (old ?? 0) + (op.args[0] as number);
        map.set(op.key, op.result);
        break;
    }
  }
  return pending.map((p) => p.op).sort((a, b) => a.call - b.call);
}

/** Largest number of ops in flight at once. */
export function maxOverlap(history: readonly HistoryOp[]): number {
  const events = history.flatMap((op) => [
    [op.call, 1],
    [op.ret, -1],
  ]) as Array<[number, number]>;
  events.sort((a, b) => a[0] - b[0] || b[1] - a[1]);
  let cur = 0;
  let max = 0;
  for (const [, d] of events) max = Math.max(max, (cur += d));
  return max;
}

function line(label: string, result: LinearizabilityResult, ms: number): string {
  return `${label.padEnd(44)} ${result.status.padEnd(9)} ${ms.toFixed(0).padStart(6)} ms  (${result.keys} keys: ${result.counts.ok} ok, ${result.counts.violation} violation, ${result.counts.unknown} unknown; ${result.workers === 0 ? 'inline' : result.workers + ' workers'})`;
}

async function timed(history: HistoryOp[], options: CheckOptions): Promise<[LinearizabilityResult, number]> {
  const t = performance.now();
  const result = await checkLinearizability(history, options);
  return [result, performance.now() - t];
}

async function main(): Promise<void> {
  const seed = Number(process.env.SEED ?? 1);
  process.stdout.write(
    `checker benchmark — node ${process.version}, ${availableParallelism()} cores, seed ${seed} (SEED=...)\n\n`,
  );

  const big = simulateHistory({ ops: 100_000, keys: 1_000, threads: 8, seed });
  const text = formatHistory(big);
  const t = performance.now();
  const parsed = parseHistory(text);
  const parseMs = performance.now() - t;
  process.stdout.write(
    `100,000 ops / 1,000 keys / 8 threads: ${(text.length / 1e6).toFixed(1)} MB of JSONL, parsed in ${parseMs.toFixed(0)} ms, at most ${maxOverlap(big)} ops in flight\n`,
  );
  const [auto, autoMs] = await timed(parsed, {});
  process.stdout.write(line('  check (workers: auto)', auto, autoMs) + '\n');
  const [inline, inlineMs] = await timed(parsed, { workers: 0 });
  process.stdout.write(line('  check (inline)', inline, inlineMs) + '\n');
  const [pooled, pooledMs] = await timed(parsed, { workers: availableParallelism() });
  process.stdout.write(line(`  check (every key on ${availableParallelism()} workers)`, pooled, pooledMs) + '\n');
  process.stdout.write(`  parse + check (auto): ${(parseMs + autoMs).toFixed(0)} ms\n`);

  // One result corrupted: a lost update a sequential model catches.
  const broken = parsed.map((op) => ({ ...op }));
  const victim = broken.findIndex((op, i) => i > broken.length / 2 && op.op === 'add');
  broken[victim]!.result = (broken[victim]!.result as number) - 1;
  const [bad, badMs] = await timed(broken, {});
  const ce = bad.problems[0]?.counterexample?.length ?? 0;
  process.stdout.write(line('  same with one add result lowered by 1', bad, badMs) + `; counterexample ${ce} ops\n\n`);

  for (const [label, half] of [
    ['2,000 ops / 1 hot key / 8 threads', 1],
    ['2,000 ops / 1 hot key / 8 threads, long ops', 20],
  ] as const) {
    const hot = simulateHistory({ ops: 2_000, keys: 1, threads: 8, seed, maxHalfDurationMs: half });
    const timeoutMs = 10_000;
    const [r, ms] = await timed(hot, { timeoutMs });
    process.stdout.write(`${label}: at most ${maxOverlap(hot)} ops in flight, time limit ${timeoutMs} ms\n`);
    process.stdout.write(line('  check', r, ms) + '\n');
  }
  const hotBroken = simulateHistory({ ops: 2_000, keys: 1, threads: 8, seed });
  const lastGet = hotBroken.findLastIndex((op) => op.op === 'get');
  hotBroken[lastGet]!.result = 12345;
  const [hb, hbMs] = await timed(hotBroken, { timeoutMs: 10_000 });
  process.stdout.write(`2,000 ops / 1 hot key / 8 threads, the last get returns a value never written:\n`);
  process.stdout.write(
    line('  check', hb, hbMs) + `; counterexample ${hb.problems[0]?.counterexample?.length ?? 0} ops\n`,
  );
  const wide = simulateHistory({ ops: 2_000, keys: 1, threads: 8, seed, values: 1000 });
  const [w, wms] = await timed(wide, { timeoutMs: 10_000 });
  process.stdout.write(`2,000 ops / 1 hot key / 8 threads, values from 1,000: at most ${maxOverlap(wide)} in flight\n`);
  process.stdout.write(line('  check', w, wms) + '\n');
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  });
}

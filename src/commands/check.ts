/**
 * `shmap check FILE|-`: checks a JSON Lines history (src/race/history.ts) for
 * linearizability, key by key, and prints the verdict with a timeline of each
 * counterexample.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { findThreadOverlap, HistoryParseError, parseHistory, type History } from '../race/history.js';
import { checkLinearizability, DEFAULT_TIMEOUT_MS } from '../race/linearizability.js';
import { formatCheckReport, renderHtmlReport } from '../race/timeline.js';
import { parseCommandArgs, usageFailure } from '../args.js';

const HELP = `usage: shmap check FILE|- [--timeout MS] [--html FILE] [--json] [--workers N]

Checks a history (JSON Lines, one operation per line:
  {"thread": 3, "op": "set", "key": "k7", "args": [42], "result": null, "call": 1200, "ret": 1350})
for linearizability: is there one order of all operations, respecting real
time, in which a single-threaded map gives every result that was recorded?
An op with no "ret" (or "ret": null) is pending: it never returned, so it may
have taken effect or not, with any result; it must be its thread's last.
Keys are checked separately, in parallel on worker threads. FILE - reads stdin.
A violation prints a counterexample: a few ops (#n) that no order explains,
with the overlapping ops that could change the key (#n?, each may be placed
among them or left out), their times, and the real-time order to check by hand.

options:
  --timeout MS   time limit per key (default ${DEFAULT_TIMEOUT_MS}); a key that runs out is "unknown"
  --html FILE    also write an HTML page drawing each counterexample
  --json         print the result as JSON instead of text
  --workers N    worker threads (default: one per core for big histories, else inline)
  -h, --help     this text

exit codes: 0 linearizable, 1 violation (a counterexample is printed),
            3 inconclusive: unknown (a key timed out, no violation found), or
              nothing to check (the history has no operations),
            2 bad arguments or bad input (the first bad line is named; nothing is
              checked unless the whole file parses)
`;

/** Bad input (arguments go through usageFailure): one line, exit 2. */
function fail(reason: string): number {
  process.stderr.write(`shmap check: ${reason}\n`);
  return 2;
}

async function readInput(file: string): Promise<string> {
  if (file !== '-') return readFile(file, 'utf8');
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export async function run(argv: string[]): Promise<number> {
  let values;
  let positionals;
  try {
    ({ values, positionals } = parseCommandArgs({
      args: argv,
      allowPositionals: true,
      options: {
        timeout: { type: 'string' },
        html: { type: 'string' },
        json: { type: 'boolean', default: false },
        workers: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (err) {
    return usageFailure('check', err instanceof Error ? err.message : String(err));
  }
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (positionals.length !== 1)
    return usageFailure(
      'check',
      positionals.length === 0
        ? 'give a history FILE, or - for stdin'
        : `one history at a time (got ${positionals.length})`,
    );
  const file = positionals[0]!;

  let timeoutMs = DEFAULT_TIMEOUT_MS;
  if (values.timeout !== undefined) {
    timeoutMs = Number(values.timeout);
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0)
      return usageFailure('check', `--timeout must be a positive number of ms (got '${values.timeout}')`);
  }
  let workers: number | 'auto' = 'auto';
  if (values.workers !== undefined) {
    workers = Number(values.workers);
    if (!Number.isInteger(workers) || workers < 0)
      return usageFailure('check', `--workers must be a non-negative integer (got '${values.workers}')`);
  }

  let text: string;
  try {
    text = await readInput(file);
  } catch (err) {
    return fail(`cannot read ${file}: ${err instanceof Error ? err.message : String(err)}`);
  }
  // The whole file is parsed before anything is checked.
  const lines: number[] = [];
  let history: History;
  try {
    history = parseHistory(text, lines);
  } catch (err) {
    if (err instanceof HistoryParseError) return fail(`${file}: ${err.message}`);
    throw err;
  }
  const overlap = findThreadOverlap(history);
  if (overlap !== -1) {
    const op = history[overlap]!;
    return fail(
      `${file}: line ${lines[overlap]}: thread ${op.thread} calls ${op.op} before its previous operation returned (one thread makes one call at a time)`,
    );
  }

  if (history.length === 0) {
    // Nothing tested is not a pass.
    if (values.json) process.stdout.write(JSON.stringify({ status: 'empty', ops: 0, keys: 0 }) + '\n');
    else process.stdout.write(`nothing checked: ${file} holds no operations (inconclusive)\n`);
    return 3;
  }
  const result = await checkLinearizability(history, { timeoutMs, workers });
  if (values.json) {
    // Counterexamples spelled out: each op with its line, not just its index.
    const spell = (i: number): unknown => {
      const op = history[i]!;
      return { line: lines[i], ...op, ret: Number.isFinite(op.ret) ? op.ret : null };
    };
    const withOps = {
      ...result,
      problems: result.problems.map((p) => ({
        ...p,
        counterexampleOps: p.counterexample?.map(spell),
        otherOps: p.others?.map(spell),
      })),
    };
    process.stdout.write(JSON.stringify(withOps, null, 2) + '\n');
  } else {
    process.stdout.write(formatCheckReport(history, result, { lines }) + '\n');
  }
  if (values.html !== undefined) {
    await writeFile(values.html, renderHtmlReport(history, result, { lines }));
    if (!values.json) process.stdout.write(`wrote ${values.html}\n`);
  }
  return result.status === 'ok' ? 0 : result.status === 'violation' ? 1 : 3;
}

/**
 * Drawing a set of operations (a counterexample) so a person can see why no
 * order works: one row per thread, each operation a bar from its call to its
 * return with its arguments and result. Text for terminals
 * (`formatTimeline`, `formatViolation`), an HTML page for `check --html`
 * (`renderHtmlReport`).
 *
 * The horizontal axis keeps the order of the calls and returns, not their
 * distances: every distinct time stamp gets a column, each bar is wide enough
 * for its label, and two events are drawn in the order they happened (equal
 * stamps share a column). Real times are in the table under the drawing.
 */
import { isPending, type HistoryOp, type JsonValue } from './history.js';
import type { KeyCheckResult, LinearizabilityResult } from './linearizability.js';

/** How timelines name things. */
export interface TimelineOptions {
  /** Line numbers of the history's ops (by index), to print beside each op. */
  lines?: readonly number[];
}

function showValue(v: JsonValue): string {
  return JSON.stringify(v);
}

/** What an op returned, or `pending` (never returned: any result). */
function showResult(op: HistoryOp): string {
  return isPending(op) ? '(pending)' : showValue(op.result);
}

/** An op as it reads in a timeline: `set(42) → null`, `get() → 1` (the key is the timeline's, so it is left out). */
export function formatOpLabel(op: HistoryOp): string {
  return `${op.op}(${op.args.map(showValue).join(', ')}) → ${showResult(op)}`;
}

/** An op with its key: `set("k7", 42) → null`. */
export function formatOp(op: HistoryOp): string {
  return `${op.op}(${[op.key, ...op.args].map((v) => showValue(v)).join(', ')}) → ${showResult(op)}`;
}

/** One bar of a laid-out timeline. `x0`/`x1` are columns (character cells). */
export interface TimelineBar {
  /** Index of the op in the history. */
  index: number;
  /** 1-based number of the op within this timeline (`#n`), in call order. */
  number: number;
  /** Row in the drawing (threads in ascending order; a thread whose ops overlap gets extra rows). */
  row: number;
  x0: number;
  x1: number;
  label: string;
}

export interface TimelineLayout {
  bars: TimelineBar[];
  /** Row names (`thread 3`, or `thread 3'` for an extra row of thread 3). */
  rows: string[];
  width: number;
}

/** Sorts op indices by call, then return (pending last), then index. */
function byTime(history: readonly HistoryOp[]): (a: number, b: number) => number {
  return (a, b) => {
    const x = history[a]!;
    const y = history[b]!;
    return x.call - y.call || (x.ret < y.ret ? -1 : x.ret > y.ret ? 1 : 0) || a - b;
  };
}

/**
 * Lays out `indices` of `history`: rows per thread, columns by event order.
 * Ops in `optional` are labelled `#n?` (they may be placed or left out); a
 * pending op's bar runs to the right edge.
 */
export function layoutTimeline(
  history: readonly HistoryOp[],
  indices: readonly number[],
  optional: ReadonlySet<number> = new Set(),
): TimelineLayout {
  const ops = [...indices].sort(byTime(history));
  const number = new Map<number, number>(ops.map((idx, k) => [idx, k + 1]));
  const label = new Map<number, string>(
    ops.map((idx) => [idx, `#${number.get(idx)}${optional.has(idx) ? '?' : ''} ${formatOpLabel(history[idx]!)}`]),
  );

  // Columns: walk the events in time order (calls before returns at equal
  // times, as the checker orders them); a return is placed far enough right
  // of its call for the label.
  type Ev = { t: number; ret: boolean; idx: number };
  const events: Ev[] = [];
  for (const idx of ops) {
    events.push({ t: history[idx]!.call, ret: false, idx }, { t: history[idx]!.ret, ret: true, idx });
  }
  events.sort((a, b) => (a.t < b.t ? -1 : a.t > b.t ? 1 : Number(a.ret) - Number(b.ret)));
  const x0 = new Map<number, number>();
  const x1 = new Map<number, number>();
  let cursor = 0;
  let prev: Ev | undefined;
  for (const ev of events) {
    let x = prev === undefined ? 0 : prev.t === ev.t && prev.ret === ev.ret && ev.t !== Infinity ? cursor : cursor + 2;
    if (ev.ret) x = Math.max(x, x0.get(ev.idx)! + label.get(ev.idx)!.length + 3);
    (ev.ret ? x1 : x0).set(ev.idx, x);
    cursor = Math.max(cursor, x);
    prev = ev;
  }

  // Rows: threads in order; a thread's ops that overlap (a broken recording)
  // go on extra rows rather than over each other.
  const threads = [...new Set(ops.map((i) => history[i]!.thread))].sort((a, b) => a - b);
  const rows: string[] = [];
  const bars: TimelineBar[] = [];
  for (const thread of threads) {
    const lanesEnd: number[] = [];
    const firstRow = rows.length;
    for (const idx of ops) {
      if (history[idx]!.thread !== thread) continue;
      let lane = lanesEnd.findIndex((end) => end < x0.get(idx)!);
      if (lane === -1) {
        lane = lanesEnd.length;
        lanesEnd.push(0);
        rows.push(`thread ${thread}${"'".repeat(lane)}`);
      }
      lanesEnd[lane] = x1.get(idx)!;
      bars.push({
        index: idx,
        number: number.get(idx)!,
        row: firstRow + lane,
        x0: x0.get(idx)!,
        x1: x1.get(idx)!,
        label: label.get(idx)!,
      });
    }
  }
  bars.sort((a, b) => a.number - b.number);
  return { bars, rows, width: cursor + 1 };
}

/**
 * The text drawing of `indices`:
 *
 *     thread 0  [#1 set(2) → null-]
 *     thread 1                        [#2 get() → 1-]
 */
export function formatTimeline(
  history: readonly HistoryOp[],
  indices: readonly number[],
  optional: ReadonlySet<number> = new Set(),
): string {
  const layout = layoutTimeline(history, indices, optional);
  const nameWidth = Math.max(0, ...layout.rows.map((r) => r.length));
  const grid = layout.rows.map(() => Array<string>(layout.width).fill(' '));
  for (const bar of layout.bars) {
    const row = grid[bar.row]!;
    row[bar.x0] = '[';
    row[bar.x1] = isPending(history[bar.index]!) ? '>' : ']';
    for (let x = bar.x0 + 1; x < bar.x1; x++) row[x] = '-';
    for (let k = 0; k < bar.label.length && bar.x0 + 1 + k < bar.x1; k++) row[bar.x0 + 1 + k] = bar.label[k]!;
  }
  return layout.rows.map((name, r) => `  ${name.padEnd(nameWidth)}  ${grid[r]!.join('').trimEnd()}`).join('\n');
}

/** Milliseconds since `t0`, short: `+0.150`; `pending` for a return that never came. */
function rel(t: number, t0: number): string {
  return t === Infinity ? 'pending' : '+' + (t - t0).toFixed(3);
}

/** Pairs (a, b) of the set where a returned before b was called, without the ones implied by others. */
function realTimeOrder(history: readonly HistoryOp[], ops: readonly number[]): Array<[number, number]> {
  const before = (a: number, b: number): boolean => history[a]!.ret < history[b]!.call;
  const pairs: Array<[number, number]> = [];
  for (const a of ops) {
    for (const b of ops) {
      if (!before(a, b)) continue;
      if (ops.some((c) => before(a, c) && before(c, b))) continue;
      pairs.push([a, b]);
    }
  }
  return pairs;
}

/** Most of a counterexample's overlapping ops (`others`) drawn; the rest are listed by line. */
export const MAX_OTHERS_DRAWN = 30;
/** Ops a sentence of the counterexample names one by one; a longer list gives its ends and its length. */
const LISTED_OPS = 16;

/** A key's verdict in words, with its timeline and table when it is a violation. */
export function formatKeyResult(
  history: readonly HistoryOp[],
  result: KeyCheckResult,
  options: TimelineOptions = {},
): string {
  const key = JSON.stringify(result.key);
  if (result.status === 'unknown') {
    return `key ${key}: unknown — ${result.ops} operations not decided within the time limit (${result.elapsedMs.toFixed(0)} ms)`;
  }
  if (result.status === 'ok' || result.counterexample === undefined) return `key ${key}: ok (${result.ops} operations)`;
  const core = [...result.counterexample].sort(byTime(history));
  const allOthers = [...(result.others ?? [])].sort(byTime(history));
  const others = allOthers.slice(0, MAX_OTHERS_DRAWN);
  const optional = new Set(others);
  const ops = [...core, ...others].sort(byTime(history));
  const layout = layoutTimeline(history, ops, optional);
  const num = new Map(layout.bars.map((b) => [b.index, b.number]));
  const name = (i: number): string => `#${num.get(i)}${optional.has(i) ? '?' : ''}`;
  const t0 = Math.min(...ops.map((i) => history[i]!.call));
  const out: string[] = [];
  const qualities = [
    result.minimal ? 'minimal: none can be left out' : 'shrunk within its time budget, maybe not minimal',
    result.anyInitialState ? `whatever ${key} held before them` : `from the start of the key's history`,
  ];
  out.push(
    `key ${key}: violation — these ${core.length} of its ${result.ops} operations cannot be ordered (${qualities.join('; ')})`,
  );
  out.push('');
  out.push(formatTimeline(history, ops, optional));
  out.push('');
  const rowsOut = ops.map((i) => {
    const op = history[i]!;
    return [
      name(i),
      options.lines ? String(options.lines[i]) : String(i + 1),
      String(op.thread),
      formatOpLabel(op),
      rel(op.call, t0),
      rel(op.ret, t0),
    ];
  });
  const header = ['op', options.lines ? 'line' : 'index', 'thread', 'operation', 'call', 'ret'];
  const widths = header.map((h, c) => Math.max(h.length, ...rowsOut.map((r) => r[c]!.length)));
  const fmt = (r: string[]): string =>
    '  ' + r.map((cell, c) => (c === 3 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ');
  out.push(fmt(header));
  for (const r of rowsOut) out.push(fmt(r));
  out.push(`  (call/ret: ms after the first call, t0 = ${t0})`);
  out.push('');
  const order = realTimeOrder(history, ops);
  if (order.length > 0) {
    out.push(
      '  real-time order: ' + order.map(([a, b]) => `${name(a)} returned before ${name(b)} was called`).join('; '),
    );
  } else {
    out.push('  real-time order: all of them overlap');
  }
  // A long list says its ends and its length: the counterexample of a
  // badly broken key can span a thousand ops the search could not narrow.
  const names = (xs: readonly number[]): string =>
    xs.length <= LISTED_OPS
      ? xs.map(name).join(', ')
      : `${xs
          .slice(0, LISTED_OPS - 2)
          .map(name)
          .join(', ')}, …, ${xs.slice(-2).map(name).join(', ')} (${xs.length.toLocaleString('en-US')} ops)`;
  const required = names(core);
  out.push(
    `  no order of ${required} gives every recorded result` +
      (result.anyInitialState ? `, whatever state the ops before them left` : `, starting from a missing key`) +
      (others.length > 0
        ? `, even with any of ${names(others)} (the other ops that overlap them) placed among them or left out`
        : ''),
  );
  if (allOthers.length > others.length)
    out.push(
      `  (and ${allOthers.length - others.length} more ops that overlap them, not drawn: ${options.lines ? 'lines' : 'indices'} ` +
        allOthers
          .slice(others.length)
          .map((i) => (options.lines ? String(options.lines[i]) : String(i + 1)))
          .join(', ') +
        ')',
    );
  if (others.length > 0 || ops.some((i) => isPending(history[i]!)))
    out.push(
      '  (an op marked ? that is placed must give its own result too; a pending op, one that never returned, may take effect or not, with any result)',
    );
  return out.join('\n');
}

/** Most violations a text report draws in full. */
export const MAX_DRAWN_VIOLATIONS = 5;

/** The whole verdict in words: a summary line, then each violation drawn (up to MAX_DRAWN_VIOLATIONS) and the unknown keys listed. */
export function formatCheckReport(
  history: readonly HistoryOp[],
  result: LinearizabilityResult,
  options: TimelineOptions = {},
): string {
  const { counts } = result;
  const out: string[] = [
    `${result.status}: ${result.ops} operations${result.pending > 0 ? ` (${result.pending} pending)` : ''} on ${result.keys} keys checked in ${result.elapsedMs.toFixed(0)} ms ` +
      `(${result.workers === 0 ? 'inline' : `${result.workers} worker threads`}) — ` +
      `${counts.ok} ok, ${counts.violation} in violation, ${counts.unknown} unknown`,
  ];
  const violations = result.problems.filter((p) => p.status === 'violation');
  for (const v of violations.slice(0, MAX_DRAWN_VIOLATIONS)) out.push('', formatKeyResult(history, v, options));
  if (violations.length > MAX_DRAWN_VIOLATIONS)
    out.push('', `... and ${violations.length - MAX_DRAWN_VIOLATIONS} more keys in violation`);
  const unknown = result.problems.filter((p) => p.status === 'unknown');
  if (unknown.length > 0) out.push('', ...unknown.map((u) => formatKeyResult(history, u, options)));
  return out.join('\n');
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

const CELL_PX = 8;
const ROW_PX = 30;
const LABEL_PX = 90;

function svgTimeline(history: readonly HistoryOp[], result: KeyCheckResult, options: TimelineOptions): string {
  const optional = new Set(result.others ?? []);
  const ops = [...(result.counterexample ?? []), ...optional];
  const layout = layoutTimeline(history, ops, optional);
  const width = LABEL_PX + layout.width * CELL_PX + 20;
  const height = layout.rows.length * ROW_PX + 10;
  const t0 = Math.min(...ops.map((i) => history[i]!.call));
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="monospace" font-size="12">`,
  ];
  layout.rows.forEach((name, r) => {
    const y = r * ROW_PX + 5;
    parts.push(`<text x="4" y="${y + 18}" fill="#555">${escapeHtml(name)}</text>`);
    parts.push(`<line x1="${LABEL_PX}" x2="${width - 10}" y1="${y + 13}" y2="${y + 13}" stroke="#eee"/>`);
  });
  for (const bar of layout.bars) {
    const op = history[bar.index]!;
    const x = LABEL_PX + bar.x0 * CELL_PX;
    const w = (bar.x1 - bar.x0 + 1) * CELL_PX;
    const y = bar.row * ROW_PX + 5;
    const where = options.lines ? `line ${options.lines[bar.index]}` : `index ${bar.index}`;
    const tip = `${formatOp(op)}\nthread ${op.thread}, ${where}\ncall ${op.call} (${rel(op.call, t0)} ms)\nret ${op.ret} (${rel(op.ret, t0)} ms)`;
    const fill = optional.has(bar.index) ? '#eef2ff' : '#ffe0dc';
    parts.push(
      `<g><title>${escapeHtml(tip)}</title>` +
        `<rect x="${x}" y="${y}" width="${w}" height="22" rx="4" fill="${fill}" stroke="#666"/>` +
        `<text x="${x + 6}" y="${y + 15}">${escapeHtml(bar.label)}</text></g>`,
    );
  }
  parts.push('</svg>');
  return parts.join('\n');
}

/**
 * A self-contained HTML page of a check: the summary, and for each key in
 * violation its counterexample drawn as bars (hover for times and line
 * numbers), with the text report under it.
 */
export function renderHtmlReport(
  history: readonly HistoryOp[],
  result: LinearizabilityResult,
  options: TimelineOptions = {},
): string {
  const { counts } = result;
  const sections = result.problems.map((p) => {
    const text = `<pre>${escapeHtml(formatKeyResult(history, p, options))}</pre>`;
    if (p.status !== 'violation')
      return `<section><h2>key ${escapeHtml(JSON.stringify(p.key))}: unknown</h2>${text}</section>`;
    return `<section><h2>key ${escapeHtml(JSON.stringify(p.key))}: violation</h2>\n${svgTimeline(history, p, options)}\n${text}</section>`;
  });
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>shmap check: ${result.status}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
pre { background: #f7f7f7; padding: 1em; overflow-x: auto; }
section { margin-top: 2em; border-top: 1px solid #ddd; }
.ok { color: #180; } .violation { color: #c20; } .unknown { color: #a60; }
svg { display: block; margin: 1em 0; overflow: visible; }
</style></head><body>
<h1>Linearizability check: <span class="${result.status}">${result.status}</span></h1>
<p>${result.ops} operations on ${result.keys} keys, checked in ${result.elapsedMs.toFixed(0)} ms:
${counts.ok} ok, ${counts.violation} in violation, ${counts.unknown} unknown.</p>
<p>Each bar is one operation, from its call to its return; time runs left to right, in event order (not to scale).
No order of the bars of a key gives every recorded result. Hover over a bar for its times and line.</p>
${sections.join('\n')}
</body></html>
`;
}

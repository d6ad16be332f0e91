/**
 * The history format and the `check` command: line-numbered parse errors,
 * nothing checked on a half-read file, the exit codes, --json and --html.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  formatHistory,
  HistoryParseError,
  parseHistory,
  findThreadOverlap,
  type HistoryOp,
} from '../../src/race/history.js';
import { checkLinearizabilitySync } from '../../src/race/linearizability.js';
import { formatCheckReport, formatTimeline, renderHtmlReport } from '../../src/race/timeline.js';
import { distPath } from '../helpers/paths.js';

const good = [
  '{"thread": 0, "op": "set", "key": "k", "args": [1], "result": null, "call": 0, "ret": 10}',
  '{"thread": 0, "op": "set", "key": "k", "args": [2], "result": null, "call": 20, "ret": 30}',
  '',
  '{"thread": 1, "op": "get", "key": "k", "args": [], "result": 1, "call": 40, "ret": 50}',
];

function parseError(text: string): HistoryParseError {
  try {
    parseHistory(text);
  } catch (err) {
    if (err instanceof HistoryParseError) return err;
    throw err;
  }
  throw new Error('parsed');
}

describe('parseHistory', () => {
  it('reads ops, skips blank lines and keeps line numbers', () => {
    const lines: number[] = [];
    const h = parseHistory(good.join('\n') + '\n', lines);
    expect(h).toHaveLength(3);
    expect(lines).toEqual([1, 2, 4]);
    expect(h[2]).toEqual({ thread: 1, op: 'get', key: 'k', args: [], result: 1, call: 40, ret: 50 });
    expect(parseHistory(formatHistory(h))).toEqual(h);
  });

  it.each([
    ['{"thread": 0, "op": "set", "key": "k", "args": [1], "result": null, "call": 0, "ret"', 'not valid JSON'],
    ['{"thread": 0, "op": "frob", "key": "k", "args": [], "result": null, "call": 0, "ret": 1}', '"op" must be one of'],
    ['{"thread": 0, "op": "set", "key": "k", "args": [], "result": null, "call": 0, "ret": 1}', 'set takes 1 argument'],
    ['{"thread": -1, "op": "get", "key": "k", "args": [], "result": null, "call": 0, "ret": 1}', '"thread"'],
    ['{"thread": 0, "op": "get", "key": null, "args": [], "result": null, "call": 0, "ret": 1}', '"key"'],
    ['{"thread": 0, "op": "get", "key": "k", "args": [], "call": 0, "ret": 1}', '"result" is missing'],
    ['{"thread": 0, "op": "has", "key": "k", "args": [], "result": 1, "call": 0, "ret": 1}', 'has returns a boolean'],
    ['{"thread": 0, "op": "get", "key": "k", "args": [], "result": null, "call": 5, "ret": 1}', 'before "call"'],
    ['[1, 2]', 'expected a JSON object'],
  ])('a bad line is reported with its line number: %s', (line, reason) => {
    const err = parseError([good[0], good[1], line, good[3]].join('\n'));
    expect(err.line).toBe(3);
    expect(err.message).toContain('line 3');
    expect(err.message).toContain(reason);
  });

  it('finds a thread that calls again before its last call returned', () => {
    const h = parseHistory(good.join('\n'));
    expect(findThreadOverlap(h)).toBe(-1);
    h.push({ ...h[0]!, call: 25, ret: 26 });
    expect(findThreadOverlap(h)).toBe(3);
  });
});

describe('timelines', () => {
  it('draws one row per thread, bars in event order, and the table', () => {
    const h = parseHistory(good.join('\n'));
    const text = formatTimeline(h, [1, 2]);
    const rows = text.split('\n');
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatch(/^ {2}thread 0 {2}\[#1 set\(2\) → null-*\]$/);
    expect(rows[1]).toMatch(/^ {2}thread 1 +\[#2 get\(\) → 1-*\]$/);
    // #2 starts after #1 ends.
    expect(rows[1]!.indexOf('[')).toBeGreaterThan(rows[0]!.indexOf(']'));
    const r = checkLinearizabilitySync(h);
    const report = formatCheckReport(h, r, { lines: [1, 2, 4] });
    expect(report).toContain('key "k": violation');
    expect(report).toContain('#1 returned before #2 was called');
    const html = renderHtmlReport(h, r, { lines: [1, 2, 4] });
    expect(html).toContain('<svg');
    expect(html).toContain('get() → 1');
    expect(html).toContain('line 4');
  });
});

describe('shmap check', () => {
  const dir = mkdtempSync(join(tmpdir(), 'shmap-check-'));
  const cli = (...args: string[]): { code: number | null; stdout: string; stderr: string } => {
    const r = spawnSync(process.execPath, [distPath('main.js'), 'check', ...args], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  const write = (name: string, ops: HistoryOp[] | string): string => {
    const file = join(dir, name);
    writeFileSync(file, typeof ops === 'string' ? ops : formatHistory(ops));
    return file;
  };

  it('exit 0 when linearizable', () => {
    const r = cli(write('ok.jsonl', parseHistory(good.slice(0, 2).join('\n'))));
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^ok: 2 operations on 1 keys/);
  });

  it('exit 1 with a timeline on a violation, --json and --html', () => {
    const file = write('bad.jsonl', good.join('\n') + '\n');
    const r = cli(file);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('key "k": violation');
    expect(r.stdout).toContain('thread 1');
    const html = join(dir, 'bad.html');
    const j = cli(file, '--json', '--html', html);
    expect(j.code).toBe(1);
    const parsed = JSON.parse(j.stdout);
    expect(parsed.status).toBe('violation');
    expect(parsed.problems[0].counterexampleOps.map((o: { line: number }) => o.line)).toEqual([2, 4]);
    expect(readFileSync(html, 'utf8')).toContain('<svg');
  });

  it('exit 2 naming the line of a half-written file, and checks nothing', () => {
    const text = good.join('\n') + '\n' + good[0]!.slice(0, 30);
    const r = cli(write('half.jsonl', text));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('line 5');
    expect(r.stdout).toBe('');
  });

  it('exit 2 on bad arguments', () => {
    expect(cli().code).toBe(2);
    expect(cli(write('x.jsonl', ''), '--timeout', 'soon').code).toBe(2);
    expect(cli(join(dir, 'missing.jsonl')).code).toBe(2);
    const help = cli('--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('exit codes');
  });

  it('exit 3 when a key runs out of time', () => {
    const ops: HistoryOp[] = [];
    for (let i = 0; i < 30; i++)
      ops.push({ thread: i, op: 'set', key: 'k', args: [i], result: null, call: 0, ret: 100 });
    for (let i = 0; i < 30; i++)
      ops.push({ thread: 30 + i, op: 'get', key: 'k', args: [], result: (i * 7) % 30, call: 0, ret: 100 });
    ops.push({ thread: 0, op: 'get', key: 'k', args: [], result: 'nobody', call: 200, ret: 210 });
    const r = cli(write('hard.jsonl', ops), '--timeout', '50');
    expect(r.code).toBe(3);
    expect(r.stdout).toContain('unknown');
  });

  it('exit 3 on an empty history: nothing was checked', () => {
    for (const text of ['', '\n\n']) {
      const r = cli(write('empty.jsonl', text));
      expect(r.code).toBe(3);
      expect(r.stdout).toContain('nothing checked');
      const j = cli(join(dir, 'empty.jsonl'), '--json');
      expect(j.code).toBe(3);
      expect(JSON.parse(j.stdout)).toMatchObject({ status: 'empty', ops: 0 });
    }
  });

  it('reads stdin with -', () => {
    const r = spawnSync(process.execPath, [distPath('main.js'), 'check', '-'], {
      input: good.join('\n'),
      encoding: 'utf8',
    });
    expect(r.status).toBe(1);
  });
});

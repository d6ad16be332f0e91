/**
 * Recording histories: the per-thread recorder (typed-array buffer, intern
 * table, drops counted), the stress value codings, and `stress --history
 * FILE --check` end to end on real piscina workers (the compiled CLI).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { findThreadOverlap, parseHistory } from '../../src/race/history.js';
import { checkLinearizabilitySync } from '../../src/race/linearizability.js';
import { decodeRecorded, HistoryRecorder, REC_OP } from '../../src/race/recorder.js';
import { stressCoding } from '../../src/stress/history.js';
import { valueCodec } from '../../src/stress/keys.js';
import type { ValueType } from '../../src/shm/types.js';
import { distPath } from '../helpers/paths.js';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'lincheck-history-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const SEED = Number(process.env.SHMAP_TEST_SEED ?? Date.now() % 0x7fffffff);
console.log(`history-record.test.ts seed ${SEED}`);

describe('HistoryRecorder', () => {
  it('records ops as numbers and decodes them to history ops', () => {
    const rec = new HistoryRecorder(8);
    rec.record(REC_OP.set, 1, 'hello', undefined, undefined, 10, 11);
    rec.record(REC_OP.get, 1, undefined, undefined, 'hello', 12, 13);
    rec.record(REC_OP.compareAndSet, 0, undefined, 5, true, 14, 15);
    rec.record(REC_OP.add, 0, 2, undefined, 7, 16, 17);
    rec.record(REC_OP.delete, 2, undefined, undefined, false, 18, 19);
    const ops = decodeRecorded(rec.take(), 4, (i) => `k${i}`);
    expect(ops).toEqual([
      { thread: 4, op: 'set', key: 'k1', args: ['hello'], result: null, call: 10, ret: 11 },
      { thread: 4, op: 'get', key: 'k1', args: [], result: 'hello', call: 12, ret: 13 },
      { thread: 4, op: 'compareAndSet', key: 'k0', args: [null, 5], result: true, call: 14, ret: 15 },
      { thread: 4, op: 'add', key: 'k0', args: [2], result: 7, call: 16, ret: 17 },
      { thread: 4, op: 'delete', key: 'k2', args: [], result: false, call: 18, ret: 19 },
    ]);
    expect(rec.interned).toEqual(['hello']);
  });

  it('a full buffer stops recording and counts every op it drops', () => {
    const rec = new HistoryRecorder(2);
    for (let i = 0; i < 5; i++) rec.record(REC_OP.get, 0, undefined, undefined, i, i, i);
    const out = rec.take();
    expect(out.count).toBe(2);
    expect(out.dropped).toBe(3);
    expect(out.stoppedBy).toBe('buffer full');
  });

  it('a full intern table stops recording too (never a silent gap)', () => {
    const rec = new HistoryRecorder(10, undefined, [], 2);
    for (let i = 0; i < 4; i++) rec.record(REC_OP.set, 0, `v${i}`, undefined, undefined, i, i);
    expect(rec.count).toBe(2);
    expect(rec.dropped).toBe(2);
    expect(rec.stoppedBy).toBe('intern table full');
  });

  it('stress values of every type code to numbers and back without the intern table', () => {
    const types: ValueType[] = ['int32', 'float64', 'bigint64', 'string:8', 'string:4', 'bytes:8', 'json:64'];
    for (const type of types) {
      const vc = valueCodec(type);
      const rec = new HistoryRecorder(64, stressCoding(type));
      const written = [0, 1, 35, 36, 1295, 1e6 + 7, 123456789].map((n) => vc.value(n, 3));
      for (const v of written) rec.record(REC_OP.set, 0, v, undefined, undefined, 0, 0);
      expect(rec.interned, type).toEqual([]);
      const back = decodeRecorded(rec.take(), 0, (i) => i, stressCoding(type)).map((o) => o.args[0]);
      const expected = written.map((v) =>
        typeof v === 'bigint' ? Number(v) : v instanceof Uint8Array ? Array.from(v) : v,
      );
      expect(back, type).toEqual(expected);
    }
  });
});

describe('stress --history FILE --check', () => {
  it('writes a parseable, linearizable history of the real map with ops recorded', async () => {
    const file = join(dir, 'h.jsonl');
    const args = [
      distPath('main.js'),
      'stress',
      '--workers',
      '3',
      '--ops',
      '30000',
      '--keys',
      '2000',
      '--dist',
      'hot:80',
      '--seed',
      String(SEED),
      '--history',
      file,
      '--history-keys',
      '16',
      '--check',
    ];
    const { stdout } = await run(process.execPath, args, { maxBuffer: 1 << 24 });
    expect(stdout).toMatch(/history: [\d,]+ ops recorded on 16 sampled keys/);
    expect(stdout).toContain('none dropped');
    expect(stdout).toMatch(/linearizability: ok/);
    expect(stdout).toContain('result: PASS');
    const history = parseHistory(readFileSync(file, 'utf8'));
    expect(history.length).toBeGreaterThan(100);
    expect(findThreadOverlap(history)).toBe(-1);
    expect(new Set(history.map((o) => o.thread)).size).toBeGreaterThanOrEqual(3);
    expect(history.every((o) => typeof o.key === 'number' && o.key < 16)).toBe(true);
  });

  it("catches lost updates of sync: 'none' (the same run that passes with locks fails here)", async () => {
    const file = join(dir, 'none.jsonl');
    // The race needs the writers to run at the same moment, which the
    // scheduler decides: try up to 5 seeds, stop at the first run that fails.
    let err: { code: number; stdout: string } | undefined;
    for (let attempt = 0; attempt < 5 && err === undefined; attempt++) {
      const args = [
        distPath('main.js'),
        'stress',
        '--scenario',
        'counters',
        '--sync',
        'none',
        '--workers',
        '3',
        '--ops',
        '30000',
        '--seed',
        String(SEED + attempt),
        '--history',
        file,
        '--check',
      ];
      err = await run(process.execPath, args, { maxBuffer: 1 << 24 }).then(
        () => undefined,
        (e: { code: number; stdout: string }) => e,
      );
    }
    expect(err?.code).toBe(1);
    expect(err?.stdout).toMatch(/history not linearizable: \d+ key\(s\) in violation/);
    expect(err?.stdout).toMatch(/key \d+: violation/);
    const history = parseHistory(readFileSync(file, 'utf8'));
    expect(checkLinearizabilitySync(history, { timeoutMs: 10_000 }).status).toBe('violation');
  }, 150_000);

  it('a small buffer: the summary says how many ops were not recorded', async () => {
    const file = join(dir, 'small.jsonl');
    const args = [
      distPath('main.js'),
      'stress',
      '--workers',
      '2',
      '--ops',
      '20000',
      '--keys',
      '100',
      '--seed',
      String(SEED),
      '--history',
      file,
      '--history-keys',
      '100',
      '--history-buffer',
      '50',
    ];
    const { stdout } = await run(process.execPath, args, { maxBuffer: 1 << 24 });
    expect(stdout).toMatch(/NOT recorded/);
    expect(stdout).toMatch(/worker \d: recording stopped \(buffer full\)/);
    expect(parseHistory(readFileSync(file, 'utf8')).length).toBeLessThanOrEqual(100 + 100);
  });

  it('bad history arguments exit 2', async () => {
    for (const bad of [['--check'], ['--history-keys', '5'], ['--history', 'x', '--history-keys', '0']]) {
      const err = await run(process.execPath, [distPath('main.js'), 'stress', ...bad]).then(
        () => undefined,
        (e: { code: number; stderr: string }) => e,
      );
      expect(err?.code, bad.join(' ')).toBe(2);
    }
  });
});

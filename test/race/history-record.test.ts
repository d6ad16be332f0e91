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
import {
  cutHistory,
  decodeRecorded,
  historyCutoff,
  HistoryRecorder,
  mergeHistories,
  REC_OP,
} from '../../src/race/recorder.js';
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

  it('a recorder remembers the first call it did not record; halt stops it there', () => {
    const full = new HistoryRecorder(1);
    full.record(REC_OP.get, 0, undefined, undefined, 1, 0, 1);
    full.record(REC_OP.get, 0, undefined, undefined, 1, 5, 6);
    expect(full.take()).toMatchObject({ count: 1, dropped: 1, stoppedBy: 'buffer full', firstDroppedCall: 5 });
    const halted = new HistoryRecorder(10);
    halted.record(REC_OP.get, 0, undefined, undefined, 1, 0, 1);
    halted.halt(3, 'stopped with the other threads');
    halted.halt(7, 'an op threw'); // already stopped: the first stop stands
    halted.record(REC_OP.get, 0, undefined, undefined, 1, 3, 4);
    expect(halted.take()).toMatchObject({
      count: 1,
      dropped: 1,
      stoppedBy: 'stopped with the other threads',
      firstDroppedCall: 3,
    });
    expect(new HistoryRecorder(4).take().firstDroppedCall).toBe(Infinity);
  });

  it('a history cut at the earliest unrecorded call has no false alarm where the uncut one had', () => {
    // Thread 0 records set(1), then its buffer is full: its set(2) at t=10 is not recorded.
    const a = new HistoryRecorder(1);
    a.record(REC_OP.set, 0, 1, undefined, undefined, 0, 1);
    a.record(REC_OP.set, 0, 2, undefined, undefined, 10, 11);
    // Thread 1 goes on recording: a get in flight at t=10, then a get that sees the unrecorded 2.
    const b = new HistoryRecorder(10);
    b.record(REC_OP.get, 0, undefined, undefined, 1, 2, 3);
    b.record(REC_OP.get, 0, undefined, undefined, 2, 9, 10.5);
    b.record(REC_OP.get, 0, undefined, undefined, 2, 12, 13);
    const recs = [a.take(), b.take()];
    const parts = recs.map((r, t) => decodeRecorded(r, t, (i) => i));
    // Uncut, the history is missing a write: the checker (rightly, for what it is given) reports a violation.
    expect(checkLinearizabilitySync(mergeHistories(parts)).status).toBe('violation');
    const cut = historyCutoff(recs);
    expect(cut).toEqual({ at: 10, by: 0, why: 'buffer full' });
    const kept = cutHistory(mergeHistories(parts), cut.at);
    expect(kept.dropped).toBe(1); // the get at t=12
    expect(kept.pending).toBe(1); // the get in flight at t=10
    expect(kept.ops.map((o) => [o.call, o.ret])).toEqual([
      [0, 1],
      [2, 3],
      [9, Infinity],
    ]);
    expect(checkLinearizabilitySync(kept.ops).status).toBe('ok');
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
    expect(stdout).toMatch(/history: [\d,]+ ops on 16 sampled keys/);
    expect(stdout).toContain('complete: no op on a sampled key was dropped');
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
    // Deciding that a key is in violation means exhausting its orders, which
    // on a loaded machine can take most of the default 10 s per key for each
    // of the 8 counters; 3 s per key still decides most of them, and a run
    // whose keys all come out unknown exits 0 and the next seed is tried.
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
        '--check-timeout',
        '3000',
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
  }, 600_000);

  it('a small buffer: every worker stops recording at one cut-off, and the cut history checks ok', async () => {
    const file = join(dir, 'small.jsonl');
    const args = [
      distPath('main.js'),
      'stress',
      '--workers',
      '3',
      '--ops',
      '30000',
      '--keys',
      '100',
      '--dist',
      'hot:90',
      '--seed',
      String(SEED),
      '--history',
      file,
      '--history-keys',
      '8',
      '--history-buffer',
      '300',
      '--check',
      '--json',
    ];
    const { stdout } = await run(process.execPath, args, { maxBuffer: 1 << 24 });
    const doc = JSON.parse(stdout) as {
      exitCode: number;
      history: {
        checked: number;
        initial: number;
        dropped: number;
        pending: number;
        cutoff?: { worker: number; why: string; afterStartMs: number };
        stopped: Array<{ worker: number; why: string }>;
        check: { status: string; ops: number };
      };
    };
    const h = doc.history;
    expect(h.cutoff?.why).toMatch(/buffer full|intern table full/);
    expect(h.cutoff?.afterStartMs).toBeGreaterThanOrEqual(0);
    expect(h.dropped).toBeGreaterThan(0);
    // The one that filled first stopped on its own; each other one stopped with it (or had finished).
    const first = h.stopped.find((st) => st.worker === h.cutoff?.worker);
    expect(first?.why).toBe(h.cutoff?.why);
    for (const st of h.stopped) if (st.worker !== h.cutoff?.worker) expect(st.why).not.toBe('an op threw');
    expect(h.checked).toBeLessThanOrEqual(h.initial + 3 * 300);
    expect(h.check).toMatchObject({ status: 'ok', ops: h.checked });
    expect(doc.exitCode).toBe(0);
    const history = parseHistory(readFileSync(file, 'utf8'));
    expect(history.length).toBe(h.checked);
    expect(history.filter((o) => o.ret === Infinity).length).toBe(h.pending);
    expect(findThreadOverlap(history)).toBe(-1);
  });

  it('the ttl and lease scenarios refuse --history: expiry and retirement are writes nobody records', async () => {
    for (const scenario of ['ttl', 'lease']) {
      const err = await run(process.execPath, [
        distPath('main.js'),
        'stress',
        '--scenario',
        scenario,
        '--history',
        join(dir, 'x.jsonl'),
      ]).then(
        () => undefined,
        (e: { code: number; stderr: string }) => e,
      );
      expect(err?.code, scenario).toBe(2);
      expect(err?.stderr).toContain(`--history: the ${scenario} scenario removes entries at moments nobody records`);
    }
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

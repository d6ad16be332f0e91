/**
 * `stress --scenario chaos --history FILE --check`: a killed thread's op in
 * flight is recorded with no `ret` (pending), and the linearizability
 * checker checks those histories. The log (src/stress/chaos-history.ts)
 * step by step, and the command end to end (a pool that replaces killed
 * workers). The runs with 1,000 kills check their histories too, with a
 * negative control: test/stress/chaos.test.ts.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, expect, beforeAll } from 'vitest';
import {
  ChaosHistoryLog,
  createChaosHistory,
  HOP_ADD,
  HOP_GET,
  HOP_SET,
  readChaosHistory,
} from '../../src/stress/chaos-history.js';
import { findThreadOverlap, isPending, parseHistory } from '../../src/race/history.js';
import { checkLinearizabilitySync } from '../../src/race/linearizability.js';
import { repoPath } from '../helpers/paths.js';
import { requireDist } from '../shm/support.js';

const SEED = Number(process.env.SHMAP_SEED ?? Date.now() % 0x7fffffff);

describe('the chaos history log', () => {
  it('an op whose thread died (or threw) before its return is pending and its thread’s last; a record claimed but never called is left out', () => {
    const buffer = createChaosHistory(8, 2);
    // Task 1 (slot 0): a completed add, then an add that never returns (killed, or the op threw: the task ends).
    const t1 = new ChaosHistoryLog(buffer);
    t1.startTask();
    t1.begin(0, HOP_ADD, 3, 2);
    t1.end(2);
    t1.begin(0, HOP_ADD, 3, 5);
    // Task 2 replaces it on slot 0 (a thread of its own): a completed get that saw the pending add.
    const t2 = new ChaosHistoryLog(buffer);
    t2.startTask();
    t2.begin(0, HOP_GET, 3, NaN);
    t2.end(7);
    // A record claimed by a thread killed before it stamped the call: left out.
    Atomics.add(new Int32Array(buffer, 0, 1), 0, 1);
    const read = readChaosHistory(buffer);
    expect(read.unfilled).toBe(1);
    expect(read.pending).toBe(1);
    expect(read.tasks).toBe(2);
    expect(read.cutoff).toBe(Infinity);
    expect(read.ops.map((o) => [o.thread, o.op, o.args, o.result, isPending(o)])).toEqual([
      [1, 'add', [2], 2, false],
      [1, 'add', [5], null, true],
      [2, 'get', [], 7, false],
    ]);
    expect(findThreadOverlap(read.ops)).toBe(-1);
    // The pending add took effect (the get saw 7): linearizable; with another delta, not.
    expect(checkLinearizabilitySync(read.ops).status).toBe('ok');
    const broken = read.ops.map((o) => (isPending(o) ? { ...o, args: [4] } : o));
    expect(checkLinearizabilitySync(broken).status).toBe('violation');
  });

  it('a full log stops every thread’s recording and the history is cut at the first op not recorded', () => {
    const buffer = createChaosHistory(2, 2);
    const a = new ChaosHistoryLog(buffer);
    a.startTask();
    a.begin(0, HOP_SET, 9, 1);
    a.end(undefined);
    a.begin(0, HOP_SET, 9, 2);
    a.end(undefined);
    const b = new ChaosHistoryLog(buffer);
    b.startTask();
    b.begin(1, HOP_GET, 9, NaN); // no room: dropped, and recording stops
    b.end(2);
    a.begin(0, HOP_SET, 9, 3); // after the stop: dropped
    a.end(undefined);
    const read = readChaosHistory(buffer);
    expect(read.full).toBe(true);
    expect(read.ops.length).toBe(2);
    expect(read.cutoff).toBeLessThan(Infinity);
    expect(read.cutoff).toBeGreaterThan(read.ops[1]!.call);
  });
});

describe('stress --scenario chaos --history', () => {
  beforeAll(requireDist);

  it('the command: --history FILE --check writes the history (pending ops with "ret": null) and exits 0', () => {
    const dir = mkdtempSync(join(tmpdir(), 'shmap-chaos-history-'));
    try {
      const file = join(dir, 'h.jsonl');
      const res = spawnSync(
        process.execPath,
        [
          repoPath('dist/main.js'),
          ...'stress --scenario chaos --duration 1 --workers 2 --keys 40 --owned 20 --kill-interval 20'.split(' '),
          ...['--seed', String(SEED), '--history', file, '--history-keys', '16', '--check'],
        ],
        { encoding: 'utf8', timeout: 120_000 },
      );
      expect(res.status, res.stdout + res.stderr).toBe(0);
      expect(res.stdout).toMatch(/history: [\d,]+ ops on the 8 counters and 16 shared keys/);
      expect(res.stdout).toMatch(/linearizability: ok/);
      const ops = parseHistory(readFileSync(file, 'utf8'));
      expect(ops.length).toBeGreaterThan(16);
      expect(findThreadOverlap(ops)).toBe(-1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 130_000);
});

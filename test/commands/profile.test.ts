/**
 * `node dist/main.js profile`: one flamegraph per thread, workers included,
 * and SharedMap's frames visible in a worker's profile.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { shmapFrames, workersByThreadId } from '../../src/commands/profile.js';
import { distPath } from '../helpers/paths.js';

const out = mkdtempSync(join(tmpdir(), 'shmap-profile-test-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

it('writes a flamegraph per thread and finds get/set/probe frames in the workers', () => {
  const r = spawnSync(
    process.execPath,
    [
      distPath('main.js'),
      'profile',
      '--duration',
      '1',
      '--workers',
      '2',
      '--keys',
      '5000',
      '--seed',
      '3',
      '--out',
      out,
    ],
    { encoding: 'utf8', timeout: 500_000 },
  );
  expect(r.stderr).not.toMatch(/no worker profile shows SharedMap frames/);
  expect(r.status).toBe(0);
  const [dir, ...others] = readdirSync(out);
  expect(others).toEqual([]);
  expect(dir).toMatch(/^mixed-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d-\w+$/);
  const files = readdirSync(join(out, dir!));
  const html = files.filter((f) => f.endsWith('.html')).sort();
  expect(html).toContain('thread-0-main.html');
  expect(html.length).toBe(3); // main + 2 workers
  expect(files).toContain('stress-report.txt');
  // Each worker's line, named as the stress table names it, shows SharedMap frames; the get path and the
  // probe must be among them somewhere.
  const workerLines = r.stdout.split('\n').filter((l) => /\(worker \d+ \(threadId \d+\);/.test(l));
  expect(workerLines).toHaveLength(2);
  for (const l of workerLines) expect(l).toMatch(/SharedMap frames: .*map\.js:/);
  const worker = html.find((f) => f !== 'thread-0-main.html')!;
  const page = readFileSync(join(out, dir!, worker), 'utf8');
  // Frames are named "<function> file:///.../dist/shm/<file>.js:<line>". Which
  // probe function a sample lands in depends on what V8 inlined and where the
  // sampler hit, so any of the probe's functions will do; get and set are the
  // worker loop's entry points into the map.
  const frame = (fn: string, file: string) => new RegExp(`"name":"(${fn}) file:[^"]*dist/shm/${file}\\.js:\\d+"`);
  expect(page).toMatch(frame('get', 'map'));
  expect(page).toMatch(frame('set', 'map'));
  expect(page).toMatch(frame('find|findForWrite|readSlot', '(shard|map)'));
  expect(page).toContain('runMixed');
}, 600_000); // a loaded machine stretches a 1 s stress run under the profiler to minutes: slow is no failure

it("counts SharedMap's own frames, not the harness's start barrier (which lives in shm/sync.js)", () => {
  const frame = (id: number, functionName: string, url: string, children: number[] = []) => ({
    id,
    callFrame: { functionName, url },
    children,
  });
  const profile = {
    nodes: [
      frame(1, '(root)', '', [2, 4]),
      frame(2, 'runMixed', 'file:///x/dist/stress/workload.js', [3]),
      frame(3, 'get', 'file:///x/dist/shm/map.js'),
      frame(4, 'barrierWait', 'file:///x/dist/shm/sync.js'),
    ],
    samples: [3, 3, 4, 4, 4, 4],
  };
  const { total, byFunction } = shmapFrames(profile);
  expect(total).toBe(6);
  expect([...byFunction]).toEqual([['map.js:get', 2]]);
});

it("names each profiled thread by the stress table's worker number", () => {
  const report = [
    'throughput: 34,816 ops in 1.03 s = 33.9 k ops/s',
    '  worker  thread id     role     ops   ops/s  gc pauses  gc total    gc max  iter ok/aborted',
    '  0               3  counter  11,776  11.5 k          2   11.4 ms  10.41 ms                -',
    '  1               2  counter  23,040  22.9 k          4   26.0 ms  17.31 ms                -',
    '',
    'latency (all workers, HDR):',
    '  op    count      p50',
    '  set   4,365  1.39 us',
  ].join('\n');
  expect([...workersByThreadId(report)]).toEqual([
    [3, 0],
    [2, 1],
  ]);
  expect(workersByThreadId('no table here').size).toBe(0);
});

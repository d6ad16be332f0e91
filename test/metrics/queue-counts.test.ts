/**
 * The delete queues the project runs count in their map's metrics: a stress
 * run of the `delete-queue` scenario (enqueuer threads, a drainer thread)
 * and `serve --cleanup delete-queue` (handler threads enqueue, the cleaner
 * thread drains) report non-zero enqueued and drained keys in
 * `map.metrics().queue` and on GET /metrics, equal to the queue's own
 * `stats()`. The scenario's check of that agreement fails when a producer's
 * handle does not count (negative control).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { DeleteQueue, SharedMap } from '../../src/index.js';
import { defaultOptions, type StressOptions } from '../../src/stress/options.js';
import { runStress } from '../../src/stress/run.js';
import { preparePattern } from '../../src/stress/scenarios/index.js';
import { keyCodec, valueCodec } from '../../src/stress/keys.js';
import type { WorkerResult } from '../../src/stress/protocol.js';
import { spawnServe, type ServeChild } from '../../src/serve/child.js';
import { distPath } from '../helpers/paths.js';

const SEED = Number(process.env.SHMAP_SEED ?? Date.now() % 1_000_000);

describe('delete-queue stress scenario', () => {
  it("the map's metrics count every key the enqueuers and the drainer handled, as the queue does", async () => {
    const o: StressOptions = {
      ...defaultOptions(),
      scenario: 'delete-queue',
      workers: 4,
      keys: 2_000,
      owned: 200,
      ops: 24_000,
      seed: SEED,
    };
    console.log(`stress delete-queue workers=4 seed=${SEED}`);
    const r = await runStress(o, { workerFile: distPath('workers/stress.js') });
    expect(r.verification.losses).toEqual([]);
    const c = r.verification.pattern!;
    expect(c.enqueued).toBeGreaterThan(0);
    expect(c.metricsEnqueued).toBe(c.enqueued);
    expect(c.metricsDrained).toBe(c.drained);
    expect(c.metricsDrained).toBe(c.enqueued);
    expect(c.metricsFullRejections).toBe(c.queueFullRejections);
  }, 120_000);

  it('negative control: keys a producer enqueued without counting make the check fail; counted ones pass it', async () => {
    const kc = keyCodec('int32');
    const vc = valueCodec('float64');
    const o: StressOptions = { ...defaultOptions(), scenario: 'delete-queue', workers: 2, keys: 16, owned: 0 };
    const check = async (count: boolean): Promise<string> => {
      const map = SharedMap.create<unknown, unknown>({ key: 'int32', value: 'float64', metrics: true });
      const p = preparePattern(o, map, '/nowhere/stress.js', kc, vc)!;
      const queue = DeleteQueue.attach<number>(p.task!.queue!);
      if (count) queue.countIn(map);
      expect(queue.enqueue(7)).toBe(true);
      const v = await p.verify(map, [] as WorkerResult[], undefined);
      return v.losses.join('\n');
    };
    expect(await check(false)).toMatch(
      /the map's metrics counted 0 enqueued, 0 drained, 0 refused full; the queue says 1, 0, 0/,
    );
    expect(await check(true)).not.toMatch(/the map's metrics/);
  });
});

describe('serve --cleanup delete-queue', () => {
  let running: ServeChild | undefined;
  afterEach(async () => {
    await running?.stop().catch(() => undefined);
    running = undefined;
  });

  it("GET /metrics shows the handlers' enqueues and the cleaner's drains, as the queue counts them", async () => {
    distPath('main.js');
    running = await spawnServe(['--port', '0', '--threads', '2', '--cleanup', 'delete-queue', '--stale-ms', '1']);
    const base = running.url;
    const ids = ['a', 'b', 'c', 'd', 'e'];
    for (const id of ids)
      expect((await fetch(`${base}/sessions/${id}`, { method: 'PUT', body: '{}' })).status).toBe(200);
    // Stale once more than 1 ms old: a GET then answers 404 and enqueues the id.
    await new Promise((resolve) => setTimeout(resolve, 20));
    for (const id of ids) expect((await fetch(`${base}/sessions/${id}`)).status).toBe(404);
    const series = (text: string, event: string): number => {
      const line = text
        .split('\n')
        .find((l) => l.startsWith('shmap_delete_queue_keys_total{') && l.includes(`event="${event}"`));
      if (line === undefined) throw new Error(`no shmap_delete_queue_keys_total series for ${event}`);
      return Number(line.slice(line.lastIndexOf(' ') + 1));
    };
    // The cleaner drains in its own time: wait until the queue says it has (the test's timeout bounds it).
    type Stats = { map: { queue: { enqueued: number; drained: number; fullRejections: number } } };
    let queue: Stats['map']['queue'];
    for (;;) {
      queue = (JSON.parse(await (await fetch(`${base}/stats`)).text()) as Stats).map.queue;
      if (queue.drained === ids.length) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(queue).toMatchObject({ enqueued: ids.length, fullRejections: 0 });
    const text = await (await fetch(`${base}/metrics`)).text();
    expect(series(text, 'enqueued')).toBe(ids.length);
    expect(series(text, 'drained')).toBe(ids.length);
    expect(series(text, 'rejected_full')).toBe(0);
  }, 120_000);
});

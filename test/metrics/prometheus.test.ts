/**
 * registerMetrics: the figures a scrape publishes are the map's own (entries,
 * slots, bytes, conflicts by kind, per shard), the exposition parses with
 * Prometheus's parser, several maps share a registry, bad options change
 * nothing, and the package root never loads prom-client.
 */
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { DeleteQueue, SharedMap, InvalidOptionError } from '../../src/index.js';
import { registerMetrics, METRICS } from '../../src/metrics/prometheus.js';
import { controlWords, requireDist, thrown } from '../shm/support.js';
import { distPath } from '../helpers/paths.js';
import { havePromtool, promtoolProblems, promtoolRequired } from './exposition.js';
import { provokers, racingMap } from '../helpers/conflicts.js';

requireDist();

type Series = { labels: Record<string, string | number>; value: number; metricName?: string };

/** Every series of every metric in the registry, by metric name (histogram parts by their own names). */
async function scrape(registry: Registry): Promise<Map<string, Series[]>> {
  const out = new Map<string, Series[]>();
  for (const m of await registry.getMetricsAsJSON()) {
    for (const v of m.values as Series[]) {
      const name = v.metricName ?? m.name;
      out.set(name, [...(out.get(name) ?? []), v]);
    }
  }
  return out;
}

function value(series: Map<string, Series[]>, name: string, labels: Record<string, string | number> = {}): number {
  const found = (series.get(name) ?? []).filter((s) =>
    Object.entries(labels).every(([k, v]) => String(s.labels[k]) === String(v)),
  );
  if (found.length !== 1) throw new Error(`${name} ${JSON.stringify(labels)}: ${found.length} series`);
  return found[0]!.value;
}

function checkWithPromtool(text: string): void {
  if (!havePromtool()) {
    if (promtoolRequired()) throw new Error('promtool is not installed (CI installs the prometheus package)');
    console.log('promtool not installed here: exposition format not checked by Prometheus');
    return;
  }
  expect(promtoolProblems(text)).toBe('');
}

describe('registerMetrics', () => {
  it("publishes the map's figures, and promtool accepts the exposition", async () => {
    const map = SharedMap.create<number, number>({ capacity: 64, shards: 4 });
    for (let k = 0; k < 40; k++) map.set(k, k);
    for (let k = 0; k < 10; k++) map.delete(k);
    const registry = new Registry();
    registerMetrics(map, registry, { name: 'sessions', labels: { service: 'api' } });
    const st = map.stats();
    const s = await scrape(registry);
    const l = { map: 'sessions', service: 'api' };
    expect(value(s, 'shmap_entries', l)).toBe(30);
    expect(value(s, 'shmap_capacity_slots', l)).toBe(st.capacity);
    expect(value(s, 'shmap_tombstones', l)).toBe(st.tombstones);
    expect(value(s, 'shmap_bytes', l)).toBe(st.bytes);
    expect(value(s, 'shmap_max_bytes', l)).toBe(st.maxBytes);
    expect(value(s, 'shmap_probe_length_count', l)).toBe(30);
    expect(value(s, 'shmap_probe_length_bucket', { ...l, le: '+Inf' })).toBe(30);
    expect(value(s, 'shmap_probe_length_sum', l)).toBe(Math.round(st.probeLengthMean * 30));
    const buckets = s.get('shmap_probe_length_bucket')!.map((b) => b.value);
    expect(buckets).toEqual([...buckets].sort((a, b) => a - b)); // cumulative
    expect(value(s, 'shmap_probe_length_max', l)).toBe(st.probeLengthMax);
    for (let shard = 0; shard < 4; shard++) {
      expect(value(s, 'shmap_shard_entries', { ...l, shard })).toBe(st.perShard[shard]!.count);
      expect(value(s, 'shmap_shard_lock_waits_total', { ...l, shard })).toBe(0);
    }
    expect(s.get('shmap_shard_entries')!.reduce((sum, x) => sum + x.value, 0)).toBe(30);
    expect(value(s, 'shmap_conflicts_total', { ...l, kind: 'concurrent map writes' })).toBe(0);
    // A second scrape sees a change at once: the figures are read from the buffer.
    map.set(1000, 1);
    expect(value(await scrape(registry), 'shmap_entries', l)).toBe(31);

    const text = await registry.metrics();
    for (const m of METRICS) expect(text).toContain(`# TYPE ${m.name} ${m.type}`);
    checkWithPromtool(text);
  });

  it('publishes the operation counters of a map created with metrics, equal to map.metrics(); none without', async () => {
    const map = SharedMap.create<number, number>({ capacity: 64, shards: 4, metrics: true });
    for (let k = 0; k < 40; k++) map.set(k, k);
    for (let k = 0; k < 10; k++) map.set(k, -k);
    for (let k = 0; k < 50; k++) map.get(k);
    for (let k = 0; k < 5; k++) map.delete(k);
    map.add(7, 1);
    expect(map.sweep((v) => v >= 30)).toBe(10);
    // A delete queue counting in the map: 3 keys accepted, 1 refused (full), then 3 drained (into a stand-in).
    const q = DeleteQueue.create<number>({ capacity: 3 }).countIn(map);
    for (const k of [100, 101, 102, 103]) q.enqueue(k);
    expect(q.drainInto({ delete: () => true })).toBe(3);
    const registry = new Registry();
    registerMetrics(map, registry, { name: 'counted' });
    const plain = SharedMap.create<number, number>({ capacity: 64, shards: 4 });
    plain.get(1);
    registerMetrics(plain, registry, { name: 'plain' });
    const s = await scrape(registry);
    const l = { map: 'counted' };
    const ops = (op: string, result: string) => value(s, 'shmap_operations_total', { ...l, op, result });
    expect(ops('get', 'hit')).toBe(40);
    expect(ops('get', 'miss')).toBe(10);
    expect(ops('set', 'insert')).toBe(40);
    expect(ops('set', 'overwrite')).toBe(10);
    expect(ops('delete', 'hit')).toBe(5);
    expect(ops('delete', 'miss')).toBe(0);
    expect(ops('add', 'call')).toBe(1);
    expect(ops('sweep', 'call')).toBe(1);
    expect(value(s, 'shmap_swept_entries_total', { ...l, cause: 'sweep' })).toBe(10);
    const m = map.metrics();
    const sampled = s.get('shmap_shard_op_samples_total')!.filter((x) => x.labels.map === 'counted');
    expect(sampled.map((x) => x.value)).toEqual(m.shardSamples);
    expect(value(s, 'shmap_thread_recoveries_total', l)).toBe(0);
    const queue = (event: string) => value(s, 'shmap_delete_queue_keys_total', { ...l, event });
    expect([queue('enqueued'), queue('drained'), queue('rejected_full')]).toEqual([3, 3, 1]);
    // The map without metrics has no operation series (and no error).
    expect(s.get('shmap_operations_total')!.filter((x) => x.labels.map === 'plain')).toEqual([]);
    checkWithPromtool(await registry.metrics());
  });

  it('promtool rejects a broken exposition (negative control of the format check)', () => {
    if (!havePromtool()) {
      if (promtoolRequired()) throw new Error('promtool is not installed');
      return;
    }
    expect(promtoolProblems('# TYPE x gauge\nx{a="1" 3\n')).not.toBe('');
    expect(promtoolProblems('# HELP c_total c\n# TYPE c_total counter\nc_total{le="1"} 3\n')).not.toBe('');
    expect(promtoolProblems('# HELP c_total c\n# TYPE c_total counter\nc_total 3\n')).toBe('');
  });

  it('counts conflicts by kind from any thread: what sync none racers provoked, recorded or dropped', async () => {
    const map = racingMap(4);
    const words = controlWords();
    const L = { stop: 0 };
    const runs = provokers(map, words, L, ['write', 'write', 'read']);
    const deadline = Date.now() + 60_000;
    while (map.stats().conflictsOverflowed < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    Atomics.store(words, L.stop, 1);
    await Promise.all(runs.map((r) => r.result));
    const registry = new Registry();
    registerMetrics(map, registry);
    const s = await scrape(registry);
    const st = map.stats();
    const byKind = s.get('shmap_conflicts_total')!;
    const total = byKind.reduce((sum, x) => sum + x.value, 0);
    console.log(
      `conflicts: ${byKind.map((x) => `${x.labels.kind}=${x.value}`).join(', ')}; dropped ${st.conflictsOverflowed}`,
    );
    expect(st.conflictsOverflowed).toBeGreaterThanOrEqual(4);
    // Every conflict is counted by kind, the dropped ones too.
    expect(total).toBe(st.conflicts + st.conflictsOverflowed);
    expect(value(s, 'shmap_conflicts_dropped_total')).toBe(st.conflictsOverflowed);
    const kept = map.conflicts();
    for (const x of byKind) expect(x.value).toBeGreaterThanOrEqual(kept.filter((r) => r.kind === x.labels.kind).length);
    checkWithPromtool(await registry.metrics());
  });

  it('several maps share a registry by name; unregistering removes a map, then the metrics', async () => {
    const a = SharedMap.create<number, number>({ capacity: 8 });
    const b = SharedMap.create<number, number>({ capacity: 8 });
    a.set(1, 1);
    b.set(1, 1);
    b.set(2, 2);
    const registry = new Registry();
    const offA = registerMetrics(a, registry, { name: 'a' });
    const offB = registerMetrics(b, registry, { name: 'b' });
    let s = await scrape(registry);
    expect(value(s, 'shmap_entries', { map: 'a' })).toBe(1);
    expect(value(s, 'shmap_entries', { map: 'b' })).toBe(2);
    checkWithPromtool(await registry.metrics());
    offA();
    s = await scrape(registry);
    expect(s.get('shmap_entries')!.map((x) => x.labels.map)).toEqual(['b']);
    offB();
    expect(await registry.getMetricsAsJSON()).toEqual([]);
  });

  it('bad options throw InvalidOptionError naming the option and register nothing', async () => {
    const map = SharedMap.create<number, number>({ capacity: 8 });
    const registry = new Registry();
    registerMetrics(map, registry, { name: 'first', labels: { env: 'test' } });
    const before = await registry.metrics();
    const cases: Array<[unknown, unknown, string]> = [
      [registry, { name: '' }, 'options.name'],
      [registry, { name: 3 }, 'options.name'],
      [registry, { labels: [] }, 'options.labels'],
      [registry, { labels: { 'bad-name': 'x' } }, 'options.labels'],
      [registry, { labels: { shard: 'x' } }, "'shard'"],
      [registry, { labels: { env: 3 } }, 'options.labels.env'],
      [registry, { name: 'other', labels: { zone: 'x' } }, 'same names'],
      [registry, { name: 'first', labels: { env: 'x' } }, "'first' is already registered"],
      [{}, {}, 'registry'],
    ];
    for (const [reg, opts, text] of cases) {
      const e = thrown(() => registerMetrics(map, reg as Registry, opts as never), text);
      expect(e).toBeInstanceOf(InvalidOptionError);
      expect((e as Error).message).toContain(text);
    }
    expect(await registry.metrics()).toBe(before);
  });

  it("the package root loads without prom-client; 'shmap/metrics' is what loads it", () => {
    const probe = (file: string): boolean =>
      execFileSync(
        process.execPath,
        [
          '--input-type=module',
          '-e',
          `import { createRequire } from 'node:module';
           await import(${JSON.stringify(file)});
           const cache = createRequire(import.meta.url).cache;
           console.log(Object.keys(cache).some((k) => k.includes('prom-client')));`,
        ],
        { encoding: 'utf8' },
      ).trim() === 'true';
    expect(probe(distPath('index.js'))).toBe(false);
    expect(probe(distPath('metrics/prometheus.js'))).toBe(true);
  });
});

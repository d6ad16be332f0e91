/**
 * The Prometheus collector: `registerMetrics(map, registry, { name, labels })`
 * registers a map's figures with a prom-client `Registry`, read from the
 * shared buffer at each scrape.
 *
 * Imported as `shmap/metrics`, never by the package root: prom-client is an
 * optional peer dependency, so `import ... from 'shmap'` loads without it and
 * only a program that asks for metrics needs it installed.
 *
 * Because every figure lives in the map's buffer, one scrape from any thread
 * sees the whole process: no per-worker registries to aggregate.
 *
 * Several maps may share one registry: each is told apart by the `map` label
 * (its `name`), and every map registered with a registry must give the same
 * extra label names. A scrape reads each map's `stats()` once (it walks every
 * slot, to measure probe lengths: O(capacity)).
 */
import promClient from 'prom-client';
import type { Registry } from 'prom-client';
import type { SharedMap } from '../shm/map.js';
import type { SharedMapMetrics, SharedMapStats } from '../shm/types.js';
import { hasMetrics } from '../shm/metrics.js';
import { InvalidOptionError } from '../shm/errors.js';
import { describe } from '../shm/codec.js';
import { KIND_NAMES, logPosition } from '../shm/conflict-log.js';

export interface RegisterMetricsOptions {
  /** The map's name, the value of the `map` label on every series. Default `'default'`. */
  name?: string;
  /** Constant labels added to every series of this map, e.g. `{ service: 'sessions' }`. */
  labels?: Record<string, string>;
}

/** One metric the collector publishes: its name, type, help text, and its labels beyond `map` and the constant ones. */
export interface MetricInfo {
  name: string;
  type: 'gauge' | 'counter' | 'histogram';
  help: string;
  labels: readonly string[];
}

/** What one scrape reads from one map. */
interface Reading {
  stats: SharedMapStats;
  conflictsByKind: number[];
  /** The operation counters; null for a map created without `metrics`. */
  ops: SharedMapMetrics | null;
}

/** One series of a metric: its labels beyond `map` and the constant ones, and its value. */
type Sample = [labels: Record<string, string | number>, value: number];

/** A metric and how its series are read from a map (histograms have their own path: `probeHistogram`). */
interface MetricSpec extends MetricInfo {
  values?: (r: Reading) => Sample[];
}

/** A metric of one series, read from the map's stats. */
function single(
  name: string,
  type: 'gauge' | 'counter',
  help: string,
  read: (s: SharedMapStats) => number,
): MetricSpec {
  return { name, type, help, labels: [], values: (r) => [[{}, read(r.stats)]] };
}

/** A metric with a series per shard (label `shard`), read from each shard's stats. */
function shardMetric(
  name: string,
  type: 'gauge' | 'counter',
  help: string,
  read: (s: SharedMapStats['perShard'][number]) => number,
): MetricSpec {
  return {
    name,
    type,
    help,
    labels: ['shard'],
    values: (r) => r.stats.perShard.map((s, shard) => [{ shard }, read(s)]),
  };
}

/** A counter from the operation counters (none for a map without metrics), a series per value of its one `label`. */
function countedBy(
  name: string,
  help: string,
  label: string,
  read: (m: SharedMapMetrics) => Array<[value: string | number, n: number]>,
): MetricSpec {
  return {
    name,
    type: 'counter',
    help,
    labels: [label],
    values: (r) => (r.ops === null ? [] : read(r.ops).map(([v, n]) => [{ [label]: v }, n])),
  };
}

/** `shmap_operations_total` series: op and result of every counted operation (none for a map without metrics). */
function operations(m: SharedMapMetrics | null): Sample[] {
  if (m === null) return [];
  const out: Sample[] = [];
  const add = (op: string, result: string, n: number): void => {
    out.push([{ op, result }, n]);
  };
  add('get', 'hit', m.gets.hit);
  add('get', 'miss', m.gets.miss);
  add('has', 'hit', m.has.hit);
  add('has', 'miss', m.has.miss);
  add('set', 'insert', m.sets.insert);
  add('set', 'overwrite', m.sets.overwrite);
  add('delete', 'hit', m.deletes.hit);
  add('delete', 'miss', m.deletes.miss);
  for (const [op, n] of Object.entries(m.atomic)) add(op, 'call', n);
  add('clear', 'call', m.clears);
  add('sweep', 'call', m.sweeps);
  add('sweepExpired', 'call', m.expirySweeps);
  for (const [op, n] of Object.entries(m.leases)) add(op, 'call', n);
  return out;
}

const SPECS: readonly MetricSpec[] = [
  single('shmap_entries', 'gauge', 'Live entries in the map.', (s) => s.count),
  single('shmap_capacity_slots', 'gauge', 'Slots over all shards (entries fit before growth).', (s) => s.capacity),
  single('shmap_tombstones', 'gauge', 'Deleted slots awaiting the next rehash.', (s) => s.tombstones),
  single('shmap_bytes', 'gauge', 'Bytes of the shared buffer in use (its byteLength).', (s) => s.bytes),
  single('shmap_max_bytes', 'gauge', 'Bytes the shared buffer may grow to (maxByteLength).', (s) => s.maxBytes),
  {
    name: 'shmap_probe_length',
    type: 'histogram',
    help: 'Probe length (slots visited to find an entry) of the entries present now: a point-in-time distribution (it may go down), so take histogram_quantile of it directly, without rate().',
    labels: [],
  },
  single('shmap_probe_length_max', 'gauge', 'Longest probe length of any entry.', (s) => s.probeLengthMax),
  {
    name: 'shmap_operations_total',
    type: 'counter',
    help: "Operations by every thread (maps created with metrics: true): op is the method, result hit/miss, insert/overwrite, or call. Dead and exited threads' operations stay counted.",
    labels: ['op', 'result'],
    values: (r) => operations(r.ops),
  },
  countedBy(
    'shmap_swept_entries_total',
    'Entries removed (or retired, when leased) by sweep, and expired entries reclaimed by sweepExpired, by cause (maps created with metrics: true).',
    'cause',
    (m) => [
      ['sweep', m.swept],
      ['expired', m.expired],
    ],
  ),
  countedBy(
    'shmap_delete_queue_keys_total',
    'Keys of the DeleteQueues that count in this map (queue.countIn(map)), by event: enqueued (accepted), drained (handed to delete), rejected_full (refused, the queue was full). enqueued minus drained is the backlog; a rising rejected_full means the drainer falls behind (maps created with metrics: true).',
    'event',
    (m) => [
      ['enqueued', m.queue.enqueued],
      ['drained', m.queue.drained],
      ['rejected_full', m.queue.fullRejections],
    ],
  ),
  single(
    'shmap_lock_waits_total',
    'counter',
    'Times a writer found its shard lock taken and waited.',
    (s) => s.lockWaits,
  ),
  single(
    'shmap_read_retries_total',
    'counter',
    'Times a reader saw its shard change under it and read again.',
    (s) => s.readRetries,
  ),
  {
    name: 'shmap_conflicts_total',
    type: 'counter',
    help: "Conflicts detected (Go's race kinds), recorded in the log or dropped when it was full.",
    labels: ['kind'],
    values: (r) => KIND_NAMES.map((kind, code) => [{ kind }, r.conflictsByKind[code] ?? 0]),
  },
  single(
    'shmap_conflicts_dropped_total',
    'counter',
    'Conflict records dropped because the conflict log was full.',
    (s) => s.conflictsOverflowed,
  ),
  single(
    'shmap_thread_recoveries_total',
    'counter',
    'Shard locks taken over from a dead thread and repaired (map.recover, map.watch).',
    (s) => s.recoveries,
  ),
  shardMetric('shmap_shard_entries', 'gauge', 'Live entries per shard.', (s) => s.count),
  shardMetric(
    'shmap_shard_load_ratio',
    'gauge',
    'Per shard: (entries + tombstones) / slots; the shard grows past 0.875.',
    (s) => (s.count + s.tombstones) / s.capacity,
  ),
  shardMetric(
    'shmap_shard_lock_waits_total',
    'counter',
    'Per shard: times a writer waited for its lock (a hot shard shows here).',
    (s) => s.lockWaits,
  ),
  shardMetric(
    'shmap_shard_read_retries_total',
    'counter',
    'Per shard: times a reader read again because a write overlapped it.',
    (s) => s.readRetries,
  ),
  countedBy(
    'shmap_shard_op_samples_total',
    "Per shard: operations sampled for the hot-key sketch (1 in metrics.sampleEvery per thread, on average): each shard's share of the traffic (maps created with metrics: true).",
    'shard',
    (m) => m.shardSamples.map((n, shard) => [shard, n]),
  ),
];

/** Every metric `registerMetrics` publishes (the README's monitoring section and the Grafana dashboard use these names). */
export const METRICS: readonly MetricInfo[] = SPECS.map(({ name, type, help, labels }) => ({
  name,
  type,
  help,
  labels,
}));

interface Entry {
  map: SharedMap<unknown, unknown>;
  labels: Record<string, string>;
}

interface Collector {
  entries: Set<Entry>;
  /** Constant label names (beyond `map`), the same for every map of this registry. */
  constNames: string[];
}

const collectors = new WeakMap<Registry, Collector>();

/** Prometheus label names: letters, digits and _, not starting with a digit or __ (reserved). */
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const RESERVED = new Set(['map', 'kind', 'shard', 'le', 'op', 'result', 'cause', 'event']);

function checkOptions(options: RegisterMetricsOptions): { name: string; labels: Record<string, string> } {
  if (options === null || typeof options !== 'object')
    throw new InvalidOptionError(`registerMetrics: options must be an object, got ${describe(options)}`);
  const name = options.name ?? 'default';
  if (typeof name !== 'string' || name === '')
    throw new InvalidOptionError(`registerMetrics: options.name must be a non-empty string, got ${describe(name)}`);
  const labels = options.labels ?? {};
  if (labels === null || typeof labels !== 'object' || Array.isArray(labels))
    throw new InvalidOptionError(
      `registerMetrics: options.labels must be an object of label name -> string, got ${describe(labels)}`,
    );
  for (const [k, v] of Object.entries(labels)) {
    if (!LABEL_NAME.test(k) || k.startsWith('__'))
      throw new InvalidOptionError(
        `registerMetrics: options.labels has an invalid Prometheus label name ${describe(k)}`,
      );
    if (RESERVED.has(k))
      throw new InvalidOptionError(`registerMetrics: options.labels may not use the label name '${k}' (shmap's own)`);
    if (typeof v !== 'string')
      throw new InvalidOptionError(`registerMetrics: options.labels.${k} must be a string, got ${describe(v)}`);
  }
  return { name, labels: { ...labels } };
}

/**
 * Registers `map`'s metrics (METRICS) with a prom-client `registry`; returns
 * a function that unregisters this map (and the metrics themselves once no
 * map of the registry is left). Throws InvalidOptionError for bad options,
 * registering nothing; and when the map is already registered with this
 * registry under the same name.
 */
export function registerMetrics(
  map: SharedMap<unknown, unknown>,
  registry: Registry,
  options: RegisterMetricsOptions = {},
): () => void {
  const { name, labels } = checkOptions(options);
  if (registry === null || typeof registry !== 'object' || typeof registry.registerMetric !== 'function')
    throw new InvalidOptionError(`registerMetrics: registry must be a prom-client Registry, got ${describe(registry)}`);
  const constNames = Object.keys(labels).sort();
  let collector = collectors.get(registry);
  if (collector !== undefined) {
    if (constNames.join(',') !== collector.constNames.join(','))
      throw new InvalidOptionError(
        `registerMetrics: options.labels must have the same names as the maps already registered with this registry (${collector.constNames.join(', ') || 'none'}), got ${constNames.join(', ') || 'none'}`,
      );
    for (const e of collector.entries)
      if (e.labels.map === name)
        throw new InvalidOptionError(
          `registerMetrics: a map named '${name}' is already registered with this registry (give options.name)`,
        );
  } else {
    collector = createCollector(registry, constNames);
    collectors.set(registry, collector);
  }
  const entry: Entry = { map, labels: { map: name, ...labels } };
  collector.entries.add(entry);
  const owner = collector;
  return () => {
    if (!owner.entries.delete(entry) || owner.entries.size !== 0) return;
    for (const info of METRICS) registry.removeSingleMetric(info.name);
    collectors.delete(registry);
  };
}

function createCollector(registry: Registry, constNames: string[]): Collector {
  const entries = new Set<Entry>();
  // One reading per map per scrape: prom-client calls every metric's collect
  // in one synchronous pass, so a cache cleared by the next microtask is shared
  // by exactly one scrape.
  let cache: Map<Entry, Reading> | undefined;
  const read = (e: Entry): Reading => {
    if (cache === undefined) {
      cache = new Map();
      queueMicrotask(() => {
        cache = undefined;
      });
    }
    let r = cache.get(e);
    if (r === undefined) {
      r = {
        stats: e.map.stats(),
        conflictsByKind: logPosition(e.map.views).byKind,
        ops: hasMetrics(e.map.views) ? e.map.metrics() : null,
      };
      cache.set(e, r);
    }
    return r;
  };
  for (const spec of SPECS) {
    const labelNames = ['map', ...constNames, ...spec.labels];
    const values = spec.values;
    if (values === undefined) {
      registry.registerMetric(probeHistogram(spec, entries, read) as unknown as promClient.Metric);
      continue;
    }
    /** Every series of this metric of every map: `emit(labels, value)`. */
    const series = (emit: (labels: Record<string, string | number>, value: number) => void): void => {
      for (const e of entries) for (const [extra, value] of values(read(e))) emit({ ...e.labels, ...extra }, value);
    };
    // A counter's value is read from the buffer, not counted here: reset, then add the total.
    const config = { name: spec.name, help: spec.help, labelNames, registers: [registry] };
    if (spec.type === 'gauge')
      new promClient.Gauge({
        ...config,
        collect() {
          this.reset();
          series((labels, value) => this.set(labels, value));
        },
      });
    else
      new promClient.Counter({
        ...config,
        collect() {
          this.reset();
          series((labels, value) => this.inc(labels, value));
        },
      });
  }
  return { entries, constNames };
}

/**
 * The probe-length histogram. prom-client's Histogram only counts
 * observations one at a time; this distribution is read whole from the map
 * at each scrape, so the metric is a plain object in the shape a registry
 * serializes (the one prom-client's own Histogram hands it): `_bucket`
 * series by `le`, then `_sum` and `_count`.
 */
function probeHistogram(info: MetricInfo, entries: Set<Entry>, read: (e: Entry) => Reading) {
  const get = () => {
    const values: Array<{ metricName: string; labels: Record<string, string>; value: number }> = [];
    for (const e of entries) {
      const { stats } = read(e);
      for (const b of stats.probeLengthBuckets)
        values.push({
          metricName: `${info.name}_bucket`,
          labels: { ...e.labels, le: b.le === Infinity ? '+Inf' : String(b.le) },
          value: b.count,
        });
      values.push({
        metricName: `${info.name}_sum`,
        labels: e.labels,
        value: Math.round(stats.probeLengthMean * stats.count),
      });
      values.push({ metricName: `${info.name}_count`, labels: e.labels, value: stats.count });
    }
    return { name: info.name, help: info.help, type: 'histogram', values, aggregator: 'sum' };
  };
  return { name: info.name, help: info.help, type: 'histogram', aggregator: 'sum', get: async () => get() };
}

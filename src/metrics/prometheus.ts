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
import type { SharedMapStats } from '../shm/types.js';
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

/** Every metric `registerMetrics` publishes (the README's monitoring section and the Grafana dashboard use these names). */
export const METRICS: readonly MetricInfo[] = [
  { name: 'shmap_entries', type: 'gauge', help: 'Live entries in the map.', labels: [] },
  {
    name: 'shmap_capacity_slots',
    type: 'gauge',
    help: 'Slots over all shards (entries fit before growth).',
    labels: [],
  },
  { name: 'shmap_tombstones', type: 'gauge', help: 'Deleted slots awaiting the next rehash.', labels: [] },
  { name: 'shmap_bytes', type: 'gauge', help: 'Bytes of the shared buffer in use (its byteLength).', labels: [] },
  { name: 'shmap_max_bytes', type: 'gauge', help: 'Bytes the shared buffer may grow to (maxByteLength).', labels: [] },
  {
    name: 'shmap_probe_length',
    type: 'histogram',
    help: 'Probe length (slots visited to find an entry) of the entries present now: a point-in-time distribution (it may go down), so take histogram_quantile of it directly, without rate().',
    labels: [],
  },
  { name: 'shmap_probe_length_max', type: 'gauge', help: 'Longest probe length of any entry.', labels: [] },
  {
    name: 'shmap_lock_waits_total',
    type: 'counter',
    help: 'Times a writer found its shard lock taken and waited.',
    labels: [],
  },
  {
    name: 'shmap_read_retries_total',
    type: 'counter',
    help: 'Times a reader saw its shard change under it and read again.',
    labels: [],
  },
  {
    name: 'shmap_conflicts_total',
    type: 'counter',
    help: "Conflicts detected (Go's race kinds), recorded in the log or dropped when it was full.",
    labels: ['kind'],
  },
  {
    name: 'shmap_conflicts_dropped_total',
    type: 'counter',
    help: 'Conflict records dropped because the conflict log was full.',
    labels: [],
  },
  { name: 'shmap_shard_entries', type: 'gauge', help: 'Live entries per shard.', labels: ['shard'] },
  {
    name: 'shmap_shard_load_ratio',
    type: 'gauge',
    help: 'Per shard: (entries + tombstones) / slots; the shard grows past 0.875.',
    labels: ['shard'],
  },
  {
    name: 'shmap_shard_lock_waits_total',
    type: 'counter',
    help: 'Per shard: times a writer waited for its lock (a hot shard shows here).',
    labels: ['shard'],
  },
  {
    name: 'shmap_shard_read_retries_total',
    type: 'counter',
    help: 'Per shard: times a reader read again because a write overlapped it.',
    labels: ['shard'],
  },
];

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
const RESERVED = new Set(['map', 'kind', 'shard', 'le', 'op', 'result']);

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

/** What one scrape reads from one map. */
interface Reading {
  stats: SharedMapStats;
  conflictsByKind: number[];
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
      r = { stats: e.map.stats(), conflictsByKind: logPosition(e.map.v).byKind };
      cache.set(e, r);
    }
    return r;
  };
  /** Calls `emit(labels, value)` for every series of metric `name` of every map. */
  const series = (name: string, emit: (labels: Record<string, string | number>, value: number) => void): void => {
    for (const e of entries) seriesOf(e, name, emit);
  };
  const seriesOf = (
    e: Entry,
    name: string,
    emit: (labels: Record<string, string | number>, value: number) => void,
  ): void => {
    {
      const { stats, conflictsByKind } = read(e);
      const one = (value: number, extra: Record<string, string | number> = {}): void =>
        emit({ ...e.labels, ...extra }, value);
      switch (name) {
        case 'shmap_entries':
          return one(stats.count);
        case 'shmap_capacity_slots':
          return one(stats.capacity);
        case 'shmap_tombstones':
          return one(stats.tombstones);
        case 'shmap_bytes':
          return one(stats.bytes);
        case 'shmap_max_bytes':
          return one(stats.maxBytes);
        case 'shmap_probe_length_max':
          return one(stats.probeLengthMax);
        case 'shmap_lock_waits_total':
          return one(stats.lockWaits);
        case 'shmap_read_retries_total':
          return one(stats.readRetries);
        case 'shmap_conflicts_total':
          KIND_NAMES.forEach((kind, code) => one(conflictsByKind[code] ?? 0, { kind }));
          break;
        case 'shmap_conflicts_dropped_total':
          return one(stats.conflictsOverflowed);
        case 'shmap_shard_entries':
          stats.perShard.forEach((s, shard) => one(s.count, { shard }));
          break;
        case 'shmap_shard_load_ratio':
          stats.perShard.forEach((s, shard) => one((s.count + s.tombstones) / s.capacity, { shard }));
          break;
        case 'shmap_shard_lock_waits_total':
          stats.perShard.forEach((s, shard) => one(s.lockWaits, { shard }));
          break;
        case 'shmap_shard_read_retries_total':
          stats.perShard.forEach((s, shard) => one(s.readRetries, { shard }));
          break;
      }
    }
  };
  for (const info of METRICS) {
    const labelNames = ['map', ...constNames, ...info.labels];
    if (info.type === 'histogram') {
      registry.registerMetric(probeHistogram(info, entries, read) as unknown as promClient.Metric);
      continue;
    }
    if (info.type === 'gauge') {
      new promClient.Gauge({
        name: info.name,
        help: info.help,
        labelNames,
        registers: [registry],
        collect() {
          this.reset();
          series(info.name, (labels, value) => this.set(labels, value));
        },
      });
      continue;
    }
    new promClient.Counter({
      name: info.name,
      help: info.help,
      labelNames,
      registers: [registry],
      // A counter's value is read from the buffer, not counted here: reset, then add the total.
      collect() {
        this.reset();
        series(info.name, (labels, value) => this.inc(labels, value));
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

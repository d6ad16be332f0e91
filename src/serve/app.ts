/**
 * `serve`'s routes, independent of how the request reached the thread (its
 * own server in reuseport mode, a piscina task in dispatch mode): a request
 * in (method, path, body), a reply out. Bad input is refused before the
 * store is touched, so it changes nothing.
 */
import { cpus } from 'node:os';
import { KeyTooLongError, LeaseError, ShmapTypeError, ValueTooLargeError } from '../shm/errors.js';
import type { SharedMap } from '../shm/map.js';
import { readCounters, C, type CounterTotals, type ThreadCounters } from './counters.js';
import { isConflictError, type ServeShared, type Store } from './store.js';
import { installHint, installed } from '../optional.js';

export interface Reply {
  status: number;
  body: string;
  /** 'json' (application/json) or 'text' (text/plain; Prometheus text uses version=0.0.4). */
  type: 'json' | 'text' | 'metrics';
}

const json = (status: number, value: unknown): Reply => ({ status, body: JSON.stringify(value), type: 'json' });
const error = (status: number, message: string): Reply => json(status, { error: message });

const SESSION_RE = /^\/sessions\/([^/]+)$/;
const TOUCH_RE = /^\/sessions\/([^/]+)\/touch$/;

/** A context per thread: the store, this thread's counters, the shared setup. */
export interface App {
  store: Store;
  counters: ThreadCounters;
  shared: ServeShared;
  mode: string;
  /** GET /metrics's registry, made at the first scrape. */
  metrics?: Promise<import('prom-client').Registry> | undefined;
}

/** Decodes and checks a session id; a string is the error message. */
function parseId(raw: string, idBytes: number): { id: string } | { bad: string } {
  let id: string;
  try {
    id = decodeURIComponent(raw);
  } catch {
    return { bad: `session id is not valid percent-encoding: '${raw.slice(0, 80)}'` };
  }
  if (!id.isWellFormed()) return { bad: 'session id has a lone surrogate (not well-formed UTF-16)' };
  const bytes = Buffer.byteLength(id, 'utf8');
  if (bytes > idBytes) return { bad: `session id is ${bytes} bytes, over the limit of ${idBytes} (--id-bytes)` };
  return { id };
}

/** Handles one request. `body` is the request body as text ('' when none). Never throws. */
export async function handle(app: App, method: string, url: string, body: string): Promise<Reply> {
  app.counters.add(C.REQUESTS);
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  try {
    return await route(app, method, path, body);
  } catch (err) {
    if (err instanceof KeyTooLongError || err instanceof ShmapTypeError) return error(400, err.message);
    if (err instanceof ValueTooLargeError) return error(413, err.message);
    if (err instanceof LeaseError) return error(409, err.message);
    if (isConflictError(err)) return error(500, (err as Error).message);
    return error(500, `internal error: ${(err as Error).message ?? String(err)}`);
  }
}

async function route(app: App, method: string, path: string, body: string): Promise<Reply> {
  const { store } = app;
  let m = SESSION_RE.exec(path);
  if (m !== null) {
    const p = parseId(m[1]!, app.shared.options.idBytes);
    if ('bad' in p) return error(400, p.bad);
    if (method === 'GET') {
      const s = await store.get(p.id);
      return s === undefined ? error(404, 'no such session') : json(200, s);
    }
    if (method === 'PUT') {
      if (body.trim() === '') return error(400, 'malformed JSON: the body is empty');
      let data: unknown;
      try {
        data = JSON.parse(body);
      } catch (err) {
        return error(400, `malformed JSON: ${(err as Error).message}`);
      }
      return json(200, await store.put(p.id, data));
    }
    if (method === 'DELETE') return json(200, { deleted: await store.delete(p.id) });
    return error(405, `${method} is not allowed on /sessions/:id (GET, PUT, DELETE)`);
  }
  m = TOUCH_RE.exec(path);
  if (m !== null) {
    const p = parseId(m[1]!, app.shared.options.idBytes);
    if ('bad' in p) return error(400, p.bad);
    if (method !== 'POST') return error(405, `${method} is not allowed on /sessions/:id/touch (POST)`);
    const s = await store.touch(p.id);
    return s === undefined ? error(404, 'no such session') : json(200, s);
  }
  if (method === 'GET' && path === '/stats') return json(200, await statsDoc(app));
  if (method === 'GET' && path === '/conflicts') return { status: 200, body: store.conflictsText(), type: 'text' };
  if (method === 'GET' && path === '/metrics') return metricsReply(app);
  return error(404, `no route for ${method} ${path}`);
}

export interface StatsDoc {
  mode: string;
  store: string;
  cleanup: string;
  sync: string;
  threads: number;
  staleMs: number;
  map: Record<string, unknown>;
  server: ReturnType<typeof readCounters>;
  /** The process's peak resident set size, bytes. */
  maxRssBytes: number;
  cores: number;
  node: string;
}

export async function statsDoc(app: App): Promise<StatsDoc> {
  const o = app.shared.options;
  return {
    mode: app.mode,
    store: o.store,
    cleanup: o.cleanup,
    sync: o.sync,
    threads: o.threads,
    staleMs: o.staleMs,
    map: await app.store.stats(),
    server: readCounters(app.shared.counters),
    maxRssBytes: process.resourceUsage().maxRSS * 1024,
    cores: cpus().length,
    node: process.version,
  };
}

/** GET /metrics: one prom-client registry per thread, built at the first scrape. */
async function metricsReply(app: App): Promise<Reply> {
  if (!installed('prom-client')) return error(503, installHint('GET /metrics', 'prom-client'));
  let registry;
  try {
    app.metrics ??= metricsRegistry(app);
    registry = await app.metrics;
  } catch (err) {
    app.metrics = undefined;
    return error(500, `GET /metrics: ${(err as Error).message}`);
  }
  return { status: 200, body: await registry.metrics(), type: 'metrics' };
}

/**
 * The map's figures through the metrics module's collector (registerMetrics:
 * read from the shared buffer, so any thread's scrape sees the whole map),
 * plus the server's own counters (all threads, from the counters buffer).
 * prom-client is loaded here only: it is an optional peer dependency.
 */
async function metricsRegistry(app: App): Promise<import('prom-client').Registry> {
  const prom = (await import('prom-client')).default;
  const { registerMetrics } = await import('../metrics/prometheus.js');
  const registry = new prom.Registry();
  const o = app.shared.options;
  const maps = app.store.maps ?? [];
  for (const [i, map] of maps.entries()) {
    registerMetrics(map as SharedMap<unknown, unknown>, registry, {
      name: maps.length === 1 ? 'sessions' : `sessions-${i}`,
      labels: { cleanup: o.cleanup },
    });
  }
  const counters = app.shared.counters;
  const counter = (name: string, help: string, read: (t: CounterTotals) => number) =>
    new prom.Counter({
      name,
      help,
      labelNames: ['cleanup', 'store'],
      registers: [registry],
      collect() {
        this.reset();
        this.inc({ cleanup: o.cleanup, store: o.store }, read(readCounters(counters)));
      },
    });
  counter('shmap_serve_requests_total', 'Requests answered, all handler threads.', (t) => t.requests);
  counter('shmap_serve_cleaned_total', 'Sessions cleaned by the handlers and the cleaner thread.', (t) => t.cleaned);
  counter(
    'shmap_serve_iteration_errors_total',
    'Requests answered 500: a range over the map met a write.',
    (t) => t.iterationErrors,
  );
  counter(
    'shmap_serve_gc_pauses_total',
    'GC pauses in every thread of the server: handlers, main, cleaner.',
    (t) => t.gcCount,
  );
  counter('shmap_serve_gc_pause_seconds_total', 'Time in GC pauses in those threads.', (t) => t.gcMs / 1000);
  return registry;
}

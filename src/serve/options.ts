/**
 * `serve`'s options: parsing, defaults and validation (every error names
 * its option), and the settings every thread of the server receives.
 */
import { availableParallelism } from 'node:os';
import { parseCommandArgs } from '../args.js';
import { InvalidOptionError } from '../shm/errors.js';

export const CLEANUPS = [
  'range-delete',
  'stop-the-world',
  'sweep',
  'ttl',
  'delete-queue',
  'lease',
  'rebuild',
  'none',
] as const;
export type Cleanup = (typeof CLEANUPS)[number];

/** Where sessions live: the shared map (default), a private Map per thread (not shared), or Redis. */
export const STORES = ['shmap', 'map', 'redis'] as const;
export type StoreKind = (typeof STORES)[number];

export const MODES = ['reuseport', 'dispatch'] as const;
export type Mode = (typeof MODES)[number];

export interface ServeOptions {
  port: number;
  host: string;
  threads: number;
  /** Forced mode, or undefined: reuseport where available, else dispatch. */
  mode: Mode | undefined;
  cleanup: Cleanup;
  store: StoreKind;
  sync: 'lock' | 'none';
  /** A session untouched this long is stale (ms). */
  staleMs: number;
  /** Time between cleanups of the timer-driven strategies (sweep, ttl, delete-queue's drainer idle wait, lease, rebuild). */
  intervalMs: number;
  /** range-delete / stop-the-world: every Nth request of a thread ranges over the map. */
  rangeEvery: number;
  /** Simulated downstream call of a GET, ms (the lease is held across it). */
  workMs: number;
  /** Most UTF-8 bytes of a session id. */
  idBytes: number;
  /** Most bytes of a PUT body (the session's data). */
  valueBytes: number;
  /** Sessions the map holds without growing. */
  capacity: number;
  queueCapacity: number;
  redisUrl: string | undefined;
  /** Where the main thread POSTs an alert on the map's conflicts (AlertSender: the first of each kind at once, then counts). */
  alertUrl: string | undefined;
}

export const DEFAULTS: ServeOptions = {
  port: 8080,
  host: '127.0.0.1',
  threads: availableParallelism(),
  mode: undefined,
  cleanup: 'sweep',
  store: 'shmap',
  sync: 'lock',
  staleMs: 5_000,
  intervalMs: 100,
  rangeEvery: 1_000,
  workMs: 0,
  idBytes: 64,
  valueBytes: 512,
  capacity: 65_536,
  queueCapacity: 4_096,
  redisUrl: undefined,
  alertUrl: undefined,
};

/** Bytes of the stored session beyond its data: `{"data":...,"seen":<13 digits>,"hits":<up to 15 digits>}`. */
export const ENVELOPE_BYTES = 64;

export function serveHelp(): string {
  return [
    'usage: shmap serve [options]',
    '',
    'An HTTP/1.1 session service whose handlers run on worker threads and share one SharedMap',
    '(session id -> session JSON). Endpoints:',
    '  PUT    /sessions/:id        store the JSON body as the session data (hits 0, seen now); 200 with the session',
    '  GET    /sessions/:id        200 with the session; 404 when absent or stale',
    '  POST   /sessions/:id/touch  atomically set seen = now and hits + 1; 200 with the session, 404 when absent or stale',
    '  DELETE /sessions/:id        200 {"deleted":true|false}',
    "  GET    /stats               the map's stats, conflict counts and per-thread counters (JSON)",
    "  GET    /conflicts           the race checker's report (text)",
    '  GET    /metrics             Prometheus text',
    'Bad requests change nothing: malformed JSON or an id too long -> 400 (JSON error body); a body over',
    '--value-bytes -> 413; unknown route -> 404. SIGINT / SIGTERM: stop accepting, finish in-flight requests,',
    'stop the cleanup threads, exit 0.',
    '',
    'options:',
    `  --port N            listen port (0: any free port, printed); default ${DEFAULTS.port}`,
    `  --host H            default ${DEFAULTS.host}`,
    '  --threads N         handler threads; default: the number of cores',
    '  --mode M            reuseport: every thread runs its own server on the port and the kernel spreads',
    '                      connections (Linux, Node >= 22.12); dispatch: the main thread accepts and hands',
    '                      each request to a piscina pool. Default: reuseport where available, else dispatch',
    `  --cleanup S         how stale sessions go; default ${DEFAULTS.cleanup}:`,
    '                        range-delete    every --range-every-th request ranges over the map and deletes (the anti-pattern)',
    '                        stop-the-world  the same under a global readers-writer lock every handler takes shared',
    '                        sweep           map.sweep(stale) every --interval-ms on a cleaner thread',
    "                        ttl             sessions carry a TTL of --stale-ms; a sweeper thread reclaims them (the library's sweeper loop)",
    '                        delete-queue    handlers enqueue stale ids they meet; a drainer thread deletes each if still stale',
    '                        lease           a GET holds a lease across its --work-ms; the cleaner sweeps, which retires leased sessions',
    '                        rebuild         a cleaner thread copies the fresh sessions into a second map and switches every',
    '                                        thread to it; writes wait during the copy, reads go on (nothing is lost)',
    '                        none            no cleanup',
    "  --sync lock|none    the map's synchronization; default lock (range-delete with none: Go's conflicts, lost sessions)",
    `  --stale-ms N        a session untouched this long is stale; default ${DEFAULTS.staleMs}`,
    `  --interval-ms N     cleanup interval; default ${DEFAULTS.intervalMs}`,
    `  --range-every N     range-delete / stop-the-world: every Nth request of a thread; default ${DEFAULTS.rangeEvery}`,
    `  --work-ms N         a simulated downstream call in every GET; default ${DEFAULTS.workMs}`,
    `  --id-bytes N        most UTF-8 bytes of an id; default ${DEFAULTS.idBytes}`,
    `  --value-bytes N     most bytes of a PUT body; default ${DEFAULTS.valueBytes}`,
    `  --capacity N        sessions held without growing; default ${DEFAULTS.capacity}`,
    '  --store S           shmap (default); map: a private Map per thread (not shared, a peer for comparison);',
    '                      redis: Redis at --redis-url, one client per thread, sessions with PX --stale-ms',
    '  --redis-url URL     with --store redis',
    "  --alert-url URL     POST a JSON alert on the map's conflicts: the first of each kind at once, then a count",
    '                      per kind at most every 10 s (shmap store only)',
    '  --help              this text',
    '',
    'Prints the mode, then `listening on http://HOST:PORT`.',
    'exit codes: 0 stopped cleanly, 1 failed to start or to stop, 2 bad arguments',
  ].join('\n');
}

function int(name: string, raw: string | undefined, fallback: number, min: number, max: number): number {
  if (raw === undefined) return fallback;
  const v = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(v) || v < min || v > max) {
    throw new InvalidOptionError(`--${name} must be an integer from ${min} to ${max}, got '${raw}'`);
  }
  return v;
}

function oneOf<T extends string>(name: string, raw: string | undefined, allowed: readonly T[]): T | undefined {
  if (raw === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(raw)) {
    throw new InvalidOptionError(`--${name} must be one of ${allowed.join(', ')}, got '${raw}'`);
  }
  return raw as T;
}

/** Parses argv; returns undefined for --help. Throws InvalidOptionError naming the option. */
export function parseServeArgs(argv: string[]): ServeOptions | undefined {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseCommandArgs({
      args: argv,
      options: {
        port: { type: 'string' },
        host: { type: 'string' },
        threads: { type: 'string' },
        mode: { type: 'string' },
        cleanup: { type: 'string' },
        store: { type: 'string' },
        sync: { type: 'string' },
        'stale-ms': { type: 'string' },
        'interval-ms': { type: 'string' },
        'range-every': { type: 'string' },
        'work-ms': { type: 'string' },
        'id-bytes': { type: 'string' },
        'value-bytes': { type: 'string' },
        capacity: { type: 'string' },
        'redis-url': { type: 'string' },
        'alert-url': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    throw new InvalidOptionError((err as Error).message);
  }
  if (values.help === true) return undefined;
  const s = (k: string) => values[k] as string | undefined;
  const o: ServeOptions = {
    port: int('port', s('port'), DEFAULTS.port, 0, 65535),
    host: s('host') ?? DEFAULTS.host,
    threads: int('threads', s('threads'), DEFAULTS.threads, 1, 256),
    mode: oneOf('mode', s('mode'), MODES),
    cleanup: oneOf('cleanup', s('cleanup'), CLEANUPS) ?? DEFAULTS.cleanup,
    store: oneOf('store', s('store'), STORES) ?? DEFAULTS.store,
    sync: oneOf('sync', s('sync'), ['lock', 'none'] as const) ?? DEFAULTS.sync,
    staleMs: int('stale-ms', s('stale-ms'), DEFAULTS.staleMs, 1, 86_400_000),
    intervalMs: int('interval-ms', s('interval-ms'), DEFAULTS.intervalMs, 1, 3_600_000),
    rangeEvery: int('range-every', s('range-every'), DEFAULTS.rangeEvery, 1, 1e9),
    workMs: int('work-ms', s('work-ms'), DEFAULTS.workMs, 0, 60_000),
    idBytes: int('id-bytes', s('id-bytes'), DEFAULTS.idBytes, 1, 4096),
    valueBytes: int('value-bytes', s('value-bytes'), DEFAULTS.valueBytes, 2, 1 << 20),
    capacity: int('capacity', s('capacity'), DEFAULTS.capacity, 16, 1 << 24),
    queueCapacity: DEFAULTS.queueCapacity,
    redisUrl: s('redis-url'),
    alertUrl: s('alert-url'),
  };
  if (o.alertUrl !== undefined) {
    let url: URL | undefined;
    try {
      url = new URL(o.alertUrl);
    } catch {
      url = undefined;
    }
    if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:'))
      throw new InvalidOptionError(`--alert-url must be an http(s) URL, got '${o.alertUrl}'`);
    if (o.store !== 'shmap')
      throw new InvalidOptionError(`--alert-url needs --store shmap (the map's conflicts), got --store ${o.store}`);
  }
  if (o.store === 'redis' && o.redisUrl === undefined) throw new InvalidOptionError('--store redis needs --redis-url');
  if (o.store !== 'redis' && o.redisUrl !== undefined) throw new InvalidOptionError('--redis-url needs --store redis');
  if (o.sync === 'none' && o.cleanup !== 'range-delete' && o.cleanup !== 'none') {
    throw new InvalidOptionError(
      `--sync none is only for --cleanup range-delete (or none), got --cleanup ${o.cleanup}`,
    );
  }
  if (o.mode === 'reuseport' && !reusePortAvailable()) {
    throw new InvalidOptionError(
      `--mode reuseport needs Linux and Node >= 22.12 (this is ${process.platform}, Node ${process.versions.node})`,
    );
  }
  return o;
}

/** `server.listen({ reusePort: true })` exists on Linux from Node 22.12 / 23.1 (Node 20 ignores it: EADDRINUSE). */
export function reusePortAvailable(): boolean {
  if (process.platform !== 'linux') return false;
  const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
  return major > 23 || (major === 23 && minor >= 1) || (major === 22 && minor >= 12);
}

/**
 * One reader thread of `bench near-cache` (near-cache.ts drives it). It reads
 * Redis keys through one of three systems:
 *
 * - `redis`: its own node-redis client, a plain GET per read;
 * - `client-cache`: its own node-redis client with node-redis's
 *   `clientSideCache` (RESP3, its own copy of every key it read, its own
 *   invalidations);
 * - `near-cache`: a handle on the process's one NearCache (one copy for all
 *   threads, one invalidation connection, held by the main thread).
 *
 * Requests (postMessage) and replies:
 * - `{ op: 'warm', from, to }`: read keys from..to-1 once each; `{ heapUsed }`.
 * - `{ op: 'run', ms, seed }`: read uniformly random keys, one at a time,
 *   for `ms`; `{ reads, ns, hits, latency }` (latency: ns per read, an HDR
 *   histogram as `encodeIntoCompressedBase64`).
 * - `{ op: 'stats' }`: `{ entries, invalidations, heapUsed }`: the keys this
 *   thread's own cache holds and the invalidations it received (client-cache).
 * - `{ op: 'close' }`: closes its client; `{ closed: true }`.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { parentPort, workerData } from 'node:worker_threads';
import * as hdr from 'hdr-histogram-js';
import { createClient } from 'redis';
import { NearCache, type NearCacheHandle } from '../near-cache/near-cache.js';
import { Rng } from '../rng.js';

export type ReaderSystem = 'redis' | 'client-cache' | 'near-cache';

export interface ReaderData {
  readonly system: ReaderSystem;
  readonly url: string;
  /** The process's NearCache (system 'near-cache'). */
  readonly handle?: NearCacheHandle;
  /** Keys are `${prefix}${i}` for i < keys. */
  readonly prefix: string;
  readonly keys: number;
}

export type ReaderRequest =
  | { op: 'warm'; from: number; to: number }
  | { op: 'run'; ms: number; seed: number }
  | { op: 'stats' }
  | { op: 'close' };

export interface RunReply {
  reads: number;
  ns: number;
  hits: number;
  latency: string;
}

export interface StatsReply {
  entries: number;
  invalidations: number;
  heapUsed: number;
}

// The heap figures are taken after a full GC, so that they count what the caches hold, not garbage.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** This thread's heap after a full GC, bytes. */
function heapUsed(): number {
  gc();
  return process.memoryUsage().heapUsed;
}

interface Reader {
  get(key: string): Promise<unknown>;
  /** Reads served from this system's cache so far. */
  hits(): number;
  stats(): StatsReply;
  close(): Promise<void>;
}

async function plainReader(url: string): Promise<Reader> {
  const client = createClient({ url, socket: { reconnectStrategy: false } });
  client.on('error', () => {});
  await client.connect();
  return {
    get: (key) => client.get(key),
    hits: () => 0,
    stats: () => ({ entries: 0, invalidations: 0, heapUsed: heapUsed() }),
    close: async () => client.destroy(),
  };
}

async function clientCacheReader(url: string, keys: number): Promise<Reader> {
  const client = createClient({
    url,
    RESP: 3,
    clientSideCache: { maxEntries: keys, evictPolicy: 'LRU' },
    socket: { reconnectStrategy: false },
  });
  client.on('error', () => {});
  await client.connect();
  const cache = client.clientSideCache!;
  let invalidations = 0;
  (cache as unknown as NodeJS.EventEmitter).on('invalidate', () => invalidations++);
  return {
    get: (key) => client.get(key),
    hits: () => cache.stats().hitCount,
    stats: () => ({ entries: cache.size(), invalidations, heapUsed: heapUsed() }),
    close: async () => client.destroy(),
  };
}

async function nearCacheReader(handle: NearCacheHandle): Promise<Reader> {
  const cache = await NearCache.attach<string>(handle);
  return {
    get: (key) => cache.get(key),
    hits: () => cache.stats().hits,
    stats: () => ({ entries: cache.map.size, invalidations: 0, heapUsed: heapUsed() }),
    close: () => cache.close(),
  };
}

async function main(): Promise<void> {
  const data = workerData as ReaderData;
  const port = parentPort!;
  const reader =
    data.system === 'redis'
      ? await plainReader(data.url)
      : data.system === 'client-cache'
        ? await clientCacheReader(data.url, data.keys)
        : await nearCacheReader(data.handle!);
  port.on('message', (msg: ReaderRequest) => {
    void handle(msg).then(
      (reply) => port.postMessage(reply),
      (err: unknown) => port.postMessage({ error: String(err) }),
    );
  });
  port.postMessage({ ready: true });

  async function handle(msg: ReaderRequest): Promise<unknown> {
    switch (msg.op) {
      case 'warm':
        for (let i = msg.from; i < msg.to; i++) await reader.get(data.prefix + i);
        return { heapUsed: heapUsed() };
      case 'run':
        return run(msg.ms, msg.seed);
      case 'stats':
        return reader.stats();
      case 'close':
        await reader.close();
        return { closed: true };
    }
  }

  async function run(ms: number, seed: number): Promise<RunReply> {
    const random = new Rng(seed);
    const next = (): number => random.next();
    const hist = hdr.build({ lowestDiscernibleValue: 1, numberOfSignificantValueDigits: 3, autoResize: true });
    const hits0 = reader.hits();
    const start = performance.now();
    const end = start + ms;
    let reads = 0;
    let t = start;
    while (t < end) {
      const key = data.prefix + Math.floor(next() * data.keys);
      const v = await reader.get(key);
      if (typeof v !== 'string') throw new Error(`${data.system}: ${key} read ${String(v)}, not its value`);
      const after = performance.now();
      hist.recordValue(Math.max(1, Math.round((after - t) * 1e6)));
      t = after;
      reads++;
    }
    const latency = hdr.encodeIntoCompressedBase64(hist);
    hist.destroy();
    return { reads, ns: (t - start) * 1e6, hits: reader.hits() - hits0, latency };
  }
}

await main();

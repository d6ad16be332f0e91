/**
 * NearCache: one SharedMap per process as the near cache of Redis (or
 * Valkey) for all of the process's threads, kept coherent by the server's
 * invalidation messages (`CLIENT TRACKING`).
 *
 * # Glossary
 *
 * - **data connection**: each handle's own connection, for GET / SET / DEL;
 *   on a Redis Cluster, node-redis's cluster client, which routes each key
 *   to its slot's master.
 * - **invalidation connection** (the *link*): one per process, held by one
 *   thread (the *owner*), subscribed to `__redis__:invalidate` (RESP2). The
 *   server sends it the name of every key that changed and that this process
 *   may hold; the owner deletes that key from the map, for every thread at
 *   once. On a cluster the link is one such connection per master (each
 *   master announces only the writes of its own slots), plus one that polls
 *   `CLUSTER SLOTS` every TOPOLOGY_POLL_MS: a changed slot map (a failover,
 *   a slot moved) drops them all, like a lost connection, and the next
 *   attempt follows the new map.
 * - **mode**: `'default'`: the server remembers which keys each data
 *   connection read (`CLIENT TRACKING ON REDIRECT <link id>` on every data
 *   connection) and sends invalidations only for those. `'bcast'`: the link
 *   itself asks for every key under `prefixes` (`CLIENT TRACKING ON REDIRECT
 *   <its own id> BCAST PREFIX ...`); the server keeps no memory per key and
 *   data connections track nothing. A cluster takes `'bcast'` only: default
 *   mode would need tracking switched on in each thread's connection to
 *   every master, which node-redis's cluster client keeps to itself.
 * - **flush**: `C_EPOCH += 1`, then `map.clear()`. Done whenever
 *   invalidations may have been lost: the link dropped (on a cluster: any of
 *   its connections, or the slot map changed), the owner changed,
 *   the server said so (a null invalidation, e.g. FLUSHALL), or (default
 *   mode) a data connection that tracked keys went away: its thread closed,
 *   died, or its connection dropped, and the server forgets what it read.
 * - **fetch version**: `stripe(k)`'s word in the control block (control.ts),
 *   +1 by every invalidation of a key in that stripe *before* the key is
 *   deleted.
 *
 * # The near-cache race, and how a fetch installs
 *
 * Thread A misses k and sends GET k; Redis answers the old value; k is then
 * written and its invalidation applied (the map had no k to delete); A now
 * stores the old value it fetched: a stale entry that no invalidation will
 * ever remove (the server sent its one invalidation already). So a fetch:
 *
 * 1. loads the epoch e0 and its key's fetch version s0, and notes whether the
 *    link is up (a fetch while it is down only reads through);
 * 2. (default mode) makes sure its data connection tracks into the current
 *    link, on the same socket, before the GET is sent (commands on one socket
 *    are served in order, so the GET is tracked);
 * 3. sends GET k;
 * 4. installs with `map.update`, whose function runs under k's shard lock and
 *    declines unless the fetch version is still s0, the epoch still e0 and
 *    the link still up.
 *
 * An invalidation bumps the version, then deletes k under the same shard
 * lock. If the install ran first, the delete removes it; if the delete (or
 * just the bump) ran first, the install sees the version moved and declines.
 * A flush works the same way with the epoch and `clear()`. Versions are
 * striped (STRIPES words): two keys sharing a stripe only cost a declined
 * install, never a stale one.
 *
 * # What a read may return
 *
 * A value that Redis held at some moment after the read's start minus the
 * staleness bound: the time from a write's acknowledgement to its
 * invalidation applied here (a round trip on loopback plus the owner's event
 * loop delay). The owner must keep its event loop free; a thread whose
 * heartbeat stops for `ownerTimeoutMs` is taken to be gone: another thread
 * takes over the link and flushes. While the link is down, reads go to
 * Redis and nothing is installed.
 *
 * # Threads
 *
 * Every handle holds a thread slot (control.ts) with a heartbeat written
 * every BEAT_MS by its event loop. The owner scans the slots; in default mode
 * a slot whose heartbeat stopped means the server may have forgotten keys
 * that thread read (its connection closes when it dies), so the owner
 * flushes. A death learnt sooner takes the same step at once: every handle
 * registers `threadGone` with `onThreadDeath`, so `cache.watch(pool)`, or any
 * `map.watch(pool)` in a thread holding a handle, hands the link over on the
 * dead worker's 'exit' event instead of after `ownerTimeoutMs` of silence.
 */
import { threadId, type Worker } from 'node:worker_threads';
import { SharedMap } from '../shm/map.js';
import { onThreadDeath, type WorkerPoolLike } from '../shm/watch.js';
import { describe } from '../shm/codec.js';
import {
  InvalidHandleError,
  InvalidOptionError,
  KeyTooLongError,
  MapFullError,
  NearCacheError,
  ShmapTypeError,
  ValueTooLargeError,
} from '../shm/errors.js';
import type { SharedMapHandle, ValueType } from '../shm/types.js';
import { loadRedis, type RedisClient, type RedisModule } from './client.js';
import {
  Control,
  C_EPOCH,
  C_FLUSHES,
  C_INVALIDATIONS,
  C_LINK_GEN,
  C_OWNER,
  C_RECONNECTS,
  C_STATE,
  C_TAKEOVERS,
  C_THREADS_LOST,
  C_TOPOLOGY,
  LINK_DOWN,
  LINK_UP,
  MAX_THREADS,
  stripeOf,
} from './control.js';
import { textCodec, type TextCodec } from './text.js';

export type NearCacheMode = 'default' | 'bcast';

export interface NearCacheOptions {
  /** The server, `redis://host:port` (node-redis URL syntax). */
  url: string;
  /** Key type: `'string:N'` (N: most UTF-8 bytes a cached key has). Default `'string:64'`. */
  key?: `string:${number}`;
  /** Value type: `'string:N'`, `'json:N'`, `'int32'`, `'uint32'`, `'float64'` or `'bigint64'`. Default `'string:256'`. How each is written in Redis: see text.ts. */
  value?: ValueType;
  /** Most entries the near cache holds; a fetch that finds it full reads through without caching. */
  capacity: number;
  /** Entries also expire this long after they were fetched (a safety net; invalidation is what keeps the cache right). */
  ttlMs?: number;
  /** `'default'` (the server remembers what this process read) or `'bcast'` (every key under `prefixes`). Default: `'bcast'` when `prefixes` is given, else `'default'`. */
  mode?: NearCacheMode;
  /** With `mode: 'bcast'`: key prefixes to be told about. Default `['']` (every key). */
  prefixes?: string[];
  /** A thread whose heartbeat stopped this long is taken to be gone. Default 2000. */
  ownerTimeoutMs?: number;
}

/** What `NearCache.attach` takes in another thread; structured-clonable. */
export interface NearCacheHandle {
  readonly nearCache: 1;
  readonly map: SharedMapHandle;
  readonly control: SharedArrayBuffer;
  readonly url: string;
  readonly value: string;
  readonly mode: NearCacheMode;
  readonly prefixes: readonly string[];
  readonly ownerTimeoutMs: number;
  /** Whether `url` is a Redis Cluster node (found at create): data through node-redis's cluster client, one invalidation connection per master. */
  readonly cluster: boolean;
}

export interface NearCacheStats {
  /** This handle's reads served from the shared map, and read from Redis. */
  hits: number;
  misses: number;
  /** This handle's fetches installed into the map, and declined because an invalidation or flush came in between. */
  installs: number;
  declined: number;
  /** Process-wide: keys invalidated, flushes, link takeovers, threads found gone, link reconnects, cluster slot-map changes seen. */
  invalidations: number;
  flushes: number;
  takeovers: number;
  threadsLost: number;
  reconnects: number;
  topologyChanges: number;
  /** Whether the invalidation connection is up (reads may be served from the map). */
  live: boolean;
  /** threadId of the thread holding the invalidation connection, or -1. */
  owner: number;
  /** Entries in the map, and the bytes of its buffer. */
  entries: number;
  bytes: number;
}

/** Heartbeat period of every handle's thread, ms. */
const BEAT_MS = 100;
/** Reconnect back-off of the invalidation connection: first delay and cap, ms. */
const BACKOFF_FIRST_MS = 50;
const BACKOFF_MAX_MS = 2000;
/** Thrown inside `map.update` to decline an install (update changes nothing when its function throws). */
const DECLINED = Symbol('declined');

/** @internal Test seams: the forced-race test runs code between a fetch's GET and its install. */
export interface NearCacheTestHooks {
  afterFetch?: (key: string) => Promise<void>;
  /** The negative control: install fetched values without the fetch-version check. */
  unsafeSkipFetchCheck?: boolean;
  /** Called in the owner's thread after each invalidation from the server is applied (the stress run times them). */
  onInvalidate?: (key: string) => void;
  /** The negative control of the cluster: an invalidation connection to the configured node only, not to every master. */
  unsafeOneMaster?: boolean;
}

function positive(v: unknown, option: string): number {
  if (typeof v !== 'number' || !(v > 0) || v === Infinity)
    throw new InvalidOptionError(`options.${option} must be a positive number, got ${describe(v)}`);
  return v;
}

function checkOptions(options: NearCacheOptions): Omit<NearCacheHandle, 'map' | 'control' | 'nearCache' | 'cluster'> & {
  key: string;
} {
  if (options === null || typeof options !== 'object')
    throw new InvalidOptionError(`options must be an object, got ${describe(options)}`);
  const { url } = options;
  if (typeof url !== 'string' || !/^rediss?:\/\//.test(url))
    throw new InvalidOptionError(`options.url must be a redis:// URL string, got ${describe(url)}`);
  const key = options.key ?? 'string:64';
  if (typeof key !== 'string' || !/^string:\d+$/.test(key))
    throw new InvalidOptionError(`options.key must be 'string:N' (Redis keys are strings), got ${describe(key)}`);
  const value = options.value ?? 'string:256';
  textCodec(value as string);
  if (options.capacity === undefined) throw new InvalidOptionError('options.capacity is required');
  const prefixes = options.prefixes;
  if (prefixes !== undefined && (!Array.isArray(prefixes) || !prefixes.every((p) => typeof p === 'string')))
    throw new InvalidOptionError(`options.prefixes must be an array of strings, got ${describe(prefixes)}`);
  const mode = options.mode ?? (prefixes !== undefined ? 'bcast' : 'default');
  if (mode !== 'default' && mode !== 'bcast')
    throw new InvalidOptionError(`options.mode must be 'default' or 'bcast', got ${describe(mode)}`);
  if (mode === 'default' && prefixes !== undefined)
    throw new InvalidOptionError("options.prefixes needs options.mode 'bcast'");
  if (options.ttlMs !== undefined) positive(options.ttlMs, 'ttlMs');
  const ownerTimeoutMs =
    options.ownerTimeoutMs === undefined ? 2000 : positive(options.ownerTimeoutMs, 'ownerTimeoutMs');
  return { url, key, value, mode, prefixes: prefixes ?? (mode === 'bcast' ? [''] : []), ownerTimeoutMs };
}

export class NearCache<V = unknown> {
  /** What another thread passes to `NearCache.attach`. */
  readonly handle: NearCacheHandle;
  /** The shared map itself (read-only use: writes go through the cache). */
  readonly map: SharedMap<string, V>;
  /** @internal */ readonly ctl: Control;
  /** @internal */ testHooks: NearCacheTestHooks = {};
  private readonly codec: TextCodec;
  /** Most UTF-8 bytes of a key ('string:N'). */
  private readonly keyBytes: number;
  private readonly redis: RedisModule;
  private readonly me = threadId + 1;
  private data!: DataClient;
  /** Bumped when this handle's data connection drops; a GET installs only if its socket did not change. */
  private sockGen = 0;
  /** The link generation and socket generation this data connection tracks into (default mode); -1 none. */
  private trackedGen = -1;
  private trackedSock = -1;
  private slot = -1;
  private timer: ReturnType<typeof setInterval> | undefined;
  private unhookDeath: (() => void) | undefined;
  private link: Link | undefined;
  private closed = false;
  private sweptAt = 0;
  private readonly counts = { hits: 0, misses: 0, installs: 0, declined: 0 };

  private constructor(handle: NearCacheHandle, redis: RedisModule) {
    this.handle = handle;
    this.redis = redis;
    this.map = SharedMap.attach<string, V>(handle.map);
    this.ctl = new Control(handle.control);
    this.codec = textCodec(handle.value);
    this.keyBytes = Number(this.map.types.key.slice('string:'.length));
  }

  /** Creates the shared map and the process's invalidation connection; resolves once invalidations flow. */
  static async create<V = unknown>(options: NearCacheOptions): Promise<NearCache<V>> {
    const o = checkOptions(options);
    const redis = await loadRedis();
    const cluster = await isClusterNode(redis, o.url);
    if (cluster && o.mode === 'default')
      throw new NearCacheError(
        `NearCache: ${o.url} is a Redis Cluster node, which needs mode 'bcast' (give options.prefixes, or options.mode 'bcast'): default-mode tracking would have to be switched on in every master's connection of every thread`,
      );
    const map = SharedMap.create({
      key: o.key as `string:${number}`,
      value: o.value as ValueType,
      capacity: options.capacity,
      maxCapacity: options.capacity,
      ttl: options.ttlMs !== undefined,
      defaultTtlMs: options.ttlMs,
    });
    const handle: NearCacheHandle = {
      nearCache: 1,
      map: map.handle,
      control: Control.create().sab,
      url: o.url,
      value: o.value,
      mode: o.mode,
      prefixes: o.prefixes,
      ownerTimeoutMs: o.ownerTimeoutMs,
      cluster,
    };
    const cache = new NearCache<V>(handle, redis);
    await cache.open(true);
    return cache;
  }

  /** A handle on an existing near cache, in any thread of the process that created it. */
  static async attach<V = unknown>(handle: NearCacheHandle): Promise<NearCache<V>> {
    if (handle === null || typeof handle !== 'object' || handle.nearCache !== 1 || !Control.fits(handle.control))
      throw new InvalidHandleError(`NearCache.attach needs a handle from cache.handle, got ${describe(handle)}`);
    const redis = await loadRedis();
    const cache = new NearCache<V>(handle, redis);
    await cache.open(false);
    return cache;
  }

  private async open(owner: boolean): Promise<void> {
    this.slot = this.ctl.claimSlot(this.me);
    if (this.slot < 0) throw new NearCacheError(`NearCache: more than ${MAX_THREADS} handles at once`);
    try {
      this.data = await this.connectData();
      if (owner && Atomics.compareExchange(this.ctl.i32, C_OWNER, 0, this.me) === 0) {
        this.link = new Link(this);
        await this.link.start(true);
      }
    } catch (err) {
      await this.close();
      throw err;
    }
    this.timer = setInterval(() => this.tick(), BEAT_MS);
    this.timer.unref();
    this.unhookDeath = onThreadDeath((id) => this.threadGone(id));
  }

  /** This handle's data connection: a client of the server, or node-redis's cluster client (which routes each key to its slot's master). */
  private async connectData(): Promise<DataClient> {
    let connected = false;
    const url = this.handle.url;
    const options = {
      RESP: 2 as const,
      disableOfflineQueue: true,
      socket: {
        connectTimeout: 5000,
        // Before the first connection: give up after a few tries, so create/attach fail with a clear error.
        reconnectStrategy: (retries: number, cause: Error) =>
          !connected && retries >= 3 ? cause : Math.min(BACKOFF_FIRST_MS << Math.min(retries, 10), BACKOFF_MAX_MS),
      },
    };
    const client = this.handle.cluster
      ? this.redis.createCluster({ rootNodes: [{ url }], defaults: options })
      : this.redis.createClient({ url, ...options });
    client.on('error', () => this.dataLost());
    client.on('reconnecting', () => this.dataLost());
    try {
      await client.connect();
    } catch (err) {
      throw serverError(url, 'connect', undefined, err);
    }
    connected = true;
    return client as unknown as DataClient;
  }

  /** This handle's data connection dropped: a new socket, and (default mode) the keys the old one tracked are forgotten by the server. */
  private dataLost(): void {
    const hadTracking = this.trackedSock === this.sockGen;
    this.sockGen++;
    this.trackedSock = -1;
    if (hadTracking) this.flush();
  }

  // ---------------------------------------------------------------------------
  // Reads and writes.

  /** The value from the shared map when present, else from Redis (then cached for every thread); undefined when Redis has no such key. */
  async get(key: string): Promise<V | undefined> {
    this.checkOpen();
    this.checkKey(key);
    const v = this.map.get(key);
    if (v !== undefined && Atomics.load(this.ctl.i32, C_STATE) === LINK_UP) {
      this.counts.hits++;
      return v;
    }
    this.counts.misses++;
    return this.fetch(key);
  }

  private async fetch(key: string): Promise<V | undefined> {
    const ctl = this.ctl;
    const stripe = stripeOf(key);
    const epoch = ctl.load(C_EPOCH);
    const version = ctl.stripeVersion(stripe);
    let installable = ctl.load(C_STATE) === LINK_UP;
    if (installable && this.handle.mode === 'default') installable = await this.ensureTracking();
    const sock = this.sockGen;
    let text: string | null;
    try {
      text = await this.data.get(key);
    } catch (err) {
      throw serverError(this.handle.url, 'GET', key, err);
    }
    if (text === null) return undefined;
    const value = this.codec.decode(text, key) as V;
    if (this.testHooks.afterFetch !== undefined) await this.testHooks.afterFetch(key);
    if (installable && sock === this.sockGen && !this.closed) this.install(key, value, epoch, stripe, version);
    return value;
  }

  /** Default mode: this data connection tracks keys into the current link, on its current socket. */
  private async ensureTracking(): Promise<boolean> {
    const ctl = this.ctl;
    const gen = ctl.load(C_LINK_GEN);
    if (this.trackedGen === gen && this.trackedSock === this.sockGen) return true;
    const id = ctl.linkId;
    const sock = this.sockGen;
    try {
      await this.data.sendCommand(['CLIENT', 'TRACKING', 'ON', 'REDIRECT', String(id)]);
    } catch {
      return false; // the link is gone (the id no longer exists) or the socket dropped: read through
    }
    if (sock !== this.sockGen || ctl.load(C_LINK_GEN) !== gen) return false;
    this.trackedGen = gen;
    this.trackedSock = sock;
    return true;
  }

  /** Step 4 of the fetch: under k's shard lock, install only if nothing invalidated k or flushed since the fetch began. */
  private install(key: string, value: V, epoch: number, stripe: number, version: number): void {
    const ctl = this.ctl;
    const check = this.testHooks.unsafeSkipFetchCheck !== true;
    try {
      this.map.update(key, () => {
        if (
          check &&
          (ctl.stripeVersion(stripe) !== version || ctl.load(C_EPOCH) !== epoch || ctl.load(C_STATE) !== LINK_UP)
        )
          throw DECLINED;
        return value;
      });
      this.counts.installs++;
    } catch (err) {
      if (err === DECLINED) this.counts.declined++;
      else if (!(err instanceof MapFullError || err instanceof ValueTooLargeError)) throw err;
    }
  }

  /** Writes through to Redis (SET), then drops the key from the near cache. */
  async set(key: string, value: V): Promise<void> {
    this.checkOpen();
    this.checkKey(key);
    const text = this.codec.encode(value);
    try {
      await this.data.set(key, text);
    } catch (err) {
      throw serverError(this.handle.url, 'SET', key, err);
    }
    this.drop(key);
  }

  /** Deletes from Redis (DEL), then drops the key from the near cache; whether Redis had it. */
  async delete(key: string): Promise<boolean> {
    this.checkOpen();
    this.checkKey(key);
    let n: number;
    try {
      n = await this.data.del(key);
    } catch (err) {
      throw serverError(this.handle.url, 'DEL', key, err);
    }
    this.drop(key);
    return n > 0;
  }

  /** Invalidates one key locally: version first, then the delete (see the essay). */
  private drop(key: string): void {
    this.ctl.bumpStripe(stripeOf(key));
    try {
      this.map.delete(key);
    } catch (err) {
      if (!(err instanceof KeyTooLongError)) throw err; // a key too long to cache is not in the map
    }
  }

  /** @internal Applies one invalidation message from the server (the owner's link calls it). */
  invalidate(key: string): void {
    Atomics.add(this.ctl.i32, C_INVALIDATIONS, 1);
    this.drop(key);
    this.testHooks.onInvalidate?.(key);
  }

  /** Drops every entry, for every thread (any thread may call it). */
  flush(): void {
    this.ctl.bump(C_EPOCH);
    this.ctl.bump(C_FLUSHES);
    this.map.clear();
  }

  stats(): NearCacheStats {
    const ctl = this.ctl;
    const owner = ctl.load(C_OWNER);
    return {
      ...this.counts,
      invalidations: ctl.load(C_INVALIDATIONS),
      flushes: ctl.load(C_FLUSHES),
      takeovers: ctl.load(C_TAKEOVERS),
      threadsLost: ctl.load(C_THREADS_LOST),
      reconnects: ctl.load(C_RECONNECTS),
      topologyChanges: ctl.load(C_TOPOLOGY),
      live: ctl.load(C_STATE) === LINK_UP,
      owner: owner - 1,
      entries: this.map.size,
      bytes: this.map.stats().bytes,
    };
  }

  /** Whether this thread holds the invalidation connection. */
  get isOwner(): boolean {
    return this.link !== undefined && this.ctl.load(C_OWNER) === this.me;
  }

  // ---------------------------------------------------------------------------
  // Threads: heartbeats, the owner's watch over the others, takeover.

  /**
   * A thread of this process is gone (found by a heartbeat that stopped, or
   * told by whoever watches the threads). Frees its slot; in default mode
   * the server forgot the keys its connection read, so the cache is flushed;
   * if it held the invalidation connection, this thread takes over.
   */
  threadGone(goneThreadId: number): void {
    const ctl = this.ctl;
    const gone = goneThreadId + 1;
    if (this.closed || gone === this.me) return;
    for (let s = 0; s < MAX_THREADS; s++) {
      if (ctl.slotThread(s) === gone && ctl.releaseSlot(s, gone)) {
        ctl.bump(C_THREADS_LOST);
        if (this.handle.mode === 'default') this.flush();
      }
    }
    if (ctl.load(C_OWNER) === gone) this.claim(gone);
  }

  /**
   * Watches `target` (a Worker, or every worker of a piscina pool): when one
   * dies, the near cache's map is recovered (`map.watch`) and the death
   * handled at once (`threadGone`): if it held the invalidation connection,
   * this thread takes it over. Any `map.watch` in this thread does the same
   * for this cache. Returns the function that stops watching.
   */
  watch(target: Worker | WorkerPoolLike): () => void {
    this.checkOpen();
    return this.map.watch(target);
  }

  private tick(): void {
    if (this.closed) return;
    const ctl = this.ctl;
    if (ctl.slotThread(this.slot) !== this.me) {
      // Our heartbeat was taken for silence (a long blocking task): take a slot again.
      this.slot = ctl.claimSlot(this.me);
      if (this.slot < 0) return;
    }
    ctl.beat(this.slot);
    const owner = ctl.load(C_OWNER);
    if (owner === this.me) {
      this.scanThreads();
      this.sweepExpired();
    } else {
      if (this.link !== undefined) {
        // Another thread took over while this one was silent: let go without touching the shared state.
        this.link.stop();
        this.link = undefined;
      }
      if (owner === 0) this.claim(0);
      else if (this.silent(owner)) this.threadGone(owner - 1);
    }
  }

  /** Whether thread `t` (threadId + 1) has no slot or its heartbeat is older than ownerTimeoutMs. */
  private silent(t: number): boolean {
    const ctl = this.ctl;
    for (let s = 0; s < MAX_THREADS; s++) {
      if (ctl.slotThread(s) === t) return ((ctl.now() - ctl.slotBeat(s)) | 0) > this.handle.ownerTimeoutMs;
    }
    return true;
  }

  private scanThreads(): void {
    const ctl = this.ctl;
    for (let s = 0; s < MAX_THREADS; s++) {
      const t = ctl.slotThread(s);
      if (t !== 0 && t !== this.me && ((ctl.now() - ctl.slotBeat(s)) | 0) > this.handle.ownerTimeoutMs)
        this.threadGone(t - 1);
    }
  }

  private sweepExpired(): void {
    if (!this.map.ttl) return;
    const now = Date.now();
    if (now - this.sweptAt < 1000) return;
    this.sweptAt = now;
    this.map.sweepExpired();
  }

  /** Takes the invalidation connection over from `from` (threadId + 1, or 0 when nobody holds it). */
  private claim(from: number): void {
    const ctl = this.ctl;
    if (this.closed || Atomics.compareExchange(ctl.i32, C_OWNER, from, this.me) !== from) return;
    if (from !== 0) ctl.bump(C_TAKEOVERS);
    Atomics.store(ctl.i32, C_STATE, LINK_DOWN);
    this.flush();
    this.link = new Link(this);
    void this.link.start(false);
  }

  /** A key the map can hold: a string of at most N UTF-8 bytes (`options.key` 'string:N'). */
  private checkKey(key: string): void {
    if (typeof key !== 'string') throw new ShmapTypeError(`NearCache: a key must be a string, got ${describe(key)}`);
    if (Buffer.byteLength(key) > this.keyBytes)
      throw new KeyTooLongError(`NearCache: key ${describe(key)} is longer than ${this.keyBytes} UTF-8 bytes`);
  }

  private checkOpen(): void {
    if (this.closed) throw new NearCacheError('NearCache: this handle is closed');
  }

  /**
   * Closes this handle's connections. The owner hands the invalidation
   * connection over (another thread takes it at its next heartbeat); in
   * default mode the cache is flushed, as the server forgets what this
   * handle's connection read.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    this.unhookDeath?.();
    const ctl = this.ctl;
    if (this.link !== undefined) {
      this.link.stop();
      this.link = undefined;
      if (Atomics.compareExchange(ctl.i32, C_OWNER, this.me, 0) === this.me) {
        Atomics.store(ctl.i32, C_STATE, LINK_DOWN);
        this.flush();
      }
    }
    if (this.handle.mode === 'default' && this.trackedSock !== -1) this.flush();
    if (this.slot >= 0) ctl.releaseSlot(this.slot, this.me);
    if (this.data !== undefined) destroyQuietly(this.data);
  }

  /** @internal For the link. */
  get redisModule(): RedisModule {
    return this.redis;
  }

  /** @internal For the link: whether this handle still owns the link. */
  get owns(): boolean {
    return !this.closed && this.ctl.load(C_OWNER) === this.me;
  }
}

/** A server error as a NearCacheError naming the server, the command and the key. */
function serverError(url: string, what: string, key: string | undefined, err: unknown): NearCacheError {
  const msg = err instanceof Error ? err.message : String(err);
  return new NearCacheError(
    `NearCache: ${what}${key === undefined ? '' : ` ${describe(key)}`} at ${url} failed: ${msg}`,
  );
}

/**
 * What a handle needs of its data connection. Both node-redis clients have
 * it; `sendCommand` here is the single server's (default mode only, which a
 * cluster refuses).
 */
interface DataClient {
  get(key: string): Promise<string | null>;
  set(key: string, value: string): Promise<unknown>;
  del(key: string): Promise<number>;
  sendCommand(args: string[]): Promise<unknown>;
  destroy(): void;
}

/** Whether `url` is a Redis Cluster node (INFO cluster), asked over a connection of its own. */
async function isClusterNode(redis: RedisModule, url: string): Promise<boolean> {
  const client = redis.createClient({ url, RESP: 2, socket: { connectTimeout: 5000, reconnectStrategy: false } });
  client.on('error', () => {});
  try {
    await client.connect();
    return /^cluster_enabled:1\b/m.test(String(await client.info('cluster')));
  } catch (err) {
    throw serverError(url, 'INFO cluster', undefined, err);
  } finally {
    destroyQuietly(client);
  }
}

/** Closes a connection at once; one that is already closed is left as it is. */
function destroyQuietly(client: { destroy(): void }): void {
  try {
    client.destroy();
  } catch {
    /* already closed */
  }
}

/** How often the owner compares a cluster's slot map with the one its invalidation connections were opened for, ms. */
const TOPOLOGY_POLL_MS = 1000;

/** A cluster's slot map as `CLUSTER SLOTS` gives it: each range's master. */
interface SlotMap {
  /** The masters' URLs (the configured URL with each master's host and port). */
  masters: string[];
  /** Every node named (masters and replicas), tried in turn to learn the map after a failure. */
  nodes: string[];
  /** The map as a string, to tell a change: `start-end@host:port` per range, sorted. */
  layout: string;
}

/** Reads a `CLUSTER SLOTS` reply (RESP2: [start, end, [host, port, id], replicas...] per range). */
function slotMap(reply: unknown, url: string): SlotMap {
  const at = (node: unknown): string => {
    const [host, port] = node as [unknown, unknown];
    const u = new URL(url);
    if (typeof host === 'string' && host !== '' && host !== '?') u.hostname = host;
    u.port = String(port);
    return u.toString();
  };
  const ranges: string[] = [];
  const masters = new Set<string>();
  const nodes = new Set<string>();
  for (const r of reply as unknown[][]) {
    const master = at(r[2]);
    masters.add(master);
    for (const n of r.slice(2)) nodes.add(at(n));
    ranges.push(`${String(r[0])}-${String(r[1])}@${master}`);
  }
  return { masters: [...masters].sort(), nodes: [...nodes], layout: ranges.sort().join(' ') };
}

/**
 * The invalidation connections, held by the owner thread: one to the server,
 * or, on a cluster, one to each master (each announces only the writes of
 * its own slots), plus one that polls the slot map. Any of them dropping, or
 * the slot map changing (a failover, a slot moved), drops them all: link
 * down, flush (reads go to Redis), then reconnect with back-off, learning
 * the slot map afresh.
 */
class Link {
  /** Connections of the current attempt; each attempt has its own `token`, so a late event of an older one is ignored. */
  private clients: RedisClient[] = [];
  private token = 0;
  private stopped = false;
  private failures = 0;
  private retry: ReturnType<typeof setTimeout> | undefined;
  /** Cluster: the slot map the connections were opened for, the connection polling it, and every node seen. */
  private layout = '';
  private topology: RedisClient | undefined;
  private poll: ReturnType<typeof setInterval> | undefined;
  private known: string[] = [];

  constructor(private readonly cache: NearCache) {}

  /** Connects (retrying with back-off); `once`: the first failure rejects instead (create reports it). */
  async start(once: boolean): Promise<void> {
    try {
      await this.connect();
    } catch (err) {
      if (once) {
        this.stop();
        throw serverError(this.cache.handle.url, 'opening the invalidation connection', undefined, err);
      }
      this.abandon();
      this.scheduleRetry();
    }
  }

  /** A connection of the current attempt, not yet watched. */
  private async open(url: string): Promise<RedisClient> {
    const client = this.cache.redisModule.createClient({
      url,
      RESP: 2,
      socket: { connectTimeout: 5000, reconnectStrategy: false },
    });
    client.on('error', () => {});
    this.clients.push(client);
    await client.connect();
    return client;
  }

  /** From now on, `client` dropping drops the attempt `token`. */
  private watch(client: RedisClient, token: number): void {
    const onLost = (): void => this.lost(token, false);
    client.on('error', onLost);
    client.on('end', onLost);
  }

  private async connect(): Promise<void> {
    const token = ++this.token;
    const { url, mode, prefixes, cluster } = this.cache.handle;
    let masters = cluster ? (await this.learnSlots(token)).masters : [url];
    if (this.cache.testHooks.unsafeOneMaster === true) masters = masters.filter((m) => m === new URL(url).toString());
    let firstId = 0;
    for (const master of masters) {
      const client = await this.open(master);
      this.watch(client, token);
      const id = await client.clientId();
      if (firstId === 0) firstId = id;
      if (mode === 'bcast') {
        await client.sendCommand([
          'CLIENT',
          'TRACKING',
          'ON',
          'REDIRECT',
          String(id),
          'BCAST',
          ...prefixes.flatMap((p) => ['PREFIX', p]),
        ]);
      }
      await client.subscribe(
        '__redis__:invalidate',
        (message: unknown) => this.onMessage(token, message as Buffer[] | null),
        true,
      );
    }
    if (token !== this.token) return; // dropped meanwhile: lost() flushed and scheduled the next attempt
    if (this.stopped || !this.cache.owns) {
      this.stop();
      return;
    }
    const ctl = this.cache.ctl;
    ctl.linkId = firstId; // default mode, which only a single server has: the one connection's id
    ctl.bump(C_LINK_GEN);
    this.failures = 0;
    if (cluster) {
      this.poll = setInterval(() => void this.checkSlots(token), TOPOLOGY_POLL_MS);
      this.poll.unref();
    }
    Atomics.store(ctl.i32, C_STATE, LINK_UP);
  }

  /** Cluster: the slot map, from the configured node or else any node seen before; keeps the connection that asked for polling. */
  private async learnSlots(token: number): Promise<SlotMap> {
    const url = this.cache.handle.url;
    let failure: unknown;
    for (const node of [url, ...this.known.filter((n) => n !== url)]) {
      try {
        const client = await this.open(node);
        const map = slotMap(await client.sendCommand(['CLUSTER', 'SLOTS']), url);
        if (map.masters.length === 0) throw new Error('the cluster has no slots assigned');
        this.watch(client, token);
        this.topology = client;
        this.layout = map.layout;
        this.known = map.nodes;
        return map;
      } catch (err) {
        failure = err;
      }
    }
    throw failure;
  }

  /** Cluster: a changed slot map drops the connections (flush), and the next attempt follows the new map. */
  private async checkSlots(token: number): Promise<void> {
    const client = this.topology;
    if (client === undefined || token !== this.token) return;
    let map: SlotMap;
    try {
      map = slotMap(await client.sendCommand(['CLUSTER', 'SLOTS']), this.cache.handle.url);
    } catch {
      return; // a dropped connection is reported by its own events
    }
    if (token === this.token && map.layout !== this.layout) this.lost(token, true);
  }

  private onMessage(token: number, keys: Buffer[] | null): void {
    if (this.stopped || token !== this.token) return;
    if (keys === null || !Array.isArray(keys)) {
      this.cache.flush(); // the server dropped everything (FLUSHALL, FLUSHDB) or could not say what
      return;
    }
    for (const k of keys) this.cache.invalidate(k.toString());
  }

  /** A connection of attempt `token` dropped, or the slot map changed: link down, flush, reconnect later. */
  private lost(token: number, topologyChanged: boolean): void {
    if (this.stopped || token !== this.token) return;
    this.abandon();
    if (!this.cache.owns) return;
    const ctl = this.cache.ctl;
    if (topologyChanged) ctl.bump(C_TOPOLOGY);
    if (Atomics.exchange(ctl.i32, C_STATE, LINK_DOWN) === LINK_UP) {
      this.cache.flush();
      ctl.bump(C_RECONNECTS);
    }
    this.scheduleRetry();
  }

  /** One retry timer at a time: a failed connect may be reported both by its 'error' event and by its rejection. */
  private scheduleRetry(): void {
    if (this.stopped || this.retry !== undefined || !this.cache.owns) return;
    const delay = Math.min(BACKOFF_FIRST_MS << Math.min(this.failures++, 10), BACKOFF_MAX_MS);
    this.retry = setTimeout(
      () => {
        this.retry = undefined;
        if (this.stopped || !this.cache.owns) return;
        this.connect().catch(() => {
          this.abandon();
          this.scheduleRetry();
        });
      },
      delay * (0.75 + Math.random() / 2),
    );
    this.retry.unref();
  }

  stop(): void {
    this.stopped = true;
    if (this.retry !== undefined) clearTimeout(this.retry);
    this.abandon();
  }

  /** Gives up the current attempt: its late events are ignored, its connections closed. */
  private abandon(): void {
    this.token++;
    this.dropClients();
  }

  /** Closes every connection of the current attempt and stops polling. */
  private dropClients(): void {
    if (this.poll !== undefined) clearInterval(this.poll);
    this.poll = undefined;
    this.topology = undefined;
    const clients = this.clients;
    this.clients = [];
    for (const c of clients) destroyQuietly(c);
  }
}

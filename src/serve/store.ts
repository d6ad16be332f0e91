/**
 * Where `serve` keeps sessions, seen from one handler thread: the shared map
 * with the cleanup strategy `--cleanup` names (SharedStore), and the two
 * peers `bench http` compares it with: a private Map per thread (MapStore:
 * not shared, so a request that lands on another thread misses) and Redis
 * (RedisStore: one client per thread, sessions with a PX expiry).
 *
 * A session is `{ data, seen, hits }`: the PUT body, the shared-clock time
 * (integer ms) it was last written or touched, and how many touches it had.
 * It is stale once `now - seen > staleMs`; a stale session is absent to GET
 * and touch in every strategy (whether or not a cleaner has removed it yet),
 * so what a client reads does not depend on when the cleaner ran.
 *
 * How each strategy's threads share the work (SharedStore):
 *   range-delete    every --range-every-th request of a thread first ranges
 *                   over the map (`for...of`) and deletes stale sessions. With
 *                   sync 'lock' a concurrent write fails the range with
 *                   ConcurrentMapIterationError (the request is answered 500
 *                   and changes nothing; the map records the conflict); with
 *                   sync 'none' (onConflict 'record') Go's conflicts are
 *                   recorded and writes can be lost.
 *   stop-the-world  the same range, holding the world lock (world-lock.ts)
 *                   exclusively; every other request holds it shared around
 *                   its map operation.
 *   sweep / lease   the cleaner thread runs `map.sweep(stale)`; on a leases
 *                   map that retires a session a GET still holds (across its
 *                   --work-ms), and the GET's `release` removes it.
 *   ttl             the map keeps an expiry (defaultTtlMs = staleMs, renewed by
 *                   every write); the cleaner thread runs the sweeper loop
 *                   (the one src/workers/sweeper runs), which reclaims
 *                   expired slots.
 *   delete-queue    a GET that meets a stale session enqueues its id; the
 *                   cleaner thread drains the queue, deleting each id only if
 *                   its session is still stale.
 *   rebuild         two maps; the epoch word says which is current. The
 *                   cleaner thread takes the world lock exclusively (writers
 *                   hold it shared, so writes wait; reads take nothing),
 *                   copies the fresh sessions of the current map into the
 *                   other one (cleared first), and bumps the epoch. A reader
 *                   reads the epoch, reads that map, and retries if the epoch
 *                   moved meanwhile (the map it read may be the one being
 *                   cleared). No write can land in the old map after the copy
 *                   read it, so nothing is lost; the price is that writes stall
 *                   for the length of a copy.
 */
import type { SharedMapHandle } from '../shm/types.js';
import { SharedMap } from '../shm/map.js';
import { ConcurrentMapIterationError, ConcurrentMapReadError, ConcurrentMapWriteError } from '../shm/errors.js';
import { DeleteQueue, type DeleteQueueHandle } from '../shm/patterns/delete-queue.js';
import { sharedNow } from '../shm/patterns/ttl.js';
import { formatConflicts } from '../race/report.js';
import { enterShared, exitShared, resumeTheWorld, stopTheWorld, WORLD_LOCK_WORDS } from '../bench/world-lock.js';
import { C, type ThreadCounters } from './counters.js';
import { ENVELOPE_BYTES, type ServeOptions } from './options.js';

export interface Session {
  data: unknown;
  seen: number;
  hits: number;
}

/** What every thread of the server receives (structured-clonable). */
export interface ServeShared {
  options: ServeOptions;
  /** The map(s): one, or two for rebuild. Absent for the peers. */
  maps: SharedMapHandle[];
  queue?: DeleteQueueHandle;
  /** Control words: see CTL. */
  control: SharedArrayBuffer;
  counters: SharedArrayBuffer;
}

/** Control block words (Int32 indexes). */
export const CTL = {
  /** The world lock (stop-the-world; rebuild's writers' gate): WORLD_LOCK_WORDS words. */
  WORLD_I32: 0,
  /** rebuild: the current map is maps[epoch & 1]. Written by the cleaner thread with Atomics.store under the world lock; read by every handler with Atomics.load. */
  EPOCH_I32: WORLD_LOCK_WORDS,
  /** dispatch mode: handler threads that opened their store (Atomics.add by each once, read by the main thread before it listens). */
  READY_I32: WORLD_LOCK_WORDS + 1,
  /** dispatch mode: handler threads that failed to open their store (Atomics.add, same reader). */
  FAILED_I32: WORLD_LOCK_WORDS + 2,
  BYTES: 64,
} as const;

/** Integer ms on the shared clock. */
export function nowMs(): number {
  return Math.floor(sharedNow());
}

export function isStale(s: Session, now: number, staleMs: number): boolean {
  return now - s.seen > staleMs;
}

/** The map(s) of a shmap-backed server, created once in the main thread. */
export function createMaps(o: ServeOptions): { maps: SharedMap<string, Session>[]; queue?: DeleteQueue<string> } {
  const one = () =>
    SharedMap.create<string, Session>({
      key: `string:${o.idBytes}`,
      value: `json:${o.valueBytes + ENVELOPE_BYTES}`,
      capacity: o.capacity,
      sync: o.sync,
      onConflict: o.sync === 'none' ? 'record' : 'throw',
      ttl: o.cleanup === 'ttl',
      ...(o.cleanup === 'ttl' ? { defaultTtlMs: o.staleMs } : {}),
      leases: o.cleanup === 'lease',
      // GET /metrics: operations, hot keys and the delete queue's keys, counted by every thread.
      metrics: true,
    });
  const maps = o.cleanup === 'rebuild' ? [one(), one()] : [one()];
  const queue =
    o.cleanup === 'delete-queue'
      ? DeleteQueue.create<string>({ capacity: o.queueCapacity, key: `string:${o.idBytes}` })
      : undefined;
  return queue === undefined ? { maps } : { maps, queue };
}

/** A session store as one handler thread uses it. */
export interface Store {
  get(id: string): Promise<Session | undefined>;
  put(id: string, data: unknown): Promise<Session>;
  touch(id: string): Promise<Session | undefined>;
  delete(id: string): Promise<boolean>;
  /** For GET /stats: the store's own figures. */
  stats(): Promise<Record<string, unknown>>;
  /** For GET /conflicts. */
  conflictsText(): string;
  /** The shared map(s), for GET /metrics (absent for the peers). */
  readonly maps?: readonly SharedMap<string, Session>[];
  close(): Promise<void>;
}

/** Thrown inside `update` to leave a stale session as it is (update changes nothing when its function throws). */
class StaleSession extends Error {}
const STALE = new StaleSession('stale');

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class SharedStore implements Store {
  readonly maps: SharedMap<string, Session>[];
  private readonly queue: DeleteQueue<string> | undefined;
  private readonly ctl: Int32Array;
  private readonly o: ServeOptions;
  private requests = 0;

  constructor(
    shared: ServeShared,
    private readonly counters: ThreadCounters,
  ) {
    this.o = shared.options;
    this.maps = shared.maps.map((h) => SharedMap.attach<string, Session>(h));
    // The handlers' enqueues (and refusals of a full queue) count in the map's metrics.
    this.queue =
      shared.queue === undefined ? undefined : DeleteQueue.attach<string>(shared.queue).countIn(this.maps[0]!);
    this.ctl = new Int32Array(shared.control);
  }

  /** The map reads and writes go to (rebuild: the epoch's). */
  private current(): SharedMap<string, Session> {
    return this.maps.length === 1 ? this.maps[0]! : this.maps[Atomics.load(this.ctl, CTL.EPOCH_I32) & 1]!;
  }

  /** Runs a map operation the way the strategy wants it guarded. */
  private guarded<T>(write: boolean, op: (map: SharedMap<string, Session>) => T): T {
    const cleanup = this.o.cleanup;
    if (cleanup === 'range-delete' || cleanup === 'stop-the-world') this.maybeRange();
    if (cleanup === 'stop-the-world' || (cleanup === 'rebuild' && write)) {
      enterShared(this.ctl, CTL.WORLD_I32);
      try {
        return op(this.current());
      } finally {
        exitShared(this.ctl, CTL.WORLD_I32);
      }
    }
    if (cleanup === 'rebuild') {
      // A read: validate against the epoch (the map read may be the one a rebuild is clearing).
      for (;;) {
        const epoch = Atomics.load(this.ctl, CTL.EPOCH_I32);
        const result = op(this.maps[epoch & 1]!);
        if (Atomics.load(this.ctl, CTL.EPOCH_I32) === epoch) return result;
      }
    }
    return op(this.maps[0]!);
  }

  /** range-delete / stop-the-world: every Nth request ranges over the map first. Throws what the range met. */
  private maybeRange(): void {
    if (++this.requests % this.o.rangeEvery !== 0) return;
    const map = this.maps[0]!;
    const stw = this.o.cleanup === 'stop-the-world';
    if (stw) stopTheWorld(this.ctl, CTL.WORLD_I32);
    const now = nowMs();
    let removed = 0;
    try {
      for (const [id, s] of map) {
        if (isStale(s, now, this.o.staleMs) && map.delete(id)) removed++;
      }
    } catch (err) {
      if (err instanceof ConcurrentMapIterationError) this.counters.add(C.ITERATION_ERRORS);
      throw err;
    } finally {
      if (stw) resumeTheWorld(this.ctl, CTL.WORLD_I32);
      this.counters.add(C.CLEANED, removed);
    }
  }

  async get(id: string): Promise<Session | undefined> {
    const o = this.o;
    if (o.cleanup === 'lease') {
      const map = this.maps[0]!;
      const s = map.acquire(id);
      if (s === undefined) return undefined;
      try {
        if (o.workMs > 0) await sleep(o.workMs);
      } finally {
        // The last release of a session the cleaner retired meanwhile removes it.
        if (map.release(id)) this.counters.add(C.CLEANED);
      }
      return isStale(s, nowMs(), o.staleMs) ? undefined : s;
    }
    const s = this.guarded(false, (map) => map.get(id));
    if (s !== undefined && isStale(s, nowMs(), o.staleMs)) {
      if (this.queue !== undefined) {
        if (this.queue.enqueue(id)) this.counters.add(C.ENQUEUED);
        else this.counters.add(C.ENQUEUE_FULL);
      }
      return undefined;
    }
    if (o.workMs > 0) await sleep(o.workMs);
    return s;
  }

  async put(id: string, data: unknown): Promise<Session> {
    const s: Session = { data, seen: nowMs(), hits: 0 };
    this.guarded(true, (map) => map.set(id, s));
    return s;
  }

  async touch(id: string): Promise<Session | undefined> {
    const staleMs = this.o.staleMs;
    try {
      return this.guarded(true, (map) =>
        map.update(id, (s) => {
          if (s === undefined) return undefined;
          const now = nowMs();
          if (isStale(s, now, staleMs)) throw STALE;
          return { data: s.data, seen: now, hits: s.hits + 1 };
        }),
      );
    } catch (err) {
      if (err === STALE) return undefined;
      throw err;
    }
  }

  async delete(id: string): Promise<boolean> {
    return this.guarded(true, (map) => map.delete(id));
  }

  async stats(): Promise<Record<string, unknown>> {
    const st = this.current().stats();
    return {
      count: st.count,
      capacity: st.capacity,
      tombstones: st.tombstones,
      bytes: st.bytes,
      shards: st.shards,
      lockWaits: st.lockWaits,
      readRetries: st.readRetries,
      conflicts: this.maps.reduce((n, m) => n + m.stats().conflicts + m.stats().conflictsOverflowed, 0),
      ...(this.maps.length > 1 ? { epoch: Atomics.load(this.ctl, CTL.EPOCH_I32) } : {}),
      ...(this.queue === undefined ? {} : { queue: this.queue.stats() }),
    };
  }

  conflictsText(): string {
    const records = this.maps.flatMap((m) => m.conflicts());
    return records.length === 0 ? 'no conflicts recorded\n' : formatConflicts(records);
  }

  async close(): Promise<void> {}
}

/** Is this error one of the race checker's (the map detected a concurrent access)? */
export function isConflictError(err: unknown): boolean {
  return (
    err instanceof ConcurrentMapIterationError ||
    err instanceof ConcurrentMapWriteError ||
    err instanceof ConcurrentMapReadError
  );
}

/**
 * The peer that does not share: a private Map in each thread. A request that
 * lands on another thread than the one that stored the session misses it.
 * Each thread drops its own stale sessions every --interval-ms.
 */
export class MapStore implements Store {
  private readonly sessions = new Map<string, Session>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly o: ServeOptions,
    private readonly counters: ThreadCounters,
  ) {
    this.timer = setInterval(() => {
      const now = nowMs();
      for (const [id, s] of this.sessions) {
        if (isStale(s, now, o.staleMs)) {
          this.sessions.delete(id);
          counters.add(C.CLEANED);
        }
      }
    }, o.intervalMs);
    this.timer.unref();
  }

  async get(id: string): Promise<Session | undefined> {
    const s = this.sessions.get(id);
    if (s === undefined || isStale(s, nowMs(), this.o.staleMs)) return undefined;
    if (this.o.workMs > 0) await sleep(this.o.workMs);
    return s;
  }
  async put(id: string, data: unknown): Promise<Session> {
    const s = { data, seen: nowMs(), hits: 0 };
    this.sessions.set(id, s);
    return s;
  }
  async touch(id: string): Promise<Session | undefined> {
    const s = this.sessions.get(id);
    const now = nowMs();
    if (s === undefined || isStale(s, now, this.o.staleMs)) return undefined;
    const next = { data: s.data, seen: now, hits: s.hits + 1 };
    this.sessions.set(id, next);
    return next;
  }
  async delete(id: string): Promise<boolean> {
    return this.sessions.delete(id);
  }
  async stats(): Promise<Record<string, unknown>> {
    return { count: this.sessions.size, note: 'this thread only: every thread has its own Map' };
  }
  conflictsText(): string {
    return 'no race checker: every thread has its own Map\n';
  }
  async close(): Promise<void> {
    clearInterval(this.timer);
  }
}

/** Touch in one round trip, atomic in Redis: seen = ARGV[1], hits + 1, expiry renewed to ARGV[2] ms. */
const TOUCH_LUA = `
local v = redis.call('GET', KEYS[1])
if not v then return false end
local s = cjson.decode(v)
s.seen = tonumber(ARGV[1])
s.hits = s.hits + 1
local out = cjson.encode(s)
redis.call('SET', KEYS[1], out, 'PX', ARGV[2])
return out`;

type RedisClient = ReturnType<typeof import('redis').createClient>;

/** The Redis peer: one client per thread; Redis expires sessions itself (PX --stale-ms). */
export class RedisStore implements Store {
  private constructor(
    private readonly client: RedisClient,
    private readonly o: ServeOptions,
  ) {}

  static async open(o: ServeOptions): Promise<RedisStore> {
    // Loaded only here: the library itself needs no redis client.
    const { createClient } = await import('redis');
    const client = createClient({ url: o.redisUrl });
    client.on('error', (err: unknown) => process.stderr.write(`serve: redis client: ${String(err)}\n`));
    await client.connect();
    return new RedisStore(client, o);
  }

  async get(id: string): Promise<Session | undefined> {
    const text = await this.client.get(id);
    if (text === null) return undefined;
    const s = JSON.parse(text) as Session;
    if (this.o.workMs > 0) await sleep(this.o.workMs);
    return s;
  }
  async put(id: string, data: unknown): Promise<Session> {
    const s = { data, seen: nowMs(), hits: 0 };
    await this.client.set(id, JSON.stringify(s), { expiration: { type: 'PX', value: this.o.staleMs } });
    return s;
  }
  async touch(id: string): Promise<Session | undefined> {
    const out = await this.client.eval(TOUCH_LUA, {
      keys: [id],
      arguments: [String(nowMs()), String(this.o.staleMs)],
    });
    return typeof out === 'string' ? (JSON.parse(out) as Session) : undefined;
  }
  async delete(id: string): Promise<boolean> {
    return (await this.client.del(id)) > 0;
  }
  async stats(): Promise<Record<string, unknown>> {
    const info = await this.client.info('stats');
    const expired = /expired_keys:(\d+)/.exec(info);
    return { count: await this.client.dbSize(), expiredKeys: expired === null ? 0 : Number(expired[1]) };
  }
  conflictsText(): string {
    return 'no race checker: sessions live in Redis\n';
  }
  async close(): Promise<void> {
    await this.client.close();
  }
}

export async function openStore(shared: ServeShared, counters: ThreadCounters): Promise<Store> {
  const o = shared.options;
  if (o.store === 'map') return new MapStore(o, counters);
  if (o.store === 'redis') return RedisStore.open(o);
  return new SharedStore(shared, counters);
}

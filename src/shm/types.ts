/**
 * The public types of shmap: options, handles, records and stats.
 *
 * This module has no runtime code; it is the contract the rest of the project
 * (stress runner, benchmarks, checkers) is written against.
 */
import type { WasmMemory } from './wasm-api.js';

/** Fixed-width key types. `string:N` / `bytes:N`: N is the maximum UTF-8 / byte length. */
export type KeyType = 'int32' | 'uint32' | 'float64' | 'bigint64' | `string:${number}` | `bytes:${number}`;
/** Value types: the key types plus `json:N` (JSON.stringify'd, at most N UTF-8 bytes). */
export type ValueType = KeyType | `json:${number}`;

export type SyncMode = 'lock' | 'none';
export type OnConflict = 'throw' | 'record';

export interface SharedMapOptions {
  /** Key type. Default `'int32'`. */
  key?: KeyType;
  /** Value type. Default `'float64'`. */
  value?: ValueType;
  /** Entries the map holds without growing. Default 1024. */
  capacity?: number;
  /**
   * Most entries the map may ever hold; sets the buffer's `maxByteLength` (address space reserved, not memory used).
   * Default: 1024 x `capacity`, at least 2^20 and at most 2^24 (or `capacity` when larger), as far as 2 GiB allows.
   */
  maxCapacity?: number;
  /** Shard count, a power of two. Default: 8 x available cores, rounded up to a power of two. */
  shards?: number;
  /** `'lock'` (default): per-shard mutex for writes, seqlock-validated reads. `'none'`: Go's unsynchronized map with its checks. */
  sync?: SyncMode;
  /** What a detected conflict does: `'throw'` (default) or `'record'` only. */
  onConflict?: OnConflict;
  /** Hash seed (int32). Default: random. */
  seed?: number;
  /** Records the conflict log keeps (more are counted as overflow). Default 256. */
  conflictLogSize?: number;
  /** Keep an expiry per entry (`set(k, v, { ttlMs })`, `sweepExpired`, `startSweeper`). Default false. */
  ttl?: boolean;
  /** With `ttl`: the expiry of entries written without a `ttlMs` of their own. Default: none (they never expire). */
  defaultTtlMs?: number;
  /** Keep a lease count per entry (`acquire`, `release`, `retire`). Default false. */
  leases?: boolean;
  /**
   * How long a thread waits for a shard's lock (a write, or a read that fell
   * back to the lock) before it throws LockTimeoutError, in ms. `Infinity`
   * waits forever. Default 10,000: a lock is held for microseconds, or for
   * the length of an `update` function or a shard's `sweep` predicates.
   */
  lockTimeoutMs?: number;
  /**
   * Count every thread's operations (`map.metrics()`) and sample them for
   * the hot-key sketch (`map.hotKeys(k)`). `true` takes the defaults. Off by
   * default: a map without it pays nothing on its operations.
   */
  metrics?: boolean | MetricsOptions;
}

/** The `metrics` create option as an object. */
export interface MetricsOptions {
  /**
   * Threads that count in a block of their own, with plain stores (default
   * 64, at most 1024). More threads than that count in one shared overflow
   * block with `Atomics.add`: still exact, slower. A block is given back
   * when its thread ends normally or `map.recover` runs for it.
   */
  threads?: number;
  /** Each thread samples one operation in this many, on average, for the hot-key sketch (default 1024). */
  sampleEvery?: number;
  /** Keys the hot-key sketch tracks (default 64, at most 1024): `hotKeys(k)` is reliable for k well below it. */
  hotKeys?: number;
}

/**
 * `map.metrics()`: every thread's operations since the map was made (threads
 * that died or exited included), summed when read. Each figure is exact once
 * the threads that made the operations have gone quiet; while they run, each
 * thread's counts are read as they were a moment ago.
 */
export interface SharedMapMetrics {
  gets: { hit: number; miss: number };
  has: { hit: number; miss: number };
  sets: { insert: number; overwrite: number };
  deletes: { hit: number; miss: number };
  /** Calls of each atomic operation (run under the shard lock). */
  atomic: { putIfAbsent: number; compareAndSet: number; update: number; add: number };
  clears: number;
  /** `sweep` calls, and the entries they removed or retired. */
  sweeps: number;
  swept: number;
  /** `sweepExpired` calls, and the expired entries they reclaimed. */
  expirySweeps: number;
  expired: number;
  leases: { acquire: number; release: number; retire: number };
  /**
   * Keys of the DeleteQueue handles that count in this map (`queue.countIn(map)`,
   * in each thread that uses the queue): accepted by `enqueue`/`enqueueWait`,
   * handed to `delete` by a drain, and refused because the queue was full.
   */
  queue: { enqueued: number; drained: number; fullRejections: number };
  /** Times a writer found its shard's lock taken (as in `stats()`). */
  lockWaits: number;
  /** Times a reader saw its shard change under it and read again (as in `stats()`). */
  readRetries: number;
  /**
   * Operations sampled for the hot-key sketch, in all and per shard
   * (`shardSamples[i]`): sampled, not counted. Each thread samples one of
   * its single-key operations (get, has, set, delete, the atomic ones, the
   * lease ones) in `sampleEvery` on average, at random gaps, and drops a
   * sample when another thread is sampling at that moment. So
   * `shardSamples[i] / samples` estimates shard i's share of the operations,
   * and `shardSamples[i] * sampleEvery` its operation count (low by the
   * dropped samples; the exact totals per kind are the fields above, not
   * split by shard).
   */
  samples: number;
  shardSamples: number[];
  /** Counter blocks in use by live threads (of `threads`), and whether any thread counts in the shared overflow block. */
  blocksInUse: number;
  overflowUsed: boolean;
}

/** One entry of `map.hotKeys(k)`. */
export interface HotKey {
  key: unknown;
  /** Estimated share of the sampled operations on this key (0..1); an overestimate by at most `error`. */
  share: number;
  error: number;
  shard: number;
}

/** Options of `map.set`. */
export interface SetOptions {
  /** The entry expires this many ms from now (maps created with `ttl: true`). */
  ttlMs?: number;
}

/** What `map.retire(k)` did: removed the entry at once, marked it for removal by its last `release`, or found no entry. */
export type RetireResult = 'removed' | 'deferred' | 'absent';

/** What `SharedMap.attach` takes. Structured-clonable: a plain object holding the buffer. */
export interface SharedMapHandle {
  readonly shmap: 1;
  /** The map's buffer (for a map in a WebAssembly.Memory, the memory's buffer when the handle was made). */
  readonly buffer: SharedArrayBuffer;
  /**
   * The shared WebAssembly.Memory the map lives in, for a map of one-word
   * integer keys and number values (its overwrite runs in WebAssembly);
   * absent otherwise. Pass the handle whole.
   */
  readonly memory?: WasmMemory;
}

export type ConflictKind =
  | 'concurrent map writes'
  | 'concurrent map read and map write'
  | 'concurrent map iteration and map write'
  | 'thread died holding a shard lock';

/** Operation names as they appear in conflict records and last-writer fields. */
export type OpName =
  | 'get'
  | 'has'
  | 'set'
  | 'delete'
  | 'clear'
  | 'putIfAbsent'
  | 'compareAndSet'
  | 'update'
  | 'add'
  | 'sweep'
  | 'iterate'
  | 'snapshot'
  | 'rehash'
  | 'recover'
  | 'unknown';

/** One party of a conflict. `thread` is the `worker_threads.threadId` (0 = main thread). */
export interface ConflictParty {
  thread: number;
  op: OpName;
  /** The key, printable (cut to 40 bytes), or '' when unknown. */
  key: string;
}

/** One record of the race checker's log (`map.conflicts()`). */
export interface ConflictRecord {
  kind: ConflictKind;
  /** When it was detected, ms on the shared clock (performance.timeOrigin + performance.now()). */
  time: number;
  shard: number;
  /** The thread that detected the conflict, and what it was doing. */
  detector: ConflictParty & {
    /** The shard's seq the detector expected (start of its op / iteration). */
    seqSeen: number;
    /** The shard's seq when it detected the conflict. */
    seqNow: number;
  };
  /**
   * The other party: with `sync: 'none'`, the thread whose write was in
   * progress (the last to enter a write to the shard, when that is not the
   * detector; its key is '', not yet known, and `seq` is `detector.seqNow`);
   * otherwise the shard's last writer to finish, and the seq it finished with.
   */
  other: ConflictParty & { seq: number };
}

export interface SharedMapStats {
  shards: number;
  /** Slots over all shards. */
  capacity: number;
  /** Live entries. */
  count: number;
  tombstones: number;
  /** The buffer's byteLength: everything the map uses. */
  bytes: number;
  maxBytes: number;
  /** Probe length (slots visited to find a present key, 1 = home slot): mean and max. */
  probeLengthMean: number;
  probeLengthMax: number;
  /** Entries by probe length, cumulative: `count` entries have a probe length of at most `le` (1, 2, 4, ... 128, Infinity). */
  probeLengthBuckets: Array<{ le: number; count: number }>;
  /** Times a writer found its shard's lock taken (over all threads). */
  lockWaits: number;
  /** Times a reader saw its shard change under it and read again (over all threads). */
  readRetries: number;
  /** Conflicts recorded, and records dropped because the log was full. */
  conflicts: number;
  conflictsOverflowed: number;
  /** Shard locks recovered from threads that died holding them (`recover`, `watch`): conflicts of kind "thread died holding a shard lock", dropped ones included. */
  recoveries: number;
  /**
   * Each shard's slots, entries, tombstones and region size, and its own
   * lock waits and read retries (exact; imbalance shows here). Operations
   * per shard are not counted exactly: `metrics().shardSamples` samples them.
   */
  perShard: Array<{
    capacity: number;
    count: number;
    tombstones: number;
    regionBytes: number;
    lockWaits: number;
    readRetries: number;
  }>;
}

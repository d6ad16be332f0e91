/**
 * Operation counters and the hot-key sketch (`metrics` at create).
 *
 * # Counting without a shared hot word
 *
 * One word that every thread increments costs ~55 ns a write once two
 * threads do it (the cache line moves between cores), more than a whole
 * `get`. So each thread counts in a block of its own: BLOCK_BYTES in the
 * metrics area (layout.ts), two cache lines that no other thread writes.
 * Its counters are float64s (exact to 2^53) incremented with plain stores:
 * only the owner writes them, and a reader summing the blocks sees each
 * aligned float64 whole, as it was a moment ago. `map.metrics()` sums every
 * block, so one call in any thread sees the whole process.
 *
 * # Who counts where
 *
 * - A thread's first handle on the map claims a free block (its owner word
 *   0 -> threadId + 1, `Atomics.compareExchange`); every handle of that
 *   thread on that map counts there.
 * - When every block but the last is owned, a thread counts in the last
 *   one, the overflow block, shared by all such threads: each counter is a
 *   pair of int32 words (low, high) added to with `Atomics.add`, still exact
 *   but slower. Its owner word counts the threads that joined it.
 * - A get or has answered by the handle's read cache (read-cache.ts) is
 *   counted by the cache itself, in the same block (C_*_CACHED): the cache
 *   counts its hits anyway, to see whether it pays, and counting them once,
 *   where the metrics read them, saves an increment per cached answer. A
 *   handle in the overflow block keeps no read cache (a plain increment
 *   there could lose another thread's).
 * - A block is given back (owner -> 0) when its thread ends normally (the
 *   worker's process 'exit' event) or when `map.recover(threadId)` runs for
 *   it after its death (`map.watch` does). Its counts stay: the next owner
 *   adds to them, so the operations of threads that exited or died stay in
 *   the totals. A thread that dies with nobody recovering it keeps its block
 *   (its counts still summed); only the block is lost for reuse.
 *
 * # The hot-key sketch
 *
 * Each handle samples one counted operation in `sampleEvery` on average (a
 * random gap, so a periodic access pattern cannot alias with it) into a
 * space-saving sketch of `hotKeys` entries in the buffer, looked up by hash:
 * a sample looks at WINDOW entries in a row from its key's hash. A key
 * already there gains 1; a new key takes a free entry, or replaces the
 * entry of the window with the smallest count c and starts at c + 1 with
 * an overestimate of c. A key's count is over its true sample count by at
 * most its overestimate, and a key sampled more often than the others of
 * its window keeps its entry. (The read cache's answers have a countdown
 * of their own, in the cache: read-cache.ts.) The
 * sampler takes the sketch's lock with one `Atomics.compareExchange` and,
 * finding it taken, drops its sample instead of waiting: the operation
 * never waits for the sketch. Per-shard sample counts sit beside it, an
 * estimate of each shard's share of the operations.
 */
import { isMainThread } from 'node:worker_threads';
import {
  BLOCK_COUNTERS,
  B_OWNER,
  D_LOCK_WAITS,
  D_READ_RETRIES,
  E_COUNT_F64_WORD,
  E_ERROR_F64_WORD,
  E_HASH,
  E_KEY,
  E_USED,
  H_HOT_ENTRIES,
  H_METRICS_BLOCKS,
  H_METRICS_OFF,
  H_MAP_ID,
  H_SAMPLE_EVERY,
  S_LOCK,
  S_TOTAL_F64_WORD,
  blockI32,
  descI32,
  hotEntryI32,
  metricsBytes,
  metricsOffBytes,
  shardSamplesI32,
  sketchI32,
} from './layout.js';
import { describe, type KeyCodec } from './codec.js';
import { InvalidOptionError, ShmapTypeError } from './errors.js';
import type { Views } from './views.js';
import type { HotKey, MetricsOptions, SharedMapMetrics } from './types.js';

// Counter codes: the float64 index of each counter inside a block (0 holds the owner word).
export const C_GET_HIT = 1;
export const C_GET_MISS = 2;
export const C_HAS_HIT = 3;
export const C_HAS_MISS = 4;
export const C_SET_INSERT = 5;
export const C_SET_OVERWRITE = 6;
export const C_DELETE_HIT = 7;
export const C_DELETE_MISS = 8;
export const C_PUT_IF_ABSENT = 9;
export const C_COMPARE_AND_SET = 10;
export const C_UPDATE = 11;
export const C_ADD = 12;
export const C_CLEAR = 13;
export const C_SWEEPS = 14;
export const C_SWEPT = 15;
export const C_EXPIRY_SWEEPS = 16;
export const C_EXPIRED = 17;
export const C_ACQUIRE = 18;
export const C_RELEASE = 19;
export const C_RETIRE = 20;
/** Keys a DeleteQueue handle counting in this map (`queue.countIn(map)`) accepted, drained, and refused because the queue was full. */
export const C_QUEUE_ENQUEUE = 21;
export const C_QUEUE_DRAIN = 22;
export const C_QUEUE_FULL = 23;
/**
 * Gets and has answered by the read cache (read-cache.ts), which counts them
 * itself in the thread's block: the metric's count is the cache's own count
 * of its hits, one increment per answer. `metrics()` adds them to gets and
 * has.
 */
export const C_GET_HIT_CACHED = 24;
export const C_GET_MISS_CACHED = 25;
export const C_HAS_HIT_CACHED = 26;
export const C_HAS_MISS_CACHED = 27;
const COUNTERS = 28;

const DEFAULT_THREADS = 64;
const MAX_THREADS = 1024;
const DEFAULT_SAMPLE_EVERY = 1024;
const MAX_SAMPLE_EVERY = 1 << 20;
const DEFAULT_HOT_ENTRIES = 64;
const MAX_HOT_ENTRIES = 1024;
/**
 * Sketch entries a sample looks at: WINDOW in a row from the key's hash
 * (a sample scanning all 64 entries cost ~2 us on the development machine,
 * 30 ns per get at one sample in 64; a window of 8 makes it a few hundred ns).
 */
const WINDOW = 8;
/** Tries `hotKeys` makes for the sketch's lock before it reads without it (a holder that died keeps it until recovered). */
const READ_LOCK_TRIES = 10_000;

/** The `metrics` create option, checked: null when off, else the blocks (threads + the overflow block), sampling gap and sketch entries. */
export function checkMetricsOption(
  option: unknown,
): { blocks: number; sampleEvery: number; hotEntries: number } | null {
  if (option === undefined || option === false) return null;
  if (option === true)
    return { blocks: DEFAULT_THREADS + 1, sampleEvery: DEFAULT_SAMPLE_EVERY, hotEntries: DEFAULT_HOT_ENTRIES };
  if (option === null || typeof option !== 'object' || Array.isArray(option))
    throw new InvalidOptionError(
      `options.metrics must be a boolean or an object like { threads: 64, sampleEvery: 64, hotKeys: 64 }, got ${describe(option)}`,
    );
  const o = option as MetricsOptions;
  for (const name of Object.keys(o))
    if (name !== 'threads' && name !== 'sampleEvery' && name !== 'hotKeys')
      throw new InvalidOptionError(`options.metrics.${name} is not an option (known: threads, sampleEvery, hotKeys)`);
  const int = (v: unknown, name: string, dflt: number, max: number): number => {
    if (v === undefined) return dflt;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > max)
      throw new InvalidOptionError(`options.metrics.${name} must be an integer from 1 to ${max}, got ${describe(v)}`);
    return v;
  };
  return {
    blocks: int(o.threads, 'threads', DEFAULT_THREADS, MAX_THREADS) + 1,
    sampleEvery: int(o.sampleEvery, 'sampleEvery', DEFAULT_SAMPLE_EVERY, MAX_SAMPLE_EVERY),
    hotEntries: int(o.hotKeys, 'hotKeys', DEFAULT_HOT_ENTRIES, MAX_HOT_ENTRIES),
  };
}

/**
 * For `attach`: what is wrong with the metrics words of a header (a string),
 * else the metrics area's size in bytes (0 when the map has none). `word`
 * reads a header word.
 */
export function metricsProblem(
  word: (i: number) => number,
  shards: number,
  logRecords: number,
  keyWords: number,
): string | number {
  const off = word(H_METRICS_OFF);
  if (off === 0) {
    for (const i of [H_METRICS_BLOCKS, H_SAMPLE_EVERY, H_HOT_ENTRIES])
      if (word(i) !== 0) return `it has no metrics area but its metrics word ${i} is ${word(i)}`;
    return 0;
  }
  if (off !== metricsOffBytes(shards, logRecords))
    return `its metrics area is at ${off}, not ${metricsOffBytes(shards, logRecords)}`;
  const blocks = word(H_METRICS_BLOCKS);
  if (!(blocks >= 2 && blocks <= MAX_THREADS + 1)) return `its metrics area has ${blocks} counter blocks`;
  const every = word(H_SAMPLE_EVERY);
  if (!(every >= 1 && every <= MAX_SAMPLE_EVERY)) return `it samples one operation in ${every}`;
  const entries = word(H_HOT_ENTRIES);
  if (!(entries >= 1 && entries <= MAX_HOT_ENTRIES)) return `its hot-key sketch has ${entries} entries`;
  return metricsBytes(blocks, shards, entries, keyWords);
}

/**
 * Which block this thread counts in, per map (by H_MAP_ID), so that every
 * handle of a thread on a map shares one; and the views to give it back
 * with when the thread ends.
 */
const claimed = new Map<number, { block: number; i32: WeakRef<Int32Array> }>();
let exitHooked = false;

function claimBlock(i32: Int32Array, mapId: number, ownerWord: number): number {
  const known = claimed.get(mapId);
  if (known !== undefined) return known.block;
  const off = i32[H_METRICS_OFF]!;
  const blocks = i32[H_METRICS_BLOCKS]!;
  let block = blocks - 1;
  for (let b = 0; b < blocks - 1; b++) {
    const at = blockI32(off, b) + B_OWNER;
    const seen = Atomics.compareExchange(i32, at, 0, ownerWord);
    if (seen === 0 || seen === ownerWord) {
      block = b;
      break;
    }
  }
  if (block === blocks - 1) Atomics.add(i32, blockI32(off, block) + B_OWNER, 1);
  claimed.set(mapId, { block, i32: new WeakRef(i32) });
  if (!isMainThread && !exitHooked) {
    // A worker that ends normally gives its blocks back (terminate() skips
    // this: recover, or map.watch, gives those back).
    exitHooked = true;
    process.once('exit', () => {
      for (const { block: b, i32: ref } of claimed.values()) {
        const view = ref.deref();
        if (view !== undefined && b < view[H_METRICS_BLOCKS]! - 1)
          Atomics.compareExchange(view, blockI32(view[H_METRICS_OFF]!, b) + B_OWNER, ownerWord, 0);
      }
      claimed.clear();
    });
  }
  return block;
}

/**
 * Gives back what the dead thread `threadId` held in the metrics area of
 * the map `views` is a view of: its counter block (counts kept) and the
 * sketch's lock. For recovery (recover.ts). A no-op on a map without metrics.
 */
export function releaseThread(views: Views, threadId: number): void {
  const i32 = views.i32;
  const off = i32[H_METRICS_OFF]!;
  if (off === 0) return;
  const blocks = i32[H_METRICS_BLOCKS]!;
  const them = threadId + 1;
  for (let b = 0; b < blocks - 1; b++) Atomics.compareExchange(i32, blockI32(off, b) + B_OWNER, them, 0);
  Atomics.compareExchange(i32, sketchI32(off, blocks) + S_LOCK, them, 0);
}

/**
 * One handle's counting: the hooks in the map's operations call `count`
 * (one operation of a kind, maybe sampled) or `add` (n of a kind); the
 * read cache counts its answers itself (`cacheCounts`). This
 * class counts in a block the thread owns (plain stores); OverflowCounters
 * in the shared overflow block.
 */
export class ThreadCounters {
  /** This thread's block's counters (a fixed-length view: as fast as over a plain buffer). */
  protected readonly counts: Float64Array;
  /**
   * Counted operations left until the next sample. Always a small integer
   * (`gap` ends in `| 0`), so V8 keeps the field a Smi: without it `(x >>> 0)
   * % n` hands V8 a heap number, the field holds a boxed double (as
   * `%DebugPrint` shows on Node 20 and 26), and the decrement on every
   * counted operation goes through the box.
   */
  protected left: number;
  /** xorshift32 state for the sampling gaps. */
  private rng: number;
  private readonly sampleEvery: number;
  private readonly sketchI32: number;
  private readonly entries: number;
  /** Word index of sketch entry 0, and words per entry. */
  private readonly entry0I32: number;
  private readonly entryWords: number;

  constructor(
    protected readonly views: Views,
    protected readonly keyCodec: KeyCodec,
    private readonly shardMask: number,
    private readonly ownerWord: number,
    protected readonly ownBlockI32: number,
  ) {
    const i32 = views.i32;
    this.counts = new Float64Array(views.sab, ownBlockI32 * 4, BLOCK_COUNTERS);
    this.sampleEvery = i32[H_SAMPLE_EVERY]!;
    this.entries = i32[H_HOT_ENTRIES]!;
    this.sketchI32 = sketchI32(i32[H_METRICS_OFF]!, i32[H_METRICS_BLOCKS]!);
    this.entry0I32 = hotEntryI32(this.sketchI32, shardMask + 1, keyCodec.words, 0);
    this.entryWords = hotEntryI32(this.sketchI32, shardMask + 1, keyCodec.words, 1) - this.entry0I32;
    this.rng = (Math.random() * 0x7fff_ffff) | 1;
    this.left = this.gap();
  }

  /** One operation of kind `code` (C_*) on the prepared key, hash `h`. */
  count(code: number, h: number): void {
    this.counts[code]!++;
    if (--this.left === 0) this.sample(h);
  }

  /**
   * `count` for an operation that did not prepare its key in the codec's
   * scratch (the fused `set`, map.ts `setNumber`): a sample prepares `key`
   * first, so the sketch gets this key and not the last one prepared.
   */
  countKey(code: number, h: number, key: unknown): void {
    if (this.left === 1) this.keyCodec.prepare(key);
    this.count(code, h);
  }

  /** `n` more of kind `code` (entries a sweep removed, ...); not sampled. */
  add(code: number, n: number): void {
    this.counts[code]! += n;
  }

  /** One call of kind `calls` (C_SWEEPS, ...) that handled `n` items of kind `items`. */
  tally(calls: number, items: number, n: number): void {
    this.add(calls, 1);
    this.add(items, n);
  }

  /** A gap from 1 to 2 x sampleEvery - 1, uniform: sampleEvery on average (also the read cache's first countdown). */
  gap(): number {
    let x = this.rng;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.rng = x;
    return (1 + ((x >>> 0) % (2 * this.sampleEvery - 1))) | 0;
  }

  /** A sample of a counted operation on the prepared key (hash `h`): the next one a gap later. */
  protected sample(h: number): void {
    this.left = this.gap();
    this.feed(h);
  }

  /**
   * A sample of a read-cache answer for `key` (hash `h`): the cache's
   * countdown reached 0 (read-cache.ts). The key is prepared here, for the
   * sketch. Returns the next gap, the cache's new countdown.
   */
  sampleCached(h: number, key: unknown): number {
    this.keyCodec.prepare(key);
    this.feed(h);
    return this.gap();
  }

  /**
   * The counters a read cache of this handle counts its answers in (this
   * thread's block; the cache increments C_*_CACHED), or null when this
   * handle counts in the overflow block, where a plain increment could lose
   * another thread's.
   */
  cacheCounts(): Float64Array | null {
    return this.counts;
  }

  /** Feeds the prepared key (hash `h`) to the sketch, unless another thread is sampling right now. */
  private feed(h: number): void {
    const v = this.views;
    const i32 = v.i32;
    const lock = this.sketchI32 + S_LOCK;
    if (Atomics.compareExchange(i32, lock, 0, this.ownerWord) !== 0) return;
    const f64 = v.f64;
    f64[(this.sketchI32 + S_TOTAL_F64_WORD) >> 1]!++;
    f64[(shardSamplesI32(this.sketchI32) >> 1) + (h & this.shardMask)]!++;
    const entries = this.entries;
    let min = -1;
    let minCount = Infinity;
    let e = (h >>> 0) % entries;
    for (let j = 0; j < WINDOW && j < entries; j++, e = e + 1 === entries ? 0 : e + 1) {
      const at = this.entry0I32 + e * this.entryWords;
      if (i32[at + E_USED] === 0) {
        this.take(at, h, 1, 0);
        min = -2;
        break;
      }
      if (i32[at + E_HASH] === h && this.sameKey(i32, at + E_KEY)) {
        f64[(at + E_COUNT_F64_WORD) >> 1]!++;
        min = -2;
        break;
      }
      const n = f64[(at + E_COUNT_F64_WORD) >> 1]!;
      if (n < minCount) {
        minCount = n;
        min = at;
      }
    }
    if (min >= 0) this.take(min, h, minCount + 1, minCount);
    Atomics.store(i32, lock, 0);
  }

  /** Whether the key stored at word `at` is the prepared key (its used words; the length word of a sized key comes first). */
  private sameKey(i32: Int32Array, at: number): boolean {
    const key = this.keyCodec.prepared;
    for (let w = 0, n = this.keyCodec.usedWords; w < n; w++) if (i32[at + w] !== key[w]) return false;
    return true;
  }

  /** Writes the prepared key into sketch entry `at`. Precondition: the sketch's lock held. */
  private take(at: number, h: number, count: number, error: number): void {
    const v = this.views;
    v.f64[(at + E_COUNT_F64_WORD) >> 1] = count;
    v.f64[(at + E_ERROR_F64_WORD) >> 1] = error;
    v.i32[at + E_HASH] = h;
    const key = this.keyCodec.prepared;
    for (let w = 0, n = this.keyCodec.usedWords; w < n; w++) v.i32[at + E_KEY + w] = key[w]!;
    v.i32[at + E_USED] = 1;
  }
}

/**
 * Counting in the shared overflow block: each counter is two int32 words,
 * low and high, at the float64's place; `Atomics.add` on the low word, and
 * a carry into the high one when the low one wraps.
 */
class OverflowCounters extends ThreadCounters {
  override count(code: number, h: number): void {
    this.add(code, 1);
    if (--this.left === 0) this.sample(h);
  }

  override cacheCounts(): null {
    return null;
  }

  override add(code: number, n: number): void {
    const i32 = this.views.i32;
    const lo = this.ownBlockI32 + code * 2;
    const old = Atomics.add(i32, lo, n) >>> 0;
    if (old + n > 0xffff_ffff) Atomics.add(i32, lo + 1, 1);
  }
}

/** The counting of a new handle on the map `views` is a view of, for thread `thread`; null when the map has no metrics. */
export function threadCounters(
  views: Views,
  keyCodec: KeyCodec,
  shardMask: number,
  thread: number,
): ThreadCounters | null {
  const i32 = views.i32;
  const off = i32[H_METRICS_OFF]!;
  if (off === 0) return null;
  const ownerWord = thread + 1;
  const block = claimBlock(i32, i32[H_MAP_ID]!, ownerWord);
  const word = blockI32(off, block);
  return block === i32[H_METRICS_BLOCKS]! - 1
    ? new OverflowCounters(views, keyCodec, shardMask, ownerWord, word)
    : new ThreadCounters(views, keyCodec, shardMask, ownerWord, word);
}

/** Whether the map `views` is a view of was created with `metrics`. */
export function hasMetrics(views: Views): boolean {
  return views.i32[H_METRICS_OFF] !== 0;
}

function needMetrics(views: Views, what: string): void {
  if (!hasMetrics(views)) throw new InvalidOptionError(`${what} needs a map created with { metrics: true }`);
}

/** Every block's counters summed (`map.metrics()`). */
export function readMetrics(views: Views, shard0: number, shards: number): SharedMapMetrics {
  needMetrics(views, 'metrics()');
  const i32 = views.i32;
  const f64 = views.f64;
  const off = i32[H_METRICS_OFF]!;
  const blocks = i32[H_METRICS_BLOCKS]!;
  const sum = new Array<number>(COUNTERS).fill(0);
  let inUse = 0;
  for (let b = 0; b < blocks - 1; b++) {
    const at = blockI32(off, b);
    if (Atomics.load(i32, at + B_OWNER) !== 0) inUse++;
    for (let c = 1; c < COUNTERS; c++) sum[c]! += f64[(at >> 1) + c]!;
  }
  const over = blockI32(off, blocks - 1);
  for (let c = 1; c < COUNTERS; c++) {
    let hi: number;
    let lo: number;
    do {
      hi = Atomics.load(i32, over + c * 2 + 1);
      lo = Atomics.load(i32, over + c * 2) >>> 0;
    } while (hi !== Atomics.load(i32, over + c * 2 + 1));
    sum[c]! += hi * 2 ** 32 + lo;
  }
  let lockWaits = 0;
  let readRetries = 0;
  for (let s = 0; s < shards; s++) {
    lockWaits += Atomics.load(i32, descI32(shard0, s) + D_LOCK_WAITS);
    readRetries += Atomics.load(i32, descI32(shard0, s) + D_READ_RETRIES);
  }
  const sketch = sketchI32(off, blocks);
  const shardSamples: number[] = [];
  for (let s = 0; s < shards; s++) shardSamples.push(f64[(shardSamplesI32(sketch) >> 1) + s]!);
  const n = (c: number): number => sum[c]!;
  return {
    gets: { hit: n(C_GET_HIT) + n(C_GET_HIT_CACHED), miss: n(C_GET_MISS) + n(C_GET_MISS_CACHED) },
    has: { hit: n(C_HAS_HIT) + n(C_HAS_HIT_CACHED), miss: n(C_HAS_MISS) + n(C_HAS_MISS_CACHED) },
    sets: { insert: n(C_SET_INSERT), overwrite: n(C_SET_OVERWRITE) },
    deletes: { hit: n(C_DELETE_HIT), miss: n(C_DELETE_MISS) },
    atomic: {
      putIfAbsent: n(C_PUT_IF_ABSENT),
      compareAndSet: n(C_COMPARE_AND_SET),
      update: n(C_UPDATE),
      add: n(C_ADD),
    },
    clears: n(C_CLEAR),
    sweeps: n(C_SWEEPS),
    swept: n(C_SWEPT),
    expirySweeps: n(C_EXPIRY_SWEEPS),
    expired: n(C_EXPIRED),
    leases: { acquire: n(C_ACQUIRE), release: n(C_RELEASE), retire: n(C_RETIRE) },
    queue: { enqueued: n(C_QUEUE_ENQUEUE), drained: n(C_QUEUE_DRAIN), fullRejections: n(C_QUEUE_FULL) },
    lockWaits,
    readRetries,
    samples: f64[(sketch + S_TOTAL_F64_WORD) >> 1]!,
    shardSamples,
    blocksInUse: inUse,
    overflowUsed: Atomics.load(i32, over + B_OWNER) !== 0,
  };
}

/**
 * The `k` keys sampled most often (`map.hotKeys(k)`), hottest first, with
 * their estimated share of the sampled operations. Read under the sketch's
 * lock (waiting for it a bounded while: a dead holder keeps it until
 * recovered, and then the read is best effort).
 */
export function hotKeys(views: Views, keyCodec: KeyCodec, shardMask: number, k: unknown, ownerWord: number): HotKey[] {
  needMetrics(views, 'hotKeys()');
  if (typeof k !== 'number' || !Number.isInteger(k) || k < 1)
    throw new ShmapTypeError(`hotKeys(k): k must be a positive integer, got ${describe(k)}`);
  const i32 = views.i32;
  const f64 = views.f64;
  const off = i32[H_METRICS_OFF]!;
  const sketch = sketchI32(off, i32[H_METRICS_BLOCKS]!);
  const entries = i32[H_HOT_ENTRIES]!;
  const lock = sketch + S_LOCK;
  let locked = false;
  for (let tries = 0; tries < READ_LOCK_TRIES && !locked; tries++)
    locked = Atomics.compareExchange(i32, lock, 0, ownerWord) === 0;
  const out: Array<HotKey & { n: number }> = [];
  try {
    const total = f64[(sketch + S_TOTAL_F64_WORD) >> 1]!;
    for (let e = 0; e < entries; e++) {
      const at = hotEntryI32(sketch, shardMask + 1, keyCodec.words, e);
      if (i32[at + E_USED] === 0) continue;
      const n = f64[(at + E_COUNT_F64_WORD) >> 1]!;
      out.push({
        key: keyCodec.load(views, at + E_KEY),
        n,
        share: total === 0 ? 0 : n / total,
        error: total === 0 ? 0 : f64[(at + E_ERROR_F64_WORD) >> 1]! / total,
        shard: i32[at + E_HASH]! & shardMask,
      });
    }
  } finally {
    if (locked) Atomics.store(i32, lock, 0);
  }
  out.sort((a, b) => b.n - a.n);
  return out.slice(0, k).map(({ key, share, error, shard }) => ({ key, share, error, shard }));
}

/**
 * A handle's read cache: what `get` last read for a key, kept in this
 * thread's heap, answered again while the key's shard has not been written.
 *
 * A string-keyed `get` spends most of its time outside the table: packing
 * and hashing the key's code units, comparing them in the slot, decoding the
 * value into a new string (~400 ns against ~35 ns for a `Map.get` with the
 * same string, bench:core). The cache trades that for a `Map.get` on this
 * handle's own `Map` and one load of the shard's seq. On number
 * keys it saves less (~30 ns of a ~70-100 ns get: hashing, the probe, the
 * two seq loads), and is kept for that; int32 and uint32 keys are cached
 * in a direct-mapped array instead of a `Map` (DIRECT_SLOTS), which halves
 * what a cached get costs there. Not on byte keys: a `Map` compares
 * Uint8Arrays by identity, the map by content.
 *
 * Why an entry may be trusted (the essay in map.ts, "The read cache", says it
 * for readers of the design): an entry holds the value a validated read saw
 * and the even seq that validated it. Every change a read can observe opens
 * the shard's odd-seq window first (window.ts `begin`), and every completed
 * or recovered write leaves the seq 2 higher than it found it, so a seq
 * still equal to the entry's means no write to that shard has begun since
 * the entry was read: the shard holds what it held then, and the entry is
 * the answer a read would give now. The load is an `Atomics.load`
 * (sequentially consistent), or a plain load where that is the same
 * (CACHED_SEQ_PLAIN below), so a write that happened before this `get` in
 * any thread's order is seen, and a loop of gets cannot have it hoisted.
 *
 * A stale entry (its shard's seq moved) may still be the answer: where
 * the entry keeps a copy of its slot's words (`revalidate`), one validated
 * read that finds the slot unchanged and still in the shard's table
 * answers it without the key's packing or the value's decoding. A write
 * then costs the other keys of its shard a compare of their slots (about
 * 20 words for string:32 keys and values) instead of a whole read.
 *
 * Limits: only for maps whose gets take the plain path ('lock' mode, no TTL,
 * no leases: an entry that expires or is retired changes without a write),
 * and only for primitive values (number, bigint, string): a cached object
 * would be handed to several callers, who may change it. An entry is dropped
 * when the seq moved, and the whole cache when it reaches MAX_ENTRIES.
 * A key found here was prepared once, so it is of the map's key type; a
 * `Map` compares keys by SameValueZero, as the map does (NaN, -0, bigints
 * by value).
 * A seq wraps after 2^31 writes to one shard; an entry left untouched while
 * exactly a multiple of 2^31 writes hit its shard would be taken as current.
 */
import {
  C_GET_HIT_CACHED,
  C_GET_MISS_CACHED,
  C_HAS_HIT_CACHED,
  C_HAS_MISS_CACHED,
  type ThreadCounters,
} from './metrics.js';
import { PLAIN_LOADS_ORDERED } from './sync.js';
import { D_CAP, D_REGION, D_SEQ } from './layout.js';
import type { Views } from './views.js';

/**
 * Whether a hit loads the shard's seq with a plain typed-array read instead
 * of `Atomics.load` (~20 ns less per hit, the cost of the builtin call):
 * true on x86-64. Why a plain load gives the same answer there:
 * - The CPU: on x86-64 a sequentially consistent 32-bit load is the same
 *   aligned MOV as a plain one (TSO: the fences of sequential consistency
 *   sit on the stores), so at the instruction level nothing changes. The
 *   load returns the coherent value, and is not satisfied before an
 *   earlier load or locked instruction of this thread; so a write that
 *   happened before this `get` (in this thread, or in one this thread
 *   synchronized with through an `Atomics` operation) is seen.
 * - The compiler: V8 keeps a typed-array load after the calls before it
 *   (every `Atomics` operation is a builtin call on the effect chain), so
 *   it is not moved before a synchronizing operation. What a plain load
 *   could risk is being merged with an earlier load of the same element,
 *   or hoisted out of a loop of gets, so that the loop keeps an old seq.
 *   With string keys its index is `cached.d + D_SEQ`, where `cached` is
 *   what this call's `Map.prototype.get` returned: the result of a call
 *   the compiler cannot know, so no earlier load can stand in for this
 *   one. With int32 and uint32 keys the entry comes from the direct-mapped
 *   array (`lookup`), and a loop of gets of one key can be compiled with
 *   no call left in it; V8 does not merge or hoist loads of a typed
 *   array's elements (memory another thread may write: its load
 *   elimination tracks object fields and JS arrays' elements), so each get
 *   still loads the seq. That is observed, not promised by the language:
 *   the test below runs that loop, which `--trace-turbo-inlining` shows
 *   compiled with `get`, `lookup`, `fresh` and `hitGet` inlined and no
 *   call left, on Node 20 and 26, and it sees the write; CI runs it on
 *   every Node it tests.
 * map-read-cache.test.ts checks it with a real second thread: a loop of
 * gets of an int32 key, optimized before the write, sees the other
 * thread's write (and, its negative control, never does without the seq
 * check). Elsewhere (ARM64: a plain load may be satisfied before an
 * earlier one) it stays an `Atomics.load`.
 */
export const CACHED_SEQ_PLAIN = PLAIN_LOADS_ORDERED;

/** Whether `entry` is still the answer a read would give: its shard's seq (loaded as CACHED_SEQ_PLAIN says) is the one that validated it. */
export function fresh(i32: Int32Array, entry: CachedRead): boolean {
  return (CACHED_SEQ_PLAIN ? i32[entry.d + D_SEQ] : Atomics.load(i32, entry.d + D_SEQ)) === entry.seq || trustStale;
}

// Module-local copies of the kinds: TurboFan folds a module's own constants
// into the code; each use of an imported one is a Cell load and its checks
// (as `--print-opt-code` shows on Node 20), on the path of every cache hit.
const GET_HIT = C_GET_HIT_CACHED;
const GET_MISS = C_GET_MISS_CACHED;
const HAS_HIT = C_HAS_HIT_CACHED;
const HAS_MISS = C_HAS_MISS_CACHED;

/** Entries a cache holds before it starts afresh (clears itself). */
export const MAX_ENTRIES = 4096;
/**
 * Reads that had to go to the shard between two looks at whether the cache
 * pays: twice MAX_ENTRIES, so that filling an empty cache (every first read
 * of a key misses) does not by itself turn it off.
 */
const MISS_WINDOW = 2 * MAX_ENTRIES;
/**
 * Gets that skip the cache after it was found not to pay, before it is
 * tried again; doubled after each look that finds it still not paying (a
 * working set far larger than MAX_ENTRIES), up to MAX_OFF_GETS.
 */
const OFF_GETS = 1 << 16;
const MAX_OFF_GETS = 1 << 22;

/**
 * Slots of the direct-mapped cache of a map with int32 or uint32 keys (a
 * power of two): where a key may be cached is `directSlot(key)`, one place.
 * A lookup is an array load and a compare instead of a `Map.get` (~20 ns on
 * Node 20, against a whole get of ~25 ns from the cache). Two keys of the
 * working set that share a slot take it from each other, each read of
 * either then a miss; with 1,024 keys in 8,192 slots about 6% of them do.
 */
export const DIRECT_SLOTS = 8192;
const DIRECT_SHIFT = 32 - Math.log2(DIRECT_SLOTS);

/** @internal The direct-mapped cache's slot of a number key: the top bits of a multiplicative (Fibonacci) hash of its int32 bits. */
export function directSlot(key: number): number {
  return Math.imul(key, 0x9e3779b1) >>> DIRECT_SHIFT;
}

/**
 * One cached read: the key, its hash and shard descriptor, the seq that
 * validated it, the value (undefined: absent then). In the direct-mapped
 * cache an entry is reused for the next key of its slot (so a miss allocates
 * nothing once every slot has its entry).
 */
export class CachedRead {
  constructor(
    public key: unknown,
    public h: number,
    public d: number,
    public seq: number,
    public value: unknown,
  ) {}
  /** Word index of the slot the read that made this entry found the key in (-1: absent then, or a cache that does not revalidate). */
  at = -1;
  /**
   * Where that slot's words, as that read saw them, start in the cache's
   * `copies` (-1: none kept; `ReadCache.revalidate`), and the shard's region
   * (word index) they were read in.
   */
  copyAt = -1;
  region = -1;
}

/**
 * Words of a slot up to which a stale entry keeps a copy of its slot and is
 * revalidated against it (`ReadCache.revalidate`): string:64 keys with
 * string:64 values fit (35 words). The copies lie in one array per cache,
 * made at the first copy kept (MAX_ENTRIES copies: 640 KiB at the most),
 * and a revalidation compares each word.
 */
export const REVALIDATE_MAX_WORDS = 40;

/**
 * Test back door: when true, `revalidate` trusts a slot in the shard's
 * table without comparing its words to the entry's copy (the negative
 * control of the revalidation tests). Only read after the region check.
 * @internal
 */
export let trustSlot = false;

/** @internal Sets the test back door. */
export function setTrustSlot(on: boolean): void {
  trustSlot = on;
}

/**
 * Test back door: when false, a cached entry is used without comparing its
 * seq (the negative control of the cache's tests). Only read when the seq
 * differs, so it costs the hot path nothing.
 * @internal
 */
export let trustStale = false;

/** @internal Sets the test back door. */
export function setTrustStale(on: boolean): void {
  trustStale = on;
}

export class ReadCache {
  /** Entries by key (string, float64 and bigint keys; not used with `direct`). */
  readonly entries = new Map<unknown, CachedRead>();
  /**
   * The direct-mapped cache (int32 and uint32 keys: `directSlot`), made at
   * the first read it keeps (64 KiB of slots: a handle that never reads
   * pays nothing); null before that, and for other keys.
   */
  direct: Array<CachedRead | undefined> | null = null;
  /** Whether this cache is direct-mapped (int32 and uint32 keys). */
  private readonly wordKeys: boolean;
  /**
   * On a map with `metrics`: the thread's counter block, where the cache
   * counts the gets and has it answers, per kind (metrics.ts C_*_CACHED).
   * These counts are the metric's: one increment per answer, not one here
   * and one there. Several handles of one thread share a block, so each
   * cache's look at whether it pays counts the others' answers too. Null
   * without metrics.
   */
  private readonly answers: Float64Array | null;
  /** Whose `sampleCached` takes a sample (null without metrics). */
  private readonly sampler: ThreadCounters | null;
  /** `answered()` at the last look at whether the cache pays (with `answers`). */
  private answeredBefore: number;
  /**
   * With `answers`: answers left until the next is sampled into the hot-key
   * sketch (one in `sampleEvery` on average, at random gaps: metrics.ts);
   * always a small integer, so V8 keeps the field a Smi.
   */
  private left: number;
  /** Without `answers`: gets and has answered by the cache since that look (counted up to `enough` only). */
  private hits = 0;
  /** Reads that went to the shard since then. */
  private misses = 0;
  /** Gets left that skip the cache (0: in use). */
  off = 0;
  /** What `off` is set to the next time the cache is found not to pay. */
  private offGets = OFF_GETS;
  /** Hits per MISS_WINDOW misses the cache must give to stay on. */
  private readonly enough: number;
  /**
   * Words per slot when this cache revalidates stale entries (`revalidate`:
   * a cache kept in a `Map`, slots of at most REVALIDATE_MAX_WORDS), else 0.
   */
  readonly revalidates: number;
  /** The slot words the read under way saw (`copySlot`), kept by `note` once the read validated, and the region they lie in. */
  private readonly seen: Int32Array;
  private seenRegion = -1;
  /**
   * The entries' slot copies, `revalidates` words each, at `copyAt`: an
   * entry added to `entries` takes the place numbered by the entries before
   * it (entries are only ever dropped all at once, and the numbering starts
   * again). Null until the first copy is kept.
   */
  private copies: Int32Array | null = null;
  /** Stale entries answered by `revalidate` (for tests and benchmarks). */
  revalidated = 0;

  /**
   * @param minHitsPerMiss hits the cache must give per read that went to
   * the shard to stay on: what a miss costs (a `Map.get` and maybe a
   * `Map.set`) against what a hit saves, for this map's key type.
   * @param answers where the cache counts its answers
   * (`counters.cacheCounts()`), or null to count only its hits, for itself;
   * `sampler` the counters they belong to.
   */
  constructor(
    minHitsPerMiss: number,
    answers: Float64Array | null,
    sampler: ThreadCounters | null,
    wordKeys: boolean,
    slotWords: number,
  ) {
    this.wordKeys = wordKeys;
    this.revalidates = !wordKeys && slotWords <= REVALIDATE_MAX_WORDS ? slotWords : 0;
    this.seen = new Int32Array(this.revalidates);
    this.enough = Math.ceil(MISS_WINDOW * minHitsPerMiss);
    this.answers = answers;
    this.sampler = sampler;
    this.left = sampler === null ? 1 : sampler.gap();
    this.answeredBefore = this.answered();
  }

  /**
   * The entry of `key`, fresh or not (undefined: none). With `direct`, a key
   * that is not a number has none (a number key never matches another type,
   * and `Math.imul` would call an object's `valueOf`).
   */
  lookup(key: unknown): CachedRead | undefined {
    const direct = this.direct;
    if (direct === null) return this.wordKeys ? undefined : this.entries.get(key);
    if (typeof key !== 'number') return undefined;
    const entry = direct[directSlot(key)];
    return entry !== undefined && entry.key === key ? entry : undefined;
  }

  /** Entries held (for tests). */
  size(): number {
    return this.direct === null
      ? this.wordKeys
        ? 0
        : this.entries.size
      : this.direct.filter((e) => e !== undefined && e.key !== undefined).length;
  }

  /** Keeps `copySlot`'s copy as `entry`'s slot at word `at` (-1: none; the entry then is not revalidated). */
  private keepSlot(entry: CachedRead, at: number): void {
    entry.at = at;
    if (at < 0) return;
    const n = this.revalidates;
    const copies = this.copies ?? (this.copies = new Int32Array(MAX_ENTRIES * n));
    // An entry not yet in `entries` is the next one: its place is their count.
    if (entry.copyAt < 0) entry.copyAt = this.entries.size * n;
    const seen = this.seen;
    for (let w = 0, c = entry.copyAt; w < n; w++) copies[c + w] = seen[w]!;
    entry.region = this.seenRegion;
  }

  /** Drops every entry (a direct-mapped cache keeps its entry objects, keyed by nothing, for reuse). */
  private clear(): void {
    if (this.direct === null) {
      if (!this.wordKeys) this.entries.clear();
    } else for (const e of this.direct) if (e !== undefined) e.key = undefined;
  }

  /**
   * A get of `key` answered from its `entry`. Without metrics the cache
   * counts it for itself; with them, where the metrics read it (one array
   * for both would cost a map without metrics ~1 ns a hit: a typed array's
   * loads and bounds checks, against two fields).
   */
  hitGet(entry: CachedRead, key: unknown): void {
    if (this.answers === null) {
      if (this.hits < this.enough) this.hits++;
    } else this.count(this.answers, entry.value === undefined ? GET_MISS : GET_HIT, entry.h, key);
  }

  /** A has of `key` answered from its `entry`: as `hitGet`. */
  hitHas(entry: CachedRead, key: unknown): void {
    if (this.answers === null) {
      if (this.hits < this.enough) this.hits++;
    } else this.count(this.answers, entry.value === undefined ? HAS_MISS : HAS_HIT, entry.h, key);
  }

  /** An answer of kind `code` for `key` (hash `h`), counted in `a`, and sampled when the countdown reaches 0. */
  private count(a: Float64Array, code: number, h: number, key: unknown): void {
    a[code]!++;
    if (--this.left === 0) this.left = this.sampler!.sampleCached(h, key);
  }

  /** Answers counted since the last look at whether the cache pays. */
  private hitsSinceLook(): number {
    if (this.answers === null) return this.hits;
    const now = this.answered();
    const n = now - this.answeredBefore;
    this.answeredBefore = now;
    return n;
  }

  /** Every answer counted in `answers` (0 without). */
  private answered(): number {
    const a = this.answers;
    return a === null ? 0 : a[GET_HIT]! + a[GET_MISS]! + a[HAS_HIT]! + a[HAS_MISS]!;
  }

  /**
   * Copies the words of the slot at word `at` (of `i32`, the whole buffer)
   * of shard `d`, and notes the shard's region, for `note` to keep with the
   * entry. Called by a read before it validates
   * (the copy must lie inside the window its seq check covers: a copy made
   * after the check could hold a later write's words next to the earlier
   * value). Only when `revalidates`.
   */
  copySlot(i32: Int32Array, d: number, at: number): void {
    this.seenRegion = i32[d + D_REGION]! >> 2;
    const seen = this.seen;
    for (let w = 0; w < seen.length; w++) seen[w] = i32[at + w]!;
  }

  /**
   * Whether a stale `entry` (its shard's seq moved) is still the answer a
   * read would give, checked without preparing the key: in one validated
   * window (an even seq, loaded again after the compare and unchanged),
   * the slot at `entry.at` is a slot of the shard's current table (the
   * region it was read in is still the shard's, so the slot lies on a slot
   * boundary of it, and inside it) and holds word for word what the read
   * that made the entry saw. Then it holds the
   * same key (a table holds a key in one slot only) and the same value
   * bytes, which decode to the value the entry holds; the entry takes the
   * new seq. Else false (the caller reads the shard, which refreshes the
   * entry).
   */
  revalidate(views: Views, entry: CachedRead): boolean {
    const copies = this.copies;
    const at = entry.at;
    const c = entry.copyAt;
    if (copies === null || at < 0 || c < 0) return false;
    const d = entry.d;
    // Covers the slot: the views covered it when `copySlot` copied it from
    // them, and they are only ever made longer.
    const i32 = views.i32;
    const seq = CACHED_SEQ_PLAIN ? i32[d + D_SEQ]! : Atomics.load(i32, d + D_SEQ);
    if ((seq & 1) !== 0) return false;
    const n = this.revalidates;
    const region = i32[d + D_REGION]! >> 2;
    if (region !== entry.region || at + n > region + i32[d + D_CAP]! * n) return false;
    if (!trustSlot) for (let w = 0; w < n; w++) if (i32[at + w] !== copies[c + w]) return false;
    if (Atomics.load(i32, d + D_SEQ) !== seq) return false;
    entry.seq = seq;
    this.revalidated++;
    return true;
  }

  /**
   * After a validated read of `key` (hash `h`) in shard `d` at the even
   * `seq` that found `value` (undefined: absent) in the slot at word `at`
   * (-1: absent, or no `copySlot` made): refreshes the key's entry
   * (`entry`, from the lookup that missed) or adds one for a present key,
   * keeping the slot's copy when `revalidates`.
   */
  note(
    key: unknown,
    h: number,
    d: number,
    seq: number,
    value: unknown,
    entry: CachedRead | undefined,
    at: number,
  ): void {
    if (entry !== undefined) {
      entry.seq = seq;
      entry.value = value;
      if (this.revalidates !== 0) this.keepSlot(entry, at);
    } else if (value !== undefined) {
      let direct = this.direct;
      if (direct === null && this.wordKeys)
        direct = this.direct = new Array<CachedRead | undefined>(DIRECT_SLOTS).fill(undefined);
      if (direct !== null) {
        const i = directSlot(key as number);
        const old = direct[i];
        if (old === undefined) direct[i] = new CachedRead(key, h, d, seq, value);
        else {
          old.key = key;
          old.h = h;
          old.d = d;
          old.seq = seq;
          old.value = value;
        }
      } else {
        if (this.entries.size >= MAX_ENTRIES) this.entries.clear();
        const added = new CachedRead(key, h, d, seq, value);
        if (this.revalidates !== 0) this.keepSlot(added, at);
        this.entries.set(key, added);
      }
    }
    if (++this.misses === MISS_WINDOW) {
      if (this.hitsSinceLook() < this.enough) {
        this.off = this.offGets;
        this.offGets = Math.min(2 * this.offGets, MAX_OFF_GETS);
        this.clear();
      } else {
        this.offGets = OFF_GETS;
      }
      this.hits = 0;
      this.misses = 0;
    }
  }
}

/**
 * A read cache (`wordKeys`: direct-mapped, for int32 and uint32 keys) for a handle whose counting is `counters` (null: the map has
 * no metrics); null for a handle that counts in the shared overflow block,
 * where a cache could not count its answers with plain stores.
 */
export function readCache(
  minHitsPerMiss: number,
  counters: ThreadCounters | null,
  wordKeys: boolean,
  slotWords: number,
): ReadCache | null {
  if (counters === null) return new ReadCache(minHitsPerMiss, null, null, wordKeys, slotWords);
  const answers = counters.cacheCounts();
  return answers === null ? null : new ReadCache(minHitsPerMiss, answers, counters, wordKeys, slotWords);
}

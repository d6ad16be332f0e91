/**
 * The only file that knows byte offsets. Everything else in shmap reads and
 * writes the buffer through the names and helpers defined here.
 *
 * ```
 *  byte 0        HEADER_BYTES
 *  +-------------+----------------------+---------------+--------+-------------------+--------------------------+
 *  | header      | shard descriptors    | conflict log  | log    | metrics area      | regions ...              |
 *  | (80 x i32)  | SHARD_BYTES (128)    | LOG_RECORD_   | tally  | (`metrics` only): | one per shard, appended  |
 *  | magic, ...  | per shard: lock, seq,| BYTES per     | (64 B) | counter blocks,   | as shards grow; freed    |
 *  |             | region, cap, counts  | record        |        | hot-key sketch    | ones are reused          |
 *  +-------------+----------------------+---------------+--------+-------------------+--------------------------+
 * ```
 *
 * Units in names: `...Bytes` is a byte count or byte offset, `...I32` an
 * index into an `Int32Array` over the whole buffer (byte offset / 4), `...F64`
 * an index into a `Float64Array` (byte offset / 8).
 *
 * Offsets are stored in i32 words, so a map's buffer is at most 2 GiB - 1.
 */

/** "shmp" in ASCII: the first word of every shmap buffer. */
export const MAGIC = 0x73686d70;
/** Bumped whenever anything in this file changes meaning. `attach` refuses other versions. */
export const LAYOUT_VERSION = 10;

/** Largest buffer a map may use (offsets are i32). */
export const MAX_BUFFER_BYTES = 0x7fff_fff8;

// ---------------------------------------------------------------------------
// Header: 80 i32 words at byte 0. Written once by `create` unless noted.

export const HEADER_WORDS = 80;
export const HEADER_BYTES = HEADER_WORDS * 4;

export const H_MAGIC = 0;
export const H_VERSION = 1;
/** 0 = 'lock', 1 = 'none'. */
export const H_SYNC = 2;
/** 0 = 'throw', 1 = 'record'. */
export const H_ON_CONFLICT = 3;
/** Type codes (TYPE_* below) and their N (max bytes; 0 for numbers). */
export const H_KEY_TYPE = 4;
export const H_KEY_N = 5;
export const H_VALUE_TYPE = 6;
export const H_VALUE_N = 7;
/** Shard count, a power of two. */
export const H_SHARDS = 8;
/** Hash seed (any int32). */
export const H_SEED = 9;
/** Bytes per slot; offsets of key and value inside a slot (bytes). */
export const H_SLOT_BYTES = 10;
export const H_KEY_OFF = 11;
export const H_VALUE_OFF = 12;
/** Allocator mutex: lock word (0 or owner thread + 1) and waiter count; guards H_ALLOC_TOP and the free lists. */
export const H_ALLOC_LOCK = 13;
export const H_ALLOC_WAITERS = 14;
/** First byte not yet handed out by the bump allocator. Written under the allocator lock. */
export const H_ALLOC_TOP = 15;
/** Most entries the map may hold; 0 = bounded only by the buffer's maxByteLength. */
export const H_MAX_CAPACITY = 16;
/** Live entries over all shards, kept only when H_MAX_CAPACITY != 0 (Atomics.add by writers under their shard lock). */
export const H_COUNT = 17;
/** Feature bits (FLAG_*), chosen at create. */
export const H_FLAGS = 18;
export const FLAG_TTL = 1;
export const FLAG_LEASES = 2;
/** Conflict log: byte offset of record 0, record count, next record to claim (Atomics.add by any thread), records dropped (Atomics.add). */
export const H_LOG_OFF = 19;
export const H_LOG_CAP = 20;
export const H_LOG_NEXT = 21;
export const H_LOG_OVERFLOW = 22;
/** Byte offset of shard descriptor 0. */
export const H_SHARDS_OFF = 23;
/** A random id for the map, so that handles on it in one thread find each other (map.ts, threadLocal). */
export const H_MAP_ID = 24;
/** Slot offsets (bytes) of the expiry and lease fields; 0 when the feature is off. */
export const H_EXPIRY_OFF = 25;
export const H_LEASE_OFF = 26;
/** Byte offset of the shards' undo areas (UNDO_*; one slot's bytes per shard, written by `create`). */
export const H_UNDO_OFF = 27;
/** Default TTL in ms, a float64 at words 28-29 (+Infinity = none). */
export const H_DEFAULT_TTL_F64_WORD = 28;
/** Lock timeout in ms, a float64 at words 30-31 (+Infinity = wait forever). Written by `create`. */
export const H_LOCK_TIMEOUT_F64_WORD = 30;
/** Free-list heads, one per size class (FREE_CLASSES of them): byte offset of the first free region, 0 = none. Written under the allocator lock. */
export const H_FREE_HEADS = 32;
export const FREE_CLASSES = 32;
/**
 * Operation counters (`metrics` at create; metrics.ts): byte offset of the
 * metrics area (0 = the map has none), its counter blocks (the last one is
 * the shared overflow block), one operation in how many each thread samples
 * for the hot-key sketch (on average), and the sketch's entries.
 */
export const H_METRICS_OFF = 64;
export const H_METRICS_BLOCKS = 65;
export const H_SAMPLE_EVERY = 66;
export const H_HOT_ENTRIES = 67;
/** Byte offset of the lease ledger (maps with leases: LEDGER_* below, leases.ts), 0 without leases. Written by `create`. */
export const H_LEDGER_OFF = 68;
/**
 * `forEach` calls running on this map, in every thread ('lock' mode):
 * Atomics.add +1 by the iterating thread when the call starts, before it
 * notes the shards' seqs, and -1 when it ends. Read by every writer inside
 * its lock (window.ts `begin`: a plain load on x86-64, Atomics.load
 * elsewhere), to know whether to bump H_ITER_WRITES. Each thread's own
 * part is noted in its thread table entry (T_ITERATING), so a thread killed
 * inside `forEach` does not leave it raised past its recovery (until then
 * writes bump H_ITER_WRITES for nothing, ~20 ns each, which changes no
 * result).
 */
export const H_ITERATING = 76;
/**
 * Writes that began while H_ITERATING was non-zero: Atomics.add +1 by the
 * writer (any thread, holding its shard lock), right after it opened its
 * odd-seq window and before it changes anything. A running `forEach` checks
 * this one word per step instead of every shard's seq (iterator.ts).
 */
export const H_ITER_WRITES = 77;
/**
 * The thread table (liveness.ts): byte offset and entry count (THREAD_ENTRIES;
 * 0 = none, a map made before it existed). Written by `create`.
 */
export const H_THREADS_OFF = 69;
export const H_THREADS_CAP = 70;
/**
 * The most bytes the map's buffer may grow to, for a map that lives in a
 * shared `WebAssembly.Memory` (its maximum, which JS cannot read back); 0
 * for a map in a growable SharedArrayBuffer (its `maxByteLength` says).
 * Written by `create`.
 */
export const H_MAX_BYTES = 71;

/** Type codes stored in H_KEY_TYPE / H_VALUE_TYPE. */
export const TYPE_INT32 = 1;
export const TYPE_UINT32 = 2;
export const TYPE_FLOAT64 = 3;
export const TYPE_BIGINT64 = 4;
export const TYPE_STRING = 5;
export const TYPE_BYTES = 6;
export const TYPE_JSON = 7;

// ---------------------------------------------------------------------------
// Shard descriptor: SHARD_BYTES per shard, 64-byte aligned, so no two shards
// share a cache line. Word indices relative to the descriptor's first word.

/** log2(SHARD_WORDS): descriptor word offset -> shard number is a shift. */
const SHARD_WORDS_LOG2 = 5;
export const SHARD_WORDS = 1 << SHARD_WORDS_LOG2;
export const SHARD_BYTES = SHARD_WORDS * 4;

/** Word index of shard `s`'s descriptor, given shard 0's (`shard0I32`, from `shardI32(H_SHARDS_OFF value, 0)`). */
export function descI32(shard0I32: number, s: number): number {
  return shard0I32 + s * SHARD_WORDS;
}

/** The shard number whose descriptor starts at word `dI32` (the inverse of `descI32`). */
export function shardOf(shard0I32: number, dI32: number): number {
  return (dI32 - shard0I32) >> SHARD_WORDS_LOG2;
}

/**
 * Lock word: 0 = free, else owner's threadId + 1, plus bit 30 (window.ts
 * LOCK_WAITERS) when a thread may be parked on it. CAS to take,
 * Atomics.exchange(0) to release ('lock' mode only).
 */
export const D_LOCK = 0;
/**
 * 'none' mode: the thread that last entered a write's window (threadId + 1;
 * 0 = none yet), with its op in D_HOLD_OP; plain stores by the writer before
 * its seq goes odd, read by a thread that detected a conflict, to name the
 * write in progress. Always 0 in 'lock' mode (until layout 5 it counted
 * parked threads, now a bit of D_LOCK).
 */
export const D_WRITING = 1;
/**
 * Seq word: even = stable, odd = a write is in progress. +1 by the lock
 * holder on entering and on leaving each write (a plain store on x86-64,
 * Atomics.add elsewhere: window.ts, "Ordering"), so every completed write
 * adds exactly 2; it is also the shard's version for fail-fast iteration. In
 * 'none' mode the odd state is Go's `hashWriting` flag.
 */
export const D_SEQ = 2;
/** Byte offset of the shard's region and its capacity in slots. Plain stores by the writer inside the odd-seq window; plain loads by readers, validated by the seq. */
export const D_REGION = 3;
export const D_CAP = 4;
/** Live entries and tombstones in the region. Plain stores under the lock (inside the odd window). */
export const D_COUNT = 5;
export const D_TOMBS = 6;
/** Times a writer found the lock taken (Atomics.add, slow path only). */
export const D_LOCK_WAITS = 7;
/** Times a reader saw the seq change under it and read again (Atomics.add, slow path only). */
export const D_READ_RETRIES = 8;
/**
 * The last writer: threadId, op code (OP_* in conflict-log.ts), slot index and
 * region of the slot it wrote, and the seq its write finished with. Plain
 * stores by the writer inside the odd window; read by a thread that detected
 * a conflict, to name the other party (best effort: it may since have moved on).
 */
export const D_LAST_THREAD = 9;
export const D_LAST_OP = 10;
export const D_LAST_SLOT = 11;
export const D_LAST_REGION = 12;
export const D_LAST_SEQ = 13;
/** The op (OP_* code) of the lock's holder: plain store by the holder right after taking the lock; read by waiters that time out and by recovery. */
export const D_HOLD_OP = 14;
/**
 * Slow path of a waiter: the lock word value it first found held, and when
 * (a float64 at words 16-17, ms on the shared clock). Plain stores by any
 * waiter that finds a different holder than the one noted (best effort), so
 * a LockTimeoutError can say how long the holder has held the lock.
 */
export const D_WAIT_OWNER = 15;
export const D_WAIT_SINCE_F64_WORD = 16;

/**
 * The intent record: what the lock holder is about to change, written (plain
 * stores, by the holder) before the change and cleared (D_UNDO_KIND = 0)
 * before it leaves the odd-seq window. A recoverer reads it after the
 * holder died (window.ts, "Recovery"). D_UNDO_KIND is one of UNDO_*;
 * D_UNDO_AT a word index in the buffer and D_UNDO_WORD that word's value
 * before the change (UNDO_WORD), or the slot whose value and expiry words
 * are saved in the shard's undo area (UNDO_SLOT); D_UNDO_NEW_REGION / D_UNDO_NEW_CAP the region a growth
 * allocated, D_UNDO_OLD_REGION / D_UNDO_OLD_CAP the one it replaces.
 */
export const D_UNDO_KIND = 18;
export const D_UNDO_AT = 19;
export const D_UNDO_WORD = 20;
export const D_UNDO_NEW_REGION = 21;
export const D_UNDO_NEW_CAP = 22;
export const D_UNDO_OLD_REGION = 23;
export const D_UNDO_OLD_CAP = 24;

/** No write in progress (or the one in progress is complete). */
export const UNDO_NONE = 0;
/** One word (a control word or a lease word) at D_UNDO_AT held D_UNDO_WORD before. Undo: store it back. */
export const UNDO_WORD = 1;
/** The slot at D_UNDO_AT (an overwrite): its value and expiry words are saved in the shard's undo area, at their offsets in a slot. Undo: copy them back. */
export const UNDO_SLOT = 2;
/** A growth: the new region is allocated (not yet, or just, published). Undo: free whichever region is not in use. */
export const UNDO_GROW = 3;
/** `clear` of a map without leases: complete it (zero the region). */
export const UNDO_CLEAR = 4;
/** Removals one by one (`sweep`, `sweepExpired`, `clear` with leases): each is whole; keep them, recount. */
export const UNDO_REMOVALS = 5;
/**
 * A lease taken or given back (leases.ts): the lease word at D_UNDO_AT held
 * D_UNDO_WORD, and the ledger record at D_UNDO_LEDGER_AT (a word index) had
 * owner D_UNDO_LEDGER_OWNER and count D_UNDO_LEDGER_COUNT. Lease ops never
 * open the odd-seq window (lock-free readers read no lease count), so this
 * kind is cleared by the op itself, and undone whether the window is open
 * or not: store the three words back.
 */
export const UNDO_LEASE = 6;
/** UNDO_LEASE's fields, in words a growth's record uses (a lease op never grows). */
export const D_UNDO_LEDGER_AT = D_UNDO_NEW_REGION;
export const D_UNDO_LEDGER_OWNER = D_UNDO_NEW_CAP;
export const D_UNDO_LEDGER_COUNT = D_UNDO_OLD_REGION;

// ---------------------------------------------------------------------------
// Slots. A region is `capacity` slots of `slotBytes` each:
//
//   +------------+--------------+----------------+
//   | ctrl (i32) | key bytes    | value bytes    |   slotBytes, a multiple of 4 (of 8 when a field is 8 bytes wide)
//   +------------+--------------+----------------+
//
// ctrl, drawn as its 32 bits:
//   EMPTY      0000 0000 ... 0000   (0)  never used since the region was made; ends a probe
//   TOMBSTONE  0000 0000 ... 0001   (1)  deleted; a probe goes on past it
//   FULL       1hhh hhhh ... hhhh  (<0)  h = the key's hash >>> 1 (31 bits): the tag
//
// The tag is also where the slot's home is computed from during a rehash, so
// keys are never hashed again.

export const CTRL_EMPTY = 0;
export const CTRL_TOMBSTONE = 1;
export const CTRL_FULL_BIT = 0x8000_0000 | 0;

/** Region alignment: a cache line, so a 16-byte slot never straddles two. */
export const REGION_ALIGN_BYTES = 64;

/** Width in bytes of a field of the given type (length word included for variable-length types). */
export function fieldBytes(type: number, n: number): number {
  switch (type) {
    case TYPE_INT32:
    case TYPE_UINT32:
      return 4;
    case TYPE_FLOAT64:
    case TYPE_BIGINT64:
      return 8;
    default:
      // i32 byte length, then the bytes, padded to a whole word.
      return 4 + ((n + 3) & ~3);
  }
}

function fieldAlign(type: number): number {
  return type === TYPE_FLOAT64 || type === TYPE_BIGINT64 ? 8 : 4;
}

function alignUp(x: number, to: number): number {
  return Math.ceil(x / to) * to;
}

export interface SlotLayout {
  slotBytes: number;
  keyOffBytes: number;
  valueOffBytes: number;
  /** Offset of the expiry (float64, ms on the shared clock; +Infinity = never), or 0 when the map has no TTL. */
  expiryOffBytes: number;
  /** Offset of the lease word (LEASE_* below), or 0 when the map has no leases. */
  leaseOffBytes: number;
}

/**
 * Where the fields sit inside a slot, for the given types and features:
 *
 *   ctrl | key | value | [expiry f64, with `ttl`] | [lease i32, with `leases`]
 */
export function slotLayout(
  keyType: number,
  keyN: number,
  valueType: number,
  valueN: number,
  ttl = false,
  leases = false,
): SlotLayout {
  const keyOffBytes = alignUp(4, fieldAlign(keyType));
  const valueOffBytes = alignUp(keyOffBytes + fieldBytes(keyType, keyN), fieldAlign(valueType));
  let end = valueOffBytes + fieldBytes(valueType, valueN);
  let expiryOffBytes = 0;
  let leaseOffBytes = 0;
  if (ttl) {
    expiryOffBytes = alignUp(end, 8);
    end = expiryOffBytes + 8;
  }
  if (leases) {
    leaseOffBytes = end;
    end += 4;
  }
  const align = Math.max(4, fieldAlign(keyType), fieldAlign(valueType), ttl ? 8 : 4);
  const slotBytes = alignUp(end, align);
  return { slotBytes, keyOffBytes, valueOffBytes, expiryOffBytes, leaseOffBytes };
}

/**
 * The lease word of a slot (maps with `leases: true`), drawn as its bits:
 *
 *   0 r nnnn ... nnnn    n = leases held (30 bits), r = RETIRED
 *
 * Written under the shard's lock: the count with plain stores (readers never
 * look at it), the RETIRED bit inside the odd-seq window (it hides the entry
 * from readers, who validate with the seq).
 */
export const LEASE_RETIRED = 1 << 30;
export const LEASE_COUNT_MASK = LEASE_RETIRED - 1;

/** Byte size of a region of `capacity` slots, rounded to the region alignment. */
export function regionBytes(capacity: number, slotBytes: number): number {
  return alignUp(capacity * slotBytes, REGION_ALIGN_BYTES);
}

// ---------------------------------------------------------------------------
// Free regions (alloc.ts): the first two words of a free region hold the next
// free region of its size class (byte offset, 0 = end) and its size in bytes.

export const FREE_NEXT = 0;
export const FREE_SIZE = 1;

/** Size class of a region of `bytes` bytes: ceil(log2(bytes)). */
export function sizeClass(bytes: number): number {
  return Math.min(FREE_CLASSES - 1, 32 - Math.clz32(bytes - 1));
}

// ---------------------------------------------------------------------------
// Conflict log records: LOG_RECORD_BYTES each (conflict-log.ts writes them).

export const LOG_RECORD_BYTES = 128;
export const LOG_RECORD_WORDS = LOG_RECORD_BYTES / 4;
/** 0 while being written, 1 once complete (Atomics.store by the writer, last). */
export const R_READY = 0;
export const R_KIND = 1;
export const R_SHARD = 2;
export const R_DET_THREAD = 3;
export const R_DET_OP = 4;
export const R_SEQ_SEEN = 5;
export const R_SEQ_NOW = 6;
export const R_OTHER_THREAD = 7;
export const R_OTHER_OP = 8;
export const R_OTHER_SEQ = 9;
export const R_DET_KEY_LEN = 10;
export const R_OTHER_KEY_LEN = 11;
/** Detection time, a float64 at words 12-13. */
export const R_TIME_F64_WORD = 12;
/** Printable keys, UTF-8, cut to LOG_KEY_BYTES each. */
export const R_DET_KEY = 14;
export const R_OTHER_KEY = 23;
export const LOG_KEY_BYTES = 36;

// ---------------------------------------------------------------------------
// Log tally: LOG_TALLY_BYTES right after the last conflict record (its word
// index is logTallyI32(H_LOG_OFF, H_LOG_CAP)), what a live follower of the
// log (src/metrics/follow.ts) and a metrics scrape read. Word indices
// relative to the tally's first word.

export const LOG_TALLY_BYTES = 64;
/**
 * Log events: +1 (Atomics.add) by any thread after it published a record
 * (R_READY = 1) or counted one as dropped (H_LOG_OVERFLOW), then
 * Atomics.notify on this word. Followers Atomics.wait / waitAsync on it with
 * the value they read before looking at the log, so no publish is missed.
 */
export const T_EVENTS = 0;
/**
 * Conflicts detected, by kind code (KIND_* in conflict-log.ts), recorded or
 * dropped alike: Atomics.add by the detecting thread. T_KINDS words from
 * T_BY_KIND; a kind code at or past T_KINDS counts in the last word.
 */
export const T_BY_KIND = 1;
export const T_KINDS = 8;

// ---------------------------------------------------------------------------
// Metrics area (maps created with `metrics`; metrics.ts reads and writes it),
// after the log tally and before the regions:
//
//   +-----------------+-----------------+-----+------------------+--------------+-------------------+
//   | block 0         | block 1         | ... | overflow block   | sketch head  | shard samples,    |
//   | owner, counters | owner, counters |     | (shared, Atomics)| lock, total  | sketch entries    |
//   +-----------------+-----------------+-----+------------------+--------------+-------------------+
//
// A counter block is BLOCK_BYTES (two cache lines, so no two threads' counters
// share a line, nor an adjacent-line prefetch pair). Its word 0 is the owner;
// its float64 words 1..27 are counters (C_* in metrics.ts; 24..27 those the
// read cache counts).

export const BLOCK_BYTES = 256;
export const BLOCK_WORDS = BLOCK_BYTES / 4;
/** Float64 counters per block (word pair 0 holds the owner). */
export const BLOCK_COUNTERS = BLOCK_BYTES / 8;
/**
 * Owner word of a block: 0 = free, else the owning thread's threadId + 1.
 * Taken with Atomics.compareExchange(0 -> me) by a thread's first handle on
 * the map; given back (Atomics.compareExchange(me -> 0)) when the thread
 * ends normally or is recovered after its death. Counts stay: the next owner
 * adds to them, so a dead thread's operations stay in the totals.
 */
export const B_OWNER = 0;
/**
 * Sketch head, SKETCH_HEAD_BYTES right after the blocks. S_LOCK: 0 = free,
 * else the sampling thread's threadId + 1 (Atomics.compareExchange; a
 * sampler that finds it taken drops its sample, nobody waits). S_TOTAL_F64_WORD:
 * samples taken, a float64 (plain stores under S_LOCK).
 */
export const SKETCH_HEAD_BYTES = 64;
export const S_LOCK = 0;
export const S_TOTAL_F64_WORD = 2;
/**
 * After the head: one float64 per shard (samples of operations on that
 * shard, plain stores under S_LOCK), then the sketch's entries, each
 * `hotEntryWords(keyWords)`: count and overestimate (float64s, words 0-1 and
 * 2-3), the key's hash (word 4), used flag (word 5), then the key as a slot
 * holds it. Written under S_LOCK with plain stores.
 */
export const E_COUNT_F64_WORD = 0;
export const E_ERROR_F64_WORD = 2;
export const E_HASH = 4;
export const E_USED = 5;
export const E_KEY = 6;

/** Words of one sketch entry for a key field `keyWords` wide (even, so the float64s stay aligned). */
export function hotEntryWords(keyWords: number): number {
  return alignUp(E_KEY + keyWords, 2);
}

/** Bytes of the metrics area: `blocks` counter blocks, the sketch head, `shards` sample counts and `entries` sketch entries. */
export function metricsBytes(blocks: number, shards: number, entries: number, keyWords: number): number {
  return alignUp(
    blocks * BLOCK_BYTES + SKETCH_HEAD_BYTES + shards * 8 + entries * hotEntryWords(keyWords) * 4,
    REGION_ALIGN_BYTES,
  );
}

/** Word index of counter block `b` of the metrics area at byte `metricsOff`. */
export function blockI32(metricsOff: number, b: number): number {
  return (metricsOff >> 2) + b * BLOCK_WORDS;
}

/** Word index of the sketch head of a metrics area at byte `metricsOff` with `blocks` blocks. */
export function sketchI32(metricsOff: number, blocks: number): number {
  return (metricsOff >> 2) + blocks * BLOCK_WORDS;
}

/** Word index of shard 0's sample count (a float64: two words per shard), given the sketch head's word index. */
export function shardSamplesI32(sketch: number): number {
  return sketch + SKETCH_HEAD_BYTES / 4;
}

/** Word index of sketch entry `e`, given the sketch head's word index, the shard count and the key width. */
export function hotEntryI32(sketch: number, shards: number, keyWords: number, e: number): number {
  return shardSamplesI32(sketch) + shards * 2 + e * hotEntryWords(keyWords);
}

// ---------------------------------------------------------------------------
// Lease ledger (maps with leases; leases.ts), after the shards' undo areas:
// per shard LEDGER_RECORDS records, each saying that one thread holds
// `count` leases on one key of that shard:
//
//   +-------+-------+------+-----------------+
//   | owner | count | hash | key (as a slot  |   ledgerRecordWords(keyWords) words
//   |       |       |      | holds it)       |
//   +-------+-------+------+-----------------+
//
// L_OWNER: 0 = free, else the holder's threadId + 1. L_COUNT: leases it
// holds on the key (the entry's lease word counts every holder's). L_HASH:
// the key's hash. All plain stores and loads under the key's shard lock,
// by acquire and release (and recovery, which holds that lock too). A
// record's key identifies the entry wherever growth moves it.

/** Records per shard: the most (thread, key) pairs holding leases in one shard at once. */
export const LEDGER_RECORDS = 32;
export const L_OWNER = 0;
export const L_COUNT = 1;
export const L_HASH = 2;
export const L_KEY = 3;

/** Words of one ledger record for a key field `keyWords` wide. */
export function ledgerRecordWords(keyWords: number): number {
  return L_KEY + keyWords;
}

/** Bytes of the ledger of a map with `shards` shards and a key field `keyWords` wide. */
export function ledgerBytes(shards: number, keyWords: number): number {
  return alignUp(shards * LEDGER_RECORDS * ledgerRecordWords(keyWords) * 4, REGION_ALIGN_BYTES);
}

/** Word index of shard `s`'s record 0, for a ledger at byte `ledgerOff`. */
export function ledgerShardI32(ledgerOff: number, s: number, keyWords: number): number {
  return (ledgerOff >> 2) + s * LEDGER_RECORDS * ledgerRecordWords(keyWords);
}

// ---------------------------------------------------------------------------
// Whole-buffer arithmetic.

/** Byte offset of the shard descriptors (right after the header). */
export function shardsOffBytes(): number {
  return HEADER_BYTES;
}

/** Byte offset of the conflict log, after `shards` descriptors. */
export function logOffBytes(shards: number): number {
  return HEADER_BYTES + shards * SHARD_BYTES;
}

/** Byte offset of the metrics area (when the map has one): after the log's records and its tally. */
export function metricsOffBytes(shards: number, logRecords: number): number {
  return alignUp(logOffBytes(shards) + logRecords * LOG_RECORD_BYTES + LOG_TALLY_BYTES, REGION_ALIGN_BYTES);
}

/** Byte offset where regions start (after the log's records, its tally, and the metrics area of `metricsAreaBytes`, 0 without metrics). */
export function regionsOffBytes(shards: number, logRecords: number, metricsAreaBytes = 0): number {
  return metricsOffBytes(shards, logRecords) + metricsAreaBytes;
}

/** Word index of the log tally of a log whose record 0 is at byte `logOff` and which holds `logRecords` records. */
export function logTallyI32(logOff: number, logRecords: number): number {
  return (logOff >> 2) + logRecords * LOG_RECORD_WORDS;
}

/** Word index of shard `s`'s descriptor. */
export function shardI32(shardsOffBytesValue: number, s: number): number {
  return descI32(shardsOffBytesValue >> 2, s);
}

/** Word index of conflict record `r`. */
export function recordI32(logOff: number, r: number): number {
  return (logOff >> 2) + r * LOG_RECORD_WORDS;
}

// ---------------------------------------------------------------------------
// Delete queue (patterns/delete-queue.ts): a buffer of its own, not the
// map's. Byte offsets. Header words are written once by `create` before the buffer
// is shared, and only read afterwards.

export const Q_MAGIC = 0x5144_4d53; // 'SMDQ' little-endian
export const Q_LAYOUT_VERSION = 2;

export const Q_MAGIC_BYTES = 0;
export const Q_VERSION_BYTES = 4;
/** Key type code (KEY_* below). */
export const Q_KEY_TYPE_BYTES = 8;
/** N of string:N / bytes:N; the width for fixed types. */
export const Q_KEY_N_BYTES = 12;
/** The bound asked for: producers keep tail - head < capacity. */
export const Q_CAPACITY_BYTES = 16;
/** Slots in the ring, a power of two >= capacity. */
export const Q_RING_SLOTS_BYTES = 20;
export const Q_SLOT_BYTES_BYTES = 24;
/** The first position (0, or what the test back door chose); stats count from it. */
export const Q_START_BYTES = 28;
/** Producer records (the `producers` option). */
export const Q_PRODUCERS_BYTES = 32;
/** Byte offset of slot 0: Q_RECORDS_BYTES + producers * Q_RECORD_BYTES. */
export const Q_SLOTS_OFF_BYTES = 36;

/**
 * Next position a producer claims. Written by producers only, with
 * `Atomics.compareExchange(tail, p, p + 1)`; the winner owns position p.
 * Read by `size`/stats and by the closing drain.
 */
export const Q_TAIL_BYTES = 64;
/**
 * Next position the consumer reads. Written by the one consumer with
 * `Atomics.store` after it has applied that position's delete; read by
 * producers (`Atomics.load`) for the capacity check.
 */
export const Q_HEAD_BYTES = 128;
/** Times head wrapped past `start` (so consumed = laps * 2^32 + (head - start)). Consumer only, `Atomics.store`. */
export const Q_LAPS_BYTES = 132;
/** 0 = no consumer; else the draining thread's threadId + 1. `Atomics.compareExchange` to take, `Atomics.store(0)` to give. */
export const Q_CONSUMER_BYTES = 136;

/** 0 = open, 1 = closed. Set once by `close()` with `Atomics.store`; producers load it before and after claiming. */
export const Q_CLOSED_BYTES = 192;
/** 1 while the consumer is parked (or about to park) in `waitForKeys`, else 0. Consumer only, `Atomics.store`; producers load it after publishing. */
export const Q_PARKED_BYTES = 196;
/** Wake-up counter the consumer parks on. Producers (when PARKED is 1) and `close()` bump it with `Atomics.add`, then `Atomics.notify`. */
export const Q_WAKE_BYTES = 200;
/** Producers parked (or about to park) in `enqueueWait`: `Atomics.add` / `Atomics.sub` by them; the consumer bumps ROOM_EPOCH when > 0. */
export const Q_ROOM_WAITERS_BYTES = 204;
/** Room wake-up counter producers park on in `enqueueWait`. Bumped (`Atomics.add`, then `Atomics.notify`) by the consumer after it frees a slot while ROOM_WAITERS > 0, and by `close()`. */
export const Q_ROOM_EPOCH_BYTES = 208;
/**
 * Producers mid-claim that have no record (more producing handles than
 * records): `Atomics.add` before the TAIL CAS, `Atomics.sub` after
 * publishing. While it is > 0 the consumer skips nothing (it cannot tell
 * whose claim a position is). A producer dead there leaves it > 0 for good.
 */
export const Q_UNRECORDED_BYTES = 212;
/** Records marked Q_DEAD by `recover` and not yet freed by the consumer. `Atomics.add` by recover, `Atomics.sub` by the consumer when it frees one. */
export const Q_DEAD_RECORDS_BYTES = 216;

// 64-bit counters (BigInt64Array, `Atomics.add`), all on the rare paths.
/** `enqueue` calls that returned false because the queue was full (enqueueWait timeouts included). Producers. */
export const Q_FULL_REJECTIONS_BYTES = 256;
/** Times `enqueueWait` parked waiting for room. Producers. */
export const Q_FULL_WAITS_BYTES = 264;
/** `enqueue` calls that returned false because the queue was closed. Producers. */
export const Q_CLOSED_REJECTIONS_BYTES = 272;
/** Positions claimed, then given up because `close()` came between the checks (a subset of CLOSED_REJECTIONS). Producers. */
export const Q_CANCELLED_BYTES = 280;
/** Cancelled positions the consumer has stepped over. Consumer. */
export const Q_CANCELS_SKIPPED_BYTES = 288;
/** Times the consumer parked in `waitForKeys`. Consumer. */
export const Q_PARKS_BYTES = 296;
/** Positions skipped because their producer died between claim and publish. Consumer. */
export const Q_ORPHANS_SKIPPED_BYTES = 304;
/** `recover` calls that found something of that thread's (a record or the consumer word). Any thread. */
export const Q_RECOVERIES_BYTES = 312;

/**
 * Producer records, Q_RECORD_BYTES each from Q_RECORDS_BYTES. Words of record r:
 *  - OWNER: 0 = free; threadId + 1 of the handle that took it
 *    (`Atomics.compareExchange(0, me)` on its first enqueue); Q_DEAD (-1) once
 *    `recover` found its thread dead while busy. The consumer frees a Q_DEAD
 *    record (`Atomics.store(0)`) once HEAD is past its INTENT.
 *  - STATE: 1 while its producer is inside a claim (from before the TAIL CAS
 *    until after publishing), else 0. Owner only, `Atomics.store`.
 *  - INTENT: the position the owner is about to claim or has claimed;
 *    meaningful while STATE is 1. Owner only, `Atomics.store`, before each
 *    TAIL CAS.
 */
export const Q_RECORDS_BYTES = 320;
export const Q_RECORD_BYTES = 16;
export const Q_REC_OWNER = 0;
export const Q_REC_STATE = 4;
export const Q_REC_INTENT = 8;
export const Q_DEAD = -1;
/** A handle with no record yet / none left. */
export const Q_NO_RECORD = -1;
export const Q_UNRECORDED = -2;
export const Q_DEFAULT_PRODUCERS = 128;
export const Q_MAX_PRODUCERS = 1 << 16;

// Slot: [seq i32 | len i32 | key bytes ...]. The key starts 8 bytes in, so
// 8-byte keys are 8-aligned.
/** Per slot: p when free for position p (initially), p + 1 once position p is published. Producer of p, `Atomics.store`; consumer `Atomics.load`. */
export const Q_SLOT_SEQ_BYTES = 0;
/** Per slot, plain, written by the producer before it publishes: the byte length of a string/bytes key, 0 for fixed keys, Q_CANCELLED for a given-up position. */
export const Q_SLOT_LEN_BYTES = 4;
export const Q_SLOT_KEY_BYTES = 8;
export const Q_CANCELLED = -1;

// ---------------------------------------------------------------------------
// Thread table (liveness.ts): which operating-system thread each map thread
// runs on, so that a thread waiting for a lock can ask the kernel whether
// the holder still exists, and what a thread holds that is not a lock (its
// running `forEach` registrations), so that recovery can give it back.
// THREAD_ENTRIES entries of THREAD_ENTRY_WORDS words:
//
//   T_OWNER      0 = never used (ends a lookup), T_CLAIMING while being
//                (re)written, T_FREE once recovery gave it up, else threadId + 1
//   T_TID        the owner's kernel thread id (Linux x86-64; 0 = unknown),
//                written before T_OWNER names it
//   T_ITERATING  the owner's registrations in H_ITERATING (Atomics.add/sub by
//                the owner; Atomics.exchange to 0 by a recoverer)
//
// An entry is claimed by its own thread (CAS on T_OWNER) when it first takes
// a handle on the map, and may be claimed again once freed by recovery or
// once its kernel thread is gone.

export const THREAD_ENTRIES = 256;
export const THREAD_ENTRY_WORDS = 4;
export const T_OWNER = 0;
export const T_TID = 1;
export const T_ITERATING = 2;
export const T_CLAIMING = -1;
export const T_FREE = -2;

/** Bytes of the thread table. */
export function threadsBytes(): number {
  return alignUp(THREAD_ENTRIES * THREAD_ENTRY_WORDS * 4, REGION_ALIGN_BYTES);
}

/** Word index of entry `e` of a thread table at byte `threadsOff`. */
export function threadEntryI32(threadsOff: number, e: number): number {
  return (threadsOff >> 2) + e * THREAD_ENTRY_WORDS;
}

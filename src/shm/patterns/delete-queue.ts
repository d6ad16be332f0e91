/**
 * DeleteQueue: a bounded multi-producer, single-consumer ring of keys in its
 * own SharedArrayBuffer. Handlers in any thread enqueue the keys they want
 * gone; one thread (the drainer, src/workers/drainer.ts) applies the deletes
 * to the map. Handlers never range over the map and never delete from it
 * while it is iterated, so the "range + delete" race cannot happen.
 *
 * Guarantees (with one consumer at a time, which `drainInto` enforces):
 *  - MUST: every key for which `enqueue` / `enqueueWait` returned true is
 *    handed to `map.delete` once by a drain that runs to the end of its item
 *    (a drainer killed inside `map.delete` hands that key over again to the
 *    next drain: `delete` is idempotent, so the effect is still once).
 *  - MUST: keys enqueued by one thread are drained in the order it enqueued
 *    them (keys of different threads interleave in claim order).
 *  - MUST: a key that is not enqueued is reported: `enqueue` returns false
 *    (queue full, or closed) and the stats count it. Bad keys throw before
 *    anything is claimed or written.
 *  - MAY: a drain stops early at a slot claimed by a producer that has not
 *    finished writing it; the next drain picks it up.
 *  - MUST: a producer that dies between claiming a position and publishing
 *    it stalls the drain only until `recover(itsThreadId)`; then the drain
 *    skips that position (its key was never acknowledged) and goes on.
 *  - MUST: a drainer that dies can be replaced, after `recover`, by a new
 *    one that drains everything the dead one had not finished, its last
 *    key included (handed over again; `delete` is idempotent).
 *
 * Glossary
 *  - position: a ticket number, int32 arithmetic modulo 2^32. Producers take
 *    the next one from `tail`; the consumer's next one is `head`.
 *  - slot: `ringSlots` fixed-width records; position p lives in slot p & mask.
 *  - published: the producer's last step for position p, `seq[slot] = p + 1`.
 *  - capacity: the bound asked for; the ring has the next power of two of
 *    slots, and producers keep `tail - head < capacity` themselves, so the
 *    bound is exactly what was asked.
 *
 * Buffer (fixed size: a bounded ring never grows; attach accepts any length
 * at least as large as the header says):
 *
 * ```
 * 0    header   magic, version, key type, key width, capacity, ring slots, slot bytes, start
 * 64   TAIL     line of its own: every producer CASes it
 * 128  HEAD     line of the consumer: head, laps, consumer owner
 * 192  SIGNALS  closed, parked, wake, room waiters, room epoch, unrecorded claims, dead records
 * 256  STATS    64-bit counters of rare events
 * 320  RECORDS  producers x 16: [owner i32][state i32][intent i32][unused]
 * ...  slots    ringSlots x slotBytes: [seq i32][len i32][key bytes, padded to 8]
 * ```
 *
 * # Threads that die (`worker.terminate()`, a piscina abort)
 *
 * A thread can be stopped between any two of its statements, and a `finally`
 * does not run. Two places in the queue would then wait forever:
 *
 *  - A producer dead between claiming position p (the TAIL CAS) and
 *    publishing it. The consumer keeps order, so it stops at p. Each
 *    producing handle therefore owns a *producer record* (RECORDS below,
 *    taken on its first enqueue): before each claim it stores the position it
 *    is about to claim (INTENT) and marks itself busy (STATE = 1), and it
 *    clears STATE only after publishing. `recover(threadId)` marks a dead
 *    thread's busy records Q_DEAD. The consumer skips an unpublished, claimed
 *    position p only when no record that is not Q_DEAD is busy with INTENT p
 *    (and no unrecorded producer is mid-claim): the winner of p stored
 *    INTENT p before its CAS and keeps it until it has published, so if it
 *    were alive the consumer would see it. A skipped position was never
 *    acknowledged (the dead producer's `enqueue` never returned), so nothing
 *    acknowledged is lost.
 *  - A consumer dead inside a drain keeps CONSUMER, so the next drainer is
 *    refused. `recover(threadId)` clears it. The dead drainer's last key was
 *    handed to `map.delete` before HEAD moved past it (see drainPublished):
 *    the next drain hands it over again, and `delete` is idempotent.
 *
 * A thread is known dead when someone says so: `recover(threadId)`, called
 * for you by any `map.watch(worker | pool)` in a thread that created or
 * attached this queue (every handle registers itself with the watch's death
 * hooks, watch.ts `recoverOnThreadDeath`), or by hand after a Worker's
 * 'exit'. Not on piscina's 'workerDestroy': it comes before the thread has
 * stopped. A thread still alive must never be recovered: it would write a
 * slot the ring has given to another position.
 */
import { InvalidHandleError, InvalidOptionError, ShmapTypeError, ConcurrentMapWriteError } from '../errors.js';
import { describe, keyCodec, parseType, typeName, type KeyCodec } from '../codec.js';
import { TYPE_BIGINT64, TYPE_BYTES, TYPE_INT32, TYPE_STRING, fieldBytes } from '../layout.js';
import {
  Q_MAGIC,
  Q_LAYOUT_VERSION,
  Q_MAGIC_BYTES,
  Q_VERSION_BYTES,
  Q_KEY_TYPE_BYTES,
  Q_KEY_N_BYTES,
  Q_CAPACITY_BYTES,
  Q_RING_SLOTS_BYTES,
  Q_SLOT_BYTES_BYTES,
  Q_START_BYTES,
  Q_PRODUCERS_BYTES,
  Q_SLOTS_OFF_BYTES,
  Q_TAIL_BYTES,
  Q_HEAD_BYTES,
  Q_LAPS_BYTES,
  Q_CONSUMER_BYTES,
  Q_CLOSED_BYTES,
  Q_PARKED_BYTES,
  Q_WAKE_BYTES,
  Q_ROOM_WAITERS_BYTES,
  Q_ROOM_EPOCH_BYTES,
  Q_UNRECORDED_BYTES,
  Q_DEAD_RECORDS_BYTES,
  Q_FULL_REJECTIONS_BYTES,
  Q_FULL_WAITS_BYTES,
  Q_CLOSED_REJECTIONS_BYTES,
  Q_CANCELLED_BYTES,
  Q_CANCELS_SKIPPED_BYTES,
  Q_PARKS_BYTES,
  Q_ORPHANS_SKIPPED_BYTES,
  Q_RECOVERIES_BYTES,
  Q_RECORDS_BYTES,
  Q_RECORD_BYTES,
  Q_REC_OWNER,
  Q_REC_STATE,
  Q_REC_INTENT,
  Q_DEAD,
  Q_NO_RECORD,
  Q_UNRECORDED,
  Q_DEFAULT_PRODUCERS,
  Q_MAX_PRODUCERS,
  Q_SLOT_SEQ_BYTES,
  Q_SLOT_LEN_BYTES,
  Q_SLOT_KEY_BYTES,
  Q_CANCELLED,
} from '../layout.js';

import { Views } from '../views.js';
import { threadId } from 'node:worker_threads';
import { recoverOnThreadDeath } from '../watch.js';
import { MapCore } from '../core.js';
import { C_QUEUE_DRAIN, C_QUEUE_ENQUEUE, C_QUEUE_FULL, type ThreadCounters } from '../metrics.js';
import type { KeyType } from '../types.js';

/** Largest capacity (the ring's int32 positions need ringSlots <= 2^30). */
export const MAX_QUEUE_CAPACITY = 1 << 30;
/** Largest N for string:N / bytes:N keys. */
export const MAX_QUEUE_KEY_N = 1 << 20;
/** Most bytes a queue's buffer may take. */
const MAX_QUEUE_BYTES = 2 ** 31 - 1;

// ---------------------------------------------------------------------------
// Public types

export interface DeleteQueueOptions {
  /** Most keys the queue holds at once (enqueued, not yet drained). An integer from 1 to 2^30. */
  capacity: number;
  /** Key type, as the map's. Default `'int32'`. */
  key?: KeyType;
  /**
   * Producing handles tracked at once so that a producer's death can be
   * recovered (one 16-byte record each; a record is freed when its thread is
   * recovered). Beyond that, producers still work, but a death of an
   * untracked producer between claim and publish stalls the drainer. Default
   * 128, from 1 to 65536.
   */
  producers?: number;
}

/** What `recover(threadId)` did for the queue. */
export interface QueueRecovery {
  threadId: number;
  /** The thread's producer records that were idle: freed. */
  recordsFreed: number;
  /** Its records that were busy (claiming or publishing): marked dead; the drainer skips their position if it was claimed and never published. */
  claimsOrphaned: number;
  /** The thread was the consumer: the consumer word was cleared, so a new drainer can start. */
  consumerReleased: boolean;
}

/** What `DeleteQueue.attach` takes. Structured-clonable: passes through postMessage, workerData, piscina task arguments. */
export interface DeleteQueueHandle {
  readonly shmapQueue: 1;
  readonly buffer: SharedArrayBuffer;
}

/** Anything with a `delete(key)` method: a SharedMap, a JS Map, a wrapper that logs. */
export interface Deletable<K> {
  delete(key: K): unknown;
}

/**
 * Counters over all threads. Each is read with its own atomic load, so under
 * concurrency they are a little apart from each other; when the queue is
 * quiet, `enqueued === drained + size`.
 */
export interface DeleteQueueStats {
  capacity: number;
  /** Keys enqueued and not yet drained (positions claimed and not consumed). */
  size: number;
  /** Keys accepted (enqueue or enqueueWait returned true). */
  enqueued: number;
  /** Keys handed to `map.delete` and done. */
  drained: number;
  /** enqueue/enqueueWait calls that returned false because the queue was full. */
  fullRejections: number;
  /** Times enqueueWait parked waiting for room. */
  fullWaits: number;
  /** enqueue/enqueueWait calls that returned false because the queue was closed. */
  closedRejections: number;
  /** Times the consumer parked waiting for keys. */
  consumerParks: number;
  /** Positions skipped because their producer died between claim and publish (that enqueue never returned true). */
  orphansSkipped: number;
  /** `recover` calls that found something of the dead thread's. */
  recoveries: number;
  closed: boolean;
}

export type WaitResult = 'ready' | 'closed' | 'timeout';

// ---------------------------------------------------------------------------
// Keys: the map's key codec (codec.ts) validates and encodes them, so a key
// the queue accepts is exactly a key the map can hold, with the same errors.
// A slot holds the codec's words: a number key's words from Q_SLOT_KEY_BYTES
// (its length word is 0), a sized key's length word at Q_SLOT_LEN_BYTES and
// its bytes from Q_SLOT_KEY_BYTES.

class QueueKeys {
  private readonly kc: KeyCodec;
  private readonly sized: boolean;
  /** Bytes a key takes in the slot (without the length word). */
  readonly widthBytes: number;
  /** The key `prepared` holds (a primitive; an object key is encoded again on write). */
  private last: unknown = QueueKeys;
  private readonly views: Views;

  constructor(
    buffer: SharedArrayBuffer,
    readonly code: number,
    readonly n: number,
  ) {
    this.kc = keyCodec(code, n, 0);
    this.sized = code === TYPE_STRING || code === TYPE_BYTES;
    this.widthBytes = keyWidthBytes(code, n);
    this.views = new Views(buffer);
  }

  /** Validates `key` (ShmapTypeError, KeyTooLongError) and returns the slot's length word. Writes nothing. */
  check(key: unknown): number {
    this.prepare(key);
    return this.sized ? this.kc.prepared[0]! : 0;
  }

  /** Writes `key` (checked before) into the slot at byte `slot`, all but the length word. */
  write(key: unknown, i32: Int32Array, slot: number): void {
    if (typeof key === 'object' || !Object.is(key, this.last)) this.prepare(key);
    const kc = this.kc;
    const from = this.sized ? 1 : 0;
    const at = ((slot + Q_SLOT_KEY_BYTES) >> 2) - from;
    for (let w = from; w < kc.usedWords; w++) i32[at + w] = kc.prepared[w]!;
  }

  /** The key in the slot at byte `slot`. */
  read(slot: number): unknown {
    return this.kc.load(this.views, (slot + (this.sized ? Q_SLOT_LEN_BYTES : Q_SLOT_KEY_BYTES)) >> 2);
  }

  private prepare(key: unknown): void {
    this.last = QueueKeys;
    this.kc.prepareWrite(key);
    this.last = key;
  }
}

/** Whether a header's key type code and N are a queue's (not a corrupt header). */
function validKeyType(code: number, n: number): boolean {
  if (code === TYPE_STRING || code === TYPE_BYTES) return n >= 1 && n <= MAX_QUEUE_KEY_N;
  return code >= TYPE_INT32 && code <= TYPE_BIGINT64;
}

/** Bytes a key of the type takes in a slot, without the length word. */
function keyWidthBytes(code: number, n: number): number {
  return code === TYPE_STRING || code === TYPE_BYTES ? n : fieldBytes(code, n);
}

function slotBytesFor(widthBytes: number): number {
  return Q_SLOT_KEY_BYTES + ((widthBytes + 7) & ~7);
}

function nextPowerOfTwo(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

// ---------------------------------------------------------------------------

/**
 * A bounded MPSC queue of keys to delete. Create it in one thread, pass
 * `queue.handle` to others, `DeleteQueue.attach(handle)` there. Every method
 * may be called from any thread, except the consumer's (`drainInto`,
 * `drainRemaining`, `waitForKeys`), which one thread at a time may call.
 */
export class DeleteQueue<K = number> {
  /** Pass this to other threads; `DeleteQueue.attach(handle)` there. */
  readonly handle: DeleteQueueHandle;
  /** The bound: most keys held at once. */
  readonly capacity: number;
  readonly keyType: KeyType;

  private readonly i32: Int32Array;
  private readonly i64: BigInt64Array;
  private readonly keys: QueueKeys;
  private readonly mask: number;
  private readonly slotBytes: number;
  private readonly start: number;
  /** Byte offset of slot 0. */
  private readonly slotsOff: number;
  /** Producer records in the buffer. */
  private readonly producers: number;
  /** This handle's producer record: its index, Q_NO_RECORD before the first claim, Q_UNRECORDED when none was free. */
  private rec = Q_NO_RECORD;
  /** @internal Test switch: false = never skip a dead producer's position (the negative control). */
  _skipOrphans = true;
  /** The map counters this handle counts its keys in (`countIn`); null: counted only in `stats()`. */
  private counters: ThreadCounters | null = null;

  private constructor(buffer: SharedArrayBuffer, keyTypeCode: number, keyN: number) {
    this.handle = { shmapQueue: 1, buffer };
    this.i32 = new Int32Array(buffer);
    this.i64 = new BigInt64Array(buffer);
    this.keys = new QueueKeys(buffer, keyTypeCode, keyN);
    this.capacity = this.i32[Q_CAPACITY_BYTES >> 2]!;
    this.mask = this.i32[Q_RING_SLOTS_BYTES >> 2]! - 1;
    this.slotBytes = this.i32[Q_SLOT_BYTES_BYTES >> 2]!;
    this.start = this.i32[Q_START_BYTES >> 2]!;
    this.producers = this.i32[Q_PRODUCERS_BYTES >> 2]!;
    this.slotsOff = this.i32[Q_SLOTS_OFF_BYTES >> 2]!;
    this.keyType = typeName(keyTypeCode, keyN) as KeyType;
    // Any map.watch in this thread recovers this queue too (a dead producer's claim, a dead drainer).
    recoverOnThreadDeath(this);
  }

  /** A new, empty, open queue. Throws InvalidOptionError naming the bad option. */
  static create<K = number>(options: DeleteQueueOptions): DeleteQueue<K> {
    return DeleteQueue.createAt<K>(options, 0);
  }

  /** @internal Test back door: a queue whose positions start at `start` (to run across the 2^32 wrap). */
  static createAt<K = number>(options: DeleteQueueOptions, start: number): DeleteQueue<K> {
    if (options === null || typeof options !== 'object')
      throw new InvalidOptionError('options must be an object with a capacity');
    const capacity = options.capacity;
    if (typeof capacity !== 'number' || !Number.isInteger(capacity) || capacity < 1 || capacity > MAX_QUEUE_CAPACITY) {
      throw new InvalidOptionError(`options.capacity must be an integer from 1 to 2^30, got ${describe(capacity)}`);
    }
    const { code, n } = parseType(options.key ?? 'int32', 'key', false);
    const producers = options.producers ?? Q_DEFAULT_PRODUCERS;
    if (typeof producers !== 'number' || !Number.isInteger(producers) || producers < 1 || producers > Q_MAX_PRODUCERS) {
      throw new InvalidOptionError(
        `options.producers must be an integer from 1 to ${Q_MAX_PRODUCERS}, got ${describe(producers)}`,
      );
    }
    const ringSlots = nextPowerOfTwo(capacity);
    const slotBytes = slotBytesFor(keyWidthBytes(code, n));
    const slotsOff = Q_RECORDS_BYTES + producers * Q_RECORD_BYTES;
    const totalBytes = slotsOff + ringSlots * slotBytes;
    if (totalBytes > MAX_QUEUE_BYTES) {
      throw new InvalidOptionError(
        `options.capacity: ${capacity} keys of ${options.key ?? 'int32'} take ${totalBytes} bytes, over 2 GiB`,
      );
    }
    const buffer = new SharedArrayBuffer(totalBytes);
    const i32 = new Int32Array(buffer);
    // Plain writes: nobody else sees the buffer until `handle` is passed on,
    // and postMessage / Worker creation order everything before it.
    i32[Q_MAGIC_BYTES >> 2] = Q_MAGIC;
    i32[Q_VERSION_BYTES >> 2] = Q_LAYOUT_VERSION;
    i32[Q_KEY_TYPE_BYTES >> 2] = code;
    i32[Q_KEY_N_BYTES >> 2] = n;
    i32[Q_CAPACITY_BYTES >> 2] = capacity;
    i32[Q_RING_SLOTS_BYTES >> 2] = ringSlots;
    i32[Q_SLOT_BYTES_BYTES >> 2] = slotBytes;
    i32[Q_START_BYTES >> 2] = start | 0;
    i32[Q_PRODUCERS_BYTES >> 2] = producers;
    i32[Q_SLOTS_OFF_BYTES >> 2] = slotsOff;
    i32[Q_TAIL_BYTES >> 2] = start | 0;
    i32[Q_HEAD_BYTES >> 2] = start | 0;
    // Slot of position p starts "free for p": seq = p.
    for (let k = 0; k < ringSlots; k++) {
      const p = (start + k) | 0;
      i32[(slotsOff + (p & (ringSlots - 1)) * slotBytes + Q_SLOT_SEQ_BYTES) >> 2] = p;
    }
    return new DeleteQueue<K>(buffer, code, n);
  }

  /** The same queue in this thread. Throws InvalidHandleError for anything that is not a delete queue's handle. */
  static attach<K = number>(handle: DeleteQueueHandle): DeleteQueue<K> {
    const h = handle as Partial<DeleteQueueHandle> | null | undefined;
    if (h === null || typeof h !== 'object' || h.shmapQueue !== 1 || !(h.buffer instanceof SharedArrayBuffer)) {
      throw new InvalidHandleError(
        'DeleteQueue.attach: expected a delete queue handle ({ shmapQueue: 1, buffer: SharedArrayBuffer }), got ' +
          (h !== null && typeof h === 'object' && 'shmap' in h ? 'a SharedMap handle' : describe(h)),
      );
    }
    const buffer = h.buffer;
    if (buffer.byteLength < Q_RECORDS_BYTES)
      throw new InvalidHandleError(
        `DeleteQueue.attach: buffer of ${buffer.byteLength} bytes is too small for a delete queue`,
      );
    const i32 = new Int32Array(buffer, 0, Q_RECORDS_BYTES >> 2);
    if (i32[Q_MAGIC_BYTES >> 2] !== Q_MAGIC)
      throw new InvalidHandleError('DeleteQueue.attach: not a delete queue buffer (bad magic)');
    if (i32[Q_VERSION_BYTES >> 2] !== Q_LAYOUT_VERSION) {
      throw new InvalidHandleError(
        `DeleteQueue.attach: layout version ${i32[Q_VERSION_BYTES >> 2]}, this build reads ${Q_LAYOUT_VERSION}`,
      );
    }
    const code = i32[Q_KEY_TYPE_BYTES >> 2]!;
    const n = i32[Q_KEY_N_BYTES >> 2]!;
    const ringSlots = i32[Q_RING_SLOTS_BYTES >> 2]!;
    const slotBytes = i32[Q_SLOT_BYTES_BYTES >> 2]!;
    const capacity = i32[Q_CAPACITY_BYTES >> 2]!;
    const producers = i32[Q_PRODUCERS_BYTES >> 2]!;
    const slotsOff = i32[Q_SLOTS_OFF_BYTES >> 2]!;
    if (
      !validKeyType(code, n) ||
      producers < 1 ||
      producers > Q_MAX_PRODUCERS ||
      slotsOff !== Q_RECORDS_BYTES + producers * Q_RECORD_BYTES ||
      slotBytes !== slotBytesFor(keyWidthBytes(code, n)) ||
      ringSlots !== nextPowerOfTwo(capacity) ||
      capacity < 1 ||
      capacity > MAX_QUEUE_CAPACITY ||
      buffer.byteLength < slotsOff + ringSlots * slotBytes
    ) {
      throw new InvalidHandleError('DeleteQueue.attach: corrupt delete queue header');
    }
    return new DeleteQueue<K>(buffer, code, n);
  }

  /**
   * From now on, this handle also counts the keys it enqueues, drains and
   * has refused because the queue was full in `map`'s operation counters
   * (`map.metrics().queue`; `shmap_delete_queue_keys_total` in Prometheus),
   * in this thread's counter block: call it in each thread whose handle
   * should count. Needs a map created with `{ metrics: true }`
   * (InvalidOptionError; nothing changes). Returns this queue.
   */
  countIn(map: MapCore): this {
    if (!(map instanceof MapCore))
      throw new ShmapTypeError(`countIn(map): map must be a SharedMap, got ${describe(map)}`);
    if (map.counters === null) throw new InvalidOptionError('countIn(map) needs a map created with { metrics: true }');
    this.counters = map.counters;
    return this;
  }

  /** Whether this handle counts its keys in a map's counters (`countIn` was called). */
  get countsInMap(): boolean {
    return this.counters !== null;
  }

  // -------------------------------------------------------------------------
  // Producer side (any thread, any number at once)

  /**
   * Enqueues `key` if there is room, without waiting. Returns false, and
   * changes nothing but a stats counter, when the queue holds `capacity`
   * keys or is closed (`queue.closed` tells which). Throws ShmapTypeError /
   * KeyTooLongError for a key of the wrong type, before anything is claimed.
   */
  enqueue(key: K): boolean {
    const len = this.keys.check(key);
    return this.tryClaimAndPublish(key, len);
  }

  /**
   * Enqueues `key`, waiting (parked in `Atomics.wait`) up to `timeoutMs`
   * for room. Returns false on timeout (counted as a full rejection) or when
   * the queue is closed. Blocks the calling thread: meant for worker threads
   * (Node allows it on the main thread too).
   */
  enqueueWait(key: K, timeoutMs: number): boolean {
    if (typeof timeoutMs !== 'number' || !(timeoutMs >= 0)) {
      throw new InvalidOptionError(
        `enqueueWait: timeoutMs must be a number >= 0 (or Infinity), got ${describe(timeoutMs)}`,
      );
    }
    const len = this.keys.check(key);
    const i32 = this.i32;
    let deadline = -1;
    for (;;) {
      const r = this.claim(key, len);
      if (r === CLAIM_DONE) return true;
      if (r === CLAIM_CLOSED) return false;
      if (r === CLAIM_RETRY) continue;
      // Full. Register as a waiter, then look again, then sleep on ROOM_EPOCH
      // as it was before the second look. Dekker pairing with the consumer
      // (drainPublished: store HEAD, then load ROOM_WAITERS, bump ROOM_EPOCH)
      // and with close() (store CLOSED, then bump ROOM_EPOCH): all SC atomics,
      // so either our second look sees the room / the close, or the bump
      // comes after our epoch load and Atomics.wait returns at once.
      if (deadline < 0) deadline = performance.now() + timeoutMs;
      const left = deadline - performance.now();
      if (left <= 0) {
        Atomics.add(this.i64, Q_FULL_REJECTIONS_BYTES >> 3, 1n);
        if (this.counters !== null) this.counters.add(C_QUEUE_FULL, 1);
        return false;
      }
      Atomics.add(i32, Q_ROOM_WAITERS_BYTES >> 2, 1);
      const epoch = Atomics.load(i32, Q_ROOM_EPOCH_BYTES >> 2);
      const tail = Atomics.load(i32, Q_TAIL_BYTES >> 2);
      const head = Atomics.load(i32, Q_HEAD_BYTES >> 2);
      if (((tail - head) | 0) >= this.capacity && Atomics.load(i32, Q_CLOSED_BYTES >> 2) === 0) {
        Atomics.add(this.i64, Q_FULL_WAITS_BYTES >> 3, 1n);
        Atomics.wait(i32, Q_ROOM_EPOCH_BYTES >> 2, epoch, left === Infinity ? undefined : left);
      }
      Atomics.sub(i32, Q_ROOM_WAITERS_BYTES >> 2, 1);
    }
  }

  private tryClaimAndPublish(key: K, len: number): boolean {
    for (;;) {
      const r = this.claim(key, len);
      if (r === CLAIM_DONE) return true;
      if (r === CLAIM_CLOSED) return false;
      if (r === CLAIM_FULL) {
        Atomics.add(this.i64, Q_FULL_REJECTIONS_BYTES >> 3, 1n);
        if (this.counters !== null) this.counters.add(C_QUEUE_FULL, 1);
        return false;
      }
      // CLAIM_RETRY: another producer took the position; try the next one.
    }
  }

  /**
   * One attempt to enqueue: the producer's whole protocol, and where the
   * ordering argument lives.
   *
   * 1. Closed check (`Atomics.load(CLOSED)`): a closed queue takes nothing.
   * 2. Room check: load TAIL (p), then HEAD (h). HEAD never passes TAIL, so
   *    `p - h` is at most the keys held at the moment HEAD was loaded; when it
   *    is >= capacity the queue was full at that moment and we report full.
   *    A stale p only makes the CAS below fail.
   * 2b. Record: INTENT = p, STATE = 1 in this handle's producer record
   *    (`enterClaim`), cleared after step 7 (`leaveClaim`): recovery's
   *    evidence (see the file's head).
   * 3. Claim: `Atomics.compareExchange(TAIL, p, p + 1)`. Exactly one producer
   *    wins each p; p - h < capacity <= ringSlots means the consumer has
   *    finished with position p - ringSlots (it stores HEAD only after it is
   *    done reading that slot), so slot p & mask is ours. Our HEAD load
   *    (SC) read its store, so its reads of the slot happen before our writes.
   * 4. Write the key bytes and the len word with plain stores.
   * 5. Closed re-check: if `close()` came after step 1, a final drain may
   *    already have read TAIL and will wait only for positions below it,
   *    or may be waiting for ours. We cannot un-claim p (later positions
   *    may be claimed already), so we publish it as Q_CANCELLED instead and
   *    report closed. The final drain steps over it.
   * 6. Publish: `Atomics.store(seq, p + 1)`. The consumer's
   *    `Atomics.load(seq) === p + 1` synchronizes with it, so our plain
   *    writes of step 4 happen before its plain reads of the slot.
   * 7. Wake: `Atomics.load(PARKED)`; if the consumer is parked, bump WAKE and
   *    notify it. (Dekker pairing with waitForKeys: it stores PARKED = 1, then
   *    loads our seq; we store seq, then load PARKED.)
   *
   * Per-producer order: a thread's next claim's CAS comes after its previous
   * one, so its positions increase, and the consumer consumes positions in
   * order (it never skips an unpublished one).
   */
  private claim(key: K, len: number): number {
    const i32 = this.i32;
    if (Atomics.load(i32, Q_CLOSED_BYTES >> 2) !== 0) {
      Atomics.add(this.i64, Q_CLOSED_REJECTIONS_BYTES >> 3, 1n);
      return CLAIM_CLOSED;
    }
    const pos = Atomics.load(i32, Q_TAIL_BYTES >> 2);
    const head = Atomics.load(i32, Q_HEAD_BYTES >> 2);
    if (((pos - head) | 0) >= this.capacity) return CLAIM_FULL;
    const rec = this.enterClaim(pos);
    if (Atomics.compareExchange(i32, Q_TAIL_BYTES >> 2, pos, (pos + 1) | 0) !== pos) {
      this.leaveClaim(rec);
      return CLAIM_RETRY;
    }
    const r = this.publish(pos, key, len);
    this.leaveClaim(rec);
    return r;
  }

  /**
   * Step 2b of `claim`, before the TAIL CAS for `pos`: this handle's record
   * says "busy, claiming pos" (INTENT, then STATE = 1, both `Atomics.store`).
   * A winner's record keeps saying so until `leaveClaim`, after it published:
   * that is what lets the consumer tell a dead winner from a slow one
   * (`orphaned`). Without a record (all taken), counts itself in Q_UNRECORDED
   * instead. Returns the byte offset of the record, or Q_UNRECORDED.
   */
  private enterClaim(pos: number): number {
    const i32 = this.i32;
    if (this.rec < 0) this.rec = this.takeRecord();
    if (this.rec === Q_UNRECORDED) {
      Atomics.add(i32, Q_UNRECORDED_BYTES >> 2, 1);
      return Q_UNRECORDED;
    }
    const at = Q_RECORDS_BYTES + this.rec * Q_RECORD_BYTES;
    Atomics.store(i32, (at + Q_REC_INTENT) >> 2, pos);
    Atomics.store(i32, (at + Q_REC_STATE) >> 2, 1);
    return at;
  }

  private leaveClaim(at: number): void {
    if (at === Q_UNRECORDED) {
      Atomics.sub(this.i32, Q_UNRECORDED_BYTES >> 2, 1);
      // Try for a record again next time (one may have been freed by `recover`).
      this.rec = Q_NO_RECORD;
    } else Atomics.store(this.i32, (at + Q_REC_STATE) >> 2, 0);
  }

  /** Takes a free producer record for this handle (`Atomics.compareExchange(OWNER, 0, me)`); Q_UNRECORDED when none is free. */
  private takeRecord(): number {
    const me = threadId + 1;
    const n = this.producers;
    for (let k = 0; k < n; k++) {
      const r = (threadId + k) % n;
      const at = Q_RECORDS_BYTES + r * Q_RECORD_BYTES;
      if (Atomics.load(this.i32, (at + Q_REC_OWNER) >> 2) !== 0) continue;
      if (Atomics.compareExchange(this.i32, (at + Q_REC_OWNER) >> 2, 0, me) === 0) return r;
    }
    return Q_UNRECORDED;
  }

  /** Steps 4-7 of `claim` for the position `pos` this thread claimed. */
  private publish(pos: number, key: K, len: number): number {
    const i32 = this.i32;
    const slot = this.slotsOff + (pos & this.mask) * this.slotBytes;
    let result = CLAIM_DONE;
    if (Atomics.load(i32, Q_CLOSED_BYTES >> 2) !== 0) {
      i32[(slot + Q_SLOT_LEN_BYTES) >> 2] = Q_CANCELLED;
      Atomics.add(this.i64, Q_CLOSED_REJECTIONS_BYTES >> 3, 1n);
      Atomics.add(this.i64, Q_CANCELLED_BYTES >> 3, 1n);
      result = CLAIM_CLOSED;
    } else {
      i32[(slot + Q_SLOT_LEN_BYTES) >> 2] = len;
      this.keys.write(key, i32, slot);
      if (this.counters !== null) this.counters.add(C_QUEUE_ENQUEUE, 1);
    }
    Atomics.store(i32, (slot + Q_SLOT_SEQ_BYTES) >> 2, (pos + 1) | 0);
    if (Atomics.load(i32, Q_PARKED_BYTES >> 2) !== 0) {
      Atomics.add(i32, Q_WAKE_BYTES >> 2, 1);
      Atomics.notify(i32, Q_WAKE_BYTES >> 2, 1);
    }
    return result;
  }

  /**
   * @internal Test back door: claims a position for `key` as `enqueue` does
   * (steps 1-3) and returns the function that finishes the enqueue (steps
   * 4-7) and returns what `enqueue` would have; or false when full or
   * closed. Lets a test hold a producer between claiming and publishing.
   */
  _enqueueInTwoSteps(key: K): (() => boolean) | false {
    const len = this.keys.check(key);
    for (;;) {
      const i32 = this.i32;
      if (Atomics.load(i32, Q_CLOSED_BYTES >> 2) !== 0) return false;
      const pos = Atomics.load(i32, Q_TAIL_BYTES >> 2);
      if (((pos - Atomics.load(i32, Q_HEAD_BYTES >> 2)) | 0) >= this.capacity) return false;
      const rec = this.enterClaim(pos);
      if (Atomics.compareExchange(i32, Q_TAIL_BYTES >> 2, pos, (pos + 1) | 0) !== pos) {
        this.leaveClaim(rec);
        continue;
      }
      return () => {
        const done = this.publish(pos, key, len) === CLAIM_DONE;
        this.leaveClaim(rec);
        return done;
      };
    }
  }

  // -------------------------------------------------------------------------
  // Consumer side (one thread at a time)

  /**
   * Applies the pending deletes in order: `map.delete(key)` for each
   * published key, stopping at the first position not yet published.
   * Returns how many keys it handed to `map.delete`. An exception from
   * `map.delete` propagates and leaves that key first in the queue.
   *
   * Throws ConcurrentMapWriteError if another thread is draining this queue
   * at the same moment (a DeleteQueue has one consumer).
   */
  drainInto(map: Deletable<K>): number {
    this.enterConsumer();
    try {
      return this.drainPublished(map);
    } finally {
      Atomics.store(this.i32, Q_CONSUMER_BYTES >> 2, 0);
    }
  }

  /**
   * The closing drain: after `close()`, drains until every claimed position
   * is consumed, waiting up to `timeoutMs` for producers that claimed a
   * position before the close to finish writing it. Returns the keys drained.
   * Precondition: `closed` (else it is `drainInto`).
   */
  drainRemaining(map: Deletable<K>, timeoutMs = 1000): number {
    this.enterConsumer();
    try {
      let n = this.drainPublished(map);
      if (Atomics.load(this.i32, Q_CLOSED_BYTES >> 2) === 0) return n;
      // After CLOSED = 1 every producer's step-5 re-check sees it, so TAIL
      // loaded now only moves for positions that will be published Q_CANCELLED;
      // waiting for TAIL (re-loaded each round) to be consumed is enough.
      const deadline = performance.now() + timeoutMs;
      for (;;) {
        const tail = Atomics.load(this.i32, Q_TAIL_BYTES >> 2);
        if (Atomics.load(this.i32, Q_HEAD_BYTES >> 2) === tail) return n;
        const left = deadline - performance.now();
        if (left <= 0) return n;
        this.park(left, false);
        n += this.drainPublished(map);
      }
    } finally {
      Atomics.store(this.i32, Q_CONSUMER_BYTES >> 2, 0);
    }
  }

  /**
   * Parks the consumer until a key is published at the head, the queue is
   * closed, or `timeoutMs` passes. Returns which. Costs producers nothing
   * while the consumer is busy (they load PARKED, 0).
   */
  waitForKeys(timeoutMs = Infinity): WaitResult {
    const i32 = this.i32;
    const deadline = timeoutMs === Infinity ? Infinity : performance.now() + timeoutMs;
    for (;;) {
      if (Atomics.load(i32, Q_CLOSED_BYTES >> 2) !== 0) return 'closed';
      if (this.headReady()) return 'ready';
      const left = deadline - performance.now();
      if (left <= 0) return 'timeout';
      this.park(left, true);
    }
  }

  /**
   * Parks once on WAKE, for at most `ms`. Dekker pairing with `claim` step 7
   * and with `close()`: we load WAKE, store PARKED = 1, then look at the head
   * slot (and CLOSED); a producer stores its seq, then loads PARKED and bumps
   * WAKE; close() stores CLOSED, then bumps WAKE. Either our look sees their
   * store, or their bump comes after our WAKE load and the wait returns.
   * `untilClosed` false: the closing drain, which waits for in-flight
   * producers although CLOSED is set.
   */
  private park(ms: number, untilClosed: boolean): void {
    const i32 = this.i32;
    const wake = Atomics.load(i32, Q_WAKE_BYTES >> 2);
    Atomics.store(i32, Q_PARKED_BYTES >> 2, 1);
    if (!this.headReady() && !(untilClosed && Atomics.load(i32, Q_CLOSED_BYTES >> 2) !== 0)) {
      Atomics.add(this.i64, Q_PARKS_BYTES >> 3, 1n);
      Atomics.wait(i32, Q_WAKE_BYTES >> 2, wake, ms === Infinity ? undefined : ms);
    }
    Atomics.store(i32, Q_PARKED_BYTES >> 2, 0);
  }

  /** The head position is published, or is a dead producer's that the next drain skips. */
  private headReady(): boolean {
    const head = Atomics.load(this.i32, Q_HEAD_BYTES >> 2);
    const slot = this.slotsOff + (head & this.mask) * this.slotBytes;
    if (Atomics.load(this.i32, (slot + Q_SLOT_SEQ_BYTES) >> 2) === ((head + 1) | 0)) return true;
    return this.orphaned(head);
  }

  /**
   * True when position `p` (the head, not published) was claimed by a
   * producer that is dead: some record marked Q_DEAD by `recover` was busy with
   * INTENT p, no other record is busy with INTENT p, no unrecorded producer is
   * mid-claim, and p is still unpublished after that look. The winner of p
   * stored INTENT p and STATE 1 before its TAIL CAS, which came before our
   * TAIL load that showed p claimed (all SC atomics), and clears STATE only
   * after publishing; so a live winner is seen either busy with p or, by
   * the re-check, published. A Q_DEAD record's thread never writes again, so
   * skipping p cannot race with it. Consumer only.
   */
  private orphaned(p: number): boolean {
    const i32 = this.i32;
    if (!this._skipOrphans || Atomics.load(i32, Q_DEAD_RECORDS_BYTES >> 2) === 0) return false;
    if (((Atomics.load(i32, Q_TAIL_BYTES >> 2) - p) | 0) <= 0) return false;
    if (Atomics.load(i32, Q_UNRECORDED_BYTES >> 2) !== 0) return false;
    let deadClaim = false;
    for (let r = 0; r < this.producers; r++) {
      const at = Q_RECORDS_BYTES + r * Q_RECORD_BYTES;
      const owner = Atomics.load(i32, (at + Q_REC_OWNER) >> 2);
      if (owner === 0 || Atomics.load(i32, (at + Q_REC_STATE) >> 2) !== 1) continue;
      if (Atomics.load(i32, (at + Q_REC_INTENT) >> 2) !== p) continue;
      if (owner !== Q_DEAD) return false;
      deadClaim = true;
    }
    const slot = this.slotsOff + (p & this.mask) * this.slotBytes;
    return deadClaim && Atomics.load(i32, (slot + Q_SLOT_SEQ_BYTES) >> 2) !== ((p + 1) | 0);
  }

  /** Frees Q_DEAD records whose INTENT the head has passed (they can no longer matter). Consumer only. */
  private freeDeadRecords(head: number): void {
    const i32 = this.i32;
    for (let r = 0; r < this.producers; r++) {
      const at = Q_RECORDS_BYTES + r * Q_RECORD_BYTES;
      if (Atomics.load(i32, (at + Q_REC_OWNER) >> 2) !== Q_DEAD) continue;
      if (((Atomics.load(i32, (at + Q_REC_INTENT) >> 2) - head) | 0) >= 0) continue;
      Atomics.store(i32, (at + Q_REC_STATE) >> 2, 0);
      if (Atomics.compareExchange(i32, (at + Q_REC_OWNER) >> 2, Q_DEAD, 0) === Q_DEAD)
        Atomics.sub(i32, Q_DEAD_RECORDS_BYTES >> 2, 1);
    }
  }

  private enterConsumer(): void {
    const me = threadId + 1;
    const owner = Atomics.compareExchange(this.i32, Q_CONSUMER_BYTES >> 2, 0, me);
    if (owner !== 0) {
      throw new ConcurrentMapWriteError(
        ` (delete queue: thread ${owner - 1} is draining this queue; a DeleteQueue has one consumer at a time)`,
      );
    }
  }

  /**
   * The consumer's loop over published positions. Ordering (the other half
   * of `claim`'s argument): `Atomics.load(seq) === head + 1` synchronizes
   * with the producer's publishing store, so the plain reads of the len word
   * and key bytes see what it wrote. We call `map.delete` before advancing
   * HEAD, so a consumer killed inside `map.delete` leaves the key for the
   * next drain. `Atomics.store(HEAD)` comes after our last read of the slot,
   * and a producer reuses the slot only after its `Atomics.load(HEAD)` sees
   * that store (claim step 3).
   */
  private drainPublished(map: Deletable<K>): number {
    const i32 = this.i32;
    let head = Atomics.load(i32, Q_HEAD_BYTES >> 2);
    let drained = 0;
    try {
      for (;;) {
        const slot = this.slotsOff + (head & this.mask) * this.slotBytes;
        // What position `head` was: 0 a key, else the stats counter of a skip.
        let skip = 0;
        if (Atomics.load(i32, (slot + Q_SLOT_SEQ_BYTES) >> 2) !== ((head + 1) | 0)) {
          if (!this.orphaned(head)) break;
          skip = Q_ORPHANS_SKIPPED_BYTES;
        } else if (i32[(slot + Q_SLOT_LEN_BYTES) >> 2]! === Q_CANCELLED) {
          skip = Q_CANCELS_SKIPPED_BYTES;
        } else {
          map.delete(this.keys.read(slot) as K);
          drained++;
          if (this.counters !== null) this.counters.add(C_QUEUE_DRAIN, 1);
        }
        head = (head + 1) | 0;
        if (head === this.start) Atomics.store(i32, Q_LAPS_BYTES >> 2, Atomics.load(i32, Q_LAPS_BYTES >> 2) + 1);
        Atomics.store(i32, Q_HEAD_BYTES >> 2, head);
        // Counted at once, not at the end: a drainer killed later keeps the stats right.
        if (skip !== 0) Atomics.add(this.i64, skip >> 3, 1n);
        if (Atomics.load(i32, Q_ROOM_WAITERS_BYTES >> 2) > 0) {
          Atomics.add(i32, Q_ROOM_EPOCH_BYTES >> 2, 1);
          Atomics.notify(i32, Q_ROOM_EPOCH_BYTES >> 2);
        }
      }
    } finally {
      if (Atomics.load(i32, Q_DEAD_RECORDS_BYTES >> 2) > 0) this.freeDeadRecords(head);
    }
    return drained;
  }

  // -------------------------------------------------------------------------
  // Recovery

  /**
   * Recovers what thread `deadThreadId` (a `threadId`) held in this queue,
   * for a thread known to be dead (its Worker emitted 'exit', piscina emitted
   * 'workerDestroy' for it): frees its idle producer records, marks its busy
   * ones Q_DEAD (the drainer then skips a position it claimed and never
   * published), and clears the consumer word if it was draining, so another
   * drainer can start. Wakes the drainer. Idempotent; returns what it did.
   *
   * Never call it for a thread that may still run: a producer recovered
   * while alive could write a slot the ring has given to a later position.
   * Refuses the calling thread itself (InvalidOptionError).
   */
  recover(deadThreadId: number): QueueRecovery {
    if (typeof deadThreadId !== 'number' || !Number.isInteger(deadThreadId) || deadThreadId < 0) {
      throw new InvalidOptionError(`recover: threadId must be an integer >= 0, got ${describe(deadThreadId)}`);
    }
    if (deadThreadId === threadId) {
      throw new InvalidOptionError(
        `recover: thread ${deadThreadId} is the calling thread; recover is for threads known to be dead`,
      );
    }
    const i32 = this.i32;
    const owner = deadThreadId + 1;
    let recordsFreed = 0;
    let claimsOrphaned = 0;
    for (let r = 0; r < this.producers; r++) {
      const at = Q_RECORDS_BYTES + r * Q_RECORD_BYTES;
      if (Atomics.load(i32, (at + Q_REC_OWNER) >> 2) !== owner) continue;
      if (Atomics.load(i32, (at + Q_REC_STATE) >> 2) === 0) {
        if (Atomics.compareExchange(i32, (at + Q_REC_OWNER) >> 2, owner, 0) === owner) recordsFreed++;
      } else if (Atomics.compareExchange(i32, (at + Q_REC_OWNER) >> 2, owner, Q_DEAD) === owner) {
        Atomics.add(i32, Q_DEAD_RECORDS_BYTES >> 2, 1);
        claimsOrphaned++;
      }
    }
    const consumerReleased = Atomics.compareExchange(i32, Q_CONSUMER_BYTES >> 2, owner, 0) === owner;
    if (recordsFreed + claimsOrphaned > 0 || consumerReleased) {
      Atomics.add(this.i64, Q_RECOVERIES_BYTES >> 3, 1n);
      // The drainer may be parked at the orphaned position: let it look again.
      Atomics.add(i32, Q_WAKE_BYTES >> 2, 1);
      Atomics.notify(i32, Q_WAKE_BYTES >> 2);
    }
    return { threadId: deadThreadId, recordsFreed, claimsOrphaned, consumerReleased };
  }

  // -------------------------------------------------------------------------
  // State

  /**
   * Asks the drainer to stop: sets CLOSED and wakes it (and producers waiting
   * for room, who then return false). From then on enqueue returns false.
   * The drainer drains what was accepted before it stops. Idempotent.
   */
  close(): void {
    const i32 = this.i32;
    Atomics.store(i32, Q_CLOSED_BYTES >> 2, 1);
    Atomics.add(i32, Q_WAKE_BYTES >> 2, 1);
    Atomics.notify(i32, Q_WAKE_BYTES >> 2);
    Atomics.add(i32, Q_ROOM_EPOCH_BYTES >> 2, 1);
    Atomics.notify(i32, Q_ROOM_EPOCH_BYTES >> 2);
  }

  get closed(): boolean {
    return Atomics.load(this.i32, Q_CLOSED_BYTES >> 2) !== 0;
  }

  /** Keys enqueued and not yet drained (including ones a producer is writing right now). */
  get size(): number {
    // HEAD first: TAIL loaded after it is >= it, so the difference is >= 0.
    const head = Atomics.load(this.i32, Q_HEAD_BYTES >> 2);
    const tail = Atomics.load(this.i32, Q_TAIL_BYTES >> 2);
    return (tail - head) >>> 0;
  }

  stats(): DeleteQueueStats {
    const i32 = this.i32;
    const i64 = this.i64;
    let laps: number;
    let head: number;
    do {
      laps = Atomics.load(i32, Q_LAPS_BYTES >> 2);
      head = Atomics.load(i32, Q_HEAD_BYTES >> 2);
    } while (Atomics.load(i32, Q_LAPS_BYTES >> 2) !== laps);
    const tail = Atomics.load(i32, Q_TAIL_BYTES >> 2);
    const consumed = laps * 2 ** 32 + ((head - this.start) >>> 0);
    const size = (tail - head) >>> 0;
    const cancelled = Number(Atomics.load(i64, Q_CANCELLED_BYTES >> 3));
    const skipped = Number(Atomics.load(i64, Q_CANCELS_SKIPPED_BYTES >> 3));
    const orphans = Number(Atomics.load(i64, Q_ORPHANS_SKIPPED_BYTES >> 3));
    return {
      capacity: this.capacity,
      size,
      enqueued: consumed + size - cancelled - orphans,
      drained: consumed - skipped - orphans,
      fullRejections: Number(Atomics.load(i64, Q_FULL_REJECTIONS_BYTES >> 3)),
      fullWaits: Number(Atomics.load(i64, Q_FULL_WAITS_BYTES >> 3)),
      closedRejections: Number(Atomics.load(i64, Q_CLOSED_REJECTIONS_BYTES >> 3)),
      consumerParks: Number(Atomics.load(i64, Q_PARKS_BYTES >> 3)),
      orphansSkipped: orphans,
      recoveries: Number(Atomics.load(i64, Q_RECOVERIES_BYTES >> 3)),
      closed: Atomics.load(i32, Q_CLOSED_BYTES >> 2) !== 0,
    };
  }
}

const CLAIM_DONE = 0;
const CLAIM_FULL = 1;
const CLAIM_CLOSED = 2;
const CLAIM_RETRY = 3;

// ---------------------------------------------------------------------------
// The drain loop, as the drainer thread runs it (src/workers/drainer.ts is a
// thin entry point over this).

export interface DrainLoopOptions {
  /** Longest single park while the queue is empty, ms (the loop re-checks and parks again). Default 1000. */
  idleWaitMs?: number;
  /** How long the closing drain waits for producers that claimed a position before `close()`, ms. Default 1000. */
  finalWaitMs?: number;
}

export interface DrainLoopResult {
  /** Keys handed to `map.delete`. */
  drained: number;
  /** ... of which `delete` returned true (the key was there). */
  removed: number;
  /** ... of which `delete` returned something else (the key was already absent). */
  absent: number;
  /** drainInto calls that drained at least one key. */
  batches: number;
  /** Times the loop found the queue empty and waited for keys. */
  parks: number;
  /** Keys still in the queue when the loop stopped (non-zero only if a producer died mid-enqueue or enqueued after a drainer timeout). */
  pendingAtExit: number;
  elapsedMs: number;
}

/**
 * Drains `queue` into `map` until the queue is closed, parking with
 * `Atomics.wait` whenever it is empty, then runs the closing drain and
 * returns its counts. Blocks the calling thread for the whole run: call it
 * on a dedicated thread. When `map` is a SharedMap created with
 * `{ metrics: true }` and this queue handle counts nowhere yet, the loop
 * counts its drains there (`queue.countIn(map)`), so `map.metrics().queue`
 * and Prometheus show them.
 */
export function runDrainLoop<K>(
  queue: DeleteQueue<K>,
  map: Deletable<K>,
  options: DrainLoopOptions = {},
): DrainLoopResult {
  const idleWaitMs = options.idleWaitMs ?? 1000;
  const finalWaitMs = options.finalWaitMs ?? 1000;
  if (!(idleWaitMs > 0))
    throw new InvalidOptionError(`options.idleWaitMs must be a number > 0, got ${describe(idleWaitMs)}`);
  if (!(finalWaitMs >= 0))
    throw new InvalidOptionError(`options.finalWaitMs must be a number >= 0, got ${describe(finalWaitMs)}`);
  if (map instanceof MapCore && map.counters !== null && !queue.countsInMap) queue.countIn(map);
  const t0 = performance.now();
  let removed = 0;
  let absent = 0;
  const counting: Deletable<K> = {
    delete(key: K) {
      const r = map.delete(key);
      if (r === true) removed++;
      else absent++;
      return r;
    },
  };
  let drained = 0;
  let batches = 0;
  let parks = 0;
  for (;;) {
    const n = queue.drainInto(counting);
    if (n > 0) {
      drained += n;
      batches++;
      continue;
    }
    const w = queue.waitForKeys(idleWaitMs);
    if (w === 'closed') break;
    parks++;
  }
  drained += queue.drainRemaining(counting, finalWaitMs);
  return { drained, removed, absent, batches, parks, pendingAtExit: queue.size, elapsedMs: performance.now() - t0 };
}

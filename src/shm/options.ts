/**
 * Create options and the header: checks every option a map is created with
 * (each error names the option, and nothing is allocated before all of them
 * pass), sizes the buffer, and writes the header and the shard descriptors.
 * `attach` checks a handle here too, before anything reads the buffer.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import {
  D_CAP,
  D_COUNT,
  D_TOMBS,
  D_LAST_SLOT,
  D_LAST_THREAD,
  D_REGION,
  FLAG_LEASES,
  FREE_CLASSES,
  FLAG_TTL,
  HEADER_BYTES,
  H_ALLOC_TOP,
  H_MAX_BYTES,
  HEADER_WORDS,
  TYPE_FLOAT64,
  TYPE_INT32,
  TYPE_UINT32,
  H_DEFAULT_TTL_F64_WORD,
  H_EXPIRY_OFF,
  H_FLAGS,
  H_FREE_HEADS,
  H_HOT_ENTRIES,
  H_METRICS_BLOCKS,
  H_METRICS_OFF,
  H_SAMPLE_EVERY,
  H_LOCK_TIMEOUT_F64_WORD,
  H_UNDO_OFF,
  H_LEDGER_OFF,
  H_THREADS_OFF,
  H_THREADS_CAP,
  THREAD_ENTRIES,
  threadsBytes,
  ledgerBytes,
  H_KEY_N,
  H_KEY_OFF,
  H_KEY_TYPE,
  H_LEASE_OFF,
  H_LOG_CAP,
  H_LOG_OFF,
  H_MAGIC,
  H_MAP_ID,
  H_MAX_CAPACITY,
  H_ON_CONFLICT,
  H_SEED,
  H_SHARDS,
  H_SHARDS_OFF,
  H_SLOT_BYTES,
  H_SYNC,
  H_VALUE_N,
  H_VALUE_OFF,
  H_VALUE_TYPE,
  H_VERSION,
  LAYOUT_VERSION,
  MAGIC,
  MAX_BUFFER_BYTES,
  REGION_ALIGN_BYTES,
  fieldBytes,
  logOffBytes,
  metricsBytes,
  metricsOffBytes,
  regionBytes,
  regionsOffBytes,
  shardI32,
  slotLayout,
} from './layout.js';
import { describe, parseType, typeName } from './codec.js';
import { MIN_SHARD_SLOTS, slotsFor, slotsForCapacity } from './shard.js';
import { InvalidHandleError, InvalidOptionError } from './errors.js';
import { PLAIN_LOADS_ORDERED } from './sync.js';
import { WASM_PAGE_BYTES } from './views.js';
import { wasmApi, type WasmMemory } from './wasm-api.js';
import { checkMetricsOption, metricsProblem } from './metrics.js';
import type { SharedMapHandle, SharedMapOptions } from './types.js';

/**
 * Default most entries (when `maxCapacity` is not given): 1024 x `capacity`,
 * at least 2^20 and at most 2^24, as far as the 2 GiB buffer allows. The
 * buffer reserves address space for this much (not memory: pages are used
 * as the map grows), so a small map does not reserve 2 GiB.
 */
export function defaultMaxCapacity(capacity: number): number {
  return Math.min(Math.max(capacity * 1024, MIN_DEFAULT_MAX_CAPACITY), Math.max(MAX_DEFAULT_MAX_CAPACITY, capacity));
}
const MIN_DEFAULT_MAX_CAPACITY = 1 << 20;
const MAX_DEFAULT_MAX_CAPACITY = 1 << 24;
/** Default conflict log records. */
const DEFAULT_LOG_RECORDS = 256;
/** Default lockTimeoutMs (see SharedMapOptions). */
export const DEFAULT_LOCK_TIMEOUT_MS = 10_000;
/** Regions a shard may hold at once over its lifetime's worth of growth (new + old + free-list slack), for sizing maxByteLength. */
const REGION_SLACK = 3;

function defaultShards(): number {
  let n = 1;
  while (n < availableParallelism() * 8) n *= 2;
  return n;
}

/** Validates a TTL in ms: a positive finite number. */
export function checkTtl(ms: unknown, what: string): number {
  if (typeof ms !== 'number' || !(ms > 0) || ms === Infinity)
    throw new InvalidOptionError(`${what} must be a positive number of milliseconds, got ${describe(ms)}`);
  return ms;
}

/** Every option `SharedMap.create` knows. */
const CREATE_OPTIONS: readonly string[] = [
  'key',
  'value',
  'capacity',
  'maxCapacity',
  'shards',
  'sync',
  'onConflict',
  'seed',
  'conflictLogSize',
  'ttl',
  'defaultTtlMs',
  'leases',
  'lockTimeoutMs',
  'metrics',
];
/** Every option `set(k, v, options)` knows. */
const SET_OPTIONS: readonly string[] = ['ttlMs'];

/** Edit distance of two short strings (for "did you mean"). */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++)
      row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = row;
  }
  return prev[b.length]!;
}

/** Throws InvalidOptionError naming the first key of `options` that is not in `known` (a typo would be ignored otherwise). */
function checkKnownKeys(options: object, known: readonly string[], where: string): void {
  for (const name of Object.keys(options)) {
    if (known.includes(name)) continue;
    const near = known.filter((k) => distance(k.toLowerCase(), name.toLowerCase()) <= 2 || k.startsWith(name));
    throw new InvalidOptionError(
      `${where}options.${name} is not an option` +
        (near.length > 0 ? ` (did you mean ${near.join(' or ')}?)` : ` (known: ${known.join(', ')})`),
    );
  }
}

/** Checks the options object of `set(k, v, options)`: an object (or null) with no key but `ttlMs`. */
export function checkSetOptions(options: unknown): void {
  if (options === null) return;
  if (typeof options !== 'object')
    throw new InvalidOptionError(`set: options must be an object like { ttlMs: 1000 }, got ${describe(options)}`);
  checkKnownKeys(options, SET_OPTIONS, 'set: ');
}

function isPowerOfTwo(n: number): boolean {
  return Number.isInteger(n) && n >= 1 && (n & (n - 1)) === 0;
}

function checkPositiveInt(v: unknown, option: string, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > max) {
    throw new InvalidOptionError(
      `options.${option} must be a positive integer${max < Number.MAX_SAFE_INTEGER ? ` up to ${max}` : ''}, got ${describe(v)}`,
    );
  }
  return v;
}

/**
 * Checks `options` and makes the buffer of a new map: header written, every
 * shard given its first region. Throws InvalidOptionError naming the option
 * at fault before allocating anything.
 */
export function createBuffer(options: SharedMapOptions): SharedMapHandle {
  if (options === null || typeof options !== 'object')
    throw new InvalidOptionError(`options must be an object, got ${describe(options)}`);
  checkKnownKeys(options, CREATE_OPTIONS, '');
  const key = parseType(options.key ?? 'int32', 'key', false);
  const value = parseType(options.value ?? 'float64', 'value', true);
  const capacity = options.capacity === undefined ? 1024 : checkPositiveInt(options.capacity, 'capacity', 1 << 28);
  const shards = options.shards === undefined ? defaultShards() : options.shards;
  if (!isPowerOfTwo(shards) || shards > 4096)
    throw new InvalidOptionError(`options.shards must be a power of two from 1 to 4096, got ${describe(shards)}`);
  const sync = options.sync ?? 'lock';
  if (sync !== 'lock' && sync !== 'none')
    throw new InvalidOptionError(`options.sync must be 'lock' or 'none', got ${describe(sync)}`);
  const onConflict = options.onConflict ?? 'throw';
  if (onConflict !== 'throw' && onConflict !== 'record')
    throw new InvalidOptionError(`options.onConflict must be 'throw' or 'record', got ${describe(onConflict)}`);
  let seed: number;
  if (options.seed === undefined) {
    seed = randomInt32();
  } else {
    // Stored in one 32-bit word: a wider seed would be silently truncated.
    const s = options.seed;
    if (typeof s !== 'number' || !Number.isInteger(s) || s < -(2 ** 31) || s > 2 ** 32 - 1)
      throw new InvalidOptionError(
        `options.seed must be an integer from -2147483648 to 4294967295 (32 bits), got ${describe(s)}`,
      );
    seed = s | 0;
  }
  const logRecords =
    options.conflictLogSize === undefined
      ? DEFAULT_LOG_RECORDS
      : checkPositiveInt(options.conflictLogSize, 'conflictLogSize', 1 << 16);
  const explicitMax = options.maxCapacity !== undefined;
  const maxCapacity = explicitMax
    ? checkPositiveInt(options.maxCapacity, 'maxCapacity', 1 << 28)
    : defaultMaxCapacity(capacity);
  if (maxCapacity < capacity)
    throw new InvalidOptionError(
      `options.maxCapacity (${maxCapacity}) must be at least options.capacity (${capacity})`,
    );

  const ttl = options.ttl ?? false;
  if (typeof ttl !== 'boolean') throw new InvalidOptionError(`options.ttl must be a boolean, got ${describe(ttl)}`);
  const leases = options.leases ?? false;
  if (typeof leases !== 'boolean')
    throw new InvalidOptionError(`options.leases must be a boolean, got ${describe(leases)}`);
  let defaultTtlMs = Infinity;
  if (options.defaultTtlMs !== undefined) {
    if (!ttl) throw new InvalidOptionError('options.defaultTtlMs needs options.ttl: true');
    defaultTtlMs = checkTtl(options.defaultTtlMs, 'options.defaultTtlMs');
  }
  let lockTimeoutMs = DEFAULT_LOCK_TIMEOUT_MS;
  if (options.lockTimeoutMs !== undefined) {
    const t = options.lockTimeoutMs;
    if (typeof t !== 'number' || !(t > 0))
      throw new InvalidOptionError(
        `options.lockTimeoutMs must be a positive number of milliseconds or Infinity, got ${describe(t)}`,
      );
    lockTimeoutMs = t;
  }
  const metrics = checkMetricsOption(options.metrics);
  const slot = slotLayout(key.code, key.n, value.code, value.n, ttl, leases);
  const metricsArea =
    metrics === null ? 0 : metricsBytes(metrics.blocks, shards, metrics.hotEntries, fieldBytes(key.code, key.n) >> 2);
  const regionsOff = regionsOffBytes(shards, logRecords, metricsArea);
  // Per shard: room for its share of `capacity` plus 5% for uneven hashing.
  const shardSlots = slotsForCapacity(Math.ceil((capacity / shards) * 1.05) + 1);
  const shardRegionBytes = regionBytes(shardSlots, slot.slotBytes);
  // Each shard's undo area (one slot's bytes, layout.ts UNDO_SLOT) follows the first regions.
  const undoOff = regionsOff + shards * shardRegionBytes;
  // Then the lease ledger (maps with leases; layout.ts LEDGER_*).
  const ledgerOff = undoOff + regionBytes(shards, slot.slotBytes);
  // Then the thread table (liveness.ts).
  const threadsOff = ledgerOff + (leases ? ledgerBytes(shards, fieldBytes(key.code, key.n) >> 2) : 0);
  const initialBytes = threadsOff + threadsBytes();
  // The buffer may grow to: every shard's share of maxCapacity (a generous
  // share: hashing is uneven for small maps), doubled by growth steps, with
  // room for the regions it leaves behind; the count check enforces
  // maxCapacity exactly, this only reserves address space.
  const shardMaxSlots = slotsFor(Math.ceil((maxCapacity / shards) * 1.5) + 32);
  const minBytes = regionsOff + regionBytes(slotsFor(maxCapacity), slot.slotBytes);
  if (explicitMax && minBytes > MAX_BUFFER_BYTES) {
    throw new InvalidOptionError(
      `options.maxCapacity ${maxCapacity} needs a buffer of at least ${minBytes} bytes for ${key.name} keys and ${value.name} values, over the 2 GiB a map can use`,
    );
  }
  // Plus the areas after the first regions (undo areas, lease ledger,
  // thread table), which the regions' budget must not pay for.
  const maxBytes = Math.min(
    MAX_BUFFER_BYTES,
    regionsOff + shards * REGION_SLACK * regionBytes(2 * shardMaxSlots, slot.slotBytes) + (initialBytes - undoOff),
  );
  if (initialBytes > maxBytes) {
    throw new InvalidOptionError(
      `options.capacity ${capacity} needs ${initialBytes} bytes, over the 2 GiB a map can use`,
    );
  }
  // A map the fused set takes lives in a shared WebAssembly.Memory, so that
  // its overwrite runs in WebAssembly (wasm.ts); every other map in a
  // growable SharedArrayBuffer.
  const memory =
    fusedSetFor(key.code, value.code, sync === 'lock' && !ttl && !leases && PLAIN_LOADS_ORDERED) !== 0
      ? newMemory(initialBytes, maxBytes)
      : undefined;
  let sab: SharedArrayBuffer;
  try {
    sab =
      memory !== undefined
        ? (memory.buffer as SharedArrayBuffer)
        : new SharedArrayBuffer(initialBytes, { maxByteLength: maxBytes });
  } catch (err) {
    // A RangeError: the process could not reserve the address space (e.g. under `ulimit -v`).
    throw new InvalidOptionError(
      `SharedMap.create could not reserve ${maxBytes} bytes of address space for the buffer (${(err as Error).message}): ` +
        `set options.maxCapacity to the most entries the map will hold (it sizes the reservation${explicitMax ? '' : `; the default here is ${maxCapacity}`})`,
    );
  }
  const i32 = new Int32Array(sab);
  i32[H_MAGIC] = MAGIC;
  i32[H_VERSION] = LAYOUT_VERSION;
  i32[H_SYNC] = sync === 'lock' ? 0 : 1;
  i32[H_ON_CONFLICT] = onConflict === 'throw' ? 0 : 1;
  i32[H_KEY_TYPE] = key.code;
  i32[H_KEY_N] = key.n;
  i32[H_VALUE_TYPE] = value.code;
  i32[H_VALUE_N] = value.n;
  i32[H_SHARDS] = shards;
  i32[H_SEED] = seed;
  i32[H_SLOT_BYTES] = slot.slotBytes;
  i32[H_KEY_OFF] = slot.keyOffBytes;
  i32[H_VALUE_OFF] = slot.valueOffBytes;
  i32[H_MAX_CAPACITY] = explicitMax ? maxCapacity : 0;
  i32[H_FLAGS] = (ttl ? FLAG_TTL : 0) | (leases ? FLAG_LEASES : 0);
  i32[H_EXPIRY_OFF] = slot.expiryOffBytes;
  i32[H_LEASE_OFF] = slot.leaseOffBytes;
  const f64 = new Float64Array(sab, 0, HEADER_BYTES >> 3);
  f64[H_DEFAULT_TTL_F64_WORD >> 1] = defaultTtlMs;
  i32[H_LOG_OFF] = logOffBytes(shards);
  i32[H_LOG_CAP] = logRecords;
  i32[H_SHARDS_OFF] = HEADER_BYTES;
  i32[H_MAP_ID] = randomInt32();
  for (let s = 0; s < shards; s++) {
    const d = shardI32(HEADER_BYTES, s);
    i32[d + D_REGION] = regionsOff + s * shardRegionBytes;
    i32[d + D_CAP] = shardSlots;
    i32[d + D_LAST_THREAD] = -1;
    i32[d + D_LAST_SLOT] = -1;
  }
  i32[H_UNDO_OFF] = undoOff;
  i32[H_LEDGER_OFF] = leases ? ledgerOff : 0;
  i32[H_THREADS_OFF] = threadsOff;
  i32[H_THREADS_CAP] = THREAD_ENTRIES;
  f64[H_LOCK_TIMEOUT_F64_WORD >> 1] = lockTimeoutMs;
  if (metrics !== null) {
    i32[H_METRICS_OFF] = metricsOffBytes(shards, logRecords);
    i32[H_METRICS_BLOCKS] = metrics.blocks;
    i32[H_SAMPLE_EVERY] = metrics.sampleEvery;
    i32[H_HOT_ENTRIES] = metrics.hotEntries;
  }
  i32[H_ALLOC_TOP] = initialBytes;
  if (memory !== undefined) i32[H_MAX_BYTES] = maxBytes;
  return memory !== undefined ? { shmap: 1, buffer: sab, memory } : { shmap: 1, buffer: sab };
}

/**
 * `MapCore.fusedSet`: which fused `set` a map takes (map.ts, `setNumber`).
 * 0: none. Else FUSED_KEY_UINT32 says how the key is checked (int32 or
 * uint32; both are stored as one word with the int32's bits), and the bits
 * under FUSED_VALUE_MASK the value's type.
 */
export const FUSED_KEY_UINT32 = 1;
export const FUSED_VALUE_MASK = 6;
export const FUSED_VALUE_INT32 = 2;
export const FUSED_VALUE_UINT32 = 4;
export const FUSED_VALUE_FLOAT64 = 6;

/** The fused `set` for a map of these types and features (see FUSED_*), or 0. */
export function fusedSetFor(keyType: number, valueType: number, plainWrites: boolean): number {
  if (!plainWrites) return 0;
  const key = keyType === TYPE_INT32 ? 0 : keyType === TYPE_UINT32 ? FUSED_KEY_UINT32 : -1;
  const value =
    valueType === TYPE_INT32
      ? FUSED_VALUE_INT32
      : valueType === TYPE_UINT32
        ? FUSED_VALUE_UINT32
        : valueType === TYPE_FLOAT64
          ? FUSED_VALUE_FLOAT64
          : -1;
  return key < 0 || value < 0 ? 0 : key | value;
}

/**
 * A shared WebAssembly.Memory of at least `initialBytes`, growable to
 * `maxBytes` (whole 64 KiB pages), or undefined where there is none to
 * have (no WebAssembly, no shared memories, the address space refused):
 * the map then lives in a growable SharedArrayBuffer, with the JS set.
 */
function newMemory(initialBytes: number, maxBytes: number): WasmMemory | undefined {
  if (!memoriesOn || wasmApi === undefined || addressSpaceLimited()) return undefined;
  try {
    return new wasmApi.Memory({
      initial: Math.ceil(initialBytes / WASM_PAGE_BYTES),
      maximum: Math.ceil(maxBytes / WASM_PAGE_BYTES),
      shared: true,
    });
  } catch {
    return undefined;
  }
}

/**
 * Whether the process runs under an address-space limit (`ulimit -v`;
 * /proc/self/limits, Linux). There a memory's reservation may not be what
 * was asked: V8 reserves a shared memory's maximum up front and, when that
 * fails, silently reserves less (Node 26: under a 4 GB limit a second 2 GiB
 * memory was made and could not grow past its first page), so the map
 * would fail later, in a growth, instead of at `create`. A growable
 * SharedArrayBuffer's reservation fails at `create`, with the error that
 * says to set maxCapacity. Read once per thread.
 */
function addressSpaceLimited(): boolean {
  if (limited === undefined) {
    limited = false;
    try {
      const line = /^Max address space\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
      limited = line !== null && line[1] !== 'unlimited';
    } catch {
      // No /proc (not Linux): no limit known.
    }
  }
  return limited;
}
let limited: boolean | undefined;

/** Whether maps made from here on may live in a WebAssembly.Memory (a test turns it off). */
let memoriesOn = true;

/** @internal Test back door: with false, maps made after it (in this thread) live in a SharedArrayBuffer. */
export function setMemories(on: boolean): void {
  memoriesOn = on;
}

/** The buffer of a map handle from another thread, checked: a shmap buffer of this layout version. Throws InvalidHandleError. */
export function handleBuffer(handle: SharedMapHandle): SharedMapHandle {
  const given = (handle as { buffer?: unknown } | null | undefined)?.buffer;
  const memory = (handle as { memory?: unknown } | null | undefined)?.memory;
  if (handle === null || typeof handle !== 'object' || !(given instanceof SharedArrayBuffer)) {
    throw new InvalidHandleError(
      `SharedMap.attach needs a handle ({ shmap: 1, buffer: SharedArrayBuffer }) from map.handle, got ${describe(handle)}`,
    );
  }
  let sab: SharedArrayBuffer = given;
  if (memory !== undefined) {
    // The map lives in this memory; `buffer` was its buffer when the handle
    // was made, and the memory may have grown since.
    if (wasmApi === undefined || !(memory instanceof wasmApi.Memory) || !(memory.buffer instanceof SharedArrayBuffer))
      throw new InvalidHandleError(
        `SharedMap.attach: the handle's memory must be the shared WebAssembly.Memory from map.handle, got ${describe(memory)}`,
      );
    sab = memory.buffer;
  }
  if (sab.byteLength < HEADER_BYTES)
    throw new InvalidHandleError(
      `SharedMap.attach: the buffer (${sab.byteLength} bytes) is too small to be a shmap map`,
    );
  const i32 = new Int32Array(sab, 0, HEADER_BYTES >> 2);
  if (i32[H_MAGIC] !== MAGIC)
    throw new InvalidHandleError('SharedMap.attach: the buffer is not a shmap map (bad magic)');
  if (i32[H_VERSION] !== LAYOUT_VERSION) {
    throw new InvalidHandleError(
      `SharedMap.attach: the map has layout version ${i32[H_VERSION]}, this shmap reads version ${LAYOUT_VERSION}`,
    );
  }
  // A map growing in another thread can show a descriptor mid-update (its
  // region and capacity are two words): a problem is believed only when it
  // is still there after a short wait.
  let problem = headerProblem(sab);
  for (let tries = 0; problem !== undefined && tries < 3; tries++) {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2);
    problem = headerProblem(sab);
  }
  if (problem !== undefined)
    throw new InvalidHandleError(`SharedMap.attach: the buffer is not a valid map: ${problem}`);
  if (memory !== undefined) {
    if (new Int32Array(sab, 0, HEADER_WORDS)[H_MAX_BYTES]! <= 0)
      throw new InvalidHandleError('SharedMap.attach: the map in this memory has no maximum length (H_MAX_BYTES)');
    return { shmap: 1, buffer: sab, memory };
  }
  return { shmap: 1, buffer: sab };
}

/**
 * What is wrong with a buffer's header and shard descriptors, or undefined:
 * every field a map reads at attach, and every offset checked against the
 * buffer, so a truncated or hostile buffer is refused before anything
 * indexes into it (magic and version are checked by the caller).
 */
function headerProblem(sab: SharedArrayBuffer): string | undefined {
  const h = new Int32Array(sab, 0, HEADER_BYTES >> 2);
  const word = (i: number): number => Atomics.load(h, i);
  for (const [i, what] of [
    [H_SYNC, 'sync'],
    [H_ON_CONFLICT, 'onConflict'],
  ] as const)
    if (word(i) !== 0 && word(i) !== 1) return `its ${what} word is ${word(i)} (0 or 1)`;
  const types: Array<{ n: number; code: number }> = [];
  for (const [codeI, nI, what] of [
    [H_KEY_TYPE, H_KEY_N, 'key'],
    [H_VALUE_TYPE, H_VALUE_N, 'value'],
  ] as const) {
    const name = typeName(word(codeI), word(nI));
    let n: number;
    try {
      n = parseType(name, what, what === 'value').n;
    } catch {
      return `its ${what} type is ${name}`;
    }
    if (n !== word(nI)) return `its ${what} type ${name} has a width word of ${word(nI)}`;
    types.push({ code: word(codeI), n });
  }
  const flags = word(H_FLAGS);
  if ((flags & ~(FLAG_TTL | FLAG_LEASES)) !== 0) return `its flags word is ${flags}`;
  const shards = word(H_SHARDS);
  if (!isPowerOfTwo(shards) || shards > 4096) return `its shard count is ${shards} (a power of two up to 4096)`;
  if (word(H_SHARDS_OFF) !== HEADER_BYTES)
    return `its shard descriptors are at ${word(H_SHARDS_OFF)}, not ${HEADER_BYTES}`;
  const logCap = word(H_LOG_CAP);
  if (!(logCap >= 1 && logCap <= 1 << 16)) return `its conflict log holds ${logCap} records (1 to 65536)`;
  if (word(H_LOG_OFF) !== logOffBytes(shards))
    return `its conflict log is at ${word(H_LOG_OFF)}, not ${logOffBytes(shards)}`;
  const slot = slotLayout(
    types[0]!.code,
    types[0]!.n,
    types[1]!.code,
    types[1]!.n,
    (flags & FLAG_TTL) !== 0,
    (flags & FLAG_LEASES) !== 0,
  );
  const metrics = metricsProblem(word, shards, logCap, fieldBytes(types[0]!.code, types[0]!.n) >> 2);
  if (typeof metrics === 'string') return metrics;
  const regionsOff = regionsOffBytes(shards, logCap, metrics);
  for (const [i, what, want] of [
    [H_SLOT_BYTES, 'slot size', slot.slotBytes],
    [H_KEY_OFF, 'key offset', slot.keyOffBytes],
    [H_VALUE_OFF, 'value offset', slot.valueOffBytes],
    [H_EXPIRY_OFF, 'expiry offset', slot.expiryOffBytes],
    [H_LEASE_OFF, 'lease offset', slot.leaseOffBytes],
  ] as const)
    if (word(i) !== want) return `its ${what} is ${word(i)}, the types and flags make it ${want}`;
  const maxCapacity = word(H_MAX_CAPACITY);
  if (!(maxCapacity >= 0 && maxCapacity <= 1 << 28)) return `its maxCapacity is ${maxCapacity}`;
  if ((flags & FLAG_TTL) !== 0) {
    const ttl = new Float64Array(sab, 0, HEADER_BYTES >> 3)[H_DEFAULT_TTL_F64_WORD >> 1]!;
    if (!(ttl > 0)) return `its defaultTtlMs is ${ttl}`;
  }
  const top = word(H_ALLOC_TOP);
  const bytes = sab.byteLength; // read after the top: the buffer grows before the top moves
  if (bytes % 8 !== 0) return `its length (${bytes} bytes) is not a multiple of 8`;
  if (regionsOff > bytes) return `it is ${bytes} bytes, shorter than its header, descriptors and log (${regionsOff})`;
  if (!(top >= regionsOff && top <= bytes)) return `its allocation top is ${top}, outside ${regionsOff}..${bytes}`;
  const threadsOff = word(H_THREADS_OFF);
  if (
    word(H_THREADS_CAP) !== THREAD_ENTRIES ||
    threadsOff < regionsOff ||
    threadsOff % REGION_ALIGN_BYTES !== 0 ||
    threadsOff + threadsBytes() > top
  )
    return `its thread table (${word(H_THREADS_CAP)} entries at ${threadsOff}) is not ${THREAD_ENTRIES} entries inside the allocated ${regionsOff}..${top}`;
  for (let c = 0; c < FREE_CLASSES; c++) {
    const free = word(H_FREE_HEADS + c);
    if (free !== 0 && (free < regionsOff || free >= top || free % REGION_ALIGN_BYTES !== 0))
      return `its free list ${c} starts at ${free}, outside the allocated ${regionsOff}..${top}`;
  }
  const d = new Int32Array(sab, 0, regionsOff >> 2);
  for (let s = 0; s < shards; s++) {
    const at = shardI32(HEADER_BYTES, s);
    const region = Atomics.load(d, at + D_REGION);
    const cap = Atomics.load(d, at + D_CAP);
    if (!(cap >= MIN_SHARD_SLOTS && cap <= 1 << 28)) return `shard ${s} has ${cap} slots`;
    if (region < regionsOff || region % REGION_ALIGN_BYTES !== 0 || region + regionBytes(cap, slot.slotBytes) > top)
      return `shard ${s}'s region (${cap} slots at ${region}) is not inside the allocated ${regionsOff}..${top}`;
    const count = Atomics.load(d, at + D_COUNT);
    const tombs = Atomics.load(d, at + D_TOMBS);
    if (!(count >= 0 && tombs >= 0 && count + tombs < cap))
      return `shard ${s} counts ${count} entries and ${tombs} tombstones in ${cap} slots`;
  }
  return undefined;
}

/**
 * A random 32-bit word from the Web Crypto global, not `node:crypto`: that
 * import would load Node's crypto modules into every thread that loads the
 * map (~10 ms of each worker thread's start on Node 20), and only `create`
 * needs randomness.
 */
function randomInt32(): number {
  return globalThis.crypto.getRandomValues(new Int32Array(1))[0]!;
}

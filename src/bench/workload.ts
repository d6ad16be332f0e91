/**
 * Key and value tables of the two workloads, and the op streams: every
 * system in a run reads the same pre-generated sequences (seeded PRNG, one
 * sequence per worker index), so none gets easier keys than another.
 */
import { Rng } from '../rng.js';
import { DEL, GET, SET, type Key, type OpStream, type Value, type WorkloadName } from './driver.js';

/** Distinct values each workload cycles through (sets pick one by `valIdx`). */
export const VALUE_COUNT = 1024;

/** Byte bounds of the string workload, for stores with fixed-width slots (shmap `string:N`). */
export const STRING_KEY_MAX_BYTES = 24;
export const STRING_VALUE_BYTES = 32;

export type Phase = 'get' | 'mix';
export type Dist = 'uniform' | 'zipf';

/** Zipf exponent of the skewed key choice. */
export const ZIPF_S = 0.99;

/** Key i of the int32 workload: i times an odd constant, a bijection on 32 bits, so keys are distinct and spread. */
export function intKey(i: number): number {
  return Math.imul(i, 0x9e3779b1) | 0;
}

/** Key i of the string workload: `session:<base36>` (at most 15 bytes), distinct for distinct i. */
export function stringKey(i: number): string {
  return 'session:' + (Math.imul(i, 0x9e3779b1) >>> 0).toString(36);
}

export interface Tables {
  readonly keys: ArrayLike<Key>;
  readonly values: ArrayLike<Value>;
}

/** The key table (`count` keys) and the value table of a workload. Deterministic: every thread builds the same. */
export function buildTables(workload: WorkloadName, count: number): Tables {
  if (workload === 'int32') {
    const keys = new Int32Array(count);
    for (let i = 0; i < count; i++) keys[i] = intKey(i);
    const values = new Float64Array(VALUE_COUNT);
    for (let j = 0; j < VALUE_COUNT; j++) values[j] = j + 0.25;
    return { keys, values };
  }
  const keys = new Array<string>(count);
  for (let i = 0; i < count; i++) keys[i] = stringKey(i);
  const rnd = new Rng(0x5eed);
  const values = new Array<string>(VALUE_COUNT);
  for (let j = 0; j < VALUE_COUNT; j++) {
    let s = '';
    while (s.length < STRING_VALUE_BYTES) s += Math.floor(rnd.next() * 36).toString(36);
    values[j] = s;
  }
  return { keys, values };
}

/** The op arrays of one thread, over SharedArrayBuffers so they pass to workers without copies. */
export interface OpArrays {
  readonly kinds: Uint8Array;
  readonly keyIdx: Int32Array;
  readonly valIdx: Uint16Array;
}

export function opStream(ops: OpArrays, tables: Tables): OpStream {
  return { kinds: ops.kinds, keyIdx: ops.keyIdx, valIdx: ops.valIdx, keys: tables.keys, values: tables.values };
}

/** Cumulative zipf(s) weights of ranks 0..n-1, normalised to end at 1. */
function zipfCdf(n: number, s: number): Float64Array {
  const cdf = new Float64Array(n);
  let sum = 0;
  for (let r = 0; r < n; r++) {
    sum += 1 / Math.pow(r + 1, s);
    cdf[r] = sum;
  }
  for (let r = 0; r < n; r++) cdf[r] /= sum;
  return cdf;
}

/** Rank -> key index: a multiplication by a prime, so the hot keys are not neighbours (nor in one shard). */
const RANK_SCRAMBLE = 999_983;

/**
 * One thread's op sequence: `length` ops (a power of two) over key indices
 * [0, keyCount). Phase 'get': all gets; 'mix': 90% get, 9% set, 1% delete.
 * `seed` fixes the sequence; the runner derives it from (run seed, dist,
 * phase, worker index), never from the system.
 */
export function generateOps(
  keyCount: number,
  length: number,
  phase: Phase,
  dist: Dist,
  seed: number,
  cdf?: Float64Array,
): OpArrays {
  if ((length & (length - 1)) !== 0) throw new Error(`op sequence length must be a power of two, got ${length}`);
  const kinds = new Uint8Array(new SharedArrayBuffer(length));
  const keyIdx = new Int32Array(new SharedArrayBuffer(length * 4));
  const valIdx = new Uint16Array(new SharedArrayBuffer(length * 2));
  const rnd = new Rng(seed);
  const z = dist === 'zipf' ? (cdf ?? zipfCdf(keyCount, ZIPF_S)) : undefined;
  for (let i = 0; i < length; i++) {
    let k: number;
    if (z === undefined) {
      k = Math.floor(rnd.next() * keyCount);
    } else {
      const u = rnd.next();
      let lo = 0;
      let hi = keyCount - 1;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (z[mid]! < u) lo = mid + 1;
        else hi = mid;
      }
      k = (lo * RANK_SCRAMBLE) % keyCount;
    }
    keyIdx[i] = k;
    if (phase === 'mix') {
      const r = rnd.next();
      kinds[i] = r < 0.9 ? GET : r < 0.99 ? SET : DEL;
    } else {
      kinds[i] = GET;
    }
    valIdx[i] = Math.floor(rnd.next() * VALUE_COUNT);
  }
  return { kinds, keyIdx, valIdx };
}

/** Builds the zipf table once for many `generateOps` calls over the same key count. */
export function zipfTable(keyCount: number): Float64Array {
  return zipfCdf(keyCount, ZIPF_S);
}

let tableCache: { workload: WorkloadName; count: number; tables: Tables } | undefined;

/** `buildTables`, remembered for the last (workload, count) in this thread: worker threads outlive one run. */
export function cachedTables(workload: WorkloadName, count: number): Tables {
  if (tableCache === undefined || tableCache.workload !== workload || tableCache.count !== count) {
    tableCache = undefined;
    tableCache = { workload, count, tables: buildTables(workload, count) };
  }
  return tableCache.tables;
}

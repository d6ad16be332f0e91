/**
 * What a stress worker puts in the map: key choice over the shared key space
 * (uniform, zipf, hot set, drawn from the seeded Rng of ../rng.ts, which this
 * module re-exports for the stress modules), and the mapping from integer ids
 * to keys and values of the map's types.
 *
 * Key ids: 0 .. keys-1 are the shared key space every worker reads and writes;
 * worker w owns ids keys + w*owned .. keys + (w+1)*owned - 1 and is the only
 * writer of those, which is what lets the end of the run verify them exactly.
 */
import type { KeyType, ValueType } from '../shm/types.js';
import { Rng } from '../rng.js';
import { typeWidth, UsageError, type Dist } from './options.js';

export { Rng };

/** Picks key ids in [0, keys) following a distribution. */
export interface KeyPicker {
  pick(rng: Rng): number;
}

/**
 * Builds the picker for `dist` over `keys` ids.
 *
 * zipf:S keeps the cumulative weights of every rank (8 bytes per key, built
 * once per worker) and binary-searches them: O(log keys) per pick, exact for
 * any S > 0. hot:P sends P % of picks to the first 1 % of ids (at least one).
 */
export function keyPicker(dist: Dist, keys: number): KeyPicker {
  switch (dist.kind) {
    case 'uniform':
      return { pick: (rng) => rng.below(keys) };
    case 'hot': {
      const hot = Math.max(1, Math.floor(keys / 100));
      const p = dist.percent / 100;
      return { pick: (rng) => (rng.next() < p ? rng.below(hot) : rng.below(keys)) };
    }
    case 'zipf': {
      const cdf = new Float64Array(keys);
      let sum = 0;
      for (let r = 0; r < keys; r++) {
        sum += 1 / Math.pow(r + 1, dist.s);
        cdf[r] = sum;
      }
      return {
        pick(rng) {
          const x = rng.next() * sum;
          let lo = 0;
          let hi = keys - 1;
          while (lo < hi) {
            const mid = (lo + hi) >>> 1;
            if (cdf[mid]! < x) lo = mid + 1;
            else hi = mid;
          }
          return lo;
        },
      };
    }
  }
}

/** Converts ids to keys of one key type and back. */
export interface KeyCodec {
  key(id: number): unknown;
  id(key: unknown): number;
}

/** Converts a write counter to values of one value type, and compares values. */
export interface ValueCodec {
  /** A value derived from `n`; consecutive n give different values. */
  value(n: number, worker: number): unknown;
  equal(a: unknown, b: unknown): boolean;
  /** Short printable form for loss reports. */
  show(v: unknown): string;
}

/** Checks that every id in [0, maxId) is representable as a key of `type`; throws UsageError when not. */
export function checkKeySpace(type: KeyType, maxId: number): void {
  const width = typeWidth(type);
  if (type.startsWith('string:') && width! < `k${maxId}`.length) {
    throw new UsageError(
      `--key-type ${type} is too narrow for ${maxId} keys: needs string:${`k${maxId}`.length} or more`,
    );
  }
  if (type.startsWith('bytes:') && width! < 4) throw new UsageError(`--key-type ${type}: needs bytes:4 or more`);
  if (maxId > 0x7fffffff) throw new UsageError(`key space too large: ${maxId} ids (at most 2^31 - 1)`);
}

/** Checks that the value type can hold the stress values. */
export function checkValueType(type: ValueType): void {
  const width = typeWidth(type);
  if (type.startsWith('json:') && width! < 32)
    throw new UsageError(`--value-type ${type} is too narrow: needs json:32 or more`);
}

export function keyCodec(type: KeyType): KeyCodec {
  if (type === 'int32' || type === 'uint32' || type === 'float64') return { key: (id) => id, id: (k) => k as number };
  if (type === 'bigint64') return { key: (id) => BigInt(id), id: (k) => Number(k as bigint) };
  if (type.startsWith('string:')) return { key: (id) => `k${id}`, id: (k) => Number((k as string).slice(1)) };
  // bytes:N, N >= 4: the id little-endian in 4 bytes.
  return {
    key(id) {
      const b = new Uint8Array(4);
      new DataView(b.buffer).setUint32(0, id, true);
      return b;
    },
    id(k) {
      const b = k as Uint8Array;
      return new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(0, true);
    },
  };
}

function bytesEqual(a: unknown, b: unknown): boolean {
  if (!(a instanceof Uint8Array) || !(b instanceof Uint8Array) || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function valueCodec(type: ValueType): ValueCodec {
  const show = (v: unknown): string => {
    if (v === undefined) return 'absent';
    if (v instanceof Uint8Array) return `bytes[${Array.from(v).join(',')}]`;
    if (typeof v === 'bigint') return `${v}n`;
    return JSON.stringify(v);
  };
  if (type === 'int32' || type === 'uint32' || type === 'float64') {
    return { value: (n) => n % 0x7fffffff, equal: (a, b) => a === b, show };
  }
  if (type === 'bigint64') return { value: (n) => BigInt(n), equal: (a, b) => a === b, show };
  const width = typeWidth(type)!;
  if (type.startsWith('string:')) {
    return {
      value(n) {
        const s = n.toString(36);
        return s.length > width ? s.slice(-width) : s;
      },
      equal: (a, b) => a === b,
      show,
    };
  }
  if (type.startsWith('bytes:')) {
    const len = Math.min(width, 6);
    return {
      value(n) {
        const b = new Uint8Array(len);
        for (let i = 0, x = n; i < len; i++, x = Math.floor(x / 256)) b[i] = x & 0xff;
        return b;
      },
      equal: bytesEqual,
      show,
    };
  }
  // json:N, N >= 32
  return {
    value: (n, worker) => ({ w: worker, n }),
    equal: (a, b) => JSON.stringify(a) === JSON.stringify(b),
    show,
  };
}

/**
 * Keys whose 31-bit tags are equal: the probe compares control words first
 * and the key's words only on a tag match, so this is the one place where
 * the key comparison decides. Random tests almost never reach it (two keys
 * share a tag with probability 2^-31), so these tests search, for a fixed
 * seed, a pair of distinct keys with one tag (a birthday search over about
 * 2^16 keys), then check that the map keeps them apart through set, get,
 * delete, overwrite and growth, for each kind of key field: one word, two
 * words, and a length word plus bytes.
 */
import { describe, it, expect } from 'vitest';
import { keyCodec } from '../../src/shm/codec.js';
import { TYPE_BIGINT64, TYPE_INT32, TYPE_STRING } from '../../src/shm/layout.js';
import { checkInvariants } from '../../src/shm/debug.js';
import { SharedMap } from '../../src/index.js';

const SEED = 0x5eed;

/** Two distinct keys from `candidate(0..)` whose hashes (under SEED) have the same tag, h >>> 1. */
function tagPair<K>(type: number, n: number, candidate: (i: number) => K): [K, K] {
  const kc = keyCodec(type, n, SEED);
  const seen = new Map<number, K>();
  for (let i = 0; i < 1 << 20; i++) {
    const k = candidate(i);
    const tag = kc.prepare(k) >>> 1;
    const other = seen.get(tag);
    if (other !== undefined) return [other, k];
    seen.set(tag, k);
  }
  throw new Error('no tag collision found');
}

/** set, get, delete and overwrite two keys with one tag, in a one-shard map that grows meanwhile. */
function keepsApart<K>(map: SharedMap<K, number>, a: K, b: K, filler: (i: number) => K): void {
  map.set(a, 1);
  map.set(b, 2);
  expect([map.get(a), map.get(b), map.size]).toEqual([1, 2, 2]);
  for (let i = 0; i < 40; i++) map.set(filler(i), -i); // grows the shard: both are rehashed by tag
  expect([map.get(a), map.get(b)]).toEqual([1, 2]);
  expect(map.delete(a)).toBe(true);
  expect([map.has(a), map.get(b)]).toEqual([false, 2]);
  map.set(b, 3);
  map.set(a, 4);
  expect([map.get(a), map.get(b), map.size]).toEqual([4, 3, 42]);
  checkInvariants(map);
}

describe('keys with equal tags are told apart by their words', () => {
  it('int32 keys (one word)', () => {
    const [a, b] = tagPair(TYPE_INT32, 0, (i) => i * 3 + 1);
    expect(a).not.toBe(b);
    const map = SharedMap.create<number, number>({ key: 'int32', value: 'int32', seed: SEED, shards: 1, capacity: 8 });
    keepsApart(map, a, b, (i) => -1 - i);
  });

  it('bigint64 keys (two words; the pair differs in the high word only)', () => {
    const [a, b] = tagPair(TYPE_BIGINT64, 0, (i) => BigInt(i) << 32n);
    const map = SharedMap.create<bigint, number>({
      key: 'bigint64',
      value: 'int32',
      seed: SEED,
      shards: 1,
      capacity: 8,
    });
    keepsApart(map, a, b, (i) => BigInt(-1 - i));
  });

  it('string:16 keys (a length word and the bytes; the pair differs past its first two words)', () => {
    const [a, b] = tagPair(TYPE_STRING, 16, (i) => 'key:' + i.toString(36).padStart(8, '0'));
    expect(a).not.toBe(b);
    const map = SharedMap.create<string, number>({
      key: 'string:16',
      value: 'int32',
      seed: SEED,
      shards: 1,
      capacity: 8,
    });
    keepsApart(map, a, b, (i) => `filler ${i}`);
  });
});

/**
 * Seeded 32-bit hashing of keys, as int32 results.
 *
 * Numbers use MurmurHash3's finalizer (fmix32) over the key's 32-bit words
 * xor'd with the map's seed; byte keys use MurmurHash3's body over the key's
 * 32-bit words (the codec has already packed the bytes into words, zero
 * padded, with the byte length in the first word). The seed is per map, as Go
 * seeds each map, so crafted keys cannot force every key into one probe chain
 * without knowing it.
 *
 * How a hash is used (see map.ts): the low bits pick the shard, `h >>> 1`
 * is the slot's 31-bit tag and its home slot is `floor(tag * capacity / 2^31)`.
 */

/** MurmurHash3 fmix32: every input bit affects every output bit. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h | 0;
}

/** Hash of one 32-bit word. */
export function hashWord(seed: number, w: number): number {
  return fmix32(w ^ seed);
}

/** Hash of two 32-bit words (float64 and bigint64 keys: low word, high word). */
export function hashWords2(seed: number, lo: number, hi: number): number {
  return fmix32(Math.imul(fmix32(lo ^ seed), 0x9e3779b1) ^ hi);
}

/**
 * MurmurHash3_x86_32's body step: mixes word `k` into the running hash `h`.
 * Byte keys are hashed as `h = seed`, one `mixWord` per word (the length
 * word first), then `finishWords`; the codec's fast path for ASCII strings
 * runs the same steps on words it packs from the string's code units, so
 * both give the same hash for the same key.
 */
export function mixWord(h: number, k: number): number {
  k = Math.imul(k, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, 0x1b873593);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

/** MurmurHash3_x86_32's finalizer over a key of `words` 32-bit words. */
export function finishWords(h: number, words: number): number {
  return fmix32(h ^ (words << 2));
}

/** Hash of `words` 32-bit words of `a` from index `from` (MurmurHash3_x86_32 body + finalizer). */
export function hashWordsN(seed: number, a: Int32Array, from: number, words: number): number {
  let h = seed;
  const end = from + words;
  for (let i = from; i < end; i++) h = mixWord(h, a[i]!);
  return finishWords(h, words);
}

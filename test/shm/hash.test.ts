/**
 * src/shm/hash.ts: what the map relies on. Byte keys hash as
 * MurmurHash3_x86_32 (published test vectors), the seed changes every hash
 * (a per-map seed is the defence against crafted keys), one flipped input bit
 * flips about half the output bits, and sequential keys spread evenly over
 * the low bits that pick the shard.
 */
import { describe, expect, it } from 'vitest';
import { fmix32, hashWord, hashWords2, hashWordsN } from '../../src/shm/hash.js';

const words = (...w: number[]): Int32Array => Int32Array.from(w);

describe('hash', () => {
  it('hashWordsN is MurmurHash3_x86_32 over whole words (published vectors)', () => {
    expect(hashWordsN(0, words(), 0, 0)).toBe(0);
    expect(hashWordsN(1, words(), 0, 0) >>> 0).toBe(0x514e28b7);
    // "test" as one little-endian word.
    expect(hashWordsN(0, words(0x74736574), 0, 1) >>> 0).toBe(0xba6bd213);
    // `from` and `words` select a window of the array.
    expect(hashWordsN(0, words(7, 0x74736574, 9), 1, 1)).toBe(hashWordsN(0, words(0x74736574), 0, 1));
  });

  it('every hash is an int32 and depends on the seed', () => {
    for (let i = 0; i < 1000; i++) {
      for (const h of [hashWord(5, i), hashWords2(5, i, -i), hashWordsN(5, words(i, i * 3), 0, 2)]) {
        expect(h).toBe(h | 0);
      }
      expect(hashWord(5, i)).not.toBe(hashWord(6, i));
      expect(hashWords2(5, i, 1)).not.toBe(hashWords2(6, i, 1));
    }
    // The high word of a two-word key counts too.
    expect(hashWords2(5, 1, 0)).not.toBe(hashWords2(5, 1, 1));
  });

  it('one flipped input bit flips about half of the 32 output bits (fmix32 avalanche)', () => {
    let flips = 0;
    let n = 0;
    for (let x = 0; x < 2000; x++) {
      const base = fmix32(x * 2654435761);
      for (let b = 0; b < 32; b++) {
        let d = base ^ fmix32((x * 2654435761) ^ (1 << b));
        while (d !== 0) {
          d &= d - 1;
          flips++;
        }
        n++;
      }
    }
    expect(flips / n).toBeGreaterThan(15);
    expect(flips / n).toBeLessThan(17);
  });

  it('sequential keys spread evenly over the low bits (the shard choice)', () => {
    const counts = new Array<number>(64).fill(0);
    for (let i = 0; i < 65_536; i++) counts[hashWord(12345, i) & 63]!++;
    for (const c of counts) {
      expect(c).toBeGreaterThan(850);
      expect(c).toBeLessThan(1200);
    }
  });
});

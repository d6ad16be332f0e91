import { describe, expect, it } from 'vitest';
import { Rng } from '../src/rng.js';

const draw = (rng: Rng, n: number): number[] => Array.from({ length: n }, () => rng.nextU32());

describe('Rng, the one seeded random source', () => {
  it('replays per (seed, stream): same pair, same sequence; another seed or stream, another one', () => {
    const xs = draw(new Rng(42, 1), 8);
    expect(draw(new Rng(42, 1), 8)).toEqual(xs);
    expect(draw(new Rng(42, 2), 8)).not.toEqual(xs);
    expect(draw(new Rng(43, 1), 8)).not.toEqual(xs);
    // Stream 0 is the default.
    expect(draw(new Rng(42), 8)).toEqual(draw(new Rng(42, 0), 8));
  });

  it('next() is in [0, 1) and below(n) a whole number in [0, n) hitting every value', () => {
    const rng = new Rng(7);
    const seen = new Array<number>(10).fill(0);
    let sum = 0;
    for (let i = 0; i < 20_000; i++) {
      const x = rng.next();
      expect(x >= 0 && x < 1).toBe(true);
      sum += x;
      const k = rng.below(10);
      expect(Number.isInteger(k) && k >= 0 && k < 10).toBe(true);
      seen[k]!++;
    }
    // Uniform enough: each of 10 values about 2,000 times, the mean about 0.5.
    for (const c of seen) expect(c).toBeGreaterThan(1_700);
    expect(sum / 20_000).toBeGreaterThan(0.48);
    expect(sum / 20_000).toBeLessThan(0.52);
  });

  it('shuffle is a permutation, replayable from the seed, and moves things', () => {
    const a = Array.from({ length: 100 }, (_, i) => i);
    const s1 = new Rng(5).shuffle(a.slice());
    expect([...s1].sort((x, y) => x - y)).toEqual(a);
    expect(new Rng(5).shuffle(a.slice())).toEqual(s1);
    expect(s1).not.toEqual(a);
    expect(new Rng(6).shuffle(a.slice())).not.toEqual(s1);
  });
});

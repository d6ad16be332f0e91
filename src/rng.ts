/**
 * The project's one seeded random source, for everything that must replay
 * from a seed: the stress workers' key and op choices, the benchmarks'
 * pre-generated op sequences, the simulated histories of the checker's
 * self-test, the linearizability search's hash words. Not for the library
 * itself (src/shm uses no randomness).
 *
 * sfc32 (Chris Doty-Humphrey's small fast chaotic generator): four 32-bit
 * words, no allocation per draw, passes PractRand far beyond what a test run
 * draws. `stream` separates sequences that share a seed (one per worker).
 */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number, stream = 0) {
    this.a = 0x9e3779b9;
    this.b = seed | 0;
    this.c = Math.imul(stream + 1, 0x85ebca6b) | 0;
    this.d = 1;
    for (let i = 0; i < 16; i++) this.nextU32();
  }

  /** Uniform whole number in [0, 2^32). */
  nextU32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.nextU32() / 4294967296;
  }

  /** Uniform whole number in [0, n). */
  below(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Shuffles `a` in place (Fisher-Yates) and returns it. */
  shuffle<T>(a: T[]): T[] {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.below(i + 1);
      [a[i], a[j]] = [a[j]!, a[i]!];
    }
    return a;
  }
}

import { describe, expect, it } from 'vitest';
import { encodeHistogram, mergeHistograms, newHistogram, summarize } from '../../src/stress/histogram.js';
import { keyCodec, keyPicker, Rng, valueCodec } from '../../src/stress/keys.js';
import { formatMix, parseDist, parseMix, parseType, UsageError } from '../../src/stress/options.js';
import { parseType as parseMapType } from '../../src/shm/codec.js';

describe('key choice', () => {
  function histogram(dist: string, keys: number, n = 50_000): number[] {
    const picker = keyPicker(parseDist(dist), keys);
    const rng = new Rng(7);
    const counts = new Array<number>(keys).fill(0);
    let outside = 0;
    for (let i = 0; i < n; i++) {
      const k = picker.pick(rng);
      if (k >= 0 && k < keys && Number.isInteger(k)) counts[k]!++;
      else outside++;
    }
    expect(outside).toBe(0);
    return counts;
  }

  it('hot:90 sends about 90 % of picks to the hottest 1 % of keys', () => {
    const counts = histogram('hot:90', 1000);
    const hot = counts.slice(0, 10).reduce((s, c) => s + c, 0);
    expect(hot / 50_000).toBeGreaterThan(0.85);
    expect(hot / 50_000).toBeLessThan(0.95);
  });

  it('zipf:1.2 makes rank 0 the most picked and falls off', () => {
    const counts = histogram('zipf:1.2', 1000);
    expect(counts[0]).toBe(Math.max(...counts));
    expect(counts[0]!).toBeGreaterThan(4 * counts[9]!);
  });

  it('uniform touches every key', () => {
    expect(histogram('uniform', 100).every((c) => c > 0)).toBe(true);
  });
});

describe('codecs', () => {
  it('key ids round-trip for every key type', () => {
    for (const t of ['int32', 'uint32', 'float64', 'bigint64', 'string:12', 'bytes:8'] as const) {
      const kc = keyCodec(t);
      for (const id of [0, 1, 99_999, 2 ** 31 - 2]) expect(kc.id(kc.key(id))).toBe(id);
    }
  });

  it('consecutive values differ and compare equal to themselves', () => {
    for (const t of ['int32', 'float64', 'bigint64', 'string:2', 'bytes:1', 'json:32'] as const) {
      const vc = valueCodec(t);
      for (let n = 1; n < 300; n++) {
        expect(vc.equal(vc.value(n, 0), vc.value(n, 0))).toBe(true);
        expect(vc.equal(vc.value(n, 0), vc.value(n + 1, 0))).toBe(false);
      }
    }
  });
});

describe('mix and histograms', () => {
  it('parses and prints a mix', () => {
    expect(formatMix(parseMix('get=70, set=20,delete=5,UPDATE=5'))).toBe('get=70,set=20,delete=5,update=5');
  });

  it('merges encoded histograms across workers', () => {
    const a = newHistogram();
    const b = newHistogram();
    for (let i = 1; i <= 1000; i++) a.recordValue(i);
    b.recordValue(5_000_000);
    const merged = mergeHistograms([{ get: encodeHistogram(a) }, { get: encodeHistogram(b), set: encodeHistogram(b) }]);
    const get = summarize(merged.get('get')!);
    expect(get.count).toBe(1001);
    expect(get.p50).toBeGreaterThanOrEqual(499);
    expect(get.p50).toBeLessThanOrEqual(501);
    expect(get.max).toBeGreaterThanOrEqual(4_990_000);
    expect(summarize(merged.get('set')!).count).toBe(1);
  });
});

describe('type names', () => {
  it("accept exactly the map's types, with the tool's width limit, and refuse the rest in one line", () => {
    for (const t of ['int32', 'uint32', 'float64', 'bigint64', 'string:24', 'bytes:8']) {
      expect(parseType(t, '--key-type', false)).toBe(t);
      expect(parseMapType(t, 'key', false).name).toBe(t);
    }
    expect(parseType(' json:64 ', '--value-type', true)).toBe('json:64');
    for (const [t, value] of [
      ['json:10', false],
      ['string:0', false],
      ['int64', true],
      ['string:x', true],
    ] as const) {
      expect(() => parseType(t, '--key-type', value)).toThrow(UsageError);
      expect(() => parseMapType(t, 'key', value)).toThrow();
    }
    expect(() => parseType('string:5000', '--key-type', false)).toThrow(/width must be between 1 and 4096, got 5000/);
  });
});

/**
 * Latency histograms (HDR, via hdr-histogram-js), one per op kind per worker.
 * A worker records nanoseconds and sends its histograms back encoded
 * (compressed base64, the HdrHistogram interchange format); the main thread
 * decodes and adds them, so percentiles are over every op of every worker,
 * not an average of per-worker percentiles.
 */
import * as hdr from 'hdr-histogram-js';

/** Nanoseconds, 3 significant digits, grows as needed (an `iterate` op can take seconds). */
export function newHistogram(): hdr.Histogram {
  return hdr.build({
    bitBucketSize: 64,
    autoResize: true,
    lowestDiscernibleValue: 1,
    numberOfSignificantValueDigits: 3,
  });
}

export function encodeHistogram(h: hdr.Histogram): string {
  return hdr.encodeIntoCompressedBase64(h);
}

/** Op kind -> encoded histogram, as a worker sends them. */
export type EncodedHistograms = Record<string, string>;

/** Adds every worker's histogram of each op kind into one per kind. */
export function mergeHistograms(perWorker: EncodedHistograms[]): Map<string, hdr.Histogram> {
  const merged = new Map<string, hdr.Histogram>();
  for (const encoded of perWorker) {
    for (const [op, text] of Object.entries(encoded)) {
      const h = hdr.decodeFromCompressedBase64(text, 64, false);
      let into = merged.get(op);
      if (into === undefined) {
        into = newHistogram();
        merged.set(op, into);
      }
      into.add(h);
    }
  }
  return merged;
}

/** Latency of one op kind, in nanoseconds. */
export interface LatencySummary {
  count: number;
  p50: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
}

export function summarize(h: hdr.Histogram): LatencySummary {
  return {
    count: h.totalCount,
    p50: h.getValueAtPercentile(50),
    p99: h.getValueAtPercentile(99),
    p999: h.getValueAtPercentile(99.9),
    max: h.maxValue,
    mean: Math.round(h.mean),
  };
}

/** 850 ns, 12.3 us, 4.56 ms, 1.20 s. */
export function formatNs(ns: number): string {
  if (ns < 1_000) return `${Math.round(ns)} ns`;
  if (ns < 1_000_000) return `${(ns / 1_000).toPrecision(3)} us`;
  if (ns < 1_000_000_000) return `${(ns / 1_000_000).toPrecision(3)} ms`;
  return `${(ns / 1_000_000_000).toPrecision(3)} s`;
}

/**
 * Helpers of the operation-counter suites (metrics*.test.ts; not a test file
 * itself): the operation counts of `map.metrics()` apart from its gauges, and
 * an exact comparison where every count a test does not name must be 0.
 */
import { expect } from 'vitest';
import { SharedMap } from '../../src/index.js';
import type { SharedMapMetrics } from '../../src/index.js';

/** Fields of `metrics()` that are not operation counts: contention gauges, sampling, block use. */
const NOT_COUNTS = ['lockWaits', 'readRetries', 'samples', 'shardSamples', 'blocksInUse', 'overflowUsed'] as const;

export type OperationCounts = Omit<SharedMapMetrics, (typeof NOT_COUNTS)[number]>;

/** Counts a test expects: a count, or some fields of a group of counts; every count not named is 0. */
export type Want = Partial<{
  [K in keyof OperationCounts]: OperationCounts[K] extends number ? number : Partial<OperationCounts[K]>;
}>;

/** The operation counts of `m` (without the fields in NOT_COUNTS). */
export function operationCounts(m: SharedMapMetrics): OperationCounts {
  const out: Partial<SharedMapMetrics> = { ...m };
  for (const k of NOT_COUNTS) delete out[k];
  return out as OperationCounts;
}

/** Every count at 0, in the shape `metrics()` has (so a new counter is checked without editing this file). */
const ZERO: Record<string, unknown> = JSON.parse(
  JSON.stringify(operationCounts(SharedMap.create({ metrics: true }).metrics()), (_k, v: unknown) =>
    typeof v === 'number' ? 0 : v,
  ),
);

/** `want` with every count it does not name set to 0. */
export function allCounts(want: Want): OperationCounts {
  const full: Record<string, unknown> = {};
  for (const [k, zero] of Object.entries(ZERO)) {
    const w = want[k as keyof Want];
    full[k] = typeof zero === 'number' ? (w ?? 0) : { ...(zero as object), ...(w as object) };
  }
  return full as OperationCounts;
}

/** Asserts `got`'s operation counts are exactly `want` (the rest 0). */
export function expectCounts(got: SharedMapMetrics, want: Want): void {
  expect(operationCounts(got)).toEqual(allCounts(want));
}

/**
 * The timed loop, the same for every system and thread: a warm-up window,
 * `reps` throughput windows with no per-op timing, then one latency window
 * that times every unit (one op, or one batch of 64) into an HDR histogram.
 * Threads of one run start every window together at a barrier.
 *
 * Windows are time-bounded, not op-bounded, so a slow system (one
 * postMessage per op) and a fast one (Map) each run for the same wall time.
 * Each thread walks its own op sequence from where the last window stopped,
 * wrapping at the end.
 */
import * as hdr from 'hdr-histogram-js';
import { barrierWait } from '../shm/sync.js';
import type { OpStream, Session } from './driver.js';

export interface Plan {
  readonly warmupMs: number;
  readonly reps: number;
  readonly repMs: number;
  readonly latencyMs: number;
}

/** One throughput window of one thread. */
export interface Sample {
  readonly ops: number;
  readonly ns: number;
  /** Gets that found a value (the read-only phase must find all of them). */
  readonly hits: number;
  readonly gets: number;
}

export interface MeasureResult {
  readonly reps: Sample[];
  /** Latency per unit in ns, as `encodeIntoCompressedBase64`. */
  readonly latency: string;
  /** What one `performance.now()` pair costs here, ns (it is inside every latency figure). */
  readonly timerNs: number;
}

/** Threads measured together: a barrier (`BARRIER_WORDS` words at index 0) and how many meet there. */
export interface Together {
  readonly words: Int32Array;
  readonly parties: number;
}

/** Ops a sync session runs between two clock reads in a throughput window. */
const SYNC_CHUNK = 512;
/** A missing party fails the run instead of hanging it. */
const BARRIER_TIMEOUT_MS = 120_000;

function meet(together: Together | undefined): void {
  if (together !== undefined && together.parties > 1)
    barrierWait(together.words, 0, together.parties, BARRIER_TIMEOUT_MS);
}

function countGets(ops: OpStream, from: number, to: number): number {
  let n = 0;
  const kinds = ops.kinds;
  for (let i = from; i < to; i++) if (kinds[i] === 0) n++;
  return n;
}

function timerCost(): number {
  const samples: number[] = [];
  for (let i = 0; i < 2001; i++) {
    const t = performance.now();
    samples.push(performance.now() - t);
  }
  samples.sort((a, b) => a - b);
  return samples[1000]! * 1e6;
}

export async function measure(
  session: Session,
  ops: OpStream,
  plan: Plan,
  together?: Together,
): Promise<MeasureResult> {
  const length = ops.kinds.length;
  const mask = length - 1;
  const unit = session.kind === 'sync' ? SYNC_CHUNK : session.batch;
  if (length % unit !== 0 || length % session.batch !== 0)
    throw new Error(`op sequence length ${length} is not a multiple of ${unit}`);
  let pos = 0;

  // One window: run units until `ms` have passed; returns ops, ns, hits, gets.
  const window = async (ms: number): Promise<Sample> => {
    let n = 0;
    let hits = 0;
    let gets = 0;
    const t0 = performance.now();
    const end = t0 + ms;
    let t: number;
    if (session.kind === 'sync') {
      do {
        hits += session.run(ops, pos, pos + unit);
        gets += countGets(ops, pos, pos + unit);
        pos = (pos + unit) & mask;
        n += unit;
        t = performance.now();
      } while (t < end);
    } else {
      do {
        hits += await session.run(ops, pos, pos + unit);
        gets += countGets(ops, pos, pos + unit);
        pos = (pos + unit) & mask;
        n += unit;
        t = performance.now();
      } while (t < end);
    }
    return { ops: n, ns: (t - t0) * 1e6, hits, gets };
  };

  meet(together);
  await window(plan.warmupMs);
  const reps: Sample[] = [];
  for (let r = 0; r < plan.reps; r++) {
    meet(together);
    reps.push(await window(plan.repMs));
  }

  // Latency window: every unit timed on its own.
  const hist = hdr.build({ lowestDiscernibleValue: 1, numberOfSignificantValueDigits: 3, autoResize: true });
  const batch = session.batch;
  meet(together);
  const end = performance.now() + plan.latencyMs;
  if (session.kind === 'sync') {
    do {
      const t = performance.now();
      session.run(ops, pos, pos + batch);
      hist.recordValue(Math.max(1, Math.round((performance.now() - t) * 1e6)));
      pos = (pos + batch) & mask;
    } while (performance.now() < end);
  } else {
    do {
      const t = performance.now();
      await session.run(ops, pos, pos + batch);
      hist.recordValue(Math.max(1, Math.round((performance.now() - t) * 1e6)));
      pos = (pos + batch) & mask;
    } while (performance.now() < end);
  }
  const latency = hdr.encodeIntoCompressedBase64(hist);
  hist.destroy();
  meet(together);
  return { reps, latency, timerNs: timerCost() };
}

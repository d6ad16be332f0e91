/**
 * Runs the benchmark matrix: for each workload and system, prepare once
 * (create and preload the store), then every phase x key distribution x
 * thread count, read-only phase first. Aggregates each run's threads into one
 * row: total ops/s per repetition (median and spread over repetitions), and
 * the latency histograms of all threads merged.
 */
import { Piscina } from 'piscina';
import * as hdr from 'hdr-histogram-js';
import { BARRIER_WORDS } from '../shm/sync.js';
import type { Driver, Prepared, WorkloadName } from './driver.js';
import { measure, type MeasureResult, type Plan } from './measure.js';
import { loadDriver, missingPackage } from './systems.js';
import type { BenchTask } from './worker.js';
import { cachedTables, generateOps, opStream, zipfTable, type Dist, type OpArrays, type Phase } from './workload.js';

export interface BenchConfig {
  /** Keys preloaded in every store; ops choose among them. */
  readonly preload: number;
  /** Ops in each thread's pre-generated sequence (a power of two; windows wrap around it). */
  readonly opsLength: number;
  readonly threads: readonly number[];
  readonly workloads: readonly WorkloadName[];
  readonly phases: readonly Phase[];
  readonly dists: readonly Dist[];
  readonly plan: Plan;
  /** System names, in row order. */
  readonly systems: readonly string[];
  readonly seed: number;
  /** The compiled worker task (dist/bench/worker.js). */
  readonly workerFile: string;
}

export interface Row {
  readonly workload: WorkloadName;
  readonly phase: Phase;
  readonly dist: Dist;
  readonly system: string;
  readonly threads: number;
  /** Ops per latency unit: 1, or 64 for batched systems. */
  readonly batch: number;
  /** Total ops/s over all threads: median, min and max over repetitions, and every repetition. */
  readonly opsPerSec: number;
  readonly opsPerSecMin: number;
  readonly opsPerSecMax: number;
  readonly repsOpsPerSec: number[];
  /** Wall time per op in one thread: threads x 1e9 / opsPerSec. */
  readonly nsPerOp: number;
  /** Latency per unit (one op, or one batch), ns, all threads merged. */
  readonly p50: number;
  readonly p99: number;
  readonly p999: number;
  readonly latencySamples: number;
  /** Cost of the timer pair inside every latency figure, ns. */
  readonly timerNs: number;
  readonly error?: string;
}

export interface Skipped {
  readonly system: string;
  readonly reason: string;
}

export interface Progress {
  row(row: Row, done: number, total: number): void;
  note(line: string): void;
}

export interface BenchRun {
  readonly rows: Row[];
  readonly skipped: Skipped[];
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** One seed per (dist, phase, worker index): every system gets the same sequence for the same slot. */
function opsSeed(seed: number, dist: Dist, phase: Phase, worker: number): number {
  return (
    (seed ^
      Math.imul(worker + 1, 0x85ebca6b) ^
      (dist === 'zipf' ? 0x27d4eb2f : 0) ^
      (phase === 'mix' ? 0x165667b1 : 0)) |
    0
  );
}

function aggregate(
  base: Pick<Row, 'workload' | 'phase' | 'dist' | 'system' | 'threads' | 'batch'>,
  results: MeasureResult[],
  reps: number,
): Row {
  const repsOpsPerSec: number[] = [];
  let hits = 0;
  let gets = 0;
  for (let r = 0; r < reps; r++) {
    let total = 0;
    for (const res of results) {
      const s = res.reps[r]!;
      total += s.ops / (s.ns / 1e9);
      hits += s.hits;
      gets += s.gets;
    }
    repsOpsPerSec.push(total);
  }
  const hist = hdr.build({ lowestDiscernibleValue: 1, numberOfSignificantValueDigits: 3, autoResize: true });
  for (const res of results) {
    const h = hdr.decodeFromCompressedBase64(res.latency);
    hist.add(h);
    h.destroy();
  }
  const opsPerSec = median(repsOpsPerSec);
  const row: Row = {
    ...base,
    opsPerSec,
    opsPerSecMin: Math.min(...repsOpsPerSec),
    opsPerSecMax: Math.max(...repsOpsPerSec),
    repsOpsPerSec,
    nsPerOp: (base.threads * 1e9) / opsPerSec,
    p50: hist.getValueAtPercentile(50),
    p99: hist.getValueAtPercentile(99),
    p999: hist.getValueAtPercentile(99.9),
    latencySamples: hist.totalCount,
    timerNs: median(results.map((r) => r.timerNs)),
  };
  hist.destroy();
  // Every key is preloaded and nothing deletes in the read-only phase: a miss is a wrong result.
  if (base.phase === 'get' && hits !== gets)
    return { ...row, error: `wrong results: ${gets - hits} of ${gets} gets missed a preloaded key` };
  return row;
}

function failedRow(base: Pick<Row, 'workload' | 'phase' | 'dist' | 'system' | 'threads' | 'batch'>, err: unknown): Row {
  const message = err instanceof Error ? err.message : String(err);
  return {
    ...base,
    opsPerSec: NaN,
    opsPerSecMin: NaN,
    opsPerSecMax: NaN,
    repsOpsPerSec: [],
    nsPerOp: NaN,
    p50: NaN,
    p99: NaN,
    p999: NaN,
    latencySamples: 0,
    timerNs: NaN,
    error: message.split('\n')[0]!,
  };
}

/** The (phase, dist, threads) runs of one system, in order. */
function runsOf(driver: Driver, config: BenchConfig): Array<{ phase: Phase; dist: Dist; threads: number }> {
  const out: Array<{ phase: Phase; dist: Dist; threads: number }> = [];
  for (const phase of config.phases) {
    if (phase === 'mix' && driver.readOnly) continue;
    for (const dist of config.dists) {
      for (const threads of driver.where === 'main' ? [1] : config.threads) out.push({ phase, dist, threads });
    }
  }
  return out;
}

export async function runBench(config: BenchConfig, progress: Progress): Promise<BenchRun> {
  const drivers: Driver[] = [];
  const skipped: Skipped[] = [];
  for (const name of config.systems) {
    const missing = missingPackage(name);
    const d = missing === undefined ? await loadDriver(name) : undefined;
    const reason = missing ?? d?.unavailable?.();
    if (d !== undefined && reason === undefined) {
      drivers.push(d);
      continue;
    }
    const why = reason ?? `${name}: unavailable`;
    if (!skipped.some((s) => s.reason === why)) progress.note(why);
    skipped.push({ system: name, reason: why });
  }
  const total = config.workloads.length * drivers.reduce((n, d) => n + runsOf(d, config).length, 0);
  const maxThreads = Math.max(...config.threads);
  let pool: Piscina | undefined;
  const opsCache = new Map<string, OpArrays>();
  let zipf: Float64Array | undefined;
  const opsFor = (phase: Phase, dist: Dist, worker: number): OpArrays => {
    const id = `${phase}/${dist}/${worker}`;
    let ops = opsCache.get(id);
    if (ops === undefined) {
      if (dist === 'zipf') zipf ??= zipfTable(config.preload);
      ops = generateOps(config.preload, config.opsLength, phase, dist, opsSeed(config.seed, dist, phase, worker), zipf);
      opsCache.set(id, ops);
    }
    return ops;
  };

  const rows: Row[] = [];
  try {
    for (const workload of config.workloads) {
      const tables = cachedTables(workload, config.preload);
      for (const driver of drivers) {
        const runs = runsOf(driver, config);
        let prepared: Prepared | undefined;
        let prepareError: unknown;
        try {
          prepared = await driver.prepare({
            workload,
            preload: config.preload,
            keys: tables.keys,
            values: tables.values,
          });
        } catch (err) {
          prepareError = err;
        }
        for (const { phase, dist, threads } of runs) {
          const base = { workload, phase, dist, system: driver.name, threads, batch: driver.batch };
          let row: Row;
          try {
            if (prepared === undefined) throw prepareError;
            let results: MeasureResult[];
            if (driver.where === 'main') {
              const session = await driver.open(prepared.forWorker(0).data, workload);
              try {
                results = [await measure(session, opStream(opsFor(phase, dist, 0), tables), config.plan)];
              } finally {
                await session.close();
              }
            } else {
              pool ??= new Piscina({
                filename: config.workerFile,
                minThreads: maxThreads,
                maxThreads,
                idleTimeout: 3_600_000,
              });
              const p = pool;
              const barrier = new Int32Array(new SharedArrayBuffer(BARRIER_WORDS * 4));
              results = await Promise.all(
                Array.from({ length: threads }, (_, i) => {
                  const wd = prepared.forWorker(i);
                  const task: BenchTask = {
                    system: driver.name,
                    workload,
                    preload: config.preload,
                    data: wd.data,
                    ops: opsFor(phase, dist, i),
                    plan: config.plan,
                    barrier,
                    parties: threads,
                  };
                  return p.run(task, wd.transfer === undefined ? {} : { transferList: wd.transfer as never });
                }),
              );
            }
            row = aggregate(base, results, config.plan.reps);
          } catch (err) {
            row = failedRow(base, err);
          }
          rows.push(row);
          progress.row(row, rows.length, total);
        }
        if (prepared !== undefined) await prepared.close();
      }
    }
  } finally {
    for (const d of drivers) await d.shutdown?.();
    if (pool !== undefined) await pool.destroy();
  }
  return { rows, skipped };
}

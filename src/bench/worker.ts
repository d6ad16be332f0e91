/**
 * The piscina task of `bench`: one measuring thread of one run. It opens the
 * system's session, measures (windows start together at the barrier) and
 * closes it. Thin on purpose: the loop is `measure()`, the same one the main
 * thread runs for the single-thread `map` row.
 */
import type { WorkloadName } from './driver.js';
import { measure, type MeasureResult, type Plan } from './measure.js';
import { loadDriver } from './systems.js';
import { cachedTables, opStream, type OpArrays } from './workload.js';

export interface BenchTask {
  readonly system: string;
  readonly workload: WorkloadName;
  readonly preload: number;
  /** `forWorker(i).data` of the system's prepare. */
  readonly data: unknown;
  readonly ops: OpArrays;
  readonly plan: Plan;
  /** `BARRIER_WORDS` words over a SharedArrayBuffer, shared by the run's threads. */
  readonly barrier: Int32Array;
  readonly parties: number;
}

export default async function benchTask(task: BenchTask): Promise<MeasureResult> {
  const driver = await loadDriver(task.system);
  const tables = cachedTables(task.workload, task.preload);
  const session = await driver.open(task.data, task.workload);
  try {
    return await measure(session, opStream(task.ops, tables), task.plan, {
      words: task.barrier,
      parties: task.parties,
    });
  } finally {
    await session.close();
  }
}

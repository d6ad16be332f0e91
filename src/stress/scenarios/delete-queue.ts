/**
 * The `delete-queue` scenario: a safe cleanup shape, deletes handed to a
 * DeleteQueue and done by a drainer thread (src/workers/drainer.ts, a piscina
 * task of the same pool).
 *
 * Shared state the checks need lives in one "scratch" SharedArrayBuffer per
 * run (layout below); the workers write it with Atomics where several threads
 * meet, and the main thread reads it once every worker is done.
 *
 * delete-queue (the first quarter of the workers `enqueuer`s, the others the
 * `mixed` workload; a drainer thread; a small queue so it fills):
 *   enqueuer w creates keys in a range only it uses (ids after the owned keys,
 *   DOOMED_PER_WORKER each), ranges over the map with `snapshot()` and, instead
 *   of deleting, enqueues its doomed keys it meets. state[w][i] records
 *   1 = set, 2 = enqueued (enqueue returned true). A key is enqueued at most
 *   once and never set again. A full queue makes `enqueue` return false: the
 *   key stays state 1 and is tried again next range; at the end the enqueuer
 *   flushes with `enqueueWait`. At the end: every state-2 key absent, every
 *   state-1 key present; enqueued (counted by the enqueuers) === the queue's
 *   enqueued === drained === the drainer's deletes that returned true, none
 *   returned false (deleted exactly once), and every false from enqueue is
 *   counted by the queue too (no silent loss). The enqueuers' queue handles
 *   and the drainer count in the map's metrics (`countIn`; the drain loop
 *   does it by itself), and `map.metrics().queue` must agree with the
 *   queue's own enqueued, drained and full-refusal counts.
 */
import { SharedMap } from '../../shm/map.js';
import { DeleteQueue } from '../../shm/patterns/delete-queue.js';
import { hasMetrics } from '../../shm/metrics.js';
import type { KeyCodec, ValueCodec } from '../keys.js';
import type { StressOptions } from '../options.js';
import { CONTROL, type StressTask } from '../protocol.js';
import type { Run } from '../workload.js';
import {
  addCount,
  FINAL_WAIT_MS,
  handlerCount,
  siblingFile,
  sumCounts,
  type PatternMap,
  type PatternRun,
  type Scenario,
  mixConflicts,
} from './scenario.js';

/** Doomed keys each worker may create (ids reserved after the owned keys). */
export const DOOMED_PER_WORKER = 4096;
/** The delete queue's capacity: small, so that bursts fill it. */
export const QUEUE_CAPACITY = 64;
/** Doomed keys an enqueuer creates per round; it ranges every RANGE_EVERY rounds (bursts larger than the queue). */
const DOOMED_BATCH = 32;
const RANGE_EVERY = 4;

/** Id of the first doomed key of worker `index` (delete-queue). */
export function doomedBase(task: Pick<StressTask, 'keys' | 'workers' | 'owned'>, index: number): number {
  return task.keys + task.workers * task.owned + index * DOOMED_PER_WORKER;
}

/** delete-queue enqueuer: makes doomed keys, ranges over a snapshot and enqueues them instead of deleting (a handler role). */
export function runEnqueuer(run: Run): void {
  const { task, rng, kc, vc } = run;
  const map = run.map as unknown as PatternMap;
  const queue = DeleteQueue.attach<unknown>(task.pattern!.queue!);
  // The stress map counts with `metrics`: the keys show in map.metrics().queue and /metrics.
  if (run.map instanceof SharedMap) queue.countIn(run.map);
  const state = new Uint8Array(task.pattern!.scratch, task.index * DOOMED_PER_WORKER, DOOMED_PER_WORKER);
  const first = doomedBase(task, task.index);
  const c = run.pattern;
  let made = 0;
  let round = 0;
  const range = (final: boolean): void => {
    const t0 = performance.now();
    const entries = map.snapshot();
    run.recordLatency('snapshot', t0);
    for (const [key] of entries) {
      const i = kc.id(key) - first;
      if (i < 0 || i >= made || state[i] !== 1) continue;
      const t1 = performance.now();
      const ok = final ? queue.enqueueWait(key, FINAL_WAIT_MS) : queue.enqueue(key);
      run.recordLatency('enqueue', t1);
      if (ok) {
        state[i] = 2;
        addCount(c, 'enqueued');
      } else addCount(c, 'enqueueRefused');
    }
  };
  do {
    for (let j = 0; j < DOOMED_BATCH && made < DOOMED_PER_WORKER; j++, made++) {
      run.op('set', kc.key(first + made), vc.value(++run.writeN, task.index));
      state[made] = 1;
      addCount(c, 'doomedSet');
    }
    for (let j = 0; j < 8; j++) run.ownedOp(rng.next() < 0.5 ? 'set' : 'get');
    if (++round % RANGE_EVERY === 0) range(false);
    run.progress[CONTROL.progressF64(task.index)] = run.ops;
  } while (run.writersRunning());
  range(true);
}

function queueRun(
  o: StressOptions,
  map: SharedMap<unknown, unknown>,
  workerFile: string,
  kc: KeyCodec,
  vc: ValueCodec,
): PatternRun {
  const scratch = new SharedArrayBuffer(o.workers * DOOMED_PER_WORKER);
  const queue = DeleteQueue.create<unknown>({ capacity: QUEUE_CAPACITY, key: o.keyType });
  return {
    task: { scratch, queue: queue.handle },
    aux: {
      file: siblingFile(workerFile, 'drainer.js'),
      task: { queue: queue.handle, map: map.handle, idleWaitMs: 100, finalWaitMs: FINAL_WAIT_MS },
    },
    stop: () => queue.close(),
    async verify(m, results, auxResult) {
      const checks = sumCounts(results);
      checks.enqueued ??= 0;
      checks.enqueueRefused ??= 0;
      const losses: string[] = [];
      const drainer = auxResult as
        { drained: number; removed: number; absent: number; pendingAtExit: number } | undefined;
      const qs = queue.stats();
      checks.queueFullRejections = qs.fullRejections;
      checks.queueFullWaits = qs.fullWaits;
      checks.drained = drainer?.drained ?? 0;
      checks.drainerDeleted = drainer?.removed ?? 0;
      checks.drainerFoundAbsent = drainer?.absent ?? 0;
      if (drainer === undefined) losses.push('delete-queue: the drainer thread returned no result');
      else {
        if (
          drainer.removed !== checks.enqueued ||
          drainer.absent !== 0 ||
          qs.enqueued !== checks.enqueued ||
          qs.drained !== checks.enqueued ||
          drainer.pendingAtExit !== 0
        ) {
          losses.push(
            `delete-queue: enqueuers enqueued ${checks.enqueued}; queue says enqueued ${qs.enqueued}, drained ${qs.drained}; drainer deleted ${drainer.removed}, found ${drainer.absent} absent, left ${drainer.pendingAtExit} (each must equal the enqueued count, absent and left 0)`,
          );
        }
      }
      // The map's metrics count the same keys in the threads that handled them (the enqueuers' and the drainer's blocks).
      if (hasMetrics(m.views)) {
        const mq = m.metrics().queue;
        checks.metricsEnqueued = mq.enqueued;
        checks.metricsDrained = mq.drained;
        checks.metricsFullRejections = mq.fullRejections;
        if (mq.enqueued !== qs.enqueued || mq.drained !== qs.drained || mq.fullRejections !== qs.fullRejections) {
          losses.push(
            `delete-queue: the map's metrics counted ${mq.enqueued} enqueued, ${mq.drained} drained, ${mq.fullRejections} refused full; the queue says ${qs.enqueued}, ${qs.drained}, ${qs.fullRejections}`,
          );
        }
      }
      if (qs.fullRejections + qs.closedRejections !== checks.enqueueRefused) {
        losses.push(
          `delete-queue: enqueuers saw ${checks.enqueueRefused} refusals, the queue counted ${qs.fullRejections} full + ${qs.closedRejections} closed`,
        );
      }
      let keysChecked = 0;
      let bad = 0;
      for (let w = 0; w < o.workers; w++) {
        const state = new Uint8Array(scratch, w * DOOMED_PER_WORKER, DOOMED_PER_WORKER);
        const first = doomedBase(o, w);
        for (let i = 0; i < DOOMED_PER_WORKER; i++) {
          if (state[i] === 0) continue;
          keysChecked++;
          const key = kc.key(first + i);
          const got = m.get(key);
          const ok = state[i] === 2 ? got === undefined : got !== undefined;
          if (ok) continue;
          bad++;
          if (losses.length < 20)
            losses.push(
              `delete-queue: worker ${w} key ${vc.show(key)}: ${state[i] === 2 ? 'enqueued, still present' : 'not enqueued, but gone'} (${vc.show(got)})`,
            );
        }
      }
      checks.doomedKeysChecked = keysChecked;
      checks.doomedKeysWrong = bad;
      return { checks, losses };
    },
  };
}

export const deleteQueue: Scenario = {
  name: 'delete-queue',
  summary:
    'handlers enqueue keys to delete into a DeleteQueue, a drainer thread deletes them: each exactly once, none lost when full',
  minWorkers: 2,
  numeric: false,
  role: (i, n) => (i < handlerCount(n) ? 'enqueuer' : 'mixed'),
  expectedConflicts: mixConflicts,
  extraKeyIds: (workers) => workers * DOOMED_PER_WORKER,
  prepare: queueRun,
};

/**
 * `serve`'s cleaner thread (a plain Worker, `workerData = { serveCleaner: 1,
 * shared, stop }`), for the strategies whose cleanup runs beside the
 * handlers rather than in them:
 *
 *   sweep, lease   `map.sweep(stale)` every --interval-ms (on a leases map a
 *                  leased session is retired; its last release removes it)
 *   ttl            the library's sweeper loop (the one src/workers/sweeper
 *                  runs): `map.sweepExpired()` every --interval-ms
 *   delete-queue   the drain loop (`runDrainLoop`) with a delete that keeps a
 *                  session refreshed since it was queued (staleDeleter);
 *                  stopped by `queue.close()`
 *   rebuild        every --interval-ms: writers held out (world lock), the
 *                  fresh sessions copied into the other map, the epoch bumped
 *                  (see store.ts for why nothing is lost)
 *
 * GC pauses of this thread are counted with a GCProfiler (counters.ts: its
 * event loop never runs), flushed into its row after each cycle and at the
 * end (delete-queue: at the end only). The loops park on
 * `Atomics.wait` (the stop switch's word, or the queue's), so a stop request
 * wakes them at once although their event loop never runs. The thread posts
 * one `{ type: 'done' }` (or `{ type: 'error' }`) and ends.
 */
import { isMainThread, parentPort, threadId, workerData } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { SharedMap } from '../shm/map.js';
import { DeleteQueue, runDrainLoop } from '../shm/patterns/delete-queue.js';
import { runSweeperLoop, waitForStop, type StopSwitch } from '../shm/patterns/ttl.js';
import { resumeTheWorld, stopTheWorld } from '../bench/world-lock.js';
import { staleDeleter } from '../bench/conditional-delete.js';
import { C, ThreadCounters } from './counters.js';
import { CTL, isStale, nowMs, type ServeShared, type Session } from './store.js';

export interface CleanerData {
  serveCleaner: 1;
  shared: ServeShared;
  stop: StopSwitch;
}

export type CleanerMessage = { type: 'done' } | { type: 'error'; message: string };

function run(data: CleanerData): void {
  const counters = new ThreadCounters(data.shared.counters, 'cleaner');
  counters.profileGc();
  try {
    loop(data, counters);
  } finally {
    counters.stopGcProfiler();
  }
}

function loop(data: CleanerData, counters: ThreadCounters): void {
  const { shared, stop } = data;
  const o = shared.options;
  const maps = shared.maps.map((h) => SharedMap.attach<string, Session>(h));
  if (o.cleanup === 'ttl') {
    runSweeperLoop(
      stop,
      o.intervalMs,
      () => {
        const removed = maps[0]!.sweepExpired();
        counters.add(C.CLEANED, removed);
        counters.flushGc();
        return removed;
      },
      threadId,
    );
    return;
  }
  if (o.cleanup === 'delete-queue') {
    // Its drains count in the map's metrics (the loop below deletes through a wrapper, not the map).
    const queue = DeleteQueue.attach<string>(shared.queue!).countIn(maps[0]!);
    const deleter = staleDeleter<string, Session>(maps[0]!, (s, now) => isStale(s, Math.floor(now), o.staleMs));
    const counting = {
      delete(id: string): boolean {
        const removed = deleter.delete(id) === true;
        if (removed) counters.add(C.CLEANED);
        return removed;
      },
    };
    runDrainLoop(queue, counting, { idleWaitMs: o.intervalMs, finalWaitMs: 0 });
    return;
  }
  const ctl = new Int32Array(shared.control);
  for (;;) {
    if (o.cleanup === 'rebuild') rebuild(maps, ctl, o.staleMs, counters);
    else {
      const now = nowMs();
      counters.add(
        C.CLEANED,
        maps[0]!.sweep((s) => isStale(s, now, o.staleMs)),
      );
    }
    counters.flushGc();
    if (waitForStop(stop, o.intervalMs)) return;
  }
}

/** One rebuild: the current map's fresh sessions into the other map, then every thread switches to it. */
function rebuild(maps: SharedMap<string, Session>[], ctl: Int32Array, staleMs: number, counters: ThreadCounters): void {
  stopTheWorld(ctl, CTL.WORLD_I32);
  const t0 = performance.now();
  try {
    const epoch = Atomics.load(ctl, CTL.EPOCH_I32);
    const from = maps[epoch & 1]!;
    const to = maps[(epoch + 1) & 1]!;
    // Readers of `to` (a reader still holding the previous epoch) retry when they see the epoch move.
    to.clear();
    const now = nowMs();
    let dropped = 0;
    // No writer runs (they wait on the world lock), so the snapshot is exact.
    for (const [id, s] of from.snapshot()) {
      if (isStale(s, now, staleMs)) dropped++;
      else to.set(id, s);
    }
    Atomics.store(ctl, CTL.EPOCH_I32, epoch + 1);
    counters.add(C.CLEANED, dropped);
    counters.add(C.REBUILDS);
  } finally {
    resumeTheWorld(ctl, CTL.WORLD_I32);
    counters.max(C.REBUILD_MAX_MS, performance.now() - t0);
  }
}

const data = workerData as Partial<CleanerData> | undefined;
if (!isMainThread && parentPort !== null && data?.serveCleaner === 1) {
  let message: CleanerMessage;
  try {
    run(data as CleanerData);
    message = { type: 'done' };
  } catch (err) {
    message = { type: 'error', message: (err as Error).stack ?? String(err) };
  }
  parentPort.postMessage(message);
}

/**
 * The piscina task of `stress --scenario chaos` (src/stress/chaos.ts): a
 * worker slot, the drainer or the sweeper, by `task.role`. Its own entry,
 * importing only what a chaos slot runs, because the runner kills these
 * threads all the time and each replacement loads this file anew. `npm run
 * build` bundles it (and chaos-thread.ts, the entry of a plain Worker) into
 * one file each under dist/workers/bundled/: Node loads a graph of thirty
 * modules one by one, which cost a new thread more than its own start
 * (module loading ~55 ms of a thread's ~110 ms of CPU on Node 20, ~15 ms
 * as one file). The runner uses the bundled files.
 */
import { threadId } from 'node:worker_threads';
import { SharedMap } from '../shm/map.js';
import { livenessTestSwitch } from '../shm/liveness.js';
import { markAuxThread, runChaosSlot, type ChaosTask, type ChaosTaskResult } from '../stress/chaos-slot.js';
import type { DrainerResult } from './drainer.js';
import type { SweeperResult } from './sweeper.js';

export default async function chaosTask(task: ChaosTask): Promise<ChaosTaskResult | DrainerResult | SweeperResult> {
  if (task.noLiveness === true) livenessTestSwitch.mode = 'off';
  if (task.role === 'chaos') return runChaosSlot(SharedMap.attach<number, number>(task.handle), task, threadId);
  // Marked as started (killable) only once its modules are loaded: terminating a thread while
  // it reads a module file can crash the whole process on some Node versions.
  if (task.role === 'chaos-sweeper') {
    const { sweepUntilStopped } = await import('./sweeper.js');
    markAuxThread(task, threadId);
    return sweepUntilStopped({ map: task.handle, stop: task.stop, intervalMs: 5 });
  }
  const { drain } = await import('./drainer.js');
  markAuxThread(task, threadId);
  // A replacement drainer may start before its dead predecessor is recovered: it is refused
  // (the consumer word still names the dead thread) until then, and tries again.
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (let tries = 0; ; tries++) {
    try {
      return drain({ queue: task.queue, map: task.handle, idleWaitMs: 20, finalWaitMs: 1_000 });
    } catch (err) {
      if ((err as { code?: string }).code !== 'SHMAP_CONCURRENT_WRITE' || tries >= 5_000) throw err;
      Atomics.wait(pause, 0, 0, 2);
    }
  }
}

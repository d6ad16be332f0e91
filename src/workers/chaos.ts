/**
 * The piscina task of `stress --scenario chaos` (src/stress/chaos.ts): a
 * worker slot, the drainer or the sweeper, by `task.role`. Its own entry,
 * importing only what a chaos slot runs (the drainer's and the sweeper's
 * modules load only in their own threads), because the runner kills these
 * threads all the time and each replacement loads this file anew: the
 * fewer modules, the sooner it runs and the more kills a run gets. The
 * general stress task (stress.ts) hands chaos tasks here too, and so does
 * chaos-thread.ts, the entry of a plain Worker.
 */
import { threadId } from 'node:worker_threads';
import { SharedMap } from '../shm/map.js';
import { markAuxThread, runChaosSlot, type ChaosTask, type ChaosTaskResult } from '../stress/chaos-slot.js';
import type { DrainerResult } from './drainer.js';
import type { SweeperResult } from './sweeper.js';

export default async function chaosTask(task: ChaosTask): Promise<ChaosTaskResult | DrainerResult | SweeperResult> {
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

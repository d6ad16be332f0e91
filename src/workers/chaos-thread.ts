/**
 * The entry of a plain Worker running one chaos task (`runChaos` with
 * `threads: 'workers'`): the task comes as `workerData`, its result goes
 * back as the one message. A kill is the runner's `terminate()`; nothing
 * here catches it (nothing could). The runner starts it bundled
 * (dist/workers/bundled/chaos-thread.js, see chaos.ts).
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { ChaosTask } from '../stress/chaos-slot.js';
import chaosTask from './chaos.js';

void chaosTask(workerData as ChaosTask).then((result) => parentPort!.postMessage(result));

// Test worker for test/shm/patterns/delete-queue-death.test.ts: threads that
// the test terminates at a chosen point. Roles:
//  - claim-park: claims a position for `key` through the test back door
//    (_enqueueInTwoSteps), signals words[L.claimed] = 1, and parks forever
//    without publishing: the test terminates it there.
//  - enqueue-park: enqueues `key` (its record is idle again afterwards),
//    signals words[L.claimed] = 1, and parks forever.
//  - drain-log: the drainer thread, draining into a real SharedMap through a
//    wrapper that logs every delete it hands over and what it returned
//    (log[0] = entries; entry j: log[1 + 2j] = key, log[2 + 2j] = 1 if delete
//    returned true, else 0). `noSkip`: the negative control (never skip a
//    dead producer's position). `parkAfter` N: after the N-th delete has
//    returned (and been logged), signal words[L.parked] = 1 and park forever,
//    inside the drain, before the queue's head moves past that key.
//    Posts the drain loop's counts, or the error it threw.
import { workerData, parentPort } from 'node:worker_threads';
import { DeleteQueue, runDrainLoop } from '../../dist/shm/patterns/delete-queue.js';
import { SharedMap } from '../../dist/shm/map.js';
import { signal, describeError } from './ctl.mjs';

const d = workerData;
const queue = DeleteQueue.attach(d.queue);

if (d.role === 'claim-park') {
  const { words, L } = d;
  const finish = queue._enqueueInTwoSteps(d.key);
  if (typeof finish !== 'function') throw new Error('claim-park: the queue refused the claim');
  signal(words, L.claimed, 1);
  Atomics.wait(words, L.never, 0);
  parentPort.postMessage({ published: finish() });
} else if (d.role === 'enqueue-park') {
  const { words, L } = d;
  const accepted = queue.enqueue(d.key);
  signal(words, L.claimed, accepted ? 1 : 2);
  Atomics.wait(words, L.never, 0);
} else if (d.role === 'drain-log') {
  const { words, L, log } = d;
  if (d.noSkip) queue._skipOrphans = false;
  const map = SharedMap.attach(d.map);
  let handed = 0;
  const logging = {
    delete(key) {
      const r = map.delete(key);
      const j = Atomics.load(log, 0);
      log[1 + 2 * j] = key;
      log[2 + 2 * j] = r ? 1 : 0;
      Atomics.store(log, 0, j + 1);
      if (++handed === d.parkAfter) {
        signal(words, L.parked, 1);
        Atomics.wait(words, L.never, 0);
      }
      return r;
    },
  };
  try {
    parentPort.postMessage({ ok: runDrainLoop(queue, logging, { idleWaitMs: 20, finalWaitMs: 100 }) });
  } catch (e) {
    parentPort.postMessage({ error: describeError(e) });
  }
} else {
  throw new Error('unknown role ' + d.role);
}

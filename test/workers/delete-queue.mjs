// Test worker for test/shm/patterns/delete-queue.test.ts. Roles:
//  - producer: enqueues its keys (id * KEY_STRIDE + i, i = 0..n-1) in order;
//    a false from enqueue is counted (and signalled in words[L.fulls]), then
//    the same key is retried with enqueueWait, which must succeed.
//  - drain-log: the drainer thread, draining into a wrapper whose delete
//    appends the key to a shared log (log[0] = count, log[1 + j] = j-th key)
//    and then deletes it from a real SharedMap (or returns true with no map).
//  - wait-room: one enqueueWait on a queue the test filled; posts what it returned.
import { workerData, parentPort } from 'node:worker_threads';
import { DeleteQueue, runDrainLoop } from '../../dist/shm/patterns/delete-queue.js';
import { signal } from './ctl.mjs';

const KEY_STRIDE = 1_000_000;
const d = workerData;
const queue = DeleteQueue.attach(d.queue);

if (d.role === 'producer') {
  const { words, L, id, n } = d;
  let fulls = 0;
  let waitFailures = 0;
  for (let i = 0; i < n; i++) {
    const key = id * KEY_STRIDE + i;
    if (queue.enqueue(key)) continue;
    fulls++;
    Atomics.add(words, L.fulls, 1);
    signal(words, L.fullSeen, 1);
    if (!queue.enqueueWait(key, 20_000)) waitFailures++;
  }
  parentPort.postMessage({ fulls, waitFailures });
} else if (d.role === 'drain-log') {
  const { log } = d;
  let map = null;
  if (d.map) {
    const { SharedMap } = await import('../../dist/shm/map.js');
    map = SharedMap.attach(d.map);
  }
  const logging = {
    delete(key) {
      const j = Atomics.add(log, 0, 1);
      if (1 + j < log.length) log[1 + j] = key;
      return map === null ? true : map.delete(key);
    },
  };
  const result = runDrainLoop(queue, logging, { idleWaitMs: 50 });
  parentPort.postMessage(result);
} else if (d.role === 'wait-room') {
  const accepted = queue.enqueueWait(d.key, d.timeoutMs ?? Infinity);
  parentPort.postMessage({ accepted });
} else {
  throw new Error('unknown role ' + d.role);
}

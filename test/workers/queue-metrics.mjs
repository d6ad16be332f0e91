// Test worker for test/shm/metrics-queue.test.ts: a DeleteQueue handle that
// counts in a map's metrics (queue.countIn(map)), unless `count` is false.
//  - producer: phase 1, one `enqueue` of each of its first `m` keys while
//    nobody drains (the queue fills: the rest are refused); posts what it
//    did, waits for words[L.go], then phase 2: `enqueueWait` of each refused
//    key and of `n` more keys (none may time out). Posts its totals and ends
//    normally (its counter block is given back, its counts stay).
//  - drainer: drains into the map until the queue is closed; posts its counts.
import { workerData, parentPort } from 'node:worker_threads';
import { SharedMap, DeleteQueue, runDrainLoop } from '../../dist/index.js';
import { waitUntil } from './ctl.mjs';

const d = workerData;
const map = SharedMap.attach(d.map);
const queue = DeleteQueue.attach(d.queue);
if (d.count) queue.countIn(map);

if (d.role === 'producer') {
  const { words, L, id, m, n } = d;
  const key = (i) => id * 1_000_000 + i;
  const refused = [];
  let accepted = 0;
  for (let i = 0; i < m; i++) {
    if (queue.enqueue(key(i))) accepted++;
    else refused.push(key(i));
  }
  parentPort.postMessage({ phase: 1, accepted, refused: refused.length });
  waitUntil(words, L.go, 1);
  let timeouts = 0;
  for (const k of refused) if (!queue.enqueueWait(k, 20_000)) timeouts++;
  for (let i = m; i < m + n; i++) if (!queue.enqueueWait(key(i), 20_000)) timeouts++;
  parentPort.postMessage({ phase: 2, accepted: accepted + refused.length + n - timeouts, timeouts });
} else if (d.role === 'drainer') {
  parentPort.postMessage(runDrainLoop(queue, map, { idleWaitMs: 50 }));
} else {
  throw new Error('unknown role ' + d.role);
}

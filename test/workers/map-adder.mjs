// `iters` atomic increments spread over `counters` shared keys: key i % counters
// gets 1 + i % 3, through `op`: add (default), update, or a compareAndSet loop
// (with putIfAbsent for the first write).
import { workerData, parentPort } from 'node:worker_threads';
import { SharedMap, barrierWait } from '../../dist/index.js';

const { handle, counters, iters, words, L, parties, op = 'add' } = workerData;
const map = SharedMap.attach(handle);
barrierWait(words, L.barrier, parties, 20_000);
let casRetries = 0;
for (let i = 0; i < iters; i++) {
  const k = i % counters;
  const d = 1 + (i % 3);
  if (op === 'add') map.add(k, d);
  else if (op === 'update') map.update(k, (o) => (o ?? 0) + d);
  else {
    for (;;) {
      const cur = map.get(k);
      if (cur === undefined ? map.putIfAbsent(k, d) === undefined : map.compareAndSet(k, cur, cur + d)) break;
      casRetries++;
    }
  }
}
parentPort.postMessage({ done: true, casRetries });

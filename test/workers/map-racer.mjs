// sync: 'none' races. Writers overwrite existing keys (no inserts, so the
// unsynchronized table keeps its shape); readers read them. Every worker
// stops when words[L.stop] is set, when its op budget runs out, or when it
// catches a Concurrent* error (onConflict: 'throw'). A worker that sees the
// conflict log reach `wantRecords` sets L.stop.
import { workerData, parentPort, threadId } from 'node:worker_threads';
import { SharedMap, barrierWait } from '../../dist/index.js';
import { describeError } from './ctl.mjs';

const { role, handle, keys, maxOps, wantRecords, words, L, parties } = workerData;
const map = SharedMap.attach(handle);
barrierWait(words, L.barrier, parties, 20_000);
let ops = 0;
let error;
try {
  while (ops < maxOps) {
    for (let j = 0; j < 1024; j++, ops++) {
      const k = (ops * 7 + threadId) % keys;
      if (role === 'write') map.set(k, ops);
      else map.get(k);
    }
    if (Atomics.load(words, L.stop) !== 0) break;
    if (map.conflicts().length >= wantRecords) {
      Atomics.store(words, L.stop, 1);
      break;
    }
  }
} catch (e) {
  error = e;
  Atomics.store(words, L.stop, 1);
}
parentPort.postMessage({ threadId, ops, error: describeError(error) });

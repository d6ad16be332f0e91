// Provokes conflicts on a sync: 'none' map with onConflict: 'record' until
// words[L.stop] is set. 'write': overwrites existing keys (the table keeps its
// shape); 'read': reads them; 'iterate': ranges over the map again and again,
// catching the ConcurrentMapIterationError a foreign write causes.
import { workerData, parentPort, threadId } from 'node:worker_threads';
import { SharedMap } from '../../dist/index.js';
import { describeError } from './ctl.mjs';

const { role, handle, keys, words, L } = workerData;
const map = SharedMap.attach(handle);
let ops = 0;
let iterationErrors = 0;
let error;
try {
  while (Atomics.load(words, L.stop) === 0) {
    if (role === 'iterate') {
      try {
        for (const entry of map) void entry;
      } catch (e) {
        if (e?.code !== 'SHMAP_CONCURRENT_ITERATION') throw e;
        iterationErrors++;
      }
      ops++;
      continue;
    }
    for (let j = 0; j < 256; j++, ops++) {
      const k = (ops * 7 + threadId) % keys;
      if (role === 'write') map.set(k, ops);
      else map.get(k);
    }
  }
} catch (e) {
  error = e;
}
parentPort.postMessage({ threadId, ops, iterationErrors, error: describeError(error) });

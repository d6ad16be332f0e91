// Clears the map `clears` times while other workers write to it.
import { workerData, parentPort } from 'node:worker_threads';
import { SharedMap, barrierWait } from '../../dist/index.js';

const { handle, clears, words, L, parties } = workerData;
const map = SharedMap.attach(handle);
barrierWait(words, L.barrier, parties, 20_000);
for (let i = 0; i < clears; i++) {
  map.clear();
  for (let k = -1; k > -50; k--) map.set(k, k * 10); // keys no writer uses
}
parentPort.postMessage({ done: true });

// putIfAbsent races: every worker tries to claim every key with its own id;
// reports the keys it won (putIfAbsent returned undefined) and, for the ones
// it lost, the winner it was told about.
import { workerData, parentPort, threadId } from 'node:worker_threads';
import { SharedMap, barrierWait } from '../../dist/index.js';

const { handle, keys, words, L, parties } = workerData;
const map = SharedMap.attach(handle);
barrierWait(words, L.barrier, parties, 20_000);
const won = [];
const told = {};
for (let k = 0; k < keys; k++) {
  const prev = map.putIfAbsent(k, threadId);
  if (prev === undefined) won.push(k);
  else told[k] = prev;
}
parentPort.postMessage({ threadId, won, told });

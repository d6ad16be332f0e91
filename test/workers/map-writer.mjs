// Writes a disjoint key range [from, to) for `rounds` rounds, the value of
// key k in round r being k * 10 + r; odd rounds delete each key before setting
// it again (tombstones, growth and rehash while the other writers run).
import { workerData, parentPort } from 'node:worker_threads';
import { SharedMap, barrierWait } from '../../dist/index.js';

const { handle, from, to, rounds, words, L, parties } = workerData;
const map = SharedMap.attach(handle);
barrierWait(words, L.barrier, parties, 20_000);
for (let r = 0; r < rounds; r++) {
  for (let k = from; k < to; k++) {
    if (r % 2 === 1 && !map.delete(k)) throw new Error(`key ${k} missing in round ${r}`);
    map.set(k, k * 10 + r);
  }
}
parentPort.postMessage({ done: true });

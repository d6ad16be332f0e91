// Test worker for test/shm/map-read-cache.test.ts: a loop of gets (or has)
// of one cached key with nothing else in the loop, until the value changes
// (another thread writes it). With `stale`, the read cache's seq check is
// off (the negative control): the loop never sees the write.
import { workerData, parentPort } from 'node:worker_threads';
import { SharedMap } from '../../dist/index.js';
import { setTrustStale } from '../../dist/shm/read-cache.js';
import { signal } from './ctl.mjs';

const { handle, key, method, stale, words, L } = workerData;
if (stale) setTrustStale(true);
const map = SharedMap.attach(handle);
const first = map.get(key); // now cached
signal(words, L.ready, 1);
let spins = 0;
if (method === 'get') {
  while (map.get(key) === first) spins++;
} else {
  while (map.has(key)) spins++;
}
parentPort.postMessage({ seen: true, spins });

// `iters` atomic adds spread over `counters` shared keys: add(i % counters, 1 + i % 3).
import { workerData, parentPort } from 'node:worker_threads';
import { SharedMap, barrierWait } from '../../dist/index.js';

const { handle, counters, iters, words, L, parties } = workerData;
const map = SharedMap.attach(handle);
barrierWait(words, L.barrier, parties, 20_000);
for (let i = 0; i < iters; i++) map.add(i % counters, 1 + (i % 3));
parentPort.postMessage({ done: true });

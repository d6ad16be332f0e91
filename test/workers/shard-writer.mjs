// Sets the given keys (all in one shard) again and again, `rounds` times,
// after every writer has reached the barrier: writers contending for one
// shard lock (test/metrics/lock-waits.test.ts).
import { workerData, parentPort } from 'node:worker_threads';
import { SharedMap, barrierWait } from '../../dist/index.js';

const { handle, keys, rounds, words, L, parties } = workerData;
const map = SharedMap.attach(handle);
barrierWait(words, L.barrier, parties, 20_000);
for (let r = 0; r < rounds; r++) for (const k of keys) map.set(k, r);
parentPort.postMessage({ done: true });

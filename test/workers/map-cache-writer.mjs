// Test worker for test/shm/map-read-cache.test.ts: the writer whose changes a
// caching reader in the main thread must see. Phases (words[L.go] set by the
// test, words[L.done] by this worker):
// 1. overwrites every key with 'v1' .. 'v<rounds>', then deletes keys[0];
// 2. sweeps keys[1] away, then inserts `grow` new keys (every shard grows);
// 3. clears the map.
import { workerData, parentPort } from 'node:worker_threads';
import { SharedMap } from '../../dist/index.js';
import { signal, waitUntil } from './ctl.mjs';

const { handle, keys, rounds, grow, words, L } = workerData;
const map = SharedMap.attach(handle);
signal(words, L.ready, 1);

waitUntil(words, L.go, 1);
for (let r = 1; r <= rounds; r++) for (const k of keys) map.set(k, 'v' + r);
map.delete(keys[0]);
signal(words, L.done, 1);

waitUntil(words, L.go, 2);
map.sweep((_v, k) => k === keys[1]);
for (let i = 0; i < grow; i++) map.set('grown:' + i, 'g');
signal(words, L.done, 2);

waitUntil(words, L.go, 3);
map.clear();
signal(words, L.done, 3);

parentPort.postMessage({ done: true });

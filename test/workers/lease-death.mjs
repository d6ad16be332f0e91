// Test worker for test/shm/map-thread-death-leases.test.ts: takes a lease
// on each key of `acquire` (a key listed twice takes two), says so in
// words[0], then waits (holding them, no lock held) until words[1] is set:
// the test terminates it there, or sets words[1] and it releases `release`
// and posts what it did.
import { workerData, parentPort } from 'node:worker_threads';
import { SharedMap } from '../../dist/index.js';
import { signal, waitUntil } from './ctl.mjs';

const { map: handle, words, acquire, release = [] } = workerData;
const map = SharedMap.attach(handle);
const got = acquire.map((k) => map.acquire(k));
signal(words, 0, 1);
waitUntil(words, 1, 1, 60_000);
for (const k of release) map.release(k);
parentPort.postMessage({ got });

// TTL writer: sets its own keys (k % W === w) with short TTLs for about runMs,
// then gives each of its keys a last write: 1 in 4 with a long TTL (60 s),
// the others a short one. For each write (id = a unique number, also the
// value) it publishes bounds of the expiry the map gives it:
//   lower[id] = clock before set + ttl  (stored before the write starts)
//   upper[id] = clock after set + ttl   (stored after it returns)
// and per key the id of the last write started / completed.
import { workerData, parentPort } from 'node:worker_threads';
import { SharedMap, barrierWait, sharedNow } from '../../dist/index.js';
import { rng } from './ttl-lease-rng.mjs';

const { handle, keys, lower, upper, started, done, words, L, parties, w, W, maxWrites, runMs, seed } = workerData;
const map = SharedMap.attach(handle);
const rand = rng(seed);
const pause = new Int32Array(new SharedArrayBuffer(4));
const mine = [];
for (let k = w; k < keys; k += W) mine.push(k);
let n = 0;

function write(k, ttlMs) {
  const id = w * maxWrites + 1 + n++;
  lower[id] = sharedNow() + ttlMs;
  Atomics.store(started, k, id);
  map.set(k, id, { ttlMs });
  upper[id] = sharedNow() + ttlMs;
  Atomics.store(done, k, id);
}

barrierWait(words, L.barrier, parties, 20_000);
const end = sharedNow() + runMs;
while (n < maxWrites - mine.length && sharedNow() < end) {
  const k = mine[Math.floor(rand() * mine.length)];
  write(k, rand() < 0.5 ? 1 + rand() * 3 : 5 + rand() * 40);
  // Pacing (not for correctness): let entries live out their TTLs during the run.
  if (n % 64 === 0) Atomics.wait(pause, 0, 0, 1);
}
const longKeys = [];
const shortKeys = [];
for (const k of mine) {
  if (rand() < 0.25) {
    write(k, 60_000);
    longKeys.push(k);
  } else {
    write(k, 20);
    shortKeys.push(k);
  }
}
Atomics.add(words, L.writersDone, 1);
Atomics.notify(words, L.writersDone);
parentPort.postMessage({ writes: n, longKeys, shortKeys });

// Makes a known number of operations of every counted kind but clear on a map
// created with `metrics`, `ttl` and `leases`, on keys of its own ranges, then posts what
// it did and, in mode 'exit', ends normally (its counter block is given back);
// in mode 'hold' it waits until words[L.release] turns 1, holding its block
// (the test terminates it and recovers it). `lose`: a broken counter that
// drops one count, so the test can show it would catch a lost count.
import { workerData, parentPort } from 'node:worker_threads';
import { SharedMap, barrierWait } from '../../dist/index.js';

const { handle, from, n, words, L, parties, mode, lose } = workerData;
/** Offset of each worker's second key range (past every worker's first one). */
const FAR = 1_000_000;
const map = SharedMap.attach(handle);
if (lose) {
  const c = map.counters;
  const count = c.count.bind(c);
  let dropped = false;
  c.count = (code, h) => {
    if (!dropped) dropped = true;
    else count(code, h);
  };
}
barrierWait(words, L.barrier, parties, 20_000);
for (let k = from; k < from + n; k++) map.set(k, k); // n inserts
for (let k = from; k < from + n; k++) map.set(k, k + 1); // n overwrites
for (let k = from; k < from + n; k++) map.get(k); // n get hits
for (let k = from; k < from + n; k++) map.get(-1 - k); // n get misses
for (let k = from; k < from + n; k++) map.has(k); // n has hits
for (let k = from; k < from + n; k++) map.add(k, 1); // n adds
for (let k = from; k < from + n; k += 2) map.delete(k); // n/2 delete hits
for (let k = from; k < from + n; k += 2) map.delete(k); // n/2 delete misses
for (let k = from; k < from + n; k++) map.putIfAbsent(k, k); // n putIfAbsent
for (let k = from; k < from + n; k++) map.compareAndSet(k, k, -k); // n compareAndSet
for (let k = from; k < from + n; k++) map.update(k, (v) => (v ?? 0) + 1); // n update
// On keys of its own past every worker's range (FAR + from + i), q = n/4 each of:
const q = n / 4;
const far = (i) => FAR + from + i;
for (let i = 0; i < q; i++) map.set(far(i), 0, { ttlMs: 1 }); // q inserts that expire at once
for (let i = q; i < 2 * q; i++) map.set(far(i), 1); // q inserts the sweep below removes
for (let i = 2 * q; i < 3 * q; i++) {
  map.set(far(i), 2); // q inserts
  map.acquire(far(i)); // q acquires
  map.release(far(i)); // q releases
  map.retire(far(i)); // q retires
}
map.sweep((_v, k) => k >= far(q) && k < far(2 * q)); // 1 sweep, q swept
// 1 expiry sweep; every worker's expired keys are reclaimed by one of these (q per worker in all).
map.sweepExpired(performance.timeOrigin + performance.now() + 60_000);
parentPort.postMessage({ done: true });
if (mode === 'hold') Atomics.wait(words, L.release, 0, 30_000);

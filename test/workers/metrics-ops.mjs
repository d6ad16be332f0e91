// Makes a known number of operations of every counted kind on a map created
// with `metrics`, on keys of its own range [from, from + n), then posts what
// it did and, in mode 'exit', ends normally (its counter block is given back);
// in mode 'hold' it waits until words[L.release] turns 1, holding its block
// (the test terminates it and recovers it). `lose`: a broken counter that
// drops one count, so the test can show it would catch a lost count.
import { workerData, parentPort } from 'node:worker_threads';
import { SharedMap, barrierWait } from '../../dist/index.js';

const { handle, from, n, words, L, parties, mode, lose } = workerData;
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
parentPort.postMessage({ done: true });
if (mode === 'hold') Atomics.wait(words, L.release, 0, 30_000);

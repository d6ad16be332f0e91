// Gets and has the read cache answers, on a map created with `metrics` whose
// gets take the plain path (so a handle keeps a read cache), on keys of its
// own range [from, from + n): inserts them, reads each once (the cache
// notes it), deletes the even ones, and after a barrier (no thread writes
// from then on) reads each key `reads` times with get and then with has.
// Posts whether its handle has a read cache and how many answers the cache
// counted. `lose`: the cache drops the count of its first answer, so the
// test can show it would catch a lost count.
import { workerData, parentPort } from 'node:worker_threads';
import { SharedMap, barrierWait } from '../../dist/index.js';

const { handle, from, n, reads, words, L, parties, lose } = workerData;
const map = SharedMap.attach(handle);
const cache = map.readCache;
if (lose && cache !== null) {
  const hitGet = cache.hitGet.bind(cache);
  let dropped = false;
  cache.hitGet = (entry, key) => {
    if (!dropped) dropped = true;
    else hitGet(entry, key);
  };
}
barrierWait(words, L.barrier, parties, 20_000);
for (let k = from; k < from + n; k++) map.set(k, k); // n inserts
// Barriers around the first reads: a read that overlaps a write goes to the
// lock and is not noted, and a key deleted before the cache noted it never
// gets an entry.
barrierWait(words, L.barrier, parties, 20_000);
for (let k = from; k < from + n; k++) map.get(k); // n get hits (each the key's first read)
barrierWait(words, L.barrier, parties, 20_000);
for (let k = from; k < from + n; k += 2) map.delete(k); // n/2 delete hits
barrierWait(words, L.barrier, parties, 20_000);
// Reads only, in every thread: after each key's first read here, the cache answers.
for (let r = 0; r < reads; r++) for (let k = from; k < from + n; k++) map.get(k); // reads x n/2 hits, n/2 misses
for (let r = 0; r < reads; r++) for (let k = from; k < from + n; k++) map.has(k); // reads x n/2 hits, n/2 misses
parentPort.postMessage({ cached: cache !== null, answered: cache === null ? 0 : cache.answered() });

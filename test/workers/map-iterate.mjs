// Iteration vs. another thread, choreographed through words[L.*]:
//  iterate: take `before` steps of entries(), publish the first key produced,
//           say so (L.iterating = 1), wait for the other thread (L.wrote = 1),
//           then step on to the end; report what was produced and what threw.
//  write:   wait for L.iterating, do one `op` on `key` (or on the iterator's
//           first key when key is 'first'), say so (L.wrote = 1); with
//           skipIterationWrites, as a broken writer that does not bump
//           the map's "writes during forEach" word.
//  read:    the same, but only reads (get, has, snapshot, its own iteration).
import { workerData, parentPort, threadId } from 'node:worker_threads';
import { SharedMap } from '../../dist/index.js';
import { signal, waitUntil, describeError } from './ctl.mjs';

const { role, handle, words, L } = workerData;
const map = SharedMap.attach(handle);

if (role === 'iterate') {
  const { before, method = 'entries' } = workerData;
  const produced = [];
  let error;
  let done = false;
  const pause = () => {
    Atomics.store(words, L.firstKey, produced[0] ?? -1);
    signal(words, L.iterating, 1);
    waitUntil(words, L.wrote, 1);
  };
  if (method === 'forEach') {
    // The pause happens inside the callback, after `before` entries.
    let paused = false;
    try {
      map.forEach((v, k) => {
        produced.push(k);
        if (produced.length === before) {
          paused = true;
          pause();
        }
      });
      done = true;
    } catch (e) {
      error = e;
    }
    if (!paused) pause();
  } else {
    const it =
      method === 'keys'
        ? map.keys()
        : method === 'values'
          ? map.values()
          : method === 'iterator'
            ? map[Symbol.iterator]()
            : map.entries();
    const keyOf = (value) => (method === 'keys' ? value : method === 'values' ? value : value[0]);
    let steps = 0;
    try {
      for (; steps < before; steps++) {
        const r = it.next();
        if (r.done) throw new Error(`done after ${steps} steps, wanted ${before}`);
        produced.push(keyOf(r.value));
      }
    } catch (e) {
      error = e;
    }
    pause();
    if (error === undefined) {
      try {
        for (let guard = 0; guard < 1_000_000; guard++) {
          const r = it.next();
          if (r.done) {
            done = true;
            break;
          }
          produced.push(keyOf(r.value));
        }
      } catch (e) {
        error = e;
      }
    }
  }
  parentPort.postMessage({
    threadId,
    produced,
    done,
    error: describeError(error),
    isIterationError: error?.name === 'ConcurrentMapIterationError',
  });
} else if (role === 'write') {
  const { op } = workerData;
  if (workerData.skipIterationWrites) {
    // A broken writer (the negative control): it does not tell running forEach calls.
    const { setSkipIterationWrites } = await import('../../dist/shm/window.js');
    setSkipIterationWrites(true);
  }
  waitUntil(words, L.iterating, 1);
  const key = workerData.key === 'first' ? Atomics.load(words, L.firstKey) : workerData.key;
  let error;
  try {
    if (op === 'set') map.set(key, 12345);
    else if (op === 'delete') map.delete(key);
    else if (op === 'add') map.add(key, 1);
    else if (op === 'update') map.update(key, (o) => (o ?? 0) + 1);
    else if (op === 'putIfAbsent') map.putIfAbsent(key, 1);
    else if (op === 'clear') map.clear();
    else throw new Error('unknown op ' + op);
  } catch (e) {
    error = e;
  }
  signal(words, L.wrote, 1);
  parentPort.postMessage({ threadId, error: describeError(error) });
} else if (role === 'read') {
  waitUntil(words, L.iterating, 1);
  let error;
  let n = 0;
  try {
    for (let k = 0; k < 200; k++) {
      map.get(k);
      map.has(k);
    }
    n = map.snapshot().length;
    for (const _ of map.entries()) n++;
    map.stats();
  } catch (e) {
    error = e;
  }
  signal(words, L.wrote, 1);
  parentPort.postMessage({ threadId, n, error: describeError(error) });
}

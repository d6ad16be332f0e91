// Calls back into the map from inside update's function (and sweep's
// predicate), through the same handle and through a second handle attached in
// this thread. Each case must throw RecursiveUpdateError; none may deadlock
// (the test terminates this worker after a timeout and fails).
// workerData: { handle, key, otherKey } — key exists in the map; otherKey
// exists too, in whatever shard it hashes to.
import { workerData, parentPort } from 'node:worker_threads';
import { SharedMap } from '../../dist/index.js';
import { describeError } from './ctl.mjs';

const { handle, key, otherKey } = workerData;
const map = SharedMap.attach(handle);
const second = SharedMap.attach(handle);

const calls = {
  'get same key': (m) => m.get(key),
  'has same key': (m) => m.has(key),
  'set same key': (m) => m.set(key, 1),
  'delete same key': (m) => m.delete(key),
  'update same key': (m) => m.update(key, (o) => o),
  'add same key': (m) => m.add(key, 1),
  'putIfAbsent same key': (m) => m.putIfAbsent(key, 1),
  'compareAndSet same key': (m) => m.compareAndSet(key, 0, 1),
  'set other key': (m) => m.set(otherKey, 1),
  'get other key': (m) => m.get(otherKey),
  'delete other key': (m) => m.delete(otherKey),
  clear: (m) => m.clear(),
  iterate: (m) => [...m.keys()],
};

const results = [];
for (const [name, call] of Object.entries(calls)) {
  for (const [via, target] of [
    ['same handle', map],
    ['second handle', second],
  ]) {
    let outer;
    try {
      map.update(key, (old) => {
        call(target);
        return old;
      });
    } catch (e) {
      outer = e;
    }
    results.push({ op: 'update', name, via, error: describeError(outer) });
  }
}
for (const [via, target] of [
  ['same handle', map],
  ['second handle', second],
]) {
  let outer;
  try {
    map.sweep(() => {
      target.set(otherKey, 1);
      return false;
    });
  } catch (e) {
    outer = e;
  }
  results.push({ op: 'sweep', name: 'set other key', via, error: describeError(outer) });
}
parentPort.postMessage(results);

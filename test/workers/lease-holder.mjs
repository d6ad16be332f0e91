// Lease holder: `iters` times, acquires a random key; while holding its lease
// checks that the entry (value = a unique id) was not removed and still holds
// the key's slot; sometimes takes a second, nested lease; then releases.
//   holding[id]: +1 after acquire returns, -1 just before release (so it is 0
//                at any correct removal of id: every holder has let go).
//   removedBy[id]: +1 by whoever removed id (here: a release that returned true).
import { workerData, parentPort } from 'node:worker_threads';
import { SharedMap, barrierWait, LeaseError } from '../../dist/index.js';
import { rng } from './ttl-lease-rng.mjs';

const { handle, keys, holding, removedBy, words, L, parties, iters, seed, h } = workerData;
// Rendezvous words of this holder: [key + 1 (0 = none), id, ack].
const rdv = L.rdv + 3 * h;
const map = SharedMap.attach(handle);
const rand = rng(seed);
const violations = [];
let acquired = 0;
let misses = 0;
let nested = 0;
let lastReleases = 0;
let rendezvous = 0;

function violation(msg) {
  if (violations.length < 20) violations.push(msg);
}

function release(k, id, what) {
  try {
    return map.release(k);
  } catch (e) {
    violation(
      `${what} release(${k}) of id ${id} threw ${e?.name}: ${e?.message}${e instanceof LeaseError ? ' (refcount below zero?)' : ''}`,
    );
    return false;
  }
}

function checkHeld(k, id, when) {
  if (Atomics.load(removedBy, id) !== 0)
    violation(`id ${id} (key ${k}) removed while this holder held a lease (${when})`);
  const n = map.leaseCount(k);
  if (n < 1) violation(`key ${k}: leaseCount ${n} while this holder held a lease on id ${id} (${when})`);
  const g = map.get(k);
  if (g !== undefined && g !== id)
    violation(`key ${k}: get returned id ${g} while this holder held id ${id} (${when})`);
}

barrierWait(words, L.barrier, parties, 20_000);
for (let i = 0; i < iters; i++) {
  const k = Math.floor(rand() * keys);
  const id = map.acquire(k);
  if (id === undefined) {
    misses++;
    continue;
  }
  acquired++;
  Atomics.add(holding, id, 1);
  // "Use" the resource for a while: check the lease a few times.
  for (let j = 1 + Math.floor(rand() * 6); j > 0; j--) checkHeld(k, id, 'after acquire');
  // Every 200th lease: make sure the retirer retires it while it is held (on a
  // loaded machine threads rarely run at the same moment by chance).
  if (acquired % 200 === 0) {
    Atomics.store(words, rdv + 1, id);
    Atomics.store(words, rdv + 2, 0);
    Atomics.store(words, rdv, k + 1);
    const deadline = Date.now() + 20_000;
    while (Atomics.load(words, rdv + 2) === 0) {
      if (Date.now() > deadline) throw new Error('holder: the retirer did not answer a rendezvous within 20 s');
      Atomics.wait(words, rdv + 2, 0, 50);
    }
    rendezvous++;
    checkHeld(k, id, 'after the retirer retired it');
    if (map.get(k) !== undefined) violation(`key ${k}: id ${id} retired at a rendezvous, still readable`);
  }
  if (rand() < 0.2) {
    const again = map.acquire(k);
    if (again !== undefined) {
      nested++;
      if (again !== id) violation(`key ${k}: nested acquire returned id ${again}, holding id ${id}`);
      if (release(k, id, 'nested') !== false)
        violation(`key ${k}: nested release returned true with a lease still held on id ${id}`);
    }
  }
  checkHeld(k, id, 'before release');
  Atomics.sub(holding, id, 1);
  if (release(k, id, 'last')) {
    lastReleases++;
    if (Atomics.add(removedBy, id, 1) !== 0)
      violation(`id ${id} (key ${k}) removed twice (this release returned true)`);
    const h = Atomics.load(holding, id);
    if (h !== 0) violation(`id ${id} (key ${k}) removed by a release while ${h} holder(s) held it`);
  }
}
Atomics.add(words, L.holdersDone, 1);
Atomics.notify(words, L.holdersDone);
parentPort.postMessage({ acquired, misses, nested, lastReleases, rendezvous, violations });

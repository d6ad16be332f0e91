// Lease retirer: the only writer. Until every holder is done (at most maxOps
// steps), picks a random key (preferring one somebody holds a lease on): a
// present one is retired (retire 'removed' = this thread removed the id and
// records it; 'deferred' = the last release will), an absent one gets a new
// entry with a new id (refused with LeaseError while the retired entry is
// still leased: counted, retried later). It also answers holders waiting at a
// rendezvous by retiring the key they hold, which must be 'deferred'.
// cur[k] = the id the key holds now, 0 when retired and not re-inserted.
import { workerData, parentPort } from 'node:worker_threads';
import { SharedMap, barrierWait, LeaseError } from '../../dist/index.js';
import { rng } from './ttl-lease-rng.mjs';

const { handle, keys, holding, removedBy, retired, words, L, parties, holders, maxOps, maxId, seed } = workerData;
const map = SharedMap.attach(handle);
const rand = rng(seed);
const violations = [];
const cur = new Int32Array(keys);
for (let k = 0; k < keys; k++) cur[k] = k + 1;
let nextId = keys + 1;
let ops = 0;
let removedNow = 0;
let deferred = 0;
let rdvDeferred = 0;
let blocked = 0;
let reinserted = 0;

function violation(msg) {
  if (violations.length < 20) violations.push(msg);
}

function retireKey(k) {
  const id = cur[k];
  const r = map.retire(k);
  Atomics.store(retired, id, 1);
  cur[k] = 0;
  if (r === 'removed') {
    removedNow++;
    if (Atomics.add(removedBy, id, 1) !== 0) violation(`id ${id} (key ${k}) removed twice (retire returned 'removed')`);
    const h = Atomics.load(holding, id);
    if (h !== 0) violation(`id ${id} (key ${k}) removed by retire while ${h} holder(s) held it`);
  } else if (r === 'deferred') {
    deferred++;
  } else {
    violation(`retire(${k}) returned ${r} for live id ${id}`);
  }
  return r;
}

/** Answers holders waiting at a rendezvous: retires the key they hold (it must be deferred). */
function answerRendezvous() {
  for (let h = 0; h < holders; h++) {
    const rdv = L.rdv + 3 * h;
    const k1 = Atomics.load(words, rdv);
    if (k1 === 0) continue;
    const k = k1 - 1;
    const id = Atomics.load(words, rdv + 1);
    if (cur[k] === id) {
      const r = retireKey(k);
      if (r !== 'deferred')
        violation(`rendezvous: retire(${k}) of id ${id} returned ${r} while holder ${h} held a lease`);
      else rdvDeferred++;
    }
    Atomics.store(words, rdv, 0);
    Atomics.store(words, rdv + 2, 1);
    Atomics.notify(words, rdv + 2);
  }
}

barrierWait(words, L.barrier, parties, 20_000);
while (Atomics.load(words, L.holdersDone) < holders && ops < maxOps) {
  ops++;
  answerRendezvous();
  let k = Math.floor(rand() * keys);
  // Prefer a live key someone holds a lease on (the case under test), if one of a few picks is.
  for (let j = 0; j < 4 && !(cur[k] !== 0 && map.leaseCount(k) > 0); j++) k = Math.floor(rand() * keys);
  if (cur[k] === 0) {
    if (nextId >= maxId) continue;
    try {
      map.set(k, nextId);
      cur[k] = nextId++;
      reinserted++;
    } catch (e) {
      if (!(e instanceof LeaseError)) throw e;
      blocked++;
      if (map.get(k) !== undefined) violation(`key ${k}: set refused with LeaseError, yet get returns ${map.get(k)}`);
    }
    continue;
  }
  retireKey(k);
}
if (ops >= maxOps) violation(`gave up after ${maxOps} steps with holders still running`);
parentPort.postMessage({
  cur: Array.from(cur),
  nextId,
  ops,
  removedNow,
  deferred,
  rdvDeferred,
  blocked,
  reinserted,
  violations,
});

// TTL reader: reads random keys while the writers run, and checks each read
// against the expiry bounds the writers publish (see ttl-writer.mjs):
//  - a value (write id) read by a get that started after upper[id] is a
//    violation: the entry was readable after its expiry;
//  - when no write of the key started between the last completed one (id0)
//    and the end of the read, and the read ended before lower[id0], the
//    entry was live the whole time: the get must return id0 (and has true);
//  - a snapshot started after upper[id] must not contain id.
// After the writers finish, it waits past every short key's expiry and checks
// each key once more: short keys absent, long keys present with their value.
import { workerData, parentPort } from 'node:worker_threads';
import { SharedMap, barrierWait, sharedNow } from '../../dist/index.js';
import { rng } from './ttl-lease-rng.mjs';

const { handle, keys, lower, upper, started, done, words, L, parties, W, seed } = workerData;
const map = SharedMap.attach(handle);
const rand = rng(seed);
const pause = new Int32Array(new SharedArrayBuffer(4));
const violations = [];
let reads = 0;
let hits = 0;
let expiredMisses = 0;
let checkedAbsences = 0;
let snapshots = 0;

function violation(msg) {
  if (violations.length < 20) violations.push(msg);
}

function readOnce(k, useHas) {
  const id0 = Atomics.load(done, k);
  const rs = sharedNow();
  const v = useHas ? map.has(k) : map.get(k);
  const re = sharedNow();
  const s = Atomics.load(started, k);
  reads++;
  const quiet = id0 !== 0 && s === id0; // the entry was write id0's for the whole read
  if (useHas) {
    if (quiet && v && rs > upper[id0])
      violation(`has(${k}) true at ${rs}, after write ${id0}'s expiry <= ${upper[id0]}`);
    if (quiet && !v && re < lower[id0])
      violation(`has(${k}) false at ${re}, before write ${id0}'s expiry >= ${lower[id0]}`);
    if (quiet && re < lower[id0]) checkedAbsences++;
    return;
  }
  if (v !== undefined) {
    hits++;
    const u = upper[v];
    if (u !== 0 && rs > u) violation(`get(${k}) returned write ${v} at ${rs}, after its expiry <= ${u}`);
    if (quiet && v !== id0) violation(`get(${k}) returned write ${v}, the key held write ${id0}`);
  } else if (quiet) {
    if (re < lower[id0]) violation(`get(${k}) undefined at ${re}, before write ${id0}'s expiry >= ${lower[id0]}`);
    if (rs > upper[id0]) expiredMisses++;
  }
  if (quiet && re < lower[id0]) checkedAbsences++;
}

function snapshotOnce() {
  const rs = sharedNow();
  const snap = map.snapshot();
  snapshots++;
  for (const [k, id] of snap) {
    const u = upper[id];
    if (u !== 0 && rs > u) violation(`snapshot at ${rs} holds key ${k} write ${id}, expired <= ${u}`);
  }
}

barrierWait(words, L.barrier, parties, 20_000);
for (let i = 0; i < 5_000_000 && Atomics.load(words, L.writersDone) < W; i++) {
  if (i % 500 === 499) snapshotOnce();
  else readOnce(Math.floor(rand() * keys), rand() < 0.2);
}
if (Atomics.load(words, L.writersDone) < W) violation('gave up waiting for the writers (5M reads)');

// Final pass: every key's last write is done.
const deadline = Date.now() + 10_000;
for (let k = 0; k < keys; k++) {
  const id = Atomics.load(done, k);
  if (upper[id] - sharedNow() > 30_000) {
    // long TTL: live for the rest of the test
    const v = map.get(k);
    if (v !== id) violation(`long key ${k}: get returned ${v}, want ${id}`);
    continue;
  }
  while (sharedNow() <= upper[id] && Date.now() < deadline) Atomics.wait(pause, 0, 0, 1);
  readOnce(k, false);
  if (map.get(k) !== undefined || map.has(k)) violation(`short key ${k} readable after its expiry`);
}
snapshotOnce();
parentPort.postMessage({ reads, hits, expiredMisses, checkedAbsences, snapshots, violations });

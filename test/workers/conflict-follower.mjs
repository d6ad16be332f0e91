// Follows a map's conflict log with followConflicts and reports what it got.
// It publishes its progress in shared words (delivered count, and the kinds
// seen as bits) so the test can end the run only once records arrived live.
// With `blockUntil`, it falls behind on purpose: right after it starts
// following it blocks its own event loop until words[blockUntil] is set.
import { workerData, parentPort } from 'node:worker_threads';
import { SharedMap, followConflicts } from '../../dist/index.js';
import { signal, waitUntil } from './ctl.mjs';

const { handle, words, L, from, blockUntil } = workerData;
const KINDS = ['concurrent map writes', 'concurrent map read and map write', 'concurrent map iteration and map write'];
const map = SharedMap.attach(handle);
// Records claimed before following (the provokers start only after L.following).
const before = from === 'start' ? { conflicts: 0, conflictsOverflowed: 0 } : map.stats();
const got = [];
const missedCalls = [];
const stop = followConflicts(
  map,
  (record) => {
    got.push(record);
    Atomics.or(words, L.kinds, 1 << KINDS.indexOf(record.kind));
    signal(words, L.delivered, got.length);
  },
  { from, onMissed: (n, total) => missedCalls.push([n, total]) },
);
signal(words, L.following, 1);
if (blockUntil !== undefined) waitUntil(words, blockUntil, 1, 60_000);

/** Waits for words[i] >= value without blocking the event loop (the follower runs meanwhile). */
async function waitAsyncUntil(i, value, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const seen = Atomics.load(words, i);
    if (seen >= value) return;
    if (Date.now() > deadline) throw new Error(`word ${i} still ${seen} < ${value} after ${timeoutMs} ms`);
    const w = Atomics.waitAsync(words, i, seen, deadline - Date.now());
    if (w.async) await w.value;
  }
}

await waitAsyncUntil(L.done, 1, 60_000);
// The run is over: every record is published. Let the follower drain what is left.
// Bounded: a follower that never wakes leaves `got` short and the test says so.
const after = map.stats();
const expected = after.conflicts + after.conflictsOverflowed - (before.conflicts + before.conflictsOverflowed);
const deadline = Date.now() + 20_000;
for (;;) {
  const missed = missedCalls.reduce((sum, [n]) => sum + n, 0);
  if (got.length + missed >= expected || Date.now() > deadline) break;
  await new Promise((resolve) => setTimeout(resolve, 5));
}
const status = stop();
parentPort.postMessage({ got, status, missedCalls, expected });

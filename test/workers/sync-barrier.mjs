// Barrier rounds: before each round's wait, count an arrival for the round;
// after it, every arrival of the round must already be counted (nobody is let
// through early), and exactly one thread per round is told it was last.
import { workerData, parentPort } from 'node:worker_threads';
import { barrierWait } from '../../dist/index.js';

const { words, L, parties, rounds } = workerData;
let early = 0;
let last = 0;
for (let r = 0; r < rounds; r++) {
  Atomics.add(words, L.arrivals + r, 1);
  if (barrierWait(words, L.barrier, parties, 20_000)) {
    last++;
    Atomics.add(words, L.leaders + r, 1);
  }
  if (Atomics.load(words, L.arrivals + r) !== parties) early++;
}
parentPort.postMessage({ early, last });

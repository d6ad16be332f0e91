// Readers against a growing map:
//  grow: insert keys [from, to) (many growths and region moves), then say so.
//  read: until the grower is done, read the stable keys [0, stable) (value =
//        key * 3) and take snapshots; count every wrong answer. Snapshots must
//        never throw and never hold a stable key with a wrong value.
import { workerData, parentPort, threadId } from 'node:worker_threads';
import { SharedMap, barrierWait } from '../../dist/index.js';
import { signal, describeError } from './ctl.mjs';

const { role, handle, stable, from, to, words, L, parties } = workerData;
const map = SharedMap.attach(handle);
barrierWait(words, L.barrier, parties, 20_000);

if (role === 'grow') {
  for (let k = from; k < to; k++) map.set(k, k * 3);
  for (let k = from; k < to; k += 2) map.delete(k);
  signal(words, L.done, 1);
  parentPort.postMessage({ threadId });
} else {
  let reads = 0;
  let wrong = 0;
  let snapshots = 0;
  let error;
  const examples = [];
  try {
    for (let round = 0; (round === 0 || Atomics.load(words, L.done) === 0) && round < 100_000; round++) {
      for (let k = 0; k < stable; k++) {
        const v = map.get(k);
        reads++;
        if (v !== k * 3 || !map.has(k)) {
          wrong++;
          if (examples.length < 5) examples.push({ k, v });
        }
      }
      if (role === 'snapshot' || round % 8 === 0) {
        const snap = map.snapshot();
        snapshots++;
        const seen = new Set();
        for (const [k, v] of snap) {
          if (v !== k * 3 || seen.has(k)) {
            wrong++;
            if (examples.length < 5) examples.push({ snapshot: true, k, v });
          }
          seen.add(k);
        }
        for (let k = 0; k < stable; k++) {
          if (!seen.has(k)) {
            wrong++;
            if (examples.length < 5) examples.push({ snapshotMissing: k });
            break;
          }
        }
      }
    }
  } catch (e) {
    error = e;
  }
  parentPort.postMessage({ threadId, reads, wrong, snapshots, examples, error: describeError(error) });
}

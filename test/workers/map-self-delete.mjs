// Deletes during its own iteration (the current key, and keys ahead of it)
// while the other role reads the map the whole time. Neither may see an error:
// own writes and foreign reads are not conflicts.
//  delete: iterate, delete; report produced and deleted keys.
//  read:   get/has/snapshot in a loop until the deleter is finished.
import { workerData, parentPort, threadId } from 'node:worker_threads';
import { SharedMap, barrierWait } from '../../dist/index.js';
import { signal, describeError } from './ctl.mjs';

const { role, handle, n, words, L } = workerData;
const map = SharedMap.attach(handle);
barrierWait(words, L.barrier, 2, 20_000);

if (role === 'delete') {
  const produced = [];
  const deleted = [];
  const deletedAhead = [];
  const isProduced = new Set();
  let error;
  try {
    for (const [k] of map) {
      produced.push(k);
      isProduced.add(k);
      if (k % 2 === 0 && map.delete(k)) deleted.push(k); // the current entry
      const ahead = (k * 7 + 5) % n; // maybe one not reached yet
      if (!isProduced.has(ahead) && map.delete(ahead)) {
        deleted.push(ahead);
        deletedAhead.push(ahead);
      }
    }
  } catch (e) {
    error = e;
  }
  signal(words, L.done, 1);
  parentPort.postMessage({ threadId, produced, deleted, deletedAhead, error: describeError(error) });
} else {
  let reads = 0;
  let error;
  try {
    while (Atomics.load(words, L.done) === 0 && reads < 50_000_000) {
      map.get(reads % n);
      map.has((reads * 3) % n);
      if (reads % 4096 === 0) map.snapshot();
      reads++;
    }
  } catch (e) {
    error = e;
  }
  parentPort.postMessage({ threadId, reads, error: describeError(error) });
}

// Mutex roles, chosen by workerData.role:
//  count: `iters` increments of a plain (non-atomic) counter under the mutex,
//         checking the lock word names this thread as owner while held.
//  hold:  take the lock, report, wait for the test's go, release.
//  wait:  find the lock taken, then block on it until the holder releases.
import { threadId, workerData, parentPort } from 'node:worker_threads';
import { mutexLock, mutexTryLock, mutexUnlock, mutexOwner, barrierWait } from '../../dist/index.js';
import { signal, waitUntil } from './ctl.mjs';

const { role, words, L } = workerData; // L: word indices
const me = threadId;

if (role === 'count') {
  const { iters, parties } = workerData;
  barrierWait(words, L.barrier, parties, 20_000);
  let waited = 0;
  let wrongOwner = 0;
  for (let i = 0; i < iters; i++) {
    if (!mutexLock(words, L.lock, L.waiters, me)) waited++;
    if (mutexOwner(words, L.lock) !== me) wrongOwner++;
    // A deliberately racy read-modify-write with a little work in between:
    // only mutual exclusion keeps it exact.
    const v = words[L.counter];
    let x = v;
    for (let j = 0; j < 20; j++) x = (x * 31 + j) | 0;
    words[L.scratch] = x;
    words[L.counter] = v + 1;
    mutexUnlock(words, L.lock, L.waiters);
  }
  parentPort.postMessage({ waited, wrongOwner });
} else if (role === 'hold') {
  const took = mutexTryLock(words, L.lock, me);
  const ownerSeen = mutexOwner(words, L.lock);
  signal(words, L.phase, 1); // holding
  waitUntil(words, L.phase, 2); // test says: release
  mutexUnlock(words, L.lock, L.waiters);
  parentPort.postMessage({ took, ownerSeen });
} else if (role === 'wait') {
  waitUntil(words, L.phase, 1); // someone holds it
  const tryWhileHeld = mutexTryLock(words, L.lock, me);
  signal(words, L.waitPhase, 1); // about to block
  const immediate = mutexLock(words, L.lock, L.waiters, me);
  const ownerSeen = mutexOwner(words, L.lock);
  mutexUnlock(words, L.lock, L.waiters);
  parentPort.postMessage({ tryWhileHeld, immediate, ownerSeen });
}

// Semaphore roles:
//  limit: `rounds` times take a permit, count how many threads are inside
//         at once (keeping the maximum), wait a bounded while for others to
//         come in too, leave, give the permit back.
//  block: find no permit free, then block until the test gives one back.
import { workerData, parentPort } from 'node:worker_threads';
import { semaphoreAcquire, semaphoreTryAcquire, semaphoreRelease, barrierWait } from '../../dist/index.js';
import { signal } from './ctl.mjs';

const { role, words, L } = workerData;

if (role === 'limit') {
  const { rounds, permits, parties } = workerData;
  barrierWait(words, L.barrier, parties, 20_000);
  let timeouts = 0;
  for (let r = 0; r < rounds; r++) {
    if (!semaphoreAcquire(words, L.permits, 20_000)) {
      timeouts++;
      continue;
    }
    const inside = Atomics.add(words, L.inside, 1) + 1;
    for (;;) {
      const max = Atomics.load(words, L.maxInside);
      if (inside <= max || Atomics.compareExchange(words, L.maxInside, max, inside) === max) break;
    }
    // Give the other permit holders a chance to be inside at the same time.
    for (let spin = 0; spin < 20_000 && Atomics.load(words, L.inside) < permits; spin++);
    Atomics.add(words, L.entries, 1);
    Atomics.sub(words, L.inside, 1);
    semaphoreRelease(words, L.permits);
  }
  parentPort.postMessage({ timeouts });
} else if (role === 'block') {
  const tryWhenEmpty = semaphoreTryAcquire(words, L.permits);
  signal(words, L.phase, 1); // about to block
  const got = semaphoreAcquire(words, L.permits, 20_000);
  parentPort.postMessage({ tryWhenEmpty, got });
}

// Test worker for test/shm/map-thread-death.test.ts: a writer the test
// terminates while it holds a shard lock (map-death-run.mjs), or, with
// `op: 'wait-set'`, a thread that sets one key (blocked until the lock is
// recovered) and posts what happened.
import { workerData, parentPort } from 'node:worker_threads';
import { SharedMap } from '../../dist/index.js';
import { signal, describeError } from './ctl.mjs';
import { runOps } from './map-death-run.mjs';
import { livenessTestSwitch } from '../../dist/shm/liveness.js';

const d = workerData;
if (d.op === 'wait-set') {
  // By default this waiter leaves the dead holder to the test's own
  // `recover`/`watch` (what those tests check); `selfRecover` lets it find
  // the holder gone and recover it itself (src/shm/liveness.ts).
  if (!d.selfRecover) livenessTestSwitch.mode = 'off';
  const map = SharedMap.attach(d.map);
  signal(d.words, d.W.waiting, 1);
  try {
    // `keys`: sets each (a waiter that grows a shard), and answers with how many are there.
    if (d.keys !== undefined) {
      for (const k of d.keys) map.set(k, d.value);
      parentPort.postMessage({ ok: true, value: d.keys.filter((k) => map.get(k) === d.value).length });
    } else {
      map.set(d.key, d.value);
      parentPort.postMessage({ ok: true, value: map.get(d.key) });
    }
  } catch (e) {
    parentPort.postMessage({ error: describeError(e) });
  }
} else {
  parentPort.postMessage({ done: runOps(d) });
}

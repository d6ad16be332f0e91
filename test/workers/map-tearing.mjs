// Torn-read check. role 'write': overwrites every key with A, then B, then A
// ... until words[L.stop] is set (or maxMs passes). role 'read': reads the
// keys until the writer has finished `rounds` rounds; counts values that are
// neither A nor B (torn), and how often the value changed between reads of
// one key (evidence that reads overlapped writes).
import { workerData, parentPort } from 'node:worker_threads';
import { SharedMap, barrierWait } from '../../dist/index.js';
import { describeError } from './ctl.mjs';

const { role, handle, keys, a, b, rounds, maxMs, words, L, parties } = workerData;
const map = SharedMap.attach(handle);
barrierWait(words, L.barrier, parties, 20_000);
const deadline = Date.now() + maxMs;
let error;
const out = { reads: 0, torn: 0, changes: 0, example: undefined };
try {
  if (role === 'write') {
    for (let r = 0; r < rounds && Atomics.load(words, L.stop) === 0 && Date.now() < deadline; r++) {
      const v = (r & 1) === 0 ? b : a;
      for (let k = 0; k < keys; k++) map.set(k, v);
      Atomics.store(words, L.done, r + 1);
    }
    Atomics.store(words, L.stop, 1);
  } else {
    const last = new Array(keys).fill(a);
    while (Atomics.load(words, L.stop) === 0 && Date.now() < deadline) {
      for (let k = 0; k < keys; k++) {
        const v = map.get(k);
        out.reads++;
        if (v !== a && v !== b) {
          out.torn++;
          out.example ??= v;
        } else if (v !== last[k]) {
          out.changes++;
          last[k] = v;
        }
      }
    }
  }
} catch (e) {
  error = e;
  Atomics.store(words, L.stop, 1);
}
parentPort.postMessage({ ...out, error: describeError(error) });

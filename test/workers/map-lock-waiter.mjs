// Test worker for test/shm/window.test.ts: one set on a shard whose lock the
// test holds, so this thread spins, announces itself (LOCK_WAITERS) and
// parks; `slice` sets its longest single wait (the negative control).
import { workerData, parentPort } from 'node:worker_threads';
import { SharedMap } from '../../dist/index.js';
import { setWaitSliceMs } from '../../dist/shm/window.js';

const { handle, key, slice } = workerData;
if (slice !== undefined) setWaitSliceMs(slice);
const map = SharedMap.attach(handle);
map.set(key, 1.5);
parentPort.postMessage({ done: true });

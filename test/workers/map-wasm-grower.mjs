// Attaches a map that lives in a WebAssembly.Memory and grows it from this
// thread: inserts keys [from, to) with value k, then overwrites each with
// -k (the WebAssembly set). Posts whether its handle took the WebAssembly
// set and the buffer's length it ended with.
import { workerData, parentPort } from 'node:worker_threads';
import { SharedMap } from '../../dist/index.js';

const { handle, from, to } = workerData;
const map = SharedMap.attach(handle);
for (let k = from; k < to; k++) map.set(k, k);
for (let k = from; k < to; k++) map.set(k, -k);
parentPort.postMessage({ wasm: map.wasmSet !== null, bytes: map.stats().bytes });

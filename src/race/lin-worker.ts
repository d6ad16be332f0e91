/**
 * A worker thread of the linearizability checker: checks batches of key
 * histories and answers one verdict per key. It does only that; the search
 * lives in linearizability.ts.
 *
 * Why messages and not shared memory: a batch is sent once and searched for
 * milliseconds to seconds, so one structured-clone copy per batch is small
 * next to the search, and the keys share nothing while they are checked.
 */
import { parentPort } from 'node:worker_threads';
import { checkKeyHistory, type WorkerRequest, type WorkerResponse } from './linearizability.js';

if (parentPort === null) throw new Error('lin-worker.js runs as a worker thread (checkLinearizability starts it)');
const port = parentPort;

port.on('message', (request: WorkerRequest) => {
  const verdicts = request.keys.map((ops) => checkKeyHistory(ops, request.options));
  const response: WorkerResponse = { batch: request.batch, verdicts };
  port.postMessage(response);
});

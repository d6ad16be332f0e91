// Leases: an entry is never removed while a thread holds it. A handler thread
// acquires a connection entry and uses it; the main thread retires the entry
// meanwhile; the last release reports that the entry is gone, so the holder
// closes the resource exactly once.
import { Worker, isMainThread, workerData, parentPort } from 'node:worker_threads';
import { SharedMap } from 'shmap';

if (isMainThread) {
  const connections = SharedMap.create({ key: 'string:16', value: 'json:64', leases: true, capacity: 64 });
  connections.set('db-1', { host: '127.0.0.1', port: 5432 });
  const gate = new Int32Array(new SharedArrayBuffer(4)); // 1 = the handler holds its lease
  const handler = new Worker(new URL(import.meta.url), { workerData: { map: connections.handle, gate } });
  const reply = new Promise((resolve, reject) => {
    handler.once('message', resolve);
    handler.once('error', reject);
  });

  Atomics.wait(gate, 0, 0); // until the handler has acquired
  const retired = connections.retire('db-1'); // leased: removal deferred to the last release
  Atomics.store(gate, 0, 2);
  Atomics.notify(gate, 0);
  const { closedByHandler } = await reply;
  console.log(
    `lease: retire while leased -> ${retired}; the handler's release closed it: ${closedByHandler}; present now: ${connections.has('db-1')}`,
  );
  if (retired !== 'deferred' || !closedByHandler || connections.has('db-1')) process.exitCode = 1;
} else {
  const connections = SharedMap.attach(workerData.map);
  const gate = workerData.gate;
  const conn = connections.acquire('db-1'); // pins the entry
  Atomics.store(gate, 0, 1);
  Atomics.notify(gate, 0);
  Atomics.wait(gate, 0, 1); // "use" the connection until the main thread has retired it
  const stillThere = conn !== undefined;
  const last = connections.release('db-1'); // true: this was the last lease on a retired entry
  parentPort.postMessage({ closedByHandler: stillThere && last });
}

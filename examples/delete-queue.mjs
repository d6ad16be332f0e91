// A delete queue with a drainer thread: handler threads enqueue the keys to
// delete (never blocking, never touching the map's shard locks for it), and
// one drainer (shmap/workers/drainer) applies the deletes, parked on
// Atomics.wait while the queue is empty. queue.close() stops it after a
// last drain.
//
// As a piscina task instead of a plain Worker:
//   const pool = new Piscina({ filename: import.meta.resolve('shmap/workers/drainer'), maxThreads: 1 });
//   const done = pool.run({ queue: queue.handle, map: map.handle }); // resolves to a DrainerResult
import { Worker, isMainThread, workerData } from 'node:worker_threads';
import { DeleteQueue, SharedMap } from 'shmap';

if (isMainThread) {
  const map = SharedMap.create({ key: 'int32', value: 'int32', capacity: 4096 });
  for (let k = 0; k < 2000; k++) map.set(k, k);
  const queue = DeleteQueue.create({ capacity: 256, key: 'int32' });

  /** @type {import('shmap/workers/drainer').DrainerWorkerData} */
  const task = { shmapDrainer: 1, queue: queue.handle, map: map.handle };
  const drainer = new Worker(new URL(import.meta.resolve('shmap/workers/drainer')), { workerData: task });
  /** @type {Promise<import('shmap/workers/drainer').DrainerMessage>} */
  const reply = new Promise((resolve, reject) => {
    drainer.once('message', resolve);
    drainer.once('error', reject);
  });

  // Two handlers each queue the deletion of every other key of their half.
  const handlers = [0, 1].map((h) => new Worker(new URL(import.meta.url), { workerData: { queue: queue.handle, h } }));
  await Promise.all(handlers.map((w) => new Promise((resolve) => w.once('exit', resolve))));
  queue.close();
  const message = await reply;
  if (message.type !== 'drainer-result') throw new Error(`drainer failed: ${message.error.message}`);
  const { drained, removed } = message.result;
  console.log(`delete-queue: the drainer applied ${drained} deletes (${removed} removed); ${map.size} entries left`);
  if (drained !== 1000 || removed !== 1000 || map.size !== 1000) process.exitCode = 1;
} else {
  const queue = DeleteQueue.attach(workerData.queue);
  for (let k = workerData.h * 1000; k < (workerData.h + 1) * 1000; k += 2) queue.enqueueWait(k, 10_000);
}

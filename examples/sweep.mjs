// The range + delete that is safe while other threads write: map.sweep(pred)
// deletes the matches shard by shard, each under its shard's lock.
//
// Two writer threads keep setting session entries; the main thread sweeps
// the stale ones. A `for...of` + `delete` over the same map would throw
// ConcurrentMapIterationError at the writers' first overlap.
import { Worker, isMainThread, workerData } from 'node:worker_threads';
import { SharedMap, sharedNow } from 'shmap';

if (isMainThread) {
  // Values: the time of the last write (ms on the clock all threads share); keys: session ids.
  const sessions = SharedMap.create({ key: 'int32', value: 'float64', capacity: 20_000 });
  for (let id = 0; id < 10_000; id++) sessions.set(id, 0); // all stale
  const writers = [0, 1].map((w) => new Worker(new URL(import.meta.url), { workerData: { map: sessions.handle, w } }));
  const exited = writers.map((worker) => new Promise((resolve) => worker.once('exit', resolve)));

  let removed = 0;
  const started = performance.now();
  while (performance.now() - started < 200) {
    const cutoff = sharedNow() - 50;
    removed += sessions.sweep((lastWrite) => lastWrite < cutoff);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  await Promise.all(exited);
  console.log(
    `sweep: removed ${removed} stale sessions while 2 threads wrote; ${sessions.size} left; conflicts: ${sessions.conflicts().length}`,
  );
  if (removed < 10_000 || sessions.conflicts().length !== 0) process.exitCode = 1;
} else {
  const sessions = SharedMap.attach(workerData.map);
  const started = performance.now();
  for (let i = 0; performance.now() - started < 150; i++)
    sessions.set(10_000 + workerData.w * 1000 + (i % 1000), sharedNow());
}

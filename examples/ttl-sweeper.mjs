// TTL entries and a sweeper thread. An expired entry is absent to every read
// at once; the sweeper (shmap/workers/sweeper) reclaims the slots on its own
// thread, parked on Atomics.wait between sweeps, until asked to stop.
//
// As a piscina task instead of a plain Worker:
//   const pool = new Piscina({ filename: import.meta.resolve('shmap/workers/sweeper'), maxThreads: 1 });
//   const done = pool.run({ map: cache.handle, stop, intervalMs: 20 }); // resolves to a SweeperResult
import { Worker } from 'node:worker_threads';
import { SharedMap, createStopSwitch, requestStop } from 'shmap';

const cache = SharedMap.create({ key: 'string:32', value: 'json:64', ttl: true, capacity: 1000 });
const stop = createStopSwitch();
/** @type {import('shmap/workers/sweeper').SweeperTask & { shmapSweeper: 1 }} */
const task = { shmapSweeper: 1, map: cache.handle, stop, intervalMs: 20 };
const sweeper = new Worker(new URL(import.meta.resolve('shmap/workers/sweeper')), { workerData: task });
/** @type {Promise<import('shmap/workers/sweeper').SweeperMessage>} */
const reply = new Promise((resolve, reject) => {
  sweeper.once('message', resolve);
  sweeper.once('error', reject);
});

for (let i = 0; i < 100; i++) cache.set(`page:${i}`, { html: `<p>${i}</p>` }, { ttlMs: 30 });
cache.set('config', { theme: 'dark' }); // no ttlMs (and no defaultTtlMs): never expires
const absentAfterExpiry = await new Promise((resolve) => setTimeout(() => resolve(!cache.has('page:7')), 100));

requestStop(stop);
const message = await reply;
if (message.type !== 'sweeper-result') throw new Error(`sweeper failed: ${message.error.message}`);
console.log(
  `ttl: page:7 absent after its expiry: ${absentAfterExpiry}; the sweeper ran ${message.result.sweeps} sweeps and reclaimed ${message.result.removed} entries; ${cache.size} left (config: ${JSON.stringify(cache.get('config'))})`,
);
if (!absentAfterExpiry || message.result.removed !== 100 || cache.size !== 1) process.exitCode = 1;

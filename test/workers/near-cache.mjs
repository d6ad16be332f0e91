// A thread using a NearCache. workerData: { dist, handle?, create? }.
// With `create` it creates the cache (and so holds the invalidation connection) and posts its handle;
// else it attaches to `handle`. Then it answers { op: 'get', key } with { value, stats }.
import { parentPort, workerData } from 'node:worker_threads';

const { NearCache } = await import(workerData.dist);
const cache = workerData.create ? await NearCache.create(workerData.create) : await NearCache.attach(workerData.handle);
parentPort.postMessage({ ready: true, handle: cache.handle });
parentPort.on('message', async (msg) => {
  if (msg.op === 'get') {
    try {
      const value = await cache.get(msg.key);
      parentPort.postMessage({ value, stats: cache.stats() });
    } catch (err) {
      parentPort.postMessage({ error: String(err) });
    }
  } else if (msg.op === 'close') {
    await cache.close();
    parentPort.postMessage({ closed: true });
  }
});

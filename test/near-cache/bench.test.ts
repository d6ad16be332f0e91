/**
 * `bench near-cache` measures what it says: every system reads the right
 * values; the near cache holds one copy of each key for all its threads and
 * receives one invalidation per write, where node-redis's clientSideCache
 * holds a copy per thread and receives an invalidation per thread.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { benchNearCache } from '../../src/bench/near-cache.js';
import { distPath } from '../helpers/paths.js';
import { RedisServer, noRedis } from './redis.js';

describe.skipIf(noRedis !== undefined)('bench near-cache', () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await RedisServer.start();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('one shared copy and one invalidation per write, against a copy and an invalidation per thread', async () => {
    const keys = 300;
    const rows = await benchNearCache(server.url, {
      threads: [2],
      keys: [keys],
      rounds: 1,
      roundMs: 50,
      workerFile: distPath('bench/near-cache-worker.js'),
      ownerTimeoutMs: 600_000, // no pause of a loaded machine counts as a thread's death (which flushes)
    });
    const row = (system: string) => rows.find((r) => r.system === system)!;
    expect(rows.map((r) => r.system)).toEqual(['redis', 'client-cache', 'near-cache']);
    for (const r of rows) expect(r.readsPerSec).toBeGreaterThan(0); // each read checked its value in the thread
    expect(row('redis').hitRate).toBe(0);
    expect(row('client-cache').copies).toBe(2 * keys);
    expect(row('near-cache').copies).toBe(keys);
    expect(row('client-cache').invalidationsPerWrite).toBe(2);
    expect(row('near-cache').invalidationsPerWrite).toBe(1);
    expect(row('near-cache').hitRate).toBe(1);
  });
});

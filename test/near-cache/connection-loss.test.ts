/**
 * NearCache when its server goes away and comes back: the cache is flushed
 * and goes down at once (reads go to Redis, which fail with a NearCacheError
 * naming the server while it is away), the invalidation connection comes back
 * with back-off, and invalidations flow again; nothing cached before the loss
 * is served after it. And a thread that held the invalidation connection
 * dies: another thread takes it over, and the cache is flushed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Worker } from 'node:worker_threads';
import { threadId } from 'node:worker_threads';
import { NearCache, type NearCacheHandle } from '../../src/near-cache/near-cache.js';
import { NearCacheError } from '../../src/shm/errors.js';
import { distPath, testPath } from '../helpers/paths.js';
import { RedisServer, cli, noRedis, until } from './redis.js';

describe.skipIf(noRedis !== undefined)('NearCache connection loss and owner death', () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await RedisServer.start();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('server restart: flush, reads fail clearly while away, reconnect, invalidations again, nothing stale', async () => {
    const cache = await NearCache.create<string>({ url: server.url, capacity: 100 });
    try {
      await cli(server.port, 'SET', 'loss:k', 'before');
      expect(await cache.get('loss:k')).toBe('before');
      expect(cache.map.has('loss:k')).toBe(true);
      const port = server.port;
      await server.stop();
      await until('the link is down', () => !cache.stats().live);
      expect(cache.map.size).toBe(0); // flushed: the invalidations from now on are unknown
      await expect(cache.get('loss:k')).rejects.toThrow(NearCacheError);
      await expect(cache.get('loss:k')).rejects.toThrow(`127.0.0.1:${port}`);
      server = await RedisServer.start(port); // a new, empty server on the same port
      await cli(port, 'SET', 'loss:k', 'after');
      await until('the link is up again', () => cache.stats().live);
      await until('the data connection is back', async () => {
        try {
          return (await cache.get('loss:k')) === 'after';
        } catch {
          return false;
        }
      });
      await until(
        'the value is cached again',
        async () => (await cache.get('loss:k')) === 'after' && cache.map.has('loss:k'),
      );
      await cli(port, 'SET', 'loss:k', 'later');
      await until('the invalidation is applied', () => !cache.map.has('loss:k'));
      expect(await cache.get('loss:k')).toBe('later');
      expect(cache.stats().reconnects).toBeGreaterThanOrEqual(1);
    } finally {
      await cache.close();
    }
  });

  it('the thread holding the invalidation connection dies: another takes over and flushes', async () => {
    const worker = new Worker(testPath('workers/near-cache.mjs'), {
      workerData: { dist: distPath('index.js'), create: { url: server.url, capacity: 100, ownerTimeoutMs: 2000 } },
    });
    const { handle } = await new Promise<{ handle: NearCacheHandle }>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    const cache = await NearCache.attach<string>(handle);
    try {
      expect(cache.stats().owner).toBe(worker.threadId);
      await cli(server.port, 'SET', 'owner:k', 'v1');
      expect(await cache.get('owner:k')).toBe('v1');
      expect(cache.map.has('owner:k')).toBe(true);
      const flushes = cache.stats().flushes;
      await worker.terminate();
      await until('this thread holds the link', () => cache.stats().owner === threadId && cache.stats().live);
      expect(cache.stats().takeovers).toBe(1);
      expect(cache.stats().flushes).toBeGreaterThan(flushes);
      expect(cache.map.has('owner:k')).toBe(false);
      expect(await cache.get('owner:k')).toBe('v1');
      await cli(server.port, 'SET', 'owner:k', 'v2');
      await until('the new owner applies the invalidation', () => !cache.map.has('owner:k'));
      expect(await cache.get('owner:k')).toBe('v2');
    } finally {
      await cache.close();
    }
  });
});

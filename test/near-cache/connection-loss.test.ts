/**
 * NearCache when its server goes away and comes back: the cache is flushed
 * and goes down at once (reads go to Redis, which fail with a NearCacheError
 * naming the server while it is away), the invalidation connection comes back
 * with back-off, and invalidations flow again; nothing cached before the loss
 * is served after it. And a thread that held the invalidation connection
 * dies: another thread takes it over, and the cache is flushed — at once
 * when the thread is watched (negative control: unwatched, within
 * ownerTimeoutMs nothing notices and a stale value is served), else once its
 * heartbeat has been silent for ownerTimeoutMs.
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

  /** A worker that creates the cache (so it holds the invalidation connection), and a handle on it here. */
  async function ownerWorker(ownerTimeoutMs: number): Promise<{ worker: Worker; cache: NearCache<string> }> {
    const worker = new Worker(testPath('workers/near-cache.mjs'), {
      workerData: { dist: distPath('index.js'), create: { url: server.url, capacity: 100, ownerTimeoutMs } },
    });
    const { handle } = await new Promise<{ handle: NearCacheHandle }>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    return { worker, cache: await NearCache.attach<string>(handle) };
  }

  /**
   * The owner dies; while nobody holds the invalidation connection, another
   * process writes the key this thread has cached. `watched`: this thread
   * watches the worker, so the 'exit' event hands the link over at once.
   * Otherwise (the negative control) nothing notices within ownerTimeoutMs
   * (10 minutes here, so that no pause of a loaded machine counts as a
   * death), and the value cached before the death is served after the write.
   */
  async function ownerDies(
    key: string,
    watched: boolean,
  ): Promise<{ after: string | undefined; cache: NearCache<string> }> {
    const { worker, cache } = await ownerWorker(600_000);
    if (watched) cache.watch(worker);
    expect(cache.stats().owner).toBe(worker.threadId);
    await cli(server.port, 'SET', key, 'v1');
    expect(await cache.get(key)).toBe('v1');
    expect(cache.map.has(key)).toBe(true);
    await worker.terminate();
    await cli(server.port, 'SET', key, 'v2'); // its invalidation is lost: the link died with its thread
    if (watched) await until('the exit is handled', () => cache.stats().owner === threadId);
    return { after: await cache.get(key), cache };
  }

  it('the owner dies, watched: this thread takes the link over on the exit event and flushes', async () => {
    const { after, cache } = await ownerDies('watched:k', true);
    try {
      expect(after).toBe('v2');
      const s = cache.stats();
      expect(s.takeovers).toBe(1);
      expect(s.threadsLost).toBe(1);
      await until('the link is up again', () => cache.stats().live);
      expect(await cache.get('watched:k')).toBe('v2');
      await cli(server.port, 'SET', 'watched:k', 'v3');
      await until('the new owner applies invalidations', async () => (await cache.get('watched:k')) === 'v3');
    } finally {
      await cache.close();
    }
  });

  it('negative control — the owner dies unwatched: the value cached before the death is served after the write', async () => {
    const { after, cache } = await ownerDies('unwatched:k', false);
    try {
      expect(after).toBe('v1');
      expect(cache.stats().takeovers).toBe(0);
    } finally {
      await cache.close();
    }
  });

  /**
   * No one watches: the owner's heartbeat stops and, after ownerTimeoutMs,
   * another thread takes over and flushes. Only outcomes are checked: on a
   * loaded machine a paused thread may be taken for dead before the test
   * kills it (the link then changes hands twice), but in every order the
   * write made while the owner was dead is read, and later writes reach the
   * new owner.
   */
  it('the owner dies unwatched: its silence hands the link over, and what it missed is not served', async () => {
    const { worker, cache } = await ownerWorker(2000);
    try {
      await cli(server.port, 'SET', 'owner:k', 'v1');
      expect(await cache.get('owner:k')).toBe('v1');
      await worker.terminate();
      await cli(server.port, 'SET', 'owner:k', 'v2');
      await until('this thread holds the link', () => cache.stats().owner === threadId && cache.stats().live);
      expect(cache.stats().takeovers).toBeGreaterThanOrEqual(1);
      await until('the write made while the owner was dead is read', async () => (await cache.get('owner:k')) === 'v2');
      await cli(server.port, 'SET', 'owner:k', 'v3');
      await until('the new owner applies invalidations', async () => (await cache.get('owner:k')) === 'v3');
    } finally {
      await cache.close();
    }
  });
});

/**
 * NearCache against a real redis-server: invalidation from another process
 * reaches every thread at once, the near-cache race is closed (and, with the
 * fetch-version check disabled, leaves a stale entry), bad input changes
 * nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NearCache } from '../../src/near-cache/near-cache.js';
import { InvalidOptionError, KeyTooLongError, NearCacheError, ShmapTypeError } from '../../src/shm/errors.js';
import { CacheThread } from './cache-thread.js';
import { RedisServer, cli, noRedis, until } from './redis.js';

describe.skipIf(noRedis !== undefined)('NearCache on one redis-server', () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await RedisServer.start();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('rejects bad options naming the option, and bad keys and values without touching Redis or the map', async () => {
    const url = server.url;
    await expect(NearCache.create({ url: 'localhost:6379', capacity: 10 })).rejects.toThrow(/options\.url/);
    await expect(NearCache.create({ url, capacity: 10, key: 'int32' as never })).rejects.toThrow(/options\.key/);
    await expect(NearCache.create({ url, capacity: 10, value: 'bytes:8' })).rejects.toThrow(/options\.value/);
    await expect(NearCache.create({ url, capacity: 10, prefixes: ['a:'], mode: 'default' })).rejects.toThrow(
      /options\.prefixes/,
    );
    await expect(NearCache.create({ url, capacity: 10, ttlMs: -1 })).rejects.toThrow(InvalidOptionError);
    await expect(NearCache.create({ url } as never)).rejects.toThrow(/options\.capacity/);
    await expect(NearCache.attach({} as never)).rejects.toThrow(/NearCache\.attach/);

    const cache = await NearCache.create<number>({ url, capacity: 10, key: 'string:8', value: 'float64' });
    try {
      await cli(server.port, 'SET', 'bad:n', '1');
      await cache.get('bad:n');
      const before = cache.map.size;
      await expect(cache.get('x'.repeat(9))).rejects.toThrow(KeyTooLongError);
      await expect(cache.set('bad:n', 'text' as never)).rejects.toThrow(ShmapTypeError);
      expect(await cli(server.port, 'GET', 'bad:n')).toBe('1');
      expect(cache.map.size).toBe(before);
      await cli(server.port, 'SET', 'bad:t', 'not a number');
      await expect(cache.get('bad:t')).rejects.toThrow(NearCacheError);
      expect(cache.map.has('bad:t')).toBe(false);
    } finally {
      await cache.close();
    }
    await expect(cache.get('bad:n')).rejects.toThrow(/closed/);
    await expect(NearCache.create({ url: 'redis://127.0.0.1:1', capacity: 10 })).rejects.toThrow(NearCacheError);
  });

  for (const mode of ['default', 'bcast'] as const) {
    it(`${mode}: a write from another process drops the key for every thread at once`, async () => {
      const cache = await NearCache.create<string>({ url: server.url, capacity: 100, mode });
      const threads = [0, 1, 2].map(() => new CacheThread({ handle: cache.handle }));
      try {
        await Promise.all(threads.map((t) => t.ready));
        const key = `every:${mode}`;
        await cli(server.port, 'SET', key, 'old');
        expect(await cache.get(key)).toBe('old');
        for (const t of threads) {
          const r = await t.ask({ op: 'get', key });
          expect(r.value).toBe('old');
          expect(r.stats!.hits).toBe(1); // the main thread's fetch serves every thread
        }
        await cli(server.port, 'SET', key, 'new');
        await until('the invalidation is applied', () => !cache.map.has(key));
        // One invalidation, applied once, dropped the key for all: each thread's next read is the new value.
        for (const t of threads) expect((await t.ask({ op: 'get', key })).value).toBe('new');
        expect(await cache.get(key)).toBe('new');
        expect(cache.stats().invalidations).toBeGreaterThanOrEqual(1);
      } finally {
        await Promise.all(threads.map((t) => t.worker.terminate()));
        await cache.close();
      }
    });
  }

  /**
   * The near-cache race, forced: the fetch's GET has returned 'old'; before
   * it installs, another process writes 'new' and the invalidation is
   * applied (to a map that does not hold the key yet). With the check, the
   * install declines; without it (the negative control), 'old' stays cached
   * and is served after the invalidation, and no later invalidation comes.
   */
  async function forcedRace(mode: 'default' | 'bcast', check: boolean): Promise<unknown[]> {
    const cache = await NearCache.create<string>({ url: server.url, capacity: 100, mode });
    const key = `race:${mode}:${check}`;
    try {
      cache.testHooks.unsafeSkipFetchCheck = !check;
      await cli(server.port, 'SET', key, 'old');
      cache.testHooks.afterFetch = async () => {
        cache.testHooks.afterFetch = undefined;
        const before = cache.stats().invalidations;
        await cli(server.port, 'SET', key, 'new');
        await until('the invalidation is applied', () => cache.stats().invalidations > before);
      };
      const first = await cache.get(key); // fetched before the write: 'old' is a right answer for it
      await new Promise((r) => setTimeout(r, 200)); // room for any further invalidation to arrive
      const later = [await cache.get(key), await cache.get(key)];
      return [first, ...later, cache.stats().declined];
    } finally {
      await cache.close();
    }
  }

  for (const mode of ['default', 'bcast'] as const) {
    it(`${mode}: a fetch overtaken by an invalidation does not install (fetch version)`, async () => {
      const [first, second, third, declined] = await forcedRace(mode, true);
      expect(first).toBe('old');
      expect([second, third]).toEqual(['new', 'new']);
      expect(declined).toBe(1);
    });

    it(`${mode}: negative control — without the check the overtaken fetch installs a stale entry that stays`, async () => {
      const [first, second, third] = await forcedRace(mode, false);
      expect(first).toBe('old');
      expect([second, third]).toEqual(['old', 'old']);
    });
  }
});

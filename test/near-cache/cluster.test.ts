/**
 * NearCache on a Redis Cluster on loopback (three masters, one
 * redis-server each): data through node-redis's cluster client, one
 * invalidation connection per master. Keys on three different masters: a
 * write from another process reaches every thread; the slot map changing
 * flushes, and invalidations flow again after; default mode is refused.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NearCache } from '../../src/near-cache/near-cache.js';
import { NearCacheError } from '../../src/shm/errors.js';
import { CacheThread } from './cache-thread.js';
import { LoopbackCluster, cli, noRedis, until } from './redis.js';

describe.skipIf(noRedis !== undefined)('NearCache on a Redis Cluster (three masters on loopback)', () => {
  let cluster: LoopbackCluster;
  /** One key per master: keys[i] lives on a different master than keys[j]. */
  let keys: string[];
  beforeAll(async () => {
    cluster = await LoopbackCluster.start();
    const byOwner = new Map<number, string>();
    for (let i = 0; byOwner.size < 3 && i < 1000; i++) {
      const key = `c:${i}`;
      const owner = await cluster.ownerOf(await cluster.slotOf(key));
      if (!byOwner.has(owner)) byOwner.set(owner, key);
    }
    keys = [...byOwner.values()];
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it('keys on three masters: a write from another process drops each for every thread', async () => {
    expect(keys).toHaveLength(3); // three masters, three slots
    const cache = await NearCache.create<string>({ url: cluster.url, capacity: 100, prefixes: ['c:'] });
    const threads = [0, 1].map(() => new CacheThread({ handle: cache.handle }));
    try {
      await Promise.all(threads.map((t) => t.ready));
      for (const key of keys) await cluster.set(key, `old ${key}`);
      for (const key of keys) expect(await cache.get(key)).toBe(`old ${key}`);
      for (const t of threads) {
        for (const key of keys) expect((await t.ask({ op: 'get', key })).value).toBe(`old ${key}`);
        expect((await t.ask({ op: 'get', key: keys[0] })).stats!.hits).toBe(4); // served by the main thread's fetches
      }
      const before = cache.stats().invalidations;
      for (const key of keys) await cluster.set(key, `new ${key}`);
      await until('each master’s invalidation is applied', () => keys.every((k) => !cache.map.has(k)));
      expect(cache.stats().invalidations - before).toBeGreaterThanOrEqual(3);
      for (const t of threads)
        for (const key of keys) expect((await t.ask({ op: 'get', key })).value).toBe(`new ${key}`);
      // Writes through the cache route by slot too, and drop the near copy.
      await cache.set(keys[1]!, 'through');
      expect(cache.map.has(keys[1]!)).toBe(false);
      expect(await threads[0]!.ask({ op: 'get', key: keys[1] })).toMatchObject({ value: 'through' });
      expect(cache.stats()).toMatchObject({ live: true, flushes: 0, reconnects: 0 });
    } finally {
      await Promise.all(threads.map((t) => t.worker.terminate()));
      await cache.close();
    }
  });

  it('negative control — with a connection to one master only, writes to the others leave stale entries', async () => {
    const cache = await NearCache.create<string>({ url: cluster.url, capacity: 100, prefixes: ['c:'] });
    try {
      // The link reconnects with the hook set once its connection to the configured node is killed.
      cache.testHooks.unsafeOneMaster = true;
      await cli(cluster.nodes[0]!.port, 'CLIENT', 'KILL', 'TYPE', 'pubsub');
      await until('the link is back, to one master', () => cache.stats().reconnects >= 1 && cache.stats().live);
      const onFirst: string[] = [];
      for (const key of keys)
        if ((await cluster.ownerOf(await cluster.slotOf(key))) === cluster.nodes[0]!.port) onFirst.push(key);
      expect(onFirst).toHaveLength(1);
      for (const key of keys) await cluster.set(key, `old ${key}`);
      for (const key of keys) expect(await cache.get(key)).toBe(`old ${key}`);
      for (const key of keys) await cluster.set(key, `new ${key}`);
      await until('the configured master’s invalidation is applied', () => !cache.map.has(onFirst[0]!));
      await new Promise((r) => setTimeout(r, 300)); // room for any other invalidation to arrive
      const stale = keys.filter((k) => k !== onFirst[0]);
      for (const key of stale) expect(await cache.get(key)).toBe(`old ${key}`);
    } finally {
      await cache.close();
    }
  });

  it('the slot map changing flushes; the connections follow the new map and invalidations flow again', async () => {
    const cache = await NearCache.create<string>({ url: cluster.url, capacity: 100, mode: 'bcast', prefixes: ['c:'] });
    try {
      const key = keys[2]!;
      await cluster.set(key, 'before');
      expect(await cache.get(key)).toBe('before');
      expect(cache.map.has(key)).toBe(true);
      // Take a slot no test key uses away from its master, on every node, then give it back.
      const used = new Set(await Promise.all(keys.map((k) => cluster.slotOf(k))));
      const slot = [100, 200, 300].find((s) => !used.has(s))!;
      const owner = await cluster.ownerOf(slot);
      for (const n of cluster.nodes) await cli(n.port, 'CLUSTER', 'DELSLOTS', String(slot));
      await until('the slot map change is seen and flushes', () => cache.stats().topologyChanges >= 1);
      expect(cache.map.has(key)).toBe(false);
      expect(cache.stats().flushes).toBeGreaterThanOrEqual(1);
      await cli(owner, 'CLUSTER', 'ADDSLOTS', String(slot));
      await until('every node to see the slot served again', async () => {
        for (const n of cluster.nodes) if (!/cluster_state:ok/.test(await cli(n.port, 'CLUSTER', 'INFO'))) return false;
        return (await cluster.ownerOf(slot)) === owner;
      });
      await until('the invalidation connections are up again', () => cache.stats().live);
      // Invalidations flow again: a fresh entry is dropped by the next write from another process.
      await until('the key is cached again', async () => (await cache.get(key)) === 'before' && cache.map.has(key));
      await cluster.set(key, 'after');
      await until('the invalidation is applied', () => !cache.map.has(key));
      expect(await cache.get(key)).toBe('after');
    } finally {
      await cache.close();
    }
  });

  it("refuses mode 'default' with a one-line error naming the server, and leaves nothing behind", async () => {
    const port = cluster.nodes[1]!.port;
    const clients = async (): Promise<string> =>
      /^connected_clients:(\d+)/m.exec(await cli(port, 'INFO', 'clients'))![1]!;
    const before = await clients();
    const err = await NearCache.create({ url: cluster.nodes[1]!.url, capacity: 10 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NearCacheError);
    expect((err as Error).message).toMatch(/is a Redis Cluster node, which needs mode 'bcast'/);
    expect((err as Error).message).toContain(cluster.nodes[1]!.url);
    expect((err as Error).message).not.toContain('\n');
    await until('the refused cache closed its connection', async () => (await clients()) === before);
  });
});

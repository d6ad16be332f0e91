/**
 * `serve` as a user runs it: a child process on an ephemeral port answers
 * every endpoint, refuses each bad request with the right status and leaves
 * the map unchanged, and on SIGTERM finishes, stops every thread and exits 0.
 * Dispatch mode runs on every Node; reuseport mode needs Node >= 22.12 on
 * Linux (skipped with the reason elsewhere).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { spawnServe, type ServeChild } from '../../src/serve/child.js';
import { reusePortAvailable } from '../../src/serve/options.js';
import { RedisServer, redisUnavailable } from '../../src/bench/redis.js';
import { distPath } from '../helpers/paths.js';
import { startReceiver } from '../metrics/receiver.js';

distPath('main.js');

let running: ServeChild | undefined;
afterEach(async () => {
  await running?.stop().catch(() => undefined);
  running = undefined;
});

/**
 * Starts `shmap serve` on an ephemeral port with two handler threads, plus
 * `extra` options, and keeps it for afterEach to stop. Sessions stay fresh
 * for ten minutes unless `extra` says otherwise: a slow machine must not see
 * a session swept between two requests of one test.
 */
async function serve(mode: string, ...extra: string[]): Promise<ServeChild> {
  running = await spawnServe(['--port', '0', '--threads', '2', '--mode', mode, '--stale-ms', '600000', ...extra]);
  return running;
}

async function call(base: string, method: string, path: string, body?: string) {
  const res = await fetch(base + path, { method, ...(body === undefined ? {} : { body }) });
  const text = await res.text();
  return { status: res.status, type: res.headers.get('content-type') ?? '', text };
}

async function mapCount(base: string): Promise<number> {
  const r = await call(base, 'GET', '/stats');
  return (JSON.parse(r.text) as { map: { count: number } }).map.count;
}

const modes = [
  { mode: 'dispatch', available: true, reason: '' },
  {
    mode: 'reuseport',
    available: reusePortAvailable(),
    reason: `reusePort needs Linux and Node >= 22.12; this is ${process.platform}, Node ${process.versions.node}`,
  },
] as const;

describe.each(modes)('serve --mode $mode', ({ mode, available, reason }) => {
  it.skipIf(!available)(
    `answers every endpoint, refuses bad requests without changing the map, stops on SIGTERM${available ? '' : ` (skipped: ${reason})`}`,
    async () => {
      const child = await serve(mode, '--id-bytes', '16', '--value-bytes', '64');
      const base = child.url;
      expect(child.modeLine).toContain(`mode ${mode}`);

      // Every endpoint.
      const put = await call(base, 'PUT', '/sessions/alice', '{"user":7}');
      expect(put.status).toBe(200);
      expect(put.type).toContain('application/json');
      const stored = JSON.parse(put.text) as { data: unknown; seen: number; hits: number };
      expect(stored.data).toEqual({ user: 7 });
      expect(stored.hits).toBe(0);
      expect((await call(base, 'GET', '/sessions/alice')).text).toBe(put.text);
      const touched = await call(base, 'POST', '/sessions/alice/touch');
      expect(touched.status).toBe(200);
      expect(JSON.parse(touched.text)).toMatchObject({ data: { user: 7 }, hits: 1 });
      expect((await call(base, 'GET', '/sessions/alice')).text).toBe(touched.text);
      expect((await call(base, 'PUT', '/sessions/bob', '[1,2]')).status).toBe(200);
      expect(await call(base, 'DELETE', '/sessions/bob')).toMatchObject({ status: 200, text: '{"deleted":true}' });
      expect(await call(base, 'DELETE', '/sessions/bob')).toMatchObject({ status: 200, text: '{"deleted":false}' });
      expect((await call(base, 'GET', '/sessions/bob')).status).toBe(404);
      expect((await call(base, 'POST', '/sessions/bob/touch')).status).toBe(404);
      const stats = await call(base, 'GET', '/stats');
      expect(stats.status).toBe(200);
      expect(JSON.parse(stats.text)).toMatchObject({ mode, store: 'shmap', map: { count: 1, conflicts: 0 } });
      const conflicts = await call(base, 'GET', '/conflicts');
      expect(conflicts).toMatchObject({ status: 200, text: 'no conflicts recorded\n' });
      const metrics = await call(base, 'GET', '/metrics');
      expect(metrics.status).toBe(200);
      expect(metrics.type).toContain('text/plain');
      expect(metrics.text).toMatch(/^# TYPE shmap_entries gauge$/m);
      expect(metrics.text).toMatch(/^shmap_entries\{[^}]*map="sessions"[^}]*\} 1$/m);
      expect(metrics.text).toMatch(/^shmap_serve_requests_total\{[^}]*\} [1-9]\d*$/m);

      // Bad requests: each gets its status and a JSON error, and changes nothing.
      const bad: Array<[string, string, string | undefined, number]> = [
        ['PUT', '/sessions/alice', '{"user":', 400],
        ['PUT', '/sessions/alice', '', 400],
        ['PUT', '/sessions/carol', 'not json', 400],
        ['PUT', '/sessions/' + 'x'.repeat(17), '{}', 400],
        ['GET', '/sessions/' + 'x'.repeat(17), undefined, 400],
        ['POST', '/sessions/' + 'é'.repeat(9) + '/touch', undefined, 400],
        ['PUT', '/sessions/%E0%A4%A', '{}', 400],
        ['PUT', '/sessions/alice', JSON.stringify({ pad: 'y'.repeat(100) }), 413],
        ['PUT', '/sessions/dave', 'z'.repeat(100_000), 413],
        ['GET', '/nothing/here', undefined, 404],
        ['GET', '/sessions', undefined, 404],
        ['POST', '/sessions/alice', '{}', 405],
      ];
      for (const [method, path, body, status] of bad) {
        const r = await call(base, method, path, body);
        expect(r.status, `${method} ${path.slice(0, 40)}`).toBe(status);
        expect(JSON.parse(r.text)).toHaveProperty('error');
      }
      expect(await mapCount(base)).toBe(1);
      expect((await call(base, 'GET', '/sessions/alice')).text).toBe(touched.text);
      expect((await call(base, 'GET', '/sessions/carol')).status).toBe(404);

      // SIGTERM: exit 0, every thread ended by itself.
      const stopped = await child.stop();
      running = undefined;
      expect(stopped.code).toBe(0);
      expect(stopped.summary?.forced).toBe(0);
      expect(stopped.summary?.stats.server.requests).toBeGreaterThan(20);
    },
  );
});

describe('serve arguments', () => {
  it('refuses bad options with exit 2, naming the option', async () => {
    for (const [args, name] of [
      [['--cleanup', 'bogus'], '--cleanup'],
      [['--threads', '0'], '--threads'],
      [['--sync', 'none', '--cleanup', 'sweep'], '--sync'],
      [['--store', 'redis'], '--redis-url'],
    ] as const) {
      await expect(spawnServe([...args, '--port', '0'], { startTimeoutMs: 20_000 })).rejects.toThrow(
        new RegExp(`code 2[\\s\\S]*${name}`),
      );
    }
    if (!reusePortAvailable()) {
      await expect(spawnServe(['--mode', 'reuseport', '--port', '0'])).rejects.toThrow(/code 2[\s\S]*--mode reuseport/);
    }
  });
});

describe('serve --mode dispatch --store redis', () => {
  const noRedis = redisUnavailable();
  it.skipIf(noRedis !== undefined)(
    `pool threads open their Redis clients before the server listens, and answer${noRedis === undefined ? '' : ` (skipped: ${noRedis})`}`,
    async () => {
      // An idle pool thread must keep its event loop running (its client connects and replies asynchronously).
      const redis = await RedisServer.start();
      try {
        const child = await serve('dispatch', '--store', 'redis', '--redis-url', redis.url);
        const base = child.url;
        expect((await call(base, 'PUT', '/sessions/a', '{"user":1}')).status).toBe(200);
        for (let i = 0; i < 4; i++)
          expect(JSON.parse((await call(base, 'GET', '/sessions/a')).text)).toMatchObject({ data: { user: 1 } });
        expect(JSON.parse((await call(base, 'POST', '/sessions/a/touch')).text)).toMatchObject({ hits: 1 });
        const stopped = await child.stop();
        running = undefined;
        expect(stopped.code).toBe(0);
      } finally {
        await redis.stop();
      }
    },
  );
});

describe('serve --alert-url', () => {
  it('POSTs an alert for the conflicts the map records (range-delete with sync none), to a loopback receiver', async () => {
    const receiver = await startReceiver();
    try {
      const child = await serve(
        'dispatch',
        '--cleanup',
        'range-delete',
        '--sync',
        'none',
        '--range-every',
        '1',
        '--alert-url',
        receiver.url,
      );
      const base = child.url;
      // Every request ranges over the map while others write: a conflict needs the right preemption, so keep
      // going (bounded) until the map has recorded one.
      let conflicts = 0;
      for (let round = 0; round < 40 && conflicts === 0; round++) {
        await Promise.all(
          Array.from({ length: 40 }, (_, i) => call(base, 'PUT', `/sessions/s${(round * 40 + i) % 200}`, `{"i":${i}}`)),
        );
        conflicts = (JSON.parse((await call(base, 'GET', '/stats')).text) as { map: { conflicts: number } }).map
          .conflicts;
      }
      expect(conflicts).toBeGreaterThan(0);
      const stopped = await child.stop();
      running = undefined;
      expect(stopped.code).toBe(0);
      // Stopping flushes the alerts: the first of the first kind was sent, naming the map.
      expect(receiver.accepted.length).toBeGreaterThan(0);
      expect(receiver.accepted[0]).toMatchObject({ source: 'shmap', map: 'sessions', first: true, count: 1 });
    } finally {
      await receiver.close();
    }
  }, 120_000);

  it('refuses a URL that is not http(s), naming the option', async () => {
    await expect(spawnServe(['--port', '0', '--alert-url', 'ftp://x'])).rejects.toThrow(
      /--alert-url must be an http\(s\) URL/,
    );
  });
});

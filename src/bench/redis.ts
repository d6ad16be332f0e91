/**
 * Redis on loopback through the `redis` client (v5), one connection per
 * worker: unpipelined (await each command) and pipelined 64 (64 commands
 * issued in one tick, which the client writes as one pipeline; latency is
 * per batch).
 *
 * `bench` starts its own `redis-server` on a free 127.0.0.1 port with
 * persistence off (`--save '' --appendonly no`) the first time a redis row
 * runs, and stops it by pid at the end. Where `redis-server` is not installed
 * these rows are skipped with one line saying how to include them.
 *
 * Keys and values travel as strings, as they do in Redis; a float64 value is
 * read back with `Number()`, so a get returns what was set.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { createClient } from 'redis';
import {
  GET,
  SET,
  type AsyncSession,
  type Driver,
  type Key,
  type OpStream,
  type Value,
  type WorkloadName,
} from './driver.js';

type Client = ReturnType<typeof createClient>;

interface RedisData {
  readonly url: string;
}

/** Why redis rows cannot run here, or undefined. */
export function redisUnavailable(): string | undefined {
  const r = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  if (r.error !== undefined || r.status !== 0) {
    return 'redis: redis-server is not installed, skipping the redis rows (include them: apt-get install redis-server)';
  }
  return undefined;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** A redis-server this process started; stopped by its pid. */
export class RedisServer {
  private constructor(
    private readonly child: ChildProcess,
    readonly url: string,
  ) {}

  /** Starts a server on `port` (default: a free one); `args` are extra redis-server arguments (e.g. cluster mode). */
  static async start(port?: number, args: string[] = []): Promise<RedisServer> {
    port ??= await freePort();
    const child = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...args],
      {
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    const server = new RedisServer(child, `redis://127.0.0.1:${port}`);
    const deadline = Date.now() + 10_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`redis-server exited with code ${child.exitCode}`);
      const client = createClient({ url: server.url, socket: { reconnectStrategy: false } });
      client.on('error', () => {});
      try {
        await client.connect();
        await client.ping();
        await client.close();
        return server;
      } catch {
        if (Date.now() > deadline) {
          await server.stop();
          throw new Error(`redis-server did not accept connections on port ${port} within 10 s`);
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get port(): number {
    return Number(new URL(this.url).port);
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.pid === undefined) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    process.kill(this.child.pid, 'SIGTERM');
    await exited;
  }
}

let server: RedisServer | undefined;
let stopOnExit: (() => void) | undefined;

async function ensureServer(): Promise<RedisServer> {
  if (server === undefined) {
    server = await RedisServer.start();
    const pid = server.pid;
    // If the bench dies before shutdown(), do not leave the server behind.
    stopOnExit = () => {
      if (pid !== undefined) {
        try {
          process.kill(pid, 'SIGTERM');
        } catch {
          /* already gone */
        }
      }
    };
    process.once('exit', stopOnExit);
  }
  return server;
}

export async function connect(url: string): Promise<Client> {
  const client = createClient({ url });
  client.on('error', (err: unknown) => {
    process.stderr.write(`redis client: ${String(err)}\n`);
  });
  await client.connect();
  return client;
}

function decode(workload: WorkloadName, s: string | null): Value | undefined {
  if (s === null) return undefined;
  return workload === 'int32' ? Number(s) : s;
}

/** One worker's connection. */
export class RedisSession implements AsyncSession {
  readonly kind = 'async';
  constructor(
    private readonly client: Client,
    readonly batch: number,
    private readonly workload: WorkloadName,
  ) {}

  private one(ops: OpStream, i: number): Promise<unknown> {
    const key = String(ops.keys[ops.keyIdx[i]!]!);
    const kind = ops.kinds[i];
    if (kind === GET) return this.client.get(key);
    if (kind === SET) return this.client.set(key, String(ops.values[ops.valIdx[i]!]!));
    return this.client.del(key);
  }

  async run(ops: OpStream, from: number, to: number): Promise<number> {
    let hits = 0;
    if (to - from === 1) {
      const r = await this.one(ops, from);
      if (ops.kinds[from] === GET && r !== null) hits++;
      return hits;
    }
    // Issued in one tick: the client sends them as one pipeline.
    const pending = new Array<Promise<unknown>>(to - from);
    for (let i = from; i < to; i++) pending[i - from] = this.one(ops, i);
    const results = await Promise.all(pending);
    for (let i = from; i < to; i++) if (ops.kinds[i] === GET && results[i - from] !== null) hits++;
    return hits;
  }

  async get(key: Key): Promise<Value | undefined> {
    return decode(this.workload, await this.client.get(String(key)));
  }
  async set(key: Key, value: Value): Promise<void> {
    await this.client.set(String(key), String(value));
  }
  async delete(key: Key): Promise<void> {
    await this.client.del(String(key));
  }
  async close(): Promise<void> {
    await this.client.close();
  }
}

/** Preload chunk: SETs in flight at once from the main thread. */
const PRELOAD_CHUNK = 1000;

function driver(name: string, batch: number, summary: string): Driver {
  return {
    name,
    summary,
    where: 'workers',
    readOnly: false,
    batch,
    unavailable: redisUnavailable,
    async prepare(input) {
      const srv = await ensureServer();
      const client = await connect(srv.url);
      await client.flushAll();
      const { keys, values, preload } = input;
      for (let i = 0; i < preload; i += PRELOAD_CHUNK) {
        const pending: Array<Promise<unknown>> = [];
        for (let j = i; j < Math.min(preload, i + PRELOAD_CHUNK); j++) {
          pending.push(client.set(String(keys[j]!), String(values[j % values.length]!)));
        }
        await Promise.all(pending);
      }
      await client.close();
      const data: RedisData = { url: srv.url };
      return { forWorker: () => ({ data }), close: async () => {} };
    },
    async open(raw, workload) {
      return new RedisSession(await connect((raw as RedisData).url), batch, workload);
    },
    async shutdown() {
      if (server !== undefined) {
        await server.stop();
        server = undefined;
        if (stopOnExit !== undefined) process.removeListener('exit', stopOnExit);
      }
    },
  };
}

export const drivers: Driver[] = [
  driver('redis', 1, 'Redis on loopback (redis client v5), one connection per worker, one command at a time'),
  driver('redis-p64', 64, 'the same, pipelined 64 commands (latency is per batch)'),
];

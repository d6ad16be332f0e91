/**
 * Test helpers for the near cache: a real redis-server per suite (skipped
 * with one line where it is not installed), a three-master Redis Cluster on
 * loopback, another process writing to them (redis-cli), and a poll with a
 * deadline.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { RedisServer, redisUnavailable } from '../../src/bench/redis.js';
import { until as pollUntil } from '../helpers/until.js';

export { RedisServer };

/** Why the Redis tests cannot run here (printed once), or undefined. */
export const noRedis: string | undefined = redisUnavailable();
if (noRedis !== undefined) console.log(`near-cache tests skipped: ${noRedis}`);

const run = promisify(execFile);

/** Runs one command through redis-cli: a write from another process, which the cache did not make. */
export async function cli(port: number, ...args: string[]): Promise<string> {
  const { stdout } = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args]);
  return stdout.trim();
}

/** Polls `cond` until it holds; throws with `what` after `ms`. */
export async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 20_000): Promise<void> {
  await pollUntil(cond, what, ms, 10);
}

/**
 * A Redis Cluster on loopback: three redis-servers in cluster mode, joined
 * with `redis-cli --cluster create` (three masters, no replicas, slots split
 * in three), `cluster-require-full-coverage no` so that a slot taken away by
 * a test leaves the others serving. Stopped (and its config files removed)
 * by `stop`.
 */
export class LoopbackCluster {
  private constructor(
    readonly nodes: RedisServer[],
    private readonly dir: string,
  ) {}

  static async start(): Promise<LoopbackCluster> {
    const dir = mkdtempSync(join(tmpdir(), 'shmap-cluster-'));
    const nodes: RedisServer[] = [];
    const cluster = new LoopbackCluster(nodes, dir);
    try {
      for (let i = 0; i < 3; i++) {
        nodes.push(
          await RedisServer.start(undefined, [
            '--cluster-enabled',
            'yes',
            '--cluster-config-file',
            join(dir, `nodes-${i}.conf`),
            '--cluster-require-full-coverage',
            'no',
          ]),
        );
      }
      await run('redis-cli', [
        '--cluster',
        'create',
        ...nodes.map((n) => `127.0.0.1:${n.port}`),
        '--cluster-replicas',
        '0',
        '--cluster-yes',
      ]);
      await until('every node of the cluster to say cluster_state:ok', async () =>
        (await Promise.all(nodes.map((n) => cli(n.port, 'CLUSTER', 'INFO')))).every((t) => /cluster_state:ok/.test(t)),
      );
    } catch (err) {
      await cluster.stop();
      throw err;
    }
    return cluster;
  }

  get url(): string {
    return this.nodes[0]!.url;
  }

  /** The port of the master that serves `slot`, from CLUSTER NODES (`<id> <ip:port@cport> <flags> ... <ranges>`). */
  async ownerOf(slot: number): Promise<number> {
    for (const line of (await cli(this.nodes[0]!.port, 'CLUSTER', 'NODES')).split('\n')) {
      const f = line.trim().split(' ');
      for (const range of f.slice(8)) {
        const [lo, hi = lo] = range.split('-').map(Number);
        if (slot >= lo! && slot <= hi!) return Number(f[1]!.split('@')[0]!.split(':')[1]);
      }
    }
    throw new Error(`no master serves slot ${slot}`);
  }

  async slotOf(key: string): Promise<number> {
    return Number(await cli(this.nodes[0]!.port, 'CLUSTER', 'KEYSLOT', key));
  }

  /** A write from another process, sent to whichever master serves the key (redis-cli -c follows MOVED). */
  async set(key: string, value: string): Promise<void> {
    const { stdout } = await run('redis-cli', [
      '-c',
      '-h',
      '127.0.0.1',
      '-p',
      String(this.nodes[0]!.port),
      'SET',
      key,
      value,
    ]);
    if (stdout.trim() !== 'OK') throw new Error(`SET ${key} on the cluster answered ${stdout.trim()}`);
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.stop()));
    rmSync(this.dir, { recursive: true, force: true });
  }
}

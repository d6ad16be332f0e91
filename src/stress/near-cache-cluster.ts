/**
 * A Redis Cluster on loopback, for the near-cache tests and
 * `stress --scenario near-cache --cluster`: three redis-servers in cluster
 * mode (each on a free 127.0.0.1 port, persistence off), joined with
 * `redis-cli --cluster create` (three masters, no replicas, the slots split
 * in three).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { RedisServer } from '../bench/redis.js';

const run = promisify(execFile);

/** Runs one command through redis-cli against the node on `port`. */
export async function cli(port: number, ...args: string[]): Promise<string> {
  const { stdout } = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args]);
  return stdout.trim();
}

/**
 * The cluster, with `cluster-require-full-coverage no` so that a slot taken
 * away by a test leaves the others serving. Stopped (and its config files
 * removed) by `stop`.
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
      const deadline = Date.now() + 30_000;
      while (!(await cluster.ready())) {
        if (Date.now() > deadline) throw new Error('the loopback cluster did not reach cluster_state:ok within 30 s');
        await new Promise((r) => setTimeout(r, 50));
      }
    } catch (err) {
      await cluster.stop();
      throw err;
    }
    return cluster;
  }

  /** Whether every node says cluster_state:ok. */
  async ready(): Promise<boolean> {
    return (await Promise.all(this.nodes.map((n) => cli(n.port, 'CLUSTER', 'INFO')))).every((t) =>
      /cluster_state:ok/.test(t),
    );
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

/**
 * Test helpers for the near cache: a real redis-server per suite (skipped
 * with one line where it is not installed), another process writing to it
 * (redis-cli), and a poll with a deadline.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { redisUnavailable } from '../../src/bench/redis.js';
import { until as pollUntil } from '../helpers/until.js';

export { RedisServer } from '../../src/bench/redis.js';

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

/**
 * Test helpers for the near cache: a real redis-server per suite (skipped
 * with one line where it is not installed), a three-master Redis Cluster on
 * loopback, another process writing to them (redis-cli), and a poll with a
 * deadline.
 */
import { RedisServer, redisUnavailable } from '../../src/bench/redis.js';
import { until as pollUntil } from '../helpers/until.js';

export { RedisServer };
/** redis-cli against a node on loopback: a write from another process, which the cache did not make. */
export { LoopbackCluster, cli } from '../../src/stress/near-cache-cluster.js';

/** Why the Redis tests cannot run here (printed once), or undefined. */
export const noRedis: string | undefined = redisUnavailable();
if (noRedis !== undefined) console.log(`near-cache tests skipped: ${noRedis}`);

/** Polls `cond` until it holds; throws with `what` after `ms`. */
export async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 20_000): Promise<void> {
  await pollUntil(cond, what, ms, 10);
}

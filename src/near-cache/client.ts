/**
 * The Redis client, loaded only when a NearCache is created or attached, so
 * that `import { SharedMap } from 'shmap'` needs no Redis client installed.
 * `redis` (node-redis 5) is an optional peer dependency.
 */
import { RedisClientMissingError } from '../shm/errors.js';
import { installHint } from '../optional.js';

export type RedisModule = typeof import('redis');
export type RedisClient = ReturnType<RedisModule['createClient']>;

let loading: Promise<RedisModule> | undefined;

/** node-redis, or RedisClientMissingError when it is not installed. */
export function loadRedis(): Promise<RedisModule> {
  loading ??= import('redis').catch((err: unknown) => {
    loading = undefined;
    const code = (err as { code?: unknown } | null)?.code;
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') {
      throw new RedisClientMissingError(installHint('NearCache', 'redis'));
    }
    throw err;
  });
  return loading;
}

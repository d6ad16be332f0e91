/**
 * Every error shmap throws. Each class has a stable `code`; match on the
 * class or the code, never on the message.
 *
 * Misuse by a program (a race shmap detected) is one of the Concurrent*
 * errors, with Go's fixed messages. A missing key is not an error.
 *
 * Across threads: an error thrown in a worker reaches another thread by
 * structured clone (piscina's rejected `run`, `postMessage`), which keeps
 * `message` and `stack` and drops the class, `name` and `code`. The stack's
 * first line still reads `ConcurrentMapIterationError: ...`, so
 * `reviveError(err)` restores the class (and with it `code` and
 * `instanceof`), and `isShmapError(err)` recognizes one.
 */

export type ShmapErrorCode =
  | 'SHMAP_INVALID_OPTION'
  | 'SHMAP_INVALID_TYPE'
  | 'SHMAP_KEY_TOO_LONG'
  | 'SHMAP_VALUE_TOO_LARGE'
  | 'SHMAP_MAP_FULL'
  | 'SHMAP_INVALID_HANDLE'
  | 'SHMAP_CONCURRENT_ITERATION'
  | 'SHMAP_CONCURRENT_WRITE'
  | 'SHMAP_CONCURRENT_READ'
  | 'SHMAP_RECURSIVE_UPDATE'
  | 'SHMAP_LEASE'
  | 'SHMAP_INVARIANT'
  | 'SHMAP_NEAR_CACHE'
  | 'SHMAP_REDIS_CLIENT_MISSING'
  | 'SHMAP_LOCK_TIMEOUT'
  | 'SHMAP_RECOVERY';

/** The base of shmap's own errors (the type errors extend TypeError instead, and carry the same `code`). */
export class ShmapError extends Error {
  readonly code: ShmapErrorCode;
  constructor(code: ShmapErrorCode, message: string) {
    super(message);
    this.code = code;
    this.name = new.target.name;
  }
}

/** An option to `SharedMap.create` (or another constructor) is invalid. The message names the option. */
export class InvalidOptionError extends TypeError {
  readonly code = 'SHMAP_INVALID_OPTION' as const;
  constructor(message: string) {
    super(message);
    this.name = 'InvalidOptionError';
  }
}

/** A key or value of the wrong JavaScript type for the map (a string into float64, 1.5 into int32, undefined as a value). */
export class ShmapTypeError extends TypeError {
  readonly code = 'SHMAP_INVALID_TYPE' as const;
  constructor(message: string) {
    super(message);
    this.name = 'ShmapTypeError';
  }
}

/** A `string:N` / `bytes:N` key longer than N bytes. */
export class KeyTooLongError extends ShmapError {
  constructor(message: string) {
    super('SHMAP_KEY_TOO_LONG', message);
  }
}

/** A value over its type's width, or a number out of its type's range. */
export class ValueTooLargeError extends ShmapError {
  constructor(message: string) {
    super('SHMAP_VALUE_TOO_LARGE', message);
  }
}

/** The map holds `maxCapacity` entries (or its buffer reached `maxByteLength`); reads, deletes and updates of existing keys still work. */
export class MapFullError extends ShmapError {
  constructor(message: string) {
    super('SHMAP_MAP_FULL', message);
  }
}

/** `SharedMap.attach` was given something that is not a shmap handle of this layout version. */
export class InvalidHandleError extends ShmapError {
  constructor(message: string) {
    super('SHMAP_INVALID_HANDLE', message);
  }
}

/** Go: "concurrent map iteration and map write". Another thread wrote the map while this one iterated it. */
export class ConcurrentMapIterationError extends ShmapError {
  constructor(detail = '') {
    super('SHMAP_CONCURRENT_ITERATION', 'concurrent map iteration and map write' + detail);
  }
}

/** Go: "concurrent map writes" (only with `sync: 'none'`). */
export class ConcurrentMapWriteError extends ShmapError {
  constructor(detail = '') {
    super('SHMAP_CONCURRENT_WRITE', 'concurrent map writes' + detail);
  }
}

/** Go: "concurrent map read and map write" (only with `sync: 'none'`). */
export class ConcurrentMapReadError extends ShmapError {
  constructor(detail = '') {
    super('SHMAP_CONCURRENT_READ', 'concurrent map read and map write' + detail);
  }
}

/** The function given to `update` (or a `sweep` predicate) called back into the map it runs under the lock of. */
export class RecursiveUpdateError extends ShmapError {
  constructor(message = 'Recursive update: the function given to update/sweep must not call the map') {
    super('SHMAP_RECURSIVE_UPDATE', message);
  }
}

/** A lease was misused: released without being held, or leases used on a map created without `leases: true`. */
export class LeaseError extends ShmapError {
  constructor(message: string) {
    super('SHMAP_LEASE', message);
  }
}

/** shmap's own bug: an invariant of the data structure does not hold. */
export class InvariantError extends ShmapError {
  constructor(message: string) {
    super('SHMAP_INVARIANT', 'invariant failed: ' + message);
  }
}

/**
 * A NearCache operation could not reach Redis or got an error from it (the
 * message names the server and says what failed), or Redis holds a value the
 * cache's value type cannot decode. Nothing was cached because of it.
 */
export class NearCacheError extends ShmapError {
  constructor(message: string) {
    super('SHMAP_NEAR_CACHE', message);
  }
}

/** `NearCache` needs the Redis client (`redis`, node-redis 5), an optional peer dependency that is not installed. */
export class RedisClientMissingError extends ShmapError {
  constructor(message: string) {
    super('SHMAP_REDIS_CLIENT_MISSING', message);
  }
}

/**
 * A thread waited longer than the map's `lockTimeoutMs` for a shard's lock
 * (a write, or a read that fell back to the lock). Usually the holder died
 * and nobody recovered it (`map.watch`, `map.recover`); nothing was changed
 * by the call that threw.
 */
export class LockTimeoutError extends ShmapError {
  constructor(
    /** The shard whose lock it waited for. */
    readonly shard: number,
    /** The holder's threadId. */
    readonly ownerThread: number,
    /** What the holder was doing (an op name: 'set', 'delete', ...). */
    readonly ownerOp: string,
    /** How long the holder has held the lock, at least, in ms. */
    readonly heldMs: number,
    /** The timeout that passed, in ms. */
    readonly timeoutMs: number,
  ) {
    super(
      'SHMAP_LOCK_TIMEOUT',
      `lock timeout: shard ${shard} has been held by thread ${ownerThread} (${ownerOp}) for at least ${Math.round(heldMs)} ms, over lockTimeoutMs (${timeoutMs} ms); if that thread died, map.recover(${ownerThread}) or map.watch(worker) frees it`,
    );
  }
}

/** `map.recover(threadId)` was called in a way that cannot be right: for the calling thread itself, or with a thread id that is not an integer. */
export class RecoveryError extends ShmapError {
  constructor(message: string) {
    super('SHMAP_RECOVERY', message);
  }
}

/** Any error shmap throws: `ShmapError` and its subclasses, and the two that extend `TypeError`. */
export type AnyShmapError = ShmapError | InvalidOptionError | ShmapTypeError;

type ErrorClass = abstract new (...args: never[]) => AnyShmapError;

/** Every concrete class by its `name` (the first word of its stack), and the `code` each carries. */
const CLASSES: Record<string, { cls: ErrorClass; code: ShmapErrorCode }> = {
  InvalidOptionError: { cls: InvalidOptionError, code: 'SHMAP_INVALID_OPTION' },
  ShmapTypeError: { cls: ShmapTypeError, code: 'SHMAP_INVALID_TYPE' },
  KeyTooLongError: { cls: KeyTooLongError, code: 'SHMAP_KEY_TOO_LONG' },
  ValueTooLargeError: { cls: ValueTooLargeError, code: 'SHMAP_VALUE_TOO_LARGE' },
  MapFullError: { cls: MapFullError, code: 'SHMAP_MAP_FULL' },
  InvalidHandleError: { cls: InvalidHandleError, code: 'SHMAP_INVALID_HANDLE' },
  ConcurrentMapIterationError: { cls: ConcurrentMapIterationError, code: 'SHMAP_CONCURRENT_ITERATION' },
  ConcurrentMapWriteError: { cls: ConcurrentMapWriteError, code: 'SHMAP_CONCURRENT_WRITE' },
  ConcurrentMapReadError: { cls: ConcurrentMapReadError, code: 'SHMAP_CONCURRENT_READ' },
  RecursiveUpdateError: { cls: RecursiveUpdateError, code: 'SHMAP_RECURSIVE_UPDATE' },
  LeaseError: { cls: LeaseError, code: 'SHMAP_LEASE' },
  InvariantError: { cls: InvariantError, code: 'SHMAP_INVARIANT' },
  NearCacheError: { cls: NearCacheError, code: 'SHMAP_NEAR_CACHE' },
  RedisClientMissingError: { cls: RedisClientMissingError, code: 'SHMAP_REDIS_CLIENT_MISSING' },
  LockTimeoutError: { cls: LockTimeoutError, code: 'SHMAP_LOCK_TIMEOUT' },
  RecoveryError: { cls: RecoveryError, code: 'SHMAP_RECOVERY' },
};

/** The class an error-like value came from: by its own `code`, else its `name`, else its stack's first word. */
function classOf(err: { code?: unknown; name?: unknown; stack?: unknown }): string | undefined {
  if (typeof err.code === 'string') {
    const byCode = Object.keys(CLASSES).find((name) => CLASSES[name]!.code === err.code);
    if (byCode !== undefined) return byCode;
  }
  if (typeof err.name === 'string' && Object.hasOwn(CLASSES, err.name)) return err.name;
  const first = typeof err.stack === 'string' ? /^(\w+)(?: \[\w+\])?: /.exec(err.stack)?.[1] : undefined;
  return first !== undefined && Object.hasOwn(CLASSES, first) ? first : undefined;
}

/**
 * Restores a shmap error that crossed a thread boundary (structured clone
 * turns it into a plain `Error` without `code`): returns an instance of the
 * original class with the same `message`, `stack` and `cause`, and its
 * `code`. Anything else (not a shmap error, or already one) is returned as
 * it is.
 *
 * ```ts
 * try { await pool.run(task); } catch (e) {
 *   const err = reviveError(e);
 *   if (err instanceof ConcurrentMapIterationError) ...   // or err.code === 'SHMAP_CONCURRENT_ITERATION'
 * }
 * ```
 */
export function reviveError<T>(err: T): T | AnyShmapError {
  if (err === null || typeof err !== 'object') return err;
  const name = classOf(err as { code?: unknown; name?: unknown; stack?: unknown });
  if (name === undefined) return err;
  const { cls, code } = CLASSES[name]!;
  if (err instanceof cls) return err;
  const from = err as { message?: unknown; stack?: unknown; cause?: unknown };
  const revived = Object.create(cls.prototype as object) as AnyShmapError;
  const own = (key: string, value: unknown, enumerable: boolean) =>
    Object.defineProperty(revived, key, { value, enumerable, writable: true, configurable: true });
  own('message', String(from.message ?? ''), false);
  own('stack', from.stack, false);
  if ('cause' in from) own('cause', from.cause, false);
  own('code', code, true);
  own('name', name, true);
  return revived;
}

/**
 * Whether `err` is a shmap error, here or after crossing a thread boundary.
 * A cloned one is a plain `Error`: `reviveError(err)` gives it back its
 * class and `code`.
 */
export function isShmapError(err: unknown): boolean {
  return err !== null && typeof err === 'object' && classOf(err) !== undefined;
}

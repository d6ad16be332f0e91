/**
 * Every error shmap throws. Each class has a stable `code`; match on the
 * class or the code, never on the message.
 *
 * Misuse by a program (a race shmap detected) is one of the Concurrent*
 * errors, with Go's fixed messages. A missing key is not an error.
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
  | 'SHMAP_INVARIANT';

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

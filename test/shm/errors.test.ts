/**
 * shmap's errors across a thread boundary: structured clone (piscina's
 * rejected `run`, `postMessage`) keeps `message` and `stack` and drops the
 * class and `code`; `reviveError` restores them and `isShmapError`
 * recognizes one. Shown on a real piscina worker with a real conflict.
 */
import { Piscina } from 'piscina';
import { afterAll, describe, expect, it } from 'vitest';
import {
  ConcurrentMapIterationError,
  ConcurrentMapReadError,
  ConcurrentMapWriteError,
  InvalidHandleError,
  InvalidOptionError,
  InvariantError,
  NearCacheError,
  RedisClientMissingError,
  KeyTooLongError,
  LeaseError,
  MapFullError,
  RecursiveUpdateError,
  SharedMap,
  ShmapTypeError,
  ValueTooLargeError,
  isShmapError,
  reviveError,
} from '../../src/index.js';
import { testPath } from '../helpers/paths.js';

const pool = new Piscina({ filename: testPath('workers/throw-across.mjs'), minThreads: 1, maxThreads: 1 });
afterAll(() => pool.destroy());

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    return { resolved: await p };
  } catch (err) {
    return err;
  }
}

describe('errors thrown in a piscina task', () => {
  it('ConcurrentMapIterationError from a real conflict: arrives without class or code, revived with both', async () => {
    const map = SharedMap.create<number, number>({ key: 'int32', value: 'float64', capacity: 256 });
    for (let k = 0; k < 100; k++) map.set(k, k);
    const gate = new Int32Array(new SharedArrayBuffer(4));
    const task = pool.run({ kind: 'iterate', handle: map.handle, gate });
    // Wait (without blocking this thread's event loop) until the worker is mid-iteration, then write.
    while (Atomics.load(gate, 0) === 0) await Atomics.waitAsync(gate, 0, 0, 1000).value;
    map.set(1000, 1);
    Atomics.store(gate, 0, 2);
    Atomics.notify(gate, 0);

    const arrived = (await rejection(task)) as Error & { code?: unknown };
    expect(arrived).toBeInstanceOf(Error);
    // What structured clone does (the reason reviveError exists):
    expect(arrived).not.toBeInstanceOf(ConcurrentMapIterationError);
    expect(arrived.code).toBeUndefined();
    expect(isShmapError(arrived)).toBe(true);

    const err = reviveError(arrived);
    expect(err).toBeInstanceOf(ConcurrentMapIterationError);
    expect(err).toMatchObject({ code: 'SHMAP_CONCURRENT_ITERATION', name: 'ConcurrentMapIterationError' });
    expect((err as Error).message).toBe(arrived.message);
    expect((err as Error).message).toMatch(/^concurrent map iteration and map write/);
    expect((err as Error).stack).toBe(arrived.stack);
    expect(map.conflicts().map((c) => c.kind)).toContain('concurrent map iteration and map write');
  });

  it('ShmapTypeError (a TypeError) arrives as a plain Error, revived as itself', async () => {
    const map = SharedMap.create<number, number>({ key: 'int32', value: 'float64' });
    const arrived = (await rejection(pool.run({ kind: 'type', handle: map.handle }))) as Error;
    expect(arrived).toBeInstanceOf(Error);
    expect(arrived).not.toBeInstanceOf(TypeError);
    const err = reviveError(arrived);
    expect(err).toBeInstanceOf(ShmapTypeError);
    expect(err).toBeInstanceOf(TypeError);
    expect((err as ShmapTypeError).code).toBe('SHMAP_INVALID_TYPE');
    expect(map.size).toBe(0);
  });
});

describe('reviveError and isShmapError', () => {
  const every: Array<[new (message: string) => Error, string]> = [
    [InvalidOptionError, 'SHMAP_INVALID_OPTION'],
    [ShmapTypeError, 'SHMAP_INVALID_TYPE'],
    [KeyTooLongError, 'SHMAP_KEY_TOO_LONG'],
    [ValueTooLargeError, 'SHMAP_VALUE_TOO_LARGE'],
    [MapFullError, 'SHMAP_MAP_FULL'],
    [InvalidHandleError, 'SHMAP_INVALID_HANDLE'],
    [ConcurrentMapIterationError, 'SHMAP_CONCURRENT_ITERATION'],
    [ConcurrentMapWriteError, 'SHMAP_CONCURRENT_WRITE'],
    [ConcurrentMapReadError, 'SHMAP_CONCURRENT_READ'],
    [RecursiveUpdateError, 'SHMAP_RECURSIVE_UPDATE'],
    [LeaseError, 'SHMAP_LEASE'],
    [InvariantError, 'SHMAP_INVARIANT'],
    [NearCacheError, 'SHMAP_NEAR_CACHE'],
    [RedisClientMissingError, 'SHMAP_REDIS_CLIENT_MISSING'],
  ];

  it.each(every)('%o survives structuredClone through reviveError', (cls, code) => {
    const original = new cls('what went wrong');
    const cloned = structuredClone(original);
    expect(cloned).not.toBeInstanceOf(cls);
    const err = reviveError(cloned);
    expect(err).toBeInstanceOf(cls);
    expect(err).toMatchObject({ code, name: cls.name, message: original.message });
  });

  it('leaves everything else alone (negative controls)', () => {
    const plain = new Error('concurrent map iteration and map write');
    expect(reviveError(plain)).toBe(plain);
    expect(isShmapError(plain)).toBe(false);
    const node = Object.assign(new Error('no such file'), { code: 'ENOENT' });
    expect(reviveError(node)).toBe(node);
    expect(isShmapError(node)).toBe(false);
    for (const v of [undefined, null, 42, 'ConcurrentMapIterationError: x', { name: 'Other' }])
      expect(reviveError(v)).toBe(v);
    const live = new MapFullError('full');
    expect(reviveError(live)).toBe(live);
    expect(isShmapError(live)).toBe(true);
  });
});

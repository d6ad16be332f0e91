/**
 * The edges of `add` (its typing per value type, the delta it accepts, the
 * sum out of range naming the numbers the caller gave) and the map's short
 * forms for `console.log` and `JSON.stringify`. Every bad call leaves the map
 * as it was (size, entries, invariants).
 */
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { SharedMap, ShmapTypeError, ValueTooLargeError } from '../../src/index.js';
import { expectUnchanged, picture, thrown } from './support.js';

type AnyMap = SharedMap<number, any>;

function rejects(map: AnyMap, bad: () => unknown, cls: new (...a: never[]) => Error, message: RegExp): void {
  const before = picture(map);
  const e = thrown(bad) as Error;
  expect(e).toBeInstanceOf(cls);
  expect(e.message).toMatch(message);
  expectUnchanged(map, before);
}

describe('add', () => {
  it('bigint64: takes a bigint or an integer delta and returns a bigint', () => {
    const map = SharedMap.create<number, bigint>({ key: 'int32', value: 'bigint64', capacity: 8 });
    const a: bigint = map.add(1, 5n);
    expect(a).toBe(5n);
    expect(map.add(1, 2)).toBe(7n);
    expect(map.get(1)).toBe(7n);
    rejects(
      map,
      () => map.add(1, 0.5),
      ShmapTypeError,
      /delta must be a bigint or an integer for bigint64 values, got 0\.5/,
    );
    rejects(map, () => map.add(1, 'x' as never), ShmapTypeError, /got "x"/);
    map.set(2, 2n ** 63n - 1n);
    rejects(
      map,
      () => map.add(2, 1n),
      ValueTooLargeError,
      /9223372036854775807 \+ 1 = 9223372036854775808 is out of bigint64 range/,
    );
  });

  it('int32: past its range the error names the stored value, the delta and the sum; a fractional or bigint delta is refused', () => {
    const map = SharedMap.create<number, number>({ key: 'int32', value: 'int32', capacity: 8 });
    map.set(1, 2 ** 31 - 1);
    rejects(
      map,
      () => map.add(1, 1),
      ValueTooLargeError,
      /^add: 2147483647 \+ 1 = 2147483648 is out of int32 range; the entry keeps 2147483647$/,
    );
    rejects(map, () => map.add(1, 0.5), ShmapTypeError, /delta must be an integer for int32 values, got 0\.5/);
    rejects(map, () => map.add(1, 1n as never), ShmapTypeError, /delta must be an integer for int32 values, got 1n/);
    expect(map.add(1, -1)).toBe(2 ** 31 - 2);
  });

  it('uint32: a counter below 0 says so, for a stored key and for a missing one (which stays absent)', () => {
    const map = SharedMap.create<number, number>({ key: 'int32', value: 'uint32', capacity: 8 });
    map.set(1, 0);
    rejects(
      map,
      () => map.add(1, -1),
      ValueTooLargeError,
      /0 \+ -1 = -1 is out of uint32 range: a uint32 value cannot go below 0; the entry keeps 0/,
    );
    rejects(map, () => map.add(2, -1), ValueTooLargeError, /cannot go below 0; the key stays absent/);
    expect(map.has(2)).toBe(false);
    expect(map.add(1, 2 ** 32 - 1)).toBe(2 ** 32 - 1);
  });

  it('float64: any number delta; a bigint delta is refused', () => {
    const map = SharedMap.create<number, number>({ key: 'int32', value: 'float64', capacity: 8 });
    expect(map.add(1, 0.5)).toBe(0.5);
    rejects(map, () => map.add(1, 1n as never), ShmapTypeError, /delta must be a number for float64 values, got 1n/);
  });
});

describe('short forms', () => {
  it('util.inspect (console.log) prints the types, size, shards and bytes on one line', () => {
    const map = SharedMap.create<number, bigint>({ key: 'int32', value: 'bigint64', capacity: 8, shards: 2 });
    map.set(1, 10n);
    const text = inspect(map);
    expect(text).toBe(`SharedMap<int32, bigint64> { size: 1, shards: 2, bytes: ${map.handle.buffer.byteLength} }`);
    expect(inspect({ nested: map })).toContain('SharedMap<int32, bigint64> { size: 1');
  });

  it('JSON.stringify gives the same summary, even with bigint values', () => {
    const map = SharedMap.create<string, bigint>({ key: 'string:8', value: 'bigint64', capacity: 8, shards: 1 });
    map.set('a', 1n);
    map.set('b', 2n);
    expect(JSON.parse(JSON.stringify(map))).toEqual({
      type: 'SharedMap',
      key: 'string:8',
      value: 'bigint64',
      size: 2,
      shards: 1,
      bytes: map.handle.buffer.byteLength,
    });
  });
});

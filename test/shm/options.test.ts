/**
 * The options of `SharedMap.create` and `set(k, v, options)` (src/shm/options.ts):
 * a typo or an out-of-range value is an InvalidOptionError naming the key,
 * and changes nothing; the buffer's reserved address space scales with
 * `capacity`, and a reservation the process cannot make says what to set.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { InvalidOptionError, SharedMap } from '../../src/index.js';
import { expectUnchanged, picture, thrown } from './support.js';
import { distPath } from '../helpers/paths.js';

function createError(options: unknown): InvalidOptionError {
  const e = thrown(() => SharedMap.create(options as never), JSON.stringify(options));
  expect(e).toBeInstanceOf(InvalidOptionError);
  expect((e as InvalidOptionError).code).toBe('SHMAP_INVALID_OPTION');
  return e as InvalidOptionError;
}

describe('SharedMap.create options', () => {
  it.each([
    [{ capcity: 100 }, /^options\.capcity is not an option \(did you mean capacity\?\)$/],
    [{ key: 'int32', maxCapcity: 10 }, /^options\.maxCapcity is not an option \(did you mean maxCapacity\?\)$/],
    [{ ttlMs: 5 }, /^options\.ttlMs is not an option \(did you mean ttl\?\)$/],
    [
      { size: 5 },
      /^options\.size is not an option \(known: key, value, capacity, .*, leases, lockTimeoutMs, metrics\)$/,
    ],
  ])('an unknown key %j is refused, naming it', (options, message) => {
    expect(createError(options).message).toMatch(message);
  });

  it.each([2 ** 40, 2 ** 32, -(2 ** 31) - 1, 1.5, Number.NaN, '7'])(
    'seed %s is refused (no silent truncation)',
    (seed) => {
      expect(createError({ seed }).message).toMatch(/^options\.seed must be an integer from -2147483648 to 4294967295/);
    },
  );

  it('any 32-bit seed is taken, signed or unsigned', () => {
    for (const seed of [-(2 ** 31), -1, 0, 2 ** 31 - 1, 2 ** 32 - 1]) {
      const m = SharedMap.create<number, number>({ key: 'int32', value: 'int32', seed });
      m.set(1, 2);
      expect(m.get(1)).toBe(2);
    }
  });
});

describe('set(k, v, options)', () => {
  it.each([false, true])(
    'an unknown option (ttl: true map: %s) is refused, naming it, and nothing is written',
    (ttl) => {
      const m = SharedMap.create<number, number>({ key: 'int32', value: 'int32', ttl });
      m.set(1, 1);
      const before = picture(m);
      for (const [options, message] of [
        [{ ttl: 5 }, /^set: options\.ttl is not an option \(did you mean ttlMs\?\)$/],
        [{ ttlMs: 5, expire: 1 }, /^set: options\.expire is not an option/],
        [5, /^set: options must be an object like \{ ttlMs: 1000 \}, got 5$/],
      ] as const) {
        const e = thrown(() => m.set(1, 99, options as never)) as InvalidOptionError;
        expect(e).toBeInstanceOf(InvalidOptionError);
        expect(e.message).toMatch(message);
        expect(thrown(() => m.set(2, 99, options as never))).toBeInstanceOf(InvalidOptionError);
      }
      expectUnchanged(m, before);
      expect(m.get(1)).toBe(1);
    },
  );
});

describe('reserved address space', () => {
  it('scales with capacity instead of always 2 GiB; an explicit maxCapacity still decides', () => {
    const small = SharedMap.create({ capacity: 1 }).stats().maxBytes;
    const medium = SharedMap.create({ capacity: 4096 }).stats().maxBytes;
    expect(small).toBeLessThan(2 ** 28);
    expect(medium).toBeGreaterThan(small);
    expect(SharedMap.create({ capacity: 1, maxCapacity: 100 }).stats().maxBytes).toBeLessThan(small);
  });

  it('a reservation the process cannot make is an InvalidOptionError saying to set maxCapacity', () => {
    // A child under a 4 GiB address-space limit: maps reserving 2 GiB each fail on the 2nd or 3rd,
    // default small maps do not (the control: the limit is not what fails them).
    const script = `
      import { SharedMap } from ${JSON.stringify(distPath('index.js'))};
      const out = [];
      const kept = []; // referenced, so no reservation is collected
      for (const options of [{}, { maxCapacity: 1 << 24 }]) {
        let made = 0;
        try { for (; made < 8; made++) kept.push(SharedMap.create(options)); out.push(made); }
        catch (e) { out.push(made + ' ' + e.name + ': ' + e.message); }
      }
      console.log(JSON.stringify(out));`;
    const r = spawnSync(
      'sh',
      ['-c', 'ulimit -v 4000000 && exec "$0" --input-type=module -e "$1"', process.execPath, script],
      {
        encoding: 'utf8',
        timeout: 120_000,
      },
    );
    expect(r.stderr).toBe('');
    const [defaults, huge] = JSON.parse(r.stdout) as [number, string];
    expect(defaults).toBe(8);
    expect(huge).toMatch(
      /^[0-3] InvalidOptionError: SharedMap.create could not reserve \d+ bytes of address space .*set options\.maxCapacity/,
    );
  });
});

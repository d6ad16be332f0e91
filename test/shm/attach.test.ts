/**
 * `SharedMap.attach` on a buffer it cannot trust: every header field and
 * every offset is checked against the buffer, so a truncated or edited
 * buffer is refused with InvalidHandleError saying what is wrong. A
 * fast-check fuzzer edits header and descriptor words of a real map: attach
 * either refuses, or the map it gives works (every call returns or throws a
 * shmap error: no TypeError or RangeError from reading outside the buffer,
 * no hang).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidHandleError, SharedMap, isShmapError } from '../../src/index.js';
import {
  D_CAP,
  D_COUNT,
  D_REGION,
  D_TOMBS,
  HEADER_BYTES,
  H_ALLOC_LOCK,
  H_ALLOC_WAITERS,
  H_KEY_TYPE,
  H_SHARDS,
  H_SLOT_BYTES,
  shardI32,
} from '../../src/shm/layout.js';
import { thrown } from './support.js';

const SHARDS = 4;

function original(): SharedMap<number, string> {
  const m = SharedMap.create<number, string>({ key: 'int32', value: 'string:16', capacity: 64, shards: SHARDS });
  for (let k = 0; k < 40; k++) m.set(k, `v${k}`);
  return m;
}

/** A copy of `sab`'s first `bytes` bytes (all of it by default) in a buffer of its own. */
function copy(sab: SharedArrayBuffer, bytes = sab.byteLength): SharedArrayBuffer {
  const out = new SharedArrayBuffer(bytes);
  new Uint8Array(out).set(new Uint8Array(sab, 0, Math.min(bytes, sab.byteLength)));
  return out;
}

function attachError(buffer: SharedArrayBuffer): string {
  const e = thrown(() => SharedMap.attach({ shmap: 1, buffer } as never));
  expect(e).toBeInstanceOf(InvalidHandleError);
  return (e as Error).message;
}

describe('attach refuses a buffer it cannot trust', () => {
  it('a valid copy attaches and reads the same entries (the control)', () => {
    const m = original();
    const a = SharedMap.attach<number, string>({ shmap: 1, buffer: copy(m.handle.buffer) } as never);
    expect(a.size).toBe(40);
    expect(a.get(7)).toBe('v7');
  });

  it('a truncated buffer', () => {
    const m = original();
    expect(attachError(copy(m.handle.buffer, 2000))).toMatch(/it is 2000 bytes, shorter than its header/);
    expect(attachError(copy(m.handle.buffer, m.handle.buffer.byteLength - 64))).toMatch(
      /(allocation top|region).*outside|not inside/,
    );
  });

  it.each([
    [H_SHARDS, 3, /its shard count is 3/],
    [H_KEY_TYPE, 99, /its key type is unknown\(99\)/],
    [H_SLOT_BYTES, 4, /its slot size is 4, the types and flags make it \d+/],
  ])('header word %i edited to %i', (word, value, message) => {
    const sab = copy(original().handle.buffer);
    new Int32Array(sab)[word] = value;
    expect(attachError(sab)).toMatch(message);
  });

  it.each([
    [D_REGION, 1 << 30, /shard 1's region .* is not inside/],
    [D_CAP, 1 << 27, /shard 1's region .* is not inside/],
    [D_COUNT, 1000, /shard 1 counts 1000 entries/],
  ])('descriptor word %i of shard 1 edited to %i', (word, value, message) => {
    const sab = copy(original().handle.buffer);
    new Int32Array(sab)[shardI32(HEADER_BYTES, 1) + word] = value;
    expect(attachError(sab)).toMatch(message);
  });
});

describe('fuzzing the header and descriptors', () => {
  // Every header word except the allocator's lock and waiter count (live
  // synchronization state: a buffer whose lock is held is a valid map whose
  // writers wait), and the descriptor words that say where a shard's slots
  // are and how full they are.
  const words: number[] = [];
  for (let i = 0; i < HEADER_BYTES >> 2; i++) if (i !== H_ALLOC_LOCK && i !== H_ALLOC_WAITERS) words.push(i);
  for (let s = 0; s < SHARDS; s++)
    for (const w of [D_REGION, D_CAP, D_COUNT, D_TOMBS]) words.push(shardI32(HEADER_BYTES, s) + w);
  const base = original();

  it('attach refuses, or the map works: no crash, no read outside the buffer, no hang', () => {
    let refused = 0;
    let attached = 0;
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            word: fc.constantFrom(...words),
            value: fc.oneof(fc.integer(), fc.integer({ min: -2, max: 70_000 }), fc.constantFrom(0, 1, 8, 64, 1 << 20)),
          }),
          { minLength: 1, maxLength: 4 },
        ),
        fc.option(fc.integer({ min: 0, max: base.handle.buffer.byteLength }), { nil: undefined }),
        (edits, truncate) => {
          const sab = copy(base.handle.buffer, truncate);
          const i32 = new Int32Array(sab, 0, sab.byteLength >> 2);
          for (const { word, value } of edits) if (word < i32.length) i32[word] = value;
          let map: SharedMap<number, string>;
          try {
            map = SharedMap.attach<number, string>({ shmap: 1, buffer: sab } as never);
          } catch (e) {
            expect(e).toBeInstanceOf(InvalidHandleError);
            refused++;
            return;
          }
          attached++;
          const calls: Array<() => unknown> = [
            () => map.size,
            () => [0, 7, 39, 1000].map((k) => [map.get(k), map.has(k)]),
            () => map.set(500, 'new'),
            () => map.delete(7),
            () => {
              let n = 0;
              for (const entry of map) if (++n > 10_000 || entry === undefined) break;
              return n;
            },
            () => map.snapshot(),
            () => map.stats(),
          ];
          for (const call of calls) {
            try {
              call();
            } catch (e) {
              if (!isShmapError(e)) throw e;
            }
          }
        },
      ),
      { numRuns: 400, seed: Number(process.env.SHMAP_SEED ?? 20261129) },
    );
    // Not vacuous: both outcomes happened.
    expect(refused).toBeGreaterThan(0);
    expect(attached).toBeGreaterThan(0);
  });
});

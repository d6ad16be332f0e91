/**
 * Maps whose overwrite runs in WebAssembly (src/shm/wasm.ts) live in a
 * shared WebAssembly.Memory, which their handle carries to other threads.
 * What a user relies on: the handle attaches anywhere, growth in one thread
 * reaches every other (its JS views and its WebAssembly set), only the map
 * kinds the fused set takes get a memory, and a handle whose memory is not
 * the map's is refused with nothing changed.
 */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { InvalidHandleError, MapFullError, SharedMap } from '../../src/index.js';
import { checkInvariants } from '../../src/shm/debug.js';
import { wasmApi } from '../../src/shm/wasm-api.js';
import { requireDist, spawn } from './support.js';
import { distPath } from '../helpers/paths.js';

requireDist();

const x64 = process.arch === 'x64';

describe('a map in a WebAssembly.Memory', () => {
  it.runIf(x64)('is made for one-word integer keys with number values, and for nothing else', () => {
    const memory = (o: Parameters<typeof SharedMap.create>[0]) => SharedMap.create(o).handle.memory !== undefined;
    for (const key of ['int32', 'uint32'] as const)
      for (const value of ['int32', 'uint32', 'float64'] as const) expect(memory({ key, value })).toBe(true);
    expect(memory({})).toBe(true); // int32 -> float64, the default
    expect(memory({ key: 'float64' })).toBe(false);
    expect(memory({ key: 'string:16', value: 'float64' })).toBe(false);
    expect(memory({ key: 'int32', value: 'string:8' })).toBe(false);
    expect(memory({ key: 'int32', ttl: true })).toBe(false);
    expect(memory({ key: 'int32', leases: true })).toBe(false);
    expect(memory({ key: 'int32', sync: 'none' })).toBe(false);
    const m = SharedMap.create<number, number>({});
    expect(m.wasmSet).not.toBeNull();
    expect(m.handle.buffer).toBeInstanceOf(SharedArrayBuffer);
  });

  it.runIf(x64)(
    'grows in a worker; this thread then reads and overwrites every key, through its JS views and its WebAssembly set',
    async () => {
      const map = SharedMap.create<number, number>({ capacity: 16 });
      const first = map.stats().bytes;
      const n = 40_000;
      const run = spawn<{ wasm: boolean; bytes: number }>('map-wasm-grower.mjs', {
        handle: map.handle,
        from: 0,
        to: n,
      });
      const r = await run.result;
      expect(r.wasm).toBe(true);
      expect(r.bytes).toBeGreaterThan(8 * first);
      expect(map.stats().bytes).toBe(r.bytes);
      expect(map.size).toBe(n);
      for (let k = 0; k < n; k++) if (map.get(k) !== -k) expect(map.get(k), `key ${k}`).toBe(-k);
      for (let k = 0; k < n; k++) map.set(k, k + 0.5);
      for (let k = 0; k < n; k++) if (map.get(k) !== k + 0.5) expect(map.get(k), `key ${k}`).toBe(k + 0.5);
      // A handle taken now carries the grown buffer, and attaches.
      expect(map.handle.buffer.byteLength).toBe(r.bytes);
      expect(SharedMap.attach<number, number>(map.handle).get(n - 1)).toBe(n - 0.5);
      checkInvariants(map);
    },
  );

  it.runIf(x64)('a memory that cannot grow is MapFullError saying so, and the map is unchanged', () => {
    const map = SharedMap.create<number, number>({ capacity: 16, shards: 1 });
    for (let k = 0; k < 12; k++) map.set(k, k);
    const memory = map.handle.memory!;
    // What a reservation V8 made smaller than asked does (options.ts, addressSpaceLimited).
    Object.defineProperty(memory, 'grow', {
      value: () => {
        throw new RangeError('WebAssembly.Memory.grow(): Unable to grow instance memory');
      },
    });
    const before = map.snapshot();
    let error: unknown;
    for (let k = 12; k < 100_000 && error === undefined; k++) {
      try {
        map.set(k, k);
      } catch (e) {
        error = e;
      }
    }
    expect(error).toBeInstanceOf(MapFullError);
    expect((error as Error).message).toMatch(
      /its WebAssembly.Memory could not grow to \d+ bytes .*set options\.maxCapacity/,
    );
    const after = map.snapshot();
    expect(after.length).toBeGreaterThanOrEqual(before.length);
    for (const [k, v] of after) expect(v).toBe(k); // what went in before the error, whole
    map.set(3, -3); // overwrites still work
    expect(map.get(3)).toBe(-3);
    checkInvariants(map);
  });

  it.runIf(x64 && process.platform === 'linux')(
    'under an address-space limit, maps live in a SharedArrayBuffer (whose reservation fails at create)',
    () => {
      const script = `
      import { SharedMap } from ${JSON.stringify(distPath('index.js'))};
      const m = SharedMap.create({});
      m.set(1, 2);
      console.log(JSON.stringify([m.handle.memory === undefined, m.get(1)]));`;
      const run = (limit: boolean) =>
        spawnSync(
          'sh',
          [
            '-c',
            (limit ? 'ulimit -v 4000000 && ' : '') + 'exec "$0" --input-type=module -e "$1"',
            process.execPath,
            script,
          ],
          {
            encoding: 'utf8',
            timeout: 60_000,
          },
        );
      const limited = run(true);
      expect(limited.stderr).toBe('');
      expect(JSON.parse(limited.stdout)).toEqual([true, 2]);
      const free = run(false);
      expect(JSON.parse(free.stdout)).toEqual([false, 2]); // the control: without the limit, a memory
    },
  );

  it.runIf(x64)('refuses a handle whose memory is not a shmap map, and changes nothing', () => {
    const map = SharedMap.create<number, number>({});
    for (let k = 0; k < 100; k++) map.set(k, k);
    const before = new Int32Array(map.handle.buffer).slice();
    const other = new wasmApi!.Memory({ initial: 1, maximum: 2, shared: true });
    const notShared = new wasmApi!.Memory({ initial: 1, maximum: 2, shared: false });
    const handles: unknown[] = [
      { ...map.handle, memory: {} },
      { ...map.handle, memory: map.handle.buffer },
      { ...map.handle, memory: other },
      { ...map.handle, memory: notShared },
    ];
    const messages = handles.map((h) => {
      try {
        SharedMap.attach(h as never);
        return 'attached';
      } catch (e) {
        expect(e).toBeInstanceOf(InvalidHandleError);
        return (e as Error).message;
      }
    });
    expect(messages[0]).toMatch(/memory must be the shared WebAssembly.Memory/);
    expect(messages[1]).toMatch(/memory must be the shared WebAssembly.Memory/);
    expect(messages[2]).toMatch(/not a shmap map/);
    expect(messages[3]).toMatch(/memory must be the shared WebAssembly.Memory/);
    expect(Array.from(new Int32Array(map.handle.buffer))).toEqual(Array.from(before));
    expect(map.get(99)).toBe(99);
  });
});

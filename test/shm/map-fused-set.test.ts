/**
 * The fused `set` (map.ts `setNumber`; window.ts, "The fused set") makes
 * the general path's stores inline for int32 and
 * uint32 keys with int32, uint32 or float64 values, and its overwrite runs
 * in WebAssembly (wasm.ts) when the map lives in a WebAssembly.Memory. Each
 * must leave exactly what the general path leaves: the same op sequence on
 * a map with the WebAssembly overwrite, one with the JS fused set
 * (`setWasmSet(false)`) and one with the general path (`setFusedSet(false)`),
 * same seed, gives buffers equal word for word (but the random map id),
 * including the undo slots, the intent records and the last-writer notes.
 * And bad input takes the general path's errors, with nothing changed.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { SharedMap, ShmapTypeError, ValueTooLargeError } from '../../src/index.js';
import { setFusedSet, setWasmSet } from '../../src/shm/core.js';
import { compile, type WasmSet } from '../../src/shm/wasm.js';
import { wasmApi } from '../../src/shm/wasm-api.js';
import { H_MAP_ID } from '../../src/shm/layout.js';
import { setPark } from '../../src/shm/window.js';
import { Rng } from '../../src/rng.js';
import { threadId } from 'node:worker_threads';
import { checkInvariants } from '../../src/shm/debug.js';

type Kind = 'int32' | 'uint32' | 'float64';
type AnyMap = SharedMap<number, number>;

const KINDS: Array<[Kind, Kind]> = [
  ['int32', 'int32'],
  ['int32', 'uint32'],
  ['int32', 'float64'],
  ['uint32', 'int32'],
  ['uint32', 'uint32'],
  ['uint32', 'float64'],
];

/** Which set a map takes: the WebAssembly overwrite, the JS fused set, the general path. */
type Path = 'wasm' | 'js' | 'general';

/** A map of these types taking this path (small: the ops below grow it). */
function make(key: Kind, value: Kind, path: Path | boolean): AnyMap {
  if (path === true) path = 'wasm';
  if (path === false) path = 'general';
  setFusedSet(path !== 'general');
  setWasmSet(path === 'wasm');
  try {
    return SharedMap.create<number, number>({ key, value, capacity: 16, seed: 0x5eed });
  } finally {
    setFusedSet(true);
    setWasmSet(true);
  }
}

/** Counts the calls of a map's WebAssembly set (the test must know the path ran). */
function countWasmCalls(m: AnyMap): { calls: number } {
  const n = { calls: 0 };
  const inner = m.wasmSet!;
  (m as unknown as { wasmSet: WasmSet }).wasmSet = (d, h, w, v) => {
    n.calls++;
    return inner(d, h, w, v);
  };
  return n;
}

/** Words of the two maps' buffers that differ, the map id aside (it is random per map). */
function differingWords(a: AnyMap, b: AnyMap): number[] {
  const x = new Int32Array(a.handle.buffer);
  const y = new Int32Array(b.handle.buffer);
  const out: number[] = [];
  for (let i = 0; i < Math.max(x.length, y.length); i++) if (i !== H_MAP_ID && x[i] !== y[i]) out.push(i);
  return out;
}

function keyOf(kind: Kind, rng: Rng): number {
  const i = rng.below(300);
  // A few extremes among small keys (so they repeat: overwrites, deletes of present keys).
  if (i === 0) return kind === 'int32' ? -(2 ** 31) : 2 ** 32 - 1;
  if (i === 1) return kind === 'int32' ? 2 ** 31 - 1 : 2 ** 31;
  if (i === 2) return -0;
  return kind === 'int32' ? i * 7919 - 1_000_000 : i * 7919;
}

function valueOf(kind: Kind, rng: Rng): number {
  const x = rng.below(1 << 30);
  if (kind === 'int32') return x % 3 === 0 ? -x : x;
  if (kind === 'uint32') return x % 3 === 0 ? 2 ** 32 - 1 - x : x;
  return x % 5 === 0 ? NaN : x % 7 === 0 ? -0 : x / 7;
}

/** The same seeded ops on every map: sets (inserts and overwrites, growing the map), deletes, gets, updates. */
function run(maps: AnyMap[], key: Kind, value: Kind, seed: number, ops: number): void {
  const rng = new Rng(seed);
  for (let n = 0; n < ops; n++) {
    const k = keyOf(key, rng);
    const v = valueOf(value, rng);
    const op = rng.below(10);
    for (const m of maps) {
      if (op < 6) m.set(k, v);
      else if (op < 8) m.delete(k);
      else if (op < 9) m.get(k);
      else m.update(k, (old) => (old === undefined ? v : old));
    }
  }
}

afterEach(() => {
  setFusedSet(true);
  setPark(null);
});

describe('fused set', () => {
  it.each(KINDS)('%s -> %s: leaves the buffer the general path leaves, word for word', (key, value) => {
    const wasm = make(key, value, 'wasm');
    const js = make(key, value, 'js');
    const general = make(key, value, 'general');
    expect(wasm.wasmSet).not.toBeNull();
    expect(js.wasmSet).toBeNull();
    expect(js.fusedSet).not.toBe(0);
    expect(general.fusedSet).toBe(0);
    const wasmCalls = countWasmCalls(wasm);
    run([wasm, js, general], key, value, 11, 4000);
    expect(wasm.size).toBeGreaterThan(100);
    expect(wasmCalls.calls).toBeGreaterThan(1000);
    expect(differingWords(js, general)).toEqual([]);
    expect(differingWords(wasm, general)).toEqual([]);
    expect(wasm.snapshot()).toEqual(general.snapshot());
    checkInvariants(wasm);
    checkInvariants(js);
  });

  it('in a memory that grows many times, overwrites through WebAssembly reach every region', () => {
    const wasm = make('uint32', 'float64', 'wasm');
    const general = make('uint32', 'float64', 'general');
    const first = wasm.stats().bytes;
    for (let k = 0; k < 30_000; k++) for (const m of [wasm, general]) m.set((k * 2654435761) >>> 0, k);
    const calls = countWasmCalls(wasm);
    for (let k = 0; k < 30_000; k++) for (const m of [wasm, general]) m.set((k * 2654435761) >>> 0, -k / 3);
    expect(calls.calls).toBe(30_000);
    expect(wasm.stats().bytes).toBeGreaterThan(8 * first);
    expect(differingWords(wasm, general)).toEqual([]);
    expect(wasm.get((29_999 * 2654435761) >>> 0)).toBe(-29_999 / 3);
    checkInvariants(wasm);
  });

  it('negative control: a WebAssembly set that notes the wrong last writer is found', () => {
    const wasm = make('int32', 'float64', 'wasm');
    const general = make('int32', 'float64', 'general');
    for (let i = 0; i < 50; i++) for (const m of [wasm, general]) m.set(i, i);
    // The map's own module but for the thread it notes (D_LAST_THREAD).
    const core = wasm as unknown as { wasmSet: WasmSet; shard0I32: number; undo0I32: number; slotWords: number };
    const bytes = compile({
      shard0: core.shard0I32 << 2,
      undo0: core.undo0I32 << 2,
      slotBytes: core.slotWords << 2,
      keyOff: wasm.keyOffI32 << 2,
      valueOff: wasm.valueOffI32 << 2,
      savedWords: 2,
      float64Value: true,
      waitersBit: 1 << 30,
      owner: threadId + 1,
      thread: threadId + 7,
    });
    const instance = new wasmApi!.Instance(new wasmApi!.Module(bytes), { m: { m: wasm.handle.memory } });
    core.wasmSet = instance.exports.set as WasmSet;
    for (const m of [wasm, general]) m.set(7, 0.5);
    const diff = differingWords(wasm, general);
    expect(diff.length).toBe(1);
    expect(new Int32Array(wasm.handle.buffer)[diff[0]!]).toBe(threadId + 7);
  });

  it('negative control: a fused write that stores one word more is found', () => {
    const fused = make('int32', 'float64', true);
    const general = make('int32', 'float64', false);
    for (let i = 0; i < 50; i++) for (const m of [fused, general]) m.set(i, i);
    // Only the fused map's overwrites (park runs inside the write window of both paths).
    let armed = false;
    const words = new Int32Array(fused.handle.buffer);
    setPark((point) => {
      if (armed && point === 'set:overwrite') words[H_MAP_ID + 1]!++;
    });
    armed = true;
    fused.set(7, 0.5);
    armed = false;
    general.set(7, 0.5);
    expect(differingWords(fused, general)).toEqual([H_MAP_ID + 1]);
  });

  it('is taken only where it applies: number keys of one word, number values, no TTL, leases or sync none', () => {
    const on = (o: Parameters<typeof SharedMap.create>[0]): number => SharedMap.create(o).fusedSet;
    for (const [key, value] of KINDS) expect(on({ key, value })).not.toBe(0);
    expect(on({ key: 'float64', value: 'float64' })).toBe(0);
    expect(on({ key: 'bigint64', value: 'int32' })).toBe(0);
    expect(on({ key: 'string:16', value: 'float64' })).toBe(0);
    expect(on({ key: 'int32', value: 'bigint64' })).toBe(0);
    expect(on({ key: 'int32', value: 'string:8' })).toBe(0);
    expect(on({ key: 'int32', value: 'float64', ttl: true })).toBe(0);
    expect(on({ key: 'int32', value: 'float64', leases: true })).toBe(0);
    expect(on({ key: 'int32', value: 'float64', sync: 'none' })).toBe(0);
  });

  it.each(KINDS)('%s -> %s: bad keys and values get the general path errors, and change nothing', (key, value) => {
    const m = make(key, value, true);
    for (let i = 0; i < 40; i++) m.set(i, i);
    const before = new Int32Array(m.handle.buffer).slice();
    const badKeys: unknown[] = [1.5, NaN, '1', 1n, null, undefined, { valueOf: () => 1 }];
    badKeys.push(key === 'int32' ? 2 ** 31 : -1);
    for (const k of badKeys) expect(() => m.set(k as number, 1)).toThrow(ShmapTypeError);
    const badValues: unknown[] = ['1', 1n, null, undefined, { valueOf: () => 1 }];
    if (value !== 'float64') badValues.push(1.5, NaN);
    for (const v of badValues) expect(() => m.set(3, v as number)).toThrow(ShmapTypeError);
    if (value !== 'float64') {
      const out = value === 'int32' ? [2 ** 31, -(2 ** 31) - 1] : [-1, 2 ** 32];
      for (const v of out) expect(() => m.set(3, v)).toThrow(ValueTooLargeError);
    }
    expect(Array.from(new Int32Array(m.handle.buffer))).toEqual(Array.from(before));
    expect(m.get(3)).toBe(3);
  });
});

describe('fused set with metrics', () => {
  it('counts inserts and overwrites, and samples each under its own key (not the last key prepared)', () => {
    const map = SharedMap.create<number, number>({
      key: 'int32',
      value: 'float64',
      metrics: { sampleEvery: 1, hotKeys: 8 },
    });
    expect(map.fusedSet).not.toBe(0);
    map.set(1, 0.5);
    map.set(2, 0.5); // the last key prepared (an insert prepares its key) is 2
    for (let i = 0; i < 100; i++) map.set(1, i);
    for (let i = 0; i < 10; i++) map.set(3, i);
    expect(map.metrics().sets).toEqual({ insert: 3, overwrite: 109 });
    const hot = map.hotKeys(3);
    expect(hot.map((h) => h.key)).toEqual([1, 3, 2]);
  });
});

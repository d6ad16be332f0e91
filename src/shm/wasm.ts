/**
 * The fused set's overwrite in WebAssembly: lock, probe, the window's
 * stores, unlock, in one call that makes no JS `Atomics` call.
 *
 * Why. An uncontended take of a lock word costs 16-28 ns through
 * `Atomics.compareExchange` (V8 calls a builtin for it and does not inline
 * it) and 9-13 ns as WebAssembly's `i32.atomic.rmw.cmpxchg`, which V8
 * compiles to the one `lock cmpxchg` (bench:core prints both). A whole
 * overwrite of an int32 -> float64 entry written in WebAssembly took
 * 18-24 ns here, a `Map.set` 26-29 ns and the JS fused set 74-85 ns (1,024
 * keys, one process, Node 20 and 26). WebAssembly reaches only its own
 * memory, so a map that uses this lives in a shared `WebAssembly.Memory`
 * (options.ts, `createBuffer`; its `buffer` is the map's SharedArrayBuffer,
 * and the handle carries the memory to other threads).
 *
 * What it does is `SharedMap.setNumber`'s overwrite (map.ts) store for
 * store, in the same order, with the same plain stores, so every argument
 * of window.ts ("Ordering", "The fused set") holds for it as written there:
 * WebAssembly's plain stores, like typed-array stores, are emitted in
 * program order, and x86-64 keeps them in order (the fused set exists only
 * there; `node --print-wasm-code` shows every store of the list below,
 * in its order, in the code Node 20 and Node 26 generate). The probe is
 * `Table.findWordForWrite`'s, the home slot computed
 * with the same float64 arithmetic as `homeIndex`. map-fused-set.test.ts
 * runs one op sequence through this, the JS fused set and the general path
 * and compares the buffers word for word.
 *
 * `set(d, h, w, value)`: `d` the shard descriptor's byte offset, `h` the
 * key's hash, `w` the key's word. Returns the slot's word index when it
 * overwrote (lock released), or
 * - WASM_ABSENT: the key is not in the table; the lock is held (taken, its
 *   op noted), nothing else written: the caller inserts and unlocks;
 * - WASM_BUSY: the lock word was not 0; nothing written: the caller takes
 *   the lock its own way;
 * - WASM_WAKE: overwrote, but a waiter announced itself on the lock word
 *   (LOCK_WAITERS): the caller frees the lock with the exchange and notify.
 *
 * The module is assembled here from its instructions (no toolchain, no
 * file to fall out of step): `compile` emits the binary format by hand.
 */
import {
  D_CAP,
  D_HOLD_OP,
  D_LAST_OP,
  D_LAST_SEQ,
  D_LAST_SLOT,
  D_LAST_THREAD,
  D_LOCK,
  D_REGION,
  D_SEQ,
  D_UNDO_AT,
  D_UNDO_KIND,
  D_UNDO_WORD,
  H_ITERATING,
  H_ITER_WRITES,
  SHARD_BYTES,
  UNDO_SLOT,
  CTRL_FULL_BIT,
  CTRL_EMPTY,
} from './layout.js';
import { OP } from './conflict-log.js';
import { wasmApi, type WasmMemory } from './wasm-api.js';

export const WASM_ABSENT = -1;
export const WASM_BUSY = -2;
export const WASM_WAKE = -3;

/** The layout one map's set needs, in bytes unless named otherwise. */
export interface WasmSetLayout {
  /** Byte offset of shard 0's descriptor. */
  shard0: number;
  /** Byte offset of the undo area (one slot's worth per shard). */
  undo0: number;
  slotBytes: number;
  keyOff: number;
  valueOff: number;
  /** Words of a slot's value saved before an overwrite: 1 or 2 (`overwrittenEndI32 - valueOffI32`). */
  savedWords: number;
  /** The value's type: a float64, or an int32/uint32 word. */
  float64Value: boolean;
  /** LOCK_WAITERS (window.ts). */
  waitersBit: number;
  /** This thread's lock owner value (threadId + 1) and threadId. */
  owner: number;
  thread: number;
}

export type WasmSet = (d: number, h: number, w: number, value: number) => number;

// --- the binary format, the part of it this module uses -----------------

const I32 = 0x7f;
const F64 = 0x7c;

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

function section(id: number, body: number[]): number[] {
  return [id, ...uleb(body.length), ...body];
}

function vec(items: number[][]): number[] {
  return [...uleb(items.length), ...items.flat()];
}

function name(s: string): number[] {
  return [...uleb(s.length), ...[...s].map((c) => c.charCodeAt(0))];
}

// Instructions. Memory accesses take a constant byte offset (the memarg's).
const get = (l: number) => [0x20, ...uleb(l)];
const set = (l: number) => [0x21, ...uleb(l)];
const tee = (l: number) => [0x22, ...uleb(l)];
const i32c = (n: number) => [0x41, ...sleb(n | 0)];
const f64c = (x: number) => [0x44, ...new Uint8Array(new Float64Array([x]).buffer)];
const load32 = (off: number) => [0x28, 2, ...uleb(off)];
const load64 = (off: number) => [0x29, 0, ...uleb(off)];
const store32 = (off: number) => [0x36, 2, ...uleb(off)];
const store64 = (off: number) => [0x37, 0, ...uleb(off)];
const storeF64 = (off: number) => [0x39, 0, ...uleb(off)];
const cmpxchg32 = (off: number) => [0xfe, 0x48, 2, ...uleb(off)];
const atomicAdd32 = (off: number) => [0xfe, 0x1e, 2, ...uleb(off)];
const EQ = 0x46;
const GE_U = 0x4f;
const ADD = 0x6a;
const SUB = 0x6b;
const MUL = 0x6c;
const AND = 0x71;
const OR = 0x72;
const SHR_U = 0x76;
const F64_MUL = 0xa2;
const F64_FROM_U32 = 0xb8;
const I32_FROM_F64_S = 0xaa;
const DROP = 0x1a;
const BLOCK = [0x02, 0x40];
const LOOP = [0x03, 0x40];
const IF = [0x04, 0x40];
const END = 0x0b;
const RETURN = 0x0f;
const br = (depth: number) => [0x0c, ...uleb(depth)];
const brIf = (depth: number) => [0x0d, ...uleb(depth)];

/** Byte offset of descriptor word `w` from the descriptor. */
const dw = (w: number) => w * 4;

/** The module's bytes for one map's layout (its constants are immediates). */
export function compile(L: WasmSetLayout): Uint8Array {
  // Locals: params 0-3 (d, h, w, value), then these.
  const [d, h, w, v] = [0, 1, 2, 3];
  const [region, cap, i, at, c, want, n, seq, saved, s] = [4, 5, 6, 7, 8, 9, 10, 11, 12, 13];
  const keyOffW = L.keyOff >> 2;
  // One line per step of the protocol, as in map.ts `setNumber`.
  // prettier-ignore
  const overwrite = [
    // s = (d - shard0) / SHARD_BYTES; saved = undo0 + s * slotBytes + valueOff
    ...get(d), ...i32c(L.shard0), SUB, ...i32c(Math.log2(SHARD_BYTES)), SHR_U, ...set(s),
    ...get(s), ...i32c(L.slotBytes), MUL, ...i32c(L.undo0 + L.valueOff), ADD, ...set(saved),
    // intend(UNDO_SLOT): the old value into the undo area, then the record
    ...get(saved), ...get(at),
    ...(L.savedWords === 2 ? [...load64(L.valueOff), ...store64(0)] : [...load32(L.valueOff), ...store32(0)]),
    ...get(d), ...get(at), ...i32c(2), SHR_U, ...store32(dw(D_UNDO_AT)),
    ...get(d), ...i32c(0), ...store32(dw(D_UNDO_WORD)),
    ...get(d), ...i32c(UNDO_SLOT), ...store32(dw(D_UNDO_KIND)),
    // begin: the seq odd (a plain store)
    ...get(d), ...get(d), ...load32(dw(D_SEQ)), ...i32c(1), ADD, ...tee(seq), ...store32(dw(D_SEQ)),
    // a running forEach: bump H_ITER_WRITES (window.ts, "Iterations")
    ...i32c(0), ...load32(H_ITERATING * 4), ...IF,
    ...i32c(0), ...i32c(1), ...atomicAdd32(H_ITER_WRITES * 4), DROP,
    END,
    // the value
    ...get(at), ...get(v), ...(L.float64Value ? storeF64(L.valueOff) : store32(L.valueOff)),
    // end: the last writer, the intent cleared, the seq even
    ...get(d), ...i32c(L.thread), ...store32(dw(D_LAST_THREAD)),
    ...get(d), ...i32c(OP.set), ...store32(dw(D_LAST_OP)),
    ...get(d), ...get(at), ...i32c(2), SHR_U, ...i32c(keyOffW), ADD, ...store32(dw(D_LAST_SLOT)),
    ...get(d), ...get(seq), ...i32c(1), ADD, ...store32(dw(D_LAST_SEQ)),
    ...get(d), ...i32c(0), ...store32(dw(D_UNDO_KIND)),
    ...get(d), ...get(seq), ...i32c(1), ADD, ...store32(dw(D_SEQ)),
    // unlock: a plain store of 0 unless a waiter announced itself
    ...get(d), ...load32(dw(D_LOCK)), ...i32c(L.waitersBit), AND, ...IF,
    ...i32c(WASM_WAKE), RETURN,
    END,
    ...get(d), ...i32c(0), ...store32(dw(D_LOCK)),
    ...get(at), ...i32c(2), SHR_U, RETURN,
  ];
  // prettier-ignore
  const body = [
    // lock: CAS 0 -> owner; the holder's op
    ...get(d), ...i32c(0), ...i32c(L.owner), ...cmpxchg32(dw(D_LOCK)), ...IF,
    ...i32c(WASM_BUSY), RETURN,
    END,
    ...get(d), ...i32c(OP.set), ...store32(dw(D_HOLD_OP)),
    // the probe (Table.findWordForWrite)
    ...get(d), ...load32(dw(D_REGION)), ...set(region),
    ...get(d), ...load32(dw(D_CAP)), ...set(cap),
    ...get(h), ...i32c(1), SHR_U, ...i32c(CTRL_FULL_BIT), OR, ...set(want),
    // homeIndex: (tag * cap * 2^-31) | 0, in float64 as in JS
    ...get(h), ...i32c(1), SHR_U, F64_FROM_U32, ...get(cap), F64_FROM_U32, F64_MUL, ...f64c(2 ** -31), F64_MUL,
    I32_FROM_F64_S, ...set(i),
    ...i32c(0), ...set(n),
    ...BLOCK,
    ...LOOP,
    // n === cap: no EMPTY slot met (unreachable while the load factor holds)
    ...get(n), ...get(cap), GE_U, ...brIf(1),
    ...get(region), ...get(i), ...i32c(L.slotBytes), MUL, ADD, ...tee(at), ...load32(0), ...tee(c),
    ...get(want), EQ, ...IF,
    ...get(at), ...load32(L.keyOff), ...get(w), EQ, ...IF, ...overwrite, END,
    END,
    ...get(c), ...i32c(CTRL_EMPTY), EQ, ...brIf(1),
    ...get(i), ...i32c(1), ADD, ...tee(i), ...get(cap), EQ, ...IF, ...i32c(0), ...set(i), END,
    ...get(n), ...i32c(1), ADD, ...set(n),
    ...br(0),
    END,
    END,
    ...i32c(WASM_ABSENT),
    END,
  ];
  const locals = vec([[10, ...uleb(I32)]]);
  const code = [...locals, ...body];
  return new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, vec([[0x60, ...vec([[I32], [I32], [I32], [L.float64Value ? F64 : I32]]), ...vec([[I32]])]])),
    // import "m" "m": a shared memory (limits flag 3: shared, with a maximum)
    ...section(2, vec([[...name('m'), ...name('m'), 0x02, 0x03, ...uleb(0), ...uleb(65536)]])),
    ...section(3, vec([[0]])),
    ...section(7, vec([[...name('set'), 0x00, 0]])),
    ...section(10, vec([[...uleb(code.length), ...code]])),
  ]);
}

/** Modules compiled in this thread, by their bytes (maps of one layout share one). */
const modules = new Map<string, object>();

/**
 * The set for one map handle over `memory`. A map gets a memory only where
 * WebAssembly has shared memories (options.ts), so a failure here is a
 * defect and throws.
 */
export function wasmSet(memory: WasmMemory, layout: WasmSetLayout): WasmSet {
  const bytes = compile(layout);
  const key = bytes.join(',');
  let mod = modules.get(key);
  if (mod === undefined) {
    mod = new wasmApi!.Module(bytes);
    modules.set(key, mod);
  }
  const instance = new wasmApi!.Instance(mod, { m: { m: memory } });
  return instance.exports.set as WasmSet;
}

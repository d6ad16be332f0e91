/**
 * What one lock acquisition costs JavaScript, against what the instruction
 * costs: bench:core prints this table after its own, next to the int32 set
 * row it explains. Every write to a 'lock' map takes its shard's lock with
 * one `Atomics.compareExchange` (window.ts); this runs the same uncontended
 * take-and-release (a CAS from 0, one plain store under the lock, a plain
 * store of 0) over the same 1,024 lock words of one shared memory in three
 * ways:
 *
 * - `Atomics.compareExchange`: a call of V8's builtin (what the map does);
 * - WebAssembly `i32.atomic.rmw.cmpxchg`: the same `lock cmpxchg`
 *   instruction, compiled into a small exported function the loop calls;
 * - no CAS: a plain load in its place (not a lock: the floor of the loop).
 *
 * The memory is a shared `WebAssembly.Memory`, whose buffer is a
 * SharedArrayBuffer; the map's own buffer is not one (a SharedArrayBuffer
 * cannot become a wasm memory), which is why the map cannot use the wasm
 * form today. CPU ns per op, median of alternating rounds.
 */
/** A wasm module importing a shared memory `e.m` and exporting `cas(byteAddr, owner) -> old`: cmpxchg(addr, 0, owner). */
function casModule(): Uint8Array {
  // local.get 0; i32.const 0; local.get 1; i32.atomic.rmw.cmpxchg align=2 offset=0; end
  const body = [0x00, 0x20, 0x00, 0x41, 0x00, 0x20, 0x01, 0xfe, 0x48, 0x02, 0x00, 0x0b];
  return new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00], // magic, version
    ...[0x01, 0x07, 0x01, 0x60, 0x02, 0x7f, 0x7f, 0x01, 0x7f], // types: (i32, i32) -> i32
    ...[0x02, 0x09, 0x01, 0x01, 0x65, 0x01, 0x6d, 0x02, 0x03, 0x01, 0x10], // import e.m: shared memory 1..16 pages
    ...[0x03, 0x02, 0x01, 0x00], // one function of type 0
    ...[0x07, 0x07, 0x01, 0x03, 0x63, 0x61, 0x73, 0x00, 0x00], // export "cas"
    ...[0x0a, body.length + 2, 0x01, body.length, ...body], // its code
  ]);
}

/** The part of the WebAssembly global this uses (the project's TypeScript libraries do not declare it). */
interface Wasm {
  Memory: new (d: { initial: number; maximum: number; shared: boolean }) => { buffer: SharedArrayBuffer };
  instantiate(bytes: Uint8Array, imports: object): Promise<{ instance: { exports: Record<string, unknown> } }>;
}

const OPS = 1 << 20;
const ROUNDS = 9;

/** The table (markdown), or a line saying why there is none. */
export async function casFloor(): Promise<string> {
  let cas: (addr: number, owner: number) => number;
  let i32: Int32Array;
  try {
    const wasm = (globalThis as unknown as { WebAssembly: Wasm }).WebAssembly;
    const memory = new wasm.Memory({ initial: 1, maximum: 16, shared: true });
    const { instance } = await wasm.instantiate(casModule(), { e: { m: memory } });
    cas = instance.exports.cas as typeof cas;
    i32 = new Int32Array(memory.buffer);
  } catch (err) {
    return `lock acquisition floor: not measured (WebAssembly shared memory unavailable: ${String(err)})`;
  }
  // 1,024 lock words, 64 bytes apart, visited in a scattered order.
  const at = new Int32Array(1024);
  for (let i = 0; i < at.length; i++) at[i] = ((i * 613) & 1023) * 16;
  const cases: Array<[string, () => number]> = [
    [
      'Atomics.compareExchange',
      function () {
        let n = 0;
        for (let i = 0; i < OPS; i++) {
          const a = at[i & 1023]!;
          if (Atomics.compareExchange(i32, a, 0, 7) === 0) {
            i32[a + 1] = i;
            i32[a] = 0;
            n++;
          }
        }
        return n;
      },
    ],
    [
      'WebAssembly i32.atomic.rmw.cmpxchg',
      function () {
        let n = 0;
        for (let i = 0; i < OPS; i++) {
          const a = at[i & 1023]!;
          if (cas(a << 2, 7) === 0) {
            i32[a + 1] = i;
            i32[a] = 0;
            n++;
          }
        }
        return n;
      },
    ],
    [
      'no CAS (a plain load)',
      function () {
        let n = 0;
        for (let i = 0; i < OPS; i++) {
          const a = at[i & 1023]!;
          if (i32[a] === 0) {
            i32[a + 1] = i;
            i32[a] = 0;
            n++;
          }
        }
        return n;
      },
    ],
  ];
  const ns: number[][] = cases.map(() => []);
  for (let r = 0; r <= ROUNDS; r++) {
    for (let c = 0; c < cases.length; c++) {
      const k = r % 2 === 0 ? c : cases.length - 1 - c;
      const t = process.cpuUsage();
      if (cases[k]![1]() !== OPS) throw new Error(`lock acquisition floor: ${cases[k]![0]} did not take every lock`);
      const e = process.cpuUsage(t);
      if (r > 0) ns[k]!.push(((e.user + e.system) * 1000) / OPS);
    }
  }
  const median = (v: number[]) => v.sort((a, b) => a - b)[v.length >> 1]!;
  const lines = [
    `\nlock acquisition floor: an uncontended take and release of one of 1,024 lock words (CAS 0 -> owner, one plain store, a plain store of 0), Node ${process.version}, CPU ns per op, median of ${ROUNDS} alternating rounds of ${OPS.toLocaleString('en-US')}:`,
    '| how | ns/op |',
    '|---|---:|',
    ...cases.map(([name], k) => `| ${name} | ${median(ns[k]!).toFixed(1)} |`),
  ];
  return lines.join('\n');
}

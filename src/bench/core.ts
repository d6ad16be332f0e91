/**
 * `npm run bench:core`: SharedMap against a plain Map in one thread, the
 * per-operation cost of each, side by side in one run.
 *
 * Rows: int32 -> float64 get and set (overwrite), string:32 -> string:32 get
 * with the stored key object and with an equal string built afresh (as a key
 * parsed from a request is), and `forEach`; each at 1,024 keys (in cache) and
 * 1M keys (memory-bound); string:32 gets with a set every 100th and every
 * 10th operation (where the read cache stops paying). Every measurement
 * does the same pre-generated random sequence of operations on both maps
 * (filled in another order: a
 * `Map` keeps insertion order, which flatters lookups in that order). Rounds
 * alternate which map goes first; the table shows the median round of each
 * and the ratio of the medians, with the range of the per-round ratios.
 * Times are the process's CPU time (`process.cpuUsage`), which a loaded
 * machine inflates far less than wall time.
 *
 * The machine may be shared: the load average is printed before and after.
 * A benchmark, not a test: it exits 0 whatever it measures (an exception is
 * printed and still exits 0).
 *
 * Environment: SHMAP_BENCH_ROUNDS (default 5), SHMAP_BENCH_OPS (operations
 * per measurement, default 2^20), SHMAP_BENCH_SIZES (default "1024,1048576").
 * SHMAP_BENCH_BASELINE=<another build's dist/ directory> adds a table of
 * writes (set, delete + set) timed on that build's SharedMap and on this
 * one, alternating rounds in this process: what a change to the write path
 * costs, side by side.
 * Run with --expose-gc (the npm script does) so each measurement starts from
 * a collected heap.
 */
import { loadavg } from 'node:os';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PerformanceObserver } from 'node:perf_hooks';
import { Buffer } from 'node:buffer';
import { SharedMap } from '../shm/map.js';
import type { SharedMapOptions } from '../shm/types.js';
import { Rng } from '../rng.js';
import { metricsOverhead } from './metrics-overhead.js';
import { casFloor } from './cas-floor.js';

const ROUNDS = Number(process.env.SHMAP_BENCH_ROUNDS ?? 5);
const OPS = Number(process.env.SHMAP_BENCH_OPS ?? 1 << 20);
const SIZES = (process.env.SHMAP_BENCH_SIZES ?? '1024,1048576').split(',').map(Number);

interface AnyMap {
  get(k: unknown): unknown;
  set(k: unknown, v: unknown): unknown;
  has(k: unknown): boolean;
  delete(k: unknown): boolean;
  forEach(fn: (v: unknown, k: unknown) => void): void;
}

/** A deterministic shuffle (the same order in every run). */
function shuffle<T>(a: T[], seed: number): T[] {
  return new Rng(seed).shuffle(a);
}

/** `ops` picks from `keys` in random order, each key about equally often. */
function visitOrder<T>(keys: T[], ops: number, seed: number): T[] {
  const out: T[] = [];
  while (out.length < ops) for (const k of shuffle(keys.slice(), seed + out.length)) out.push(k);
  out.length = ops;
  return out;
}

let gcCount = 0;
new PerformanceObserver((list) => {
  gcCount += list.getEntries().length;
}).observe({ entryTypes: ['gc'] });

const flush = () => new Promise((r) => setImmediate(r));
const collect = (globalThis as { gc?: () => void }).gc ?? (() => {});

/**
 * A copy of `f` with its own type feedback. The loops below call `m.get(k)`
 * on a Map in one measurement and a SharedMap in the next; one shared loop
 * would make every call site polymorphic and slow both down. `f` must not
 * use anything from its surrounding scope.
 */
function ownCopy<F extends (...args: never[]) => unknown>(f: F): F {
  return new Function(`return (${f.toString()});`)() as F;
}

type Loop = (m: AnyMap, keys: unknown[], values: unknown[]) => number;

// Function expressions, not methods: `ownCopy` re-evaluates their source text.
const LOOPS = {
  get: function (m: AnyMap, keys: unknown[]): number {
    let x = 0;
    for (let i = 0; i < keys.length; i++) if (m.get(keys[i]) !== undefined) x++;
    return x;
  },
  set: function (m: AnyMap, keys: unknown[], values: unknown[]): number {
    const n = values.length;
    for (let i = 0; i < keys.length; i++) m.set(keys[i], values[i % n]);
    return keys.length;
  },
  deleteSet: function (m: AnyMap, keys: unknown[], values: unknown[]): number {
    const n = values.length;
    for (let i = 0; i < keys.length; i++) {
      m.delete(keys[i]);
      m.set(keys[i], values[i % n]);
    }
    return keys.length;
  },
  // Gets with a set every 100th / 10th op: each set moves its shard's seq,
  // so it shows where the read cache (read-cache.ts) stops paying.
  getSet100: function (m: AnyMap, keys: unknown[], values: unknown[]): number {
    const n = values.length;
    let x = 0;
    for (let i = 0; i < keys.length; i++) {
      if (i % 100 === 0) m.set(keys[i], values[i % n]);
      else if (m.get(keys[i]) !== undefined) x++;
    }
    return x;
  },
  getSet10: function (m: AnyMap, keys: unknown[], values: unknown[]): number {
    const n = values.length;
    let x = 0;
    for (let i = 0; i < keys.length; i++) {
      if (i % 10 === 0) m.set(keys[i], values[i % n]);
      else if (m.get(keys[i]) !== undefined) x++;
    }
    return x;
  },
  forEach: function (m: AnyMap, keys: unknown[]): number {
    // keys.length / size passes over the whole map.
    let x = 0;
    let visited = 0;
    while (visited < keys.length) {
      m.forEach((v) => {
        x += v as number;
        visited++;
      });
    }
    return x;
  },
} satisfies Record<string, Loop>;

interface Target {
  max: number;
}

interface Row {
  op: string;
  keys: number;
  keyObject: string;
  mapNs: number;
  sharedNs: number;
  ratioLo: number;
  ratioHi: number;
  target?: Target;
}

/**
 * One measurement: `loop` over `keys.length` operations on `m`, CPU ns per
 * operation. CPU time of this process, not wall time: on a machine shared
 * with other work, time spent waiting for a core is not the map's.
 */
async function timeOnce(loop: Loop, m: AnyMap, keys: unknown[], values: unknown[]): Promise<number> {
  collect();
  await flush();
  const t0 = process.cpuUsage();
  const check = loop(m, keys, values);
  const cpu = process.cpuUsage(t0);
  const ns = ((cpu.user + cpu.system) * 1000) / keys.length;
  if (check < 0) throw new Error('unreachable');
  return ns;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

/**
 * Alternating rounds of `loop` on `map` and `shared`; `inputs(which)` gives
 * each measurement its key sequence (called afresh per measurement when the
 * keys must be fresh strings). One uncounted warm-up round first.
 */
async function compare(
  op: keyof typeof LOOPS,
  map: AnyMap,
  shared: AnyMap,
  inputs: () => unknown[],
  values: unknown[],
): Promise<Pick<Row, 'mapNs' | 'sharedNs' | 'ratioLo' | 'ratioHi'>> {
  const mapLoop = ownCopy(LOOPS[op] as Loop);
  const sharedLoop = ownCopy(LOOPS[op] as Loop);
  const mapNs: number[] = [];
  const sharedNs: number[] = [];
  const ratios: number[] = [];
  for (let r = -1; r < ROUNDS; r++) {
    const first = r % 2 === 0;
    const a = first
      ? await timeOnce(mapLoop, map, inputs(), values)
      : await timeOnce(sharedLoop, shared, inputs(), values);
    const b = first
      ? await timeOnce(sharedLoop, shared, inputs(), values)
      : await timeOnce(mapLoop, map, inputs(), values);
    if (r < 0) continue;
    const [m, s] = first ? [a, b] : [b, a];
    mapNs.push(m);
    sharedNs.push(s);
    ratios.push(s / m);
  }
  return {
    mapNs: median(mapNs),
    sharedNs: median(sharedNs),
    ratioLo: Math.min(...ratios),
    ratioHi: Math.max(...ratios),
  };
}

function filled(m: AnyMap, keys: unknown[], values: unknown[]): AnyMap {
  const order = shuffle(
    Array.from({ length: keys.length }, (_, i) => i),
    99,
  );
  for (const i of order) m.set(keys[i], values[i]);
  return m;
}

function mapOf(): AnyMap {
  return new Map() as unknown as AnyMap;
}

const memory: string[] = [];

async function intRows(size: number): Promise<Row[]> {
  const keys = shuffle(
    Array.from({ length: size }, (_, i) => i * 7 + 1),
    1,
  );
  // Integers stored as float64: a fractional float64 returned by a call that
  // is not inlined is a new heap number (Map returns the one it stored).
  const values = Array.from({ length: size }, (_, i) => i * 0.5);
  const map = filled(mapOf(), keys, values);
  const shared = filled(
    SharedMap.create({ key: 'int32', value: 'float64', capacity: size }) as unknown as AnyMap,
    keys,
    values,
  );
  const stats = (shared as unknown as SharedMap).stats();
  memory.push(
    `memory: ${size.toLocaleString('en-US')} int32 -> float64 entries, capacity given up front: ${(stats.bytes / stats.count).toFixed(1)} bytes per entry (stats().bytes / count)`,
  );
  const order = visitOrder(keys, OPS, 5);
  const overwrite = values.slice().reverse();
  const rows: Row[] = [];
  const row = (op: string, r: Awaited<ReturnType<typeof compare>>, target?: number): Row => ({
    op,
    keys: size,
    keyObject: '-',
    ...r,
    target: target === undefined ? undefined : { max: target },
  });
  rows.push(row('int32 get', await compare('get', map, shared, () => order, values), size <= 1024 ? 1.5 : 1.0));
  rows.push(
    row(
      'int32 set (overwrite)',
      await compare('set', map, shared, () => order, overwrite),
      size <= 1024 ? 2.0 : undefined,
    ),
  );
  rows.push(
    row(
      'int32 forEach (per entry)',
      await compare('forEach', map, shared, () => order, values),
      size >= 1 << 20 ? 3.0 : undefined,
    ),
  );
  return rows;
}

/**
 * Equal strings built afresh, one per operation: decoded from bytes as a
 * request's key is, so no string carries a hash computed earlier.
 */
class FreshStrings {
  private readonly buf: Buffer;
  private readonly ends: Int32Array;
  constructor(order: string[]) {
    this.buf = Buffer.from(order.join(''), 'latin1');
    this.ends = new Int32Array(order.length);
    let end = 0;
    for (let i = 0; i < order.length; i++) this.ends[i] = end += order[i]!.length;
  }
  build(): string[] {
    const out: string[] = new Array(this.ends.length);
    let start = 0;
    for (let i = 0; i < this.ends.length; i++) {
      const end = this.ends[i]!;
      out[i] = this.buf.toString('latin1', start, end);
      start = end;
    }
    return out;
  }
}

async function stringRows(size: number): Promise<Row[]> {
  const keys = shuffle(
    Array.from({ length: size }, (_, i) => 'session:' + (i * 7919 + 100000).toString(36)),
    3,
  );
  const values = Array.from({ length: size }, (_, i) => ('v' + i.toString(36)).padEnd(32, '.'));
  const map = filled(mapOf(), keys, values);
  const shared = filled(
    SharedMap.create({ key: 'string:32', value: 'string:32', capacity: size }) as unknown as AnyMap,
    keys,
    values,
  );
  const order = visitOrder(keys, OPS, 7);
  const fresh = new FreshStrings(order);
  const rows: Row[] = [];
  const stored = await compare('get', map, shared, () => order, values);
  rows.push({
    op: 'string:32 get',
    keys: size,
    keyObject: 'stored',
    ...stored,
    target: size <= 1024 ? { max: 3.0 } : undefined,
  });
  const built = await compare('get', map, shared, () => fresh.build(), values);
  rows.push({
    op: 'string:32 get',
    keys: size,
    keyObject: 'fresh',
    ...built,
    target: { max: size <= 1024 ? 2.0 : 1.2 },
  });
  const overwrite = values.slice().reverse();
  for (const [op, every] of [
    ['getSet100', 100],
    ['getSet10', 10],
  ] as const) {
    rows.push({
      op: `string:32 get, 1 set in ${every}`,
      keys: size,
      keyObject: 'stored',
      ...(await compare(op, map, shared, () => order, overwrite)),
    });
  }
  rows.push({
    op: 'string:32 set (overwrite)',
    keys: size,
    keyObject: 'stored',
    ...(await compare('set', map, shared, () => order, overwrite)),
  });
  return rows;
}

function table(rows: Row[]): string {
  const head = ['op', 'keys', 'key object', 'Map ns/op', 'SharedMap ns/op', 'SharedMap/Map', 'round ratios', 'target'];
  const body = rows.map((r) => {
    const ratio = r.sharedNs / r.mapNs;
    const target =
      r.target === undefined ? '' : `<= ${r.target.max.toFixed(1)}x ${ratio <= r.target.max ? 'met' : 'MISSED'}`;
    return [
      r.op,
      r.keys.toLocaleString('en-US'),
      r.keyObject,
      r.mapNs.toFixed(1),
      r.sharedNs.toFixed(1),
      ratio.toFixed(2) + 'x',
      `${r.ratioLo.toFixed(2)}-${r.ratioHi.toFixed(2)}`,
      target,
    ];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) =>
    '| ' + cells.map((c, i) => (i < 3 || i === 7 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ') + ' |';
  const rule =
    '|' + widths.map((w, i) => (i < 3 || i === 7 ? '-'.repeat(w + 2) : '-'.repeat(w + 1) + ':')).join('|') + '|';
  return [line(head), rule, ...body.map(line)].join('\n');
}

/**
 * Heap allocation per operation on number keys and values: `OPS` of each op
 * on one map after warm-up, GCs and heap growth. Values are integers stored
 * as float64 (a fractional one returned from a call that is not inlined is a
 * new heap number).
 */
async function allocation(size: number): Promise<void> {
  const keys = shuffle(
    Array.from({ length: size }, (_, i) => i * 7 + 1),
    1,
  );
  const order = visitOrder(keys, OPS, 11);
  const m = SharedMap.create<number, number>({ key: 'int32', value: 'float64', capacity: size });
  for (let i = 0; i < keys.length; i++) m.set(keys[i]!, i);
  const ops: Array<[string, () => number]> = [
    [
      'get',
      () => {
        let x = 0;
        for (let i = 0; i < order.length; i++) x += m.get(order[i]!) ?? 0;
        return x;
      },
    ],
    [
      'has',
      () => {
        let x = 0;
        for (let i = 0; i < order.length; i++) if (m.has(order[i]!)) x++;
        return x;
      },
    ],
    [
      'set (overwrite)',
      () => {
        for (let i = 0; i < order.length; i++) m.set(order[i]!, i & 1023);
        return 0;
      },
    ],
    [
      'delete + set',
      () => {
        let x = 0;
        for (let i = 0; i < order.length; i++) {
          if (m.delete(order[i]!)) x++;
          m.set(order[i]!, i & 1023);
        }
        return x;
      },
    ],
  ];
  console.log(
    `\nallocation: ${OPS.toLocaleString('en-US')} ops each on int32 -> float64 (${size.toLocaleString('en-US')} keys, integer values), SharedMap, after three warm-up passes of every op`,
  );
  for (let pass = 0; pass < 3; pass++) for (const [, run] of ops) run();
  for (const [name, run] of ops) {
    collect();
    await flush();
    await flush();
    const gc0 = gcCount;
    const heap0 = process.memoryUsage().heapUsed;
    run();
    const heap1 = process.memoryUsage().heapUsed;
    await flush();
    const gcs = gcCount - gc0;
    console.log(
      `  ${name.padEnd(16)} GCs ${String(gcs).padStart(2)}   heap growth ${((heap1 - heap0) / OPS).toFixed(3)} bytes/op${gcs === 0 && heap1 - heap0 < OPS / 100 ? '   (0 per op)' : ''}`,
    );
  }
}

/**
 * With SHMAP_BENCH_BASELINE: int32 and string:32 writes (1,024 keys) on the
 * baseline build's SharedMap and on this build's, alternating rounds.
 */
async function baseline(dir: string): Promise<void> {
  const url = pathToFileURL(resolve(dir, 'shm/map.js')).href;
  const Base = (await import(url)) as { SharedMap: typeof SharedMap };
  const size = 1024;
  const lines: string[] = [];
  const kinds = [
    {
      name: 'int32 -> float64',
      key: 'int32' as const,
      value: 'float64' as const,
      k: (i: number) => i * 7 + 1,
      v: (i: number) => i * 0.5,
    },
    {
      name: 'string:32 -> string:32',
      key: 'string:32' as const,
      value: 'string:32' as const,
      k: (i: number) => 'session:' + (i * 7919 + 100000).toString(36),
      v: (i: number) => ('v' + i.toString(36)).padEnd(32, '.'),
    },
  ];
  for (const kind of kinds) {
    const keys = shuffle(
      Array.from({ length: size }, (_, i) => kind.k(i)),
      13,
    );
    const values = Array.from({ length: size }, (_, i) => kind.v(i));
    const options: SharedMapOptions = { key: kind.key, value: kind.value, capacity: size };
    const base = filled(Base.SharedMap.create(options) as unknown as AnyMap, keys, values);
    const mine = filled(SharedMap.create(options) as unknown as AnyMap, keys, values);
    const order = visitOrder(keys, OPS, 17);
    const overwrite = values.slice().reverse();
    for (const op of ['set', 'deleteSet'] as const) {
      const r = await compare(op, base, mine, () => order, overwrite);
      const what = op === 'set' ? 'set (overwrite)' : 'delete + set';
      lines.push(
        `| ${kind.name} | ${what} | ${r.mapNs.toFixed(1)} | ${r.sharedNs.toFixed(1)} | ${(r.sharedNs / r.mapNs).toFixed(2)}x | ${r.ratioLo.toFixed(2)}-${r.ratioHi.toFixed(2)} |`,
      );
    }
  }
  console.log(`
writes against the baseline build ${dir} (${size.toLocaleString('en-US')} keys, CPU ns per op):`);
  console.log('| workload | op | baseline ns/op | this build ns/op | this/baseline | round ratios |');
  console.log('|---|---|---:|---:|---:|---:|');
  for (const line of lines) console.log(line);
}

function load(): string {
  return loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');
}

async function main(): Promise<void> {
  console.log(
    `bench:core: Node ${process.version} (${process.arch}), single thread, CPU ns per op, ${OPS.toLocaleString('en-US')} ops per measurement, median of ${ROUNDS} alternating rounds (+1 warm-up); load average ${load()}`,
  );
  const rows: Row[] = [];
  for (const size of SIZES) rows.push(...(await intRows(size)));
  await allocation(1024);
  for (const size of SIZES) rows.push(...(await stringRows(size)));
  console.log('');
  console.log(table(rows));
  console.log(
    `\nkey object: stored = the very string object stored in the map; fresh = an equal string decoded from bytes per lookup (as from a request).`,
  );
  for (const line of memory) console.log(line);
  console.log(metricsOverhead(SIZES));
  console.log(await casFloor());
  const baselineDir = process.env.SHMAP_BENCH_BASELINE;
  if (baselineDir !== undefined && baselineDir !== '') await baseline(baselineDir);
  console.log(`load average at the end: ${load()}`);
}

try {
  await main();
} catch (err) {
  console.error('bench:core failed:', err);
}
process.exitCode = 0;

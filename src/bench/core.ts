/**
 * `npm run bench:core`: SharedMap against a plain Map in one thread, side by
 * side in one run, ns per operation on 1M keys, and the GC work each does.
 *
 * Each phase runs the same pre-generated key order against both maps (filled
 * in another order), three rounds alternating which goes first; the table
 * shows the median round.
 * Run with --expose-gc (the npm script does) so each phase starts from a
 * collected heap.
 */
import { PerformanceObserver } from 'node:perf_hooks';
import { SharedMap } from '../shm/map.js';

const N = Number(process.env.SHMAP_BENCH_KEYS ?? 1_000_000);
const ROUNDS = 3;

interface AnyMap {
  get(k: unknown): unknown;
  set(k: unknown, v: unknown): unknown;
  delete(k: unknown): boolean;
}

function shuffle<T>(a: T[], seed: number): T[] {
  let s = seed >>> 0 || 1;
  for (let i = a.length - 1; i > 0; i--) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    const j = (s >>> 0) % (i + 1);
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

let gcCount = 0;
new PerformanceObserver((list) => {
  gcCount += list.getEntries().length;
}).observe({ entryTypes: ['gc'] });

const flush = () => new Promise((r) => setImmediate(r));
const collect = (globalThis as { gc?: () => void }).gc ?? (() => {});

interface Phase {
  name: string;
  /** Runs the phase over `keys` once; returns a checksum so nothing is optimized away. */
  run(m: AnyMap, keys: unknown[], values: unknown[], missing: unknown[]): number;
  /** Prepares the map before the phase (outside the timing). */
  setup(make: () => AnyMap, keys: unknown[], values: unknown[]): AnyMap;
}

/**
 * Fills the map in a different order than the phases then use: a Map keeps
 * its entries in insertion order, so looking keys up in the order they went
 * in walks its entry table sequentially, which flatters it.
 */
function filled(make: () => AnyMap, keys: unknown[], values: unknown[]): AnyMap {
  const m = make();
  const order = insertionOrder(keys.length);
  for (let j = 0; j < order.length; j++) {
    const i = order[j]!;
    m.set(keys[i], values[i]);
  }
  return m;
}

let cachedOrder: number[] | null = null;
function insertionOrder(n: number): number[] {
  if (cachedOrder === null || cachedOrder.length !== n)
    cachedOrder = shuffle(
      Array.from({ length: n }, (_, i) => i),
      99,
    );
  return cachedOrder;
}

const PHASES: Phase[] = [
  {
    name: 'get-hit',
    setup: filled,
    run(m, keys) {
      let x = 0;
      for (let i = 0; i < keys.length; i++) if (m.get(keys[i]) !== undefined) x++;
      return x;
    },
  },
  {
    name: 'get-miss',
    setup: filled,
    run(m, _keys, _values, missing) {
      let x = 0;
      for (let i = 0; i < missing.length; i++) if (m.get(missing[i]) === undefined) x++;
      return x;
    },
  },
  {
    name: 'set-update',
    setup: filled,
    run(m, keys, values) {
      for (let i = 0; i < keys.length; i++) m.set(keys[i], values[keys.length - 1 - i]);
      return keys.length;
    },
  },
  {
    name: 'set-insert',
    setup: (make) => make(),
    run(m, keys, values) {
      for (let i = 0; i < keys.length; i++) m.set(keys[i], values[i]);
      return keys.length;
    },
  },
  {
    name: 'delete',
    setup: filled,
    run(m, keys) {
      let x = 0;
      for (let i = 0; i < keys.length; i++) if (m.delete(keys[i])) x++;
      return x;
    },
  },
];

interface Row {
  workload: string;
  phase: string;
  mapNs: number;
  sharedNs: number;
  sharedGcs: number;
  sharedHeapMiB: number;
  mapGcs: number;
  mapHeapMiB: number;
}

async function measure(phase: Phase, make: () => AnyMap, keys: unknown[], values: unknown[], missing: unknown[]) {
  const m = phase.setup(make, keys, values);
  collect();
  await flush();
  const gc0 = gcCount;
  const heap0 = process.memoryUsage().heapUsed;
  const t0 = process.hrtime.bigint();
  const check = phase.run(m, keys, values, missing);
  const ns = Number(process.hrtime.bigint() - t0) / keys.length;
  const heap1 = process.memoryUsage().heapUsed;
  await flush();
  if (check < 0) throw new Error('unreachable');
  return { ns, gcs: gcCount - gc0, heapMiB: (heap1 - heap0) / 2 ** 20 };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

async function workload(
  name: string,
  keys: unknown[],
  values: unknown[],
  missing: unknown[],
  makeShared: () => AnyMap,
): Promise<Row[]> {
  const rows: Row[] = [];
  const makeMap = () => new Map() as unknown as AnyMap;
  for (const phase of PHASES) {
    const map: Array<{ ns: number; gcs: number; heapMiB: number }> = [];
    const shared: typeof map = [];
    for (let r = 0; r < ROUNDS; r++) {
      if (r % 2 === 0) {
        map.push(await measure(phase, makeMap, keys, values, missing));
        shared.push(await measure(phase, makeShared, keys, values, missing));
      } else {
        shared.push(await measure(phase, makeShared, keys, values, missing));
        map.push(await measure(phase, makeMap, keys, values, missing));
      }
    }
    rows.push({
      workload: name,
      phase: phase.name,
      mapNs: median(map.map((x) => x.ns)),
      sharedNs: median(shared.map((x) => x.ns)),
      sharedGcs: median(shared.map((x) => x.gcs)),
      sharedHeapMiB: median(shared.map((x) => x.heapMiB)),
      mapGcs: median(map.map((x) => x.gcs)),
      mapHeapMiB: median(map.map((x) => x.heapMiB)),
    });
  }
  return rows;
}

function table(rows: Row[]): string {
  const head = [
    'workload',
    'op',
    'Map ns/op',
    'SharedMap ns/op',
    'SharedMap/Map',
    'GCs Map',
    'GCs Shared',
    'heap MiB Map',
    'heap MiB Shared',
  ];
  const body = rows.map((r) => [
    r.workload,
    r.phase,
    r.mapNs.toFixed(1),
    r.sharedNs.toFixed(1),
    (r.sharedNs / r.mapNs).toFixed(2) + 'x',
    String(r.mapGcs),
    String(r.sharedGcs),
    r.mapHeapMiB.toFixed(1),
    r.sharedHeapMiB.toFixed(1),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => '| ' + cells.map((c, i) => c.padStart(widths[i]!)).join(' | ') + ' |';
  return [line(head), '|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|', ...body.map(line)].join('\n');
}

/**
 * Heap allocation per operation on number keys and values: 1M of each op on
 * one map, GC count and heap growth. Values are integers stored as float64
 * (a fractional float64 returned from any JS function is a new heap number
 * unless the call is inlined; Map returns the one it stored).
 */
async function allocation(keys: number[]): Promise<void> {
  const m = SharedMap.create<number, number>({ key: 'int32', value: 'float64', capacity: keys.length });
  for (let i = 0; i < keys.length; i++) m.set(keys[i]!, i);
  const ops: Array<[string, () => number]> = [
    [
      'get',
      () => {
        let x = 0;
        for (let i = 0; i < keys.length; i++) x += m.get(keys[i]!)!;
        return x;
      },
    ],
    [
      'has',
      () => {
        let x = 0;
        for (let i = 0; i < keys.length; i++) if (m.has(keys[i]!)) x++;
        return x;
      },
    ],
    [
      'set (update)',
      () => {
        for (let i = 0; i < keys.length; i++) m.set(keys[i]!, i + 1);
        return 0;
      },
    ],
    [
      'add',
      () => {
        let x = 0;
        for (let i = 0; i < keys.length; i++) x += m.add(keys[i]!, 1);
        return x;
      },
    ],
    [
      'delete',
      () => {
        let x = 0;
        for (let i = 0; i < keys.length; i++) if (m.delete(keys[i]!)) x++;
        return x;
      },
    ],
    [
      'set (insert)',
      () => {
        for (let i = 0; i < keys.length; i++) m.set(keys[i]!, i);
        return 0;
      },
    ],
  ];
  console.log(
    `\nallocation: ${keys.length} ops each on int32 -> float64 (integer values), SharedMap, after three warm-up passes of every op`,
  );
  // Warm-up: the first passes run unoptimized or on-stack-replaced code, which boxes numbers.
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
    console.log(
      `  ${name.padEnd(13)} GCs ${String(gcCount - gc0).padStart(2)}   heap growth ${((heap1 - heap0) / 2 ** 20).toFixed(2)} MiB`,
    );
  }
}

async function main(): Promise<void> {
  console.log(`bench:core: ${N} keys, single thread, median of ${ROUNDS} rounds; Node ${process.version}`);
  const intKeys = shuffle(
    Array.from({ length: N }, (_, i) => i * 7 + 1),
    1,
  );
  const intMissing = shuffle(
    Array.from({ length: N }, (_, i) => -(i * 7 + 2)),
    2,
  );
  const floatValues = Array.from({ length: N }, (_, i) => i * 0.5);
  const rows = await workload(
    'int32 -> float64',
    intKeys,
    floatValues,
    intMissing,
    () => SharedMap.create({ key: 'int32', value: 'float64', capacity: N }) as unknown as AnyMap,
  );
  const strKeys = shuffle(
    Array.from({ length: N }, (_, i) => 'session:' + (i * 7919 + 100000).toString(36)),
    3,
  );
  const strMissing = shuffle(
    Array.from({ length: N }, (_, i) => 'session:x' + i.toString(36)),
    4,
  );
  const strValues = Array.from({ length: N }, (_, i) => ('v' + i.toString(36)).padEnd(32, '.'));
  rows.push(
    ...(await workload(
      'string:32 -> string:32',
      strKeys,
      strValues,
      strMissing,
      () => SharedMap.create({ key: 'string:32', value: 'string:32', capacity: N }) as unknown as AnyMap,
    )),
  );
  console.log(table(rows));
  await allocation(intKeys);
  const m = SharedMap.create({ key: 'int32', value: 'float64', capacity: N });
  for (let i = 0; i < N; i++) m.set(intKeys[i], floatValues[i]);
  console.log(
    `\nmemory: ${N} int32 -> float64 entries, capacity given up front: ${(m.stats().bytes / m.size).toFixed(1)} bytes per entry (stats().bytes / size)`,
  );
  collect();
  const before = process.memoryUsage().heapUsed;
  const jsMap = new Map<number, number>();
  for (let i = 0; i < N; i++) jsMap.set(intKeys[i]!, floatValues[i]!);
  collect();
  console.log(
    `memory: the same in a Map: ${((process.memoryUsage().heapUsed - before) / jsMap.size).toFixed(1)} bytes per entry (heapUsed growth)`,
  );
}

await main();

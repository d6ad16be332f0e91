/**
 * Every bench driver is the same store behind the same interface: a get
 * returns what was set, a delete removes, and a seeded op sequence run
 * through each driver finds the same number of hits as a model Map.
 * Sessions are opened in this thread (postMessage talks to a server on the
 * same thread; lmdb and shmap open their shared store twice); redis rows run
 * only where redis-server is installed.
 */
import { describe, expect, it, afterAll } from 'vitest';
import type { AsyncSession, Driver, Key, Session, Value, WorkloadName } from '../../src/bench/driver.js';
import { GET, SET, DEL } from '../../src/bench/driver.js';
import { loadDriver, SYSTEM_NAMES } from '../../src/bench/systems.js';
import { buildTables, generateOps, opStream } from '../../src/bench/workload.js';
import { redisUnavailable } from '../../src/bench/redis.js';

const PRELOAD = 300;
const TABLE = PRELOAD + 20; // keys[PRELOAD..TABLE) are never preloaded
const SEED = 0x1234abcd;
const WORKLOADS: WorkloadName[] = ['int32', 'string'];
const hasRedis = redisUnavailable() === undefined;
const systems = SYSTEM_NAMES.filter((n) => hasRedis || !n.startsWith('redis'));
console.log(
  `bench drivers test: seed ${SEED}; systems ${systems.join(', ')}${hasRedis ? '' : ' (redis-server not installed: redis skipped)'}`,
);

const used: Driver[] = [];
afterAll(async () => {
  for (const d of used) await d.shutdown?.();
});

async function op<T>(x: T | Promise<T>): Promise<T> {
  return x;
}

/** Runs ops [0, n) through a session in its own units; returns the hits. */
async function runAll(session: Session, ops: ReturnType<typeof opStream>, n: number): Promise<number> {
  if (session.kind === 'sync') return session.run(ops, 0, n);
  let hits = 0;
  for (let i = 0; i < n; i += session.batch) hits += await (session as AsyncSession).run(ops, i, i + session.batch);
  return hits;
}

describe.each(systems)('bench driver %s', (name) => {
  for (const workload of WORKLOADS) {
    it(`${workload}: get returns what was preloaded and set; delete removes`, async () => {
      const driver = await loadDriver(name);
      used.push(driver);
      const tables = buildTables(workload, TABLE);
      const prepared = await driver.prepare({ workload, preload: PRELOAD, keys: tables.keys, values: tables.values });
      const session = await driver.open(prepared.forWorker(0).data, workload);
      try {
        const k0: Key = tables.keys[0]!;
        const kNew: Key = tables.keys[PRELOAD + 5]!;
        const v: Value = tables.values[7]!;
        expect(await op(session.get(k0))).toStrictEqual(tables.values[0]);
        expect(await op(session.get(tables.keys[PRELOAD - 1]!))).toStrictEqual(
          tables.values[(PRELOAD - 1) % tables.values.length],
        );
        expect(await op(session.get(kNew))).toBeUndefined();
        await op(session.set(kNew, v));
        expect(await op(session.get(kNew))).toStrictEqual(v);
        await op(session.set(k0, v));
        expect(await op(session.get(k0))).toStrictEqual(v);
        await op(session.delete(k0));
        expect(await op(session.get(k0))).toBeUndefined();
      } finally {
        await session.close();
        await prepared.close();
      }
    });

    it(`${workload}: a seeded mix sequence finds as many hits as a model Map`, async () => {
      const driver = await loadDriver(name);
      used.push(driver);
      if (driver.readOnly) return; // shmap-none: its read-only run is below
      const tables = buildTables(workload, TABLE);
      const n = 1024;
      // Keys over the whole table, so some gets miss and some sets insert.
      const arrays = generateOps(TABLE, n, 'mix', 'uniform', SEED);
      const ops = opStream(arrays, tables);
      const model = new Map<Key, Value>();
      for (let i = 0; i < PRELOAD; i++) model.set(tables.keys[i]!, tables.values[i % tables.values.length]!);
      let expected = 0;
      for (let i = 0; i < n; i++) {
        const k = tables.keys[arrays.keyIdx[i]!]!;
        if (arrays.kinds[i] === GET) expected += model.has(k) ? 1 : 0;
        else if (arrays.kinds[i] === SET) model.set(k, tables.values[arrays.valIdx[i]!]!);
        else if (arrays.kinds[i] === DEL) model.delete(k);
      }
      expect(expected).toBeGreaterThan(0);
      expect(expected).toBeLessThan(arrays.kinds.filter((k) => k === GET).length);

      const prepared = await driver.prepare({ workload, preload: PRELOAD, keys: tables.keys, values: tables.values });
      const session = await driver.open(prepared.forWorker(0).data, workload);
      try {
        expect(await runAll(session, ops, n)).toBe(expected);
        // And the final contents agree key by key.
        for (let i = 0; i < TABLE; i++) {
          const k = tables.keys[i]!;
          expect(await op(session.get(k)), `key ${String(k)}`).toStrictEqual(model.get(k));
        }
      } finally {
        await session.close();
        await prepared.close();
      }
    });
  }

  it('read-only sequence over preloaded keys: every get hits', async () => {
    const driver = await loadDriver(name);
    used.push(driver);
    const tables = buildTables('string', PRELOAD);
    const n = 512;
    const ops = opStream(generateOps(PRELOAD, n, 'get', 'zipf', SEED), tables);
    const prepared = await driver.prepare({
      workload: 'string',
      preload: PRELOAD,
      keys: tables.keys,
      values: tables.values,
    });
    const session = await driver.open(prepared.forWorker(0).data, 'string');
    try {
      expect(await runAll(session, ops, n)).toBe(n);
    } finally {
      await session.close();
      await prepared.close();
    }
  });
});

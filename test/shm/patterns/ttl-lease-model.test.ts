/**
 * Model test (fast-check) of TTL and leases together: random sequences of
 * writes, deletes, acquires, releases, retires and sweeps run on a SharedMap
 * created with `ttl: true, leases: true` and on a small model; after every
 * step the results, size, lease counts and invariants must agree.
 *
 * Time: reads use the real shared clock, sweepExpired(now) takes any `now`.
 * Every TTL here is a whole number of "ticks" (TICK_MS = 10^6 ms, ~17 min), far
 * longer than the test runs, so no entry ever expires for a read; expiry is
 * tested only through sweepExpired(base + level ticks + half a tick), which
 * reclaims exactly the entries whose TTL is at most `level` ticks (an entry
 * written at real time t with TTL c ticks expires at t + c ticks, and
 * t - base < half a tick). The unit tests cover lazy expiry on the real clock.
 *
 * clear() and sweep(pred) are left out: both remove leased entries (see the
 * failing tests in lease.test.ts).
 *
 * On failure fast-check prints the seed and the shrunk counterexample; replay
 * with  SHMAP_FC_SEED=<seed> SHMAP_FC_PATH=<path> npx vitest run test/shm/patterns/ttl-lease-model.test.ts
 */
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { SharedMap, LeaseError, sharedNow } from '../../../src/index.js';
import { checkInvariants } from '../../../src/shm/debug.js';
import { canonEntries } from '../support.js';

const replay: fc.Parameters<unknown> =
  process.env.SHMAP_FC_SEED !== undefined
    ? { seed: Number(process.env.SHMAP_FC_SEED), path: process.env.SHMAP_FC_PATH }
    : {};

const TICK_MS = 1e6;
/** TTL classes in ticks; 0 = no ttlMs given (the map's default applies). */
type Ttl = 0 | 1 | 2 | 3;

type Op =
  | { t: 'get'; k: number }
  | { t: 'has'; k: number }
  | { t: 'set'; k: number; v: number; ttl: Ttl }
  | { t: 'delete'; k: number }
  | { t: 'putIfAbsent'; k: number; v: number }
  | { t: 'compareAndSet'; k: number; e: number | undefined; v: number }
  | { t: 'update'; k: number; del: boolean; c: number }
  | { t: 'add'; k: number; d: number }
  | { t: 'acquire'; k: number }
  | { t: 'release'; k: number }
  | { t: 'retire'; k: number }
  | { t: 'leaseCount'; k: number }
  | { t: 'sweepExpired'; level: number }
  | { t: 'fill'; base: number; n: number };

interface Entry {
  v: number;
  /** TTL in ticks, Infinity = never. */
  ticks: number;
  leases: number;
  retired: boolean;
}

const key = fc.integer({ min: 0, max: 5 });
const value = fc.integer({ min: -50, max: 50 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ t: fc.constant('get' as const), k: key }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('has' as const), k: key }) },
  {
    weight: 5,
    arbitrary: fc.record({ t: fc.constant('set' as const), k: key, v: value, ttl: fc.constantFrom<Ttl>(0, 1, 2, 3) }),
  },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('delete' as const), k: key }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('putIfAbsent' as const), k: key, v: value }) },
  {
    weight: 1,
    arbitrary: fc.record({
      t: fc.constant('compareAndSet' as const),
      k: key,
      e: fc.option(value, { nil: undefined }),
      v: value,
    }),
  },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('update' as const), k: key, del: fc.boolean(), c: value }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('add' as const), k: key, d: value }) },
  { weight: 4, arbitrary: fc.record({ t: fc.constant('acquire' as const), k: key }) },
  { weight: 4, arbitrary: fc.record({ t: fc.constant('release' as const), k: key }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('retire' as const), k: key }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('leaseCount' as const), k: key }) },
  {
    weight: 2,
    arbitrary: fc.record({ t: fc.constant('sweepExpired' as const), level: fc.integer({ min: 0, max: 4 }) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      t: fc.constant('fill' as const),
      base: fc.integer({ min: 100, max: 400 }),
      n: fc.integer({ min: 1, max: 40 }),
    }),
  },
);

/** What an op returned: a value, or the name of the error it threw. */
type Outcome = { ok: unknown } | { threw: string };

function outcome(fn: () => unknown): Outcome {
  try {
    return { ok: fn() };
  } catch (e) {
    return { threw: (e as Error).name };
  }
}

class Model {
  readonly m = new Map<number, Entry>();
  constructor(readonly defaultTicks: number) {}

  private live(k: number): Entry | undefined {
    const e = this.m.get(k);
    return e !== undefined && !e.retired ? e : undefined;
  }
  /** A write to k: LeaseError when k's entry is retired (it is then still leased). */
  private blocked(k: number): boolean {
    return this.m.get(k)?.retired === true;
  }
  private write(k: number, v: number, ticks: number): void {
    const e = this.m.get(k);
    this.m.set(k, { v, ticks, leases: e?.leases ?? 0, retired: false });
  }
  /** delete's effect on a live entry: retire when leased, else remove. */
  private remove(k: number, e: Entry): void {
    if (e.leases > 0) e.retired = true;
    else this.m.delete(k);
  }

  apply(op: Op): Outcome {
    const LE = { threw: 'LeaseError' };
    switch (op.t) {
      case 'get':
        return { ok: this.live(op.k)?.v };
      case 'has':
        return { ok: this.live(op.k) !== undefined };
      case 'set':
        if (this.blocked(op.k)) return LE;
        this.write(op.k, op.v, op.ttl === 0 ? this.defaultTicks : op.ttl);
        return { ok: 'map' };
      case 'delete': {
        const e = this.live(op.k);
        if (e === undefined) return { ok: false };
        this.remove(op.k, e);
        return { ok: true };
      }
      case 'putIfAbsent': {
        if (this.blocked(op.k)) return LE;
        const e = this.live(op.k);
        if (e !== undefined) return { ok: e.v };
        this.write(op.k, op.v, this.defaultTicks);
        return { ok: undefined };
      }
      case 'compareAndSet': {
        if (this.blocked(op.k)) return LE;
        const e = this.live(op.k);
        if (e === undefined ? op.e !== undefined : op.e === undefined || e.v !== op.e) return { ok: false };
        this.write(op.k, op.v, this.defaultTicks);
        return { ok: true };
      }
      case 'update': {
        if (this.blocked(op.k)) return LE;
        const e = this.live(op.k);
        if (op.del) {
          if (e !== undefined) this.remove(op.k, e);
          return { ok: undefined };
        }
        const next = (e?.v ?? 0) + op.c;
        this.write(op.k, next, this.defaultTicks);
        return { ok: next };
      }
      case 'add': {
        if (this.blocked(op.k)) return LE;
        const next = (this.live(op.k)?.v ?? 0) + op.d;
        this.write(op.k, next, this.defaultTicks);
        return { ok: next };
      }
      case 'acquire': {
        const e = this.live(op.k);
        if (e === undefined) return { ok: undefined };
        e.leases++;
        return { ok: e.v };
      }
      case 'release': {
        const e = this.m.get(op.k);
        if (e === undefined || e.leases === 0) return LE;
        e.leases--;
        if (e.leases === 0 && e.retired) {
          this.m.delete(op.k);
          return { ok: true };
        }
        return { ok: false };
      }
      case 'retire': {
        const e = this.m.get(op.k);
        if (e === undefined) return { ok: 'absent' };
        if (e.leases === 0) {
          this.m.delete(op.k);
          return { ok: 'removed' };
        }
        e.retired = true;
        return { ok: 'deferred' };
      }
      case 'leaseCount':
        return { ok: this.m.get(op.k)?.leases ?? 0 };
      case 'sweepExpired': {
        let n = 0;
        for (const [k, e] of this.m) {
          if (e.ticks > op.level) continue;
          if (e.leases > 0) e.retired = true;
          else {
            this.m.delete(k);
            n++;
          }
        }
        return { ok: n };
      }
      case 'fill':
        for (let i = 0; i < op.n; i++) if (!this.blocked(op.base + i)) this.write(op.base + i, i, this.defaultTicks);
        return { ok: undefined };
    }
  }

  visible(): Array<[number, number]> {
    const out: Array<[number, number]> = [];
    for (const [k, e] of this.m) if (!e.retired) out.push([k, e.v]);
    return out;
  }
}

function run(map: SharedMap<number, number>, op: Op, base: number): Outcome {
  switch (op.t) {
    case 'get':
      return outcome(() => map.get(op.k));
    case 'has':
      return outcome(() => map.has(op.k));
    case 'set':
      return outcome(() =>
        map.set(op.k, op.v, op.ttl === 0 ? undefined : { ttlMs: op.ttl * TICK_MS }) === map ? 'map' : 'other',
      );
    case 'delete':
      return outcome(() => map.delete(op.k));
    case 'putIfAbsent':
      return outcome(() => map.putIfAbsent(op.k, op.v));
    case 'compareAndSet':
      return outcome(() => map.compareAndSet(op.k, op.e, op.v));
    case 'update':
      return outcome(() => map.update(op.k, (old) => (op.del ? undefined : (old ?? 0) + op.c)));
    case 'add':
      return outcome(() => map.add(op.k, op.d));
    case 'acquire':
      return outcome(() => map.acquire(op.k));
    case 'release':
      return outcome(() => map.release(op.k));
    case 'retire':
      return outcome(() => map.retire(op.k));
    case 'leaseCount':
      return outcome(() => map.leaseCount(op.k));
    case 'sweepExpired':
      return outcome(() => map.sweepExpired(base + op.level * TICK_MS + TICK_MS / 2));
    case 'fill':
      return outcome(() => {
        for (let i = 0; i < op.n; i++) {
          try {
            map.set(op.base + i, i);
          } catch (e) {
            if (!(e instanceof LeaseError)) throw e;
          }
        }
        return undefined;
      });
  }
}

function check(ops: Op[], defaultTicks: number): void {
  const base = sharedNow();
  const map = SharedMap.create<number, number>({
    ttl: true,
    leases: true,
    capacity: 4,
    shards: 2,
    ...(defaultTicks === Infinity ? {} : { defaultTtlMs: defaultTicks * TICK_MS }),
  });
  const model = new Model(defaultTicks);
  ops.forEach((op, i) => {
    const want = model.apply(op);
    const got = run(map, op, base);
    expect(got, `step ${i}: ${JSON.stringify(op)}`).toEqual(want);
    expect(map.size, `size after step ${i}`).toBe(model.m.size);
    checkInvariants(map);
  });
  expect(canonEntries(map.snapshot())).toEqual(canonEntries(model.visible()));
  for (const [k, e] of model.m) expect(map.leaseCount(k), `leaseCount(${k})`).toBe(e.leases);
  // Release everything still leased, then the map holds exactly the model's unretired entries.
  for (const [k, e] of [...model.m]) {
    for (let n = e.leases; n > 0; n--)
      expect(
        outcome(() => map.release(k)),
        `final release(${k})`,
      ).toEqual(model.apply({ t: 'release', k }));
  }
  expect(map.size).toBe(model.m.size);
  expect(canonEntries(map.snapshot())).toEqual(canonEntries(model.visible()));
  checkInvariants(map);
}

describe('TTL + leases against a model', () => {
  it('random op sequences, no default TTL', () => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 10, maxLength: 120, size: 'max' }), (ops) => check(ops, Infinity)),
      { numRuns: 150, ...replay },
    );
  });

  it('random op sequences, defaultTtlMs = 2 ticks', () => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 10, maxLength: 120, size: 'max' }), (ops) => check(ops, 2)),
      { numRuns: 150, ...replay },
    );
  });

  it('the model is not vacuous: a known sequence gives the expected results', () => {
    const ops: Op[] = [
      { t: 'set', k: 1, v: 10, ttl: 1 },
      { t: 'set', k: 2, v: 20, ttl: 3 },
      { t: 'acquire', k: 2 },
      { t: 'sweepExpired', level: 3 },
      { t: 'set', k: 2, v: 21, ttl: 0 },
      { t: 'release', k: 2 },
    ];
    const model = new Model(Infinity);
    expect(ops.map((op) => model.apply(op))).toEqual([
      { ok: 'map' },
      { ok: 'map' },
      { ok: 20 },
      { ok: 1 },
      { threw: 'LeaseError' },
      { ok: true },
    ]);
    check(ops, Infinity);
  });
});

// Deliberately broken SharedMap variants for the lincheck tests, served on a
// lincheck worker thread (src/workers/lincheck.ts). Each wraps a real
// SharedMap and breaks one thing, to prove the checker catches that bug:
//
//   unvalidated-read  get() reads the slot without the seqlock check: it finds
//                     the key and loads the value with no seq loads around it,
//                     so a read racing a writer can return a torn value (the
//                     length of one string, the bytes of another) or a slot
//                     caught mid-insert or mid-rehash.
//   split-add         add() done as a separate get and set: two threads adding
//                     at once can both read the same old value (a lost add).
//
// (The third broken variant, sync 'none' with several writers, is the real
// map made with { sync: 'none', onConflict: 'record' }: no worker of its own.)
import { workerData } from 'node:worker_threads';
import { SharedMap } from '../../dist/index.js';
import { serveLincheck } from '../../dist/workers/lincheck.js';

const variant = workerData?.variant;

function unvalidatedRead(map) {
  return {
    get(key) {
      // The map's own read path minus the seq check (src/shm/map.ts `get`).
      const h = map.keyCodec.prepare(key);
      const d = map.shardDescI32(h & map.shardMask);
      const at = map.table.find(d, h);
      if (at < 0) return undefined;
      const raw = map.valueCodec.load(map.views, at + map.valueOffI32);
      return map.valueCodec.needsFinish ? map.valueCodec.finish(raw) : raw;
    },
    has: (k) => map.has(k),
    set: (k, v) => map.set(k, v),
    delete: (k) => map.delete(k),
    putIfAbsent: (k, v) => map.putIfAbsent(k, v),
    compareAndSet: (k, e, n) => map.compareAndSet(k, e, n),
    add: (k, d) => map.add(k, d),
  };
}

function splitAdd(map) {
  return {
    get: (k) => map.get(k),
    has: (k) => map.has(k),
    set: (k, v) => map.set(k, v),
    delete: (k) => map.delete(k),
    putIfAbsent: (k, v) => map.putIfAbsent(k, v),
    compareAndSet: (k, e, n) => map.compareAndSet(k, e, n),
    add(k, delta) {
      const next = (map.get(k) ?? 0) + delta;
      map.set(k, next);
      return next;
    },
  };
}

const VARIANTS = { 'unvalidated-read': unvalidatedRead, 'split-add': splitAdd };
const make = VARIANTS[variant];
if (make === undefined)
  throw new Error(
    `lincheck-broken.mjs: unknown variant ${JSON.stringify(variant)} (known: ${Object.keys(VARIANTS).join(', ')})`,
  );
serveLincheck((handle) => make(SharedMap.attach(handle)));

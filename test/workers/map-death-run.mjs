// The ops a parked writer runs (test/workers/map-death.mjs as a Worker,
// map-death-task.mjs as a piscina task): `op` over `keys` in order, counting
// completed ops in words[W.done]; at the back door's named point (prefix
// `point`, src/shm/window.ts setPark) it signals words[W.parked] = 1 and
// parks forever, inside the write, holding the shard lock.
import { SharedMap } from '../../dist/index.js';
import { setPark } from '../../dist/shm/window.js';
import { signal } from './ctl.mjs';

export function runOps(d) {
  const map = SharedMap.attach(d.map);
  const { words, W } = d;
  setPark((point) => {
    if (!point.startsWith(d.point)) return;
    Atomics.store(words, W.pointHit, 1);
    signal(words, W.parked, 1);
    Atomics.wait(words, W.never, 0);
  });
  const run = (k) => {
    switch (d.op) {
      case 'set':
        return map.set(k, k * 10 + 1);
      case 'delete':
        return map.delete(k);
      case 'add':
        return map.add(k, 5);
      case 'update':
        return map.update(k, (old) => (old ?? 0) + 7);
      case 'retire':
        return map.retire(k);
      case 'acquire':
        return map.acquire(k);
      case 'release':
        return map.release(k);
      case 'clear':
        return map.clear();
      case 'sweep':
        return map.sweep((_v, key) => key % 2 === 0);
      case 'forEach': // parks inside the callback: killed mid-iteration, holding no lock
        return map.forEach(() => {
          signal(words, W.parked, 1);
          Atomics.wait(words, W.never, 0);
        });
      case 'sweepExpired':
        return map.sweepExpired(Infinity); // every entry with an expiry counts as expired

      default:
        throw new Error('map-death: unknown op ' + d.op);
    }
  };
  for (const k of d.keys) {
    run(k);
    Atomics.add(words, W.done, 1);
  }
  return Atomics.load(words, W.done);
}

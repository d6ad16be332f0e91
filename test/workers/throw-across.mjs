// A piscina task that fails with a real shmap error, to see what reaches the
// thread that called pool.run().
//  iterate: ranges over the map; after its first entry it says so
//           (gate = 1) and waits for the caller to write (gate = 2), so the
//           next step throws ConcurrentMapIterationError.
//  type:    sets a string value into a float64 map: ShmapTypeError.
import { SharedMap } from '../../dist/index.js';

export default function run({ kind, handle, gate }) {
  const map = SharedMap.attach(handle);
  if (kind === 'type') {
    map.set(1, 'not a number');
    return 'no error';
  }
  for (const [key] of map) {
    if (Atomics.load(gate, 0) === 0) {
      Atomics.store(gate, 0, 1);
      Atomics.notify(gate, 0);
      Atomics.wait(gate, 0, 1, 30_000);
    }
    void key;
  }
  return 'no error';
}

/**
 * `Map` in one thread (the main thread, no workers): the ceiling for a single
 * thread, and what "ratio to Map" in the table divides by.
 */
import {
  DEL,
  GET,
  type Driver,
  type Key,
  type OpStream,
  type PrepareInput,
  type SyncSession,
  type Value,
} from './driver.js';

/** A session over a plain `Map`; also used by map-per-worker. */
export class MapSession implements SyncSession {
  readonly kind = 'sync';
  readonly batch = 1;
  constructor(private readonly map: Map<Key, Value>) {}

  run(ops: OpStream, from: number, to: number): number {
    const map = this.map;
    const { kinds, keyIdx, valIdx, keys, values } = ops;
    let hits = 0;
    for (let i = from; i < to; i++) {
      const k = keys[keyIdx[i]!]!;
      const kind = kinds[i];
      if (kind === GET) {
        if (map.get(k) !== undefined) hits++;
      } else if (kind === DEL) {
        map.delete(k);
      } else {
        map.set(k, values[valIdx[i]!]!);
      }
    }
    return hits;
  }

  get(key: Key): Value | undefined {
    return this.map.get(key);
  }
  set(key: Key, value: Value): void {
    this.map.set(key, value);
  }
  delete(key: Key): void {
    this.map.delete(key);
  }
  close(): void {}
}

/** A `Map` holding keys[0..preload) with values[i % values.length]. */
export function preloadedMap(input: Pick<PrepareInput, 'keys' | 'values' | 'preload'>): Map<Key, Value> {
  const map = new Map<Key, Value>();
  const { keys, values, preload } = input;
  for (let i = 0; i < preload; i++) map.set(keys[i]!, values[i % values.length]!);
  return map;
}

export const drivers: Driver[] = [
  {
    name: 'map',
    summary: 'a Map on the main thread: the single-thread ceiling',
    where: 'main',
    readOnly: false,
    batch: 1,
    async prepare(input) {
      const map = preloadedMap(input);
      return {
        forWorker: () => ({ data: map }),
        close: async () => map.clear(),
      };
    },
    async open(data) {
      return new MapSession(data as Map<Key, Value>);
    },
  },
];

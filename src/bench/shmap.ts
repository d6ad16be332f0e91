/**
 * shmap `SharedMap`: created and preloaded by the main thread, attached by
 * handle in every worker. `shmap` is `sync: 'lock'` (every phase); `shmap-none`
 * is `sync: 'none'`, measured on the read-only phase only (with writers
 * racing it would record conflicts, which is its job, not a benchmark).
 */
import { SharedMap } from '../shm/map.js';
import type { SharedMapHandle, SharedMapOptions, SyncMode } from '../shm/types.js';
import {
  DEL,
  GET,
  type Driver,
  type Key,
  type OpStream,
  type SyncSession,
  type Value,
  type WorkloadName,
} from './driver.js';
import { STRING_KEY_MAX_BYTES, STRING_VALUE_BYTES } from './workload.js';

/** Capacity over the preload: room so the preload never triggers a rehash (growth happens at 7/8). */
const CAPACITY_HEADROOM = 1.25;

export function shmapOptions(workload: WorkloadName, preload: number, sync: SyncMode): SharedMapOptions {
  const capacity = Math.max(1024, Math.ceil(preload * CAPACITY_HEADROOM));
  const types: Pick<SharedMapOptions, 'key' | 'value'> =
    workload === 'int32'
      ? { key: 'int32', value: 'float64' }
      : { key: `string:${STRING_KEY_MAX_BYTES}`, value: `string:${STRING_VALUE_BYTES}` };
  // No maxCapacity: with one, the map keeps an exact global count (one shared
  // word every insert and delete updates), a cost a user who does not ask for
  // a hard bound does not pay.
  return { ...types, capacity, sync, onConflict: 'record' };
}

/**
 * Its `run` loop is a copy of MapSession's on purpose: each system gets its
 * own loop, so the `get`/`set` call sites in it see one receiver type and stay
 * monomorphic; one loop shared by all systems would measure them all through
 * a polymorphic call.
 */
export class ShmapSession implements SyncSession {
  readonly kind = 'sync';
  readonly batch = 1;
  constructor(private readonly map: SharedMap<Key, Value>) {}

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

function driver(name: string, sync: SyncMode, summary: string): Driver {
  return {
    name,
    summary,
    where: 'workers',
    readOnly: sync === 'none',
    batch: 1,
    async prepare(input) {
      const map = SharedMap.create<Key, Value>(shmapOptions(input.workload, input.preload, sync));
      const { keys, values, preload } = input;
      for (let i = 0; i < preload; i++) map.set(keys[i]!, values[i % values.length]!);
      const handle = map.handle;
      return { forWorker: () => ({ data: handle }), close: async () => {} };
    },
    async open(data) {
      return new ShmapSession(SharedMap.attach<Key, Value>(data as SharedMapHandle));
    },
  };
}

export const drivers: Driver[] = [
  driver('shmap', 'lock', "shmap SharedMap, sync: 'lock', attached in each worker"),
  driver('shmap-none', 'none', "shmap SharedMap, sync: 'none' (read-only phase only)"),
];

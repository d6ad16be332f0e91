/**
 * lmdb-js (`lmdb`): one environment in a temporary directory, opened by the
 * main thread (which preloads it) and by every worker, each reading its own
 * memory map: the other shared store people pick for cross-thread data.
 *
 * Reads are `db.get` (synchronous, no cache in front: `cache` is off).
 * Writes in the mix phase are `putSync` / `removeSync`, one write
 * transaction each, with `noSync` (no fsync), matching Redis with persistence
 * off and shmap in memory.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { open, type RootDatabase } from 'lmdb';
import { DEL, GET, type Driver, type Key, type OpStream, type SyncSession, type Value } from './driver.js';

interface LmdbData {
  readonly path: string;
}

function openEnv(path: string): RootDatabase<Value, Key> {
  return open<Value, Key>({ path, noSync: true, cache: false });
}

export class LmdbSession implements SyncSession {
  readonly kind = 'sync';
  readonly batch = 1;
  constructor(private readonly db: RootDatabase<Value, Key>) {}

  run(ops: OpStream, from: number, to: number): number {
    const db = this.db;
    const { kinds, keyIdx, valIdx, keys, values } = ops;
    let hits = 0;
    for (let i = from; i < to; i++) {
      const k = keys[keyIdx[i]!]!;
      const kind = kinds[i];
      if (kind === GET) {
        if (db.get(k) !== undefined) hits++;
      } else if (kind === DEL) {
        db.removeSync(k);
      } else {
        db.putSync(k, values[valIdx[i]!]!);
      }
    }
    return hits;
  }

  get(key: Key): Value | undefined {
    return this.db.get(key);
  }
  set(key: Key, value: Value): void {
    this.db.putSync(key, value);
  }
  delete(key: Key): void {
    this.db.removeSync(key);
  }
  async close(): Promise<void> {
    await this.db.close();
  }
}

/** Preload: puts per write transaction. */
const PRELOAD_CHUNK = 100_000;

export const drivers: Driver[] = [
  {
    name: 'lmdb',
    summary: 'lmdb-js: one environment, readers in each worker (writes: putSync, noSync)',
    where: 'workers',
    readOnly: false,
    batch: 1,
    async prepare(input) {
      const path = mkdtempSync(join(tmpdir(), 'shmap-bench-lmdb-'));
      const db = openEnv(path);
      const { keys, values, preload } = input;
      for (let i = 0; i < preload; i += PRELOAD_CHUNK) {
        db.transactionSync(() => {
          for (let j = i; j < Math.min(preload, i + PRELOAD_CHUNK); j++)
            db.putSync(keys[j]!, values[j % values.length]!);
        });
      }
      const data: LmdbData = { path };
      return {
        forWorker: () => ({ data }),
        async close() {
          await db.close();
          rmSync(path, { recursive: true, force: true });
        },
      };
    },
    async open(raw) {
      return new LmdbSession(openEnv((raw as LmdbData).path));
    },
  },
];

/**
 * The systems `bench` knows, in table order. Modules load on first use, so a
 * run (or a worker) that skips Redis never loads the Redis client.
 */
import type { Driver } from './driver.js';

const MODULES: Record<string, () => Promise<{ drivers: Driver[] }>> = {
  map: () => import('./map-single.js'),
  'map-per-worker': () => import('./map-per-worker.js'),
  shmap: () => import('./shmap.js'),
  'shmap-none': () => import('./shmap.js'),
  postmessage: () => import('./postmessage.js'),
  'postmessage-b64': () => import('./postmessage.js'),
  redis: () => import('./redis.js'),
  'redis-p64': () => import('./redis.js'),
  lmdb: () => import('./lmdb.js'),
};

/** Every system name, in the order rows are printed. */
export const SYSTEM_NAMES: readonly string[] = Object.keys(MODULES);

/** The system all ratios are taken against. */
export const REFERENCE = 'shmap';

export async function loadDriver(name: string): Promise<Driver> {
  const load = MODULES[name];
  if (load === undefined) throw new Error(`unknown system '${name}' (known: ${SYSTEM_NAMES.join(', ')})`);
  const mod = await load();
  const driver = mod.drivers.find((d) => d.name === name);
  if (driver === undefined) throw new Error(`module for '${name}' does not export it`);
  return driver;
}

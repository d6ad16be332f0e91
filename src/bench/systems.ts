/**
 * The systems `bench` knows, in table order. Modules load on first use, so a
 * run (or a worker) that skips Redis never loads the Redis client.
 */
import type { Driver } from './driver.js';
import { installed } from '../optional.js';

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

/** The optional peer dependency a system's module imports, if any. */
const NEEDS: Record<string, string> = { redis: 'redis', 'redis-p64': 'redis', lmdb: 'lmdb' };

/** Why a system cannot load here (its npm package is not installed), in one line; undefined when it can. */
export function missingPackage(name: string): string | undefined {
  const pkg = NEEDS[name];
  if (pkg === undefined || installed(pkg)) return undefined;
  return `${pkg}: the '${pkg}' package is not installed, skipping the ${pkg} rows (include them: npm install ${pkg})`;
}

export async function loadDriver(name: string): Promise<Driver> {
  const load = MODULES[name];
  if (load === undefined) throw new Error(`unknown system '${name}' (known: ${SYSTEM_NAMES.join(', ')})`);
  const mod = await load();
  const driver = mod.drivers.find((d) => d.name === name);
  if (driver === undefined) throw new Error(`module for '${name}' does not export it`);
  return driver;
}

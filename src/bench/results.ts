/**
 * Naming of generated output (benchmark results, profiles): by date and
 * commit. One place, used by `bench`, `bench cleanup` and
 * `profile`.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cpus } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { packageVersion } from '../optional.js';

/** shmap's own folder (the repository, or node_modules/shmap when installed), from dist/bench/. */
const PACKAGE_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Where `bench` and `bench cleanup` write their results: under the current directory, never inside the package. */
export function resultsDir(): string {
  return resolve('bench', 'results');
}

/**
 * What produced the output: `git rev-parse --short HEAD` when shmap runs from
 * its own checkout, else `v<version>` (an installed package; git would name
 * the commit of the project that installed it).
 */
export function gitCommit(): string {
  if (!existsSync(join(PACKAGE_ROOT, '.git'))) return `v${packageVersion()}`;
  try {
    return (
      execFileSync('git', ['rev-parse', '--short', 'HEAD'], {
        cwd: PACKAGE_ROOT,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      }).trim() || 'nogit'
    );
  } catch {
    return 'nogit';
  }
}

/** Local date and time as YYYY-MM-DD_HHMMSS, for file names. */
export function fileStamp(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}_${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

/** The machine a benchmark ran on, as every bench command's header and JSON record it. */
export function machineInfo(): { cpu: string; cores: number; node: string; platform: string } {
  return {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
  };
}

/**
 * Naming of generated output (benchmark results, profiles): by date and
 * commit, as STYLE.md asks. One place, used by `bench`, `bench cleanup` and
 * `profile`.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The project's root (where `bench/results/` and `profiles/` live), from dist/bench/. */
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** `git rev-parse --short HEAD` in `cwd`, or 'nogit' outside a checkout. */
export function gitCommit(cwd: string = ROOT): string {
  try {
    return (
      execFileSync('git', ['rev-parse', '--short', 'HEAD'], {
        cwd,
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

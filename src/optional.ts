/**
 * The CLI's optional peer dependencies. The library (`import ... from
 * 'shmap'`) never loads them; a command that needs one checks for it before
 * doing any work and says in one line what to install.
 *
 *  - `0x`: `profile` renders its flamegraphs with it (required by `profile`).
 *  - `redis`: the client behind `bench`'s and `bench http`'s redis rows
 *    (skipped without it), and behind `NearCache`, which loads it only when a
 *    cache is created.
 *  - `autocannon`: the HTTP load of `bench http` (required by `bench http`).
 *  - `lmdb`: `bench`'s lmdb row (skipped without it).
 */
import { readFileSync } from 'node:fs';

/** Whether `specifier` resolves from here (the package's own folder, then its parents' node_modules). */
export function installed(specifier: string): boolean {
  try {
    import.meta.resolve(specifier);
    return true;
  } catch {
    return false;
  }
}

/** The one line saying what to install: `<what> needs the 'pkg' package (npm install pkg)`. */
export function installHint(what: string, pkg: string): string {
  return `${what} needs the '${pkg}' package, which is an optional peer dependency of shmap: npm install ${pkg}`;
}

/** shmap's version, from its package.json. */
export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

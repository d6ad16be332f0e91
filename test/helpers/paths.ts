/**
 * The one place tests learn where compiled code lives. Code that runs inside a
 * worker thread (piscina tasks, test workers) must be JavaScript, so tests load
 * it from dist/, which `npm test` builds before vitest starts.
 */
import { fileURLToPath } from 'node:url';
import { existsSync } from 'node:fs';

const root = fileURLToPath(new URL('../../', import.meta.url));

/** Absolute path of a compiled file under dist/, e.g. distPath('workers/stress.js'). Throws when it is not built. */
export function distPath(rel: string): string {
  const p = root + 'dist/' + rel;
  if (!existsSync(p)) throw new Error(`${p} is not built: run \`npm run build\` (npm test does it first)`);
  return p;
}

/** Absolute path of a file under test/, e.g. testPath('workers/writer.mjs'). */
export function testPath(rel: string): string {
  return root + 'test/' + rel;
}

/** Absolute path of a file in the repository, e.g. repoPath('package.json'); repoPath('') is the root. */
export function repoPath(rel: string): string {
  return root + rel;
}

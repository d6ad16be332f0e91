/**
 * The package as a user installs it: `npm pack`, then `npm install` of the
 * tarball into an empty project (offline when npm's cache already holds the
 * dependencies, as it does after `npm ci`), without the optional peer
 * dependencies (0x, redis, lmdb). From there: the library imports with no
 * runtime dependency, a TypeScript file type-checks against the published
 * .d.ts (and internals are not in it), the worker entry points and the
 * examples run, and every command either works or says in one line what to
 * install, writing its output under the project, never inside node_modules.
 */
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoPath } from '../helpers/paths.js';

const pkg = JSON.parse(readFileSync(repoPath('package.json'), 'utf8')) as { version: string };
const work = mkdtempSync(join(tmpdir(), 'shmap-package-test-'));
const app = join(work, 'app');
afterAll(() => rmSync(work, { recursive: true, force: true }));

function sh(cmd: string, args: string[], cwd = app, timeout = 500_000): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout, env: { ...process.env, NO_COLOR: '1' } });
}

/** Runs the installed CLI the way a user does (`npx shmap ...` resolves to this bin). */
function shmap(...args: string[]): SpawnSyncReturns<string> {
  return sh(process.execPath, [join(app, 'node_modules', 'shmap', 'dist', 'main.js'), ...args]);
}

function ok(r: SpawnSyncReturns<string>): string {
  expect(r.error).toBeUndefined();
  expect(r.status, r.stderr).toBe(0);
  return r.stdout;
}

beforeAll(() => {
  const packed = sh('npm', ['pack', '--ignore-scripts', '--pack-destination', work, '--json'], repoPath(''));
  const [{ filename }] = JSON.parse(ok(packed)) as Array<{ filename: string }>;
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
  ok(sh('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', join(work, filename)], app));
}, 600_000);

// Generous limits: npm and tsc are slow on a loaded machine, and a slow machine is no failure.
describe('the installed package', { timeout: 600_000 }, () => {
  it('imports with no runtime dependency: the library statically loads only node: modules', () => {
    // Walk the import graph of the entry points from the installed files. A static import must be
    // node:; a lazy import() may also name an optional peer dependency (loaded only when used).
    const root = join(app, 'node_modules', 'shmap', 'dist');
    const installed = JSON.parse(readFileSync(join(app, 'node_modules', 'shmap', 'package.json'), 'utf8')) as {
      peerDependenciesMeta?: Record<string, { optional?: boolean }>;
    };
    const optional = Object.keys(installed.peerDependenciesMeta ?? {});
    const seen = new Set<string>();
    const bare = new Set<string>();
    const visit = (file: string): void => {
      if (seen.has(file)) return;
      seen.add(file);
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+'([^']+)'|import\('([^']+)'\)/g)) {
        const spec = m[1] ?? m[2]!;
        const lazy = m[1] === undefined;
        if (spec.startsWith('.')) visit(join(file, '..', spec));
        else if (!spec.startsWith('node:') && !(lazy && optional.includes(spec))) bare.add(spec);
      }
    };
    for (const entry of ['index.js', 'workers/sweeper.js', 'workers/drainer.js']) visit(join(root, entry));
    expect(seen.size).toBeGreaterThan(10);
    expect([...bare]).toEqual([]);

    const out = ok(
      sh(process.execPath, [
        '--input-type=module',
        '-e',
        `import { SharedMap, DeleteQueue } from 'shmap';
         import sweeper from 'shmap/workers/sweeper';
         import drainer from 'shmap/workers/drainer';
         const m = SharedMap.create({ key: 'string:16', value: 'int32' });
         m.set('a', 1);
         console.log(m.get('a'), typeof DeleteQueue.create, typeof sweeper, typeof drainer);`,
      ]),
    );
    expect(out.trim()).toBe('1 function function function');
  });

  it('type-checks a TypeScript file against the published .d.ts, which holds only the API', () => {
    const dts = readdirSync(join(app, 'node_modules', 'shmap', 'dist'), { recursive: true, encoding: 'utf8' })
      .filter((f) => f.endsWith('.d.ts'))
      .map((f) => readFileSync(join(app, 'node_modules', 'shmap', 'dist', f), 'utf8'));
    expect(dts.length).toBeGreaterThan(10);
    expect(dts.filter((text) => text.includes('@internal'))).toEqual([]);

    writeFileSync(
      join(app, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          target: 'ES2022',
          lib: ['ES2024'],
          strict: true,
          noEmit: true,
          types: ['node'],
          typeRoots: [repoPath('node_modules/@types')],
        },
      }),
    );
    writeFileSync(
      join(app, 'good.ts'),
      `import { SharedMap, ConcurrentMapIterationError, type SharedMapHandle } from 'shmap';
       import type { SweeperTask } from 'shmap/workers/sweeper';
       import type { DrainerTask } from 'shmap/workers/drainer';
       const map = SharedMap.create<string, { user: number }>({ key: 'string:32', value: 'json:64' });
       map.set('a', { user: 1 });
       const user: number | undefined = map.get('a')?.user;
       const handle: SharedMapHandle = map.handle;
       export const task: Partial<SweeperTask & DrainerTask> = { map: handle, intervalMs: 10 };
       export const code: string = new ConcurrentMapIterationError().code;
       console.log(user);
      `,
    );
    // One run (a type-check of @types/node takes seconds): good.ts must pass, and as a negative control
    // bad.ts must fail, on an internal field that is not part of the API.
    writeFileSync(join(app, 'bad.ts'), `import { SharedMap } from 'shmap';\nSharedMap.create({ key: 'int32' }).kc;\n`);
    const r = sh(process.execPath, [repoPath('node_modules/typescript/bin/tsc'), '-p', '.']);
    rmSync(join(app, 'bad.ts'));
    const errors = r.stdout.trim().split('\n');
    expect(errors).toEqual([expect.stringMatching(/^bad\.ts\(2,\d+\): error TS2339: Property 'kc' does not exist/)]);
  });

  it('runs the examples (one per cleanup shape) from the installed package', () => {
    for (const example of ['sweep', 'ttl-sweeper', 'lease', 'delete-queue']) {
      cpSync(join(app, 'node_modules', 'shmap', 'examples', `${example}.mjs`), join(app, `${example}.mjs`));
      expect(ok(sh(process.execPath, [`${example}.mjs`]))).toMatch(new RegExp(`^${example.split('-')[0]}`));
    }
  });

  it('shmap --version, and --help of every command', () => {
    expect(ok(shmap('--version')).trim()).toBe(pkg.version);
    // Every command the usage lists (a new one is covered without touching this test).
    const commands = [...ok(shmap('--help')).matchAll(/^ {2}([a-z]+) {2}/gm)].map((m) => m[1]!);
    expect(commands).toEqual(expect.arrayContaining(['stress', 'profile', 'bench', 'check', 'lincheck']));
    for (const command of commands) expect(ok(shmap(command, '--help'))).toMatch(/usage/i);
    expect(ok(shmap('bench', 'cleanup', '--help'))).toMatch(/usage/i);
  });

  it('shmap stress --duration 1 verifies a run', () => {
    expect(ok(shmap('stress', '--duration', '1', '--workers', '2', '--keys', '2000', '--seed', '1'))).toMatch(
      /result: PASS/,
    );
  });

  it('profile without 0x says in one line what to install, before any work', () => {
    const r = shmap('profile', '--duration', '1');
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n')).toEqual([expect.stringMatching(/npm install 0x$/)]);
    expect(existsSync(join(app, 'profiles'))).toBe(false);
  });

  it('bench without redis and lmdb skips their rows in one line each, and writes results under the current directory', () => {
    const r = shmap('bench', '--quick', '--only', 'map,redis,lmdb');
    ok(r);
    expect(r.stderr).toMatch(/^redis: .*npm install redis\)$/m);
    expect(r.stderr).toMatch(/^lmdb: .*npm install lmdb\)$/m);
    expect(readdirSync(join(app, 'bench', 'results')).filter((f) => f.endsWith('.json'))).toHaveLength(1);
    expect(existsSync(join(app, 'node_modules', 'shmap', 'bench'))).toBe(false);
  });

  it('serve answers on an ephemeral port, says in one line that /metrics needs prom-client, and exits 0 on SIGINT', async () => {
    const child = spawn(
      process.execPath,
      [join(app, 'node_modules', 'shmap', 'dist', 'main.js'), 'serve', '--port', '0'],
      {
        cwd: app,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      while (!/listening on (\S+)/.test(out)) {
        if (child.exitCode !== null) throw new Error(`serve exited: ${out}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      const url = /listening on (\S+)/.exec(out)![1]!;
      const put = await fetch(`${url}/sessions/a`, { method: 'PUT', body: '{"user":1}' });
      expect(put.status).toBe(200);
      expect(((await (await fetch(`${url}/sessions/a`)).json()) as { data: unknown }).data).toEqual({ user: 1 });
      const metrics = await fetch(`${url}/metrics`);
      expect(metrics.status).toBe(503);
      expect(((await metrics.json()) as { error: string }).error).toMatch(
        /^GET \/metrics needs .*npm install prom-client$/,
      );
    } finally {
      child.kill('SIGINT');
    }
    expect(await exit).toBe(0);
  });

  it('bench http without autocannon says in one line what to install; with it, without redis, the redis row is skipped in one line', () => {
    const without = shmap('bench', 'http', '--quick', '--only', 'redis');
    expect(without.status).toBe(2);
    expect(without.stderr.trim().split('\n')).toEqual([expect.stringMatching(/npm install autocannon$/)]);
    ok(sh('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', 'autocannon@9'], app));
    const r = shmap('bench', 'http', '--quick', '--only', 'redis');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/redis: skipped: .*npm install redis\)$/m);
    expect(r.stdout).toMatch(/^redis +- +skipped: /m);
  });
});

/**
 * The package root loads no Redis client: a copy of dist/ where `redis`
 * cannot be resolved still imports, SharedMap works, and NearCache.create
 * fails with one line saying what to install.
 */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { distPath } from '../helpers/paths.js';

describe('the Redis client is an optional peer dependency', () => {
  it('imports without it, and NearCache says what to install', () => {
    const dir = mkdtempSync(join(tmpdir(), 'shmap-no-redis-'));
    try {
      cpSync(distPath('index.js').replace(/index\.js$/, ''), join(dir, 'dist'), { recursive: true });
      writeFileSync(join(dir, 'package.json'), '{"type":"module"}');
      const script = `
        const { SharedMap, NearCache } = await import(${JSON.stringify(join(dir, 'dist/index.js'))});
        const m = SharedMap.create(); m.set(1, 2);
        try { await NearCache.create({ url: 'redis://127.0.0.1:1', capacity: 4 }); console.log('created'); }
        catch (e) { console.log(m.get(1), e.code, e.message); }`;
      const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: dir, encoding: 'utf8' });
      expect(r.stderr).toBe('');
      expect(r.stdout.trim()).toBe(
        "2 SHMAP_REDIS_CLIENT_MISSING NearCache needs the 'redis' package, which is an optional peer dependency of shmap: npm install redis",
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

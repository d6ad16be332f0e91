/**
 * `node dist/main.js bench near-cache` refuses bad arguments the way every
 * command does: exit 2, one line on stderr naming the option, nothing on
 * stdout, before it looks for a Redis server.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { distPath } from '../helpers/paths.js';

describe('bench near-cache arguments', () => {
  const bad: Array<[string[], RegExp]> = [
    [['--frobnicate'], /unknown option '--frobnicate'/],
    [['--threads'], /--threads needs a value/],
    [['--threads', '1,zero'], /--threads must be a comma-separated list of positive integers, got '1,zero'/],
    [['--rounds', '-2'], /--rounds must be a comma-separated list of positive integers, got '-2'/],
    [['--keys', '10'], /--keys must each be at least/],
    [['extra'], /unexpected argument 'extra'/],
  ];
  for (const [args, reason] of bad) {
    it(`rejects ${args.join(' ')} with exit 2 and a one-line reason`, () => {
      const r = spawnSync(process.execPath, [distPath('main.js'), 'bench', 'near-cache', ...args], {
        encoding: 'utf8',
        timeout: 60_000,
      });
      expect(r.status).toBe(2);
      const lines = r.stderr.trimEnd().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^shmap bench near-cache: .* \(see shmap bench near-cache --help\)$/);
      expect(lines[0]).toMatch(reason);
      expect(r.stdout).toBe('');
    });
  }
});

/**
 * `node dist/main.js stress` as a user runs it: bad arguments exit 2 with a
 * one-line reason (no stack trace), --help lists every option and the exit
 * codes, --json prints one JSON document and nothing else.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { distPath } from '../helpers/paths.js';

function stress(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [distPath('main.js'), 'stress', ...args], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('stress arguments', () => {
  const bad: Array<[string[], RegExp]> = [
    [['--workers', '0'], /--workers must be between 1 and 256, got 0/],
    [['--workers', 'four'], /--workers must be a whole number, got 'four'/],
    [['--ops', '1.5'], /--ops must be a whole number/],
    [['--duration=-3'], /--duration must be a number/],
    [['--duration', '-3'], /--duration must be a number in \(0, 86400\], got '-3'/],
    [['--seed', '-5'], /--seed must be between 0 and 2147483647, got -5/],
    [['--duration', '0'], /--duration must be a number in \(0, 86400\]/],
    [['--duration', '1', '--ops', '100'], /give --duration or --ops, not both/],
    [
      ['--scenario', 'nope'],
      /--scenario: unknown scenario 'nope' \(known: mixed, range-delete, sweep, counters, ttl, lease, delete-queue, chaos, near-cache\)/,
    ],
    [['--mix', 'get=70,set=20'], /--mix: shares must sum to 100, got 90/],
    [['--mix', 'get=70,frob=30'], /--mix: unknown op 'frob'/],
    [['--mix', 'get=70,get=30'], /--mix: 'get' given twice/],
    [['--mix', 'get'], /--mix: expected op=percent/],
    [['--dist', 'zipf:-1'], /--dist zipf:S exponent must be a number/],
    [['--dist', 'pareto'], /--dist must be uniform, zipf:S or hot:P/],
    [['--sync', 'maybe'], /--sync must be lock or none/],
    [['--shards', '12'], /--shards must be a power of two/],
    [['--key-type', 'json:10'], /--key-type must be one of int32/],
    [['--key-type', 'string:3'], /--key-type string:3 is too narrow/],
    [['--scenario', 'counters', '--value-type', 'string:8'], /--scenario counters uses add/],
    [['--mix', 'get=50,add=50', '--value-type', 'json:64'], /--mix add needs --value-type/],
    [['--scenario', 'range-delete', '--workers', '1'], /needs --workers 2 or more/],
    [['--kill-interval', '50'], /--kill-interval and --stall-limit need --scenario chaos/],
    [['--scenario', 'chaos', '--kill-interval', '0'], /--kill-interval must be between 1 and/],
    [['--scenario', 'chaos', '--ops', '1000'], /--scenario chaos runs for a --duration, not --ops/],
    [['--scenario', 'chaos', '--key-type', 'string:8'], /--scenario chaos uses int32 keys and float64 values/],
    [['--frobnicate'], /unknown option '--frobnicate'/],
    [['extra'], /unexpected argument 'extra'/],
    [['--workers'], /--workers needs a value/],
    [['--json=yes'], /--json takes no value/],
  ];
  for (const [args, reason] of bad) {
    it(`rejects ${args.join(' ')} with exit 2 and a one-line reason`, () => {
      const r = stress(...args);
      expect(r.code).toBe(2);
      const lines = r.stderr.trimEnd().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^shmap stress: .* \(see shmap stress --help\)$/);
      expect(lines[0]).toMatch(reason);
      expect(r.stdout).toBe('');
    });
  }

  it('--help lists every option and the exit codes', () => {
    const r = stress('--help');
    expect(r.code).toBe(0);
    for (const opt of [
      '--workers',
      '--duration',
      '--ops',
      '--keys',
      '--owned',
      '--key-type',
      '--value-type',
      '--mix',
      '--dist',
      '--sync',
      '--shards',
      '--scenario',
      '--seed',
      '--json',
      '--report',
    ]) {
      expect(r.stdout).toContain(opt);
    }
    for (const s of ['mixed', 'range-delete', 'sweep', 'counters']) expect(r.stdout).toContain(s);
    expect(r.stdout).toMatch(/exit codes:\n\s+0 .*\n\s+1 .*\n\s+2 /);
  });

  it('--json prints one JSON document and nothing else; exit 0 when verified', () => {
    const r = stress('--ops', '2000', '--workers', '2', '--keys', '200', '--owned', '20', '--seed', '7', '--json');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout) as {
      totalOps: number;
      verification: { ok: boolean };
      conflicts: { records: unknown[] };
      options: { seed: number };
    };
    expect(doc.totalOps).toBe(2000);
    expect(doc.verification.ok).toBe(true);
    expect(doc.conflicts.records).toEqual([]);
    expect(doc.options.seed).toBe(7);
  });
});

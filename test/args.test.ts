/**
 * src/args.ts, and every command's bad-argument path through it: a negative
 * number is an option's value (`--seed -5`), parseArgs's errors become one
 * line in the commands' words, and each command answers a bad argument with
 * exactly one line `shmap <command>: <reason> (see shmap <command> --help)`
 * on stderr, nothing on stdout, and exit code 2. The commands run in this
 * process with their output captured.
 */
import { describe, expect, it } from 'vitest';
import { argsErrorMessage, joinNegativeValues, parseCommandArgs } from '../src/args.js';
import { UsageError } from '../src/stress/options.js';
import { captureOutput } from './helpers/output.js';

const OPTIONS = { seed: { type: 'string' }, json: { type: 'boolean' } } as const;

function reason(argv: string[], allowPositionals = false): string {
  try {
    parseCommandArgs({ args: argv, options: OPTIONS, allowPositionals });
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return (err as Error).message;
  }
  throw new Error(`${argv.join(' ')} parsed`);
}

describe('args', () => {
  it('a negative number after an option that takes a value is its value', () => {
    const valued = new Set(['seed', 'ratio']);
    expect(joinNegativeValues(['--seed', '-5', '--ratio', '-.5', '--json'], valued)).toEqual([
      '--seed=-5',
      '--ratio=-.5',
      '--json',
    ]);
    // Not a number, an option that takes no value, or already joined: left alone.
    expect(joinNegativeValues(['--seed', '-x'], valued)).toEqual(['--seed', '-x']);
    expect(joinNegativeValues(['--json', '-5'], valued)).toEqual(['--json', '-5']);
    expect(joinNegativeValues(['--seed=-1', '-5'], valued)).toEqual(['--seed=-1', '-5']);
    expect(parseCommandArgs({ args: ['--seed', '-5'], options: OPTIONS }).values.seed).toBe('-5');
  });

  it("parseArgs's errors become one line in the commands' words", () => {
    expect(reason(['--bogus'])).toBe("unknown option '--bogus'");
    expect(reason(['--bogus'], true)).toBe("unknown option '--bogus'");
    expect(reason(['-z'])).toBe("unknown option '-z'");
    expect(reason(['extra'])).toBe("unexpected argument 'extra' (this command takes options only)");
    expect(reason(['--seed'])).toBe('--seed needs a value');
    expect(reason(['--seed', '-x'])).toBe("--seed needs a value (one that starts with '-' goes as --seed=VALUE)");
    expect(reason(['--json=1'])).toBe('--json takes no value');
    // Anything else: its first line.
    expect(argsErrorMessage(new Error('first\nsecond'))).toBe('first');
  });

  const commands: Array<[string, () => Promise<{ run(argv: string[]): Promise<number> }>, string[]]> = [
    ['stress', () => import('../src/commands/stress.js'), []],
    ['lincheck', () => import('../src/commands/lincheck.js'), []],
    ['lincheck soak', () => import('../src/commands/lincheck.js'), ['soak']],
    ['check', () => import('../src/commands/check.js'), []],
    ['serve', () => import('../src/commands/serve.js'), []],
    ['profile', () => import('../src/commands/profile.js'), []],
    ['bench', () => import('../src/commands/bench.js'), []],
    ['bench cleanup', () => import('../src/commands/bench.js'), ['cleanup']],
    ['bench http', () => import('../src/commands/bench.js'), ['http']],
  ];
  for (const [name, load, prefix] of commands) {
    it(`${name}: a bad argument is one line on stderr and exit 2`, async () => {
      const command = await load();
      for (const bad of [['--bogus'], ['--help=yes']]) {
        const r = await captureOutput(() => command.run([...prefix, ...bad]));
        expect(r.result, bad.join(' ')).toBe(2);
        expect(r.stdout).toBe('');
        const escaped = name.replace(' ', '\\s');
        expect(r.stderr).toMatch(new RegExp(`^shmap ${escaped}: [^\\n]+ \\(see shmap ${escaped} --help\\)\\n$`));
      }
    });
  }

  it('lincheck takes a negative --seed; stress refuses one with its own reason', async () => {
    const { parseLincheckArgs } = await import('../src/commands/lincheck.js');
    expect(parseLincheckArgs(['--seed', '-5']).options.seed).toBe(-5);
    const stress = await import('../src/commands/stress.js');
    const r = await captureOutput(() => stress.run(['--seed', '-5']));
    expect(r.result).toBe(2);
    expect(r.stderr).toBe('shmap stress: --seed must be between 0 and 2147483647, got -5 (see shmap stress --help)\n');
  });
});

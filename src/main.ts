#!/usr/bin/env node
/**
 * shmap's command line: parses the command name and hands the rest of argv to
 * that command's module in src/commands/. Each command returns its exit code.
 *
 * Exit codes (every command): 0 success, 1 the run found a failure
 * (verification, conflicts, violation), 2 bad arguments (or a missing
 * optional package the command needs), 3 inconclusive (`check`: a key timed
 * out).
 */
import { packageVersion } from './optional.js';

/** One CLI command: parses its own arguments and returns the exit code. */
export interface Command {
  run(argv: string[]): Promise<number>;
}

const COMMANDS: Record<string, string> = {
  stress: 'hammer one SharedMap from a piscina pool and verify nothing was lost (the main job)',
  profile: 'run a stress scenario under a CPU profiler and write flamegraphs of every thread to profiles/',
  bench:
    'benchmark shmap against Map, postMessage, Redis and lmdb side by side (`bench cleanup`: the cleanup strategies)',
  check: 'check a JSON Lines history for linearizability, key by key',
  lincheck: 'generate small concurrent scenarios, run them on real workers and check every run',
  serve: 'an HTTP session service whose handler threads share one SharedMap (`bench http` loads it)',
};

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  return [
    'usage: shmap <command> [options]     (shmap <command> --help for its options)',
    '       shmap --version',
    '',
    'commands:',
    ...Object.entries(COMMANDS).map(([name, text]) => `  ${name.padEnd(width)}  ${text}`),
    '',
    'exit codes: 0 ok, 1 failure found, 2 bad arguments or a missing optional package, 3 inconclusive',
  ].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage() + '\n');
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === '-v' || name === 'version') {
    process.stdout.write(packageVersion() + '\n');
    return 0;
  }
  if (!Object.hasOwn(COMMANDS, name)) {
    process.stderr.write(`shmap: unknown command '${name}'\n\n${usage()}\n`);
    return 2;
  }
  const command = (await import(`./commands/${name}.js`)) as Command;
  return command.run(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`shmap: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);

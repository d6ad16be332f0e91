/**
 * Every command parses its arguments here: node's `parseArgs`, strict, with
 * two things it does not do for a command line a person types.
 *
 * - A negative number is a value: `--seed -5` means `--seed=-5`. parseArgs
 *   takes a value that starts with '-' for an option of its own and refuses
 *   it as ambiguous; joining it lets the option's own parser accept it or
 *   say what is wrong with it.
 * - Its errors become one line in the commands' own words (`unknown option
 *   '--bogus'`, `--timeout needs a value`), without the advice about
 *   positional arguments or the three-line ambiguity note.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from './stress/options.js';

/** `--name -5` as `--name=-5` for the options in `valued` (those that take a value). */
export function joinNegativeValues(argv: readonly string[], valued: ReadonlySet<string>): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const next = argv[i + 1];
    if (
      a.startsWith('--') &&
      !a.includes('=') &&
      valued.has(a.slice(2)) &&
      next !== undefined &&
      /^-\.?\d/.test(next)
    ) {
      out.push(`${a}=${next}`);
      i++;
    } else out.push(a);
  }
  return out;
}

/** One line in the commands' words for an error `parseArgs` threw (anything else: its first line). */
export function argsErrorMessage(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  const code = (err as { code?: unknown } | null)?.code;
  let m: RegExpExecArray | null;
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && (m = /^Unknown option '([^']*)'/.exec(message)))
    return `unknown option '${m[1]}'`;
  if (code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL' && (m = /^Unexpected argument '([^']*)'/.exec(message)))
    return `unexpected argument '${m[1]}' (this command takes options only)`;
  if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    if ((m = /^Option '(-[^ ']*)(?: <value>)?' argument missing/.exec(message))) return `${m[1]} needs a value`;
    if ((m = /^Option '(-[^ ']*)' argument is ambiguous/.exec(message)))
      return `${m[1]} needs a value (one that starts with '-' goes as ${m[1]}=VALUE)`;
    if ((m = /^Option '(-[^ ']*)' does not take an argument/.exec(message))) return `${m[1]} takes no value`;
  }
  return message.split('\n')[0]!;
}

/**
 * `parseArgs(config)`, strict, with negative numbers joined to their option;
 * throws UsageError with a one-line reason.
 */
export function parseCommandArgs<T extends ParseArgsConfig & { args: string[] }>(
  config: T,
): ReturnType<typeof parseArgs<T & { strict: true }>> {
  const valued = new Set(
    Object.entries(config.options ?? {})
      .filter(([, o]) => o.type === 'string')
      .map(([name]) => name),
  );
  try {
    return parseArgs({ ...config, args: joinNegativeValues(config.args, valued), strict: true });
  } catch (err) {
    throw new UsageError(argsErrorMessage(err));
  }
}

/**
 * Reports bad arguments the way every command does: one line on stderr,
 * `shmap <command>: <reason> (see shmap <command> --help)`. Returns the
 * exit code for bad arguments, 2.
 */
export function usageFailure(command: string, reason: string): 2 {
  process.stderr.write(`shmap ${command}: ${reason} (see shmap ${command} --help)\n`);
  return 2;
}

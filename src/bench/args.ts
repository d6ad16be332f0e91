/**
 * The flags the benchmark commands share (`bench`, `bench http`, `bench
 * cleanup`): --quick, --json, --only a,b (where the command has rows to
 * pick), --help. One parser, so they read and fail alike.
 */
import { parseCommandArgs, usageFailure } from '../args.js';

export interface BenchFlags {
  quick: boolean;
  json: boolean;
  /** The --only list as given (undefined: every row); the command resolves the names. */
  only: string | undefined;
  help: boolean;
}

/**
 * Parses `argv`; on a bad argument writes one line `shmap <command>: <what
 * was wrong>` to stderr and returns undefined (the command exits 2).
 */
export function parseBenchFlags(command: string, argv: string[], { only = true } = {}): BenchFlags | undefined {
  try {
    const { values } = parseCommandArgs({
      args: argv,
      options: {
        quick: { type: 'boolean' },
        json: { type: 'boolean' },
        ...(only ? { only: { type: 'string' as const } } : {}),
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    });
    return {
      quick: values.quick === true,
      json: values.json === true,
      only: (values as { only?: string }).only,
      help: values.help === true,
    };
  } catch (err) {
    usageFailure(command, (err as Error).message);
    return undefined;
  }
}

/**
 * `shmap serve`: the HTTP session service (src/serve/). Parses the options,
 * starts the server, prints the mode and the address, and on SIGINT /
 * SIGTERM stops it gracefully and prints its final stats as one JSON line
 * (`stopped: {...}`), which `bench http` reads.
 */
import { InvalidOptionError } from '../shm/errors.js';
import { parseServeArgs, serveHelp } from '../serve/options.js';
import { startServe } from '../serve/server.js';
import { usageFailure } from '../args.js';

export async function run(argv: string[]): Promise<number> {
  let options;
  try {
    options = parseServeArgs(argv);
  } catch (err) {
    if (err instanceof InvalidOptionError) {
      return usageFailure('serve', err.message);
    }
    throw err;
  }
  if (options === undefined) {
    process.stdout.write(serveHelp() + '\n');
    return 0;
  }
  let server;
  try {
    server = await startServe(options);
  } catch (err) {
    process.stderr.write(`shmap serve: could not start: ${(err as Error).message}\n`);
    return 1;
  }
  const o = options;
  process.stdout.write(
    `shmap serve: ${server.describe}\n` +
      `  store ${o.store}, cleanup ${o.cleanup}, sync ${o.sync}, stale after ${o.staleMs} ms` +
      (o.alertUrl === undefined ? '' : `, conflict alerts to ${o.alertUrl}`) +
      `\nlistening on ${server.url}\n`,
  );
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
  process.stdout.write(`shmap serve: ${signal}: stopping (finishing requests in flight)\n`);
  const summary = await server.stop();
  process.stdout.write(`stopped: ${JSON.stringify(summary)}\n`);
  // Every thread has exited and the server is closed: nothing should keep the process alive now.
  // If something does, say what (this timer does not itself keep the process alive).
  setTimeout(() => {
    process.stderr.write(
      `shmap serve: still alive 5 s after stopping: ${process.getActiveResourcesInfo().join(', ')}\n`,
    );
    process.exit(1);
  }, 5_000).unref();
  return summary.forced > 0 ? 1 : 0;
}

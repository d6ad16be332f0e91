/**
 * `serve` in a child process, as `bench http` and the tests run it: spawn
 * `node dist/main.js serve ...`, wait for its `listening on` line, and stop
 * it with SIGTERM, reading the `stopped: {...}` line it prints on the way out.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { StopSummary } from './server.js';

// From dist/serve/ the CLI is ../main.js; from the sources (under the test runner) it is the built dist/main.js.
const MAIN = fileURLToPath(
  new URL(import.meta.url.endsWith('.ts') ? '../../dist/main.js' : '../main.js', import.meta.url),
);

export interface ServeChild {
  readonly child: ChildProcess;
  readonly port: number;
  readonly url: string;
  /** The first line: the mode. */
  readonly modeLine: string;
  /** Everything it printed so far (stdout and stderr). */
  output(): string;
  /** SIGTERM, then waits for the exit; the exit code and the summary it printed (undefined if none). */
  stop(timeoutMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null; summary?: StopSummary }>;
}

export interface SpawnOptions {
  /** The node binary (default: this one). */
  node?: string;
  /** Node flags before the script. */
  execArgv?: string[];
  /** How long to wait for `listening on` (ms). */
  startTimeoutMs?: number;
}

/** Starts `serve` with `args` (add `--port 0` for a free port). Rejects with its output if it exits or does not listen in time. */
export function spawnServe(args: string[], opts: SpawnOptions = {}): Promise<ServeChild> {
  const child = spawn(opts.node ?? process.execPath, [...(opts.execArgv ?? []), MAIN, 'serve', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => (out += s));
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (out += s));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`serve did not print 'listening on' within ${opts.startTimeoutMs ?? 30_000} ms:\n${out}`));
    }, opts.startTimeoutMs ?? 30_000);
    void exit.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`serve exited (code ${code}, signal ${signal}) before listening:\n${out}`));
    });
    const onData = () => {
      const m = /listening on (http:\/\/[^:\s]+:(\d+))/.exec(out);
      if (m === null) return;
      clearTimeout(timer);
      child.stdout!.off('data', onData);
      resolve({
        child,
        port: Number(m[2]),
        url: m[1]!,
        modeLine: out.split('\n')[0]!,
        output: () => out,
        async stop(timeoutMs = 30_000) {
          if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
          let timer2: NodeJS.Timeout | undefined;
          const r = await Promise.race([
            exit,
            new Promise<never>((_, rej) => {
              timer2 = setTimeout(() => {
                child.kill('SIGKILL');
                rej(new Error(`serve did not exit within ${timeoutMs} ms of SIGTERM:\n${out}`));
              }, timeoutMs);
            }),
          ]);
          clearTimeout(timer2);
          const line = /^stopped: (.*)$/m.exec(out);
          return line === null ? r : { ...r, summary: JSON.parse(line[1]!) as StopSummary };
        },
      });
    };
    child.stdout!.on('data', onData);
  });
}

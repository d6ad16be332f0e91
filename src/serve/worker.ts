/**
 * A handler thread of `serve`. Two ways to run, one app (src/serve/app.ts):
 *
 *  - reuseport: a plain Worker with `workerData = { serve: 'reuseport', ... }`
 *    runs its own `node:http` server, listening with `reusePort: true` on the
 *    port every handler thread shares; the kernel spreads connections over
 *    them. It posts `{ type: 'listening', port }`, and on `{ type: 'close' }`
 *    stops accepting, finishes in-flight requests, closes its store and posts
 *    `{ type: 'closed' }`; the thread then ends (nothing keeps it alive).
 *  - dispatch: a piscina task (`workerData = { serve: 'dispatch', ... }`):
 *    the main thread accepted the request and read its body; the task answers
 *    it. Many tasks run at once per thread (a GET may wait on --work-ms).
 */
import { createServer, type Server } from 'node:http';
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { handle, type App, type Reply } from './app.js';
import { ThreadCounters } from './counters.js';
import { listener } from './http.js';
import { CTL, openStore, type ServeShared } from './store.js';

export interface HandlerData {
  serve: 'reuseport' | 'dispatch';
  shared: ServeShared;
  /** reuseport: the port to listen on (0 for the first thread: any free port). */
  port?: number;
}

export type HandlerMessage =
  { type: 'listening'; port: number } | { type: 'closed' } | { type: 'error'; message: string; code?: string };

/** What the dispatcher sends a piscina task. */
export interface DispatchTask {
  method: string;
  url: string;
  body: string;
}

async function openApp(data: HandlerData): Promise<App> {
  const counters = new ThreadCounters(data.shared.counters, 'handler');
  counters.observeGc();
  const store = await openStore(data.shared, counters);
  return { store, counters, shared: data.shared, mode: data.serve };
}

/** The body limit: a session's data (--value-bytes). */
export function bodyLimit(shared: ServeShared): number {
  return shared.options.valueBytes;
}

async function runReusePort(data: HandlerData): Promise<void> {
  const port = parentPort!;
  let app: App;
  let server: Server;
  try {
    app = await openApp(data);
    const a = app;
    server = createServer(
      { keepAliveTimeout: 5_000 },
      listener(bodyLimit(data.shared), (method, url, body) => handle(a, method, url, body)),
    );
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port: data.port ?? 0, host: data.shared.options.host, reusePort: true }, () => resolve());
    });
  } catch (err) {
    const e = err as { message?: string; code?: string };
    port.postMessage({ type: 'error', message: String(e.message ?? err), code: e.code } satisfies HandlerMessage);
    port.close();
    return;
  }
  const addr = server.address();
  port.postMessage({
    type: 'listening',
    port: typeof addr === 'object' && addr !== null ? addr.port : 0,
  } satisfies HandlerMessage);
  port.on('message', (msg: { type: string }) => {
    if (msg.type !== 'close') return;
    // Stop accepting; idle keep-alive connections close now, busy ones after their response.
    server.close(() => {
      void (async () => {
        await app.store.close();
        app.counters.stopGcObserver();
        port.postMessage({ type: 'closed' } satisfies HandlerMessage);
        port.close();
      })();
    });
    server.closeIdleConnections();
  });
}

let dispatchApp: Promise<App> | undefined;

/**
 * dispatch mode: each pool thread opens its store as soon as it starts (a
 * Redis client can take seconds to load and connect on a busy machine) and
 * says so in the control block, which the main thread waits on before it
 * listens; no request waits for a store to open.
 */
function openDispatchApp(data: HandlerData): Promise<App> {
  const ctl = new Int32Array(data.shared.control);
  const opening = openApp(data);
  opening.then(
    () => Atomics.add(ctl, CTL.READY_I32, 1),
    (err: unknown) => {
      process.stderr.write(`serve: a handler thread could not open its store: ${String(err)}\n`);
      Atomics.add(ctl, CTL.FAILED_I32, 1);
    },
  );
  return opening;
}

/** piscina entry point (dispatch mode): answers one request. */
export default async function dispatchTask(task: DispatchTask): Promise<Reply> {
  dispatchApp ??= openDispatchApp(workerData as HandlerData);
  return handle(await dispatchApp, task.method, task.url, task.body);
}

const data = workerData as Partial<HandlerData> | undefined;
if (!isMainThread && data?.serve === 'reuseport' && parentPort !== null) void runReusePort(data as HandlerData);
if (!isMainThread && data?.serve === 'dispatch') dispatchApp = openDispatchApp(data as HandlerData);

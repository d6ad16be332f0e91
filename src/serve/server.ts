/**
 * `serve`'s main thread: creates the map(s), starts the cleanup thread and
 * the handler threads in the chosen mode, and stops them all in order.
 *
 *   reuseport  each handler thread runs its own server on the one port
 *              (`reusePort: true`); the first listens on --port (0: any free
 *              port) and the others on the port it got. The main thread only
 *              starts and stops them.
 *   dispatch   the main thread runs the server, reads each request's body
 *              and hands (method, url, body) to a piscina pool of handler
 *              threads; the reply comes back as the task's result. Works on
 *              every Node version; costs a postMessage round trip per request.
 *
 * Stopping (SIGINT / SIGTERM in the command): stop accepting and finish the
 * requests in flight (`server.close()`; idle keep-alive connections are
 * closed at once), then stop the handler threads, then the cleanup thread
 * (its stop switch, or the delete queue's close), waiting for every thread to
 * exit.
 */
import { createServer, type Server } from 'node:http';
import { Worker } from 'node:worker_threads';
import { Piscina } from 'piscina';
import type { SharedMap } from '../shm/map.js';
import { alertOnConflicts, type AlertStats } from '../metrics/alerts.js';
import { createStopSwitch, requestStop, type StopSwitch } from '../shm/patterns/ttl.js';
import { statsDoc, type App, type Reply, type StatsDoc } from './app.js';
import { createCounters, ThreadCounters } from './counters.js';
import { listener } from './http.js';
import { reusePortAvailable, type Mode, type ServeOptions } from './options.js';
import { createMaps, CTL, openStore, type ServeShared } from './store.js';
import type { DispatchTask, HandlerData, HandlerMessage } from './worker.js';

export interface RunningServer {
  mode: Mode;
  port: number;
  url: string;
  /** One line saying how the server runs. */
  describe: string;
  /** Stops everything (idempotent); resolves with the final stats once every thread has exited. */
  stop(): Promise<StopSummary>;
}

export interface StopSummary {
  stats: StatsDoc;
  /** Threads that had to be terminated because they did not end by themselves within the grace period. */
  forced: number;
  /** --alert-url: what each map's alert sender did. */
  alerts?: AlertStats[];
}

const WORKER_URL = new URL('./worker.js', import.meta.url);
const CLEANER_URL = new URL('./cleaner.js', import.meta.url);
/** How long a thread may take to end after being asked to, before it is terminated (and counted as forced). */
const GRACE_MS = 10_000;

function exited(w: Worker): Promise<void> {
  return new Promise((resolve) => {
    if (w.threadId === -1) resolve();
    else w.once('exit', () => resolve());
  });
}

/** Waits for the thread to end by itself; terminates it after GRACE_MS. Resolves true if it had to be forced. */
async function join(w: Worker): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const forced = await Promise.race([
    exited(w).then(() => false),
    new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(true), GRACE_MS);
    }),
  ]);
  clearTimeout(timer);
  if (forced) await w.terminate();
  return forced;
}

function nextMessage<T>(w: Worker): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: T) => {
      w.off('error', onError);
      resolve(m);
    };
    const onError = (err: Error) => {
      w.off('message', onMessage);
      reject(err);
    };
    w.once('message', onMessage);
    w.once('error', onError);
  });
}

/** How long dispatch mode waits for its pool threads to open their stores before giving up. */
const READY_TIMEOUT_MS = 60_000;

/** dispatch mode: resolves once every pool thread has opened its store (worker.ts counts them in the control block). */
async function poolReady(pool: Piscina, shared: ServeShared, threads: number): Promise<void> {
  const ctl = new Int32Array(shared.control);
  const deadline = performance.now() + READY_TIMEOUT_MS;
  let poolError: Error | undefined;
  const onError = (err: Error) => (poolError = err);
  pool.on('error', onError);
  try {
    while (Atomics.load(ctl, CTL.READY_I32) < threads) {
      if (poolError !== undefined) throw poolError;
      if (Atomics.load(ctl, CTL.FAILED_I32) > 0) throw new Error('a handler thread could not open its store');
      if (performance.now() > deadline)
        throw new Error(`handler threads did not open their stores within ${READY_TIMEOUT_MS / 1000} s`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  } finally {
    pool.off('error', onError);
  }
}

interface Cleanup {
  worker: Worker;
  stop(): void;
}

function startCleanup(shared: ServeShared, maps: ReturnType<typeof createMaps>): Cleanup | undefined {
  const o = shared.options;
  if (o.store !== 'shmap' || o.cleanup === 'none' || o.cleanup === 'range-delete' || o.cleanup === 'stop-the-world')
    return undefined;
  const stop: StopSwitch = createStopSwitch();
  const worker = new Worker(CLEANER_URL, { workerData: { serveCleaner: 1, shared, stop } });
  return {
    worker,
    stop: () => {
      requestStop(stop);
      maps.queue?.close();
    },
  };
}

export async function startServe(o: ServeOptions): Promise<RunningServer> {
  const mode: Mode = o.mode ?? (reusePortAvailable() ? 'reuseport' : 'dispatch');
  const made = o.store === 'shmap' ? createMaps(o) : { maps: [] };
  const shared: ServeShared = {
    options: o,
    maps: made.maps.map((m) => m.handle),
    ...(made.queue === undefined ? {} : { queue: made.queue.handle }),
    control: new SharedArrayBuffer(CTL.BYTES),
    counters: createCounters(),
  };
  // --alert-url: the main thread follows each map's conflict log and POSTs alerts (src/metrics/alerts.ts).
  const stopAlerts = made.maps.map((m, i) =>
    o.alertUrl === undefined
      ? async () => undefined
      : alertOnConflicts(m as SharedMap<unknown, unknown>, {
          url: o.alertUrl,
          name: made.maps.length === 1 ? 'sessions' : `sessions-${i}`,
        }),
  );
  const mainCounters = new ThreadCounters(shared.counters, 'main');
  mainCounters.observeGc();
  const mainApp: App = { store: await openStore(shared, mainCounters), counters: mainCounters, shared, mode };
  const cleanup = startCleanup(shared, made);

  let port: number;
  let stopHandlers: () => Promise<number>;
  let describe: string;
  if (mode === 'reuseport') {
    const workers: Worker[] = [];
    const start = async (p: number): Promise<number> => {
      const data: HandlerData = { serve: 'reuseport', shared, port: p };
      const w = new Worker(WORKER_URL, { workerData: data });
      workers.push(w);
      const m = await nextMessage<HandlerMessage>(w);
      if (m.type !== 'listening')
        throw new Error(`handler thread could not listen: ${m.type === 'error' ? m.message : m.type}`);
      return m.port;
    };
    try {
      port = await start(o.port);
      await Promise.all(Array.from({ length: o.threads - 1 }, () => start(port)));
    } catch (err) {
      await Promise.all(workers.map((w) => w.terminate()));
      cleanup?.stop();
      if (cleanup !== undefined) await join(cleanup.worker);
      await mainApp.store.close();
      mainCounters.stopGcObserver();
      throw err;
    }
    describe = `mode reuseport: ${o.threads} handler threads each listen on the port (reusePort); the kernel spreads connections`;
    stopHandlers = async () => {
      const closing = workers.map(async (w) => {
        const closed = nextMessage<HandlerMessage>(w).catch(() => undefined);
        w.postMessage({ type: 'close' });
        await closed;
        return join(w);
      });
      return (await Promise.all(closing)).filter(Boolean).length;
    };
  } else {
    const pool = new Piscina<DispatchTask, Reply>({
      filename: WORKER_URL.href,
      minThreads: o.threads,
      maxThreads: o.threads,
      concurrentTasksPerWorker: 64,
      // An idle piscina thread otherwise blocks in Atomics.wait between tasks, and its event loop
      // (the store opening at start, a Redis client's replies, --work-ms timers) stands still.
      atomics: 'disabled',
      idleTimeout: Infinity,
      workerData: { serve: 'dispatch', shared } satisfies HandlerData,
    });
    const server: Server = createServer(
      { keepAliveTimeout: 5_000 },
      listener(o.valueBytes, (method, url, body) => pool.run({ method, url, body })),
    );
    try {
      await poolReady(pool, shared, o.threads);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ port: o.port, host: o.host }, () => resolve());
      });
    } catch (err) {
      await pool.destroy();
      cleanup?.stop();
      if (cleanup !== undefined) await join(cleanup.worker);
      await mainApp.store.close();
      mainCounters.stopGcObserver();
      throw err;
    }
    const addr = server.address();
    port = typeof addr === 'object' && addr !== null ? addr.port : o.port;
    describe =
      `mode dispatch: the main thread accepts and hands each request to a piscina pool of ${o.threads} handler threads` +
      (o.mode === undefined ? ` (reusePort needs Linux and Node >= 22.12; this is Node ${process.versions.node})` : '');
    stopHandlers = async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      await closed;
      await pool.destroy();
      return 0;
    };
  }

  let stopping: Promise<StopSummary> | undefined;
  const stop = (): Promise<StopSummary> => {
    stopping ??= (async () => {
      let forced = await stopHandlers();
      if (cleanup !== undefined) {
        cleanup.stop();
        if (await join(cleanup.worker)) forced++;
      }
      const stats = await statsDoc(mainApp);
      const sent = (await Promise.all(stopAlerts.map((s) => s()))).filter((a) => a !== undefined);
      await mainApp.store.close();
      mainCounters.stopGcObserver();
      return { stats, forced, ...(sent.length === 0 ? {} : { alerts: sent }) };
    })();
    return stopping;
  };
  return { mode, port, url: `http://${o.host}:${port}`, describe, stop };
}

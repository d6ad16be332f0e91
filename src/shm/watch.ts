/**
 * Learning that a thread died, without polling, so that what it held can be
 * recovered (`map.watch`, recover.ts).
 *
 * The signal is the Worker's 'exit' event: Node emits it in the thread that
 * created the worker once the worker's thread has stopped running
 * JavaScript, whatever stopped it (`terminate()`, an uncaught exception,
 * `process.exit` in the worker, a resourceLimits kill, piscina's abort,
 * timeout, `destroy()` or idle removal — piscina ends a worker with
 * `terminate()`). 'exit' is the one signal that comes after the thread's
 * last store: piscina's 'workerDestroy' is emitted when it asks for the
 * termination, before the thread has stopped, and a MessagePort's 'close'
 * needs a port placed inside the worker; so neither is used to start a
 * recovery. For a piscina pool, every worker in `pool.threads` is watched,
 * and the list is read again on each 'workerCreate'.
 *
 * The handler runs on the event loop of the watching thread. A watching
 * thread that is itself blocked waiting for the dead thread's lock cannot
 * run it; on Linux x86-64 it does not need to, since a waiter that finds
 * the holder's kernel thread gone recovers it itself (liveness.ts). Elsewhere
 * it waits until `lockTimeoutMs` and throws LockTimeoutError, and the
 * recovery runs when its event loop turns (a retry then succeeds): watch
 * from a thread that does not write the map under load (the main thread of
 * a server whose handlers run on workers), or keep lockTimeoutMs short.
 * When the event comes after a waiter recovered the thread, the watch finds
 * nothing left to repair (its report is empty) and still runs the hooks.
 */
import type { Worker } from 'node:worker_threads';

/** Called with the threadId of a thread that died (after it stopped). */
export type DeathHook = (threadId: number) => void;

/** What `watch` accepts: a Worker, or a pool exposing its workers (piscina: `threads`, and a 'workerCreate' event). */
export interface WorkerPoolLike {
  readonly threads: readonly Worker[];
  on(event: 'workerCreate', listener: (...args: unknown[]) => void): unknown;
  off(event: 'workerCreate', listener: (...args: unknown[]) => void): unknown;
}

const hooks = new Set<DeathHook>();

/** A shared structure that can recover what a dead thread held in it (a DeleteQueue handle). */
export interface Recoverable {
  recover(threadId: number): unknown;
}

/** Every live Recoverable of this thread, held weakly: registering one does not keep it alive. */
const recoverables = new Set<WeakRef<Recoverable>>();
let registeredSincePrune = 0;

/**
 * Registers `r` so that every death a `map.watch` in this thread detects
 * recovers it too, before the `onThreadDeath` hooks run: one watch
 * recovers the map and every delete queue this thread created or
 * attached. Held weakly (a handle that is garbage is dropped).
 * @internal Called by DeleteQueue's constructor.
 */
export function recoverOnThreadDeath(r: Recoverable): void {
  recoverables.add(new WeakRef(r));
  if (++registeredSincePrune >= 256) {
    registeredSincePrune = 0;
    for (const ref of recoverables) if (ref.deref() === undefined) recoverables.delete(ref);
  }
}

/**
 * Registers `hook` to run for every death any `map.watch` in this thread
 * detects, after the map's own recovery (for other shared structures: a
 * delete queue, a sweeper's state). Returns the function that unregisters
 * it. A hook that throws does not stop the others (the error is reported
 * with `process.emitWarning`).
 */
export function onThreadDeath(hook: DeathHook): () => void {
  if (typeof hook !== 'function') throw new TypeError(`onThreadDeath needs a function, got ${typeof hook}`);
  hooks.add(hook);
  return () => {
    hooks.delete(hook);
  };
}

/** Recovers every registered Recoverable, then runs every registered death hook, for `threadId`. @internal */
export function runDeathHooks(threadId: number): void {
  for (const ref of [...recoverables]) {
    const r = ref.deref();
    if (r === undefined) {
      recoverables.delete(ref);
      continue;
    }
    try {
      r.recover(threadId);
    } catch (err) {
      process.emitWarning(`shmap: recovering a shared structure for thread ${threadId} failed: ${String(err)}`);
    }
  }
  for (const hook of [...hooks]) {
    try {
      hook(threadId);
    } catch (err) {
      process.emitWarning(`shmap: a thread death hook threw for thread ${threadId}: ${String(err)}`);
    }
  }
}

function isWorker(target: unknown): target is Worker {
  return (
    typeof target === 'object' &&
    target !== null &&
    typeof (target as Worker).threadId === 'number' &&
    typeof (target as Worker).terminate === 'function' &&
    typeof (target as Worker).once === 'function'
  );
}

function isPool(target: unknown): target is WorkerPoolLike {
  return (
    typeof target === 'object' &&
    target !== null &&
    Array.isArray((target as WorkerPoolLike).threads) &&
    typeof (target as WorkerPoolLike).on === 'function' &&
    typeof (target as WorkerPoolLike).off === 'function'
  );
}

/**
 * Calls `onDeath(threadId)` once for each death of `target` (a Worker) or of
 * any worker of `target` (a pool), from its 'exit' event. Returns the
 * function that stops watching. Throws TypeError for anything else.
 */
export function watchThreads(target: Worker | WorkerPoolLike, onDeath: DeathHook): () => void {
  const watched = new Map<Worker, () => void>();
  const watchOne = (w: Worker): void => {
    if (watched.has(w) || w.threadId < 0) return;
    const id = w.threadId;
    const onExit = (): void => {
      watched.delete(w);
      onDeath(id);
    };
    w.once('exit', onExit);
    watched.set(w, onExit);
  };
  if (isWorker(target)) {
    watchOne(target);
  } else if (isPool(target)) {
    const rescan = (): void => {
      for (const w of target.threads) watchOne(w);
    };
    rescan();
    target.on('workerCreate', rescan);
    const stopPool = (): void => {
      target.off('workerCreate', rescan);
    };
    return () => {
      stopPool();
      for (const [w, onExit] of watched) w.off('exit', onExit);
      watched.clear();
    };
  } else {
    throw new TypeError('watch needs a Worker (node:worker_threads) or a piscina pool');
  }
  return () => {
    for (const [w, onExit] of watched) w.off('exit', onExit);
    watched.clear();
  };
}

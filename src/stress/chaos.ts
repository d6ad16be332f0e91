/**
 * `stress --scenario chaos`: the mixed workload while threads are killed.
 *
 * Worker *slots* 0..workers-1 each run the chaos loop as a piscina task; a
 * TTL sweeper and a delete-queue drainer run as two more tasks of the same
 * pool. Every `--kill-interval` ms on average (uniformly 0..2x) the runner
 * aborts one running task through its AbortSignal: piscina terminates that
 * worker thread, wherever it is (inside a write, holding a shard lock), and
 * starts a new thread; the runner then runs the slot's task again, and the
 * new task resumes the slot's work. The map is watched (`map.watch(pool)`),
 * so the map recovers each death by itself, and the same watch recovers the
 * delete queue (it registered itself with the watch's death hooks).
 *
 * What survives a kill lives in shared memory (the chaos block, below): each
 * slot's expected value of every key it owns, its counter sums, its doomed
 * keys' states, and its *in-flight record*: before each op on an owned key
 * or a counter the worker writes what it is about to do (the key, the value
 * before and the value after), then marks the record busy; after the op and
 * the bookkeeping it marks it idle. A task that starts on a slot whose record
 * is busy knows the previous task was killed inside that op: it reads the
 * key and accepts either outcome, before, or after (anything else is a
 * loss), and adopts it. For a counter `add` (other slots add to the same
 * keys, so reading tells nothing) the runner adds the delta to that
 * counter's tolerance: its final sum must be exact within the in-flight adds
 * of killed workers.
 *
 * Verified at the end: progress never stopped (the longest interval without
 * a completed op while some slot's thread was running, not being replaced,
 * stayed under `--stall-limit`, and so did the stop; otherwise the run is stopped
 * there and fails, rather than hang), checkInvariants holds, every owned key
 * holds its expected value, counter sums are exact within the tolerance, and
 * the delete queue deleted every doomed key it acknowledged.
 */
import { performance } from 'node:perf_hooks';
import { threadId, Worker } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { SharedMap } from '../shm/map.js';
import { checkInvariants } from '../shm/debug.js';
import { DeleteQueue } from '../shm/patterns/delete-queue.js';
import { createStopSwitch, requestStop, sharedNow, sweeperTotals } from '../shm/patterns/ttl.js';
import type { RecoveryReport } from '../shm/recover.js';
import type { ConflictRecord } from '../shm/types.js';
import { countConflicts } from '../race/report.js';
import type { HistoryOp } from '../race/history.js';
import { cutHistory, mergeHistories } from '../race/recorder.js';
import { checkLinearizability, type LinearizabilityResult } from '../race/linearizability.js';
import { formatCheckReport } from '../race/timeline.js';
import { Rng } from '../rng.js';
import { createChaosHistory, readChaosHistory } from './chaos-history.js';
import { DEFAULT_HISTORY_BUFFER } from './history.js';
import { formatMix, formatDist, type StressOptions } from './options.js';
import {
  CHAOS_COUNTERS,
  CHAOS_DOOMED,
  ChaosBlock,
  chaosLayout,
  G_DRAINER_THREAD,
  G_STOP,
  G_SWEEPER_THREAD,
  S_DELTA,
  S_INDEX,
  S_LOSSES,
  S_NOT_TOOK,
  S_OPS,
  S_STATE,
  S_THREAD,
  S_TOOK,
  type ChaosTask,
  type ChaosTaskResult,
} from './chaos-slot.js';

export {
  CHAOS_COUNTERS,
  CHAOS_DOOMED,
  ChaosBlock,
  chaosLayout,
  markAuxThread,
  runChaosSlot,
  type ChaosLayout,
  type ChaosTask,
  type ChaosTaskResult,
} from './chaos-slot.js';

/** Default `--kill-interval`, ms. */
export const DEFAULT_KILL_INTERVAL_MS = 50;
/** Default `--stall-limit`, ms: the longest interval without a completed op that still passes. */
export const DEFAULT_STALL_LIMIT_MS = 5_000;
/** The conflict kind the map records for each recovery. */
export const DEATH_KIND = 'thread died holding a shard lock';

function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

// ---------------------------------------------------------------------------
// Runner side.

export interface ChaosOptions extends StressOptions {
  killIntervalMs: number;
  stallLimitMs: number;
  /**
   * Tasks killed at each kill (default 1): several at once, so their
   * replacements start side by side and a run gets more kills for its time.
   */
  killBatch?: number;
  /**
   * 'pool' (default): the tasks run in a piscina pool, killed through their
   * AbortSignal, and the map watches the pool. 'workers': each task is a
   * plain Worker running a small entry (`workerFile` is then that entry:
   * dist/workers/bundled/chaos-thread.js),
   * killed with `terminate()` and watched alone; a kill then costs a
   * thread's start and no pool's bookkeeping.
   */
  threads?: 'pool' | 'workers';
  /** @internal Test switch: do not watch the map (the negative control: the run must fail by the stall check, not hang). */
  noRecovery?: boolean;
}

export interface ChaosSummary {
  kills: { workers: number; drainer: number; sweeper: number; total: number };
  /** Map recoveries (conflict records of DEATH_KIND). */
  recoveries: number;
  /** Of those, the ones a thread made that found the holder gone while it waited for the lock (src/shm/liveness.ts); the watch made the rest. */
  recoveredByWaiters: number;
  /** Shards the watch repaired, whose invariants it checked before freeing their lock (each one checked; a broken one is a failure). */
  shardsVerified: number;
  /** Recovered shards by what recovery did ('rolled back', 'completed', 'kept removals', 'released'). */
  recoveryActions: Record<string, number>;
  /** From a kill to the recovery record of its lock, ms. */
  recoveryLatencyMs: { count: number; p50: number; p99: number; max: number };
  /** Recoveries of the delete queue (each dead thread that held a producer record or was the drainer), made by the map's watch. */
  queueRecoveries: number;
  /** Ops a killed worker had in flight: on owned keys (resolved by the next task: took effect / not), counter adds (tolerated). */
  inFlightAtDeath: { owned: number; tookEffect: number; notTaken: number; counterAdds: number };
  maxStallMs: number;
  stalled: boolean;
  watched: boolean;
  sweeper: { sweeps: number; removed: number; threads: number };
  queue: { enqueued: number; drained: number; orphansSkipped: number };
}

/** `--history`: what the chaos threads recorded on the sampled keys (chaos-history.ts). */
export interface ChaosHistory {
  /** Shared ids sampled after the counters (ids CHAOS_COUNTERS .. CHAOS_COUNTERS + keys - 1), besides the counters. */
  keys: number;
  /** Records written by the threads (pending ones included). */
  recorded: number;
  /** Initial-state sets by the main thread (thread 0). */
  initial: number;
  /** Final-state reads by the main thread after every task stopped (a thread id after the tasks'); 0 when the history was cut. */
  final: number;
  /** Ops in the history (checked with --check). */
  checked: number;
  /** Of those, pending: killed in flight (or in flight at the cut-off), no `ret`. */
  pending: number;
  /** Ops not in the history: called at or after the cut-off, or never recorded (the log was full). */
  dropped: number;
  /** Records claimed by a thread killed before it called the op (left out). */
  unfilled: number;
  /** Where the history was cut (shared-clock ms), when the log filled. */
  cutoff?: number;
  /** The merged history, sorted by call. */
  ops: HistoryOp[];
  check?: LinearizabilityResult;
}

export interface ChaosResult {
  ok: boolean;
  failures: string[];
  losses: string[];
  lossCount: number;
  totalOps: number;
  elapsedMs: number;
  invariants: string;
  ownedKeysChecked: number;
  countersChecked: number;
  doomedKeysChecked: number;
  conflicts: ConflictRecord[];
  chaos: ChaosSummary;
  stats: ReturnType<SharedMap<unknown, unknown>['stats']>;
  /** With `historyKeys`. */
  history?: ChaosHistory;
}

interface Running {
  /** Terminates the task's thread (a piscina abort, or a Worker's terminate). */
  kill(): void;
  /** Whether `kill` was called. */
  killed: boolean;
  promise: Promise<unknown>;
  /** Thread word to look at: the task has started when it holds a thread id. */
  threadWord: number;
  /** The slot (-1: the drainer or the sweeper), and its completed ops when the task started. */
  slot: number;
  opsAtStart: number;
}

/** Runs the chaos scenario. `workerFile`: the pool's task file (dist/workers/bundled/chaos.js), or the plain Workers' entry. */
export async function runChaos(o: ChaosOptions, workerFile: string, signal?: AbortSignal): Promise<ChaosResult> {
  const slots = o.workers;
  const totalKeys = o.keys + slots * o.owned + slots * CHAOS_DOOMED;
  const map = SharedMap.create<number, number>({
    key: 'int32',
    value: 'float64',
    capacity: totalKeys + 1024,
    maxCapacity: Math.max(4 * totalKeys, 1 << 16),
    ...(o.shards === undefined ? {} : { shards: o.shards }),
    ttl: true,
    seed: o.seed | 0,
    conflictLogSize: 4096,
  });
  for (let id = CHAOS_COUNTERS; id < o.keys; id++) map.set(id, 0);
  const historyKeys = Math.min(o.historyKeys ?? 0, o.keys - CHAOS_COUNTERS);
  const recording = (o.historyKeys ?? 0) > 0;
  const historyLog = recording
    ? createChaosHistory((o.historyBuffer ?? DEFAULT_HISTORY_BUFFER) * slots, slots)
    : undefined;
  const initialOps = recording ? initialState(map, historyKeys) : [];
  const layout = chaosLayout(slots, o.owned);
  const block = new ChaosBlock(new SharedArrayBuffer(layout.bytes), layout);
  const queue = DeleteQueue.create<number>({ capacity: 64, key: 'int32' });
  const stop = createStopSwitch();
  const rng = new Rng(o.seed, 0x0c4a05);

  const rawWorkers = o.threads === 'workers';
  const pool = rawWorkers
    ? undefined
    : new Piscina({
        filename: workerFile,
        minThreads: slots + 2,
        maxThreads: slots + 2,
        concurrentTasksPerWorker: 1,
        idleTimeout: 60_000,
      });
  const deathAt = new Map<number, number>();
  // The map's watch recovers the delete queue too (this thread created it: DeleteQueue registers
  // itself with the watch's death hooks), after the thread has stopped.
  // Each recovery checks the invariants of every shard it repaired before freeing its lock
  // (the rest of the map is in use: checkInvariants runs on the whole map at the end).
  const failures: string[] = [];
  // A pool thread that fails outside any task (a replacement piscina starts after a kill, failing
  // to load its module before it takes a task) is reported as the pool's 'error' event, and an
  // 'error' event nobody listens to kills the whole process: here it fails the run instead.
  pool?.on('error', (err: unknown) => {
    if (failures.length < 20)
      failures.push(`pool error (a thread failed outside any task): ${(err as Error)?.message ?? String(err)}`);
  });
  let shardsVerified = 0;
  const recoveryActions: Record<string, number> = {};
  const watched = o.noRecovery !== true;
  const watchOptions = {
    verify: true,
    onRecovery: (report: RecoveryReport): void => {
      for (const sh of report.shards) {
        shardsVerified++;
        recoveryActions[sh.action] = (recoveryActions[sh.action] ?? 0) + 1;
        if (sh.invariants !== 'ok' && failures.length < 20)
          failures.push(
            `invariants after recovering thread ${report.thread} (shard ${sh.shard}, ${sh.op}, ${sh.action}): ${sh.invariants}`,
          );
      }
    },
  };
  // Raw workers are watched one by one as they start (start(), below).
  const unwatches = new Set<() => void>();
  if (watched && pool !== undefined) unwatches.add(map.watch(pool, watchOptions));

  const base: Omit<ChaosTask, 'role' | 'slot'> = {
    handle: map.handle,
    block: block.buffer,
    slots,
    owned: o.owned,
    keys: o.keys,
    seed: o.seed,
    durationMs: o.durationMs + 60_000,
    queue: queue.handle,
    stop,
    ...(historyLog === undefined ? {} : { history: historyLog, historyKeys }),
    ...(watched ? {} : { noLiveness: true }),
  };
  const taskLosses: string[] = [];
  const kills = { workers: 0, drainer: 0, sweeper: 0, total: 0 };
  const inFlight = { owned: 0, tookEffect: 0, notTaken: 0, counterAdds: 0 };
  const tolerance = new Array<number>(CHAOS_COUNTERS).fill(0);
  let ending = false;
  const running = new Map<string, Running>();
  const settled: Array<Promise<unknown>> = [];

  /** Runs `task` on a thread of its own: a piscina task, or a plain Worker (watched before any other listener, so its recovery comes first). */
  const spawn = (task: ChaosTask): Pick<Running, 'kill' | 'promise'> => {
    if (pool !== undefined) {
      const ac = new AbortController();
      return { kill: () => ac.abort(), promise: pool.run(task, { signal: ac.signal }) };
    }
    const worker = new Worker(workerFile, { workerData: task });
    if (watched) {
      const unwatch = map.watch(worker, watchOptions);
      unwatches.add(unwatch);
      worker.once('exit', () => unwatches.delete(unwatch));
    }
    let killed = false;
    const promise = new Promise<unknown>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
      worker.once('exit', () => (killed ? reject(new Error('terminated')) : resolve(undefined)));
    });
    return {
      kill: () => {
        killed = true;
        void worker.terminate();
      },
      promise,
    };
  };

  const start = (name: string, template: ChaosTask, threadWord: number): void => {
    Atomics.store(block.i32, threadWord, 0);
    const task: ChaosTask = { ...template };
    const spawned = spawn(task);
    const promise = spawned.promise;
    const entry: Running = {
      kill: () => {
        entry.killed = true;
        spawned.kill();
      },
      killed: false,
      promise,
      threadWord,
      slot: task.role === 'chaos' ? task.slot : -1,
      opsAtStart: task.role === 'chaos' ? Atomics.load(block.i32, block.word(task.slot, S_OPS)) : 0,
    };
    running.set(name, entry);
    const done = promise.then(
      (res) => {
        const r = res as Partial<ChaosTaskResult> | undefined;
        for (const l of r?.losses ?? []) if (taskLosses.length < 20) taskLosses.push(l);
      },
      (err: unknown) => {
        if (stalled) return;
        if (!entry.killed) {
          failures.push(`${name} failed: ${(err as Error)?.message ?? String(err)}`);
          // The run has failed: stop it now. (Its clock starts at the first op, so a run whose
          // tasks all fail before one would otherwise never end.)
          wakeEnd();
          return;
        }
        // Killed: what it had in flight, then its replacement (until the run ends).
        if (task.role === 'chaos') {
          const s = task.slot;
          const state = Atomics.load(block.i32, block.word(s, S_STATE));
          if (state === 1) inFlight.owned++;
          if (state === 2) {
            inFlight.counterAdds++;
            tolerance[block.i32[block.word(s, S_INDEX)]!]! += block.i32[block.word(s, S_DELTA)]!;
            Atomics.store(block.i32, block.word(s, S_STATE), 0);
          }
        }
        // Replaced even when the run is ending: the new task resolves the slot's in-flight op and stops.
        if (running.get(name) === entry) start(name, template, threadWord);
      },
    );
    settled.push(done);
  };
  for (let s = 0; s < slots; s++) start(`slot ${s}`, { ...base, role: 'chaos', slot: s }, block.word(s, S_THREAD));
  start('drainer', { ...base, role: 'chaos-drainer', slot: -1 }, block.global(G_DRAINER_THREAD));
  start('sweeper', { ...base, role: 'chaos-sweeper', slot: -1 }, block.global(G_SWEEPER_THREAD));

  // Kills: `killBatch` random started tasks every 0..2x the interval.
  const names = [...running.keys()];
  const killBatch = Math.max(1, o.killBatch ?? 1);
  let killTimer: NodeJS.Timeout | undefined;
  const scheduleKill = (): void => {
    killTimer = setTimeout(
      () => {
        if (ending) return;
        // Started and not killed yet (a Worker's death is seen at its 'exit', a little later), and a
        // slot only once its task has completed ops: a kill then lands in the op loop, not in its start.
        const startedNames = names.filter((n) => {
          const r = running.get(n)!;
          if (r.killed || Atomics.load(block.i32, r.threadWord) === 0) return false;
          return r.slot < 0 || Atomics.load(block.i32, block.word(r.slot, S_OPS)) !== r.opsAtStart;
        });
        rng.shuffle(startedNames);
        for (const name of startedNames.slice(0, killBatch)) {
          const entry = running.get(name)!;
          const thread = Atomics.load(block.i32, entry.threadWord) - 1;
          deathAt.set(thread, sharedNow());
          entry.kill();
          kills.total++;
          if (name === 'drainer') kills.drainer++;
          else if (name === 'sweeper') kills.sweeper++;
          else kills.workers++;
        }
        scheduleKill();
      },
      rng.next() * 2 * o.killIntervalMs,
    );
  };

  // Progress: the longest interval without a completed op.
  const totalOps = (): number => {
    let n = 0;
    for (let s = 0; s < slots; s++) n += Atomics.load(block.i32, block.word(s, S_OPS));
    return n;
  };
  const t0 = performance.now();
  let lastOps = 0;
  let lastChange = t0;
  let maxStallMs = 0;
  let stalled = false;
  let wakeEnd: () => void = () => undefined;
  const ended = new Promise<void>((resolve) => (wakeEnd = resolve));
  // The clocks start at the first op (threads take a while to start on a loaded machine).
  let firstOpAt: number | undefined;
  const slotThreadRunning = (): boolean => {
    for (let s = 0; s < slots; s++) if (Atomics.load(block.i32, block.word(s, S_THREAD)) !== 0) return true;
    return false;
  };
  const monitor = setInterval(() => {
    const now = performance.now();
    const ops = totalOps();
    if (ops !== lastOps) {
      if (firstOpAt === undefined) {
        firstOpAt = now;
        scheduleKill();
      }
      lastOps = ops;
      lastChange = now;
    } else if (!slotThreadRunning()) {
      // Every slot's thread is being replaced (a new isolate loading its modules: seconds on a
      // loaded machine): nobody can complete an op, and that is no stall. A wedge still shows:
      // a started task blocks on the dead lock, or the stop at the end times out.
      lastChange = now;
    }
    if (firstOpAt !== undefined) maxStallMs = Math.max(maxStallMs, now - lastChange);
    if (now - lastChange > o.stallLimitMs + (firstOpAt === undefined ? 60_000 : 0)) {
      stalled = true;
      wakeEnd();
    }
    if (firstOpAt !== undefined && now - firstOpAt >= o.durationMs) wakeEnd();
  }, 10);
  const onAbort = (): void => wakeEnd();
  signal?.addEventListener('abort', onAbort, { once: true });
  await ended;
  ending = true;
  clearTimeout(killTimer);
  signal?.removeEventListener('abort', onAbort);

  // Stop: the slots first (they resolve their in-flight ops on the way out), then the drainer and the sweeper.
  Atomics.store(block.i32, block.global(G_STOP), 1);
  const bounded = async (what: Promise<unknown>): Promise<boolean> => {
    let timer: NodeJS.Timeout | undefined;
    const ok = await Promise.race([
      what.then(() => true),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), o.stallLimitMs))),
    ]);
    clearTimeout(timer);
    return ok;
  };
  const allSettled = async (): Promise<void> => {
    for (let n = 0; n < settled.length; n++) await settled[n];
  };
  if (!stalled) {
    // Until every slot's latest task has settled (a kill just before the end gets a replacement).
    const slotNames = names.filter((n) => n.startsWith('slot'));
    for (;;) {
      const latest = slotNames.map((n) => running.get(n)!.promise);
      if (!(await bounded(Promise.allSettled(latest)))) {
        stalled = true;
        break;
      }
      await new Promise((resolve) => setImmediate(resolve));
      if (slotNames.every((n, i) => running.get(n)!.promise === latest[i])) break;
    }
    queue.close();
    requestStop(stop);
    if (!stalled && !(await bounded(allSettled()))) stalled = true;
  }
  clearInterval(monitor);
  maxStallMs = Math.max(maxStallMs, stalled ? performance.now() - lastChange : 0);
  const elapsedMs = performance.now() - (firstOpAt ?? t0);
  if (stalled) {
    // Wedged: stop every thread (terminate reaches threads parked in Atomics.wait) and read nothing under a lock.
    // A thread still loading its modules is let start first (a bounded wait): terminating a thread
    // while it reads a module file can crash the whole process on some Node versions.
    const startBy = performance.now() + 10_000;
    const unstarted = (): Running[] =>
      [...running.values()].filter((r) => !r.killed && Atomics.load(block.i32, r.threadWord) === 0);
    while (unstarted().length > 0 && performance.now() < startBy) await new Promise((r) => setTimeout(r, 5));
    for (const r of running.values()) r.kill();
    failures.push(
      `progress stalled: no op completed for ${Math.round(maxStallMs)} ms (limit ${o.stallLimitMs} ms)` +
        (watched ? '' : '; the map was not watched, so a dead thread kept its shard lock'),
    );
  }
  await pool?.destroy().catch(() => undefined);
  if (rawWorkers) await Promise.allSettled([...running.values()].map((r) => r.promise));
  for (const unwatch of unwatches) unwatch();

  // Verification (only on a map nobody wedged).
  const losses = [...taskLosses];
  let lossCount = 0;
  for (let s = 0; s < slots; s++) lossCount += Atomics.load(block.i32, block.word(s, S_LOSSES));
  const loss = (text: string): void => {
    lossCount++;
    if (losses.length < 20) losses.push(text);
  };
  let invariants = 'not checked (stalled)';
  let ownedKeysChecked = 0;
  let countersChecked = 0;
  let doomedKeysChecked = 0;
  for (let s = 0; s < slots; s++) {
    inFlight.tookEffect += Atomics.load(block.i32, block.word(s, S_TOOK));
    inFlight.notTaken += Atomics.load(block.i32, block.word(s, S_NOT_TOOK));
  }
  if (!stalled) {
    try {
      checkInvariants(map);
      invariants = 'ok';
    } catch (err) {
      invariants = (err as Error).message;
      failures.push(`invariants: ${invariants}`);
    }
    for (let s = 0; s < slots; s++) {
      if (Atomics.load(block.i32, block.word(s, S_STATE)) === 1)
        loss(`slot ${s}: its last in-flight op was never resolved`);
      for (let i = 0; i < o.owned; i++) {
        ownedKeysChecked++;
        const key = o.keys + s * o.owned + i;
        const want = block.present[s * o.owned + i] === 1 ? block.expected[s * o.owned + i] : undefined;
        const got = map.get(key);
        if (got !== want) loss(`slot ${s} owned key ${key}: expected ${want ?? 'absent'}, found ${got ?? 'absent'}`);
      }
    }
    for (let c = 0; c < CHAOS_COUNTERS; c++) {
      countersChecked++;
      let want = 0;
      for (let s = 0; s < slots; s++) want += block.sums[s * CHAOS_COUNTERS + c]!;
      const got = map.get(c) ?? 0;
      if (got < want || got > want + tolerance[c]!)
        loss(`counter ${c}: sum ${got}, expected ${want} + at most ${tolerance[c]} in flight at kills`);
    }
    for (let s = 0; s < slots; s++) {
      for (let i = 0; i < CHAOS_DOOMED; i++) {
        const st = block.doomed[s * CHAOS_DOOMED + i]!;
        if (st === 0 || st === 2) continue;
        doomedKeysChecked++;
        const key = o.keys + slots * o.owned + s * CHAOS_DOOMED + i;
        const got = map.get(key);
        if (st === 3 && got !== undefined) loss(`doomed key ${key}: enqueued (acknowledged), still present`);
        if (st === 1 && got === undefined) loss(`doomed key ${key}: never enqueued, but gone`);
      }
    }
  }
  if (lossCount > 0) failures.push(`verification failed: ${lossCount} loss(es)`);

  const conflicts = map.conflicts();
  const deaths = conflicts.filter((r) => (r.kind as string) === DEATH_KIND);
  // Recovered by a thread that found the holder gone while waiting for its lock (src/shm/liveness.ts), before the watch.
  const byWaiters = deaths.filter((r) => r.detector.thread !== threadId).length;
  const latencies: number[] = [];
  for (const r of deaths) {
    const at = deathAt.get(r.other.thread);
    if (at !== undefined) latencies.push(Math.max(0, r.time - at));
  }
  latencies.sort((a, b) => a - b);
  const byKind = countConflicts(conflicts);
  const otherConflicts = conflicts.length - deaths.length;
  if (otherConflicts > 0)
    failures.push(
      `${otherConflicts} unexpected conflict(s): ${Object.entries(byKind)
        .filter(([k, n]) => k !== DEATH_KIND && n > 0)
        .map(([k, n]) => `${k} ${n}`)
        .join(', ')}`,
    );
  const sw = sweeperTotals(stop);
  const qs = queue.stats();
  let history: ChaosHistory | undefined;
  if (historyLog !== undefined) {
    // Every thread that wrote the log has stopped (the pool is destroyed, every raw worker settled).
    const read = readChaosHistory(historyLog);
    const kept = cutHistory(read.ops, read.cutoff);
    // The final state, read after every task stopped: only when nothing was cut (a read after
    // the cut-off could see writes the history dropped).
    const finalOps = stalled || read.cutoff !== Infinity ? [] : finalState(map, historyKeys, read.tasks + 1);
    const ops = mergeHistories([initialOps, kept.ops, finalOps]);
    history = {
      keys: historyKeys,
      recorded: read.ops.length,
      initial: initialOps.length,
      final: finalOps.length,
      checked: ops.length,
      pending: kept.pending,
      dropped: kept.dropped,
      unfilled: read.unfilled,
      ...(read.cutoff === Infinity ? {} : { cutoff: read.cutoff }),
      ops,
    };
    if (o.historyCheckTimeoutMs !== undefined && !stalled) {
      history.check = await checkLinearizability(ops, { timeoutMs: o.historyCheckTimeoutMs });
      if (history.check.status === 'violation')
        failures.push(
          `history: not linearizable (${history.check.counts.violation} key(s) in violation of ${history.check.keys})`,
        );
    }
  }
  return {
    ok: failures.length === 0,
    failures,
    losses,
    lossCount,
    totalOps: totalOps(),
    elapsedMs,
    invariants,
    ownedKeysChecked,
    countersChecked,
    doomedKeysChecked,
    conflicts,
    chaos: {
      kills,
      recoveries: deaths.length,
      recoveredByWaiters: byWaiters,
      shardsVerified,
      recoveryActions,
      recoveryLatencyMs: {
        count: latencies.length,
        p50: percentile(latencies, 0.5),
        p99: percentile(latencies, 0.99),
        max: latencies.length === 0 ? 0 : latencies[latencies.length - 1]!,
      },
      queueRecoveries: qs.recoveries,
      inFlightAtDeath: inFlight,
      maxStallMs,
      stalled,
      watched,
      sweeper: { sweeps: sw.sweeps, removed: sw.removed, threads: sw.threads },
      queue: { enqueued: qs.enqueued, drained: qs.drained, orphansSkipped: qs.orphansSkipped },
    },
    stats: map.stats(),
    ...(history === undefined ? {} : { history }),
  };
}

/** Each sampled key read once by the main thread after every task has stopped, as history ops by `thread`. */
function finalState(map: SharedMap<number, number>, keys: number, thread: number): HistoryOp[] {
  const origin = performance.timeOrigin;
  const ops: HistoryOp[] = [];
  for (let id = 0; id < CHAOS_COUNTERS + keys; id++) {
    const call = origin + performance.now();
    const value = map.get(id);
    ops.push({ thread, op: 'get', key: id, args: [], result: value ?? null, call, ret: origin + performance.now() });
  }
  return ops;
}

/**
 * The sampled shared keys' state before any task starts, as history ops by
 * thread 0: each present one set again to the value it holds (no change),
 * stamped on the shared clock. The counters start absent (an `add` counts
 * a missing key as 0), so they need none.
 */
function initialState(map: SharedMap<number, number>, keys: number): HistoryOp[] {
  const origin = performance.timeOrigin;
  const ops: HistoryOp[] = [];
  for (let id = CHAOS_COUNTERS; id < CHAOS_COUNTERS + keys; id++) {
    const value = map.get(id);
    if (value === undefined) continue;
    const call = origin + performance.now();
    map.set(id, value);
    ops.push({ thread: 0, op: 'set', key: id, args: [value], result: null, call, ret: origin + performance.now() });
  }
  return ops;
}

/** The chaos summary's lines (after the run's header). */
export function formatChaos(o: ChaosOptions, r: ChaosResult): string {
  const c = r.chaos;
  const ms = (x: number): string => `${x.toFixed(x < 10 ? 2 : 0)} ms`;
  const out = [
    `shmap stress: scenario chaos, ${o.workers} worker slots + a TTL sweeper + a delete-queue drainer, seed ${o.seed}`,
    `  keys ${o.keys} shared + ${o.owned} owned per slot (int32 -> float64), mix ${formatMix(o.mix)}, dist ${formatDist(o.dist)}; a kill every ${o.killIntervalMs} ms on average`,
    '',
    `throughput: ${r.totalOps.toLocaleString('en-US')} ops in ${(r.elapsedMs / 1000).toFixed(2)} s`,
    `kills: ${c.kills.total} (${c.kills.workers} workers, ${c.kills.drainer} drainer, ${c.kills.sweeper} sweeper); map ${c.watched ? 'watched' : 'NOT watched (recovery off)'}`,
    `recoveries: ${c.recoveries} shard lock(s) of dead threads released (${c.recoveredByWaiters} by a thread waiting for the lock, the rest by the watch), ${c.shardsVerified} checked against the invariants before release (${
      Object.entries(c.recoveryActions)
        .map(([a, n]) => `${n} ${a}`)
        .join(', ') || 'none'
    }); latency from kill to release p50 ${ms(c.recoveryLatencyMs.p50)}, p99 ${ms(c.recoveryLatencyMs.p99)}, max ${ms(c.recoveryLatencyMs.max)} (${c.recoveryLatencyMs.count} measured)`,
    `delete queue: recovered for ${c.queueRecoveries} dead thread(s) (producers and drainers), ${c.queue.orphansSkipped} orphaned position(s) skipped; ${c.queue.enqueued} enqueued, ${c.queue.drained} drained`,
    `sweeper: ${c.sweeper.threads} thread(s), ${c.sweeper.sweeps} sweeps, ${c.sweeper.removed} expired entries removed`,
    `ops possibly in flight at death: ${c.inFlightAtDeath.owned + c.inFlightAtDeath.counterAdds} (${c.inFlightAtDeath.owned} on owned keys: ${c.inFlightAtDeath.tookEffect} took effect, ${c.inFlightAtDeath.notTaken} did not; ${c.inFlightAtDeath.counterAdds} counter adds, tolerated in the sums)`,
    `progress: longest interval without a completed op ${ms(c.maxStallMs)} (limit ${o.stallLimitMs} ms)${c.stalled ? ': STALLED' : ''}`,
    '',
  ];
  if (r.history !== undefined) out.push(...formatChaosHistory(r.history), '');
  if (r.lossCount === 0 && !c.stalled)
    out.push(
      `verification: OK: ${r.ownedKeysChecked.toLocaleString('en-US')} owned keys exact, ${r.countersChecked} counter sums exact within in-flight adds, ${r.doomedKeysChecked.toLocaleString('en-US')} doomed keys as the queue acknowledged; invariants ${r.invariants}`,
    );
  else if (c.stalled) out.push(`verification: not done (the map is wedged: reading it could hang)`);
  else {
    out.push(`verification: FAILED: ${r.lossCount} loss(es); invariants ${r.invariants}`);
    for (const l of r.losses) out.push(`  ${l}`);
  }
  out.push(r.ok ? 'result: PASS' : `result: FAIL (${r.failures.join('; ')})`);
  return out.join('\n');
}

/** The chaos summary's history lines: what was recorded, what is pending (killed in flight), and the verdict. */
function formatChaosHistory(h: ChaosHistory): string[] {
  const n = (x: number): string => x.toLocaleString('en-US');
  const out = [
    `history: ${n(h.checked)} ops on the ${CHAOS_COUNTERS} counters and ${h.keys} shared keys (ids ${CHAOS_COUNTERS}..${CHAOS_COUNTERS + h.keys - 1})` +
      ` (${h.initial} initial sets and ${h.final} final reads by the main thread; each task is a thread of its own),` +
      ` ${n(h.pending)} pending: killed in flight${h.cutoff === undefined ? '' : ' or in flight at the cut-off'}, may or may not have taken effect`,
    h.cutoff === undefined
      ? '  complete: no op on a sampled key was dropped'
      : `  the log filled: cut at the first op not recorded, ${n(h.dropped)} later ops dropped from the history, not checked`,
  ];
  if (h.unfilled > 0)
    out.push(`  ${h.unfilled} record(s) claimed by a thread killed before it called the op: left out`);
  const c = h.check;
  if (c !== undefined) {
    if (c.ops === 0) out.push('linearizability: nothing checked (the history is empty)');
    else if (c.status === 'ok')
      out.push(
        `linearizability: ok (${n(c.ops)} ops, ${n(c.pending)} pending, on ${c.keys} keys checked in ${c.elapsedMs.toFixed(0)} ms)`,
      );
    else
      out.push(
        `linearizability: ${formatCheckReport(h.ops, c)}` +
          (c.status === 'unknown' ? '\n  (unknown is reported, not a failure)' : ''),
      );
  }
  return out;
}

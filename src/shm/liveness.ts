/**
 * Whether the thread holding a lock still exists, asked of the kernel by the
 * thread waiting for it: the robust-mutex half of recovery that needs no
 * event.
 *
 * `watch` learns of a death from the Worker's 'exit' event, which only a
 * turn of the watching thread's event loop delivers. A thread that writes
 * synchronously right after it aborted a task (piscina terminates the
 * worker and rejects the task at once) can meet the dying thread's lock
 * before that turn comes, and would wait out `lockTimeoutMs`. Linux answers
 * the question directly: every worker thread is a kernel thread of this
 * process, listed as /proc/self/task/<tid> until it has exited (measured:
 * gone 3-18 ms after `terminate()`, while the terminating thread spins).
 * So each thread notes its kernel thread id (from /proc/thread-self) in the
 * map's thread table when it first takes a handle, and a thread that has
 * waited LIVENESS_SLICE_MS for a lock looks its holder up; when the holder's
 * task is gone it recovers that thread itself (recover.ts), as `watch`
 * would have, and takes the lock.
 *
 * Why a vanished task is dead, and why its stores are seen: a Node worker's
 * kernel thread exits only after its isolate stopped running JavaScript;
 * the thread id cannot name another thread of this process until Linux
 * hands ids out again after wrapping around pid_max (4,194,304 by default
 * on 64-bit), and the table entry is checked against the holder's threadId
 * first. On x86-64 every store the dead thread made is globally visible
 * before its task leaves the task list (its exit runs locked instructions,
 * which drain its store buffer, and x86 memory is multi-copy atomic), so the
 * recoverer reads its intent record whole. On ARM64 that ordering would need
 * a barrier JavaScript cannot issue, so there (and off Linux) nothing is
 * registered and waiters rely on `watch`, as before.
 *
 * The table also records each thread's running `forEach` registrations
 * (H_ITERATING, window.ts "Iterations"), which are not locks: a thread
 * killed inside `forEach` would leave every later write paying for a
 * registration nobody holds. Recovery gives them back (releaseThreadEntry),
 * and so does a thread that takes over the entry of a thread that is gone.
 * Entries are made wherever a thread takes a handle; only their kernel
 * thread id is Linux x86-64's.
 *
 * What can go wrong is only ever the safe way round: a holder with no entry
 * (table full, another platform, /proc unreadable) or one whose id was
 * reused counts as alive, and the waiter waits as it did before. A live
 * holder is never judged dead: its entry holds its own id, written by
 * itself before the entry names it (T_CLAIMING in between), and a
 * /proc lookup that fails for any reason but "no such file" counts as alive.
 */
import { readlinkSync, statSync } from 'node:fs';
import {
  H_ITERATING,
  H_THREADS_CAP,
  H_THREADS_OFF,
  T_CLAIMING,
  T_FREE,
  T_ITERATING,
  T_OWNER,
  T_TID,
  threadEntryI32,
} from './layout.js';

/** How long a waiter waits for a lock between two looks at whether its holder still exists (ms). */
export const LIVENESS_SLICE_MS = 5;

/** @internal Test switch: 'off' never looks (waiters rely on `watch`); 'always-dead' judges every holder dead (the broken checker the tests must catch). */
export const livenessTestSwitch: { mode: 'on' | 'off' | 'always-dead' } = { mode: 'on' };

/** This thread's kernel thread id, or 0 where the kernel cannot be asked (not Linux x86-64, no /proc). Worked out once per thread. */
let ownTid = -1;

function kernelTid(): number {
  if (ownTid >= 0) return ownTid;
  ownTid = 0;
  if (process.platform !== 'linux' || process.arch !== 'x64') return 0;
  try {
    // "<pid>/task/<tid>", resolved for the calling thread.
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (Number.isInteger(tid) && tid > 0 && taskExists(tid) === true) ownTid = tid;
  } catch {
    // No /proc: waiters on this thread's locks rely on `watch`.
  }
  return ownTid;
}

/** true / false when /proc says the task exists / does not; undefined when it cannot tell. */
function taskExists(tid: number): boolean | undefined {
  try {
    return statSync(`/proc/self/task/${tid}`, { throwIfNoEntry: false }) !== undefined;
  } catch {
    return undefined;
  }
}

/**
 * Notes the calling thread (`thread`: its threadId) in the map's thread
 * table, once per thread and map, and returns its entry's word index (-1:
 * the table is full, or a map without one). Where the kernel cannot be asked
 * the entry's tid is 0: it still records the thread's `forEach`
 * registrations. A free entry is taken first (never used, or given up by
 * recovery); else one whose kernel thread is gone, after giving back what
 * it still held (releaseEntry).
 */
export function registerThread(i32: Int32Array, thread: number): number {
  const cap = i32[H_THREADS_CAP]!;
  if (cap === 0) return -1;
  const tid = kernelTid();
  const off = i32[H_THREADS_OFF]!;
  const me = thread + 1;
  const first = thread % cap;
  // Already noted (another handle of this thread)?
  for (let i = 0; i < cap; i++) {
    const at = threadEntryI32(off, (first + i) % cap);
    const owner = Atomics.load(i32, at + T_OWNER);
    if (owner === me) return at;
    if (owner === 0) break;
  }
  for (let pass = 0; pass < 2; pass++) {
    for (let i = 0; i < cap; i++) {
      const at = threadEntryI32(off, (first + i) % cap);
      const owner = Atomics.load(i32, at + T_OWNER);
      const free = owner === 0 || owner === T_FREE;
      // Pass 0: free entries; pass 1: entries whose kernel thread is gone.
      if (pass === 0 ? !free : free || owner === T_CLAIMING || !threadGone(i32, at)) continue;
      if (Atomics.compareExchange(i32, at + T_OWNER, owner, T_CLAIMING) !== owner) continue;
      if (pass === 1) releaseEntry(i32, at);
      Atomics.store(i32, at + T_TID, tid);
      Atomics.store(i32, at + T_ITERATING, 0);
      Atomics.store(i32, at + T_OWNER, me);
      return at;
    }
  }
  return -1;
}

/** Whether the kernel says the thread of entry `at` is gone (false when it cannot tell). */
function threadGone(i32: Int32Array, at: number): boolean {
  const tid = Atomics.load(i32, at + T_TID);
  return tid !== 0 && taskExists(tid) === false;
}

/** Word index of the entry naming thread `thread`, or -1. */
function entryOf(i32: Int32Array, thread: number): number {
  const cap = i32[H_THREADS_CAP]!;
  if (cap === 0) return -1;
  const off = i32[H_THREADS_OFF]!;
  const them = thread + 1;
  for (let i = 0; i < cap; i++) {
    const at = threadEntryI32(off, ((thread % cap) + i) % cap);
    const owner = Atomics.load(i32, at + T_OWNER);
    if (owner === them) return at;
    if (owner === 0) return -1;
  }
  return -1;
}

/**
 * Whether thread `thread` (a lock holder's threadId) is known to be gone:
 * true only when the table names it with a kernel thread id that /proc no
 * longer lists. False when alive or when it cannot be told.
 */
export function holderGone(i32: Int32Array, thread: number): boolean {
  const mode = livenessTestSwitch.mode;
  if (mode !== 'on') return mode === 'always-dead';
  // The id is read after the owner word that names `thread`: it is that thread's own.
  const at = entryOf(i32, thread);
  return at >= 0 && threadGone(i32, at);
}

/**
 * A `forEach` of the calling thread (entry `at`, -1: none) starts: one
 * more registration in H_ITERATING, then noted in the entry, so that a
 * recoverer can give back what a thread killed inside `forEach` left
 * raised. In that order, and the reverse at the end (iterationEnd): a
 * thread stopped between the two leaves H_ITERATING one too high (writes
 * bump H_ITER_WRITES for nothing), never one too low (a running `forEach`
 * would miss writes).
 */
export function iterationBegin(i32: Int32Array, at: number): void {
  Atomics.add(i32, H_ITERATING, 1);
  if (at >= 0) Atomics.add(i32, at + T_ITERATING, 1);
}

/** The end of what iterationBegin started. */
export function iterationEnd(i32: Int32Array, at: number): void {
  if (at >= 0) Atomics.sub(i32, at + T_ITERATING, 1);
  Atomics.sub(i32, H_ITERATING, 1);
}

/** Gives back what entry `at`'s dead thread still held (its `forEach` registrations); returns how many. */
function releaseEntry(i32: Int32Array, at: number): number {
  const n = Atomics.exchange(i32, at + T_ITERATING, 0);
  if (n > 0) Atomics.sub(i32, H_ITERATING, n);
  return n;
}

/**
 * Recovery of dead thread `thread` (recover.ts): gives back its `forEach`
 * registrations and frees its entry. Returns the registrations given back.
 */
export function releaseThreadEntry(i32: Int32Array, thread: number): number {
  const at = entryOf(i32, thread);
  if (at < 0 || Atomics.compareExchange(i32, at + T_OWNER, thread + 1, T_CLAIMING) !== thread + 1) return 0;
  const n = releaseEntry(i32, at);
  Atomics.store(i32, at + T_OWNER, T_FREE);
  return n;
}

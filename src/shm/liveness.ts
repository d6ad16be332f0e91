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
 * What can go wrong is only ever the safe way round: a holder with no entry
 * (table full, another platform, /proc unreadable) or one whose id was
 * reused counts as alive, and the waiter waits as it did before. A live
 * holder is never judged dead: its entry holds its own id, written by
 * itself before the entry names it (T_CLAIMING in between), and a
 * /proc lookup that fails for any reason but "no such file" counts as alive.
 */
import { readlinkSync, statSync } from 'node:fs';
import { H_THREADS_CAP, H_THREADS_OFF, T_CLAIMING, T_OWNER, T_TID, threadEntryI32 } from './layout.js';

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
 * table, once per thread and map; a no-op where the kernel cannot be asked
 * or the table has no free entry (an entry whose thread is gone is free).
 */
export function registerThread(i32: Int32Array, thread: number): void {
  const cap = i32[H_THREADS_CAP]!;
  const tid = cap === 0 ? 0 : kernelTid();
  if (tid === 0) return;
  const off = i32[H_THREADS_OFF]!;
  const me = thread + 1;
  const first = thread % cap;
  // Already noted (another handle of this thread)?
  for (let i = 0; i < cap; i++) {
    const owner = Atomics.load(i32, threadEntryI32(off, (first + i) % cap) + T_OWNER);
    if (owner === me) return;
    if (owner === 0) break;
  }
  // An unused entry, or else one whose thread is gone.
  for (const reuse of [false, true]) {
    for (let i = 0; i < cap; i++) {
      const at = threadEntryI32(off, (first + i) % cap);
      const owner = Atomics.load(i32, at + T_OWNER);
      if (owner === T_CLAIMING || (owner !== 0 && (!reuse || taskExists(Atomics.load(i32, at + T_TID)) !== false)))
        continue;
      if (Atomics.compareExchange(i32, at + T_OWNER, owner, T_CLAIMING) !== owner) continue;
      Atomics.store(i32, at + T_TID, tid);
      Atomics.store(i32, at + T_OWNER, me);
      return;
    }
  }
}

/**
 * Whether thread `thread` (a lock holder's threadId) is known to be gone:
 * true only when the table names it with a kernel thread id that /proc no
 * longer lists. False when alive or when it cannot be told.
 */
export function holderGone(i32: Int32Array, thread: number): boolean {
  const mode = livenessTestSwitch.mode;
  if (mode !== 'on') return mode === 'always-dead';
  const cap = i32[H_THREADS_CAP]!;
  if (cap === 0) return false;
  const off = i32[H_THREADS_OFF]!;
  const them = thread + 1;
  for (let i = 0; i < cap; i++) {
    const at = threadEntryI32(off, ((thread % cap) + i) % cap);
    const owner = Atomics.load(i32, at + T_OWNER);
    if (owner === 0) return false;
    // The id is read after the owner word that names `thread`: it is that thread's own.
    if (owner === them) return taskExists(Atomics.load(i32, at + T_TID)) === false;
  }
  return false;
}

/**
 * `stress --watch`: conflict reports while the run goes on, in the race
 * detector's shape (race/report.ts). On a terminal it is rate-limited: the
 * first conflict of each kind in full, then one line per interval with the
 * counts by kind; elsewhere (a pipe, a file) every record in full.
 */
import type { SharedMap } from '../shm/map.js';
import type { ConflictKind } from '../shm/types.js';
import { formatConflict } from '../race/report.js';
import { followConflicts } from './follow.js';

export interface WatchOptions {
  /** Where the text goes. Default: process.stderr. */
  write?: (text: string) => void;
  /** First of each kind in full, then counts per interval. Default: when stderr is a terminal. */
  rateLimit?: boolean;
  /** The counting interval, ms. Default 1000. */
  intervalMs?: number;
  /** Names for thread ids, printed beside them. */
  threadNames?: ReadonlyMap<number, string>;
}

/** What a watch printed, as its stop function returns it. */
export interface WatchSummary {
  /** Records printed in full. */
  shown: number;
  /** Records only counted (rate-limited). */
  counted: number;
  /** Records the log dropped while watching. */
  missed: number;
}

/** Starts watching `map`'s conflicts; returns a function that prints what is still counted and stops. */
export function watchConflicts(map: SharedMap<unknown, unknown>, options: WatchOptions = {}): () => WatchSummary {
  const write = options.write ?? ((text: string) => void process.stderr.write(text));
  const rateLimit = options.rateLimit ?? process.stderr.isTTY === true;
  const intervalMs = options.intervalMs ?? 1000;
  const seen = new Set<ConflictKind>();
  const pending = new Map<ConflictKind, number>();
  let pendingMissed = 0;
  const summary: WatchSummary = { shown: 0, counted: 0, missed: 0 };
  let windowStart = performance.now();

  const flushCounts = (): void => {
    const seconds = ((performance.now() - windowStart) / 1000).toFixed(1);
    windowStart = performance.now();
    if (pending.size === 0 && pendingMissed === 0) return;
    const parts = [...pending].map(([kind, n]) => `${n} ${kind}`);
    if (pendingMissed > 0) parts.push(`${pendingMissed} dropped (conflict log full)`);
    write(`conflicts in the last ${seconds} s: ${parts.join(', ')}\n`);
    pending.clear();
    pendingMissed = 0;
  };
  const timer = rateLimit ? setInterval(flushCounts, intervalMs) : undefined;
  timer?.unref();

  const stop = followConflicts(
    map,
    (record) => {
      if (!rateLimit || !seen.has(record.kind)) {
        seen.add(record.kind);
        summary.shown++;
        write(formatConflict(record, options.threadNames) + '\n');
        return;
      }
      summary.counted++;
      pending.set(record.kind, (pending.get(record.kind) ?? 0) + 1);
    },
    {
      keepAlive: false,
      onMissed: (n) => {
        summary.missed += n;
        if (rateLimit) pendingMissed += n;
        else write(`${n} conflict record(s) dropped: the conflict log is full\n`);
      },
    },
  );
  return () => {
    stop();
    if (timer !== undefined) clearInterval(timer);
    flushCounts();
    return { ...summary };
  };
}

/**
 * The race checker's human report, in the shape of Go's race detector: one
 * block per conflict between `==================` rules, headed
 * `WARNING: CONFLICT: <kind>`, naming the thread that detected it (what it was
 * doing, on which key and shard, and the shard seq it saw) and then the other
 * party as the shard's last-writer fields recorded it; totals by kind at the
 * end, with how many records the log dropped when its ring was full.
 *
 * Input is what `map.conflicts()` returns (src/shm/types.ts ConflictRecord);
 * the same records go unchanged into `stress --json`.
 */
import type { ConflictKind, ConflictRecord } from '../shm/types.js';

export interface FormatConflictsOptions {
  /** Records the log dropped (`map.stats().conflictsOverflowed`); printed with the totals. */
  overflowed?: number;
  /** Print at most this many blocks (the totals still count every record). Default: all. */
  limit?: number;
  /**
   * Names for thread ids, e.g. threadId -> 'worker 2': a named party is
   * printed by its name, the id after it (`worker 2 (threadId 3)`), so a
   * report uses the numbering of the tool that ran the threads.
   */
  threadNames?: ReadonlyMap<number, string>;
}

const RULE = '==================';

/** Every kind, in the order the totals list them. */
export const CONFLICT_KINDS: readonly ConflictKind[] = [
  'concurrent map writes',
  'concurrent map read and map write',
  'concurrent map iteration and map write',
  'thread died holding a shard lock',
];

/** Number of records of each kind (every kind present, zeros included). */
export function countConflicts(records: readonly ConflictRecord[]): Record<ConflictKind, number> {
  const counts = Object.fromEntries(CONFLICT_KINDS.map((k) => [k, 0])) as Record<ConflictKind, number>;
  for (const r of records) counts[r.kind] = (counts[r.kind] ?? 0) + 1;
  return counts;
}

function thread(id: number, names: ReadonlyMap<number, string> | undefined): string {
  const name = names?.get(id) ?? (id === 0 ? 'main thread' : undefined);
  return name === undefined ? `thread ${id}` : `${name} (threadId ${id})`;
}

function key(k: string): string {
  return k === '' ? '(unknown)' : JSON.stringify(k);
}

/** One conflict as a Go-style block, rules included. */
export function formatConflict(r: ConflictRecord, threadNames?: ReadonlyMap<number, string>): string {
  const d = r.detector;
  const o = r.other;
  return [
    RULE,
    `WARNING: CONFLICT: ${r.kind}`,
    `${d.op} by ${thread(d.thread, threadNames)}:`,
    `  key:   ${key(d.key)}`,
    `  shard: ${r.shard}`,
    `  seq:   seen ${d.seqSeen}, now ${d.seqNow}`,
    `  time:  ${new Date(r.time).toISOString()}`,
    '',
    `Previous ${o.op} by ${thread(o.thread, threadNames)}:`,
    `  key:   ${key(o.key)}`,
    `  shard: ${r.shard}`,
    `  seq:   ${o.seq}`,
    RULE,
  ].join('\n');
}

/**
 * The whole report: a block per record (at most `limit`), then the totals by
 * kind and the overflow count. An empty log gives just the totals line.
 */
export function formatConflicts(records: readonly ConflictRecord[], options: FormatConflictsOptions = {}): string {
  const overflowed = options.overflowed ?? 0;
  const limit = Math.min(options.limit ?? records.length, records.length);
  const out: string[] = [];
  for (let i = 0; i < limit; i++) out.push(formatConflict(records[i]!, options.threadNames));
  if (limit < records.length) out.push(`... ${records.length - limit} more conflict reports not shown`);
  if (records.length === 0 && overflowed === 0) {
    out.push('No conflicts recorded.');
    return out.join('\n');
  }
  const counts = countConflicts(records);
  const width = Math.max(...CONFLICT_KINDS.map((k) => k.length));
  out.push('Conflicts by kind:');
  for (const k of CONFLICT_KINDS) if (counts[k] > 0) out.push(`  ${k.padEnd(width)}  ${counts[k]}`);
  out.push(
    `Found ${records.length} conflict(s)` +
      (overflowed > 0 ? `; ${overflowed} more dropped because the conflict log was full` : '; none dropped'),
  );
  return out.join('\n');
}

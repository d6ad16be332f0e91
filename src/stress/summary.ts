/**
 * The stress runner's outputs: the human summary, the `--json` document, and
 * the `--report FILE` text (summary plus every conflict block).
 */
import { formatConflicts } from '../race/report.js';
import { formatCheckReport } from '../race/timeline.js';
import { formatNs } from './histogram.js';
import { formatHotSpots } from './hot.js';
import { MIX_OPS } from './options.js';
import { LOSSES_SHOWN, type StressResult } from './run.js';

/** Conflict blocks printed in the summary on the terminal (the report file has them all). */
const CONFLICTS_SHOWN = 3;

function rate(perSec: number): string {
  if (perSec >= 1e6) return `${(perSec / 1e6).toFixed(2)} M`;
  if (perSec >= 1e3) return `${(perSec / 1e3).toFixed(1)} k`;
  return perSec.toFixed(0);
}

function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map(
    (r) => '  ' + r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  '),
  );
}

export function formatSummary(r: StressResult, conflictsShown = CONFLICTS_SHOWN): string {
  const o = r.options;
  const out: string[] = [];
  // Only workers in the 'mixed' role run the --mix workload; a scenario without them ignores it.
  const mixUsed = r.workers.some((w) => w.role === 'mixed');
  out.push(
    `shmap stress: scenario ${o.scenario}, ${o.workers} workers, sync ${o.sync}, seed ${o.seed}`,
    `  keys ${o.keys} shared + ${o.owned} owned per worker (${o.keyType} -> ${o.valueType})` +
      (mixUsed ? `, mix ${o.mix}` : '') +
      `, dist ${o.dist}`,
    '',
    `throughput: ${r.totalOps.toLocaleString('en-US')} ops in ${(r.elapsedMs / 1000).toFixed(2)} s = ${rate(r.opsPerSec)} ops/s` +
      (r.interrupted ? ' (interrupted: stopped early, what was done is verified)' : ''),
  );
  out.push(
    ...table([
      ['worker', 'thread id', 'role', 'ops', 'ops/s', 'gc pauses', 'gc total', 'gc max', 'iter ok/aborted'],
      ...r.workers.map((w) => [
        String(w.index),
        String(w.threadId),
        w.role,
        w.ops.toLocaleString('en-US'),
        rate(w.opsPerSec),
        String(w.gc.count),
        `${w.gc.totalMs.toFixed(1)} ms`,
        `${w.gc.maxMs.toFixed(2)} ms`,
        w.iterationsCompleted + w.iterationsAborted > 0 ? `${w.iterationsCompleted}/${w.iterationsAborted}` : '-',
      ]),
    ]),
  );
  out.push('', 'latency (all workers, HDR):');
  const kinds = [
    ...MIX_OPS,
    ...Object.keys(r.latency).filter((k) => !(MIX_OPS as readonly string[]).includes(k)),
  ].filter((k) => r.latency[k]);
  out.push(
    ...table([
      ['op', 'count', 'p50', 'p99', 'p99.9', 'max'],
      ...kinds.map((k) => {
        const l = r.latency[k]!;
        return [
          k,
          l.count.toLocaleString('en-US'),
          formatNs(l.p50),
          formatNs(l.p99),
          formatNs(l.p999),
          formatNs(l.max),
        ];
      }),
    ]),
  );
  const s = r.stats;
  out.push(
    '',
    `map: ${s.count.toLocaleString('en-US')} entries, ${s.shards} shards, ${(s.bytes / 2 ** 20).toFixed(1)} MiB; lock waits ${s.lockWaits.toLocaleString('en-US')}, read retries ${s.readRetries.toLocaleString('en-US')}`,
  );
  out.push(...formatHotSpots(r.hot, s.shards));
  const c = r.conflicts;
  const deleted = r.workers.reduce((n, w) => n + w.deleted, 0);
  if (deleted > 0)
    out.push(
      `cleanup: ${deleted.toLocaleString('en-US')} entries deleted by ${o.scenario === 'sweep' ? 'sweep' : 'range-delete / sweep'}`,
    );
  out.push('');
  if (c.records.length === 0 && c.overflowed === 0) {
    out.push('conflicts: none');
  } else {
    out.push(
      `conflicts: ${c.records.length} recorded (+${c.overflowed} overflowed); expected by this scenario: ${c.expected.length === 0 ? 'none' : c.expected.join(', ')}; unexpected: ${c.unexpected}`,
    );
    out.push(
      formatConflicts(c.records, { overflowed: c.overflowed, limit: conflictsShown, threadNames: r.threadNames }),
    );
  }
  const v = r.verification;
  out.push('');
  if (v.ok) {
    out.push(
      `verification: OK: ${v.ownedKeysChecked.toLocaleString('en-US')} owned keys exact` +
        (v.countersChecked > 0 ? `, ${v.countersChecked} counter sums exact` : '') +
        `; invariants ${v.invariants}`,
    );
  } else {
    out.push(
      `verification: FAILED: ${v.lossCount} loss(es)${v.lossCount > LOSSES_SHOWN ? `, first ${LOSSES_SHOWN}` : ''}:`,
    );
    for (const l of v.losses) out.push(`  ${l}`);
    out.push(`  invariants ${v.invariants}`);
  }
  if (v.pattern !== undefined) out.push(...formatPatternChecks(o.scenario, v.pattern));
  if (r.history !== undefined) out.push('', ...formatHistorySummary(r));
  out.push(r.exitCode === 0 ? 'result: PASS' : `result: FAIL (${r.failures.join('; ')})`);
  return out.join('\n');
}

/** `fooBarBaz` as `foo bar baz`. */
function words(name: string): string {
  return name.replace(/([a-z0-9])([A-Z])/g, '$1 $2').toLowerCase();
}

/**
 * The checks of the ttl, lease and delete-queue scenarios as sentences.
 * Counts a sentence does not use (a scenario's new check) follow in words.
 */
function formatPatternChecks(scenario: string, checks: Readonly<Record<string, number>>): string[] {
  const used = new Set<string>();
  const n = (k: string): string => {
    used.add(k);
    return (checks[k] ?? 0).toLocaleString('en-US');
  };
  const lines: string[] = [];
  if (scenario === 'ttl') {
    lines.push(
      `ttl: ${n('ttlSets')} sets with a TTL; ${n('expiredReadsChecked')} reads checked after expiry, ${n('expiredReadViolations')} returned an expired entry`,
      `  sweeper thread: ${n('sweeperSweeps')} sweeps reclaimed ${n('sweeperRemoved')}; after the run a sweep at the last expiry reclaimed ${n('finalSweepRemoved')} (${n('unexpiredAtFinalSweep')} unexpired then), one more ${n('lastSweepRemoved')}; ${n('finalSize')} entries left`,
    );
  } else if (scenario === 'lease') {
    lines.push(
      `lease: ${n('acquires')} acquires (${n('acquireMisses')} found the key retired), ${n('leaseChecks')} checks while held: ${n('removedWhileLeased')} leased entries removed, ${n('releaseErrors')} release errors`,
      `  retirer: ${n('retired')} retired (${n('removedByRetire')} removed at once, ${n('deferred')} deferred and removed by their last release: ${n('removedByRelease')}), ${n('reinserted')} re-inserted; ${n('keysChecked')} keys checked at the end, ${n('keysWrong')} wrong`,
    );
  } else if (scenario === 'delete-queue') {
    lines.push(
      `delete-queue: ${n('doomedSet')} doomed keys set, ${n('enqueued')} enqueued (${n('enqueueRefused')} refused while the queue was full: ${n('queueFullRejections')} rejections, ${n('queueFullWaits')} waits for room)`,
      `  drainer thread: ${n('drained')} deletes applied, ${n('drainerDeleted')} removed, ${n('drainerFoundAbsent')} already absent; ${n('doomedKeysChecked')} doomed keys checked at the end, ${n('doomedKeysWrong')} wrong`,
    );
  }
  const rest = Object.keys(checks).filter((k) => !used.has(k));
  if (rest.length > 0)
    lines.push(
      `${lines.length === 0 ? scenario : ' '} checks: ${rest.map((k) => `${words(k)} ${n(k)}`).join(', ')}`.trimStart(),
    );
  return lines;
}

/** `--history`: what was checked, where it was cut and what was dropped (never silent), and with `--check` the verdict. */
function formatHistorySummary(r: StressResult): string[] {
  const h = r.history!;
  const n = (x: number): string => x.toLocaleString('en-US');
  const out = [
    `history: ${n(h.checked)} ops on ${h.keys} sampled keys (ids 0..${h.keys - 1}) in the history` +
      ` (thread N in the history is worker N; ${h.initial} initial sets by the main thread, recorded as thread ${r.options.workers}; ${n(h.checked - h.initial)} by the workers` +
      (h.pending > 0 ? `, ${n(h.pending)} of them pending: in flight at the cut-off` : '') +
      ')',
  ];
  if (h.cutoff === undefined) {
    out.push('  complete: no op on a sampled key was dropped');
  } else {
    const c = h.cutoff;
    const where = Number.isFinite(c.afterStartMs)
      ? `${c.afterStartMs.toFixed(1)} ms into the run`
      : 'before the first worker op';
    const who = c.worker >= 0 ? `worker ${c.worker}: ${c.why}` : c.why;
    out.push(
      `  cut-off ${where} (${who}); every worker stopped recording there: ` +
        `${n(h.dropped)} later ops on sampled keys dropped from the history, not checked`,
    );
    for (const st of h.stopped)
      out.push(`  worker ${st.worker}: recording stopped (${st.why}), ${n(st.dropped)} ops after it not recorded`);
  }
  if (h.check !== undefined) {
    const c = h.check;
    if (c.ops === 0) out.push('linearizability: nothing checked (the history is empty)');
    else if (c.status === 'ok')
      out.push(`linearizability: ok (${n(c.ops)} ops on ${c.keys} keys checked in ${c.elapsedMs.toFixed(0)} ms)`);
    else
      out.push(
        `linearizability: ${formatCheckReport(h.ops, c)}` +
          (c.status === 'unknown' ? '\n  (unknown is reported, not a failure)' : ''),
      );
  }
  return out;
}

/** The `--json` document: everything in the summary, conflict records in full (the history itself only as counts: it is in the --history file). */
export function toJson(r: StressResult): unknown {
  const { history, ...rest } = r;
  return {
    ...rest,
    threadNames: Object.fromEntries(r.threadNames),
    ...(history === undefined ? {} : { history: { ...history, ops: undefined } }),
  };
}

/** The `--report FILE` text: the summary with every conflict block. */
export function formatReport(r: StressResult): string {
  return formatSummary(r, Number.POSITIVE_INFINITY) + '\n';
}

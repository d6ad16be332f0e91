/**
 * `stress --metrics-port`, `--alert-url`, `--watch` on a real run (the CLI
 * from dist/), and the Grafana dashboard in docs/ against the metrics a real
 * scrape publishes.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { SharedMap, type AlertStats, type ConflictAlert } from '../../src/index.js';
import { registerMetrics } from '../../src/metrics/prometheus.js';
import { distPath, testPath } from '../helpers/paths.js';
import { havePromtool, promtoolProblems, promtoolRequired } from './exposition.js';
import { startReceiver } from './receiver.js';

interface StressJson {
  conflicts: { byKind: Record<string, number>; overflowed: number; records: unknown[] };
  totalOps: number;
  alerts: AlertStats;
  failures: string[];
}

/** Metric names in a Prometheus text exposition (sample lines only). */
function exposedNames(text: string): Set<string> {
  const names = new Set<string>();
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]/.exec(line);
    if (m) names.add(m[1]!);
  }
  return names;
}

/** Every `shmap_*` metric a Grafana dashboard's queries name, and the ones missing from `exposed`. */
function dashboardMissing(dashboard: unknown, exposed: Set<string>): { queried: string[]; missing: string[] } {
  const exprs: string[] = [];
  const walk = (x: unknown): void => {
    if (Array.isArray(x)) x.forEach(walk);
    else if (x !== null && typeof x === 'object') {
      for (const [k, v] of Object.entries(x)) {
        if ((k === 'expr' || k === 'query' || k === 'definition') && typeof v === 'string') exprs.push(v);
        else walk(v);
      }
    }
  };
  walk(dashboard);
  const queried = [...new Set(exprs.flatMap((e) => e.match(/\bshmap_[a-z0-9_]+/g) ?? []))].sort();
  return { queried, missing: queried.filter((n) => !exposed.has(n)) };
}

describe('stress with live monitoring', () => {
  it('--metrics-port serves a parseable /metrics during the run; --alert-url alerts add up to the run; --watch prints reports', async () => {
    const receiver = await startReceiver();
    const child = spawn(
      process.execPath,
      [
        distPath('main.js'),
        'stress',
        '--duration',
        '2',
        '--workers',
        '3',
        '--keys',
        '2000',
        '--sync',
        'none',
        '--mix',
        'get=60,set=30,iterate=10',
        '--seed',
        '7',
        '--json',
        '--metrics-port',
        '0',
        '--watch',
        '--alert-url',
        receiver.url,
        '--alert-interval',
        '0.5',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    // Scrape once the URL is printed, while the workers run. (Only the text
    // before the URL is searched: --watch prints hundreds of reports after it.)
    const scraped = new Promise<string>((resolve, reject) => {
      let fetched = false;
      child.stderr.on('data', (c: Buffer) => {
        stderr += c.toString();
        if (fetched) return;
        const url = /metrics: (http:\/\/\S+)/.exec(stderr)?.[1];
        if (url === undefined) return;
        fetched = true;
        fetch(url)
          .then((r) => r.text())
          .then(resolve, reject);
      });
    });
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    await receiver.close();
    const text = await scraped;
    let result: StressJson;
    try {
      result = JSON.parse(stdout) as StressJson;
    } catch {
      throw new Error(`stress exited ${code} without its JSON document; stderr ends: ${stderr.slice(-2000)}`);
    }
    // With --sync none the writers' races are real: now and then one loses a write (two inserts
    // claim one slot), and stress says so with exit 1. That is what --sync none is for, not what
    // this test is about; any other failure (a worker failed, a bad exit) still fails it.
    const raceLosses = result.failures.every((f) => /^(verification failed|invariants): /.test(f));
    if (code !== 0)
      expect({ code, failures: result.failures, raceLosses }).toMatchObject({ code: 1, raceLosses: true });

    // /metrics: the map's series, accepted by Prometheus's parser.
    expect(text).toMatch(/^shmap_entries\{map="stress"\} \d+$/m);
    if (havePromtool()) expect(promtoolProblems(text)).toBe('');
    else if (promtoolRequired()) throw new Error('promtool is not installed');

    // --watch: Go-shaped reports on stderr (not a terminal: every record in full).
    const shown = stderr.split('WARNING: CONFLICT: ').length - 1;
    expect(shown).toBeGreaterThanOrEqual(Math.min(1, result.conflicts.records.length));

    // --alert-url: per kind, the first alert then counts adding up to the kind's records. Delivery is
    // at least once (a reply later than the sender's timeout on a loaded machine makes it post again):
    // a copy has the same id and counts once.
    const seen = new Set<string>();
    const alerts = (receiver.accepted as ConflictAlert[]).filter((a) => !seen.has(a.id) && seen.add(a.id));
    // What the sender says it could not deliver (given up on, dropped, or still queued when the run
    // exited, after waiting its timeout) is missing from the sums: exact only when that is nothing.
    const undelivered = result.alerts.failed + result.alerts.dropped + result.alerts.queued;
    const sums = (n: number, got: number): void => {
      if (undelivered === 0) expect(got).toBe(n);
      else expect(got).toBeLessThanOrEqual(n);
    };
    console.log(
      `stress: ${result.totalOps} ops, conflicts ${JSON.stringify(result.conflicts.byKind)}, ${result.conflicts.overflowed} dropped; ` +
        `${alerts.length} alerts (${receiver.accepted.length - alerts.length} copies), sender ${JSON.stringify(result.alerts)}; ${shown} reports watched`,
    );
    expect(result.conflicts.records.length).toBeGreaterThan(0);
    for (const [kind, n] of Object.entries(result.conflicts.byKind)) {
      const mine = alerts.filter((a) => a.kind === kind);
      if (n === 0) {
        expect(mine).toEqual([]);
        continue;
      }
      if (undelivered === 0) expect(mine[0]).toMatchObject({ first: true, count: 1, map: 'stress' });
      sums(
        n,
        mine.reduce((s, a) => s + a.count, 0),
      );
    }
    const dropped = alerts.filter((a) => a.kind === 'conflict records dropped');
    sums(
      result.conflicts.overflowed,
      dropped.reduce((s, a) => s + a.count, 0),
    );
    // Every alert the sender counts as sent reached the receiver; one given up on may have, too.
    expect(alerts.length).toBeGreaterThanOrEqual(result.alerts.sent);
    expect(alerts.length).toBeLessThanOrEqual(result.alerts.sent + result.alerts.failed);
  });
});

describe('the Grafana dashboard (docs/grafana-dashboard.json)', () => {
  const dashboard = JSON.parse(readFileSync(testPath('../docs/grafana-dashboard.json'), 'utf8')) as unknown;

  it('queries only metrics a real scrape publishes', async () => {
    // With metrics: the operation, sweep and hot-shard series exist only for such a map.
    const map = SharedMap.create<number, number>({ capacity: 64, metrics: true });
    map.set(1, 1);
    const registry = new Registry();
    registerMetrics(map, registry, { name: 'dash' });
    const exposed = exposedNames(await registry.metrics());
    const { queried, missing } = dashboardMissing(dashboard, exposed);
    expect(queried.length).toBeGreaterThanOrEqual(13);
    expect(missing).toEqual([]);
  });

  it('the check finds a metric that does not exist (negative control)', () => {
    const broken = { panels: [{ targets: [{ expr: 'rate(shmap_no_such_metric_total[5m])' }] }] };
    expect(dashboardMissing(broken, new Set(['shmap_entries'])).missing).toEqual(['shmap_no_such_metric_total']);
  });
});

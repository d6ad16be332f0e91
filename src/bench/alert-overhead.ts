/**
 * Does a dead alert receiver slow the map's threads? Runs the same stress
 * run (iteration conflicts provoked on purpose, so alerts are due all the
 * time) without alerts and with `alertOnConflicts` pointed at a loopback
 * port nothing listens on, in alternating rounds of one process, and prints
 * ops/s side by side with the Node version and the load average.
 *
 *   node dist/bench/alert-overhead.js [rounds] [seconds]
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadavg } from 'node:os';
import { runStress } from '../stress/run.js';
import { defaultOptions, parseMix } from '../stress/options.js';
import { alertOnConflicts, type AlertStats } from '../metrics/alerts.js';

async function deadUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}/alerts`;
}

async function round(
  withAlerts: boolean,
  url: string,
  seconds: number,
): Promise<{ opsPerSec: number; alerts?: AlertStats }> {
  const o = defaultOptions();
  o.durationMs = seconds * 1000;
  o.seed = 1;
  // A small key space: an iteration costs little, so ops/s is the gets and sets.
  o.keys = 1000;
  o.owned = 100;
  o.mix = parseMix('get=70,set=25,iterate=5');
  let stop: (() => Promise<AlertStats>) | undefined;
  const result = await runStress(o, {
    onMap: (map) => {
      if (withAlerts) stop = alertOnConflicts(map, { url, intervalMs: 100, retries: 3, retryDelayMs: 50 });
    },
  });
  const alerts = await stop?.();
  return { opsPerSec: result.opsPerSec, ...(alerts === undefined ? {} : { alerts }) };
}

async function main(): Promise<void> {
  const rounds = Number(process.argv[2] ?? 3);
  const seconds = Number(process.argv[3] ?? 3);
  const url = await deadUrl();
  console.log(`alert overhead: ${rounds} alternating pairs of ${seconds} s stress runs; alerts to a dead ${url}`);
  console.log(
    `node ${process.version}, load average ${loadavg()
      .map((x) => x.toFixed(1))
      .join(' ')}`,
  );
  const ratios: number[] = [];
  for (let r = 0; r < rounds; r++) {
    // Alternate which goes first, so a drift in the machine's load falls on both.
    const order = r % 2 === 0 ? [false, true] : [true, false];
    const got: Record<string, number> = {};
    for (const withAlerts of order) {
      const res = await round(withAlerts, url, seconds);
      got[withAlerts ? 'alerts' : 'none'] = res.opsPerSec;
      if (res.alerts !== undefined) console.log(`  round ${r + 1} alerts: ${JSON.stringify(res.alerts)}`);
    }
    ratios.push(got.alerts! / got.none!);
    console.log(
      `  round ${r + 1}: without ${Math.round(got.none!).toLocaleString('en-US')} ops/s, with dead receiver ${Math.round(got.alerts!).toLocaleString('en-US')} ops/s (ratio ${ratios.at(-1)!.toFixed(3)})`,
    );
  }
  ratios.sort((a, b) => a - b);
  console.log(`median ratio with/without: ${ratios[Math.floor(ratios.length / 2)]!.toFixed(3)}`);
  console.log(
    `load average after: ${loadavg()
      .map((x) => x.toFixed(1))
      .join(' ')}`,
  );
}

await main();

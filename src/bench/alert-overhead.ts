/**
 * Does a dead alert receiver slow the map's threads? Runs the same stress
 * run (iteration conflicts provoked on purpose, so alerts are due all the
 * time) three ways in rotating rounds of one process: without alerts, with
 * `alertOnConflicts` pointed at a live loopback receiver (answers 204), and
 * pointed at a loopback port nothing listens on. Prints ops/s side by side
 * with the Node version and the load average. dead/live is the receiver's
 * effect; live/none is the cost of following the log and sending at all.
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

async function liveUrl(): Promise<{ url: string; close: () => Promise<void> }> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(204).end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/alerts`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

type Arm = 'none' | 'live' | 'dead';

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
  const dead = await deadUrl();
  const live = await liveUrl();
  console.log(
    `alert overhead: ${rounds} rounds of three ${seconds} s stress runs (no alerts; alerts to a live ${live.url}; alerts to a dead ${dead})`,
  );
  console.log(
    `node ${process.version}, load average ${loadavg()
      .map((x) => x.toFixed(1))
      .join(' ')}`,
  );
  const ratios: number[] = [];
  const costs: number[] = [];
  const arms: Arm[] = ['none', 'live', 'dead'];
  for (let r = 0; r < rounds; r++) {
    // Rotate which goes first, so a drift in the machine's load falls on all three.
    const got: Record<string, number> = {};
    for (let i = 0; i < arms.length; i++) {
      const arm = arms[(r + i) % arms.length]!;
      const res = await round(arm !== 'none', arm === 'live' ? live.url : dead, seconds);
      got[arm] = res.opsPerSec;
      if (res.alerts !== undefined) console.log(`  round ${r + 1} alerts (${arm}): ${JSON.stringify(res.alerts)}`);
    }
    ratios.push(got.dead! / got.live!);
    costs.push(got.live! / got.none!);
    const f = (x: number) => Math.round(x).toLocaleString('en-US');
    console.log(
      `  round ${r + 1}: none ${f(got.none!)} ops/s, live receiver ${f(got.live!)}, dead receiver ${f(got.dead!)} (dead/live ${ratios.at(-1)!.toFixed(3)}, live/none ${costs.at(-1)!.toFixed(3)})`,
    );
  }
  await live.close();
  costs.sort((a, b) => a - b);
  console.log(`median live/none (following the log and sending): ${costs[Math.floor(costs.length / 2)]!.toFixed(3)}`);
  ratios.sort((a, b) => a - b);
  console.log(`median dead/live (the dead receiver's effect): ${ratios[Math.floor(ratios.length / 2)]!.toFixed(3)}`);
  console.log(
    `load average after: ${loadavg()
      .map((x) => x.toFixed(1))
      .join(' ')}`,
  );
}

await main();

/**
 * A minimal `/metrics` endpoint for one map, as `stress --metrics-port N`
 * serves it while a run goes on. It loads prom-client (an optional peer
 * dependency) only when started, and says what to install when it is missing.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { SharedMap } from '../shm/map.js';
import type { RegisterMetricsOptions } from './prometheus.js';

export interface MetricsServer {
  /** `http://host:port/metrics`, with the port actually bound (port 0 picks a free one). */
  url: string;
  port: number;
  close(): Promise<void>;
}

/** prom-client is optional: load it (and the collector) on first use, with a clear error when absent. */
async function loadCollector(): Promise<{
  Registry: typeof import('prom-client').Registry;
  registerMetrics: typeof import('./prometheus.js').registerMetrics;
}> {
  let client: typeof import('prom-client');
  try {
    client = await import('prom-client');
  } catch {
    throw new Error('serving /metrics needs prom-client, an optional peer dependency: npm install prom-client');
  }
  const { registerMetrics } = await import('./prometheus.js');
  return { Registry: client.Registry, registerMetrics };
}

/** Serves `GET /metrics` (Prometheus text format) for `map` on `host:port` until closed. Other paths: 404. */
export async function startMetricsServer(
  map: SharedMap<unknown, unknown>,
  options: { port: number; host?: string } & RegisterMetricsOptions,
): Promise<MetricsServer> {
  const { Registry, registerMetrics } = await loadCollector();
  const registry = new Registry();
  const unregister = registerMetrics(map, registry, {
    ...(options.name === undefined ? {} : { name: options.name }),
    ...(options.labels === undefined ? {} : { labels: options.labels }),
  });
  const host = options.host ?? '127.0.0.1';
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' || path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: GET /metrics\n');
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
      (err: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${String(err)}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${host}:${port}/metrics`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        unregister();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

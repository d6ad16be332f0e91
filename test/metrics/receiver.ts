/**
 * A JSON alert receiver on loopback for the alert tests: records every POST
 * body; `failFirst` answers that many requests with 503 before accepting.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Receiver {
  url: string;
  /** Bodies accepted (2xx), parsed, in arrival order. */
  accepted: unknown[];
  /** Requests answered (accepted or refused). */
  requests: number;
  /** Every body, refused or accepted, parsed, in arrival order. */
  received: unknown[];
  close(): Promise<void>;
}

export async function startReceiver(failFirst = 0): Promise<Receiver> {
  const r: Receiver = { url: '', accepted: [], requests: 0, received: [], close: async () => {} };
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      r.requests++;
      r.received.push(JSON.parse(body));
      if (r.requests <= failFirst) {
        res.writeHead(503).end();
        return;
      }
      r.accepted.push(JSON.parse(body));
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  r.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/alerts`;
  r.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return r;
}

/** A loopback URL nothing listens on (a port just bound and released). */
export async function deadUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}/alerts`;
}

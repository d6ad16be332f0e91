/**
 * The HTTP edge shared by both modes: read a request's body up to the limit
 * (413 past it, without buffering the rest), hand (method, url, body) to
 * whoever answers, and write the reply.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Reply } from './app.js';

const CONTENT_TYPES: Record<Reply['type'], string> = {
  json: 'application/json',
  text: 'text/plain; charset=utf-8',
  metrics: 'text/plain; version=0.0.4; charset=utf-8',
};

export function writeReply(res: ServerResponse, reply: Reply, close = false): void {
  const headers: Record<string, string | number> = {
    'content-type': CONTENT_TYPES[reply.type],
    'content-length': Buffer.byteLength(reply.body),
  };
  if (close) headers.connection = 'close';
  res.writeHead(reply.status, headers);
  res.end(reply.body);
}

/** The body as text, or undefined when it is over `limit` bytes (the reply then is 413 and the connection closes). */
function readBody(req: IncomingMessage, limit: number): Promise<string | undefined> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) return Promise.resolve(undefined);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (chunk: Buffer) => {
      if (over) return;
      size += chunk.length;
      if (size > limit) {
        over = true;
        chunks.length = 0;
        resolve(undefined);
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (!over) resolve(Buffer.concat(chunks).toString('utf8'));
    });
    req.on('error', reject);
  });
}

export type Answer = (method: string, url: string, body: string) => Promise<Reply>;

/** The request listener of a `node:http` server. */
export function listener(limit: number, answer: Answer) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    void serveOne(req, res, limit, answer);
  };
}

async function serveOne(req: IncomingMessage, res: ServerResponse, limit: number, answer: Answer): Promise<void> {
  try {
    const body = await readBody(req, limit);
    if (body === undefined) {
      writeReply(
        res,
        {
          status: 413,
          body: JSON.stringify({ error: `request body over the limit of ${limit} bytes (--value-bytes)` }),
          type: 'json',
        },
        true,
      );
      return;
    }
    writeReply(res, await answer(req.method ?? 'GET', req.url ?? '/', body));
  } catch (err) {
    if (!res.headersSent) {
      writeReply(res, { status: 500, body: JSON.stringify({ error: (err as Error).message }), type: 'json' }, true);
    } else res.destroy();
  }
}

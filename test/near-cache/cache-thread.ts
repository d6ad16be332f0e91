/**
 * A worker thread holding a NearCache handle (test/workers/near-cache.mjs),
 * asked one request at a time.
 */
import { Worker } from 'node:worker_threads';
import { distPath, testPath } from '../helpers/paths.js';

interface Reply {
  ready?: boolean;
  handle?: unknown;
  value?: unknown;
  stats?: { hits: number; misses: number };
  error?: string;
}

/** A worker thread holding a NearCache handle; `ask` sends one request and waits for its reply. */
export class CacheThread {
  readonly worker: Worker;
  private replies: Reply[] = [];
  private waiting: ((r: Reply) => void) | undefined;
  readonly ready: Promise<Reply>;

  constructor(data: Record<string, unknown>) {
    this.worker = new Worker(testPath('workers/near-cache.mjs'), {
      workerData: { dist: distPath('index.js'), ...data },
    });
    this.worker.on('message', (r: Reply) => {
      if (this.waiting !== undefined) {
        const w = this.waiting;
        this.waiting = undefined;
        w(r);
      } else this.replies.push(r);
    });
    this.ready = this.next();
  }

  next(): Promise<Reply> {
    const r = this.replies.shift();
    if (r !== undefined) return Promise.resolve(r);
    return new Promise((resolve, reject) => {
      this.waiting = resolve;
      this.worker.once('error', reject);
    });
  }

  ask(msg: unknown): Promise<Reply> {
    const reply = this.next();
    this.worker.postMessage(msg);
    return reply;
  }
}

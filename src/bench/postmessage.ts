/**
 * A `Map` owned by the main thread, reached from workers by postMessage
 * request / response over a MessagePort per worker: what most Node code does
 * today. One op per message, or 64 ops per message (one reply per batch).
 *
 * Messages carry the real keys and values (numbers or strings), as an
 * application would; the main thread decodes, runs the ops on its Map and
 * replies with the results.
 */
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { DEL, GET, SET, type AsyncSession, type Driver, type Key, type OpStream, type Value } from './driver.js';
import { preloadedMap } from './map-single.js';

/** Request: flat [kind, key, value, kind, key, value, ...]; reply: one result per op (the value for a get, else null). */
type Request = Array<number | string | null>;
type Reply = Array<Value | null>;

function serve(map: Map<Key, Value>, port: MessagePort): void {
  port.on('message', (req: Request) => {
    const reply: Reply = new Array<Value | null>(req.length / 3);
    for (let i = 0, j = 0; i < req.length; i += 3, j++) {
      const kind = req[i];
      const key = req[i + 1] as Key;
      if (kind === GET) {
        reply[j] = map.get(key) ?? null;
      } else if (kind === SET) {
        map.set(key, req[i + 2] as Value);
        reply[j] = null;
      } else {
        map.delete(key);
        reply[j] = null;
      }
    }
    port.postMessage(reply);
  });
}

/** A worker's end: one request in flight at a time. */
export class PostMessageSession implements AsyncSession {
  readonly kind = 'async';
  private pending: ((reply: Reply) => void) | undefined;

  constructor(
    private readonly port: MessagePort,
    readonly batch: number,
  ) {
    port.on('message', (reply: Reply) => {
      const resolve = this.pending;
      this.pending = undefined;
      resolve?.(reply);
    });
  }

  private call(req: Request): Promise<Reply> {
    return new Promise<Reply>((resolve) => {
      this.pending = resolve;
      this.port.postMessage(req);
    });
  }

  async run(ops: OpStream, from: number, to: number): Promise<number> {
    const { kinds, keyIdx, valIdx, keys, values } = ops;
    const req: Request = new Array<number | string | null>((to - from) * 3);
    for (let i = from, j = 0; i < to; i++, j += 3) {
      const kind = kinds[i]!;
      req[j] = kind;
      req[j + 1] = keys[keyIdx[i]!]!;
      req[j + 2] = kind === SET ? values[valIdx[i]!]! : null;
    }
    const reply = await this.call(req);
    let hits = 0;
    for (let i = from, j = 0; i < to; i++, j++) if (kinds[i] === GET && reply[j] !== null) hits++;
    return hits;
  }

  async get(key: Key): Promise<Value | undefined> {
    const [v] = await this.call([GET, key, null]);
    return v ?? undefined;
  }
  async set(key: Key, value: Value): Promise<void> {
    await this.call([SET, key, value]);
  }
  async delete(key: Key): Promise<void> {
    await this.call([DEL, key, null]);
  }
  close(): void {
    this.port.close();
  }
}

function driver(name: string, batch: number, summary: string): Driver {
  return {
    name,
    summary,
    where: 'workers',
    readOnly: false,
    batch,
    async prepare(input) {
      const map = preloadedMap(input);
      const ports: MessagePort[] = [];
      return {
        forWorker() {
          const { port1, port2 } = new MessageChannel();
          serve(map, port1);
          ports.push(port1);
          return { data: port2, transfer: [port2] };
        },
        async close() {
          for (const p of ports) p.close();
          map.clear();
        },
      };
    },
    async open(data) {
      return new PostMessageSession(data as MessagePort, batch);
    },
  };
}

export const drivers: Driver[] = [
  driver('postmessage', 1, 'a Map on the main thread behind postMessage request/response, one op per message'),
  driver('postmessage-b64', 64, 'the same, 64 ops per message (latency is per batch)'),
];

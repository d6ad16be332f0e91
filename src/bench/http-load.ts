/**
 * The load of `bench http`, and its verification from the outside.
 *
 * Load: autocannon (programmatic API) with one dynamic request whose
 * `setupRequest` picks the next operation — GET 70%, touch 15%, PUT 10%,
 * DELETE 5% — on a session id drawn from a zipf distribution over the most
 * recent WINDOW sessions (rank 0 = the newest), with new sessions always
 * arriving: half the PUTs create a brand-new id. Cold sessions go stale and
 * the server's cleanup has to remove them while the hot ones stay in use.
 *
 * Verification (the client's model, one record per id): the body of the last
 * acknowledged PUT or touch (or "absent" after an acknowledged DELETE, or a
 * 404), and when that request was sent. An id is never in flight on two
 * connections at once (a busy id is not picked), so acknowledgements of one
 * id arrive in the order the server applied them. Then:
 *   - a GET answered 200 must carry exactly the last acknowledged body
 *     (else `wrong`);
 *   - a GET or touch answered 404 less than staleMs - MARGIN after the
 *     acknowledged write was sent is a lost session (`lost`): the server
 *     stamped `seen` after the write was sent and judged staleness before
 *     the 404 arrived, so it cannot have found the session stale (under load
 *     a request can wait hundreds of ms in queues, hence the response's
 *     arrival, not its sending, bounds the server's clock); the margin
 *     covers the clocks of two processes;
 *   - after the load, every session acknowledged less than staleMs - MARGIN
 *     ago, not deleted since, is read back once more and must equal its last
 *     acknowledged body (a loss or a wrong answer otherwise).
 * A request that errors or times out leaves its id busy for the rest of the
 * run (its outcome is unknown), so it is never judged.
 */
import { Rng, keyPicker, type KeyPicker } from '../stress/keys.js';

export interface LoadConfig {
  url: string;
  connections: number;
  durationS: number;
  staleMs: number;
  seed: number;
  /** Sessions the zipf draw ranges over (the newest WINDOW). */
  window: number;
  /** autocannon's per-request timeout, s. */
  timeoutS: number;
  /** Stop after this many requests instead of after durationS (the tests: an outcome that does not depend on speed). */
  amount?: number;
}

/** Slack on the stale boundary for judging a 404 a loss (ms): clocks of two processes, send-to-stamp delay. */
export function staleMargin(staleMs: number): number {
  return Math.max(50, staleMs * 0.2);
}

export interface LoadResult {
  requests: number;
  reqPerSec: number;
  /** Latency in ms. */
  p50: number;
  p99: number;
  p999: number;
  max: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  /** Status counts, e.g. { "200": 1234, "404": 56 }. */
  statuses: Record<string, number>;
  lost: number;
  wrong: number;
  /** Sessions read back after the load, and ids left unjudged (their request errored or timed out). */
  verified: number;
  unknown: number;
  /** Up to 5 examples of a loss or wrong answer. */
  examples: string[];
  /**
   * 500 answers by what their body says: a range that met a concurrent write
   * (Go's "concurrent map iteration and map write"), or anything else (a
   * defect, whatever the strategy). Counted from each response's body.
   */
  errors500: { iteration: number; other: number };
}

const GET = 0;
const TOUCH = 1;
const PUT = 2;
const DELETE = 3;
const OP_NAMES = ['GET', 'touch', 'PUT', 'DELETE'];

/** What the client last knew about an id. */
interface IdState {
  /** The last acknowledged session body, or null: known absent. */
  body: string | null;
  /** When the request that acknowledged it was sent (ms since the epoch). */
  sentAt: number;
  busy: boolean;
}

/** autocannon's per-request context: set in setupRequest, read in onResponse. */
interface Ctx {
  id?: string;
  op?: number;
  sentAt?: number;
}

export class SessionModel {
  readonly states = new Map<string, IdState>();
  private newest = 0;
  private readonly rng: Rng;
  private readonly zipf: KeyPicker;
  private readonly margin: number;
  lost = 0;
  wrong = 0;
  examples: string[] = [];
  errors500 = { iteration: 0, other: 0 };

  constructor(
    private readonly staleMs: number,
    seed: number,
    window: number,
  ) {
    this.rng = new Rng(seed);
    this.zipf = keyPicker({ kind: 'zipf', s: 1 }, window);
    this.margin = staleMargin(staleMs);
  }

  private idOf(n: number): string {
    return `s${n.toString(36)}`;
  }

  private fresh(s: IdState | undefined, at: number): boolean {
    return s !== undefined && s.body !== null && at - s.sentAt < this.staleMs - this.margin;
  }

  private note(what: string): void {
    if (this.examples.length < 5) this.examples.push(what);
  }

  /** The next operation: op, id (marked busy), and the request to send. */
  next(ctx: Ctx): { method: string; path: string; body?: string } {
    const r = this.rng.next();
    const op = r < 0.7 ? GET : r < 0.85 ? TOUCH : r < 0.95 ? PUT : DELETE;
    let n = -1;
    if (!(op === PUT && this.rng.next() < 0.5)) {
      for (let tries = 0; tries < 4; tries++) {
        const candidate = this.newest - this.zipf.pick(this.rng);
        if (candidate >= 0 && this.states.get(this.idOf(candidate))?.busy !== true) {
          n = candidate;
          break;
        }
      }
    }
    if (n < 0) n = ++this.newest;
    const id = this.idOf(n);
    let st = this.states.get(id);
    if (st === undefined) {
      st = { body: null, sentAt: 0, busy: true };
      this.states.set(id, st);
    } else st.busy = true;
    ctx.id = id;
    ctx.op = op;
    ctx.sentAt = Date.now();
    const path = `/sessions/${id}`;
    if (op === GET) return { method: 'GET', path };
    if (op === TOUCH) return { method: 'POST', path: path + '/touch' };
    if (op === DELETE) return { method: 'DELETE', path };
    return { method: 'PUT', path, body: `{"user":${n},"cart":[${n % 7},${n % 13}],"v":${this.rng.below(1e9)}}` };
  }

  /** Judges a response against the model and updates it. */
  answer(status: number, body: string, ctx: Ctx): void {
    if (status === 500) {
      if (body.includes('concurrent map iteration and map write')) this.errors500.iteration++;
      else {
        this.errors500.other++;
        this.note(`${OP_NAMES[ctx.op ?? GET]} ${ctx.id ?? '?'}: 500 ${body.slice(0, 120)}`);
      }
    }
    const id = ctx.id;
    if (id === undefined) return;
    const st = this.states.get(id)!;
    const sentAt = ctx.sentAt!;
    const op = ctx.op!;
    const receivedAt = Date.now();
    st.busy = false;
    if (op === GET || op === TOUCH) {
      if (status === 200) {
        if (op === GET && body !== st.body) {
          this.wrong++;
          this.note(`GET ${id}: got ${body.slice(0, 80)}, last acknowledged ${String(st.body).slice(0, 80)}`);
        }
        if (op === TOUCH && st.body === null) {
          this.wrong++;
          this.note(`touch ${id}: answered 200 on a session acknowledged absent`);
        }
        st.body = body;
        if (op === TOUCH) st.sentAt = sentAt;
      } else if (status === 404) {
        if (this.fresh(st, receivedAt)) {
          this.lost++;
          this.note(`${OP_NAMES[op]} ${id}: 404 ${receivedAt - st.sentAt} ms after its last acknowledged write`);
        }
        st.body = null;
      }
      return;
    }
    if (status !== 200) return;
    if (op === PUT) {
      st.body = body;
      st.sentAt = sentAt;
    } else st.body = null;
  }

  /** After the load: the ids whose last acknowledged session must still be there. */
  mustExist(at: number): Array<[string, string]> {
    const out: Array<[string, string]> = [];
    for (const [id, st] of this.states) if (!st.busy && this.fresh(st, at)) out.push([id, st.body!]);
    return out;
  }

  unknown(): number {
    let n = 0;
    for (const st of this.states.values()) if (st.busy) n++;
    return n;
  }

  /** Judges one must-exist session read back (the answer arrived at `receivedAt`). */
  judgeReadBack(id: string, want: string, status: number, body: string, receivedAt: number): void {
    const st = this.states.get(id)!;
    if (status === 200 && body === want) return;
    if (status === 404) {
      if (!this.fresh(st, receivedAt)) return;
      this.lost++;
      this.note(`read-back ${id}: 404 ${receivedAt - st.sentAt} ms after its last acknowledged write`);
    } else {
      this.wrong++;
      this.note(`read-back ${id}: ${status} ${body.slice(0, 80)}, last acknowledged ${want.slice(0, 80)}`);
    }
  }
}

type Autocannon = typeof import('autocannon');

/** Runs the load against `config.url`, then reads back what must still be there. */
export async function runLoad(config: LoadConfig): Promise<LoadResult> {
  // Loaded here: the library needs no HTTP client; only `bench http` does.
  const autocannon = ((await import('autocannon')) as unknown as { default: Autocannon }).default;
  const model = new SessionModel(config.staleMs, config.seed, config.window);
  let armed = false;
  const requests = [
    {
      setupRequest(req: Record<string, unknown>, context: Ctx) {
        // Calls while autocannon builds its clients produce the same request for every connection
        // (the request object is shared until the first send): keep those out of the model.
        if (!armed) return { ...req, method: 'GET', path: '/sessions/~warmup' };
        const next = model.next(context);
        return {
          ...req,
          method: next.method,
          path: next.path,
          body: next.body ?? '',
          headers: next.body === undefined ? {} : { 'content-type': 'application/json' },
        };
      },
      onResponse(status: number, body: string, context: Ctx) {
        model.answer(status, body, context);
      },
    },
  ];
  const result = await new Promise<import('autocannon').Result>((resolve, reject) => {
    const instance = autocannon(
      {
        url: config.url,
        connections: config.connections,
        duration: config.durationS,
        ...(config.amount === undefined ? {} : { amount: config.amount }),
        timeout: config.timeoutS,
        requests: requests as unknown as import('autocannon').Request[],
      },
      (err: unknown, res: import('autocannon').Result) => (err ? reject(err as Error) : resolve(res)),
    );
    armed = true;
    void instance;
  });

  // Read back every session that must still be there, 16 at a time.
  const at = Date.now();
  const must = model.mustExist(at);
  let next = 0;
  const worker = async () => {
    while (next < must.length) {
      const [id, want] = must[next++]!;
      const res = await fetch(`${config.url}/sessions/${id}`);
      const body = await res.text();
      model.judgeReadBack(id, want, res.status, body, Date.now());
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));

  const statuses: Record<string, number> = {};
  for (const [code, v] of Object.entries(result.statusCodeStats ?? {})) statuses[code] = (v as { count: number }).count;
  return {
    requests: result.requests.total,
    reqPerSec: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    p999: result.latency.p99_9,
    max: result.latency.max,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    statuses,
    lost: model.lost,
    wrong: model.wrong,
    verified: must.length,
    unknown: model.unknown(),
    examples: model.examples,
    errors500: model.errors500,
  };
}

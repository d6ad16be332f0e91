/**
 * Alerts on conflicts: POSTs a JSON alert per kind of conflict to a URL — the
 * first of each kind at once, then at most one per kind per interval,
 * carrying the count since the previous one.
 *
 * It runs on the thread that follows the log (the main thread in `stress`
 * and `serve`), never on the map's hot path: the threads that hit the map
 * only append records, as they always do. A slow or dead receiver costs this
 * thread a bounded queue and one request at a time, each with a timeout and
 * a bounded number of retries; when the queue is full, a new count merges
 * into a queued alert of its kind, or is dropped and counted.
 */
import type { SharedMap } from '../shm/map.js';
import type { ConflictRecord } from '../shm/types.js';
import { InvalidOptionError } from '../shm/errors.js';
import { describe } from '../shm/codec.js';
import { followConflicts } from './follow.js';
import { randomUUID } from 'node:crypto';

/** The JSON body of one alert. */
export interface ConflictAlert {
  source: 'shmap';
  /**
   * This alert's identity, the same on every retry of it: delivery is at
   * least once (a reply that comes after the POST's timeout makes the sender
   * send it again), so a receiver that must not count an alert twice drops
   * the ids it has seen.
   */
  id: string;
  /** The map's name (AlertSenderOptions.name). */
  map: string;
  /** A conflict kind, or 'conflict records dropped' when the log was full. */
  kind: string;
  /** True for the first alert of this kind. */
  first: boolean;
  /** Conflicts of this kind this alert stands for: 1 for the first, else the count since the previous alert of the kind. */
  count: number;
  /** Conflicts of this kind so far. */
  total: number;
  /** The first record of the kind (first alert) or the latest one counted; absent for dropped records. */
  record?: ConflictRecord;
  /** When the alert was made, ms since the epoch. */
  time: number;
}

export interface AlertSenderOptions {
  /** Where to POST (http or https). */
  url: string;
  /** The map's name in every alert. Default 'default'. */
  name?: string;
  /** At most one alert per kind per this many ms, after the first. Default 10000. */
  intervalMs?: number;
  /** Alerts waiting to be sent, at most. Default 100. */
  maxQueue?: number;
  /** Retries of a failed POST (network error, timeout, non-2xx). Default 3. */
  retries?: number;
  /** Delay before the first retry, ms, doubled for each next one. Default 500. */
  retryDelayMs?: number;
  /** Time limit of one POST, ms. Default 5000. */
  timeoutMs?: number;
}

/** What a sender did. */
export interface AlertStats {
  /** Alerts the receiver accepted (2xx). */
  sent: number;
  /** Alerts given up on after every retry. */
  failed: number;
  /** Retries made. */
  retried: number;
  /** Alerts dropped because the queue was full (their counts merged elsewhere are not dropped). */
  dropped: number;
  /** Alerts still queued. */
  queued: number;
}

const DROPPED_KIND = 'conflict records dropped';

interface KindState {
  lastSentAt: number;
  pending: number;
  latest: ConflictRecord | undefined;
  total: number;
}

function positive(v: unknown, option: string, integer: boolean, min = 1): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || (integer && !Number.isInteger(v)))
    throw new InvalidOptionError(
      `options.${option} must be ${integer ? 'an integer' : 'a number'} >= ${min}, got ${describe(v)}`,
    );
  return v;
}

export class AlertSender {
  private readonly url: string;
  private readonly name: string;
  private readonly intervalMs: number;
  private readonly maxQueue: number;
  private readonly retries: number;
  private readonly retryDelayMs: number;
  private readonly timeoutMs: number;
  private readonly kinds = new Map<string, KindState>();
  private readonly queue: ConflictAlert[] = [];
  private readonly counts: AlertStats = { sent: 0, failed: 0, retried: 0, dropped: 0, queued: 0 };
  private sending: Promise<void> | undefined;
  private readonly timer: NodeJS.Timeout;
  private closed = false;
  /** Alert ids: this sender's random prefix and a sequence number. */
  private readonly idPrefix = randomUUID();
  private sequence = 0;

  constructor(options: AlertSenderOptions) {
    if (options === null || typeof options !== 'object')
      throw new InvalidOptionError(`AlertSender options must be an object, got ${describe(options)}`);
    let url: URL;
    try {
      url = new URL(String(options.url));
    } catch {
      throw new InvalidOptionError(`options.url must be an http(s) URL, got ${describe(options.url)}`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:')
      throw new InvalidOptionError(`options.url must be an http(s) URL, got ${describe(options.url)}`);
    this.url = url.href;
    this.name = options.name ?? 'default';
    if (typeof this.name !== 'string')
      throw new InvalidOptionError(`options.name must be a string, got ${describe(options.name)}`);
    this.intervalMs = options.intervalMs === undefined ? 10_000 : positive(options.intervalMs, 'intervalMs', false);
    this.maxQueue = options.maxQueue === undefined ? 100 : positive(options.maxQueue, 'maxQueue', true);
    this.retries = options.retries === undefined ? 3 : positive(options.retries, 'retries', true, 0);
    this.retryDelayMs =
      options.retryDelayMs === undefined ? 500 : positive(options.retryDelayMs, 'retryDelayMs', false);
    this.timeoutMs = options.timeoutMs === undefined ? 5000 : positive(options.timeoutMs, 'timeoutMs', false);
    this.timer = setInterval(() => this.flushDue(false), Math.max(10, Math.min(1000, this.intervalMs / 4)));
    this.timer.unref();
  }

  /** Takes one conflict record: alerts at once on the first of its kind, else counts it for the next alert. */
  conflict(record: ConflictRecord): void {
    this.note(record.kind, 1, record);
  }

  /** Takes `n` records the log dropped (they are alerted on as a kind of their own). */
  missed(n: number): void {
    this.note(DROPPED_KIND, n, undefined);
  }

  private note(kind: string, n: number, record: ConflictRecord | undefined): void {
    if (this.closed) return;
    let st = this.kinds.get(kind);
    if (st === undefined) {
      st = { lastSentAt: performance.now(), pending: 0, latest: undefined, total: n };
      this.kinds.set(kind, st);
      this.enqueue({
        source: 'shmap',
        id: this.nextId(),
        map: this.name,
        kind,
        first: true,
        count: n,
        total: n,
        record,
        time: Date.now(),
      });
      return;
    }
    st.total += n;
    st.pending += n;
    st.latest = record ?? st.latest;
  }

  /** Queues a count alert for every kind with pending counts (all, or only those whose interval has passed). */
  private flushDue(all: boolean): void {
    const now = performance.now();
    for (const [kind, st] of this.kinds) {
      if (st.pending === 0 || (!all && now - st.lastSentAt < this.intervalMs)) continue;
      const alert: ConflictAlert = {
        source: 'shmap',
        id: this.nextId(),
        map: this.name,
        kind,
        first: false,
        count: st.pending,
        total: st.total,
        time: Date.now(),
        ...(st.latest === undefined ? {} : { record: st.latest }),
      };
      st.pending = 0;
      st.lastSentAt = now;
      this.enqueue(alert);
    }
  }

  private nextId(): string {
    return `${this.idPrefix}-${++this.sequence}`;
  }

  private enqueue(alert: ConflictAlert): void {
    if (this.queue.length >= this.maxQueue) {
      // Never into queue[0] while it is being sent: its body is already on the way.
      const inFlight = this.sending === undefined ? 0 : 1;
      const same = this.queue.find((a, i) => i >= inFlight && a.kind === alert.kind && !a.first);
      if (same !== undefined) {
        same.count += alert.count;
        same.total = alert.total;
        if (alert.record !== undefined) same.record = alert.record;
      } else this.counts.dropped++;
      return;
    }
    this.queue.push(alert);
    this.pump();
  }

  /** Sends the queue one alert at a time, in order. */
  private pump(): void {
    if (this.sending !== undefined) return;
    this.sending = (async () => {
      while (this.queue.length > 0) {
        const alert = this.queue[0]!;
        if (await this.post(alert)) this.counts.sent++;
        else this.counts.failed++;
        this.queue.shift();
      }
    })().finally(() => {
      this.sending = undefined;
      if (this.queue.length > 0) this.pump();
    });
  }

  private async post(alert: ConflictAlert): Promise<boolean> {
    const body = JSON.stringify(alert);
    for (let attempt = 0; ; attempt++) {
      try {
        const res = await fetch(this.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body,
          signal: AbortSignal.timeout(this.timeoutMs),
        });
        await res.arrayBuffer().catch(() => undefined);
        if (res.ok) return true;
      } catch {
        // A network error or a timeout: retried like a non-2xx answer.
      }
      if (attempt >= this.retries) return false;
      this.counts.retried++;
      await new Promise((resolve) => setTimeout(resolve, this.retryDelayMs * 2 ** attempt));
    }
  }

  /** What it did so far. */
  stats(): AlertStats {
    return { ...this.counts, queued: this.queue.length };
  }

  /**
   * Sends the counts still pending (ignoring the interval), waits for the
   * queue to empty or `timeoutMs` (default: the sender's timeoutMs) to pass,
   * and stops. Alerts still queued then are left unsent (`queued`).
   */
  async close(timeoutMs = this.timeoutMs): Promise<AlertStats> {
    if (!this.closed) {
      this.flushDue(true);
      this.closed = true;
      clearInterval(this.timer);
    }
    const sending = this.sending;
    if (sending !== undefined) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([sending, new Promise((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
      clearTimeout(timer);
    }
    return this.stats();
  }
}

/**
 * Follows `map`'s conflict log (followConflicts) and alerts on it through an
 * AlertSender. Returns a function that flushes what is pending, waits for
 * the queue (bounded by the sender's timeout), stops, and returns the stats.
 */
export function alertOnConflicts(
  map: SharedMap<unknown, unknown>,
  options: AlertSenderOptions,
): () => Promise<AlertStats> {
  const sender = new AlertSender(options);
  const stop = followConflicts(map, (r) => sender.conflict(r), {
    keepAlive: false,
    onMissed: (n) => sender.missed(n),
  });
  return () => {
    stop();
    return sender.close();
  };
}

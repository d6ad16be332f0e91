/**
 * The stress runner's options: their defaults, and the parsers for the
 * compact forms a user types (`--mix get=70,set=30`, `--dist zipf:1.1`,
 * `--key-type string:24`). Every parser throws `UsageError` with a one-line
 * reason that names the option; the CLI turns it into exit code 2.
 *
 * No runtime dependency on the map: this module is shared by the CLI, the
 * programmatic `runStress` and the worker task. Type names go through the
 * map's own parser (codec.ts), so the tool accepts exactly the map's types.
 */
import { availableParallelism } from 'node:os';
import type { KeyType, SyncMode, ValueType } from '../shm/types.js';
import { parseType as parseMapType, type TypeSpec } from '../shm/codec.js';

/** A bad option. The message is one line and names the option. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** Operation kinds a `--mix` may name. */
export const MIX_OPS = ['get', 'set', 'delete', 'update', 'add', 'iterate', 'sweep'] as const;
export type MixOp = (typeof MIX_OPS)[number];

/** Share of each op kind, in percent; the shares sum to 100. */
export type Mix = Record<MixOp, number>;

/** How a worker picks a key of the shared key space. */
export type Dist =
  | { kind: 'uniform' }
  /** Zipf with exponent `s` (> 0): key rank r is picked with weight 1 / r^s. */
  | { kind: 'zipf'; s: number }
  /** `percent` % of picks go to the hottest 1 % of keys (at least one key). */
  | { kind: 'hot'; percent: number };

export interface StressOptions {
  /** Scenario name, a key of SCENARIOS in ./scenarios/index.ts. */
  scenario: string;
  /** Piscina threads, each running one worker's task. */
  workers: number;
  /** Run for this many ms (when `ops` is undefined). */
  durationMs: number;
  /** Run this many operations in total, split over the workers (instead of a duration). */
  ops: number | undefined;
  /** Size of the shared key space (ids 0 .. keys-1). */
  keys: number;
  /** Keys each worker owns and verifies at the end (ids above the shared space). */
  owned: number;
  keyType: KeyType;
  valueType: ValueType;
  mix: Mix;
  dist: Dist;
  sync: SyncMode;
  /** Map shards (power of two); undefined = the map's default. */
  shards: number | undefined;
  /** Seeds the workers' random choices and the map's hash. */
  seed: number;
  /** `--history`: record every op on shared key ids 0 .. historyKeys-1 (0 or undefined: no recording; see ./history.ts). */
  historyKeys?: number;
  /** Recorder capacity per worker, ops (default DEFAULT_HISTORY_BUFFER in ./history.ts). */
  historyBuffer?: number;
  /** `--check`: check the recorded history at the end; a violation fails the run. Time limit per key, ms. */
  historyCheckTimeoutMs?: number;
  /** `--scenario chaos`: mean time between kills, ms. */
  killIntervalMs?: number;
  /** `--scenario chaos`: the longest interval without a completed op that passes, ms. */
  stallLimitMs?: number;
}

export const DEFAULT_MIX = 'get=70,set=20,delete=5,update=5';

/**
 * Defaults sized for `node dist/main.js stress` with no arguments: about 10 s
 * on 2 cores (8 s of load, then verification), oversubscribed on purpose
 * (2 x cores workers) so threads are preempted inside critical sections.
 */
export function defaultOptions(): StressOptions {
  return {
    scenario: 'mixed',
    workers: 2 * availableParallelism(),
    durationMs: 8_000,
    ops: undefined,
    keys: 100_000,
    owned: 1_000,
    keyType: 'int32',
    valueType: 'float64',
    mix: parseMix(DEFAULT_MIX),
    dist: { kind: 'uniform' },
    sync: 'lock',
    shards: undefined,
    seed: Date.now() % 0x7fffffff,
  };
}

/** A whole number in [min, max]; `what` names the option in the error. */
export function parseInteger(text: string, what: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const t = text.trim().replace(/_/g, '');
  const n = /^[+-]?\d+(e\d+)?$/i.test(t) ? Number(t) : NaN;
  if (!Number.isSafeInteger(n)) throw new UsageError(`${what} must be a whole number, got '${text}'`);
  if (n < min || n > max) throw new UsageError(`${what} must be between ${min} and ${max}, got ${n}`);
  return n;
}

/** A finite number in (0, max]. */
export function parsePositive(text: string, what: string, max = Number.MAX_VALUE): number {
  const n = text.trim() === '' ? NaN : Number(text.trim());
  if (!Number.isFinite(n) || n <= 0 || n > max)
    throw new UsageError(`${what} must be a number in (0, ${max}], got '${text}'`);
  return n;
}

/** `get=70,set=20,delete=5,update=5`: each known op at most once, whole percents summing to 100. */
export function parseMix(text: string): Mix {
  const mix: Mix = { get: 0, set: 0, delete: 0, update: 0, add: 0, iterate: 0, sweep: 0 };
  const seen = new Set<string>();
  for (const part of text.split(',')) {
    const m = /^\s*([a-z]+)\s*=\s*(\S+)\s*$/i.exec(part);
    if (!m) throw new UsageError(`--mix: expected op=percent, got '${part}' (e.g. ${DEFAULT_MIX})`);
    const op = m[1]!.toLowerCase();
    if (!(MIX_OPS as readonly string[]).includes(op)) {
      throw new UsageError(`--mix: unknown op '${m[1]}' (known: ${MIX_OPS.join(', ')})`);
    }
    if (seen.has(op)) throw new UsageError(`--mix: '${op}' given twice`);
    seen.add(op);
    mix[op as MixOp] = parseInteger(m[2]!, `--mix ${op}`, 0, 100);
  }
  const total = MIX_OPS.reduce((sum, op) => sum + mix[op], 0);
  if (total !== 100) throw new UsageError(`--mix: shares must sum to 100, got ${total} ('${text}')`);
  return mix;
}

export function formatMix(mix: Mix): string {
  return MIX_OPS.filter((op) => mix[op] > 0)
    .map((op) => `${op}=${mix[op]}`)
    .join(',');
}

/** `uniform`, `zipf:S` (S > 0) or `hot:P` (0 < P <= 100). */
export function parseDist(text: string): Dist {
  const [name, arg, ...rest] = text.trim().split(':');
  if (rest.length === 0) {
    if (name === 'uniform' && arg === undefined) return { kind: 'uniform' };
    if (name === 'zipf' && arg !== undefined)
      return { kind: 'zipf', s: parsePositive(arg, '--dist zipf:S exponent', 10) };
    if (name === 'hot' && arg !== undefined)
      return { kind: 'hot', percent: parsePositive(arg, '--dist hot:P percent', 100) };
  }
  throw new UsageError(`--dist must be uniform, zipf:S or hot:P, got '${text}'`);
}

export function formatDist(dist: Dist): string {
  switch (dist.kind) {
    case 'uniform':
      return 'uniform';
    case 'zipf':
      return `zipf:${dist.s}`;
    case 'hot':
      return `hot:${dist.percent}`;
  }
}

const WIDTH_MAX = 4096;

/**
 * `int32|uint32|float64|bigint64|string:N|bytes:N`, plus `json:N` when
 * `value` is true: the map's type parser (codec.ts), with the tool's own
 * width limit and a UsageError in the CLI's words.
 */
export function parseType(text: string, option: string, value: boolean): KeyType | ValueType {
  const t = text.trim();
  let spec: TypeSpec;
  try {
    spec = parseMapType(t, option, value);
  } catch {
    const known = value
      ? 'int32, uint32, float64, bigint64, string:N, bytes:N, json:N'
      : 'int32, uint32, float64, bigint64, string:N, bytes:N';
    throw new UsageError(`${option} must be one of ${known}; got '${text}'`);
  }
  if (spec.n > WIDTH_MAX)
    throw new UsageError(
      `${option} ${t.slice(0, t.indexOf(':'))}:N width must be between 1 and ${WIDTH_MAX}, got ${spec.n}`,
    );
  return spec.name as KeyType | ValueType;
}

/** The width N of a `string:N` / `bytes:N` / `json:N` type, or undefined for the number types. */
export function typeWidth(type: KeyType | ValueType): number | undefined {
  const i = type.indexOf(':');
  return i < 0 ? undefined : Number(type.slice(i + 1));
}

/** True for value types `add` works on (it takes and returns a JS number, so not bigint64). */
export function isNumericType(type: ValueType): boolean {
  return type === 'int32' || type === 'uint32' || type === 'float64';
}

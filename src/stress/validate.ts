/**
 * Checks of option combinations no single parser can make (scenario vs
 * workers, value type vs ops, key type vs key space). Throws UsageError.
 * Kept apart from run.ts so argument errors need nothing but the parsers.
 */
import { checkKeySpace, checkValueType } from './keys.js';
import { isNumericType, UsageError, type StressOptions } from './options.js';
import { COUNTER_KEYS, extraKeyIds, SCENARIOS } from './scenarios/index.js';

/** Checks option combinations no single parser can; throws UsageError. */
export function validateOptions(o: StressOptions): void {
  const scenario = SCENARIOS[o.scenario];
  if (scenario === undefined) {
    throw new UsageError(`--scenario: unknown scenario '${o.scenario}' (known: ${Object.keys(SCENARIOS).join(', ')})`);
  }
  if (o.workers < scenario.minWorkers)
    throw new UsageError(`--scenario ${o.scenario} needs --workers ${scenario.minWorkers} or more`);
  const numeric = isNumericType(o.valueType);
  if (scenario.numeric && !numeric)
    throw new UsageError(`--scenario ${o.scenario} uses add: needs --value-type int32, uint32 or float64`);
  if (o.mix.add > 0 && !numeric)
    throw new UsageError(`--mix add needs --value-type int32, uint32 or float64, not ${o.valueType}`);
  if (o.scenario === 'counters' && o.keys < COUNTER_KEYS)
    throw new UsageError(`--scenario counters needs --keys ${COUNTER_KEYS} or more`);
  if (o.scenario === 'chaos') {
    if (o.keys <= COUNTER_KEYS) throw new UsageError(`--scenario chaos needs --keys more than ${COUNTER_KEYS}`);
    if (o.ops !== undefined) throw new UsageError('--scenario chaos runs for a --duration, not --ops');
    if (o.keyType !== 'int32' || o.valueType !== 'float64')
      throw new UsageError('--scenario chaos uses int32 keys and float64 values (--key-type / --value-type)');
  } else if (o.killIntervalMs !== undefined || o.stallLimitMs !== undefined)
    throw new UsageError('--kill-interval and --stall-limit need --scenario chaos');
  if (o.ops !== undefined && o.ops < o.workers)
    throw new UsageError(`--ops must be at least --workers (${o.workers}), got ${o.ops}`);
  if ((o.historyKeys ?? 0) > 0 && (o.scenario === 'ttl' || o.scenario === 'lease'))
    throw new UsageError(
      `--history: the ${o.scenario} scenario removes entries at moments nobody records (${o.scenario === 'ttl' ? 'TTL expiry' : 'lease retirement and the last release'}), ` +
        'so a history of its keys would miss writes; record mixed, sweep, range-delete, counters or delete-queue',
    );
  checkKeySpace(o.keyType, o.keys + o.workers * o.owned + extraKeyIds(o.scenario, o.workers));
  checkValueType(o.valueType);
}

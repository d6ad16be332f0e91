/**
 * How a near cache's values are written in Redis: as the plain text any
 * other Redis client would write, so the same keys can be read and written
 * by programs that know nothing of shmap.
 *
 * | value type          | in Redis                                   |
 * |---------------------|--------------------------------------------|
 * | `string:N`          | the string itself (UTF-8)                  |
 * | `json:N`            | `JSON.stringify(value)`                    |
 * | `int32`, `uint32`, `float64` | the number in decimal (`String(v)`), read back with `Number()` |
 * | `bigint64`          | the bigint in decimal                      |
 *
 * `bytes:N` values are not supported (a Redis string read back as text
 * would not round-trip arbitrary bytes).
 */
import { InvalidOptionError, NearCacheError, ShmapTypeError } from '../shm/errors.js';
import { describe } from '../shm/codec.js';

export interface TextCodec {
  /** The Redis string for a value; throws ShmapTypeError for a value of the wrong kind. */
  encode(value: unknown): string;
  /** The value back from Redis's string; throws NearCacheError naming the key when it does not parse. */
  decode(text: string, key: string): unknown;
}

function undecodable(key: string, text: string, what: string): NearCacheError {
  return new NearCacheError(`NearCache: Redis holds ${describe(text)} at key ${describe(key)}, which is not ${what}`);
}

const NUMBER_TEXT = /^\s*[-+]?(\d+\.?\d*([eE][-+]?\d+)?|\.\d+([eE][-+]?\d+)?|Infinity|NaN)\s*$/;

/** The text codec for a value type spec (as given to `NearCache.create`). */
export function textCodec(valueType: string): TextCodec {
  if (valueType.startsWith('string:')) {
    return {
      encode(v) {
        if (typeof v !== 'string')
          throw new ShmapTypeError(`NearCache: a ${valueType} value must be a string, got ${describe(v)}`);
        return v;
      },
      decode: (text) => text,
    };
  }
  if (valueType.startsWith('json:')) {
    return {
      encode(v) {
        const text = v === undefined ? undefined : (JSON.stringify(v) as string | undefined);
        if (text === undefined)
          throw new ShmapTypeError(`NearCache: a ${valueType} value must be JSON-serializable, got ${describe(v)}`);
        return text;
      },
      decode(text, key) {
        try {
          return JSON.parse(text) as unknown;
        } catch {
          throw undecodable(key, text, 'JSON');
        }
      },
    };
  }
  if (valueType === 'int32' || valueType === 'uint32' || valueType === 'float64') {
    return {
      encode(v) {
        if (typeof v !== 'number')
          throw new ShmapTypeError(`NearCache: a ${valueType} value must be a number, got ${describe(v)}`);
        return String(v);
      },
      decode(text, key) {
        if (!NUMBER_TEXT.test(text)) throw undecodable(key, text, 'a number');
        return Number(text);
      },
    };
  }
  if (valueType === 'bigint64') {
    return {
      encode(v) {
        if (typeof v !== 'bigint')
          throw new ShmapTypeError(`NearCache: a bigint64 value must be a bigint, got ${describe(v)}`);
        return v.toString();
      },
      decode(text, key) {
        try {
          return BigInt(text);
        } catch {
          throw undecodable(key, text, 'an integer');
        }
      },
    };
  }
  throw new InvalidOptionError(
    `options.value must be 'string:N', 'json:N', 'int32', 'uint32', 'float64' or 'bigint64' for a NearCache, got ${describe(valueType)}`,
  );
}

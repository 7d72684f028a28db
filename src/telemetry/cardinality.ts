/**
 * The cardinality guard of metric attributes. Most metric attributes take values from small sets
 * this library controls (operation names, resources, states); a few take values from outside —
 * the model a caller sends, the error type a server or a proxy answers with, region and breaker
 * names. For those, each instance keeps at most {@link MAX_VALUES} distinct values per attribute;
 * later new values are recorded as `other`, and every value is cut to {@link MAX_LENGTH}
 * characters. So an unknown model name or a made-up error type cannot explode the number of series.
 */
import type { Attributes, AttributeValue } from '@opentelemetry/api';
import { A } from './names.js';

/** Distinct values kept per guarded attribute, per `createClaudeFetch` instance. */
export const MAX_VALUES = 100;
/** Longest value kept; longer ones are cut. */
export const MAX_LENGTH = 64;
/** The value that stands for every value past the limit. */
export const OVERFLOW = 'other';

/** Metric attributes whose values come from outside the library. */
export const GUARDED_ATTRIBUTES: readonly string[] = [
  A.GEN_AI_REQUEST_MODEL,
  A.GEN_AI_RESPONSE_MODEL,
  A.ERROR_TYPE,
  A.ANTHROPIC_REGION,
  A.SERVER_ADDRESS,
  A.ANTHROPIC_BREAKER_KEY,
  A.ANTHROPIC_FALLBACK_FROM,
  A.ANTHROPIC_FALLBACK_TO,
  A.ANTHROPIC_FALLBACK_REASON,
  A.ANTHROPIC_RESUME_REASON,
];

const GUARDED = new Set(GUARDED_ATTRIBUTES);

/** Bounds the values of the guarded attributes; one per `createClaudeFetch` instance. */
export class CardinalityGuard {
  private readonly seen = new Map<string, Set<string>>();

  constructor(private readonly maxValues = MAX_VALUES) {}

  /** `attributes` with guarded values bounded (the same object when nothing had to change). */
  bound(attributes: Attributes | undefined): Attributes | undefined {
    if (attributes === undefined) return undefined;
    let out: Attributes | undefined;
    for (const key in attributes) {
      if (!GUARDED.has(key)) continue;
      const value = attributes[key];
      if (typeof value !== 'string') continue;
      const bounded = this.value(key, value);
      if (bounded !== value) {
        out ??= { ...attributes };
        out[key] = bounded as AttributeValue;
      }
    }
    return out ?? attributes;
  }

  private value(key: string, raw: string): string {
    const value = raw.length > MAX_LENGTH ? raw.slice(0, MAX_LENGTH) : raw;
    let values = this.seen.get(key);
    if (values === undefined) {
      values = new Set();
      this.seen.set(key, values);
    }
    if (values.has(value)) return value;
    if (values.size >= this.maxValues) return OVERFLOW;
    values.add(value);
    return value;
  }
}

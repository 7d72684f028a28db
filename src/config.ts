/**
 * The options check: one declarative table per options object (`createClaudeFetch`, `setup()`, the
 * CLI's scenario files) and one error, {@link ClaudeOtelOptionsError}, naming the path, the value as
 * given, what was expected and, for an unknown key, the closest known one. A table is a tree of
 * small {@link Rule}s; {@link checkOptions} walks it once, at creation.
 */

/** The error every invalid option gets: a `TypeError` naming the option's path. */
export class ClaudeOtelOptionsError extends TypeError {
  /** Always `'ClaudeOtelOptionsError'`. */
  override readonly name = 'ClaudeOtelOptionsError';
  /** Where, e.g. `breaker.openMs` or `regions[1].baseURL` (`(options)` for the object itself). */
  readonly path: string;
  /** The value as given, shown faithfully (`"1000"` for a string). */
  readonly shown: string;
  /** What was expected, e.g. `a number ≥ 0`. */
  readonly expected: string;
  /** For an unknown key: the closest known one, when one is close. */
  readonly suggestion: string | undefined;

  constructor(path: string, shown: string, expected: string, suggestion?: string, unknownKey = false) {
    const hint = suggestion === undefined ? '' : `; did you mean ${suggestion}?`;
    super(
      unknownKey
        ? `${path}: unknown option${hint} (expected ${expected})`
        : `${path}: expected ${expected}, got ${shown}${hint}`,
    );
    this.path = path;
    this.shown = shown;
    this.expected = expected;
    this.suggestion = suggestion;
  }
}

/** A value as a reader should see it: strings quoted, objects by their kind, bounded. */
export function show(value: unknown): string {
  if (typeof value === 'string') {
    const s = JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
    return `${s} (a string)`;
  }
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') {
    return `${String(value)} (a ${typeof value})`;
  }
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (typeof value === 'function') return 'a function';
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (typeof value === 'symbol') return 'a symbol';
  const keys = Object.keys(value);
  return keys.length === 0 ? '{} (an empty object)' : `an object with keys ${keys.slice(0, 5).join(', ')}`;
}

/** One node of a table: checks `value` at `path` or throws. */
export interface Rule {
  /** What the rule accepts, in words (`a number ≥ 0`). */
  readonly expected: string;
  /** Whether `value` is of this rule's kind (for {@link oneOf}). */
  readonly accepts: (value: unknown) => boolean;
  /** Throws a {@link ClaudeOtelOptionsError} when `value` is not acceptable. */
  readonly check: (value: unknown, path: string) => void;
}

function leaf(expected: string, ok: (value: unknown) => boolean): Rule {
  return {
    expected,
    accepts: ok,
    check(value, path) {
      if (!ok(value)) throw new ClaudeOtelOptionsError(path, show(value), expected);
    },
  };
}

/** Bounds of {@link num}. */
export interface NumberBounds {
  /** Smallest allowed (inclusive). */
  min?: number;
  /** Exclusive lower bound. */
  above?: number;
  /** Largest allowed (inclusive). */
  max?: number;
  /** Exclusive upper bound. */
  below?: number;
  /** Only integers. */
  integer?: boolean;
  /** Allow `Infinity` (e.g. a wait with no bound). Default: finite only. */
  infinite?: boolean;
}

/** A number within bounds. */
export function num(bounds: NumberBounds = {}): Rule {
  const parts: string[] = [];
  if (bounds.above !== undefined) parts.push(`> ${bounds.above}`);
  if (bounds.min !== undefined) parts.push(`≥ ${bounds.min}`);
  if (bounds.below !== undefined) parts.push(`< ${bounds.below}`);
  if (bounds.max !== undefined) parts.push(`≤ ${bounds.max}`);
  const kind = bounds.integer ? 'an integer' : 'a number';
  const expected = parts.length === 0 ? kind : `${kind} ${parts.join(' and ')}`;
  return leaf(expected, (v) => {
    if (typeof v !== 'number' || Number.isNaN(v)) return false;
    if (!bounds.infinite && !Number.isFinite(v)) return false;
    if (bounds.integer && !Number.isInteger(v)) return false;
    if (bounds.above !== undefined && !(v > bounds.above)) return false;
    if (bounds.min !== undefined && !(v >= bounds.min)) return false;
    if (bounds.below !== undefined && !(v < bounds.below)) return false;
    if (bounds.max !== undefined && !(v <= bounds.max)) return false;
    return true;
  });
}

/** `true` or `false`. */
export const bool: Rule = leaf('a boolean', (v) => typeof v === 'boolean');
/** A function. */
export const fn: Rule = leaf('a function', (v) => typeof v === 'function');
/** A non-empty string. */
export const str: Rule = leaf('a non-empty string', (v) => typeof v === 'string' && v.length > 0);
/** Any object (an instance the library calls, e.g. a provider); its shape is not checked here. */
export const instance: Rule = leaf('an object', (v) => typeof v === 'object' && v !== null);

/** One of the given literal values. */
export function literal(...values: readonly (string | boolean)[]): Rule {
  const expected = values.map((v) => (typeof v === 'string' ? `'${v}'` : String(v))).join(' or ');
  return leaf(expected, (v) => values.includes(v as string | boolean));
}

/** An array whose items follow `item`. */
export function arrayOf(item: Rule, options: { nonEmpty?: boolean } = {}): Rule {
  const expected = `${options.nonEmpty ? 'a non-empty ' : 'an '}array of ${item.expected}`;
  const ok = (v: unknown) => Array.isArray(v) && (!options.nonEmpty || v.length > 0);
  return {
    expected,
    accepts: ok,
    check(value, path) {
      if (!ok(value)) throw new ClaudeOtelOptionsError(path, show(value), expected);
      (value as unknown[]).forEach((entry, i) => {
        item.check(entry, `${path}[${i}]`);
      });
    },
  };
}

/** The fields of an {@link obj} table. */
export type Fields = Readonly<Record<string, Rule>>;

/** An object with exactly these (optional, unless listed in `required`) keys. */
export function obj(fields: Fields, options: { name?: string; required?: readonly string[] } = {}): Rule {
  const expected = options.name ?? `{ ${Object.keys(fields).join(', ')} }`;
  const ok = (v: unknown) => typeof v === 'object' && v !== null && !Array.isArray(v);
  return {
    expected,
    accepts: ok,
    check(value, path) {
      if (!ok(value)) throw new ClaudeOtelOptionsError(path || '(options)', show(value), expected);
      const known = Object.keys(fields);
      for (const key of Object.keys(value as object)) {
        const rule = fields[key];
        const at = path === '' ? key : `${path}.${key}`;
        if (rule === undefined) {
          const close = closest(key, known);
          throw new ClaudeOtelOptionsError(
            at,
            show((value as Record<string, unknown>)[key]),
            `one of ${known.join(', ')}`,
            close === undefined ? undefined : path === '' ? close : `${path}.${close}`,
            true,
          );
        }
        const entry = (value as Record<string, unknown>)[key];
        if (entry === undefined) continue;
        rule.check(entry, at);
      }
      for (const key of options.required ?? []) {
        if ((value as Record<string, unknown>)[key] === undefined) {
          const rule = fields[key];
          throw new ClaudeOtelOptionsError(
            path === '' ? key : `${path}.${key}`,
            'undefined',
            rule?.expected ?? 'a value',
          );
        }
      }
    },
  };
}

/** The first of `rules` whose kind `value` is; an error of none. */
export function oneOf(...rules: readonly Rule[]): Rule {
  const expected = rules.map((r) => r.expected).join(' or ');
  return {
    expected,
    accepts: (v) => rules.some((r) => r.accepts(v)),
    check(value, path) {
      const rule = rules.find((r) => r.accepts(value));
      if (rule === undefined) throw new ClaudeOtelOptionsError(path || '(options)', show(value), expected);
      rule.check(value, path);
    },
  };
}

/** A rule with a different description (e.g. a clock: `{ now, sleep, setTimer }`). */
export function described(expected: string, rule: Rule): Rule {
  return {
    expected,
    accepts: rule.accepts,
    check(value, path) {
      if (!rule.accepts(value)) throw new ClaudeOtelOptionsError(path || '(options)', show(value), expected);
      rule.check(value, path);
    },
  };
}

/** An object with these methods (an interface the library calls, e.g. a `Clock`). */
export function methods(name: string, ...names: readonly string[]): Rule {
  const expected = `${name} (an object with ${names.map((n) => `${n}()`).join(', ')})`;
  return {
    expected,
    accepts: (v) => typeof v === 'object' && v !== null,
    check(value, path) {
      if (typeof value !== 'object' || value === null) {
        throw new ClaudeOtelOptionsError(path, show(value), expected);
      }
      for (const m of names) {
        if (typeof (value as Record<string, unknown>)[m] !== 'function') {
          throw new ClaudeOtelOptionsError(
            `${path}.${m}`,
            show((value as Record<string, unknown>)[m]),
            `a function (${expected})`,
          );
        }
      }
    },
  };
}

/** Checks `value` against `table` at the top level; throws one {@link ClaudeOtelOptionsError}. */
export function checkOptions(table: Rule, value: unknown): void {
  table.check(value, '');
}

/** Levenshtein distance, bounded work for short keys. */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0] as number;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j] as number;
      const cost = a[i - 1]?.toLowerCase() === b[j - 1]?.toLowerCase() ? 0 : 1;
      row[j] = Math.min(current + 1, (row[j - 1] as number) + 1, previous + cost);
      previous = current;
    }
  }
  return row[b.length] as number;
}

/** The known key closest to `key`, when it is close enough to be a typo (or a prefix of it). */
export function closest(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of known) {
    const d = distance(key, candidate);
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  if (best === undefined) return undefined;
  const limit = Math.max(2, Math.floor(Math.max(key.length, best.length) / 3));
  if (bestDistance <= limit) return best;
  const prefix = known.find((k) => k.toLowerCase().startsWith(key.toLowerCase()) && key.length >= 3);
  return prefix;
}

/** A breaker `window`: `{ kind: 'count', size }` or `{ kind: 'time', ms }`. */
const breakerWindow: Rule = (() => {
  const count = obj({ kind: literal('count'), size: num({ integer: true, min: 1 }) }, { required: ['size'] });
  const time = obj({ kind: literal('time'), ms: num({ above: 0 }) }, { required: ['ms'] });
  const expected = "{ kind: 'count', size } or { kind: 'time', ms }";
  const kindOf = (v: unknown) =>
    typeof v === 'object' && v !== null ? (v as { kind?: unknown }).kind : undefined;
  return {
    expected,
    accepts: (v) => kindOf(v) === 'count' || kindOf(v) === 'time',
    check(value, path) {
      const kind = kindOf(value);
      if (kind === 'count') return count.check(value, path);
      if (kind === 'time') return time.check(value, path);
      throw new ClaudeOtelOptionsError(
        kind === undefined ? path : `${path}.kind`,
        show(kind ?? value),
        expected,
      );
    },
  };
})();

const ms = num({ min: 0 });
const msOrForever = num({ min: 0, infinite: true });
const positiveMs = num({ above: 0 });
const count1 = num({ integer: true, min: 1 });
const clock = methods('a Clock', 'now', 'sleep', 'setTimer');

const backoff = obj({
  baseMs: ms,
  capMs: ms,
  jitter: literal('full', 'decorrelated'),
  overloadMultiplier: num({ min: 1 }),
});

const budget = obj({
  maxTokens: num({ min: 0.001 }),
  tokenRatio: num({ min: 0.001 }),
  retryCost: num({ min: 0.001 }),
});

const regionConfig = obj(
  { name: str, baseURL: str, priority: num(), weight: num({ above: 0 }) },
  { required: ['name', 'baseURL'] },
);

const storeOptions = obj(
  {
    store: instance,
    syncMs: positiveMs,
    probeTtlMs: positiveMs,
    budgetName: str,
    logger: instance,
    timeoutMs: positiveMs,
    retryMs: positiveMs,
  },
  { required: ['store'] },
);

/** `store`: a `FleetStore` (an object the library calls) or `{ store, … }`. */
const store: Rule = {
  expected: 'a FleetStore or { store, syncMs, probeTtlMs, budgetName, logger, timeoutMs, retryMs }',
  accepts: (v) => typeof v === 'object' && v !== null,
  check(value, path) {
    if (typeof value !== 'object' || value === null) {
      throw new ClaudeOtelOptionsError(path, show(value), this.expected);
    }
    if ('store' in value) storeOptions.check(value, path);
  },
};

/** The table of {@link ClaudeFetchOptions} (every key, every nested policy option). */
export const CLAUDE_FETCH_OPTIONS: Rule = obj(
  {
    fetch: fn,
    tracerProvider: instance,
    meterProvider: instance,
    logger: instance,
    loggerProvider: oneOf(literal(false), instance),
    logging: obj({
      content: bool,
      rateLimit: oneOf(
        literal(false),
        obj({ burst: num({ min: 1 }), perSecond: num({ above: 0 }), summaryIntervalMs: positiveMs }),
      ),
    }),
    region: str,
    captureContent: oneOf(bool, obj({ maxLength: count1 })),
    suppressInnerHttpSpans: bool,
    propagation: literal(true, false, 'auto'),
    requestHook: fn,
    responseHook: fn,
    ignoreRequest: fn,
    retry: oneOf(
      bool,
      obj({
        maxAttempts: count1,
        backoff,
        maxRetryAfterMs: msOrForever,
        budget: oneOf(literal(false), budget),
      }),
    ),
    breaker: oneOf(
      bool,
      obj({
        mode: literal('failure_rate', 'consecutive'),
        failureRateThreshold: num({ above: 0, max: 1 }),
        minimumThroughput: count1,
        window: breakerWindow,
        consecutiveFailures: count1,
        openMs: ms,
        openBackoffMultiplier: num({ min: 1 }),
        maxOpenMs: ms,
        halfOpenProbes: count1,
        successThreshold: count1,
        key: fn,
        rateLimitCountsAsFailure: bool,
        hold: oneOf(bool, obj({ maxWaitMs: msOrForever })),
      }),
    ),
    regions: oneOf(
      arrayOf(regionConfig, { nonEmpty: true }),
      obj(
        {
          list: arrayOf(regionConfig, { nonEmpty: true }),
          probe: oneOf(
            bool,
            obj({
              intervalMs: positiveMs,
              timeoutMs: positiveMs,
              jitter: num({ min: 0, below: 1 }),
              path: str,
            }),
          ),
          unhealthyAfter: count1,
          healthyAfter: count1,
          failbackAfterMs: ms,
          failFast: bool,
        },
        { required: ['list'] },
      ),
    ),
    fallback: obj(
      { models: arrayOf(str, { nonEmpty: true }), on: arrayOf(str), stickyMs: msOrForever },
      { required: ['models'] },
    ),
    cache: oneOf(
      bool,
      obj({
        store: methods('a ResponseStore', 'get', 'set'),
        ttlMs: positiveMs,
        maxEntries: count1,
        maxEntryBytes: positiveMs,
        key: fn,
      }),
    ),
    resume: oneOf(bool, obj({ maxResumptions: count1, maxBufferedChars: count1 })),
    throttle: oneOf(
      bool,
      obj({ maxWaitMs: msOrForever, refill: literal('continuous', 'at_reset'), estimateTokens: fn }),
    ),
    store,
    timeouts: obj({
      connectMs: positiveMs,
      firstChunkMs: positiveMs,
      idleMs: positiveMs,
      totalMs: positiveMs,
    }),
    errorBody: obj({ maxBytes: count1, maxWaitMs: positiveMs }),
    clock,
    random: fn,
  },
  { name: 'an options object' },
);

const anyValue: Rule = leaf('a value', () => true);

/** The table of `setup()`'s `SetupOptions`. */
export const SETUP_OPTIONS: Rule = obj(
  {
    serviceName: str,
    serviceVersion: str,
    resourceAttributes: leaf(
      'an object of attributes',
      (v) => typeof v === 'object' && v !== null && !Array.isArray(v),
    ),
    endpoint: str,
    metricExportIntervalMs: count1,
    spanProcessors: arrayOf(instance),
    metricReaders: arrayOf(instance),
    logRecordProcessors: arrayOf(instance),
    instrumentations: arrayOf(anyValue),
  },
  { name: 'a SetupOptions object' },
);

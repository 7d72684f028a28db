import { describe, expect, it } from 'vitest';
import { ClaudeOtelOptionsError, createClaudeFetch } from '../../src/index.js';
import type { ClaudeFetchOptions } from '../../src/options.js';

/** Creating a fetch with `options` throws this error (one, typed, with the path). */
function errorOf(options: unknown): ClaudeOtelOptionsError {
  try {
    createClaudeFetch(options as ClaudeFetchOptions);
  } catch (error) {
    expect(error).toBeInstanceOf(ClaudeOtelOptionsError);
    expect(error).toBeInstanceOf(TypeError);
    return error as ClaudeOtelOptionsError;
  }
  throw new Error(`accepted ${JSON.stringify(options)}`);
}

/** `{ a: { b: value } }` from the path `a.b`. */
function at(path: string, value: unknown): Record<string, unknown> {
  const keys = path.split('.');
  let out: unknown = value;
  for (const key of keys.reverse()) out = { [key]: out };
  return out as Record<string, unknown>;
}

const region = { name: 'a', baseURL: 'http://127.0.0.1:1' };
/** Whatever a nested option needs beside it to be valid (e.g. `regions.list`). */
const context: Record<string, Record<string, unknown>> = {
  regions: { list: [region] },
  fallback: { models: ['claude-x'] },
};

function withContext(path: string, value: unknown): Record<string, unknown> {
  const options = at(path, value);
  const top = path.split('.')[0] as string;
  if (path.includes('.') && context[top] !== undefined) {
    options[top] = { ...context[top], ...(options[top] as object) };
  }
  return options;
}

// Every leaf option: [path, a wrong type, a wrong range (or undefined when every value of the type is valid)].
const LEAVES: [string, unknown, unknown][] = [
  ['fetch', 'x', undefined],
  ['region', 1, ''],
  ['suppressInnerHttpSpans', 'yes', undefined],
  ['propagation', 'yes', undefined],
  ['requestHook', 1, undefined],
  ['responseHook', {}, undefined],
  ['ignoreRequest', true, undefined],
  ['random', 0.5, undefined],
  ['captureContent.maxLength', '10', 1.5],
  ['logging.content', 'yes', undefined],
  ['logging.rateLimit.burst', '1', 0],
  ['logging.rateLimit.perSecond', '1', 0],
  ['logging.rateLimit.summaryIntervalMs', '1', -1],
  ['retry.maxAttempts', '3', 0],
  ['retry.maxRetryAfterMs', '1', -1],
  ['retry.backoff.baseMs', '1', -1],
  ['retry.backoff.capMs', '1', Number.NaN],
  ['retry.backoff.jitter', 1, 'none'],
  ['retry.backoff.overloadMultiplier', '2', 0.5],
  ['retry.budget.maxTokens', '1', 0],
  ['retry.budget.tokenRatio', '1', 0],
  ['retry.budget.retryCost', '1', 0],
  ['breaker.mode', 1, 'sometimes'],
  ['breaker.failureRateThreshold', '0.5', 1.5],
  ['breaker.minimumThroughput', '1', 0],
  ['breaker.window', 'x', { kind: 'day' }],
  ['breaker.consecutiveFailures', '5', 2.5],
  ['breaker.openMs', '1000', -1],
  ['breaker.openBackoffMultiplier', '2', 0.5],
  ['breaker.maxOpenMs', '1', -1],
  ['breaker.halfOpenProbes', '1', 0],
  ['breaker.successThreshold', '1', 0],
  ['breaker.key', 'x', undefined],
  ['breaker.rateLimitCountsAsFailure', 'yes', undefined],
  ['breaker.hold', 'yes', undefined],
  ['breaker.hold.maxWaitMs', '1', -1],
  ['regions.list', 'x', []],
  ['regions.probe', 'yes', undefined],
  ['regions.probe.intervalMs', '1', 0],
  ['regions.probe.timeoutMs', '1', 0],
  ['regions.probe.jitter', '0.1', 1],
  ['regions.probe.path', 1, ''],
  ['regions.unhealthyAfter', '1', 0],
  ['regions.healthyAfter', '1', 0],
  ['regions.failbackAfterMs', '1', -1],
  ['regions.failFast', 'yes', undefined],
  ['fallback.models', 'x', []],
  ['fallback.on', 'x', undefined],
  ['fallback.stickyMs', '1', -1],
  ['cache.store', 'x', {}],
  ['cache.ttlMs', '1', 0],
  ['cache.maxEntries', '1', 0],
  ['cache.maxEntryBytes', '1', 0],
  ['cache.key', 'x', undefined],
  ['resume.maxResumptions', '2', 0],
  ['resume.maxBufferedChars', '2', 0],
  ['throttle.maxWaitMs', '1', -1],
  ['throttle.refill', 1, 'never'],
  ['throttle.estimateTokens', 'x', undefined],
  ['timeouts.connectMs', '1', 0],
  ['timeouts.firstChunkMs', '1', 0],
  ['timeouts.idleMs', '1000', -5],
  ['timeouts.totalMs', '1', Number.POSITIVE_INFINITY],
  ['errorBody.maxBytes', '1', 0.5],
  ['errorBody.maxWaitMs', '1', 0],
];

/** A misspelling of the last key of `path`: a letter swapped. */
function misspell(key: string): string {
  return key.length < 3 ? `${key}x` : `${key.slice(0, 1)}${key[2]}${key[1]}${key.slice(3)}`;
}

describe('the options table of createClaudeFetch: one typed error naming the path', () => {
  it.each(LEAVES)('%s: a wrong type', (path, wrongType) => {
    const error = errorOf(withContext(path, wrongType));
    expect(error.path).toBe(path);
    expect(error.message).toContain(path);
    if (typeof wrongType === 'string') expect(error.shown).toContain(JSON.stringify(wrongType));
  });

  it.each(LEAVES.filter(([, , range]) => range !== undefined))('%s: a wrong range', (path, _type, range) => {
    const error = errorOf(withContext(path, range));
    expect(error.path.startsWith(path)).toBe(true);
    expect(error.expected.length).toBeGreaterThan(0);
  });

  it.each(LEAVES)('%s: a misspelling is named, with the closest known key', (path) => {
    const keys = path.split('.');
    const last = keys.pop() as string;
    const wrong = [...keys, misspell(last)].join('.');
    const error = errorOf(withContext(wrong, 1));
    expect(error.path).toBe(wrong);
    expect(error.suggestion).toBe(path);
    expect(error.message).toContain(`${wrong}: unknown option; did you mean ${path}?`);
  });

  it.each([
    [{ retyr: {} }, 'retyr', 'retry'],
    [{ retry: { maxAttempt: 3 } }, 'retry.maxAttempt', 'retry.maxAttempts'],
    [{ timeouts: { idle: 1000 } }, 'timeouts.idle', 'timeouts.idleMs'],
  ])('the issue’s misspellings: %o', (options, path, suggestion) => {
    const error = errorOf(options);
    expect(error.path).toBe(path);
    expect(error.suggestion).toBe(suggestion);
  });

  it('the issue’s wrong shapes', () => {
    expect(errorOf({ retry: 'yes' }).message).toBe(
      'retry: expected a boolean or { maxAttempts, backoff, maxRetryAfterMs, budget }, got "yes" (a string)',
    );
    expect(errorOf({ timeouts: 5000 }).path).toBe('timeouts');
    expect(errorOf({ clock: {} }).path).toBe('clock.now');
    expect(errorOf(null).message).toBe('(options): expected an options object, got null');
    expect(errorOf({ breaker: { openMs: '1000' } }).message).toBe(
      'breaker.openMs: expected a number ≥ 0, got "1000" (a string)',
    );
    expect(errorOf({ timeouts: { idleMs: '1000' } }).shown).toBe('"1000" (a string)');
    expect(errorOf({ regions: [region, { name: 'b' }] }).path).toBe('regions[1].baseURL');
  });

  it('accepts every option at a valid value', () => {
    expect(
      typeof createClaudeFetch({
        retry: { maxAttempts: 2, backoff: { baseMs: 1, jitter: 'full' }, budget: false },
        breaker: { window: { kind: 'time', ms: 1000 }, hold: { maxWaitMs: Number.POSITIVE_INFINITY } },
        regions: { list: [region], probe: false, failFast: true },
        fallback: { models: ['claude-x'], stickyMs: 0 },
        cache: true,
        resume: { maxResumptions: 1 },
        throttle: { maxWaitMs: 0 },
        timeouts: { idleMs: 1000, totalMs: undefined },
        errorBody: { maxBytes: 10 },
        logging: { rateLimit: false },
        propagation: 'auto',
      }),
    ).toBe('function');
  });
});

describe('the options table of setup(): the same error shape', () => {
  const setupErrorOf = async (options: unknown): Promise<ClaudeOtelOptionsError> => {
    const { setup } = await import('../../src/setup.js');
    try {
      setup(options as Parameters<typeof setup>[0]);
    } catch (error) {
      expect(error).toBeInstanceOf(ClaudeOtelOptionsError);
      return error as ClaudeOtelOptionsError;
    }
    throw new Error(`accepted ${JSON.stringify(options)}`);
  };

  it.each([
    ['serviceName', 1, ''],
    ['serviceVersion', 1, ''],
    ['endpoint', 1, 'not a url'],
    ['metricExportIntervalMs', '1000', 0],
    ['spanProcessors', 'x', undefined],
    ['metricReaders', 'x', undefined],
    ['logRecordProcessors', 'x', undefined],
    ['instrumentations', 'x', undefined],
    ['resourceAttributes', 'x', undefined],
  ])('%s: a wrong type, a wrong range, a misspelling', async (key, wrongType, range) => {
    expect((await setupErrorOf({ [key]: wrongType })).path).toBe(key);
    if (range !== undefined) expect((await setupErrorOf({ [key]: range })).path).toBe(key);
    const wrong = misspell(key);
    const error = await setupErrorOf({ [wrong]: 1 });
    expect(error.path).toBe(wrong);
    expect(error.suggestion).toBe(key);
  });

  it('the issue’s cases: serviceNmae, spanProcessors: "x", null', async () => {
    expect((await setupErrorOf({ serviceNmae: 'x' })).message).toBe(
      'serviceNmae: unknown option; did you mean serviceName? (expected one of serviceName, serviceVersion, resourceAttributes, endpoint, metricExportIntervalMs, spanProcessors, metricReaders, logRecordProcessors, instrumentations)',
    );
    expect((await setupErrorOf({ spanProcessors: 'x' })).message).toBe(
      'spanProcessors: expected an array of an object, got "x" (a string)',
    );
    expect((await setupErrorOf(null)).path).toBe('(options)');
  });
});

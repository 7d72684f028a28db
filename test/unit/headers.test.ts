import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  parseNonNegative,
  parseRateLimits,
  parseRetryAfter,
  parseShouldRetry,
  regionFromHost,
} from '../../src/telemetry/headers.js';
import { RATELIMIT_RESOURCES } from '../../src/telemetry/names.js';

const NOW = Date.UTC(2025, 5, 15, 12, 0, 0);

function headers(entries: Record<string, string | string[]>): Headers {
  const h = new Headers();
  for (const [name, value] of Object.entries(entries)) {
    for (const v of Array.isArray(value) ? value : [value]) h.append(name, v);
  }
  return h;
}

const httpDate = (ms: number): string => new Date(ms).toUTCString();

describe('parseRetryAfter', () => {
  it('returns undefined without the headers', () => {
    expect(parseRetryAfter(new Headers(), NOW)).toBeUndefined();
  });

  it('reads retry-after as seconds, also decimal', () => {
    expect(parseRetryAfter(headers({ 'retry-after': '0' }), NOW)).toBe(0);
    expect(parseRetryAfter(headers({ 'retry-after': '7' }), NOW)).toBe(7);
    expect(parseRetryAfter(headers({ 'retry-after': '2.5' }), NOW)).toBe(2.5);
    expect(parseRetryAfter(headers({ 'retry-after': ' 12 ' }), NOW)).toBe(12);
    expect(parseRetryAfter(headers({ 'retry-after': '86400' }), NOW)).toBe(86_400);
  });

  it('prefers retry-after-ms, read in milliseconds', () => {
    expect(parseRetryAfter(headers({ 'retry-after-ms': '1500', 'retry-after': '30' }), NOW)).toBe(1.5);
    expect(parseRetryAfter(headers({ 'retry-after-ms': '250.5' }), NOW)).toBe(0.2505);
    expect(parseRetryAfter(headers({ 'retry-after-ms': '0', 'retry-after': '30' }), NOW)).toBe(0);
  });

  it('falls back to retry-after when retry-after-ms is unusable', () => {
    for (const ms of ['abc', '-5', '', '1e3', String(86_400_001)]) {
      expect(parseRetryAfter(headers({ 'retry-after-ms': ms, 'retry-after': '3' }), NOW)).toBe(3);
      expect(parseRetryAfter(headers({ 'retry-after-ms': ms }), NOW)).toBeUndefined();
    }
  });

  it('reads an HTTP date relative to nowMs', () => {
    expect(parseRetryAfter(headers({ 'retry-after': httpDate(NOW + 30_000) }), NOW)).toBe(30);
    expect(parseRetryAfter(headers({ 'retry-after': httpDate(NOW + 30_000) }), NOW + 10_000)).toBe(20);
    expect(parseRetryAfter(headers({ 'retry-after': httpDate(NOW + 1000) }), NOW)).toBe(1);
    // A nowMs between whole seconds gives the fraction.
    expect(parseRetryAfter(headers({ 'retry-after': httpDate(NOW + 5_000) }), NOW + 500)).toBe(4.5);
    // The obsolete HTTP date formats too.
    expect(parseRetryAfter(headers({ 'retry-after': 'Sun, 15 Jun 2025 12:01:00 GMT' }), NOW)).toBe(60);
    expect(parseRetryAfter(headers({ 'retry-after': 'Sunday, 15-Jun-25 12:01:00 GMT' }), NOW)).toBe(60);
  });

  it('reads no wait from an HTTP date that is not in the future (issue 15, item 17)', () => {
    // Read as 0 s before, three attempts followed one another at once.
    expect(parseRetryAfter(headers({ 'retry-after': httpDate(NOW - 60_000) }), NOW)).toBeUndefined();
    expect(parseRetryAfter(headers({ 'retry-after': 'Wed, 21 Oct 2015 07:28:00 GMT' }), NOW)).toBeUndefined();
    expect(parseRetryAfter(headers({ 'retry-after': httpDate(NOW) }), NOW)).toBeUndefined();
    // An explicit `0` is a wait of none, as the server said.
    expect(parseRetryAfter(headers({ 'retry-after': '0' }), NOW)).toBe(0);
  });

  it('ignores waits over a day', () => {
    expect(parseRetryAfter(headers({ 'retry-after': '86401' }), NOW)).toBeUndefined();
    expect(parseRetryAfter(headers({ 'retry-after': '86400.5' }), NOW)).toBeUndefined();
    expect(parseRetryAfter(headers({ 'retry-after': '9'.repeat(400) }), NOW)).toBeUndefined();
    expect(parseRetryAfter(headers({ 'retry-after': httpDate(NOW + 86_401_000) }), NOW)).toBeUndefined();
    expect(parseRetryAfter(headers({ 'retry-after': httpDate(NOW + 86_400_000) }), NOW)).toBe(86_400);
  });

  it.each([
    '-1',
    '-0.5',
    '+5',
    '1e3',
    '0x10',
    '.5',
    '5.',
    'Infinity',
    'NaN',
    'soon',
    'tomorrow',
    'later 5',
    'abc 12',
    'Mon 5',
    '5 seconds',
    '',
    ',',
    'Wed, 99 Foo 2015 07:28:00 GMT',
  ])('ignores the garbage value %j', (value) => {
    expect(parseRetryAfter(headers({ 'retry-after': value }), NOW)).toBeUndefined();
  });

  it('reads the first of duplicated values (joined with ", ")', () => {
    expect(parseRetryAfter(headers({ 'retry-after': ['5', '10'] }), NOW)).toBe(5);
    expect(parseRetryAfter(headers({ 'retry-after-ms': ['100', '2000'] }), NOW)).toBe(0.1);
    expect(parseRetryAfter(headers({ 'retry-after': ['abc', '10'] }), NOW)).toBeUndefined();
    expect(parseRetryAfter(headers({ 'retry-after': '5, 10' }), NOW)).toBe(5);
  });

  it('does not split an HTTP date at its comma', () => {
    expect(parseRetryAfter(headers({ 'retry-after': httpDate(NOW + 9_000) }), NOW)).toBe(9);
  });
});

describe('parseShouldRetry', () => {
  it.each([
    [undefined, undefined],
    ['true', true],
    ['false', false],
    [' true ', true],
    ['true, false', true],
    ['false, true', false],
    ['TRUE', undefined],
    ['1', undefined],
    ['yes', undefined],
    ['', undefined],
  ])('x-should-retry %j → %s', (value, expected) => {
    const h = value === undefined ? new Headers() : headers({ 'x-should-retry': value });
    expect(parseShouldRetry(h)).toBe(expected);
  });
});

describe('parseNonNegative', () => {
  it.each([
    [null, undefined],
    [undefined, undefined],
    ['0', 0],
    ['42', 42],
    ['3.25', 3.25],
    ['007', 7],
    ['1, 2', 1],
    ['-1', undefined],
    ['1e2', undefined],
    ['abc', undefined],
    ['9'.repeat(400), undefined],
  ])('%j → %s', (value, expected) => {
    expect(parseNonNegative(value)).toBe(expected);
  });
});

describe('parseRateLimits', () => {
  it('returns an empty object without rate-limit headers', () => {
    expect(parseRateLimits(headers({ 'content-type': 'application/json' }), NOW)).toEqual({});
  });

  it('reads all four resources', () => {
    const h = headers({
      'anthropic-ratelimit-requests-limit': '50',
      'anthropic-ratelimit-requests-remaining': '49',
      'anthropic-ratelimit-requests-reset': new Date(NOW + 1_000).toISOString(),
      'anthropic-ratelimit-tokens-limit': '100000',
      'anthropic-ratelimit-tokens-remaining': '99000',
      'anthropic-ratelimit-tokens-reset': '2025-06-15T12:00:30Z',
      'anthropic-ratelimit-input-tokens-limit': '40000',
      'anthropic-ratelimit-input-tokens-remaining': '39500',
      'anthropic-ratelimit-input-tokens-reset': '2025-06-15T14:00:06+02:00',
      'anthropic-ratelimit-output-tokens-limit': '8000',
      'anthropic-ratelimit-output-tokens-remaining': '0',
      'anthropic-ratelimit-output-tokens-reset': '2025-06-15T12:01:00.500Z',
    });
    expect(parseRateLimits(h, NOW)).toEqual({
      requests: { limit: 50, remaining: 49, reset: 1 },
      tokens: { limit: 100_000, remaining: 99_000, reset: 30 },
      input_tokens: { limit: 40_000, remaining: 39_500, reset: 6 },
      output_tokens: { limit: 8_000, remaining: 0, reset: 60.5 },
    });
  });

  it('gives 0 for a reset in the past', () => {
    const h = headers({ 'anthropic-ratelimit-tokens-reset': '2025-06-15T11:59:00Z' });
    expect(parseRateLimits(h, NOW)).toEqual({ tokens: { reset: 0 } });
  });

  it('keeps only the resources and fields present', () => {
    const h = headers({
      'anthropic-ratelimit-requests-remaining': '3',
      'anthropic-ratelimit-output-tokens-limit': '12.9',
    });
    expect(parseRateLimits(h, NOW)).toEqual({ requests: { remaining: 3 }, output_tokens: { limit: 12 } });
  });

  it('ignores garbage values', () => {
    const h = headers({
      'anthropic-ratelimit-requests-limit': '-5',
      'anthropic-ratelimit-requests-remaining': 'lots',
      'anthropic-ratelimit-requests-reset': 'soon',
      'anthropic-ratelimit-tokens-limit': '1e9',
      'anthropic-ratelimit-tokens-remaining': '',
      'anthropic-ratelimit-tokens-reset': '60',
      'anthropic-ratelimit-input-tokens-reset': '1',
      'anthropic-ratelimit-output-tokens-reset': 'in 5 2030',
      'anthropic-ratelimit-output-tokens-remaining': '7',
    });
    expect(parseRateLimits(h, NOW)).toEqual({ output_tokens: { remaining: 7 } });
  });

  it('reads the first of duplicated values', () => {
    const h = headers({
      'anthropic-ratelimit-requests-limit': ['50', '60'],
      'anthropic-ratelimit-requests-reset': ['2025-06-15T12:00:10Z', '2025-06-15T12:00:20Z'],
    });
    expect(parseRateLimits(h, NOW)).toEqual({ requests: { limit: 50, reset: 10 } });
  });
});

describe('regionFromHost', () => {
  it.each([
    ['bedrock-runtime.us-east-1.amazonaws.com', 'us-east-1'],
    ['bedrock-runtime.eu-central-1.amazonaws.com', 'eu-central-1'],
    ['bedrock-runtime-fips.us-gov-west-1.amazonaws.com', 'us-gov-west-1'],
    ['us-east5-aiplatform.googleapis.com', 'us-east5'],
    ['europe-west1-aiplatform.googleapis.com', 'europe-west1'],
    ['aiplatform.googleapis.com', 'global'],
    ['api.anthropic.com', 'api.anthropic.com'],
    ['localhost', 'localhost'],
    ['127.0.0.1', '127.0.0.1'],
    ['bedrock.us-east-1.amazonaws.com', 'bedrock.us-east-1.amazonaws.com'],
    [
      'bedrock-runtime.us-east-1.amazonaws.com.evil.example',
      'bedrock-runtime.us-east-1.amazonaws.com.evil.example',
    ],
    ['x.aiplatform.googleapis.com', 'x.aiplatform.googleapis.com'],
  ])('%s → %s', (host, region) => {
    expect(regionFromHost(host)).toBe(region);
    // Cached answers are the same.
    expect(regionFromHost(host)).toBe(region);
  });

  it('stays correct past the cache size', () => {
    for (let i = 0; i < 1100; i++) regionFromHost(`host-${i}.example`);
    expect(regionFromHost('us-central1-aiplatform.googleapis.com')).toBe('us-central1');
    expect(regionFromHost('host-1099.example')).toBe('host-1099.example');
  });
});

describe('header parsers: properties', () => {
  /** Values a Headers object accepts: Latin-1 without NUL, CR or LF. */
  const headerValue = fc.oneof(
    fc.string({
      unit: fc
        .integer({ min: 1, max: 0xff })
        .filter((c) => c !== 10 && c !== 13)
        .map((c) => String.fromCharCode(c)),
      maxLength: 40,
    }),
    fc.nat().map(String),
    fc.double({ noNaN: true }).map(String),
    fc.integer({ min: -1e15, max: 1e15 }).map((ms) => new Date(NOW + ms).toUTCString()),
    fc.integer({ min: -1e13, max: 1e13 }).map((ms) => new Date(NOW + ms).toISOString()),
    fc.array(fc.nat().map(String), { minLength: 2, maxLength: 3 }).map((v) => v.join(', ')),
  );
  const names = [
    'retry-after',
    'retry-after-ms',
    'x-should-retry',
    ...RATELIMIT_RESOURCES.flatMap((r) =>
      ['limit', 'remaining', 'reset'].map((f) => `anthropic-ratelimit-${r.replace('_', '-')}-${f}`),
    ),
  ];
  const headersArb = fc
    .array(fc.tuple(fc.constantFrom(...names), headerValue), { maxLength: 12 })
    .map((entries) => {
      const h = new Headers();
      for (const [name, value] of entries) h.append(name, value);
      return h;
    });
  const nowArb = fc.integer({ min: 0, max: 4_102_444_800_000 });

  const isNonNegativeOrUndefined = (n: number | undefined): boolean =>
    n === undefined || (Number.isFinite(n) && n >= 0);

  it('never throw and give undefined or a finite non-negative number', () => {
    fc.assert(
      fc.property(headersArb, nowArb, (h, now) => {
        const retryAfter = parseRetryAfter(h, now);
        expect(isNonNegativeOrUndefined(retryAfter)).toBe(true);
        if (retryAfter !== undefined) expect(retryAfter).toBeLessThanOrEqual(86_400);
        expect([true, false, undefined]).toContain(parseShouldRetry(h));
        const limits = parseRateLimits(h, now);
        for (const [resource, state] of Object.entries(limits)) {
          expect(RATELIMIT_RESOURCES).toContain(resource);
          expect(Object.keys(state).length).toBeGreaterThan(0);
          for (const value of Object.values(state)) expect(isNonNegativeOrUndefined(value)).toBe(true);
          if (state.limit !== undefined) expect(Number.isInteger(state.limit)).toBe(true);
          if (state.remaining !== undefined) expect(Number.isInteger(state.remaining)).toBe(true);
        }
        for (const name of names) expect(isNonNegativeOrUndefined(parseNonNegative(h.get(name)))).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it('read whole seconds and milliseconds exactly', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 200_000 }), nowArb, (n, now) => {
        expect(parseRetryAfter(headers({ 'retry-after': String(n) }), now)).toBe(n <= 86_400 ? n : undefined);
        expect(parseRetryAfter(headers({ 'retry-after-ms': String(n * 1000) }), now)).toBe(
          n <= 86_400 ? n : undefined,
        );
      }),
    );
  });

  it('read an HTTP date as the seconds until it, none when not in the future, up to a day', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1_000_000_000, max: 4_000_000_000 }),
        fc.integer({ min: -200_000_000, max: 200_000_000 }),
        (dateS, deltaMs) => {
          const date = dateS * 1000;
          const now = date - deltaMs;
          const seconds = deltaMs / 1000;
          expect(parseRetryAfter(headers({ 'retry-after': httpDate(date) }), now)).toBe(
            seconds > 0 && seconds <= 86_400 ? seconds : undefined,
          );
        },
      ),
    );
  });
});

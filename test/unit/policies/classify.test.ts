import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { classify, isOverload, isRateLimit, TAXONOMY } from '../../../src/policies/classify.js';
import type { AttemptOutcome } from '../../../src/policies/types.js';

const NOW = Date.UTC(2025, 5, 15, 12, 0, 0);

function response(
  status: number,
  headers: Record<string, string> = {},
  errorType: string | undefined = undefined,
): AttemptOutcome {
  return { kind: 'response', status, headers: new Headers(headers), errorType };
}

function thrown(errorType: string, error: unknown = new Error(errorType)): AttemptOutcome {
  return { kind: 'error', error, errorType };
}

/**
 * The rules written out independently of the implementation's table: [status, name, retryable,
 * countsAsFailure (default options)].
 */
const STATUS_RULES: readonly [number, string, boolean, boolean][] = [
  [400, 'invalid_request_error', false, false],
  [401, 'authentication_error', false, false],
  [402, 'billing_error', false, false],
  [403, 'permission_error', false, false],
  [404, 'not_found_error', false, false],
  [408, 'request_timeout', true, true],
  [409, 'conflict', true, false],
  [413, 'request_too_large', false, false],
  [422, 'unprocessable_entity', false, false],
  [429, 'rate_limit_error', true, false],
  [500, 'api_error', true, true],
  [502, 'bad_gateway', true, true],
  [503, 'service_unavailable', true, true],
  [504, 'timeout_error', true, true],
  [529, 'overloaded_error', true, true],
];

/** [errorType, retryable, countsAsFailure] of thrown errors. */
const ERROR_RULES: readonly [string, boolean, boolean][] = [
  ['aborted', false, false],
  ['connection_error', true, true],
  ['timeout', true, true],
  ['connect_timeout', true, true],
  // They fire after the response reached the consumer: no retry can take it back, only `resume`
  // continues the stream (issue 15, item 22: the table said they were retried).
  ['first_chunk_timeout', false, true],
  ['idle_timeout', false, true],
  ['total_timeout', false, true],
  ['circuit_open', false, false],
  ['retry_after_exceeds_deadline', false, false],
  ['throttled', false, false],
];

/** 4xx statuses that must never be retried without `x-should-retry: true`. */
const RETRYABLE_4XX = new Set([408, 409, 429]);

describe('TAXONOMY', () => {
  it('has exactly the rows of the rules, with unique error types', () => {
    const expected = [
      ...STATUS_RULES.map(([status, errorType, retryable, countsAsFailure]) => ({
        errorType,
        status,
        retryable,
        countsAsFailure,
      })),
      { errorType: 'client_error', status: 'other 4xx', retryable: false, countsAsFailure: false },
      { errorType: 'server_error', status: 'other 5xx', retryable: true, countsAsFailure: true },
      ...ERROR_RULES.map(([errorType, retryable, countsAsFailure]) => ({
        errorType,
        status: undefined,
        retryable,
        countsAsFailure,
      })),
    ];
    const actual = TAXONOMY.map(({ errorType, status, retryable, countsAsFailure }) => ({
      errorType,
      status,
      retryable,
      countsAsFailure,
    }));
    const byType = (a: { errorType: string }, b: { errorType: string }) =>
      a.errorType.localeCompare(b.errorType);
    expect([...actual].sort(byType)).toEqual([...expected].sort(byType));
    expect(new Set(TAXONOMY.map((e) => e.errorType)).size).toBe(TAXONOMY.length);
  });

  it('gives every row a note, and is frozen', () => {
    for (const entry of TAXONOMY) expect(entry.note.length).toBeGreaterThan(10);
    expect(Object.isFrozen(TAXONOMY)).toBe(true);
    expect(TAXONOMY.every((entry) => Object.isFrozen(entry))).toBe(true);
  });

  it('drives classify: every row with a numeric status classifies as the row says', () => {
    for (const entry of TAXONOMY) {
      if (typeof entry.status !== 'number') continue;
      expect(classify(response(entry.status), NOW)).toEqual({
        errorType: entry.errorType,
        retryable: entry.retryable,
        countsAsFailure: entry.countsAsFailure,
        retryAfterS: undefined,
      });
    }
  });

  it('drives classify: every row without a status classifies thrown errors as the row says', () => {
    for (const entry of TAXONOMY) {
      if (entry.status !== undefined) continue;
      expect(classify(thrown(entry.errorType), NOW)).toEqual({
        errorType: entry.errorType,
        retryable: entry.retryable,
        countsAsFailure: entry.countsAsFailure,
        retryAfterS: undefined,
      });
    }
  });
});

describe('classify: responses', () => {
  it.each([200, 201, 204, 206, 301, 304, 399])('status %i is a success', (status) => {
    expect(classify(response(status), NOW)).toEqual({
      errorType: undefined,
      retryable: false,
      countsAsFailure: false,
      retryAfterS: undefined,
    });
  });

  it('a success ignores x-should-retry, retry-after and any error type', () => {
    const outcome = response(200, { 'x-should-retry': 'true', 'retry-after': '5' }, 'overloaded_error');
    expect(classify(outcome, NOW)).toEqual({
      errorType: undefined,
      retryable: false,
      countsAsFailure: false,
      retryAfterS: undefined,
    });
  });

  it.each(STATUS_RULES)(
    'status %i without a body is %s (retryable %s, failure %s)',
    (status, name, retryable, failure) => {
      expect(classify(response(status), NOW)).toEqual({
        errorType: name,
        retryable,
        countsAsFailure: failure,
        retryAfterS: undefined,
      });
    },
  );

  it.each([405, 406, 410, 411, 412, 415, 418, 421, 425, 426, 428, 431, 451, 499])(
    'other 4xx %i is client_error, not retryable, not a failure',
    (status) => {
      expect(classify(response(status), NOW)).toEqual({
        errorType: 'client_error',
        retryable: false,
        countsAsFailure: false,
        retryAfterS: undefined,
      });
    },
  );

  it.each([501, 505, 507, 520, 524, 530, 599, 600, 999])(
    'other status %i ≥ 500 is server_error, retryable, a failure',
    (status) => {
      expect(classify(response(status), NOW)).toEqual({
        errorType: 'server_error',
        retryable: true,
        countsAsFailure: true,
        retryAfterS: undefined,
      });
    },
  );

  it("names the failure by the API's error type from the body when there is one", () => {
    expect(classify(response(529, {}, 'overloaded_error'), NOW).errorType).toBe('overloaded_error');
    expect(classify(response(500, {}, 'overloaded_error'), NOW).errorType).toBe('overloaded_error');
    expect(classify(response(400, {}, 'invalid_request_error'), NOW).errorType).toBe('invalid_request_error');
    expect(classify(response(418, {}, 'teapot_error'), NOW).errorType).toBe('teapot_error');
  });

  it("lets the status, not the body's error type, decide retryable and countsAsFailure", () => {
    expect(classify(response(400, {}, 'overloaded_error'), NOW)).toMatchObject({
      retryable: false,
      countsAsFailure: false,
    });
    expect(classify(response(500, {}, 'invalid_request_error'), NOW)).toMatchObject({
      retryable: true,
      countsAsFailure: true,
    });
    expect(classify(response(529, {}, 'rate_limit_error'), NOW)).toMatchObject({
      retryable: true,
      countsAsFailure: true,
    });
  });

  it('x-should-retry: true makes a non-retryable status retryable, without changing countsAsFailure', () => {
    for (const status of [400, 401, 403, 404, 413, 418]) {
      const c = classify(response(status, { 'x-should-retry': 'true' }), NOW);
      expect(c.retryable).toBe(true);
      expect(c.countsAsFailure).toBe(false);
    }
  });

  it('x-should-retry: false makes a retryable status non-retryable, without changing countsAsFailure', () => {
    for (const [status, failure] of [
      [408, true],
      [409, false],
      [429, false],
      [500, true],
      [503, true],
      [529, true],
      [599, true],
    ] as const) {
      const c = classify(response(status, { 'x-should-retry': 'false' }), NOW);
      expect(c.retryable).toBe(false);
      expect(c.countsAsFailure).toBe(failure);
    }
  });

  it('ignores an x-should-retry that is neither true nor false', () => {
    expect(classify(response(400, { 'x-should-retry': 'yes' }), NOW).retryable).toBe(false);
    expect(classify(response(529, { 'x-should-retry': '0' }), NOW).retryable).toBe(true);
    expect(classify(response(529, { 'x-should-retry': '' }), NOW).retryable).toBe(true);
  });

  it('counts a 429 as a failure only with rateLimitCountsAsFailure', () => {
    expect(classify(response(429), NOW).countsAsFailure).toBe(false);
    expect(classify(response(429), NOW, {}).countsAsFailure).toBe(false);
    expect(classify(response(429), NOW, { rateLimitCountsAsFailure: false }).countsAsFailure).toBe(false);
    expect(classify(response(429), NOW, { rateLimitCountsAsFailure: true }).countsAsFailure).toBe(true);
    expect(classify(response(429), NOW, { rateLimitCountsAsFailure: true }).retryable).toBe(true);
  });

  it('rateLimitCountsAsFailure changes nothing but 429', () => {
    const options = { rateLimitCountsAsFailure: true };
    for (const [status, , retryable, failure] of STATUS_RULES) {
      if (status === 429) continue;
      expect(classify(response(status), NOW, options)).toMatchObject({ retryable, countsAsFailure: failure });
    }
    expect(classify(response(409), NOW, options).countsAsFailure).toBe(false);
  });

  it('reads retryAfterS from retry-after-ms, then retry-after (seconds or HTTP date)', () => {
    expect(classify(response(429, { 'retry-after': '7' }), NOW).retryAfterS).toBe(7);
    expect(classify(response(529, { 'retry-after-ms': '1500', 'retry-after': '30' }), NOW).retryAfterS).toBe(
      1.5,
    );
    const date = new Date(NOW + 12_000).toUTCString();
    expect(classify(response(503, { 'retry-after': date }), NOW).retryAfterS).toBe(12);
    expect(classify(response(503, { 'retry-after': 'soon' }), NOW).retryAfterS).toBeUndefined();
    expect(classify(response(400, { 'retry-after': '3' }), NOW).retryAfterS).toBe(3);
    expect(classify(response(500), NOW).retryAfterS).toBeUndefined();
  });

  it("classifies a policy's own error response by its row, so a breaker never counts its rejections", () => {
    expect(classify(response(503, { 'x-should-retry': 'false' }, 'circuit_open'), NOW)).toMatchObject({
      errorType: 'circuit_open',
      retryable: false,
      countsAsFailure: false,
    });
    expect(classify(response(429, {}, 'retry_after_exceeds_deadline'), NOW)).toMatchObject({
      retryable: true,
      countsAsFailure: false,
    });
    expect(classify(response(504, {}, 'total_timeout'), NOW)).toMatchObject({
      retryable: false,
      countsAsFailure: true,
    });
    expect(classify(response(502, {}, 'connection_error'), NOW)).toMatchObject({
      retryable: true,
      countsAsFailure: true,
    });
    // x-should-retry still overrides retryable, never countsAsFailure.
    expect(classify(response(503, { 'x-should-retry': 'true' }, 'circuit_open'), NOW)).toMatchObject({
      retryable: true,
      countsAsFailure: false,
    });
  });

  it('does not let our own error types in a 4xx body make it retryable', () => {
    expect(classify(response(400, {}, 'connection_error'), NOW)).toMatchObject({
      errorType: 'connection_error',
      retryable: false,
      countsAsFailure: false,
    });
  });
});

describe('classify: thrown errors', () => {
  it.each(ERROR_RULES)('%s: retryable %s, failure %s', (errorType, retryable, failure) => {
    expect(classify(thrown(errorType), NOW)).toEqual({
      errorType,
      retryable,
      countsAsFailure: failure,
      retryAfterS: undefined,
    });
  });

  it('an unknown error type is not retryable and counts as a failure', () => {
    for (const type of ['weird', 'TypeError', '', 'ABORTED', 'client_timeout_error']) {
      expect(classify(thrown(type), NOW)).toEqual({
        errorType: type,
        retryable: false,
        countsAsFailure: true,
        retryAfterS: undefined,
      });
    }
  });

  it('an API error type thrown mid-stream (SSE event: error) is classified like its status', () => {
    expect(classify(thrown('overloaded_error'), NOW)).toMatchObject({
      retryable: true,
      countsAsFailure: true,
    });
    expect(classify(thrown('api_error'), NOW)).toMatchObject({ retryable: true, countsAsFailure: true });
    expect(classify(thrown('invalid_request_error'), NOW)).toMatchObject({
      retryable: false,
      countsAsFailure: false,
    });
    expect(classify(thrown('rate_limit_error'), NOW)).toMatchObject({
      retryable: true,
      countsAsFailure: false,
    });
    expect(
      classify(thrown('rate_limit_error'), NOW, { rateLimitCountsAsFailure: true }).countsAsFailure,
    ).toBe(true);
  });

  it('ignores the error object itself: the error type decides', () => {
    const abort = new DOMException('stop', 'AbortError');
    expect(classify(thrown('connection_error', abort), NOW).retryable).toBe(true);
    expect(classify(thrown('aborted', new Error('ECONNRESET')), NOW).retryable).toBe(false);
  });
});

describe('isRateLimit / isOverload', () => {
  it('tells 429 from 529', () => {
    expect(isRateLimit('rate_limit_error')).toBe(true);
    expect(isRateLimit('overloaded_error')).toBe(false);
    expect(isRateLimit(undefined)).toBe(false);
    expect(isRateLimit('429')).toBe(false);
    expect(isOverload('overloaded_error')).toBe(true);
    expect(isOverload('rate_limit_error')).toBe(false);
    expect(isOverload('service_unavailable')).toBe(false);
    expect(isOverload(undefined)).toBe(false);
  });

  it('agrees with classify on the statuses', () => {
    expect(isRateLimit(classify(response(429), NOW).errorType)).toBe(true);
    expect(isOverload(classify(response(529), NOW).errorType)).toBe(true);
    expect(isOverload(classify(response(503), NOW).errorType)).toBe(false);
  });
});

describe('classify: properties', () => {
  const errorTypes = fc.oneof(
    fc.constant(undefined),
    fc.constantFrom(...TAXONOMY.map((e) => e.errorType)),
    fc.string({ maxLength: 20 }),
  );
  const shouldRetry = fc.constantFrom(undefined, 'true', 'false', 'TRUE', 'yes', '');
  const retryAfter = fc.constantFrom(undefined, '0', '3', '1.5', 'abc', '-1', '999999999');

  function outcome(
    status: number,
    type: string | undefined,
    retry: string | undefined,
    after: string | undefined,
  ): AttemptOutcome {
    const h: Record<string, string> = {};
    if (retry !== undefined) h['x-should-retry'] = retry;
    if (after !== undefined) h['retry-after'] = after;
    return response(status, h, type);
  }

  it('never marks a non-retryable 4xx retryable without x-should-retry: true', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 400, max: 499 }).filter((s) => !RETRYABLE_4XX.has(s)),
        errorTypes,
        shouldRetry.filter((v) => v !== 'true'),
        retryAfter,
        fc.boolean(),
        (status, type, retry, after, rl) => {
          const c = classify(outcome(status, type, retry, after), NOW, { rateLimitCountsAsFailure: rl });
          expect(c.retryable).toBe(false);
          expect(c.countsAsFailure).toBe(false);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('x-should-retry decides retryable whenever present on an error response; never countsAsFailure', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 400, max: 999 }),
        errorTypes,
        fc.constantFrom('true', 'false'),
        (status, type, retry) => {
          const withHeader = classify(outcome(status, type, retry, undefined), NOW);
          const without = classify(outcome(status, type, undefined, undefined), NOW);
          expect(withHeader.retryable).toBe(retry === 'true');
          expect(withHeader.countsAsFailure).toBe(without.countsAsFailure);
          expect(withHeader.errorType).toBe(without.errorType);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('every status below 400 is a success, whatever the headers and body', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 100, max: 399 }),
        errorTypes,
        shouldRetry,
        retryAfter,
        (status, type, retry, after) => {
          expect(classify(outcome(status, type, retry, after), NOW)).toEqual({
            errorType: undefined,
            retryable: false,
            countsAsFailure: false,
            retryAfterS: undefined,
          });
        },
      ),
    );
  });

  it('every error response has an error type, and ≥ 500 without x-should-retry is retryable', () => {
    fc.assert(
      fc.property(fc.integer({ min: 400, max: 999 }), errorTypes, (status, type) => {
        const c = classify(outcome(status, type, undefined, undefined), NOW);
        expect(typeof c.errorType).toBe('string');
        const own = TAXONOMY.find((e) => e.errorType === type && e.status === undefined);
        if (status >= 500 && own === undefined) {
          expect(c.retryable).toBe(true);
          expect(c.countsAsFailure).toBe(true);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('aborted is never retryable and never a failure, whatever the error and options', () => {
    fc.assert(
      fc.property(fc.anything(), fc.boolean(), fc.integer(), (error, rl, now) => {
        const c = classify({ kind: 'error', error, errorType: 'aborted' }, now, {
          rateLimitCountsAsFailure: rl,
        });
        expect(c.retryable).toBe(false);
        expect(c.countsAsFailure).toBe(false);
      }),
    );
  });

  it('thrown errors never carry retryAfterS and keep their error type', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 30 }), (type) => {
        const c = classify(thrown(type), NOW);
        expect(c.errorType).toBe(type);
        expect(c.retryAfterS).toBeUndefined();
      }),
    );
  });
});

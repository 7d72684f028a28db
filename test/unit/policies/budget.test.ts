import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  RETRY_BUDGET_DEFAULTS,
  type RetryBudget,
  type RetryBudgetOptions,
  TokenBucketRetryBudget,
} from '../../../src/policies/budget.js';
import { seeded as mulberry32 } from '../../helpers/random.js';

function repeat(n: number, fn: () => void): void {
  for (let i = 0; i < n; i++) fn();
}

/**
 * Runs requests through the budget as a retry policy would: each attempt's outcome comes from
 * `attemptFails(request, attempt)`; a failure costs, then a retry is made only when the budget
 * allows it (and at most `maxAttempts` attempts per request). Returns the retries granted.
 */
function simulate(
  budget: RetryBudget,
  requests: number,
  attemptFails: (request: number, attempt: number) => boolean,
  maxAttempts = Number.POSITIVE_INFINITY,
): { retries: number; attempts: number } {
  let retries = 0;
  let attempts = 0;
  for (let request = 0; request < requests; request++) {
    for (let attempt = 0; attempt < maxAttempts; attempt++) {
      attempts++;
      if (!attemptFails(request, attempt)) {
        budget.onSuccess();
        break;
      }
      budget.onFailure();
      if (attempt + 1 >= maxAttempts || !budget.canRetry()) break;
      retries++;
    }
  }
  return { retries, attempts };
}

describe('TokenBucketRetryBudget', () => {
  it('defaults to 100 tokens, 0.1 per success, 1 per failure, and starts full', () => {
    expect(RETRY_BUDGET_DEFAULTS).toEqual({ maxTokens: 100, tokenRatio: 0.1, retryCost: 1 });
    expect(Object.isFrozen(RETRY_BUDGET_DEFAULTS)).toBe(true);
    const budget = new TokenBucketRetryBudget();
    expect(budget.tokens).toBe(100);
    expect(budget.maxTokens).toBe(100);
    expect(budget.canRetry()).toBe(true);
  });

  it('a failure costs retryCost; asking canRetry costs nothing', () => {
    const budget = new TokenBucketRetryBudget();
    budget.onFailure();
    expect(budget.tokens).toBe(99);
    repeat(10, () => budget.canRetry());
    expect(budget.tokens).toBe(99);
  });

  it('allows retries while tokens > maxTokens / 2, strictly', () => {
    const budget = new TokenBucketRetryBudget();
    repeat(49, () => budget.onFailure());
    expect(budget.tokens).toBe(51);
    expect(budget.canRetry()).toBe(true);
    budget.onFailure();
    expect(budget.tokens).toBe(50);
    expect(budget.canRetry()).toBe(false);
  });

  it('never goes below 0 or above maxTokens', () => {
    const budget = new TokenBucketRetryBudget();
    budget.onSuccess();
    expect(budget.tokens).toBe(100);
    repeat(250, () => budget.onFailure());
    expect(budget.tokens).toBe(0);
    repeat(5000, () => budget.onSuccess());
    expect(budget.tokens).toBe(100);
  });

  it('refills exactly: from empty, 500 successes give 50 (still closed), the 501st reopens', () => {
    const budget = new TokenBucketRetryBudget();
    repeat(100, () => budget.onFailure());
    expect(budget.tokens).toBe(0);
    repeat(500, () => budget.onSuccess());
    expect(budget.tokens).toBe(50);
    expect(budget.canRetry()).toBe(false);
    budget.onSuccess();
    expect(budget.tokens).toBe(50.1);
    expect(budget.canRetry()).toBe(true);
  });

  it('when every attempt fails, grants 49 retries in all and then none', () => {
    const budget = new TokenBucketRetryBudget();
    const { retries, attempts } = simulate(budget, 1000, () => true);
    expect(retries).toBe(49);
    expect(attempts).toBe(1049);
    expect(budget.canRetry()).toBe(false);
  });

  it('every failure costs, also the last attempt of a request that is not retried', () => {
    const budget = new TokenBucketRetryBudget();
    // Three attempts per request: two retries granted for three tokens, until 50 remain.
    const { retries } = simulate(budget, 1000, () => true, 3);
    expect(retries).toBe(33);
  });

  it('honours custom options', () => {
    const budget = new TokenBucketRetryBudget({ maxTokens: 10, tokenRatio: 0.5, retryCost: 2 });
    expect(budget.tokens).toBe(10);
    budget.onFailure();
    expect(budget.tokens).toBe(8);
    expect(budget.canRetry()).toBe(true);
    repeat(2, () => budget.onFailure());
    expect(budget.tokens).toBe(4);
    expect(budget.canRetry()).toBe(false);
    repeat(2, () => budget.onSuccess());
    expect(budget.tokens).toBe(5);
    expect(budget.canRetry()).toBe(false);
    budget.onSuccess();
    expect(budget.canRetry()).toBe(true);
  });

  it('rounds options to thousandths, as gRPC does', () => {
    const budget = new TokenBucketRetryBudget({ maxTokens: 10, tokenRatio: 0.1234, retryCost: 1 });
    repeat(10, () => budget.onFailure());
    budget.onSuccess();
    expect(budget.tokens).toBe(0.123);
  });

  it.each<[RetryBudgetOptions, string]>([
    [{ maxTokens: 0 }, 'maxTokens'],
    [{ maxTokens: -5 }, 'maxTokens'],
    [{ maxTokens: Number.NaN }, 'maxTokens'],
    [{ maxTokens: Number.POSITIVE_INFINITY }, 'maxTokens'],
    [{ tokenRatio: 0 }, 'tokenRatio'],
    [{ tokenRatio: 0.0001 }, 'tokenRatio'],
    [{ retryCost: 0 }, 'retryCost'],
    [{ retryCost: '1' as unknown as number }, 'retryCost'],
  ])('rejects invalid options %o (%s)', (options, name) => {
    expect(() => new TokenBucketRetryBudget(options)).toThrow(TypeError);
    expect(() => new TokenBucketRetryBudget(options)).toThrow(name);
  });

  it('stops retrying in the long run when half the first attempts fail, even if retries would succeed', () => {
    const budget = new TokenBucketRetryBudget();
    const n = 100_000;
    // Each pair of requests: one failure (−1), two successes (+0.2): the bucket drains to half.
    const { attempts } = simulate(budget, n, (request, attempt) => attempt === 0 && request % 2 === 0);
    expect(attempts / n).toBeLessThan(1.001);
    expect(budget.canRetry()).toBe(false);
  });

  it('reaches its 1.1 amplification bound only just below the drain rate', () => {
    const budget = new TokenBucketRetryBudget();
    const n = 100_000;
    // 1 in 11 first attempts fails and its retry succeeds: 11 successes (+1.1) per failure (−1).
    const { attempts, retries } = simulate(
      budget,
      n,
      (request, attempt) => attempt === 0 && request % 11 === 0,
    );
    expect(retries).toBe(Math.ceil(n / 11));
    expect(attempts / n).toBeLessThanOrEqual(1.1);
  });

  it('does not throttle when failures are rare', () => {
    const budget = new TokenBucketRetryBudget();
    const n = 10_000;
    // 1 in 20 first attempts fails; each retry succeeds: 0.05 tokens lost per request on average.
    const { retries } = simulate(budget, n, (request, attempt) => attempt === 0 && request % 20 === 0);
    expect(retries).toBe(n / 20);
  });
});

describe('TokenBucketRetryBudget: properties', () => {
  const op = fc.constantFrom('success' as const, 'failure' as const, 'ask' as const);
  const options = fc.record({
    maxTokens: fc.integer({ min: 1, max: 1_000_000 }).map((m) => m / 1000),
    tokenRatio: fc.integer({ min: 1, max: 5000 }).map((m) => m / 1000),
    retryCost: fc.integer({ min: 1, max: 10_000 }).map((m) => m / 1000),
  });

  it('tokens stay within [0, maxTokens] and canRetry() is exactly tokens > maxTokens / 2', () => {
    fc.assert(
      fc.property(fc.option(options, { nil: undefined }), fc.array(op, { maxLength: 400 }), (opts, ops) => {
        const budget = new TokenBucketRetryBudget(opts);
        const max = budget.maxTokens;
        for (const o of ops) {
          if (o === 'success') budget.onSuccess();
          else if (o === 'failure') budget.onFailure();
          expect(budget.tokens).toBeGreaterThanOrEqual(0);
          expect(budget.tokens).toBeLessThanOrEqual(max);
          expect(budget.canRetry()).toBe(budget.tokens > max / 2);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('grants at most 0.1·N + maxTokens/2 retries over N requests, for any failure fraction', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.integer({ min: 1, max: 5000 }),
        fc.integer(),
        fc.integer({ min: 2, max: 10 }),
        (firstFails, retryFails, n, seed, maxAttempts) => {
          const random = mulberry32(seed);
          const budget = new TokenBucketRetryBudget();
          const { retries, attempts } = simulate(
            budget,
            n,
            (_, attempt) => random() < (attempt === 0 ? firstFails : retryFails),
            maxAttempts,
          );
          expect(retries).toBeLessThanOrEqual(0.1 * n + 50);
          expect(attempts).toBeLessThanOrEqual(1.1 * n + 50);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('grants at most (maxTokens/2 + tokenRatio·N) / retryCost retries for any options and any outcome sequence', () => {
    fc.assert(
      fc.property(
        options,
        fc.array(fc.array(fc.boolean(), { minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 300 }),
        (opts, requests) => {
          const budget = new TokenBucketRetryBudget(opts);
          const { retries } = simulate(
            budget,
            requests.length,
            (request, attempt) => requests[request]?.[attempt] ?? true,
            6,
          );
          const bound = (opts.maxTokens / 2 + opts.tokenRatio * requests.length) / opts.retryCost;
          expect(retries).toBeLessThanOrEqual(bound + 1e-9);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('once exhausted, only enough successes reopen it: failures never do', () => {
    // Smaller buckets and larger refunds than `options`, to keep the refill loops short.
    const refillable = fc.record({
      maxTokens: fc.integer({ min: 1, max: 200_000 }).map((m) => m / 1000),
      tokenRatio: fc.integer({ min: 10, max: 5000 }).map((m) => m / 1000),
      retryCost: fc.integer({ min: 1, max: 10_000 }).map((m) => m / 1000),
    });
    fc.assert(
      fc.property(
        refillable,
        fc.array(op, { maxLength: 300 }),
        fc.nat({ max: 50 }),
        (opts, prefix, extra) => {
          const budget = new TokenBucketRetryBudget(opts);
          for (const o of prefix) {
            if (o === 'success') budget.onSuccess();
            else if (o === 'failure') budget.onFailure();
          }
          // Exhaust it, then fail some more: it stays closed.
          while (budget.canRetry()) budget.onFailure();
          repeat(extra, () => budget.onFailure());
          expect(budget.canRetry()).toBe(false);
          // In thousandths (exact): the smallest k with 2·(tokens + k·ratio) > max.
          const tokens = Math.round(budget.tokens * 1000);
          const max = Math.round(opts.maxTokens * 1000);
          const ratio = Math.round(opts.tokenRatio * 1000);
          const needed = Math.floor((max - 2 * tokens) / (2 * ratio)) + 1;
          let successes = 0;
          while (!budget.canRetry()) {
            budget.onSuccess();
            successes++;
          }
          expect(successes).toBe(needed);
        },
      ),
      { numRuns: 300 },
    );
  });
});

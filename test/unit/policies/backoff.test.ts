import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  BACKOFF_DEFAULTS,
  Backoff,
  type BackoffOptions,
  decorrelatedJitter,
  fullJitter,
  MAX_DELAY_MS,
  resolveBackoffOptions,
} from '../../../src/policies/backoff.js';
import type { Random } from '../../../src/policies/types.js';
import { sequence } from '../../helpers/random.js';

const constant =
  (value: number): Random =>
  () =>
    value;

const JUST_BELOW_ONE = 1 - Number.EPSILON / 2;

describe('fullJitter', () => {
  it('doubles the window per attempt up to the cap', () => {
    const half = constant(0.5);
    expect([0, 1, 2, 3, 4, 5, 6].map((n) => fullJitter(n, 500, 8000, half))).toEqual([
      250, 500, 1000, 2000, 4000, 4000, 4000,
    ]);
  });

  it('spans [0, ceiling]', () => {
    expect(fullJitter(0, 500, 8000, constant(0))).toBe(0);
    expect(fullJitter(2, 500, 8000, constant(JUST_BELOW_ONE))).toBeCloseTo(2000, 6);
    expect(fullJitter(2, 500, 8000, constant(JUST_BELOW_ONE))).toBeLessThanOrEqual(2000);
    expect(fullJitter(10, 500, 8000, constant(0.25))).toBe(2000);
  });

  it('treats negative, fractional and NaN attempts sanely', () => {
    const half = constant(0.5);
    expect(fullJitter(-3, 500, 8000, half)).toBe(250);
    expect(fullJitter(Number.NaN, 500, 8000, half)).toBe(250);
    expect(fullJitter(1.9, 500, 8000, half)).toBe(500);
  });

  it('never overflows to NaN or Infinity', () => {
    const half = constant(0.5);
    expect(fullJitter(100_000, 500, 8000, half)).toBe(4000);
    expect(fullJitter(Number.POSITIVE_INFINITY, 500, 8000, half)).toBe(4000);
    expect(fullJitter(100_000, 0, 8000, half)).toBe(0);
    expect(fullJitter(3, 500, Number.POSITIVE_INFINITY, half)).toBe(2000);
    expect(fullJitter(100, 500, Number.POSITIVE_INFINITY, half)).toBe(MAX_DELAY_MS / 2);
    expect(fullJitter(0, Number.NaN, 8000, half)).toBe(0);
    expect(fullJitter(0, -500, 8000, half)).toBe(0);
    expect(fullJitter(5, 500, -1, half)).toBe(0);
  });

  it('clamps a faulty random source into [0, 1]', () => {
    expect(fullJitter(1, 500, 8000, constant(Number.NaN))).toBe(0);
    expect(fullJitter(1, 500, 8000, constant(-2))).toBe(0);
    expect(fullJitter(1, 500, 8000, constant(7))).toBe(1000);
  });
});

describe('decorrelatedJitter', () => {
  it('is uniform in [base, previous·3]', () => {
    expect(decorrelatedJitter(1000, 500, 8000, constant(0))).toBe(500);
    expect(decorrelatedJitter(1000, 500, 8000, constant(0.5))).toBe(1750);
    expect(decorrelatedJitter(1000, 500, 8000, constant(JUST_BELOW_ONE))).toBeCloseTo(3000, 6);
  });

  it('starts from previous = base: [base, 3·base]', () => {
    expect(decorrelatedJitter(500, 500, 8000, constant(0.5))).toBe(1000);
  });

  it('is capped', () => {
    expect(decorrelatedJitter(5000, 500, 8000, constant(0.9))).toBe(8000);
    expect(decorrelatedJitter(1e9, 500, 8000, constant(0.5))).toBe(8000);
  });

  it('never goes below base, even from a tiny previous delay', () => {
    expect(decorrelatedJitter(0, 500, 8000, constant(0.7))).toBe(500);
    expect(decorrelatedJitter(100, 500, 8000, constant(0.99))).toBe(500);
    expect(decorrelatedJitter(Number.NaN, 500, 8000, constant(0.5))).toBe(500);
  });

  it('returns the cap when the cap is below the base', () => {
    expect(decorrelatedJitter(1000, 500, 200, constant(0))).toBe(200);
  });
});

describe('Backoff', () => {
  it('defaults to full jitter, 500 ms base, 8000 ms cap, overload multiplier 2', () => {
    expect(BACKOFF_DEFAULTS).toEqual({ baseMs: 500, capMs: 8000, jitter: 'full', overloadMultiplier: 2 });
    expect(Object.isFrozen(BACKOFF_DEFAULTS)).toBe(true);
    expect(resolveBackoffOptions()).toEqual(BACKOFF_DEFAULTS);
    const backoff = new Backoff(undefined, constant(0.5));
    expect([1, 2, 3, 4, 5, 6].map(() => backoff.next('api_error'))).toEqual([
      250, 500, 1000, 2000, 4000, 4000,
    ]);
  });

  it('counts its attempts, one per next()', () => {
    const backoff = new Backoff({}, constant(0.5));
    expect(backoff.attempts).toBe(0);
    backoff.next();
    backoff.next('rate_limit_error');
    expect(backoff.attempts).toBe(2);
  });

  it('uses the injected random source, once per delay', () => {
    const random = sequence([0, 0.5, 0.25]);
    const backoff = new Backoff({}, random);
    expect([backoff.next(), backoff.next(), backoff.next()]).toEqual([0, 500, 500]);
    expect(random.calls).toBe(3);
  });

  it('backs off harder for overloaded_error: the base is multiplied, the cap is not', () => {
    const plain = new Backoff({}, constant(0.5));
    const overloaded = new Backoff({}, constant(0.5));
    expect([0, 1, 2, 3].map(() => plain.next('api_error'))).toEqual([250, 500, 1000, 2000]);
    expect([0, 1, 2, 3].map(() => overloaded.next('overloaded_error'))).toEqual([500, 1000, 2000, 4000]);
    expect(overloaded.next('overloaded_error')).toBe(4000);
    const triple = new Backoff({ overloadMultiplier: 3 }, constant(0.5));
    expect(triple.next('overloaded_error')).toBe(750);
  });

  it('treats a rate limit like any other failure (its server-given wait is the policy’s to honour)', () => {
    const backoff = new Backoff({}, constant(0.5));
    expect(backoff.next('rate_limit_error')).toBe(250);
  });

  it('shares one attempt counter across error types', () => {
    const backoff = new Backoff({}, constant(0.5));
    expect(backoff.next('api_error')).toBe(250);
    expect(backoff.next('overloaded_error')).toBe(1000);
    expect(backoff.next('connection_error')).toBe(1000);
  });

  it('decorrelated: each delay grows from the previous one, up to the cap', () => {
    const backoff = new Backoff({ jitter: 'decorrelated' }, constant(0.5));
    const delays = [1, 2, 3, 4, 5].map(() => backoff.next('api_error'));
    expect(delays).toEqual([1000, 1750, 2875, 4562.5, 7093.75]);
    expect(backoff.next('api_error')).toBe(8000);
    expect(backoff.next('api_error')).toBe(8000);
  });

  it('decorrelated: overloaded_error raises the floor', () => {
    const backoff = new Backoff({ jitter: 'decorrelated' }, constant(0));
    expect(backoff.next('api_error')).toBe(500);
    expect(backoff.next('overloaded_error')).toBe(1000);
  });

  it('honours custom base and cap', () => {
    const backoff = new Backoff({ baseMs: 100, capMs: 300 }, constant(JUST_BELOW_ONE));
    const delays = [0, 1, 2, 3].map(() => backoff.next());
    expect(delays.map(Math.round)).toEqual([100, 200, 300, 300]);
  });

  it.each<[BackoffOptions, string]>([
    [{ baseMs: -1 }, 'baseMs'],
    [{ baseMs: Number.NaN }, 'baseMs'],
    [{ capMs: Number.POSITIVE_INFINITY }, 'capMs'],
    [{ capMs: '8000' as unknown as number }, 'capMs'],
    [{ jitter: 'none' as unknown as 'full' }, 'jitter'],
    [{ overloadMultiplier: 0.5 }, 'overloadMultiplier'],
    [{ overloadMultiplier: Number.NaN }, 'overloadMultiplier'],
  ])('rejects invalid options %o (%s)', (options, name) => {
    expect(() => new Backoff(options)).toThrow(TypeError);
    expect(() => resolveBackoffOptions(options)).toThrow(name);
  });

  it('accepts zero base and cap (no waiting) and multiplier 1 (no extra overload backoff)', () => {
    expect(new Backoff({ baseMs: 0, capMs: 0 }, constant(0.9)).next()).toBe(0);
    expect(new Backoff({ overloadMultiplier: 1 }, constant(0.5)).next('overloaded_error')).toBe(250);
  });
});

describe('backoff: properties', () => {
  const unitInterval = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true });
  const ms = fc.double({ min: 0, max: 1e7, noNaN: true });

  it('fullJitter is always within [0, min(cap, base·2^n)]', () => {
    fc.assert(
      fc.property(fc.nat({ max: 80 }), ms, ms, unitInterval, (attempt, base, cap, r) => {
        const delay = fullJitter(attempt, base, cap, () => r);
        expect(delay).toBeGreaterThanOrEqual(0);
        expect(delay).toBeLessThanOrEqual(Math.min(cap, base * 2 ** attempt));
      }),
      { numRuns: 1000 },
    );
  });

  it('fullJitter is nondecreasing in the random draw and in the attempt', () => {
    fc.assert(
      fc.property(fc.nat({ max: 40 }), ms, ms, unitInterval, unitInterval, (attempt, base, cap, a, b) => {
        const [lo, hi] = a <= b ? [a, b] : [b, a];
        expect(fullJitter(attempt, base, cap, () => lo)).toBeLessThanOrEqual(
          fullJitter(attempt, base, cap, () => hi),
        );
        expect(fullJitter(attempt, base, cap, () => a)).toBeLessThanOrEqual(
          fullJitter(attempt + 1, base, cap, () => a),
        );
      }),
    );
  });

  it('decorrelatedJitter is always within [base, cap] when cap ≥ base', () => {
    fc.assert(
      fc.property(ms, ms, ms, unitInterval, (previous, a, b, r) => {
        const [base, cap] = a <= b ? [a, b] : [b, a];
        const delay = decorrelatedJitter(previous, base, cap, () => r);
        expect(delay).toBeGreaterThanOrEqual(base);
        expect(delay).toBeLessThanOrEqual(cap);
        expect(delay).toBeLessThanOrEqual(Math.max(base, previous * 3));
      }),
      { numRuns: 1000 },
    );
  });

  it('Backoff.next stays within [0, cap] (and ≥ base when decorrelated) for any sequence of failures', () => {
    fc.assert(
      fc.property(
        fc.record({
          baseMs: fc.integer({ min: 0, max: 5000 }),
          capMs: fc.integer({ min: 0, max: 60_000 }),
          jitter: fc.constantFrom('full' as const, 'decorrelated' as const),
          overloadMultiplier: fc.double({ min: 1, max: 10, noNaN: true }),
        }),
        fc.array(
          fc.tuple(fc.constantFrom('overloaded_error', 'api_error', 'rate_limit_error'), unitInterval),
          {
            minLength: 1,
            maxLength: 30,
          },
        ),
        (options, failures) => {
          const draws = failures.map(([, r]) => r);
          const backoff = new Backoff(options, sequence(draws));
          failures.forEach(([type, r], n) => {
            const delay = backoff.next(type);
            expect(delay).toBeGreaterThanOrEqual(0);
            expect(delay).toBeLessThanOrEqual(options.capMs);
            const base =
              type === 'overloaded_error' ? options.baseMs * options.overloadMultiplier : options.baseMs;
            if (options.jitter === 'full') {
              expect(delay).toBeCloseTo(r * Math.min(options.capMs, base * 2 ** n), 6);
            } else if (options.capMs >= base) {
              expect(delay).toBeGreaterThanOrEqual(base);
            }
          });
          expect(backoff.attempts).toBe(failures.length);
        },
      ),
      { numRuns: 300 },
    );
  });
});

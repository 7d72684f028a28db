/**
 * Exponential backoff with jitter, as pure functions of an injected {@link Random} (tests pass a
 * seeded or constant source; nothing here reads a clock or sleeps).
 *
 * Both jitters follow the AWS Architecture Blog's "Exponential Backoff And Jitter" (Marc Brooker,
 * 2015). Full jitter is the default: in that analysis it needs the fewest calls in total and
 * finishes soonest when many clients contend, because it spreads retries over the whole window.
 * Decorrelated jitter grows each delay from the previous one rather than from the attempt number.
 */
import { isOverload } from './classify.js';
import type { ErrorType, Random } from './types.js';

/**
 * The largest delay returned, in ms: 2³¹ − 1 (about 24.8 days), the most `setTimeout` honours
 * (Node.js fires a larger delay after 1 ms). Every input is clamped to [0, this]; NaN counts as 0.
 */
export const MAX_DELAY_MS = 2_147_483_647;

function clampMs(ms: number): number {
  return ms > 0 ? Math.min(ms, MAX_DELAY_MS) : 0;
}

/** `random()` clamped to [0, 1] (NaN counts as 0), so a faulty source cannot leave the range. */
function unit(random: Random): number {
  const r = random();
  return r > 0 ? Math.min(r, 1) : 0;
}

/**
 * Full jitter: a delay uniform in [0, min(cap, base·2^attempt)] ms.
 *
 * @param attempt 0 for the first retry, 1 for the second, … (negative or NaN count as 0).
 * @param baseMs The ceiling of the first retry's window.
 * @param capMs The largest ceiling.
 * @param random Uniform in [0, 1), e.g. `Math.random`.
 */
export function fullJitter(attempt: number, baseMs: number, capMs: number, random: Random): number {
  const n = attempt > 0 ? Math.min(Math.floor(attempt), 1023) : 0;
  const ceiling = Math.min(clampMs(capMs), clampMs(baseMs) * 2 ** n);
  return unit(random) * ceiling;
}

/**
 * Decorrelated jitter: min(cap, a delay uniform in [base, previous·3]) ms, so each delay grows from
 * the one before (start with `previousMs = baseMs`). When `previousMs·3 < baseMs` the window is
 * just `base`. The result is within [base, cap] when cap ≥ base, else it is cap.
 *
 * @param previousMs The previous delay (`baseMs` before the first retry).
 * @param baseMs The smallest delay.
 * @param capMs The largest delay.
 * @param random Uniform in [0, 1), e.g. `Math.random`.
 */
export function decorrelatedJitter(
  previousMs: number,
  baseMs: number,
  capMs: number,
  random: Random,
): number {
  const base = clampMs(baseMs);
  const high = Math.max(base, clampMs(previousMs) * 3);
  return Math.min(clampMs(capMs), base + unit(random) * (high - base));
}

/** Options of the retry backoff: exponential growth with jitter between `baseMs` and `capMs`. */
export interface BackoffOptions {
  /** The first retry's window (full jitter) or smallest delay (decorrelated), in ms. Default 500. */
  baseMs?: number;
  /** The largest delay in ms. Default 8000 (the SDK's cap). */
  capMs?: number;
  /**
   * `'full'` (default: fewest calls and fastest completion under contention, per the AWS analysis)
   * or `'decorrelated'` (each delay grows from the previous one).
   * @default 'full'
   */
  jitter?: 'full' | 'decorrelated';
  /**
   * For `overloaded_error` (529) the base is multiplied by this (≥ 1), so an overloaded API is
   * given more room than other failures; the cap stays. Default 2.
   */
  overloadMultiplier?: number;
}

/** The defaults of {@link BackoffOptions}. */
export const BACKOFF_DEFAULTS: Readonly<Required<BackoffOptions>> = Object.freeze({
  baseMs: 500,
  capMs: 8000,
  jitter: 'full',
  overloadMultiplier: 2,
});

/**
 * The options with their defaults filled in. Call it when a policy is created, so an invalid
 * option fails there rather than on the first retry.
 *
 * @throws TypeError when `baseMs` or `capMs` is not a finite number ≥ 0, `jitter` is not `'full'`
 *   or `'decorrelated'`, or `overloadMultiplier` is not a finite number ≥ 1.
 */
export function resolveBackoffOptions(options: BackoffOptions = {}): Readonly<Required<BackoffOptions>> {
  const resolved = {
    baseMs: options.baseMs ?? BACKOFF_DEFAULTS.baseMs,
    capMs: options.capMs ?? BACKOFF_DEFAULTS.capMs,
    jitter: options.jitter ?? BACKOFF_DEFAULTS.jitter,
    overloadMultiplier: options.overloadMultiplier ?? BACKOFF_DEFAULTS.overloadMultiplier,
  };
  for (const name of ['baseMs', 'capMs'] as const) {
    const value = resolved[name];
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
      throw new TypeError(`backoff.${name} must be a finite number >= 0, got ${String(value)}`);
    }
  }
  if (resolved.jitter !== 'full' && resolved.jitter !== 'decorrelated') {
    throw new TypeError(`backoff.jitter must be 'full' or 'decorrelated', got ${String(resolved.jitter)}`);
  }
  const m = resolved.overloadMultiplier;
  if (typeof m !== 'number' || !Number.isFinite(m) || m < 1) {
    throw new TypeError(`backoff.overloadMultiplier must be a finite number >= 1, got ${String(m)}`);
  }
  return resolved;
}

/**
 * The delays of one operation's retries. Create one per operation (it counts that operation's
 * retries and remembers its previous delay); it holds no timers and never sleeps.
 *
 * A server-given wait (`retryAfterS` of the classification, e.g. on a 429) is the retry policy's
 * to honour instead of {@link Backoff.next}; this class only computes the policy's own delays.
 */
export class Backoff {
  readonly #options: Readonly<Required<BackoffOptions>>;
  readonly #random: Random;
  #attempts = 0;
  #previousMs: number | undefined;

  /**
   * @param options Defaults: {@link BACKOFF_DEFAULTS} (500 ms base, 8000 ms cap, full jitter,
   *   overload multiplier 2).
   * @param random Uniform in [0, 1). Default `Math.random`.
   * @throws TypeError as {@link resolveBackoffOptions}.
   */
  constructor(options: BackoffOptions = {}, random: Random = Math.random) {
    this.#options = resolveBackoffOptions(options);
    this.#random = random;
  }

  /** How many delays {@link Backoff.next} has returned: the retries so far. */
  get attempts(): number {
    return this.#attempts;
  }

  /**
   * The delay in ms before the next retry, after a failure of type `errorType` (an
   * `overloaded_error` multiplies the base by `overloadMultiplier`).
   */
  next(errorType?: ErrorType): number {
    const { baseMs, capMs, jitter, overloadMultiplier } = this.#options;
    const base = isOverload(errorType) ? baseMs * overloadMultiplier : baseMs;
    const delay =
      jitter === 'full'
        ? fullJitter(this.#attempts, base, capMs, this.#random)
        : decorrelatedJitter(this.#previousMs ?? base, base, capMs, this.#random);
    this.#attempts++;
    this.#previousMs = delay;
    return delay;
  }
}

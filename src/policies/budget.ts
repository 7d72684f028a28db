/**
 * A client-wide retry budget: bounds how many retries a whole client may add, so a failing API is
 * not hit by every caller's retries at once (a retry storm).
 *
 * {@link TokenBucketRetryBudget} is gRPC's retry throttling (gRFC A6): a bucket of `maxTokens` that
 * starts full; each retryable failure takes `retryCost`, each success puts back `tokenRatio`, and
 * a retry is allowed only while more than half the bucket is left. Over any sequence of N
 * operations it grants at most `(maxTokens / 2 + tokenRatio · N) / retryCost` retries, so in the
 * long run retries add at most `tokenRatio` (10 % by default) to the traffic, however many first
 * attempts fail. Since every retryable failure costs (retried or not), the bucket drains once
 * there are more than `tokenRatio / retryCost` failures per success (0.1), and retries then stop
 * until the failure rate falls; the half kept in reserve lets them resume as soon as successes refill it.
 *
 * Why this one, not the others:
 * - The AWS SDKs' retry quota (standard mode: 500 tokens, a retry costs 5, a first-attempt success
 *   refunds 1 and a successful retry its whole cost) is the same family but looser: it may spend
 *   the whole quota (a burst of 100 retries), and retries that succeed are free, so while first
 *   attempts fail and retries succeed it never throttles and traffic doubles.
 * - Google SRE adaptive throttling (`p = max(0, (requests − K·accepts) / (requests + 1))`) rejects
 *   first attempts too, over a sliding time window: a load shedder that needs a clock, and
 *   rejecting first attempts is not a retry policy's call.
 * - Envoy's retry budget (active retries ≤ 20 % of active requests) bounds concurrency, not
 *   totals, and needs in-flight counts that a client-side fetch wrapper tracks poorly.
 * The token bucket is deterministic (no clock, no randomness), O(1), and its bound holds for any
 * order of successes and failures, which is what the property tests prove.
 *
 * Tokens are counted in thousandths (integers), as gRPC does (`tokenRatio` has three decimals), so
 * 500 refunds of 0.1 are exactly 50 and never drift to 49.999….
 */

/** Tokens are stored as integer thousandths. */
const SCALE = 1000;

/** Options of the retry budget: a token bucket in the manner of gRPC retry throttling. */
export interface RetryBudgetOptions {
  /** The bucket's size; it starts full, and retries stop at half. Default 100. */
  maxTokens?: number;
  /** Tokens put back per success, rounded to three decimals (as gRPC). Default 0.1. */
  tokenRatio?: number;
  /** Tokens taken per retryable failure. Default 1. */
  retryCost?: number;
}

/** The defaults of {@link RetryBudgetOptions}. */
export const RETRY_BUDGET_DEFAULTS: Readonly<Required<RetryBudgetOptions>> = Object.freeze({
  maxTokens: 100,
  tokenRatio: 0.1,
  retryCost: 1,
});

/**
 * A retry budget shared by every operation of a client. Protocol: after each attempt call
 * {@link RetryBudget.onSuccess} (success) or {@link RetryBudget.onFailure} (retryable failure;
 * other outcomes call neither), then ask {@link RetryBudget.canRetry} before retrying. Asking does
 * not spend anything: the cost was paid by the failure.
 */
export interface RetryBudget {
  /** Whether a retry is allowed now: while tokens > maxTokens / 2. */
  canRetry(): boolean;
  /** Records a successful attempt: puts back `tokenRatio` tokens, up to `maxTokens`. */
  onSuccess(): void;
  /** Records a retryable failure: takes `retryCost` tokens, down to 0. */
  onFailure(): void;
  /** The tokens left, within [0, maxTokens]. */
  readonly tokens: number;
}

/** A positive finite option in thousandths, or a TypeError. */
function milli(name: string, value: unknown): number {
  const scaled = typeof value === 'number' ? Math.round(value * SCALE) : Number.NaN;
  if (!Number.isFinite(scaled) || scaled < 1 || scaled > Number.MAX_SAFE_INTEGER / 2) {
    throw new TypeError(`retryBudget.${name} must be a finite number >= 0.001, got ${String(value)}`);
  }
  return scaled;
}

/**
 * gRPC-style token-bucket retry throttling (see the module comment). Starts full; tokens stay in
 * [0, maxTokens].
 */
export class TokenBucketRetryBudget implements RetryBudget {
  readonly #max: number;
  readonly #ratio: number;
  readonly #cost: number;
  #milli: number;

  /**
   * @param options Defaults: {@link RETRY_BUDGET_DEFAULTS} (100 tokens, 0.1 per success, 1 per
   *   failure).
   * @throws TypeError when an option is not a finite number of at least 0.001.
   */
  constructor(options: RetryBudgetOptions = {}) {
    this.#max = milli('maxTokens', options.maxTokens ?? RETRY_BUDGET_DEFAULTS.maxTokens);
    this.#ratio = milli('tokenRatio', options.tokenRatio ?? RETRY_BUDGET_DEFAULTS.tokenRatio);
    this.#cost = milli('retryCost', options.retryCost ?? RETRY_BUDGET_DEFAULTS.retryCost);
    this.#milli = this.#max;
  }

  /** The tokens left, within [0, maxTokens]. */
  get tokens(): number {
    return this.#milli / SCALE;
  }

  /** The bucket's size (as configured, to three decimals). */
  get maxTokens(): number {
    return this.#max / SCALE;
  }

  canRetry(): boolean {
    return this.#milli * 2 > this.#max;
  }

  onSuccess(): void {
    const next = this.#milli + this.#ratio;
    this.#milli = Math.min(next, this.#max);
  }

  onFailure(): void {
    const next = this.#milli - this.#cost;
    this.#milli = Math.max(next, 0);
  }
}

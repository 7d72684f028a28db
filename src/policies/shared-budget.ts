/**
 * The retry budget shared by a fleet: the same token bucket as {@link TokenBucketRetryBudget}
 * (gRPC retry throttling), its tokens held by the fleet store.
 *
 * The hot path stays synchronous: `canRetry()` reads a local mirror of the fleet's tokens, and
 * `onSuccess()` / `onFailure()` change the mirror at once and queue the change. Queued changes are
 * written behind as one atomic add (`budgetAdd`, clamped to [0, max]) with at most one write in
 * flight; its answer (the fleet's tokens) becomes the mirror, plus what was queued meanwhile. So the
 * mirror lags the fleet by at most one store round trip of the other processes' changes, and a
 * process can overshoot the fleet's budget by at most the retries it allows within that lag. While
 * the store is degraded, the mirror simply goes on as a local budget.
 */
import type { StoreGuard } from '../store/guard.js';
import { RETRY_BUDGET_DEFAULTS, type RetryBudget, type RetryBudgetOptions } from './budget.js';

const SCALE = 1000;

function milli(name: string, value: number): number {
  const scaled = Math.round(value * SCALE);
  if (!Number.isFinite(scaled) || scaled < 1 || scaled > Number.MAX_SAFE_INTEGER / 2) {
    throw new TypeError(`retryBudget.${name} must be a finite number >= 0.001, got ${String(value)}`);
  }
  return scaled;
}

export class SharedRetryBudget implements RetryBudget {
  readonly #guard: StoreGuard;
  readonly #name: string;
  readonly #max: number;
  readonly #ratio: number;
  readonly #cost: number;
  #mirror: number;
  #pending = 0;
  #writing = false;

  /** @param name The budget's name in the store (one per client configuration). */
  constructor(guard: StoreGuard, name: string, options: RetryBudgetOptions = {}) {
    this.#guard = guard;
    this.#name = name;
    this.#max = milli('maxTokens', options.maxTokens ?? RETRY_BUDGET_DEFAULTS.maxTokens);
    this.#ratio = milli('tokenRatio', options.tokenRatio ?? RETRY_BUDGET_DEFAULTS.tokenRatio);
    this.#cost = milli('retryCost', options.retryCost ?? RETRY_BUDGET_DEFAULTS.retryCost);
    this.#mirror = this.#max;
    // Learn the fleet's level now rather than at the first change.
    this.#flush();
  }

  get tokens(): number {
    return this.#mirror / SCALE;
  }

  canRetry(): boolean {
    return this.#mirror * 2 > this.#max;
  }

  onSuccess(): void {
    this.#change(this.#ratio);
  }

  onFailure(): void {
    this.#change(-this.#cost);
  }

  #change(delta: number): void {
    this.#mirror = Math.min(this.#max, Math.max(0, this.#mirror + delta));
    this.#pending += delta;
    this.#flush();
  }

  #flush(): void {
    if (this.#writing) return;
    this.#writing = true;
    const delta = this.#pending;
    this.#pending = 0;
    void this.#guard
      .call('budget', this.#name, (store) => store.budgetAdd(this.#name, delta, this.#max))
      .then((fleet) => {
        this.#writing = false;
        if (fleet !== undefined) {
          this.#mirror = Math.min(this.#max, Math.max(0, fleet + this.#pending));
        }
        if (this.#pending !== 0) this.#flush();
      });
  }
}

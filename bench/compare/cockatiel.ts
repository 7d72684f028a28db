/**
 * The cockatiel anchor of the comparison: the policy stack cockatiel's README builds — `retry` with
 * `maxAttempts: 3` (three retries after the first attempt) and an `ExponentialBackoff`, a `circuitBreaker` with a `ConsecutiveBreaker(5)` and
 * `halfOpenAfter: 10 s` — plus its own aggressive `timeout` per attempt, wrapped around each SDK call
 * (the SDK told not to retry). It handles what the SDK would retry (408, 409, 429, 5xx, connection
 * errors, its own timeout) rather than `handleAll`, so a 400 is not resent. Its durations run on the
 * same scale as our policies' clock in the resilience benchmark (`scale` real ms per ms).
 */
import { APIConnectionError, APIError } from '@anthropic-ai/sdk';
import {
  CircuitState,
  ConsecutiveBreaker,
  circuitBreaker,
  ExponentialBackoff,
  handleWhen,
  retry,
  TaskCancelledError,
  TimeoutStrategy,
  timeout,
  wrap,
} from 'cockatiel';
import type { CallPolicy, Transition } from '../resilience/harness.js';
import { nowEpochMs } from '../shared.js';

/** What the stack retries and counts as a failure: the SDK's retryable errors and its own timeout. */
export const retryableError = (error: unknown): boolean =>
  error instanceof APIConnectionError ||
  (error instanceof APIError &&
    typeof error.status === 'number' &&
    (error.status === 408 || error.status === 409 || error.status === 429 || error.status >= 500));

const STATE: Record<CircuitState, string> = {
  [CircuitState.Closed]: 'closed',
  [CircuitState.Open]: 'open',
  [CircuitState.HalfOpen]: 'half_open',
  [CircuitState.Isolated]: 'open',
};

export interface CockatielStack {
  /** The README's settings, in real ms before scaling. */
  readonly settings: string;
  policy: CallPolicy;
}

/** A fresh stack (its own breaker); `breakerKey` names its transitions like our breaker keys. */
export function cockatielStack(scale: number, breakerKey: string): CockatielStack {
  const handled = handleWhen(retryableError).orType(TaskCancelledError);
  const retries = retry(handled, {
    maxAttempts: 3,
    backoff: new ExponentialBackoff({ initialDelay: 128 * scale, maxDelay: 30_000 * scale }),
  });
  const breaker = circuitBreaker(handled, {
    halfOpenAfter: 10_000 * scale,
    breaker: new ConsecutiveBreaker(5),
  });
  const perAttempt = timeout(60_000 * scale, TimeoutStrategy.Aggressive);
  // Outermost first, as in the README: retries call through the breaker, each attempt under the timeout.
  const stack = wrap(retries, breaker, perAttempt);
  const listeners: Array<(transition: Transition) => void> = [];
  let state = 'closed';
  breaker.onStateChange((next) => {
    const transition = { at: nowEpochMs(), key: breakerKey, from: state, to: STATE[next] };
    state = transition.to;
    for (const listener of listeners) listener(transition);
  });
  return {
    settings:
      'retry(maxAttempts 3 = up to 4 attempts, ExponentialBackoff 128 ms … 30 s) → circuitBreaker(ConsecutiveBreaker(5), halfOpenAfter 10 s) → timeout(60 s, aggressive), handling 408/409/429/5xx/connection errors/its timeout',
    policy: {
      execute: (fn) => stack.execute(({ signal }) => fn(signal)),
      onTransition: (listener) => listeners.push(listener),
    },
  };
}

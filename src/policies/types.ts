/**
 * Shared shapes of the resilience policies. Every policy is a small state machine driven by an
 * injected clock and random source, so tests move time instead of sleeping.
 */

/** Time source in milliseconds (monotonic enough for durations). Default: `performance.now()`. */
export interface Clock {
  /** The current time, in milliseconds. */
  now(): number;
  /** Resolves after `ms` (or rejects with the signal's reason when it aborts first). */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  /** Calls `fn` once after `ms` unless cancelled first. Timers never keep the process alive. */
  setTimer(fn: () => void, ms: number): Timer;
}

/** A pending {@link Clock.setTimer} call. */
export interface Timer {
  /** Cancels the call if it has not run yet. */
  cancel(): void;
}

/** Uniform random numbers in [0, 1). Default: `Math.random`. */
export type Random = () => number;

/**
 * The error types of the failure taxonomy: the API's own (`overloaded_error`, `rate_limit_error`,
 * `api_error`, …) and ours for failures without an API body.
 */
export type ErrorType = string;

/** What happened to one attempt, as the policies see it. */
export type AttemptOutcome =
  | { kind: 'response'; status: number; headers: Headers; errorType: ErrorType | undefined }
  | { kind: 'error'; error: unknown; errorType: ErrorType };

/** The classification of an outcome, used by every policy. */
export interface Classification {
  /** `undefined` for a success. */
  errorType: ErrorType | undefined;
  /** Whether another attempt may succeed. */
  retryable: boolean;
  /** Whether it counts toward a circuit breaker's failures. */
  countsAsFailure: boolean;
  /** Seconds the server asked to wait (`retry-after-ms` / `retry-after`), when it did. */
  retryAfterS: number | undefined;
}

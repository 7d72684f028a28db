/**
 * The failure taxonomy: one function, {@link classify}, turns what happened to an attempt into the
 * three facts every policy needs (is it retryable, does it count against a circuit breaker, did
 * the server say how long to wait). Retry, breaker, budget and fallback policies all read it, so
 * they never disagree about what a failure is.
 */
import { parseRetryAfter, parseShouldRetry } from '../telemetry/headers.js';
import type { AttemptOutcome, Classification, ErrorType } from './types.js';

/** One row of the {@link TAXONOMY}. */
export interface TaxonomyEntry {
  /** The `error.type` the row is about. */
  readonly errorType: ErrorType;
  /**
   * Where the error type comes from: the HTTP status it is named after; `'other 4xx'` /
   * `'other 5xx'` for the catch-all rows; `undefined` for thrown errors (no response).
   */
  readonly status: number | 'other 4xx' | 'other 5xx' | undefined;
  /** Whether another attempt may succeed (`x-should-retry` overrides it for responses). */
  readonly retryable: boolean;
  /**
   * Whether it counts toward a circuit breaker's failures, by default (for `rate_limit_error`,
   * the breaker's `rateLimitCountsAsFailure` decides).
   */
  readonly countsAsFailure: boolean;
  /** One line on why, for the README. */
  readonly note: string;
}

/**
 * The failure taxonomy as data, one row per error type, in the order the README renders it:
 * response statuses first (4xx, then 5xx), then the error types of thrown errors.
 *
 * Rules for responses: a status below 400 is a success. The status decides `retryable` and
 * `countsAsFailure`; the error type is the API's own (read from the body, e.g. `overloaded_error`)
 * or, when the body has none (proxies answer with HTML or nothing), the status code as a string
 * (the attempt's `error.type`, as the HTTP semantic conventions say), the row's name only when the
 * attempt recorded no error type at all.
 * `x-should-retry: true|false` overrides `retryable` either way, never `countsAsFailure`.
 *
 * Rules for thrown errors: the error type picks the row. An API error type thrown after the
 * headers (an SSE `event: error`, typically `overloaded_error`) is classified like its status.
 * Error types not in the table: not retryable, counts as a failure.
 *
 * A 5xx response whose body names one of our own error types (the rows without a status: the
 * error responses the policies answer the SDK with, e.g. `circuit_open` as a 503) takes that row
 * rather than its status's, so a breaker never counts its own rejections as failures.
 *
 * 409 is retried (as the SDK does) but does not count toward a breaker: it is a lock conflict on
 * the caller's resource, not a sign that the service is unhealthy.
 */
export const TAXONOMY: readonly TaxonomyEntry[] = Object.freeze([
  row('invalid_request_error', 400, false, false, 'The request is malformed: resending it fails again.'),
  row('authentication_error', 401, false, false, 'Bad or missing API key.'),
  row('billing_error', 402, false, false, 'Billing problem on the account.'),
  row('permission_error', 403, false, false, 'The key may not use this resource.'),
  row('not_found_error', 404, false, false, 'Unknown resource or model.'),
  row('request_timeout', 408, true, true, 'The server timed out waiting for the request.'),
  row('conflict', 409, true, false, 'Lock conflict: retried as the SDK does; not a sign of ill health.'),
  row('request_too_large', 413, false, false, 'The request exceeds the size limit.'),
  row('unprocessable_entity', 422, false, false, 'Well-formed but semantically invalid request.'),
  row(
    'rate_limit_error',
    429,
    true,
    false,
    'Rate limited: wait as told (retry-after). Counts as a failure only with rateLimitCountsAsFailure.',
  ),
  row('client_error', 'other 4xx', false, false, 'Any other 4xx: the caller must change the request.'),
  row('api_error', 500, true, true, 'Internal server error.'),
  row('bad_gateway', 502, true, true, 'A proxy in front of the API failed.'),
  row('service_unavailable', 503, true, true, 'The service or a proxy is unavailable.'),
  row('timeout_error', 504, true, true, 'The request timed out on the server side.'),
  row('overloaded_error', 529, true, true, 'The API is overloaded: back off harder than for other errors.'),
  row('server_error', 'other 5xx', true, true, 'Any other status of 500 or more.'),
  row('aborted', undefined, false, false, "The caller's own abort: never retried, never a failure."),
  row('connection_error', undefined, true, true, 'Connection refused, reset or dropped.'),
  row('timeout', undefined, true, true, "undici's own connect, headers or body timeout."),
  row('connect_timeout', undefined, true, true, 'Our connect timeout fired.'),
  row(
    'first_chunk_timeout',
    undefined,
    false,
    true,
    'Our time-to-first-chunk timeout fired after the response reached the consumer: the stream errors with a ClaudeTimeoutError; only `resume` continues it.',
  ),
  row(
    'idle_timeout',
    undefined,
    false,
    true,
    'Our idle timeout between chunks fired after the response reached the consumer: the stream errors with a ClaudeTimeoutError; only `resume` continues it.',
  ),
  row('total_timeout', undefined, false, true, 'Our total timeout fired: the deadline is spent.'),
  row('circuit_open', undefined, false, false, 'Rejected by an open circuit breaker without a request.'),
  row(
    'retry_after_exceeds_deadline',
    undefined,
    false,
    false,
    'The server asked for a longer wait than the deadline leaves.',
  ),
  row(
    'throttled',
    undefined,
    false,
    false,
    'Held back by the proactive throttle: the rate-limit headroom would not come back within maxWaitMs or the deadline (answered as a 429).',
  ),
]);

function row(
  errorType: ErrorType,
  status: TaxonomyEntry['status'],
  retryable: boolean,
  countsAsFailure: boolean,
  note: string,
): TaxonomyEntry {
  return Object.freeze({ errorType, status, retryable, countsAsFailure, note });
}

/** Rows by their numeric status. */
const BY_STATUS = new Map<number, TaxonomyEntry>();
/** Rows by error type. */
const BY_TYPE = new Map<ErrorType, TaxonomyEntry>();
for (const entry of TAXONOMY) {
  BY_TYPE.set(entry.errorType, entry);
  if (typeof entry.status === 'number') BY_STATUS.set(entry.status, entry);
}
const CLIENT_ERROR = TAXONOMY.find((entry) => entry.status === 'other 4xx')!;
const SERVER_ERROR = TAXONOMY.find((entry) => entry.status === 'other 5xx')!;

/** Options of {@link classify}. */
export interface ClassifyOptions {
  /**
   * Whether a `rate_limit_error` (429) counts toward a circuit breaker's failures. Default `false`:
   * a rate limit says the caller is too fast, not that the service is unhealthy, and it has its own
   * remedy (wait as told). Set it when an open breaker should shed load while rate limited.
   */
  rateLimitCountsAsFailure?: boolean;
}

/** The row for a response status of 400 or more. */
function entryForStatus(status: number): TaxonomyEntry {
  return BY_STATUS.get(status) ?? (status < 500 ? CLIENT_ERROR : SERVER_ERROR);
}

function countsAsFailure(entry: TaxonomyEntry, options: ClassifyOptions | undefined): boolean {
  return entry.status === 429 ? (options?.rateLimitCountsAsFailure ?? false) : entry.countsAsFailure;
}

/**
 * Classifies one attempt's outcome by the {@link TAXONOMY}.
 *
 * - Response with a status below 400: a success (`errorType` `undefined`, not retryable, not a
 *   failure, no `retryAfterS`: a success never asks for a wait).
 * - Other responses: `errorType` is `outcome.errorType` (the API's, from the body) or the name for
 *   the status; `retryable` and `countsAsFailure` follow the status (408, 409, 429 and ≥ 500 are
 *   retryable; every other 4xx is not), or for a 5xx whose body names one of our own error
 *   types (a policy's response) that row; then `x-should-retry: true|false` overrides `retryable`;
 *   `retryAfterS` comes from `retry-after-ms` / `retry-after` (relative to `nowMs`, epoch ms).
 * - Thrown errors: the row of `outcome.errorType`; unknown types are not retryable and count as
 *   failures. `retryAfterS` is `undefined`.
 *
 * @param nowMs Wall-clock time in epoch milliseconds (`Date.now()`), for HTTP-date `retry-after`.
 * @param options Default: `rateLimitCountsAsFailure: false`.
 */
export function classify(outcome: AttemptOutcome, nowMs: number, options?: ClassifyOptions): Classification {
  if (outcome.kind === 'response') {
    const { status, headers } = outcome;
    if (status < 400) {
      return { errorType: undefined, retryable: false, countsAsFailure: false, retryAfterS: undefined };
    }
    // The policies answer with 5xx; a 4xx is never retried on the strength of its body.
    const own = status >= 500 && outcome.errorType !== undefined ? BY_TYPE.get(outcome.errorType) : undefined;
    const entry = own !== undefined && own.status === undefined ? own : entryForStatus(status);
    return {
      errorType: outcome.errorType ?? entry.errorType,
      retryable: parseShouldRetry(headers) ?? entry.retryable,
      countsAsFailure: countsAsFailure(entry, options),
      retryAfterS: parseRetryAfter(headers, nowMs),
    };
  }
  const entry = BY_TYPE.get(outcome.errorType);
  if (entry === undefined) {
    return { errorType: outcome.errorType, retryable: false, countsAsFailure: true, retryAfterS: undefined };
  }
  return {
    errorType: outcome.errorType,
    retryable: entry.retryable,
    countsAsFailure: countsAsFailure(entry, options),
    retryAfterS: undefined,
  };
}

/**
 * Whether an error type is a rate limit (`rate_limit_error`, 429): the caller is too fast, so the
 * retry waits as the server told it (`retry-after`) rather than by its own backoff.
 */
export function isRateLimit(errorType: ErrorType | undefined): boolean {
  return errorType === 'rate_limit_error';
}

/**
 * Whether an error type is an overload (`overloaded_error`, 529, also as an SSE `event: error`):
 * the whole API is struggling, so retries back off harder (see `BackoffOptions.overloadMultiplier`).
 */
export function isOverload(errorType: ErrorType | undefined): boolean {
  return errorType === 'overloaded_error';
}

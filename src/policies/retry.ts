/**
 * The retry policy: retries what the taxonomy calls transient, with exponential backoff and jitter
 * (or the server's `retry-after`), within the attempts, the client-wide retry budget and the
 * operation's deadline; and tells the SDK not to retry on top (`x-should-retry: false`), so one SDK
 * call never makes more than `maxAttempts` HTTP attempts whatever its own `maxRetries`.
 */
import type { Attributes, SpanContext } from '@opentelemetry/api';
import { answered, decide, type Policy } from '../pipeline.js';
import type { AttemptHandle, AttemptPlan } from '../recorder.js';
import { A, EVENTS } from '../telemetry/names.js';
import { Backoff, type BackoffOptions } from './backoff.js';
import type { RetryBudget } from './budget.js';
import { classify, isRateLimit } from './classify.js';
import { ClaudeTimeoutError, type PolicyErrorType, policyResponse, withShouldRetry } from './errors.js';
import type { Classification } from './types.js';

/** Options of the retry policy (`createClaudeFetch({ retry })`). */
export interface RetryOptions {
  /** Most HTTP attempts for one operation, the first included. Default `3` (the SDK's default too). */
  maxAttempts?: number;
  /**
   * Backoff: base 500 ms, cap 8 s, full jitter, ×2 base for `overloaded_error` (529).
   * @default { baseMs: 500, capMs: 8000, jitter: 'full', overloadMultiplier: 2 }
   */
  backoff?: BackoffOptions;
  /**
   * The longest server-requested wait (`retry-after-ms` / `retry-after`) that is honoured, in ms,
   * with or without a deadline. A longer one is taken for a mistake and replaced by the backoff (a
   * `retry-after` date in the past is not a wait either: backoff too). When `timeouts.totalMs` is set
   * and the server's wait passes the deadline, the operation fails at once with
   * `retry_after_exceeds_deadline` instead. Default `60_000` (60 s).
   */
  maxRetryAfterMs?: number;
}

/** The default of {@link RetryOptions.maxRetryAfterMs}. */
export const DEFAULT_MAX_RETRY_AFTER_MS = 60_000;

/** Classifies what an attempt gave (a response, or what fetch threw). */
export function classifyHandle(handle: AttemptHandle): Classification {
  if (handle.ok) {
    return classify(
      {
        kind: 'response',
        status: handle.response.status,
        headers: handle.response.headers,
        errorType: handle.errorType,
      },
      Date.now(),
    );
  }
  return classify(
    { kind: 'error', error: handle.error, errorType: handle.errorType ?? 'connection_error' },
    Date.now(),
  );
}

/**
 * The last word of an operation that failed after our retries: the API's response with
 * `x-should-retry: false`, or, for a failure without a response (connection error, timeout), an
 * answer in the API's format (see `errors.ts`), so the SDK adds no retry of its own. A caller's
 * abort is rethrown as it is.
 */
export function finalFailure(plan: AttemptPlan, handle: AttemptHandle, errorType: string): AttemptHandle {
  if (handle.ok) {
    if (handle.response.headers.get('x-should-retry') === 'false') return handle;
    return { ...handle, response: withShouldRetry(handle.response, false) };
  }
  if (errorType === 'aborted') return handle;
  const error = handle.error;
  const message =
    error instanceof ClaudeTimeoutError
      ? error.message
      : `claude-otel-middleware: ${errorType.replace(/_/g, ' ')} (${error instanceof Error ? error.message : String(error)})`;
  const response = policyResponse(errorType as PolicyErrorType, message, { retryable: false });
  return { ...answered(plan, response, errorType), done: handle.done, spanContext: handle.spanContext };
}

/** The retry policy. `budget` is shared by every operation of the client (undefined: unlimited). */
export function retryPolicy(options: RetryOptions, budget: RetryBudget | undefined): Policy {
  const maxAttemptsOption = options.maxAttempts ?? 3;
  if (!Number.isInteger(maxAttemptsOption) || maxAttemptsOption < 1) {
    throw new TypeError(`retry.maxAttempts must be an integer ≥ 1, got ${String(options.maxAttempts)}`);
  }
  const maxRetryAfterMs = options.maxRetryAfterMs ?? DEFAULT_MAX_RETRY_AFTER_MS;
  if (typeof maxRetryAfterMs !== 'number' || Number.isNaN(maxRetryAfterMs) || maxRetryAfterMs < 0) {
    throw new TypeError(
      `retry.maxRetryAfterMs must be a number of milliseconds >= 0, got ${String(options.maxRetryAfterMs)}`,
    );
  }
  // Validates the options at creation.
  new Backoff(options.backoff);
  return async (op, plan, next) => {
    // A request may cap our retries itself (`x-claude-otel-max-retries`, e.g. the SDK's per-request
    // `maxRetries` passed on): never above `maxAttempts`.
    const capped = op.request.maxRetries;
    const maxAttempts = capped === undefined ? maxAttemptsOption : Math.min(maxAttemptsOption, capped + 1);
    const backoff = new Backoff(options.backoff, op.random);
    const instruments = () => op.telemetry.instruments;
    let previous: SpanContext | undefined = plan.previous;
    for (let attempt = 0; ; attempt++) {
      // The attempt number the SDK would send (`x-stainless-retry-count`): ours on top of its own.
      const handle = await next({ ...plan, resendCount: plan.resendCount + attempt, previous });
      const c = classifyHandle(handle);
      if (c.errorType === undefined) {
        budget?.onSuccess();
        return handle;
      }
      const errorType = c.errorType;
      if (!c.retryable) return finalFailure(plan, handle, errorType);
      // Rounded to the microsecond: `retry-after-ms: 64724` is 64.724 s, and 64.724 × 1000 is
      // 64724.00000000001, which would be answered as `retry-after-ms: 64725`.
      const askedMs = c.retryAfterS !== undefined ? Math.round(c.retryAfterS * 1e6) / 1e3 : undefined;
      const leftMs = op.deadlineAt - op.clock.now();
      // A wait above the cap is honoured only to fail at once when it passes the deadline; else the
      // backoff replaces it.
      const serverWaitMs =
        askedMs !== undefined && (askedMs <= maxRetryAfterMs || askedMs >= leftMs) ? askedMs : undefined;
      // A rate limit that says when to come back is paced by the server, not by us: it waits as told
      // and neither spends nor needs the retry budget (a wall of 429s would otherwise spend it and
      // turn invitations to retry into failures).
      const serverPaced = isRateLimit(errorType) && serverWaitMs !== undefined;
      if (!serverPaced) budget?.onFailure();
      const giveUp = (reason: string, delayMs?: number): AttemptHandle => {
        const attributes: Attributes = { [A.ERROR_TYPE]: errorType, [A.ANTHROPIC_RETRY_REASON]: reason };
        if (delayMs !== undefined) attributes[A.ANTHROPIC_RETRY_DELAY] = delayMs / 1000;
        decide(op, EVENTS.RETRY_GIVEN_UP.name, attributes);
        return finalFailure(plan, handle, errorType);
      };
      if (attempt + 1 >= maxAttempts) return giveUp('max_attempts');
      if (!serverPaced && budget !== undefined && !budget.canRetry()) {
        op.telemetry.safely('budget_metric', () =>
          instruments().retryBudgetExhausted.add(1, { [A.ERROR_TYPE]: errorType }),
        );
        return giveUp('retry_budget_exhausted');
      }
      // A 529 is an overload whatever its body said: without an API error body its `error.type` is
      // the status (`'529'`), which must back off as hard as an `overloaded_error`.
      const overloaded = handle.ok && handle.response.status === 529;
      const delayMs = serverWaitMs ?? backoff.next(overloaded ? 'overloaded_error' : errorType);
      const source = serverWaitMs !== undefined ? 'retry_after' : 'backoff';
      if (delayMs >= leftMs) {
        if (serverWaitMs === undefined || !handle.ok) return giveUp('deadline', delayMs);
        // The server asked for more time than the deadline leaves: fail now, carrying its wait.
        decide(op, EVENTS.RETRY_GIVEN_UP.name, {
          [A.ERROR_TYPE]: errorType,
          [A.ANTHROPIC_RETRY_REASON]: 'retry_after_exceeds_deadline',
          [A.ANTHROPIC_RETRY_DELAY]: delayMs / 1000,
        });
        void handle.response.body?.cancel().catch(() => undefined);
        const response = policyResponse(
          'retry_after_exceeds_deadline',
          `claude-otel-middleware: the server asked to wait ${Math.ceil(delayMs)} ms (${errorType}), more than the ${Math.max(0, Math.floor(leftMs))} ms left before the deadline`,
          { retryable: false, retryAfterMs: delayMs, status: handle.response.status },
        );
        return { ...answered(plan, response, 'retry_after_exceeds_deadline'), done: handle.done };
      }
      op.telemetry.safely('retry_metrics', () => {
        const i = instruments();
        // The region the attempt went to (a region policy inside this one chose it), as on its span.
        const attributes: Attributes = {
          [A.ERROR_TYPE]: errorType,
          [A.ANTHROPIC_REGION]: handle.region ?? plan.region,
        };
        if (plan.model !== undefined) attributes[A.GEN_AI_REQUEST_MODEL] = plan.model;
        i.retries.add(1, attributes);
        i.retryDelay.record(delayMs / 1000, {
          [A.ANTHROPIC_RETRY_SOURCE]: source,
          [A.ERROR_TYPE]: errorType,
        });
      });
      decide(op, EVENTS.RETRY_SCHEDULED.name, {
        [A.ANTHROPIC_RETRY_ATTEMPT]: attempt + 1,
        [A.ANTHROPIC_RETRY_DELAY]: delayMs / 1000,
        [A.ANTHROPIC_RETRY_SOURCE]: source,
        [A.ERROR_TYPE]: errorType,
      });
      // The failed response is not handed to anyone: release its body.
      if (handle.ok) void handle.response.body?.cancel().catch(() => undefined);
      try {
        await op.clock.sleep(delayMs, op.signal);
      } catch (reason) {
        // The caller aborted, or the deadline passed while waiting.
        if (reason instanceof ClaudeTimeoutError) {
          const expired: AttemptHandle = {
            ok: false,
            error: reason,
            errorType: reason.errorType,
            done: handle.done,
            spanContext: handle.spanContext,
          };
          return finalFailure(plan, expired, reason.errorType);
        }
        throw reason;
      }
      previous = handle.spanContext;
    }
  };
}

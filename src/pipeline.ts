/**
 * The shape every resilience policy takes. One call of the fetch is one *operation*; a policy wraps
 * the next step of the pipeline and may change the attempt's plan (region, model), call the next
 * step zero or more times (retries, failover), or answer by itself (an open breaker, a cache). The
 * innermost step is {@link sendAttempt}: one HTTP attempt with its span.
 */
import type { Attributes, Span } from '@opentelemetry/api';
import type { Clock, Random } from './policies/types.js';
import type { AttemptHandle, AttemptPlan, AttemptResult } from './recorder.js';
import type { ClaudeRequest } from './request.js';
import type { Telemetry } from './telemetry/instruments.js';
import { hrTimeAt } from './telemetry/time.js';

/** What the policies of one operation share. */
export interface Operation {
  readonly request: ClaudeRequest;
  /** The operation span (INTERNAL), when one was started: decisions are recorded on it as events. */
  readonly span: Span | undefined;
  readonly telemetry: Telemetry;
  readonly clock: Clock;
  readonly random: Random;
  /** The caller's signal combined with the deadline's. */
  readonly signal: AbortSignal | undefined;
  /** `clock.now()` past which the operation fails (`Infinity` without a total timeout). */
  readonly deadlineAt: number;
  /** Whether a retry policy runs (then the SDK is told not to retry our final failures). */
  readonly retrying: boolean;
  /** HTTP attempts made so far. */
  attempts: number;
  /** The operation span's time base (`telemetry/time.ts`): its events are stamped on it. */
  readonly timeBase?: number | undefined;
  /** performance.now() when the last attempt so far ended. */
  lastEndedAt?: number | undefined;
}

/** Sends one attempt according to `plan`. */
export type SendStep = (plan: AttemptPlan) => Promise<AttemptHandle>;

/** A policy: decides around `next` for one operation. */
export type Policy = (operation: Operation, plan: AttemptPlan, next: SendStep) => Promise<AttemptHandle>;

/** Composes policies, the first one outermost, around the innermost `send` step. */
export function compose(operation: Operation, policies: readonly Policy[], send: SendStep): SendStep {
  let step = send;
  for (let i = policies.length - 1; i >= 0; i--) {
    const policy = policies[i];
    if (policy === undefined) continue;
    const next = step;
    step = (plan) => policy(operation, plan, next);
  }
  return step;
}

/** A handle for an answer a policy gave without sending an attempt. */
export function answered(plan: AttemptPlan, response: Response, errorType: string): AttemptHandle {
  const result: AttemptResult = {
    plan,
    statusCode: response.status,
    errorType,
    facts: {},
    startedAt: performance.now(),
    durationS: 0,
    timeToFirstChunkS: undefined,
    outcome: 'error',
  };
  return {
    ok: true,
    response,
    done: Promise.resolve(result),
    errorType,
    spanContext: undefined,
    region: plan.region,
  };
}

/**
 * Records a decision as an event on the operation span, and as a log event (see `LOG_EVENTS`),
 * stamped `at` (a `performance.now()` reading; default now): when the decision was made.
 */
export function decide(op: Operation, name: string, attributes: Attributes, at = performance.now()): void {
  const span = op.span;
  if (span !== undefined) {
    const time = op.timeBase !== undefined ? hrTimeAt(op.timeBase, at) : undefined;
    op.telemetry.safely('decision_event', () => span.addEvent(name, attributes, time));
  }
  op.telemetry.safely('decision_log', () => op.telemetry.log.decision(name, attributes, span, op.request));
}

/**
 * The circuit breaker as a policy: one breaker per key (by default `{region}|{model}`); an open
 * breaker answers at once, without sending, with a `circuit_open` error the SDK will not retry; each
 * attempt's outcome is counted by the failure taxonomy (client errors and the caller's aborts never
 * count).
 */
import type { Attributes } from '@opentelemetry/api';
import { answered, decide, type Policy } from '../pipeline.js';
import type { AttemptHandle, AttemptPlan } from '../recorder.js';
import { MAX_VALUES } from '../telemetry/cardinality.js';
import type { Telemetry } from '../telemetry/instruments.js';
import { A, EVENTS } from '../telemetry/names.js';
import { type BreakerOptions, BreakerRegistry, type BreakerState } from './breaker.js';
import { classify } from './classify.js';
import { policyResponse } from './errors.js';
import type { Clock } from './types.js';

/** Options of the breaker policy (`createClaudeFetch({ breaker })`). */
export interface BreakerPolicyOptions extends BreakerOptions {
  /** The breaker an attempt belongs to. Default: `{region}|{model}`. */
  key?: (attempt: { region: string; model: string | undefined }) => string;
  /** Whether a 429 counts as a failure. Default `false`: a rate limit is not an outage. */
  rateLimitCountsAsFailure?: boolean;
}

const STATE_VALUE: Record<BreakerState, number> = { closed: 0, half_open: 1, open: 2 };

/**
 * Records a breaker's transition: the transitions counter and the state gauge, which keeps at most
 * the cardinality guard's number of breaker keys (a key holds the model).
 */
export function recordBreakerTransition(
  telemetry: Telemetry,
  key: string,
  from: BreakerState,
  to: BreakerState,
): void {
  telemetry.safely('breaker_metrics', () => {
    telemetry.instruments.breakerTransitions.add(1, {
      [A.ANTHROPIC_BREAKER_KEY]: key,
      [A.ANTHROPIC_BREAKER_FROM]: from,
      [A.ANTHROPIC_BREAKER_TO]: to,
    });
    const entry = telemetry.breakerStates.get(key);
    if (entry !== undefined) entry.value = STATE_VALUE[to];
    else if (telemetry.breakerStates.size < MAX_VALUES) {
      telemetry.breakerStates.set(key, {
        value: STATE_VALUE[to],
        attributes: { [A.ANTHROPIC_BREAKER_KEY]: key },
      });
    }
  });
}

/** Creates the registry (shared by every operation of the client) and its telemetry. */
export function createBreakers(
  options: BreakerPolicyOptions,
  clock: Clock,
  telemetry: Telemetry,
): BreakerRegistry {
  const registry = new BreakerRegistry(options, clock);
  registry.onTransition((key, from, to) => recordBreakerTransition(telemetry, key, from, to));
  return registry;
}

const defaultKey = (attempt: { region: string; model: string | undefined }): string =>
  `${attempt.region}|${attempt.model ?? '-'}`;

/** The breaker policy over a shared registry. */
export function breakerPolicy(options: BreakerPolicyOptions, registry: BreakerRegistry): Policy {
  const keyOf = options.key ?? defaultKey;
  return async (op, plan: AttemptPlan, next) => {
    const key = keyOf({ region: plan.region, model: plan.model });
    const breaker = registry.get(key);
    const transition = (from: BreakerState, to: BreakerState): void => {
      if (from === to) return;
      const attributes: Attributes = {
        [A.ANTHROPIC_BREAKER_KEY]: key,
        [A.ANTHROPIC_BREAKER_FROM]: from,
        [A.ANTHROPIC_BREAKER_TO]: to,
      };
      decide(op, EVENTS.BREAKER_TRANSITION.name, attributes);
    };
    // Records the transitions `fn` makes, synchronously, as this operation's. (Comparing `state`
    // before and after would miss open → half_open: reading `state` is what makes that transition.)
    const observe = <T>(fn: () => T): T => {
      const unsubscribe = breaker.onTransition(transition);
      try {
        return fn();
      } finally {
        unsubscribe();
      }
    };
    const permit = observe(() => breaker.tryAcquire());
    if (permit === undefined) {
      const state = breaker.state;
      op.telemetry.safely('breaker_metrics', () =>
        op.telemetry.instruments.breakerRejections.add(1, { [A.ANTHROPIC_BREAKER_KEY]: key }),
      );
      decide(op, EVENTS.BREAKER_REJECTED.name, {
        [A.ANTHROPIC_BREAKER_KEY]: key,
        [A.ANTHROPIC_BREAKER_STATE]: state,
      });
      const retryAfterMs = breaker.retryAfterMs();
      const response = policyResponse(
        'circuit_open',
        `claude-otel-middleware: circuit breaker ${key} is ${state.replace('_', '-')}; not sent (retry in ${Math.ceil(retryAfterMs)} ms)`,
        { retryable: false, retryAfterMs },
      );
      return answered(plan, response, 'circuit_open');
    }
    let handle: AttemptHandle;
    try {
      handle = await next(plan);
    } catch (error) {
      // No outcome to count, but the permit must be settled: an unsettled half-open probe would
      // keep the breaker half-open, rejecting everything, for good.
      permit.ignore();
      throw error;
    }
    const classifyOptions = { rateLimitCountsAsFailure: options.rateLimitCountsAsFailure ?? false };
    const c = handle.ok
      ? classify(
          {
            kind: 'response',
            status: handle.response.status,
            headers: handle.response.headers,
            errorType: handle.errorType,
          },
          Date.now(),
          classifyOptions,
        )
      : classify(
          { kind: 'error', error: handle.error, errorType: handle.errorType ?? 'connection_error' },
          Date.now(),
          classifyOptions,
        );
    observe(() => {
      if (c.errorType === undefined) permit.success();
      else if (c.countsAsFailure) permit.failure();
      else permit.ignore();
    });
    return handle;
  };
}

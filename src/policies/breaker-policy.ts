/**
 * The circuit breaker as a policy: one breaker per key (by default `{region}|{model}`); an open
 * breaker answers without sending, with a `circuit_open` error the SDK will not retry; each
 * attempt's outcome is counted by the failure taxonomy (client errors and the caller's aborts never
 * count).
 *
 * Holding (`hold`, on by default): a request's first attempt that finds the breaker open (or
 * half-open with its probes out) waits for the breaker's decision — at most `hold.maxWaitMs` and
 * never past the operation's deadline — instead of being refused at once (see `breaker.ts`). Retries
 * are still refused at once, and so is an attempt another region or fallback model can take
 * (`plan.alternative`). Each wait is recorded (`anthropic.circuit_breaker.wait` event and log, the
 * wait-duration histogram).
 */
import type { Attributes } from '@opentelemetry/api';
import { answered, decide, type Operation, type Policy } from '../pipeline.js';
import type { AttemptHandle, AttemptPlan } from '../recorder.js';
import { MAX_VALUES } from '../telemetry/cardinality.js';
import type { Telemetry } from '../telemetry/instruments.js';
import { A, EVENTS } from '../telemetry/names.js';
import { type BreakerOptions, BreakerRegistry, type BreakerState } from './breaker.js';
import { classify } from './classify.js';
import { ClaudeTimeoutError, policyResponse } from './errors.js';
import type { Clock } from './types.js';

/** Options of the breaker policy (`createClaudeFetch({ breaker })`). */
export interface BreakerPolicyOptions extends BreakerOptions {
  /** The breaker an attempt belongs to. Default: `{region}|{model}`. */
  key?: (attempt: { region: string; model: string | undefined }) => string;
  /** Whether a 429 counts as a failure. Default `false`: a rate limit is not an outage. */
  rateLimitCountsAsFailure?: boolean;
  /**
   * Holding instead of refusing: while the breaker is open (or half-open with its probes out), a
   * request's first attempt waits for the breaker's decision — admitted when the breaker closes,
   * sent as the probe when it is the newest waiter as the breaker turns half-open, refused when the
   * probe sent while it waited fails — for at most `maxWaitMs` (ms of the clock) and never past
   * `timeouts.totalMs`. Retries and attempts another region or fallback model can take are refused
   * at once. `false`: fail fast, refuse at once (the behaviour before holding). `true`: the
   * defaults. Default `{ maxWaitMs: 10_000 }` (two default open periods: a request that arrives
   * while a probe is out can wait for the next one).
   */
  hold?: boolean | BreakerHoldOptions;
}

/** Options of holding (`breaker.hold`). */
export interface BreakerHoldOptions {
  /** Longest wait for the breaker's decision, in ms of the clock (0: fail fast). Default `10_000`. */
  maxWaitMs?: number;
}

/** The default `hold.maxWaitMs`. */
export const DEFAULT_HOLD_MS = 10_000;

/** `hold` as the longest wait in ms (0: fail fast). */
export function holdMsOf(hold: BreakerPolicyOptions['hold']): number {
  if (hold === false) return 0;
  if (hold === undefined || hold === true) return DEFAULT_HOLD_MS;
  if (typeof hold !== 'object' || hold === null) {
    throw new TypeError(`breaker.hold must be a boolean or { maxWaitMs }, got ${String(hold)}`);
  }
  const ms = hold.maxWaitMs ?? DEFAULT_HOLD_MS;
  if (typeof ms !== 'number' || Number.isNaN(ms) || ms < 0) {
    throw new TypeError(`breaker.hold.maxWaitMs must be a number ≥ 0, got ${String(ms)}`);
  }
  return ms;
}

/** How a wait ended, as recorded: the breaker's outcomes plus the operation's own. */
export type WaitOutcome = 'admitted' | 'probe' | 'refused' | 'timeout' | 'closed' | 'deadline' | 'aborted';

/** Records a wait for a breaker: the event (and log) on the operation, the histogram. */
export function recordBreakerWait(
  op: Operation,
  key: string,
  state: BreakerState,
  outcome: WaitOutcome,
  waitedMs: number,
): void {
  op.telemetry.safely('breaker_metrics', () =>
    op.telemetry.instruments.breakerWait.record(waitedMs / 1000, {
      [A.ANTHROPIC_BREAKER_KEY]: key,
      [A.ANTHROPIC_BREAKER_WAIT_OUTCOME]: outcome,
    }),
  );
  decide(op, EVENTS.BREAKER_WAIT.name, {
    [A.ANTHROPIC_BREAKER_KEY]: key,
    [A.ANTHROPIC_BREAKER_STATE]: state,
    [A.ANTHROPIC_BREAKER_WAIT_OUTCOME]: outcome,
    [A.ANTHROPIC_BREAKER_WAITED]: waitedMs / 1000,
  });
}

/**
 * How long this attempt may wait for a breaker: 0 for a retry, an attempt another region or model
 * can take, or none left before the deadline.
 */
export function holdFor(op: Operation, plan: AttemptPlan, holdMs: number): number {
  if (holdMs <= 0 || plan.resendCount > 0 || op.attempts > 0 || plan.alternative === true) return 0;
  return Math.max(0, Math.min(holdMs, op.deadlineAt - op.clock.now()));
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
  const holdMs = holdMsOf(options.hold);
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
    let permit = observe(() => breaker.tryAcquire());
    const waitMs = permit === undefined ? holdFor(op, plan, holdMs) : 0;
    if (permit === undefined && waitMs > 0) {
      const startedAt = op.clock.now();
      const stateAtStart = breaker.state;
      let acquisition: Awaited<ReturnType<typeof breaker.acquire>>;
      try {
        acquisition = await breaker.acquire(waitMs, op.signal);
      } catch (reason) {
        const deadline = reason instanceof ClaudeTimeoutError;
        recordBreakerWait(
          op,
          key,
          stateAtStart,
          deadline ? 'deadline' : 'aborted',
          op.clock.now() - startedAt,
        );
        // The caller aborted: nothing is sent. The deadline passed: refused below.
        if (!deadline) throw reason;
        acquisition = { permit: undefined, outcome: undefined, stateAtStart, waitedMs: 0 };
      }
      if (acquisition.outcome !== undefined) {
        // A deadline-bounded wait that ran out is the deadline's, not the cap's.
        const outcome =
          acquisition.outcome === 'timeout' && waitMs < holdMs ? 'deadline' : acquisition.outcome;
        recordBreakerWait(op, key, stateAtStart, outcome, acquisition.waitedMs);
      }
      permit = acquisition.permit;
      if (permit !== undefined && op.signal?.aborted) {
        // Admitted as the caller aborted: nothing is sent after an abort.
        permit.ignore();
        throw op.signal.reason;
      }
    }
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

/**
 * The circuit breaker shared by a fleet: one breaker per key in the fleet store, counted from every
 * process's outcomes, with at most `halfOpenProbes` probes out across the fleet (each probe slot
 * taken atomically by one owner, freed when it settles or after `probeTtlMs` if its owner died).
 *
 * The hot path stays synchronous: each process keeps a *mirror* of each key's fleet state. While the
 * mirror says open, attempts are rejected at once; while it says closed, they are sent, and each
 * outcome is written behind (`breakerRecord`), whose answer — the fleet's state after it — updates
 * the mirror. A closed mirror older than `syncMs` is re-read before the attempt (awaited, at most
 * the guard's `timeoutMs`, once per `syncMs` per key). So no attempt is admitted on a view of the
 * fleet older than `syncMs` (plus its own outcomes in flight). A half-open breaker's probe slot is
 * awaited too (same bound); everything else is written behind.
 *
 * While the store is degraded (see `StoreGuard`), every key falls back to the process's own breaker
 * (the single-process policy, starting closed); the mirrors are used again once the store answers.
 */
import { randomUUID } from 'node:crypto';
import { answered, decide, type Operation, type Policy } from '../pipeline.js';
import type { AttemptHandle, AttemptPlan } from '../recorder.js';
import type { StoreGuard } from '../store/guard.js';
import type { FleetBreakerConfig, FleetBreakerView } from '../store/types.js';
import type { Telemetry } from '../telemetry/instruments.js';
import { A, EVENTS } from '../telemetry/names.js';
import { type BreakerRegistry, type BreakerState, DEFAULT_OPEN_MS } from './breaker.js';
import { type BreakerPolicyOptions, breakerPolicy, recordBreakerTransition } from './breaker-policy.js';
import { classify } from './classify.js';
import { policyResponse } from './errors.js';
import { classifyHandle } from './retry.js';
import type { Clock } from './types.js';

/** Fleet settings of the shared breaker. */
export interface FleetBreakerSync {
  guard: StoreGuard;
  /** Longest a closed mirror goes without a refresh while used, in ms. */
  syncMs: number;
  /** A probe slot whose owner never settled it is freed after this long, in ms. */
  probeTtlMs: number;
}

/** The fleet breaker's config from the breaker options (the single-process defaults). */
export function fleetBreakerConfig(options: BreakerPolicyOptions, probeTtlMs: number): FleetBreakerConfig {
  const openMs = options.openMs ?? DEFAULT_OPEN_MS;
  const window = options.window;
  return {
    mode: options.mode ?? 'failure_rate',
    consecutiveFailures: options.consecutiveFailures ?? 5,
    failureRateThreshold: options.failureRateThreshold ?? 0.5,
    minimumThroughput: options.minimumThroughput ?? 10,
    // The fleet's last `size` outcomes, or its outcomes of the last `ms`.
    windowKind: window?.kind ?? 'count',
    windowSize: window?.kind === 'count' ? window.size : 20,
    windowMs: window?.kind === 'time' ? window.ms : 10_000,
    openMs,
    openBackoffMultiplier: options.openBackoffMultiplier ?? 1,
    maxOpenMs: Math.max(openMs, options.maxOpenMs ?? 300_000),
    halfOpenProbes: options.halfOpenProbes ?? 1,
    successThreshold: options.successThreshold ?? 1,
    probeTtlMs,
  };
}

interface Mirror {
  state: BreakerState;
  /** While open: when probes may be tried, by the clock. */
  openUntil: number;
  syncedAt: number;
}

const defaultKey = (attempt: { region: string; model: string | undefined }): string =>
  `${attempt.region}|${attempt.model ?? '-'}`;

export function fleetBreakerPolicy(
  options: BreakerPolicyOptions,
  localRegistry: BreakerRegistry,
  sync: FleetBreakerSync,
  clock: Clock,
  telemetry: Telemetry,
): Policy {
  const keyOf = options.key ?? defaultKey;
  const config = fleetBreakerConfig(options, sync.probeTtlMs);
  const local = breakerPolicy(options, localRegistry);
  const { guard } = sync;
  const mirrors = new Map<string, Mirror>();
  const classifyOptions = { rateLimitCountsAsFailure: options.rateLimitCountsAsFailure ?? false };

  const mirrorOf = (key: string): Mirror => {
    let m = mirrors.get(key);
    if (m === undefined) {
      if (mirrors.size >= 1000) {
        const oldest = mirrors.keys().next();
        if (!oldest.done) mirrors.delete(oldest.value);
      }
      m = { state: 'closed', openUntil: 0, syncedAt: Number.NEGATIVE_INFINITY };
      mirrors.set(key, m);
    }
    return m;
  };

  /** Takes the fleet's view into the mirror; a change is a transition (metrics, and `op`'s event). */
  const apply = (key: string, view: FleetBreakerView, op?: Operation): void => {
    const m = mirrorOf(key);
    const now = clock.now();
    const from = m.state === 'open' && now >= m.openUntil ? 'half_open' : m.state;
    m.state = view.state;
    m.openUntil = view.state === 'open' ? now + view.openForMs : 0;
    m.syncedAt = now;
    if (from === view.state) return;
    const attributes = {
      [A.ANTHROPIC_BREAKER_KEY]: key,
      [A.ANTHROPIC_BREAKER_FROM]: from,
      [A.ANTHROPIC_BREAKER_TO]: view.state,
    };
    recordBreakerTransition(telemetry, key, from, view.state);
    if (op !== undefined) decide(op, EVENTS.BREAKER_TRANSITION.name, attributes);
  };

  const reject = (
    op: Operation,
    plan: AttemptPlan,
    key: string,
    state: BreakerState,
    retryAfterMs: number,
  ) => {
    op.telemetry.safely('breaker_metrics', () =>
      op.telemetry.instruments.breakerRejections.add(1, { [A.ANTHROPIC_BREAKER_KEY]: key }),
    );
    decide(op, EVENTS.BREAKER_REJECTED.name, {
      [A.ANTHROPIC_BREAKER_KEY]: key,
      [A.ANTHROPIC_BREAKER_STATE]: state,
    });
    const response = policyResponse(
      'circuit_open',
      `claude-otel-middleware: circuit breaker ${key} is ${state.replace('_', '-')} across the fleet; not sent (retry in ${Math.ceil(retryAfterMs)} ms)`,
      { retryable: false, retryAfterMs },
    );
    return answered(plan, response, 'circuit_open');
  };

  const outcomeOf = (handle: AttemptHandle): 'success' | 'failure' | 'ignore' => {
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
      : classifyHandle(handle);
    if (c.errorType === undefined) return 'success';
    return c.countsAsFailure ? 'failure' : 'ignore';
  };

  return async (op, plan, next) => {
    const key = keyOf({ region: plan.region, model: plan.model });
    if (!guard.shared) {
      // Degraded: the local breaker decides, and a read in the background (the guard lets one through
      // every `retryMs`) tells when the store is back — even when no other policy uses the store.
      void guard.call('breaker', (store) => store.breakerView(key, config));
      return local(op, plan, next);
    }
    const m = mirrorOf(key);
    const now = clock.now();
    if (m.state === 'open' && now < m.openUntil) return reject(op, plan, key, 'open', m.openUntil - now);
    if (m.state === 'closed' && now - m.syncedAt >= sync.syncMs) {
      // At most once per `syncMs` per key, within the guard's timeout (skipped while degraded).
      m.syncedAt = now;
      const view = await guard.call('breaker', (store) => store.breakerView(key, config));
      if (view !== undefined) apply(key, view, op);
      // `apply` changed it (TypeScript still narrows it to 'closed').
      const after = m.state as BreakerState;
      if (after === 'open' && clock.now() < m.openUntil) {
        return reject(op, plan, key, 'open', m.openUntil - clock.now());
      }
    }
    if (m.state !== 'closed') {
      // Open and due, or half-open: only the owner of a fleet probe slot may send.
      const owner = `${process.pid}:${randomUUID()}`;
      const slot = await guard.call('breaker', (store) => store.breakerAcquireProbe(key, owner, config));
      if (slot === undefined) return local(op, plan, next);
      apply(key, slot.view, op);
      if (!slot.granted && slot.view.state !== 'closed') {
        return reject(op, plan, key, slot.view.state, slot.view.openForMs);
      }
      if (slot.granted) {
        let handle: AttemptHandle;
        try {
          handle = await next(plan);
        } catch (error) {
          void guard.call('breaker', (store) => store.breakerSettleProbe(key, owner, 'ignore', config));
          throw error;
        }
        const outcome = outcomeOf(handle);
        const view = await guard.call('breaker', (store) =>
          store.breakerSettleProbe(key, owner, outcome, config),
        );
        if (view !== undefined) apply(key, view, op);
        return handle;
      }
    }
    const handle = await next(plan);
    const outcome = outcomeOf(handle);
    if (outcome !== 'ignore') {
      void guard
        .call('breaker', (store) => store.breakerRecord(key, outcome === 'failure', config))
        .then((view) => {
          if (view !== undefined) apply(key, view);
        });
    }
    return handle;
  };
}

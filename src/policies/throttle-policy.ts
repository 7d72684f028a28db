/**
 * The proactive throttle as a policy (between region choice and the breaker): before an attempt,
 * hold it until the key's {@link Headroom} covers it — within `maxWaitMs` and the operation's
 * deadline, else answer at once with a `throttled` error (429, `retry-after-ms`, not retried); after
 * it, learn from the response's `anthropic-ratelimit-*` headers and a 429's `retry-after`.
 *
 * With a fleet store, each observation (and each 429's block) is written behind to the store, and
 * a key's shared snapshot is read before an attempt at most every `syncMs` (awaited, within the
 * guard's `timeoutMs`; skipped while the store is degraded): the newest observation in the fleet
 * wins (the server's `remaining` counts everybody's traffic), and a 429 seen by one process blocks
 * the key for all. A request that fits the local model is then claimed from the fleet's headroom
 * (one awaited atomic call, within the same timeout): the store counts the fleet's claims since
 * the newest observation, so the processes do not each spend the whole headroom.
 */
import { answered, decide, type Policy } from '../pipeline.js';
import type { StoreGuard } from '../store/guard.js';
import { parseRateLimits, parseRetryAfter } from '../telemetry/headers.js';
import { A, EVENTS } from '../telemetry/names.js';
import { ClaudeTimeoutError, POLICY_ERROR_HEADER, policyResponse } from './errors.js';
import { estimateInputTokens, Headroom, MAX_BLOCK_MS, type ThrottleOptions } from './throttle.js';

/** Keys kept (least recently used go). */
const MAX_KEYS = 1000;
/**
 * A key the model refuses sends one request anyway (a probe) when it has heard nothing from the
 * server (no response, no probe) for this long, in ms — unless a 429's (capped) block holds it.
 */
export const PROBE_INTERVAL_MS = 5_000;

function bodyText(body: RequestInit['body']): string {
  if (typeof body === 'string') return body;
  if (body instanceof Uint8Array) return Buffer.from(body).toString('utf8');
  return '';
}

/** Fleet sync settings of the throttle. */
export interface ThrottleSync {
  guard: StoreGuard;
  /** Longest a key's shared snapshot goes unread while requests use it, in ms. */
  syncMs: number;
}

export function throttlePolicy(options: ThrottleOptions, sync?: ThrottleSync): Policy {
  const maxWaitMs = options.maxWaitMs ?? 30_000;
  if (typeof maxWaitMs !== 'number' || Number.isNaN(maxWaitMs) || maxWaitMs < 0) {
    throw new TypeError(`throttle.maxWaitMs must be a number ≥ 0, got ${String(options.maxWaitMs)}`);
  }
  const refill = options.refill ?? 'continuous';
  if (refill !== 'continuous' && refill !== 'at_reset') {
    throw new TypeError(`throttle.refill must be 'continuous' or 'at_reset', got ${String(refill)}`);
  }
  if (options.estimateTokens !== undefined && typeof options.estimateTokens !== 'function') {
    throw new TypeError('throttle.estimateTokens must be a function');
  }
  const estimate = options.estimateTokens ?? estimateInputTokens;
  const keys = new Map<string, { headroom: Headroom; syncedAt: number; probedAt: number }>();
  const entry = (key: string) => {
    let e = keys.get(key);
    if (e !== undefined) {
      keys.delete(key);
    } else {
      e = {
        headroom: new Headroom(refill),
        syncedAt: Number.NEGATIVE_INFINITY,
        probedAt: Number.NEGATIVE_INFINITY,
      };
      if (keys.size >= MAX_KEYS) {
        const oldest = keys.keys().next();
        if (!oldest.done) keys.delete(oldest.value);
      }
    }
    keys.set(key, e);
    return e;
  };

  return async (op, plan, next) => {
    const key = `${plan.region}|${plan.model ?? '-'}`;
    const e = entry(key);
    const h = e.headroom;
    const clock = op.clock;
    if (sync !== undefined && clock.now() - e.syncedAt >= sync.syncMs) {
      // At most once per `syncMs` per key, and never longer than the guard's timeout (nothing at
      // all while the store is degraded): the fleet's newest headroom and any 429's block.
      e.syncedAt = clock.now();
      const snapshot = await sync.guard.call('headroom', key, (store) => store.headroomGet(key));
      if (snapshot !== undefined) {
        const now = clock.now();
        h.adopt(snapshot.resources, snapshot.ageMs, now);
        if (snapshot.blockedForMs > 0) h.block(now, snapshot.blockedForMs);
      }
    }
    let cost = { inputTokens: 1 };
    try {
      cost = { inputTokens: Math.max(0, Number(estimate(bodyText(plan.body))) || 0) };
    } catch (error) {
      op.telemetry.failed('throttle_estimate', error);
    }
    let waited = 0;
    let resource: string | undefined;
    for (;;) {
      let wait: { ms: number; resource: string | undefined } = h.waitFor(cost, clock.now());
      if (wait.ms <= 0 && sync !== undefined) {
        // Locally it fits: claim it from the fleet's headroom, atomically (skipped while degraded).
        const claim = await sync.guard.call('headroom', key, (store) =>
          store.headroomClaim(key, { requests: 1, inputTokens: cost.inputTokens }, refill),
        );
        if (claim !== undefined && !claim.granted)
          wait = { ms: Math.max(1, claim.waitMs), resource: claim.resource };
      }
      const now = clock.now();
      if (wait.ms <= 0) break;
      resource = wait.resource ?? resource;
      const attributes = { [A.ANTHROPIC_THROTTLE_RESOURCE]: resource ?? 'requests' };
      if (
        (waited + wait.ms > maxWaitMs || now + wait.ms >= op.deadlineAt) &&
        h.blockedUntil <= now &&
        now - Math.max(e.probedAt, h.observedAt) >= PROBE_INTERVAL_MS
      ) {
        // The model would refuse, and has not heard from the server for a while: one request goes
        // anyway, so that newer headers can correct it (a model is never believed for good).
        e.probedAt = now;
        op.telemetry.safely('throttle_metrics', () =>
          op.telemetry.instruments.throttleWaits.add(1, {
            ...attributes,
            [A.ANTHROPIC_THROTTLE_OUTCOME]: 'probe',
            [A.ANTHROPIC_REGION]: plan.region,
          }),
        );
        decide(op, EVENTS.THROTTLE.name, {
          ...attributes,
          [A.ANTHROPIC_THROTTLE_OUTCOME]: 'probe',
          [A.ANTHROPIC_RETRY_DELAY]: 0,
        });
        break;
      }
      if (waited + wait.ms > maxWaitMs || now + wait.ms >= op.deadlineAt) {
        op.telemetry.safely('throttle_metrics', () =>
          op.telemetry.instruments.throttleWaits.add(1, {
            ...attributes,
            [A.ANTHROPIC_THROTTLE_OUTCOME]: 'rejected',
            [A.ANTHROPIC_REGION]: plan.region,
          }),
        );
        decide(op, EVENTS.THROTTLE.name, {
          ...attributes,
          [A.ANTHROPIC_THROTTLE_OUTCOME]: 'rejected',
          [A.ANTHROPIC_RETRY_DELAY]: wait.ms / 1000,
        });
        const ms = Number.isFinite(wait.ms) ? wait.ms : maxWaitMs;
        const response = policyResponse(
          'throttled',
          `claude-otel-middleware: rate-limit headroom (${resource ?? 'requests'}) for ${plan.region} would come back in ${Math.ceil(ms)} ms, more than the ${Math.floor(Math.min(maxWaitMs - waited, op.deadlineAt - now))} ms this request may wait; not sent`,
          { retryable: false, retryAfterMs: ms, status: 429 },
        );
        return answered(plan, response, 'throttled');
      }
      try {
        await clock.sleep(wait.ms, op.signal);
      } catch (reason) {
        // The deadline passed while holding (the clock ran late): answered like the retry policy does.
        if (!(reason instanceof ClaudeTimeoutError)) throw reason;
        const response = policyResponse(reason.errorType, reason.message, { retryable: false });
        return answered(plan, response, reason.errorType);
      }
      waited += wait.ms;
    }
    if (waited > 0) {
      const attributes = {
        [A.ANTHROPIC_THROTTLE_RESOURCE]: resource ?? 'requests',
        [A.ANTHROPIC_REGION]: plan.region,
      };
      op.telemetry.safely('throttle_metrics', () => {
        const i = op.telemetry.instruments;
        i.throttleWaits.add(1, { ...attributes, [A.ANTHROPIC_THROTTLE_OUTCOME]: 'waited' });
        i.throttleDelay.record(waited / 1000, attributes);
      });
      decide(op, EVENTS.THROTTLE.name, {
        [A.ANTHROPIC_THROTTLE_RESOURCE]: resource ?? 'requests',
        [A.ANTHROPIC_THROTTLE_OUTCOME]: 'waited',
        [A.ANTHROPIC_RETRY_DELAY]: waited / 1000,
      });
    }
    h.reserve(cost);
    const handle = await next(plan);
    if (!handle.ok) return handle;
    if (handle.response.headers.get(POLICY_ERROR_HEADER) !== null) {
      // Answered by a policy inside (an open breaker): nothing was sent.
      h.release(cost);
      return handle;
    }
    op.telemetry.safely('throttle_observe', () => {
      const headers = handle.response.headers;
      const now = clock.now();
      const wall = Date.now();
      h.observe(parseRateLimits(headers, wall), now);
      let blockedForMs = 0;
      if (handle.response.status === 429) {
        const retryAfterS = parseRetryAfter(headers, wall);
        // Without a retry-after, a second: the headers' zeros and reset time do the rest.
        blockedForMs = Math.min(retryAfterS !== undefined ? retryAfterS * 1000 : 1000, MAX_BLOCK_MS);
        h.block(now, blockedForMs);
      }
      if (sync !== undefined && (h.observedAt === now || blockedForMs > 0)) {
        const ageMs = Number.isFinite(h.observedAt) ? now - h.observedAt : 1e12;
        const snapshot = { resources: h.snapshot(), ageMs, blockedForMs };
        void sync.guard.call('headroom', key, (store) => store.headroomPut(key, snapshot));
      }
    });
    return handle;
  };
}

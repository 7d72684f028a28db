/**
 * The shape every resilience policy takes. One call of the fetch is one *operation*; a policy wraps
 * the next step of the pipeline and may change the attempt's plan (region, model), call the next
 * step zero or more times (retries, failover), or answer by itself (cache). The innermost step is
 * {@link sendAttempt}: one HTTP attempt with its span.
 *
 * The foundation ships no policy: `createClaudeFetch` runs the instrumented attempt alone. Retries,
 * breakers, timeouts, regions, fallbacks and stream recovery are added as policies by later work.
 */
import type { AttemptHandle, AttemptPlan } from './attempt.js';
import type { ClaudeRequest } from './request.js';

/** Sends one attempt according to `plan`. */
export type SendStep = (plan: AttemptPlan) => Promise<AttemptHandle>;

/** A policy: decides around `next` for one operation. */
export type Policy = (request: ClaudeRequest, plan: AttemptPlan, next: SendStep) => Promise<AttemptHandle>;

/** Composes policies, the first one outermost, around the innermost `send` step. */
export function compose(request: ClaudeRequest, policies: readonly Policy[], send: SendStep): SendStep {
  let step = send;
  for (let i = policies.length - 1; i >= 0; i--) {
    const policy = policies[i];
    if (policy === undefined) continue;
    const next = step;
    step = (plan) => policy(request, plan, next);
  }
  return step;
}

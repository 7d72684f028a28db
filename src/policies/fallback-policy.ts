/**
 * The model fallback chain as a policy, around the retries: when an operation's model fails with a
 * triggering error after its retries (overload, server errors, an open breaker…), the next model of
 * the chain is tried with the body's `model` rewritten. Never on the caller's own errors.
 */
import type { Policy } from '../pipeline.js';
import { type ModelFallback, withModel } from './fallback.js';
import { recordFallback } from './region-policy.js';
import { classifyHandle } from './retry.js';

export function fallbackPolicy(fallback: ModelFallback): Policy {
  return async (op, plan, next) => {
    const model = plan.model;
    const body = plan.body;
    if (model === undefined || typeof body !== 'string') return next(plan);
    const chain = fallback.chain(model);
    for (let i = 0; ; i++) {
      const current = chain[i] ?? model;
      const rewritten = current === model ? body : withModel(body, current);
      if (rewritten === undefined) return next(plan);
      // A breaker holds the request only when no fallback model would take it after a refusal.
      const alternative =
        plan.alternative === true || (chain[i + 1] !== undefined && fallback.triggers('circuit_open'));
      const handle = await next({ ...plan, model: current, body: rewritten, alternative });
      const c = classifyHandle(handle);
      if (c.errorType === undefined) {
        if (current === model) fallback.succeeded(model);
        else fallback.fellBack(model, current);
        return handle;
      }
      const nextModel = chain[i + 1];
      const out = op.clock.now() >= op.deadlineAt;
      if (nextModel === undefined || out || !fallback.triggers(c.errorType) || c.errorType === 'aborted') {
        return handle;
      }
      recordFallback(op, 'model', current, nextModel, c.errorType);
      fallback.fellBack(model, nextModel);
      // The failed answer is not handed to anyone.
      if (handle.ok) void handle.response.body?.cancel().catch(() => undefined);
    }
  };
}

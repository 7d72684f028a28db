/**
 * Multi-region failover as a policy: each attempt goes to the best region the router gives (healthy
 * first, by priority; failback with hysteresis), its URL rewritten to that region's base URL. A
 * region whose breaker is open is skipped at once (the breaker answers without sending), a region
 * that just failed in this operation goes to the back of the line for the next attempt, and every
 * outcome feeds the region's passive health.
 */
import type { Attributes } from '@opentelemetry/api';
import { answered, decide, type Operation, type Policy } from '../pipeline.js';
import type { AttemptHandle } from '../recorder.js';
import type { Telemetry } from '../telemetry/instruments.js';
import { A, EVENTS } from '../telemetry/names.js';
import { policyResponse } from './errors.js';
import { type RegionConfig, type RegionRouter, rewriteUrl } from './regions.js';
import { classifyHandle } from './retry.js';

/** Regions that failed in each operation (with the error type), moved to the back for its later attempts. */
const failedIn = new WeakMap<Operation, Map<string, string>>();

/** Records a fallback (failover, model fallback, cache) as a metric and an operation event. */
export function recordFallback(
  op: Operation,
  kind: 'region' | 'model' | 'cache',
  from: string,
  to: string,
  reason: string,
  /** When it was decided (a `performance.now()` reading); default now. */
  at?: number,
): void {
  const attributes: Attributes = {
    [A.ANTHROPIC_FALLBACK_KIND]: kind,
    [A.ANTHROPIC_FALLBACK_FROM]: from,
    [A.ANTHROPIC_FALLBACK_TO]: to,
    [A.ANTHROPIC_FALLBACK_REASON]: reason,
  };
  op.telemetry.safely('fallback_metrics', () => op.telemetry.instruments.fallbacks.add(1, attributes));
  decide(op, EVENTS.FALLBACK.name, attributes, at);
}

/** Keeps the region health gauge current. */
export function watchRegionHealth(router: RegionRouter, telemetry: Telemetry): void {
  const set = (name: string, healthy: boolean): void => {
    const entry = telemetry.regionStates.get(name);
    if (entry !== undefined) entry.value = healthy ? 1 : 0;
    else
      telemetry.regionStates.set(name, {
        value: healthy ? 1 : 0,
        attributes: { [A.ANTHROPIC_REGION]: name },
      });
  };
  for (const region of router.regions) set(region.name, router.health(region.name) === 'healthy');
  router.onHealthChange((name, _from, to) =>
    telemetry.safely('region_metrics', () => set(name, to === 'healthy')),
  );
}

/** The region policy over a shared router. */
export function regionPolicy(router: RegionRouter): Policy {
  const rank = (r: RegionConfig): number => r.priority ?? router.regions.indexOf(r);
  const preferred = router.regions.reduce((best, r) => (rank(r) < rank(best) ? r : best));
  const byOrigin = new Map(router.regions.map((r) => [new URL(r.baseURL).origin, r]));
  return async (op, plan, next) => {
    const failed = failedIn.get(op) ?? new Map<string, string>();
    failedIn.set(op, failed);
    const order = router.order();
    if (order.length === 0) {
      const response = policyResponse(
        'circuit_open',
        'claude-otel-middleware: every region is unhealthy (failFast)',
        {
          retryable: false,
        },
      );
      return answered(plan, response, 'circuit_open');
    }
    // Regions that failed earlier in this operation go last.
    const candidates = [
      ...order.filter((r) => !failed.has(r.name)),
      ...order.filter((r) => failed.has(r.name)),
    ];
    const from = byOrigin.get(plan.url.origin);
    let handle: AttemptHandle | undefined;
    // Why the attempt is not going where it would by preference.
    let skipped: { region: string; reason: string } | undefined;
    for (const [i, region] of candidates.entries()) {
      // The decision to send it here is made now (the event says so, not when the answer came).
      const decidedAt = performance.now();
      handle = await next({
        ...plan,
        url: rewriteUrl(plan.url, from, region),
        region: region.name,
        // A breaker holds the request only where no other region is left to take it.
        alternative: plan.alternative === true || i < candidates.length - 1,
      });
      const c = classifyHandle(handle);
      if (c.errorType === 'circuit_open' && handle.spanContext === undefined) {
        // The region's breaker is open: nothing was sent; try the next region at once.
        skipped ??= { region: region.name, reason: 'circuit_open' };
        continue;
      }
      // Only the health changes this outcome causes are this operation's (others run concurrently).
      const changes: [string, string][] = [];
      const stop = router.onHealthChange((name, _from, to) => changes.push([name, to]));
      try {
        if (c.errorType === undefined) router.recordSuccess(region.name);
        else if (c.countsAsFailure) {
          router.recordFailure(region.name);
          failed.set(region.name, c.errorType);
        }
      } finally {
        stop();
      }
      for (const [name, health] of changes) {
        decide(op, EVENTS.REGION_HEALTH.name, {
          [A.ANTHROPIC_REGION]: name,
          [A.ANTHROPIC_REGION_HEALTH]: health,
        });
      }
      if (skipped === undefined && region.name !== preferred.name) {
        const earlier = failed.get(preferred.name);
        skipped = { region: preferred.name, reason: earlier ?? router.health(preferred.name) };
      }
      if (skipped !== undefined && skipped.region !== region.name) {
        recordFallback(op, 'region', skipped.region, region.name, skipped.reason, decidedAt);
      }
      return handle;
    }
    // Every region's breaker is open: the last rejection stands.
    return handle as AttemptHandle;
  };
}

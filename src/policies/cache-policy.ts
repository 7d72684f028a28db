/**
 * Cached responses as a policy, outermost: successful non-streamed messages are stored under a
 * canonical hash of the request body, and when everything else failed (retries, failover,
 * fallbacks), a stored message is served instead — replayed as a valid SSE stream for a streamed
 * request — marked by `x-claude-otel-cache: hit`, `anthropic.cache.hit` on the operation span and
 * the `anthropic.client.cache.lookups` metric.
 */
import { answered, type Policy } from '../pipeline.js';
import { A } from '../telemetry/names.js';
import {
  type CachedMessage,
  type CacheOptions,
  cachedResponse,
  cachedStream,
  canonicalKey,
  completeMessage,
  isServable,
  MemoryStore,
  type ResponseStore,
  storedHeaders,
} from './cache.js';
import { CALLER_ERROR_TYPES } from './fallback.js';
import { recordFallback } from './region-policy.js';
import { classifyHandle } from './retry.js';
import type { Clock } from './types.js';

/** The caller's own errors (and aborts): a cached answer must not hide them. */
const CALLER_ERRORS = new Set([...CALLER_ERROR_TYPES, 'aborted']);

export function cachePolicy(options: CacheOptions, clock: Clock): Policy {
  const ttlMs = options.ttlMs ?? 600_000;
  const maxEntryBytes = options.maxEntryBytes ?? 1024 * 1024;
  const store: ResponseStore =
    options.store ?? new MemoryStore({ ttlMs, maxEntries: options.maxEntries ?? 1000 }, clock);
  const keyOf = options.key ?? canonicalKey;
  return async (op, plan, next) => {
    const json = op.request.json;
    if (op.request.operation !== 'chat' || json === undefined) return next(plan);
    const key = op.telemetry.safely('cache_key', () => keyOf(json));
    if (key === undefined) return next(plan);
    const handle = await next(plan);
    const c = classifyHandle(handle);
    if (c.errorType === undefined) {
      if (!op.request.stream && handle.ok) {
        // Store a copy of the body as the consumer reads the original.
        const response = handle.response;
        const copy = response.clone();
        void copy
          .text()
          .then(async (text) => {
            if (Buffer.byteLength(text) > maxEntryBytes) return;
            // Only a complete Message is stored: not an HTML page with a 200, not a cut body.
            const type = response.headers.get('content-type') ?? '';
            if (!type.includes('json') || completeMessage(text) === undefined) return;
            const entry: CachedMessage = {
              status: response.status,
              headers: storedHeaders(response.headers),
              body: text,
              storedAt: clock.now(),
            };
            await store.set(key, entry);
          })
          .catch((error: unknown) => op.telemetry.failed('cache_store', error));
      }
      return handle;
    }
    if (CALLER_ERRORS.has(c.errorType)) return handle;
    let entry: CachedMessage | undefined;
    try {
      entry = await store.get(key);
    } catch (error) {
      op.telemetry.failed('cache_lookup', error);
    }
    if (entry !== undefined && clock.now() - entry.storedAt > ttlMs) entry = undefined;
    // A store may hand back anything: what is not a complete Message is a miss.
    if (entry !== undefined && !isServable(entry)) entry = undefined;
    const found = entry;
    // A corrupt entry (from a custom store) is a miss, not a failure.
    const response =
      found === undefined
        ? undefined
        : op.telemetry.safely('cache_replay', () =>
            op.request.stream ? cachedStream(found, clock.now()) : cachedResponse(found, clock.now()),
          );
    op.telemetry.safely('cache_metrics', () =>
      op.telemetry.instruments.cacheLookups.add(1, { [A.ANTHROPIC_CACHE_RESULT]: response ? 'hit' : 'miss' }),
    );
    if (response === undefined) return handle;
    recordFallback(op, 'cache', plan.model ?? 'unknown', 'cache', c.errorType);
    op.span?.setAttribute(A.ANTHROPIC_CACHE_HIT, true);
    if (handle.ok) void handle.response.body?.cancel().catch(() => undefined);
    const served = answered(plan, response, 'cache_hit');
    return {
      ...served,
      errorType: undefined,
      done: served.done.then((r) => ({ ...r, errorType: undefined, outcome: 'ok' as const })),
    };
  };
}

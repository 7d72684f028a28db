/**
 * The response cache on a fleet store: a {@link ResponseStore} whose entries live in the store
 * (behind the guard, so a failing store is a cache miss, never a failed request). Entries keep
 * only status, `content-type` and the Message JSON under the cache key (a SHA-256 of the request
 * body by default): no request headers, so no credentials. Their age comes from the store, so
 * processes with different clocks agree on it.
 */
import type { CachedMessage, ResponseStore } from '../policies/cache.js';
import type { Clock } from '../policies/types.js';
import type { StoreGuard } from './guard.js';

export function fleetResponseStore(guard: StoreGuard, clock: Clock, ttlMs: number): ResponseStore {
  return {
    async get(key: string): Promise<CachedMessage | undefined> {
      const stored = await guard.call('cache', key, (store) => store.cacheGet(key));
      if (stored === undefined) return undefined;
      return {
        status: stored.status,
        headers: stored.headers,
        body: stored.body,
        storedAt: clock.now() - stored.ageMs,
      };
    },
    async set(key: string, value: CachedMessage): Promise<void> {
      const left = ttlMs - Math.max(0, clock.now() - value.storedAt);
      if (!(left > 0)) return;
      await guard.call('cache', key, (store) =>
        store.cacheSet(key, { status: value.status, headers: value.headers, body: value.body }, left),
      );
    },
  };
}

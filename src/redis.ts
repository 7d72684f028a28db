/**
 * `claude-otel-middleware/redis`: fleet mode on Redis. The only entry point that imports `ioredis`
 * (an optional peer dependency), so the core never loads it.
 *
 * ```ts
 * import { createClaudeFetch } from 'claude-otel-middleware';
 * import { RedisFleetStore } from 'claude-otel-middleware/redis';
 * const store = new RedisFleetStore({ url: process.env.REDIS_URL, prefix: 'myapp:claude:' });
 * const fetch = createClaudeFetch({ retry: true, breaker: true, throttle: true, store });
 * ```
 */
export { RedisFleetStore, type RedisFleetStoreOptions } from './store/redis.js';

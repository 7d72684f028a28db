/**
 * `RedisFleetStoreOptions.client` takes an ioredis `Redis` or `Cluster` without a cast. The
 * assignments below are checked by `npm run typecheck` (a cast-free `Cluster` failed with TS2740
 * when the option was typed `Redis`); the test also builds stores on clients that never connect.
 */
import { Cluster, Redis } from 'ioredis';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { RedisFleetStore, type RedisFleetStoreOptions } from '../../../src/redis.js';

describe('RedisFleetStoreOptions.client', () => {
  it('accepts a Redis and a Cluster, and nothing else', () => {
    expectTypeOf<Cluster>().toMatchTypeOf<NonNullable<RedisFleetStoreOptions['client']>>();
    expectTypeOf<Redis>().toMatchTypeOf<NonNullable<RedisFleetStoreOptions['client']>>();
    // @ts-expect-error -- a URL goes in `url`, not `client`.
    const wrong: RedisFleetStoreOptions = { client: 'redis://127.0.0.1:6379' };
    void wrong;

    const cluster = new Cluster([{ host: '127.0.0.1', port: 1 }], { lazyConnect: true });
    const redis = new Redis({ lazyConnect: true });
    try {
      const onCluster = new RedisFleetStore({ client: cluster });
      const onRedis = new RedisFleetStore({ client: redis });
      expect(onCluster.client).toBe(cluster);
      expect(onRedis.client).toBe(redis);
      // Before the slot map is known, every key is on the one shard of the whole store.
      expect(onCluster.shardOf('breaker', 'r|m')).toBe('');
      expect(onRedis.shardOf('cache', 'x')).toBe('');
    } finally {
      cluster.disconnect();
      redis.disconnect();
    }
  });
});

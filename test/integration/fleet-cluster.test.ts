/**
 * Fleet mode on a real Redis Cluster: three masters started from `redis-server --cluster-enabled
 * yes` on free loopback ports and joined by `redis-cli --cluster create` (`test/helpers/
 * redis-cluster.ts`), used through an ioredis `Cluster` as the README recommends. The store's
 * scripts on every master (no CROSSSLOT), the cache's size bound, the fleet scenarios of the single
 * Redis, and a master killed by pid mid-run and restarted.
 *
 * Skipped, with the reason printed, only when `redis-server` or `redis-cli` is missing (CI installs
 * both through `e2e/tools/install.sh`).
 */
import { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fleetBreakerConfig } from '../../src/policies/fleet-breaker.js';
import { RedisFleetStore } from '../../src/store/redis.js';
import { startFakeClaude } from '../../src/testing/index.js';
import type { FakeClaude, Fault } from '../../src/testing/types.js';
import { type FleetBackend, fleetTools, sharedFleetScenarios, WORKERS } from '../helpers/fleet-scenarios.js';
import type { WorkerResult } from '../helpers/fleet-worker.js';
import { clusterUnavailable, type RedisCluster, startRedisCluster } from '../helpers/redis-cluster.js';

const unavailable = clusterUnavailable();
if (unavailable !== undefined) console.warn(unavailable);

const API_KEY = 'sk-ant-fleet-test-key';
/** The workers' breaker and headroom key: the fake's host and the model they send. */
const KEY = '127.0.0.1|claude-sonnet-4-6';

describe.skipIf(unavailable !== undefined)(
  'fleet mode on a Redis Cluster (three masters, ioredis Cluster)',
  () => {
    let rc: RedisCluster;
    let fake: FakeClaude;
    let admin: Cluster;
    let fault: (worker: string, index: number) => Fault | undefined = () => undefined;
    let prefixes = 0;

    beforeAll(async () => {
      rc = await startRedisCluster();
      fake = await startFakeClaude({
        faultFor: (r) => fault(r.headers['x-worker'] ?? '?', r.index),
      });
      admin = new Cluster(rc.startupNodes, { enableOfflineQueue: false });
      admin.on('error', () => undefined);
      await new RedisFleetStore({ client: admin }).ready();
    }, 60_000);
    afterAll(async () => {
      admin?.disconnect();
      await fake?.close();
      await rc?.stop();
    });

    const backend: FleetBackend = {
      fake: () => fake,
      setFault: (f) => {
        fault = f;
      },
      store: () => ({ cluster: rc.startupNodes }),
    };
    const { fleet, flat } = fleetTools(backend, () => `c${++prefixes}:`);

    /** Every key on every master: name → the master holding it. */
    async function keysByMaster(pattern: string): Promise<Map<string, string>> {
      const out = new Map<string, string>();
      for (const node of admin.nodes('master')) {
        for (const key of await node.keys(pattern)) out.set(key, `${node.options.host}:${node.options.port}`);
      }
      return out;
    }

    describe('RedisFleetStore on a Cluster client', () => {
      let client: Cluster;
      let store: RedisFleetStore;
      beforeAll(async () => {
        client = new Cluster(rc.startupNodes, { enableOfflineQueue: false });
        // A Cluster client, without a cast (the type-level check is test/unit/store/redis-types.test.ts).
        store = new RedisFleetStore({ client, prefix: 'unit:', maxCacheBytes: 16 * 4096 });
        await store.ready();
      });
      afterAll(() => {
        client.disconnect();
      });

      it('runs every script on every master (no CROSSSLOT), keys under the prefix with a TTL, each on the shard shardOf names', async () => {
        const config = fleetBreakerConfig(
          { mode: 'consecutive', consecutiveFailures: 2, openMs: 60_000 },
          10_000,
        );
        const keys = Array.from({ length: 12 }, (_, i) => `region-${i}|model`);
        for (const key of keys) {
          expect((await store.breakerRecord(key, true, config)).state).toBe('closed');
          expect((await store.breakerRecord(key, true, config)).state).toBe('open');
          expect((await store.breakerAcquireProbe(key, 'owner', config)).granted).toBe(false);
          expect(await store.budgetAdd(key, -1_000, 10_000)).toBe(9_000);
          await store.headroomPut(key, {
            resources: { requests: { limit: 10, remaining: 1, resetInMs: 60_000 } },
            ageMs: 0,
            blockedForMs: 0,
          });
          const claims = await Promise.all(
            [1, 2].map(() => store.headroomClaim(key, { requests: 1, inputTokens: 1 }, 'at_reset')),
          );
          expect(claims.filter((c) => c.granted)).toHaveLength(1);
          await store.cacheSet(key, { status: 200, headers: {}, body: `{"k":"${key}"}` }, 60_000);
          expect((await store.cacheGet(key))?.body).toBe(`{"k":"${key}"}`);
        }
        const where = await keysByMaster('unit:*');
        // Spread over the three masters.
        expect(new Set(where.values()).size).toBe(3);
        for (const [key, master] of where) {
          expect(key.startsWith('unit:')).toBe(true);
          const node = admin.nodes('master').find((n) => `${n.options.host}:${n.options.port}` === master);
          expect(await node?.pttl(key)).toBeGreaterThan(0);
        }
        // The guard's shard of each key is the master that holds it.
        for (const key of keys) {
          expect(where.get(`unit:breaker:{${key}}`)).toBe(store.shardOf('breaker', key));
          expect(where.get(`unit:budget:${key}`)).toBe(store.shardOf('budget', key));
          expect(where.get(`unit:headroom:${key}`)).toBe(store.shardOf('headroom', key));
        }
      });

      it('bounds the shared cache by size: each of the 16 buckets within its share, the oldest dropped first', async () => {
        const body = (i: number) => JSON.stringify({ i, text: 'x'.repeat(1_000) });
        const written = 400;
        for (let i = 0; i < written; i++) {
          await store.cacheSet(`sized-${i}`, { status: 200, headers: {}, body: body(i) }, 600_000);
        }
        const entries = [...(await keysByMaster('unit:cache:*:e:sized-*')).entries()];
        let bytes = 0;
        const perBucket = new Map<string, number>();
        for (const [key, master] of entries) {
          const node = admin.nodes('master').find((n) => `${n.options.host}:${n.options.port}` === master);
          const size = (await node?.strlen(key)) ?? 0;
          bytes += size;
          const bucket = key.slice(0, key.indexOf('}') + 1);
          perBucket.set(bucket, (perBucket.get(bucket) ?? 0) + size);
        }
        // 400 entries of ~1.1 kB were written (440 kB); 64 KiB are kept, spread over the masters.
        expect(bytes).toBeLessThanOrEqual(16 * 4096);
        expect(bytes).toBeGreaterThan(8 * 4096);
        expect(perBucket.size).toBe(16);
        for (const b of perBucket.values()) expect(b).toBeLessThanOrEqual(4096);
        expect(new Set(entries.map(([, m]) => m)).size).toBe(3);
        // The newest entries stay, the oldest went first.
        expect((await store.cacheGet(`sized-${written - 1}`))?.body).toBe(body(written - 1));
        expect(await store.cacheGet('sized-0')).toBeUndefined();
        // An entry larger than a bucket's share is not stored.
        await store.cacheSet('huge', { status: 200, headers: {}, body: 'y'.repeat(5_000) }, 600_000);
        expect(await store.cacheGet('huge')).toBeUndefined();
      });
    });

    sharedFleetScenarios(backend, () => `c${++prefixes}:`);

    it('a master killed (SIGKILL) mid-run and restarted: no request fails, one store-timeout wait per process, events match the shard', async () => {
      fault = () => undefined;
      // A prefix whose headroom key (claimed before every request) is on another master than the
      // breaker key: the victim is the headroom's master, the breaker's stays up.
      let prefix = '';
      let victim = '';
      let survivor = '';
      for (let n = 0; n < 100 && victim === ''; n++) {
        const p = new RedisFleetStore({ client: admin, prefix: `kill${n}:` });
        if (p.shardOf('headroom', KEY) !== p.shardOf('breaker', KEY)) {
          prefix = `kill${n}:`;
          victim = p.shardOf('headroom', KEY);
          survivor = p.shardOf('breaker', KEY);
        }
      }
      const index = rc.nodes.findIndex((n) => n.key === victim);
      expect(index).toBeGreaterThanOrEqual(0);
      // Long enough that a worker busy with its own start (2 cores, several processes) does not
      // time out while Redis is up.
      const timeoutMs = 1_000;
      const f = await fleet(
        { retry: true, breaker: { mode: 'consecutive', consecutiveFailures: 3 }, throttle: {} },
        { prefix, storeTimeoutMs: timeoutMs, storeRetryMs: 100 },
      );
      try {
        const results: WorkerResult[] = flat(await f.send(3));
        const before = await f.stats();
        expect(before.every((s) => s.storeShared && s.storeTimeouts === 0 && s.events.length === 0)).toBe(
          true,
        );
        const killedAt = Date.now();
        await rc.kill(index);
        // Many retryMs periods of outage: every one checks the dead master again.
        for (let i = 0; i < 8; i++) results.push(...flat(await f.send(3, { gapMs: 30 })));
        const down = await f.stats();
        const restartedAt = Date.now();
        await rc.restart(index);
        for (let i = 0; i < 100; i++) {
          results.push(...flat(await f.send(1, { gapMs: 50 })));
          if ((await f.stats()).every((s) => s.storeShared)) break;
        }
        const up = await f.stats();
        if (process.env.FLEET_DEBUG)
          console.log(JSON.stringify({ down, up, slow: results.filter((r) => r.ms >= timeoutMs).length }));
        // No request failed because of it.
        expect(results.filter((r) => !r.ok)).toEqual([]);
        expect(results.length).toBeGreaterThanOrEqual(WORKERS * 27);
        for (const [i, s] of down.entries()) {
          // Degraded while the master is down (its shard only), and at most one wait for it.
          expect(s.storeShared, `worker ${i}`).toBe(false);
          expect(s.storeTimeouts, `worker ${i}`).toBeLessThanOrEqual(1);
          expect(s.events.map((e) => `${e.event} ${e.shard}`)).toEqual([
            `anthropic.store.degraded ${victim}`,
          ]);
        }
        for (const [i, s] of up.entries()) {
          expect(s.storeShared, `worker ${i}`).toBe(true);
          expect(s.storeTimeouts, `worker ${i}`).toBeLessThanOrEqual(1);
          // Exactly the shard's real state: degraded after the kill, recovered after the restart,
          // nothing about the master that stayed up.
          expect(s.events.map((e) => `${e.event} ${e.shard}`)).toEqual([
            `anthropic.store.degraded ${victim}`,
            `anthropic.store.recovered ${victim}`,
          ]);
          const [degraded, recovered] = s.events.map((e) => e.at) as [number, number];
          expect(degraded).toBeGreaterThanOrEqual(killedAt);
          expect(degraded).toBeLessThan(restartedAt);
          expect(recovered).toBeGreaterThanOrEqual(restartedAt);
          expect(s.events.some((e) => e.shard === survivor)).toBe(false);
        }
        // The fleet shares state again, on all three masters; no value holds the API key.
        const where = await keysByMaster(`${prefix}*`);
        expect(where.size).toBeGreaterThan(0);
        for (const [key, master] of where) {
          const node = admin.nodes('master').find((n) => `${n.options.host}:${n.options.port}` === master);
          if (node === undefined) throw new Error(`no master ${master}`);
          const type = await node.type(key);
          const dump =
            type === 'hash'
              ? JSON.stringify(await node.hgetall(key))
              : type === 'zset'
                ? JSON.stringify(await node.zrange(key, '0', '-1'))
                : String(await node.get(key));
          expect(dump).not.toContain(API_KEY);
        }
      } finally {
        await f.close();
      }
    }, 120_000);
  },
);

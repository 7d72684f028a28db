/**
 * Fleet mode with a real `redis-server` (started here on a free port, without persistence, and
 * stopped by pid): the Redis store's scripts, then worker processes — each the real SDK over
 * `createClaudeFetch` with the Redis store — against the fake API. Workers are driven in lockstep
 * rounds over IPC, so what each round may send is decided by the shared state, not by timing.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fleetBreakerConfig } from '../../src/policies/fleet-breaker.js';
import { RedisFleetStore } from '../../src/store/redis.js';
import { startFakeClaude } from '../../src/testing/index.js';
import type { FakeClaude, Fault } from '../../src/testing/types.js';
import {
  type FleetBackend,
  fleetTools,
  sharedFleetScenarios,
  sleep,
  WORKERS,
} from '../helpers/fleet-scenarios.js';
import type { WorkerResult } from '../helpers/fleet-worker.js';
import { hasRedis, type RedisServer, startRedis } from '../helpers/redis.js';

const API_KEY = 'sk-ant-fleet-test-key';

describe.skipIf(!hasRedis())('fleet mode with redis-server', () => {
  let redis: RedisServer;
  let fake: FakeClaude;
  let fault: (worker: string, index: number) => Fault | undefined = () => undefined;
  let prefixes = 0;

  beforeAll(async () => {
    redis = await startRedis();
    fake = await startFakeClaude({
      faultFor: (r) => fault(r.headers['x-worker'] ?? '?', r.index),
    });
  });
  afterAll(async () => {
    await fake?.close();
    await redis?.stop('SIGTERM');
  });

  const backend: FleetBackend = {
    fake: () => fake,
    setFault: (f) => {
      fault = f;
    },
    store: () => ({ redisUrl: redis.url }),
  };
  /** Fleets sharing a fresh key prefix, the fake reset. */
  const { fleet, flat } = fleetTools(backend, () => `t${++prefixes}:`);

  describe('RedisFleetStore scripts', () => {
    let store: RedisFleetStore;
    beforeAll(async () => {
      store = new RedisFleetStore({ url: redis.url, prefix: 'unit:', maxValueBytes: 64 });
      await store.ready();
    });
    afterAll(async () => {
      await store.close();
    });

    it('opens at the threshold and gives each half-open probe slot to exactly one owner', async () => {
      const config = fleetBreakerConfig(
        {
          mode: 'consecutive',
          consecutiveFailures: 3,
          openMs: 100,
          openBackoffMultiplier: 2,
          halfOpenProbes: 2,
        },
        10_000,
      );
      for (let i = 0; i < 2; i++) expect((await store.breakerRecord('k', true, config)).state).toBe('closed');
      const opened = await store.breakerRecord('k', true, config);
      expect(opened.state).toBe('open');
      expect(opened.openForMs).toBeGreaterThan(0);
      expect(opened.openForMs).toBeLessThanOrEqual(100);
      await sleep(120);
      const slots = await Promise.all(
        Array.from({ length: 20 }, (_, i) => store.breakerAcquireProbe('k', `owner-${i}`, config)),
      );
      const granted = slots.flatMap((s, i) => (s.granted ? [`owner-${i}`] : []));
      expect(granted).toHaveLength(2);
      const [first, second] = granted as [string, string];
      const reopened = await store.breakerSettleProbe('k', first, 'failure', config);
      expect(reopened.state).toBe('open');
      // Doubled open duration.
      expect(reopened.openForMs).toBeGreaterThan(100);
      // The other probe belonged to the half-open period that ended.
      expect((await store.breakerSettleProbe('k', second, 'success', config)).state).toBe('open');
      await sleep(220);
      const slot = await store.breakerAcquireProbe('k', 'late', config);
      expect(slot.granted).toBe(true);
      expect((await store.breakerSettleProbe('k', 'late', 'success', config)).state).toBe('closed');
    });

    it('counts the last outcomes of the fleet in a count window', async () => {
      const rate = fleetBreakerConfig(
        { failureRateThreshold: 0.5, minimumThroughput: 4, window: { kind: 'count', size: 4 } },
        10_000,
      );
      for (const failed of [false, false, false, false, true]) {
        expect((await store.breakerRecord('c', failed, rate)).state).toBe('closed');
      }
      expect((await store.breakerRecord('c', true, rate)).state).toBe('open');
    });

    it('claims headroom atomically across concurrent callers', async () => {
      const r = { requests: { limit: 100, remaining: 5, resetInMs: 60_000 } };
      await store.headroomPut('claims', { resources: r, ageMs: 0, blockedForMs: 0 });
      const claims = await Promise.all(
        Array.from({ length: 20 }, () =>
          store.headroomClaim('claims', { requests: 1, inputTokens: 1 }, 'at_reset'),
        ),
      );
      expect(claims.filter((c) => c.granted)).toHaveLength(5);
      const refused = claims.find((c) => !c.granted);
      expect(refused?.resource).toBe('requests');
      expect(refused?.waitMs).toBeGreaterThan(50_000);
      // Continuous refill: 95 come back over 60 s, so one more after ~632 ms.
      const next = await store.headroomClaim('claims', { requests: 1, inputTokens: 1 }, 'continuous');
      expect(next.granted).toBe(false);
      expect(next.waitMs).toBeGreaterThan(0);
      expect(next.waitMs).toBeLessThan(1_000);
    });

    it('keeps the budget, the newest headroom and bounded cache values, under the prefix with a TTL', async () => {
      expect(await store.budgetAdd('b', -3_000, 10_000)).toBe(7_000);
      expect(await store.budgetAdd('b', -30_000, 10_000)).toBe(0);
      const r = (remaining: number) => ({ requests: { limit: 10, remaining, resetInMs: 1_000 } });
      await store.headroomPut('h', { resources: r(4), ageMs: 0, blockedForMs: 5_000 });
      await store.headroomPut('h', { resources: r(9), ageMs: 60_000, blockedForMs: 0 });
      const h = await store.headroomGet('h');
      expect(h?.resources).toEqual(r(4));
      expect(h?.blockedForMs).toBeGreaterThan(4_000);
      await store.cacheSet('big', { status: 200, headers: {}, body: 'x'.repeat(65) }, 10_000);
      expect(await store.cacheGet('big')).toBeUndefined();
      await store.cacheSet(
        'small',
        { status: 200, headers: { 'content-type': 'application/json' }, body: '{}' },
        10_000,
      );
      expect((await store.cacheGet('small'))?.body).toBe('{}');
      const keys = await store.client.keys('*');
      expect(keys.length).toBeGreaterThan(0);
      for (const key of keys) {
        expect(key.startsWith('unit:')).toBe(true);
        expect(await store.client.pttl(key)).toBeGreaterThan(0);
      }
    });
  });

  sharedFleetScenarios(backend, () => `t${++prefixes}:`);

  it('Redis frozen (SIGSTOP, so every call hangs): requests go on on local state; shared again after SIGCONT', async () => {
    fault = () => undefined;
    const f = await fleet(
      { retry: true, breaker: { mode: 'consecutive', consecutiveFailures: 3 }, throttle: {} },
      { storeTimeoutMs: 100, storeRetryMs: 200 },
    );
    try {
      const results: WorkerResult[] = flat(await f.send(2));
      const pid = redis.pid;
      if (pid === undefined) throw new Error('redis is not running');
      process.kill(pid, 'SIGSTOP');
      try {
        results.push(...flat(await f.send(3)));
        const frozen = await f.stats();
        expect(frozen.every((s) => !s.storeShared && s.storeErrors > 0)).toBe(true);
      } finally {
        process.kill(pid, 'SIGCONT');
      }
      for (let i = 0; i < 100; i++) {
        results.push(...flat(await f.send(1, { gapMs: 50 })));
        if ((await f.stats()).every((s) => s.storeShared)) break;
      }
      expect((await f.stats()).every((s) => s.storeShared)).toBe(true);
      expect(results.filter((r) => !r.ok)).toEqual([]);
    } finally {
      await f.close();
    }
  });

  it('Redis killed mid-run and restarted: no request fails because of it, and the fleet recovers', async () => {
    fault = () => undefined;
    const f = await fleet(
      { retry: true, breaker: { mode: 'consecutive', consecutiveFailures: 3 }, throttle: {} },
      { storeTimeoutMs: 100, storeRetryMs: 200 },
    );
    try {
      const results: WorkerResult[] = [];
      results.push(...flat(await f.send(3)));
      await redis.stop('SIGKILL');
      for (let i = 0; i < 3; i++) results.push(...flat(await f.send(3)));
      const down = await f.stats();
      expect(down.every((s) => !s.storeShared)).toBe(true);
      await redis.restart();
      // Until every worker probed the store again (every 200 ms) and went back to shared state.
      for (let i = 0; i < 100; i++) {
        results.push(...flat(await f.send(1, { gapMs: 50 })));
        if ((await f.stats()).every((s) => s.storeShared)) break;
      }
      const up = await f.stats();
      expect(up.every((s) => s.storeShared)).toBe(true);
      // Logged once each way per worker.
      for (const s of up) {
        expect(s.logs.filter((l) => l === 'anthropic.store.degraded')).toHaveLength(1);
        expect(s.logs.filter((l) => l === 'anthropic.store.recovered')).toHaveLength(1);
      }
      expect(results.length).toBeGreaterThan(WORKERS * 10);
      expect(results.filter((r) => !r.ok)).toEqual([]);
      // And the fleet shares state again: its keys are back in Redis, none holding the API key.
      const check = new Redis(redis.url);
      try {
        const keys = await check.keys('*');
        expect(keys.length).toBeGreaterThan(0);
        for (const key of keys) {
          const type = await check.type(key);
          const dump =
            type === 'hash'
              ? JSON.stringify(await check.hgetall(key))
              : type === 'zset'
                ? JSON.stringify(await check.zrange(key, '0', '-1'))
                : String(await check.get(key));
          expect(dump).not.toContain(API_KEY);
        }
      } finally {
        check.disconnect();
      }
    } finally {
      await f.close();
    }
  });
});

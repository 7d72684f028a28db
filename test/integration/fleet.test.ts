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
import { type Fleet, startFleet } from '../helpers/fleet.js';
import type { WorkerConfig, WorkerResult } from '../helpers/fleet-worker.js';
import { hasRedis, type RedisServer, startRedis } from '../helpers/redis.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const WORKERS = 4;
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

  /** A fleet sharing a fresh key prefix, the fake reset. */
  async function fleet(options: WorkerConfig['options'], extra: Partial<WorkerConfig> = {}): Promise<Fleet> {
    fake.reset();
    const prefix = `t${++prefixes}:`;
    return startFleet(WORKERS, (id) => ({
      id,
      fakeUrl: fake.url,
      redisUrl: redis.url,
      prefix,
      options,
      ...extra,
    }));
  }

  const attempts = () => fake.requests.filter((r) => r.path === '/v1/messages').length;
  const flat = (results: WorkerResult[][]) => results.flat();
  const types = (results: WorkerResult[][]) => flat(results).map((r) => r.errorType ?? 'ok');

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

  it('sustained 529: the breaker opens for all at the shared threshold; one probe across the fleet', async () => {
    fault = () => ({ status: 529 });
    const f = await fleet({
      breaker: {
        mode: 'consecutive',
        consecutiveFailures: 6,
        openMs: 600,
        openBackoffMultiplier: 2,
        halfOpenProbes: 1,
        // Fail fast: this test counts refusals (holding has its own tests, fleet-hold.test.ts).
        hold: false,
      },
    });
    try {
      // Rounds of one request per worker at once. Two rounds: the 6th failure opened the breaker (a
      // worker that started its second request after that may have been refused already).
      await f.send(1);
      await f.send(1);
      const opened = attempts();
      expect(opened).toBeGreaterThanOrEqual(6);
      expect(opened).toBeLessThanOrEqual(2 * WORKERS);
      // Every worker learnt it from its own outcome: nothing more is sent.
      const third = await f.send(1);
      expect(types(third)).toEqual(Array(WORKERS).fill('circuit_open'));
      expect(attempts()).toBe(opened);
      // Local breakers would each have needed 6 failures: 24 attempts.
      await sleep(700);
      // Half-open: all four try at once, exactly one probe goes out (and fails: re-opened for 1.2 s).
      const probe = await f.send(1);
      expect(attempts()).toBe(opened + 1);
      expect(types(probe).filter((t) => t === 'circuit_open')).toHaveLength(WORKERS - 1);
      expect((await f.send(1)).flat().every((r) => r.errorType === 'circuit_open')).toBe(true);
      expect(attempts()).toBe(opened + 1);
      // Recovery: the next probe succeeds (slowly, so that the others ask for a slot while it is
      // out) and closes the breaker for the whole fleet.
      fault = () => ({ delayHeadersMs: 300 });
      await sleep(1_300);
      const recovering = await f.send(1);
      expect(attempts()).toBe(opened + 2);
      expect(flat(recovering).filter((r) => r.ok)).toHaveLength(1);
      const after = await f.send(1);
      expect(flat(after).every((r) => r.ok)).toBe(true);
      expect(attempts()).toBe(opened + 2 + WORKERS);
    } finally {
      await f.close();
    }
  });

  it("sustained 529: the fleet's retries stay within one shared budget", async () => {
    fault = () => ({ status: 529 });
    const maxTokens = 10;
    const f = await fleet({
      retry: { maxAttempts: 3, backoff: { baseMs: 1, capMs: 2 }, budget: { maxTokens } },
    });
    try {
      const rounds = 6;
      for (let i = 0; i < rounds; i++) await f.send(1);
      const requests = rounds * WORKERS;
      const retries = attempts() - requests;
      // Retries stop once half the shared bucket is spent (5 failures); each worker may overshoot
      // by the retries of the one request it had in flight while learning it.
      expect(retries).toBeGreaterThan(0);
      expect(retries).toBeLessThanOrEqual(maxTokens / 2 + WORKERS * 2);
      // Four local budgets would have allowed 4 × 5 = 20 retries.
      expect(retries).toBeLessThan(WORKERS * (maxTokens / 2));
    } finally {
      await f.close();
    }
  });

  it('a 429 seen by one worker holds the others', async () => {
    let limited = false;
    fault = (worker) => {
      if (worker === '0' && !limited) {
        limited = true;
        return { status: 429, headers: { 'retry-after': '30' } };
      }
      return undefined;
    };
    const f = await fleet({ throttle: { maxWaitMs: 1_000 } });
    try {
      expect(flat(await f.send(1, { ids: [1, 2, 3] })).every((r) => r.ok)).toBe(true);
      const first = await f.send(1, { ids: [0] });
      expect(first[0]?.[0]?.status).toBe(429);
      expect(attempts()).toBe(4);
      // The others have seen no 429 themselves: the fleet's block holds them (30 s > maxWaitMs).
      const others = await f.send(1, { ids: [1, 2, 3] });
      expect(types(others)).toEqual(['throttled', 'throttled', 'throttled']);
      expect(attempts()).toBe(4);
    } finally {
      await f.close();
    }
  });

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

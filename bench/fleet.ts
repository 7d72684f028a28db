/**
 * Fleet scenario benchmark (`npm run bench:fleet`): 8 worker processes, each the real SDK over
 * `createClaudeFetch` with retries, breakers and the proactive throttle, start one request every 100 ms
 * each (open loop) to one fake region that enforces a rate limit; after a healthy start the region answers
 * 529 to everything for a while, then recovers. Run with local state only (each process its own
 * breaker, budget and headroom) and sharing them through Redis (a real `redis-server` on a free
 * port), each without and with the throttle; then through a Redis Cluster (three masters from
 * `redis-server --cluster-enabled yes`, an ioredis `Cluster`), once healthy and once with the master
 * holding the headroom key killed (SIGKILL) during the run and restarted. Prints a Markdown table.
 *
 * Env: FLEET_WORKERS (8), FLEET_MS (9000: total), FLEET_FAIL_FROM_MS (1500), FLEET_FAIL_MS (3500),
 * FLEET_LIMIT (100 requests per 2 s window), FLEET_INTERVAL_MS (100: each worker starts a request every 100 ms, open loop).
 */

import { Cluster } from 'ioredis';
import { RedisFleetStore } from '../src/store/redis.js';
import { startFakeClaude } from '../src/testing/index.js';
import type { Fault } from '../src/testing/types.js';
import { startFleet } from '../test/helpers/fleet.js';
import type { WorkerConfig, WorkerResult } from '../test/helpers/fleet-worker.js';
import { hasRedis, startRedis } from '../test/helpers/redis.js';
import { clusterUnavailable, type RedisCluster, startRedisCluster } from '../test/helpers/redis-cluster.js';

const WORKERS = Number(process.env.FLEET_WORKERS ?? 8);
const TOTAL_MS = Number(process.env.FLEET_MS ?? 9_000);
const FAIL_FROM_MS = Number(process.env.FLEET_FAIL_FROM_MS ?? 1_500);
const FAIL_MS = Number(process.env.FLEET_FAIL_MS ?? 3_500);
const LIMIT = Number(process.env.FLEET_LIMIT ?? 100);
const WINDOW_MS = 2_000;
const LATENCY_MS = 20;
const BUCKET_MS = 250;
const INTERVAL_MS = Number(process.env.FLEET_INTERVAL_MS ?? 100);
/** The cluster outage row: the master holding the headroom key is killed and restarted. */
const KILL_AT_MS = 3_000;
const BACK_AT_MS = 6_000;

const OPTIONS: WorkerConfig['options'] = {
  retry: { maxAttempts: 3, backoff: { baseMs: 20, capMs: 200 } },
  breaker: { openMs: 1_000, openBackoffMultiplier: 1, halfOpenProbes: 1 },
  // The fake counts a fixed window: its headroom comes back at the reset.
  throttle: { maxWaitMs: 2_000, refill: 'at_reset' },
  timeouts: { totalMs: 3_000 },
};

interface Row {
  variant: string;
  requests: number;
  success: number;
  failingAttempts: number;
  limited: number;
  attempts: number;
  recoverMs: number | undefined;
  firstSuccessMs: number | undefined;
  storeErrors: number;
  storeTimeouts: number;
  throttleWaits: number;
}

/** Where the workers share state, and what happens to it during the run. */
interface Backend {
  store: Pick<WorkerConfig, 'redisUrl' | 'cluster'>;
  prefix?: string;
  /** Called with the run's start; returns a promise for whatever it does meanwhile. */
  during?: () => Promise<void>;
}

async function run(variant: string, backend: Backend | undefined, options = OPTIONS): Promise<Row> {
  let failing = false;
  const fake = await startFakeClaude({
    rateLimit: { requests: LIMIT, windowMs: WINDOW_MS, enforce: true },
    faultFor: (): Fault =>
      failing ? { status: 529, delayHeadersMs: LATENCY_MS } : { delayHeadersMs: LATENCY_MS },
  });
  const fleet = await startFleet(WORKERS, (id) => ({
    id,
    fakeUrl: fake.url,
    ...backend?.store,
    prefix: backend?.prefix ?? `bench:${Date.now()}:`,
    options,
    syncMs: 100,
  }));
  try {
    const start = Date.now();
    const failTimer = setTimeout(() => {
      failing = true;
    }, FAIL_FROM_MS);
    const recoverTimer = setTimeout(() => {
      failing = false;
    }, FAIL_FROM_MS + FAIL_MS);
    const during = backend?.during?.();
    const results: WorkerResult[] = (
      await fleet.send(1e9, { intervalMs: INTERVAL_MS, durationMs: TOTAL_MS })
    ).flat();
    await during;
    clearTimeout(failTimer);
    clearTimeout(recoverTimer);
    const recoveredAt = start + FAIL_FROM_MS + FAIL_MS;
    const after = results.filter((r) => r.at >= recoveredAt).sort((a, b) => a.at - b.at);
    const firstSuccess = after.find((r) => r.ok);
    // The first bucket after the recovery in which ≥ 90 % of the requests that finished succeeded.
    let recoverMs: number | undefined;
    for (let t = recoveredAt; t < start + TOTAL_MS; t += BUCKET_MS) {
      const inBucket = after.filter((r) => r.at >= t && r.at < t + BUCKET_MS);
      if (inBucket.length > 0 && inBucket.filter((r) => r.ok).length / inBucket.length >= 0.9) {
        recoverMs = t + BUCKET_MS - recoveredAt;
        break;
      }
    }
    const stats = await fleet.stats();
    const messages = fake.requests.filter((r) => r.path === '/v1/messages');
    const outcomes = new Map<string, number>();
    for (const r of results) outcomes.set(r.errorType ?? 'ok', (outcomes.get(r.errorType ?? 'ok') ?? 0) + 1);
    console.error(variant, Object.fromEntries(outcomes), {
      storeTimeoutsPerProcess: stats.map((x) => x.storeTimeouts),
      events: stats.map((x) =>
        x.events.map((e) => `${e.event.replace('anthropic.store.', '')} ${e.shard ?? ''}`),
      ),
    });
    return {
      variant,
      requests: results.length,
      success: results.filter((r) => r.ok).length / Math.max(1, results.length),
      failingAttempts: messages.filter((r) => r.fault?.status === 529).length,
      limited: messages.filter((r) => r.fault?.status === 429).length,
      attempts: messages.length,
      recoverMs,
      firstSuccessMs: firstSuccess !== undefined ? firstSuccess.at - recoveredAt : undefined,
      storeErrors: stats.reduce((n, x) => n + x.storeErrors, 0),
      storeTimeouts: stats.reduce((n, x) => n + x.storeTimeouts, 0),
      throttleWaits: stats.reduce((n, x) => n + x.throttleWaits, 0),
    };
  } finally {
    await fleet.close();
    await fake.close();
  }
}

/** A prefix whose headroom key (claimed before every request) is on another master than the breaker's. */
async function killPlan(rc: RedisCluster): Promise<{ prefix: string; index: number }> {
  const admin = new Cluster(rc.startupNodes, { enableOfflineQueue: false });
  admin.on('error', () => undefined);
  try {
    await new RedisFleetStore({ client: admin }).ready();
    const key = '127.0.0.1|claude-sonnet-4-6';
    for (let n = 0; n < 100; n++) {
      const prefix = `bench:kill${Date.now()}:${n}:`;
      const store = new RedisFleetStore({ client: admin, prefix });
      const victim = store.shardOf('headroom', key);
      if (victim !== store.shardOf('breaker', key)) {
        return { prefix, index: rc.nodes.findIndex((node) => node.key === victim) };
      }
    }
    throw new Error('no prefix puts the headroom and the breaker on different masters');
  } finally {
    admin.disconnect();
  }
}

const ms = (v: number | undefined): string =>
  v === undefined ? 'not within the run' : `${(v / 1000).toFixed(2)} s`;

async function main(): Promise<void> {
  if (!hasRedis()) throw new Error('redis-server is needed (Debian package redis-server)');
  const noCluster = clusterUnavailable();
  if (noCluster !== undefined) throw new Error(noCluster);
  const redis = await startRedis();
  let rc: RedisCluster | undefined;
  try {
    const rows: Row[] = [];
    const { throttle: _, ...withoutThrottle } = OPTIONS;
    const single = { store: { redisUrl: redis.url } };
    rows.push(await run('local state, no throttle', undefined, withoutThrottle));
    rows.push(await run('shared state (Redis), no throttle', single, withoutThrottle));
    rows.push(await run('local state, throttle', undefined));
    rows.push(await run('shared state (Redis), throttle', single));
    rc = await startRedisCluster();
    const cluster = { store: { cluster: rc.startupNodes } };
    rows.push(await run('shared state (Redis Cluster, 3 masters), throttle', cluster));
    const plan = await killPlan(rc);
    const cl = rc;
    rows.push(
      await run(
        `shared state (Redis Cluster), throttle, a master killed at ${KILL_AT_MS / 1000} s, back at ${BACK_AT_MS / 1000} s`,
        {
          ...cluster,
          prefix: plan.prefix,
          during: async () => {
            await new Promise((r) => setTimeout(r, KILL_AT_MS));
            await cl.kill(plan.index);
            await new Promise((r) => setTimeout(r, BACK_AT_MS - KILL_AT_MS));
            await cl.restart(plan.index);
          },
        },
      ),
    );
    console.log(
      `\n${WORKERS} processes × one request every ${INTERVAL_MS} ms, ${TOTAL_MS / 1000} s; 529 from ${FAIL_FROM_MS / 1000} s for ${FAIL_MS / 1000} s; limit ${LIMIT} requests / ${WINDOW_MS / 1000} s enforced; ${LATENCY_MS} ms latency\n`,
    );
    console.log(
      '| variant | requests | success | attempts sent during the 529s | 429s received | attempts in all | first success after recovery | time to ≥ 90 % success | throttle holds | store errors | store-timeout waits |',
    );
    console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
    for (const r of rows) {
      console.log(
        `| ${r.variant} | ${r.requests} | ${(r.success * 100).toFixed(1)} % | ${r.failingAttempts} | ${r.limited} | ${r.attempts} | ${ms(r.firstSuccessMs)} | ${ms(r.recoverMs)} | ${r.throttleWaits} | ${r.storeErrors} | ${r.storeTimeouts} |`,
      );
    }
  } finally {
    await redis.stop('SIGTERM');
    await rc?.stop();
  }
}

await main();

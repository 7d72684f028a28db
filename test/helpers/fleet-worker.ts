/**
 * One worker process of a fleet (for the fleet tests and `bench/fleet.ts`): the real
 * `@anthropic-ai/sdk` client over `createClaudeFetch`, with the Redis fleet store or local state
 * only, driven by its parent over IPC (`child_process.fork`):
 *
 * - `{ type: 'init', config }` → `{ type: 'ready' }`
 * - `{ type: 'send', count, concurrency, gapMs, durationMs }` → `{ type: 'results', results }`
 *   (one per request: ok, status, error type, ms, when it finished)
 * - `{ type: 'stats' }` → `{ type: 'stats', logs, storeShared, storeErrors, throttleWaits }`
 * - `{ type: 'advance', ms, store }` → `{ type: 'advanced' }`: moves this worker's policy clock `ms`
 *   ahead and, with `store`, the fleet's shared breaker deadlines in Redis (open-until and probe
 *   leases, which the scripts compare with the server's `TIME`) by as much, so that an open period
 *   ends when the test says, not when real time has passed.
 * - `{ type: 'exit' }` closes the store and exits.
 */
import Anthropic from '@anthropic-ai/sdk';
import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import { Cluster } from 'ioredis';
import { createClaudeFetch } from '../../src/fetch.js';
import type { ClaudeFetchOptions } from '../../src/options.js';
import { systemClock } from '../../src/policies/clock.js';
import { claudeOtelErrorOf } from '../../src/policies/errors.js';
import type { Clock } from '../../src/policies/types.js';
import type { StoreLogger } from '../../src/store/guard.js';
import { RedisFleetStore } from '../../src/store/redis.js';

export interface WorkerConfig {
  id: number;
  fakeUrl: string;
  /** Redis to share state through; none: local state only. */
  redisUrl?: string;
  /** A Redis Cluster to share state through instead (startup nodes of an ioredis `Cluster`). */
  cluster?: Array<{ host: string; port: number }>;
  /** The store's cache bound (`maxCacheBytes`). */
  maxCacheBytes?: number;
  prefix?: string;
  /** The policy options (JSON: retry, breaker, throttle, timeouts). */
  options: Pick<ClaudeFetchOptions, 'retry' | 'breaker' | 'throttle' | 'timeouts' | 'cache'>;
  syncMs?: number;
  storeTimeoutMs?: number;
  storeRetryMs?: number;
}

export interface WorkerResult {
  ok: boolean;
  status: number | undefined;
  errorType: string | undefined;
  ms: number;
  /** `Date.now()` when it finished. */
  at: number;
}

type Message =
  | { type: 'init'; config: WorkerConfig }
  | {
      type: 'send';
      count: number;
      concurrency?: number;
      gapMs?: number;
      durationMs?: number;
      intervalMs?: number;
    }
  | { type: 'stats' }
  | { type: 'advance'; ms: number; store?: boolean }
  | { type: 'exit' };

/** The policies' clock: the real one, plus however far the test has moved it ahead. */
let offsetMs = 0;
const clock: Clock = {
  now: () => systemClock.now() + offsetMs,
  sleep: (ms, signal) => systemClock.sleep(ms, signal),
  setTimer: (fn, ms) => systemClock.setTimer(fn, ms),
};

/** Moves the shared breakers' deadlines under `prefix` `ms` earlier (on every master of a cluster). */
async function advanceStore(prefix: string, ms: number): Promise<void> {
  const nodes = cluster !== undefined ? cluster.nodes('master') : store !== undefined ? [store.client] : [];
  for (const node of nodes) {
    for (const key of await node.keys(`${prefix}breaker:*`)) {
      const type = await node.type(key);
      if (type === 'hash') {
        if ((await node.hexists(key, 'openUntil')) === 1) await node.hincrby(key, 'openUntil', -ms);
      } else if (type === 'zset') {
        const members = await node.zrange(key, '0', '-1', 'WITHSCORES');
        for (let i = 0; i + 1 < members.length; i += 2) {
          await node.zadd(key, Number(members[i + 1]) - ms, members[i] as string);
        }
      }
    }
  }
}

/** Reads the worker's metrics on demand. */
class Reader extends MetricReader {
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}
}
const reader = new Reader();
const meterProvider = new MeterProvider({ readers: [reader] });

/** Sum of a metric's points (a gauge: its last value), of those whose attributes `match`. */
async function metric(
  name: string,
  match: (attributes: Record<string, unknown>) => boolean = () => true,
): Promise<number | undefined> {
  const { resourceMetrics } = await reader.collect();
  let sum: number | undefined;
  for (const scope of resourceMetrics.scopeMetrics) {
    for (const m of scope.metrics) {
      if (m.descriptor.name !== name) continue;
      for (const p of m.dataPoints) {
        if (match(p.attributes)) sum = (sum ?? 0) + (p.value as number);
      }
    }
  }
  return sum;
}

let client: Anthropic | undefined;
let store: RedisFleetStore | undefined;
let cluster: Cluster | undefined;
let prefix = '';
const logs: string[] = [];
/** The store's events with their shard and `Date.now()`. */
const events: Array<{ event: string; shard: string | undefined; at: number }> = [];

const logger: StoreLogger = {
  warn: (obj) => {
    logs.push(String(obj.event));
    events.push({ event: String(obj.event), shard: obj.shard as string | undefined, at: Date.now() });
    if (process.env.FLEET_DEBUG) console.error(Date.now(), process.pid, obj.event, obj.operation, obj.reason);
  },
  info: (obj) => {
    logs.push(String(obj.event));
    events.push({ event: String(obj.event), shard: obj.shard as string | undefined, at: Date.now() });
    if (process.env.FLEET_DEBUG) console.error(Date.now(), process.pid, obj.event);
  },
};

function send(message: unknown): void {
  process.send?.(message);
}

async function one(id: number): Promise<WorkerResult> {
  const started = performance.now();
  try {
    await client?.messages.create({
      model: 'claude-sonnet-4-6',
      max_tokens: 32,
      messages: [{ role: 'user', content: `worker ${id}: hello` }],
    });
    return { ok: true, status: 200, errorType: undefined, ms: performance.now() - started, at: Date.now() };
  } catch (error) {
    const ours = claudeOtelErrorOf(error);
    const e = error as { status?: number; error?: { error?: { type?: string } } };
    return {
      ok: false,
      status: e.status,
      errorType: ours?.type ?? e.error?.error?.type ?? (error instanceof Error ? error.name : 'error'),
      ms: performance.now() - started,
      at: Date.now(),
    };
  }
}

process.on('message', (message: Message) => {
  void (async () => {
    if (message.type === 'init') {
      const c = message.config;
      const options: ClaudeFetchOptions = { ...c.options, meterProvider, clock };
      prefix = c.prefix ?? 'claude-otel:';
      if (c.cluster !== undefined) {
        // The setup the README recommends for Redis Cluster.
        cluster = new Cluster(c.cluster, {
          enableOfflineQueue: false,
          scaleReads: 'master',
          redisOptions: { maxRetriesPerRequest: 0, connectTimeout: 1_000 },
        });
        store = new RedisFleetStore({ client: cluster, prefix: c.prefix, maxCacheBytes: c.maxCacheBytes });
      } else if (c.redisUrl !== undefined) {
        store = new RedisFleetStore({ url: c.redisUrl, prefix: c.prefix, maxCacheBytes: c.maxCacheBytes });
      }
      if (store !== undefined) {
        await store.ready();
        options.store = {
          store,
          syncMs: c.syncMs ?? 20,
          timeoutMs: c.storeTimeoutMs ?? 1_000,
          retryMs: c.storeRetryMs ?? 200,
          logger,
        };
      }
      client = new Anthropic({
        apiKey: 'sk-ant-fleet-test-key',
        baseURL: c.fakeUrl,
        maxRetries: 0,
        defaultHeaders: { 'x-worker': String(c.id) },
        fetch: createClaudeFetch(options),
      });
      send({ type: 'ready' });
    } else if (message.type === 'send') {
      const results: WorkerResult[] = [];
      const concurrency = message.concurrency ?? 1;
      let next = 0;
      const end = message.durationMs !== undefined ? performance.now() + message.durationMs : Infinity;
      if (message.intervalMs !== undefined) {
        // Open loop: one request every intervalMs, whatever the others are doing.
        const pending: Array<Promise<void>> = [];
        for (let i = 0; i < message.count && performance.now() < end; i++) {
          pending.push(one(i).then((r) => void results.push(r)));
          await new Promise((r) => setTimeout(r, message.intervalMs));
        }
        await Promise.all(pending);
      }
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          while (message.intervalMs === undefined && next < message.count && performance.now() < end) {
            const i = next++;
            results.push(await one(i));
            if (message.gapMs) await new Promise((r) => setTimeout(r, message.gapMs));
          }
        }),
      );
      // Let the write-behind store calls of the last outcome land before answering.
      await new Promise((r) => setTimeout(r, 30));
      send({ type: 'results', results });
    } else if (message.type === 'stats') {
      send({
        type: 'stats',
        logs,
        events,
        storeShared: (await metric('anthropic.client.store.state')) === 1,
        storeErrors: (await metric('anthropic.client.store.errors')) ?? 0,
        // Waits of the store timeout a policy's call ran into (not the background health checks).
        storeTimeouts:
          (await metric(
            'anthropic.client.store.errors',
            (a) => a['error.type'] === 'timeout' && a['anthropic.store.operation'] !== 'probe',
          )) ?? 0,
        throttleWaits: (await metric('anthropic.client.throttle.waits')) ?? 0,
        breakerRejections: (await metric('anthropic.client.circuit_breaker.rejections')) ?? 0,
      });
    } else if (message.type === 'advance') {
      if (message.store) await advanceStore(prefix, message.ms);
      offsetMs += message.ms;
      send({ type: 'advanced' });
    } else if (message.type === 'exit') {
      await store?.close();
      cluster?.disconnect();
      process.exit(0);
    }
  })();
});

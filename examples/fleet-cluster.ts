// Fleet mode on Redis Cluster: the store on an ioredis Cluster, its health kept per master.
// Needs a Redis Cluster; REDIS_CLUSTER is any node's host:port (default 127.0.0.1:7000).
import Anthropic from '@anthropic-ai/sdk';
import { createClaudeFetch } from 'claude-otel-middleware';
import { RedisFleetStore } from 'claude-otel-middleware/redis';
import { startFakeClaude } from 'claude-otel-middleware/testing';
import { Cluster } from 'ioredis';

const [host = '127.0.0.1', port = '7000'] = (process.env.REDIS_CLUSTER ?? '').split(':').filter(Boolean);
const cluster = new Cluster([{ host, port: Number(port) }], {
  enableOfflineQueue: false, // fail at once while the cluster is not ready, rather than queue
  scaleReads: 'master', // the default: reads see the scripts' writes, and check the master itself
  redisOptions: { maxRetriesPerRequest: 0, connectTimeout: 1_000 },
});
const store = new RedisFleetStore({ client: cluster, prefix: 'myapp:claude:' });
// Connects and loads the scripts on every master; without a cluster the fetch still works, each
// process on its own state.
let shared = true;
try {
  await store.ready();
} catch (error) {
  shared = false;
  console.log(`Redis Cluster not reachable (${(error as Error).message}): each process keeps its own state`);
}

const fetch = createClaudeFetch({ retry: true, breaker: true, throttle: true, cache: true, store });
const fake = await startFakeClaude(); // in your app: drop it, and the client's apiKey and baseURL
const client = new Anthropic({ apiKey: 'test-key', baseURL: fake.url, fetch });
await client.messages.create({
  model: 'claude-sonnet-4-6',
  max_tokens: 64,
  messages: [{ role: 'user', content: 'hi' }],
});

// Which master holds what (each one's outage degrades only its own keys).
if (shared) {
  const key = `${new URL(fake.url).hostname}|claude-sonnet-4-6`;
  console.log(`breaker on ${store.shardOf('breaker', key)}`);
  console.log(`budget on ${store.shardOf('budget', 'retry')}`);
  console.log(`headroom on ${store.shardOf('headroom', key)}`);
}

fetch.shutdown();
if (shared)
  await cluster.quit(); // the client is yours: neither shutdown() nor store.close() closes it
else cluster.disconnect();
await fake.close();

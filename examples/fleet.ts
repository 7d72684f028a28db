// Fleet mode: breakers, retry budget, rate-limit headroom and cache shared through Redis.
// Needs a Redis server at REDIS_URL (default redis://127.0.0.1:6379); without one the fetch still
// works, each process on its own state.
import Anthropic from '@anthropic-ai/sdk';
import { createClaudeFetch } from 'claude-otel-middleware';
import { RedisFleetStore } from 'claude-otel-middleware/redis'; // the only entry point that loads ioredis
import { startFakeClaude } from 'claude-otel-middleware/testing';

const store = new RedisFleetStore({ url: process.env.REDIS_URL, prefix: 'myapp:claude:' });
// Wait for the connection before the first request: the store never queues commands while it
// connects (a request must not wait on Redis), so calls made before then fail, and the fetch would
// start degraded — on local state, logging `anthropic.store.degraded` — until a retry finds Redis.
try {
  await store.ready();
} catch (error) {
  console.log(`Redis not reachable (${(error as Error).message}): each process keeps its own state`);
}

const fetch = createClaudeFetch({
  retry: true,
  breaker: true,
  throttle: { maxWaitMs: 10_000 },
  cache: true,
  // or just `store`; `logger` prints the store's unavailability and recovery (here to the console)
  store: { store, syncMs: 250, timeoutMs: 100, logger: console },
});
const fake = await startFakeClaude(); // in your app: drop it, and the client's apiKey and baseURL
const client = new Anthropic({ apiKey: 'test-key', baseURL: fake.url, fetch });
await client.messages.create({
  model: 'claude-sonnet-4-6',
  max_tokens: 64,
  messages: [{ role: 'user', content: 'hi' }],
});

if (store.client.status === 'ready') {
  const keys = await store.client.keys('myapp:claude:*');
  console.log(`shared in Redis: ${keys.sort().join(', ')}`);
}
fetch.shutdown();
await store.close(); // the store is yours: shutdown() leaves it open
await fake.close();

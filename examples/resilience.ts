// The resilience policies together, against two fake regions: the primary one is down (its proxy
// answers 503 pages), so the call fails over to the secondary one and succeeds.
import Anthropic from '@anthropic-ai/sdk';
import { createClaudeFetch } from 'claude-otel-middleware';
import { startFakeClaude } from 'claude-otel-middleware/testing';

const primary = await startFakeClaude({ name: 'primary', faultFor: () => ({ status: 503, body: 'html' }) });
const secondary = await startFakeClaude({ name: 'secondary' });

const fetch = createClaudeFetch({
  retry: { maxAttempts: 4 }, // or `true` for the defaults
  breaker: true, // per region + model
  timeouts: { connectMs: 10_000, firstChunkMs: 30_000, idleMs: 30_000, totalMs: 120_000 },
  regions: [
    { name: 'primary', baseURL: primary.url }, // e.g. https://api.anthropic.com
    { name: 'secondary', baseURL: secondary.url }, // e.g. a gateway in another region
  ],
  fallback: { models: ['claude-sonnet-4-6', 'claude-haiku-4-5'] },
  cache: true,
  resume: true,
});
const client = new Anthropic({ apiKey: 'test-key', baseURL: primary.url, fetch });

const { data: message, response } = await client.messages
  .create({ model: 'claude-sonnet-4-6', max_tokens: 256, messages: [{ role: 'user', content: 'Hello' }] })
  .withResponse();
console.log(`answered by ${response.headers.get('x-fake-region')} (${message.model})`);
console.log(`attempts: primary ${primary.requests.length}, secondary ${secondary.requests.length}`);

fetch.shutdown(); // stops the policies' timers (region probes)
await Promise.all([primary.close(), secondary.close()]);

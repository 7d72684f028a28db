// The fake Claude API in a test: the real SDK over real sockets, no API key, no network.
import Anthropic from '@anthropic-ai/sdk';
import { startFakeClaude } from 'claude-otel-middleware/testing';

const fake = await startFakeClaude({ script: [{ status: 529 }, null] });
const client = new Anthropic({ apiKey: 'test', baseURL: fake.url });
await client.messages.create({
  model: 'claude-sonnet-4-6',
  max_tokens: 64,
  messages: [{ role: 'user', content: 'hi' }],
});
console.log(fake.requests.length); // 2: the 529, then the SDK's retry
await fake.close();

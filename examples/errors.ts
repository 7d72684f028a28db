// Telling our failures from the API's: an open circuit breaker answers without sending anything,
// and claudeOtelErrorOf(error) says so (it is undefined for the API's own errors).
import Anthropic from '@anthropic-ai/sdk';
import { claudeOtelErrorOf, createClaudeFetch } from 'claude-otel-middleware';
import { startFakeClaude } from 'claude-otel-middleware/testing';

const fake = await startFakeClaude({ faultFor: () => ({ status: 529 }) }); // always overloaded
const client = new Anthropic({
  apiKey: 'test-key',
  baseURL: fake.url,
  fetch: createClaudeFetch({
    retry: { maxAttempts: 2, backoff: { baseMs: 10 } },
    // hold: false — answer at once while open (by default a new request waits for the breaker's probe).
    breaker: { mode: 'consecutive', consecutiveFailures: 2, hold: false },
  }),
});
const params = {
  model: 'claude-sonnet-4-6',
  max_tokens: 64,
  messages: [{ role: 'user' as const, content: 'hi' }],
};

for (const call of [1, 2]) {
  try {
    await client.messages.create(params);
  } catch (error) {
    const ours = claudeOtelErrorOf(error); // { type: 'circuit_open', retryAfterMs: 30000 } or undefined
    const status = (error as { status?: number }).status;
    console.log(
      `call ${call}: ${status} ${ours ? `ours: ${ours.type}, retry after ${ours.retryAfterMs} ms` : 'from the API'}`,
    );
  }
}
console.log(`requests sent: ${fake.requests.length}`); // 2: the second call was answered by the open breaker
await fake.close();

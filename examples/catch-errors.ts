// Telling our failures apart from the API's: claudeOtelErrorOf() finds ours however the SDK hands
// them over (an APIError from a policy's answer, or our error in the `cause` of the SDK's own).
// Runs as is against the fake Claude API: a 529, then an open breaker, then a stream that breaks
// and cannot be continued.
import Anthropic from '@anthropic-ai/sdk';
import { claudeOtelErrorOf, createClaudeFetch, StreamInterruptedError } from 'claude-otel-middleware';
import { startFakeClaude } from 'claude-otel-middleware/testing';

function explain(error: unknown): string {
  const ours = claudeOtelErrorOf(error);
  if (ours?.error instanceof StreamInterruptedError) {
    const { reason, notResumed, partial } = ours.error;
    return `ours: the stream broke (${reason}), not resumed (${notResumed}), ${partial.text.length} characters kept`;
  }
  if (ours !== undefined)
    return `ours: ${ours.type}${ours.retryAfterMs !== undefined ? ' (retry-after-ms set)' : ''}`;
  if (error instanceof Anthropic.APIError) return `the API's: ${error.status}`;
  return `other: ${String(error)}`;
}

const params = {
  model: 'claude-sonnet-4-6',
  max_tokens: 256,
  messages: [{ role: 'user' as const, content: 'Hello' }],
};

// A 529, then nothing sent: the breaker (one failure opens it) answers `circuit_open`.
const fake = await startFakeClaude({ script: [{ status: 529 }] });
const guarded = new Anthropic({
  apiKey: 'test-key',
  baseURL: fake.url,
  maxRetries: 0,
  fetch: createClaudeFetch({
    retry: { maxAttempts: 1 },
    // hold: false — answer at once while open (by default a new request waits for the breaker's probe).
    breaker: { mode: 'consecutive', consecutiveFailures: 1, hold: false },
  }),
});
for (let i = 0; i < 2; i++) {
  try {
    await guarded.messages.create(params);
  } catch (error) {
    console.log(explain(error));
  }
}

// A stream cut after 5 events, whose continuation fails: a StreamInterruptedError, which the SDK
// wraps in an AnthropicError (`instanceof StreamInterruptedError` is false on what you catch).
fake.setScript([{ drop: { afterEvents: 5 } }, { status: 500 }]);
const resuming = new Anthropic({
  apiKey: 'test-key',
  baseURL: fake.url,
  maxRetries: 0,
  fetch: createClaudeFetch({ resume: { maxResumptions: 1 } }),
});
try {
  await resuming.messages.stream(params).finalMessage();
} catch (error) {
  console.log(explain(error));
}
await fake.close();

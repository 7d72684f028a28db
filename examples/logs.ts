// Structured log events through pino, joined to their trace: the first attempt gets a 529, the
// retry succeeds. Each line carries `event`, `trace_id` and `span_id`.

import Anthropic from '@anthropic-ai/sdk';
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { TracerProvider } from '@opentelemetry/sdk-trace';
import { createClaudeFetch } from 'claude-otel-middleware';
import { startFakeClaude } from 'claude-otel-middleware/testing';
import pino from 'pino';

// Trace ids come from the OpenTelemetry SDK (without one, there are no traces to join).
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
trace.setGlobalTracerProvider(new TracerProvider());

const fake = await startFakeClaude({ script: [{ status: 529 }, null] });
const fetch = createClaudeFetch({ logger: pino(), retry: { backoff: { baseMs: 10 } }, breaker: true });
const client = new Anthropic({ apiKey: 'test-key', baseURL: fake.url, fetch });
await client.messages.create({
  model: 'claude-sonnet-4-6',
  max_tokens: 64,
  messages: [{ role: 'user', content: 'hi' }],
});

fetch.shutdown(); // writes pending summaries of suppressed events
await fake.close();

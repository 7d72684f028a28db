// Quick start: every HTTP attempt of an SDK call becomes a span, printed on the console.
// Runs as is, with no API key and no network: it starts the fake Claude API, whose first
// answer is a 529 (overloaded), so the SDK retries and you see two attempt spans.
import Anthropic from '@anthropic-ai/sdk';
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { ConsoleSpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { createClaudeFetch } from 'claude-otel-middleware';
import { startFakeClaude } from 'claude-otel-middleware/testing';

// 1. The OpenTelemetry SDK: spans to the console. The context manager is what makes the attempt
//    spans children of the SDK's call span (without one, each span starts its own trace).
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
const provider = new TracerProvider({
  spanProcessors: [new SimpleSpanProcessor({ exporter: new ConsoleSpanExporter() })],
});
trace.setGlobalTracerProvider(provider);

// 2. A stand-in for the API (in your app: drop it, and the client's apiKey and baseURL).
const fake = await startFakeClaude({ script: [{ status: 529 }, null] });

// 3. Our fetch in the official SDK.
const client = new Anthropic({ apiKey: 'test-key', baseURL: fake.url, fetch: createClaudeFetch() });
const message = await client.messages.create({
  model: 'claude-sonnet-4-6',
  max_tokens: 256,
  messages: [{ role: 'user', content: 'Hello' }],
});
console.log('answer:', message.content[0]?.type === 'text' ? message.content[0].text : message.content);

await provider.shutdown();
await fake.close();

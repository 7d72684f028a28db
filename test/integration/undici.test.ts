/**
 * Beside `@opentelemetry/instrumentation-undici`: by default each attempt has one span (ours), not
 * two; with `suppressInnerHttpSpans: false` the undici span is a child of ours.
 */
import Anthropic from '@anthropic-ai/sdk';
import { UndiciInstrumentation } from '@opentelemetry/instrumentation-undici';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createClaudeFetch } from '../../src/index.js';
import { type FakeClaude, startFakeClaude } from '../../src/testing/index.js';
import { installOtel, type OtelHarness, settle } from '../helpers/otel.js';
import { FAKE_API_KEY } from '../helpers/secrets.js';

let otel: OtelHarness;
let fake: FakeClaude;
let undici: UndiciInstrumentation;

beforeAll(async () => {
  otel = installOtel();
  undici = new UndiciInstrumentation();
  undici.setTracerProvider(otel.tracerProvider);
  undici.enable();
  fake = await startFakeClaude();
});

afterAll(async () => {
  undici.disable();
  await fake.close();
  await otel.shutdown();
});

beforeEach(() => {
  otel.reset();
  fake.reset();
});

const params = {
  model: 'claude-sonnet-4-6',
  max_tokens: 64,
  messages: [{ role: 'user' as const, content: 'hi' }],
};

const byScope = (scope: string) => otel.spans().filter((s) => s.instrumentationScope.name.includes(scope));

describe('beside @opentelemetry/instrumentation-undici', () => {
  it('records one span per attempt by default', async () => {
    const client = new Anthropic({ apiKey: FAKE_API_KEY, baseURL: fake.url, fetch: createClaudeFetch() });
    await client.messages.create(params);
    await settle();
    expect(byScope('claude-otel-middleware')).toHaveLength(1);
    expect(byScope('undici')).toHaveLength(0);
    // Our attempt span's context still reaches the server.
    const [ours] = byScope('claude-otel-middleware');
    expect(fake.requests[0]?.headers.traceparent).toContain(ours?.spanContext().spanId);
  });

  it('lets the undici span nest under ours when suppression is turned off', async () => {
    const client = new Anthropic({
      apiKey: FAKE_API_KEY,
      baseURL: fake.url,
      fetch: createClaudeFetch({ suppressInnerHttpSpans: false }),
    });
    await client.messages.create(params);
    await settle();
    const [ours] = byScope('claude-otel-middleware');
    const inner = byScope('undici');
    expect(inner).toHaveLength(1);
    expect(inner[0]?.parentSpanContext?.spanId).toBe(ours?.spanContext().spanId);
  });
});

/**
 * The real Anthropic SDK → createClaudeFetch → the fake Claude API over loopback, with the real
 * OpenTelemetry SDK and in-memory exporters.
 */
import Anthropic from '@anthropic-ai/sdk';
import { SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createClaudeFetch } from '../../src/index.js';
import { type FakeClaude, type Fault, startFakeClaude } from '../../src/testing/index.js';
import { captureDiag, installOtel, type OtelHarness, settle } from '../helpers/otel.js';
import { FAKE_API_KEY } from '../helpers/secrets.js';

const API_KEY = FAKE_API_KEY;
const MODEL = 'claude-sonnet-4-6';

let otel: OtelHarness;
let fake: FakeClaude;
let diagLog: ReturnType<typeof captureDiag>;

beforeAll(async () => {
  otel = installOtel();
  fake = await startFakeClaude({ name: 'primary', apiKey: API_KEY, seed: 7 });
});

afterAll(async () => {
  await fake.close();
  await otel.shutdown();
});

beforeEach(() => {
  otel.reset();
  fake.reset();
  diagLog = captureDiag();
});

afterEach(async () => {
  await settle();
  diagLog.stop();
  // Every span that started has ended, and none was ended twice.
  expect([...otel.openSpans.open.values()]).toEqual([]);
  expect(diagLog.messages.filter((m) => m.includes('ended Span'))).toEqual([]);
});

function client(options: Partial<ConstructorParameters<typeof Anthropic>[0]> = {}): Anthropic {
  return new Anthropic({ apiKey: API_KEY, baseURL: fake.url, fetch: createClaudeFetch(), ...options });
}

const attemptSpans = (): ReadableSpan[] =>
  otel.spans().filter((s) => s.instrumentationScope.name === 'claude-otel-middleware');
const callSpans = (): ReadableSpan[] => otel.spans().filter((s) => s.name.startsWith('anthropic.'));

/** Streams one message through a fault, with no SDK retry, and returns what it threw. */
function failedStream(fault: Fault): Promise<unknown> {
  fake.setScript([fault]);
  return client({ maxRetries: 0 })
    .messages.stream(params)
    .finalMessage()
    .catch((e: unknown) => e);
}

const params = {
  model: MODEL,
  max_tokens: 256,
  messages: [{ role: 'user' as const, content: 'Say hello' }],
};

describe('non-streamed messages.create', () => {
  it('records one CLIENT span per attempt under the SDK call span, with every attribute', async () => {
    const message = await client().messages.create(params);
    await settle();
    const [span, ...rest] = attemptSpans();
    expect(rest).toHaveLength(0);
    expect(span).toBeDefined();
    if (!span) return;
    const [call] = callSpans();
    expect(call?.name).toBe('anthropic.messages.create');
    expect(span.parentSpanContext?.spanId).toBe(call?.spanContext().spanId);
    expect(span.spanContext().traceId).toBe(call?.spanContext().traceId);
    expect(span.name).toBe('POST /v1/messages');
    expect(span.kind).toBe(SpanKind.CLIENT);
    const a = span.attributes;
    const url = new URL(fake.url);
    const received = fake.requests[0];
    expect(a['http.request.method']).toBe('POST');
    expect(a['url.full']).toBe(`${fake.url}/v1/messages`);
    expect(a['server.address']).toBe(url.hostname);
    expect(a['server.port']).toBe(Number(url.port));
    expect(a['http.response.status_code']).toBe(200);
    expect(a['http.request.resend_count']).toBe(0);
    expect(a['gen_ai.provider.name']).toBe('anthropic');
    expect(a['gen_ai.operation.name']).toBe('chat');
    expect(a['gen_ai.request.model']).toBe(MODEL);
    expect(a['gen_ai.request.max_tokens']).toBe(256);
    expect(a['gen_ai.request.stream']).toBe(false);
    expect(a['gen_ai.response.model']).toBe(message.model);
    expect(a['gen_ai.response.id']).toBe(message.id);
    expect(a['anthropic.message.stop_reason']).toBe(message.stop_reason);
    const u = message.usage;
    const input = u.input_tokens + (u.cache_read_input_tokens ?? 0) + (u.cache_creation_input_tokens ?? 0);
    expect(a['gen_ai.usage.input_tokens']).toBe(input);
    expect(a['gen_ai.usage.output_tokens']).toBe(u.output_tokens);
    expect(a['gen_ai.usage.cache_read.input_tokens']).toBe(u.cache_read_input_tokens ?? 0);
    expect(a['gen_ai.usage.cache_write.input_tokens']).toBe(u.cache_creation_input_tokens ?? 0);
    expect(a['anthropic.request.id']).toBe(received?.requestId);
    expect(a['anthropic.region']).toBe(url.hostname);
    expect(typeof a['anthropic.ratelimit.requests.remaining']).toBe('number');
    expect(typeof a['anthropic.ratelimit.tokens.limit']).toBe('number');
    expect(typeof a['anthropic.ratelimit.output_tokens.reset']).toBe('number');
    expect(a['error.type']).toBeUndefined();
    expect(span.status.code).toBe(SpanStatusCode.UNSET);
    // The trace context sent is the attempt span's, so the server side continues our span.
    expect(received?.headers.traceparent).toContain(span.spanContext().spanId);
  });

  it('counts attempts and tokens in the metrics', async () => {
    const c = client();
    const m1 = await c.messages.create(params);
    const m2 = await c.messages.create({
      ...params,
      messages: [{ role: 'user', content: 'Another one, longer' }],
    });
    await settle();
    expect(await otel.counterSum('anthropic.client.attempts')).toBe(fake.requests.length);
    expect(
      await otel.counterSum('anthropic.client.attempts', {
        'http.response.status_code': 200,
        'gen_ai.request.model': MODEL,
        'anthropic.region': new URL(fake.url).hostname,
      }),
    ).toBe(2);
    const inputTotal = [m1, m2].reduce(
      (acc, m) =>
        acc +
        m.usage.input_tokens +
        (m.usage.cache_read_input_tokens ?? 0) +
        (m.usage.cache_creation_input_tokens ?? 0),
      0,
    );
    const input = await otel.histogram('gen_ai.client.token.usage', { 'gen_ai.token.type': 'input' });
    const output = await otel.histogram('gen_ai.client.token.usage', { 'gen_ai.token.type': 'output' });
    expect(input).toEqual({ sum: inputTotal, count: 2 });
    expect(output).toEqual({ sum: m1.usage.output_tokens + m2.usage.output_tokens, count: 2 });
    const duration = await otel.histogram('gen_ai.client.operation.duration', {
      'gen_ai.operation.name': 'chat',
    });
    expect(duration.count).toBe(2);
    expect((await otel.histogram('anthropic.client.attempt.duration')).count).toBe(2);
    const remaining = await otel.points('anthropic.client.ratelimit.remaining');
    const resources = remaining.map((p) => p.attributes['anthropic.ratelimit.resource']).sort();
    expect(resources).toEqual(['input_tokens', 'output_tokens', 'requests', 'tokens']);
  });

  it('gives each of the SDK retries its own span with the right resend count', async () => {
    fake.setScript([
      { status: 529, headers: { 'retry-after-ms': '1' } },
      { status: 429, headers: { 'retry-after-ms': '2', 'retry-after': '1' } },
      null,
    ]);
    const message = await client({ maxRetries: 2 }).messages.create(params);
    expect(message.content[0]?.type).toBe('text');
    await settle();
    const spans = attemptSpans().sort(
      (x, y) =>
        Number(x.attributes['http.request.resend_count']) - Number(y.attributes['http.request.resend_count']),
    );
    expect(spans.map((s) => s.attributes['http.request.resend_count'])).toEqual([0, 1, 2]);
    expect(spans.map((s) => s.attributes['error.type'])).toEqual([
      'overloaded_error',
      'rate_limit_error',
      undefined,
    ]);
    expect(spans.map((s) => s.attributes['http.response.status_code'])).toEqual([529, 429, 200]);
    expect(spans.map((s) => s.attributes['anthropic.retry_after'])).toEqual([0.001, 0.002, undefined]);
    expect(spans.map((s) => s.status.code)).toEqual([
      SpanStatusCode.ERROR,
      SpanStatusCode.ERROR,
      SpanStatusCode.UNSET,
    ]);
    const parents = new Set(spans.map((s) => s.parentSpanContext?.spanId));
    expect(parents.size).toBe(1);
    expect(await otel.counterSum('anthropic.client.attempts')).toBe(3);
    expect(fake.requests).toHaveLength(3);
    expect(await otel.counterSum('anthropic.client.attempts', { 'error.type': 'overloaded_error' })).toBe(1);
    expect(await otel.counterSum('anthropic.client.attempts', { 'error.type': 'rate_limit_error' })).toBe(1);
  });

  it('records the status code as error.type for an HTML 502 from a proxy, and x-should-retry', async () => {
    fake.setScript([{ status: 502, body: 'html', headers: { 'x-should-retry': 'false' } }]);
    const error = await client({ maxRetries: 2 })
      .messages.create(params)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Anthropic.APIError);
    await settle();
    const [span] = attemptSpans();
    expect(attemptSpans()).toHaveLength(1);
    expect(span?.attributes['error.type']).toBe('502');
    expect(span?.attributes['anthropic.should_retry']).toBe(false);
    expect(span?.status.code).toBe(SpanStatusCode.ERROR);
  });

  it('records connection errors thrown by fetch and rethrows them unchanged', async () => {
    const dead = await startFakeClaude();
    const deadUrl = dead.url;
    await dead.close();
    const c = new Anthropic({ apiKey: API_KEY, baseURL: deadUrl, fetch: createClaudeFetch(), maxRetries: 0 });
    const error = await c.messages.create(params).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Anthropic.APIConnectionError);
    await settle();
    const [span] = attemptSpans();
    expect(span?.attributes['error.type']).toBe('connection_error');
    expect(span?.status.code).toBe(SpanStatusCode.ERROR);
    expect(span?.events.some((e) => e.name === 'exception')).toBe(true);
  });

  it('works with the SDK tracing off: the attempt span is a child of the active span', async () => {
    const tracer = trace.getTracer('test');
    await tracer.startActiveSpan('parent', async (parent) => {
      await client({ openTelemetry: false }).messages.create(params);
      parent.end();
    });
    await settle();
    expect(callSpans()).toHaveLength(0);
    const [span] = attemptSpans();
    const parent = otel.spans().find((s) => s.name === 'parent');
    expect(span?.parentSpanContext?.spanId).toBe(parent?.spanContext().spanId);
  });

  it('records count_tokens and models.list with their operation names', async () => {
    const c = client();
    const counted = await c.messages.countTokens({ model: MODEL, messages: params.messages });
    expect(counted.input_tokens).toBeGreaterThan(0);
    const models = await c.models.list();
    expect(models.data.length).toBeGreaterThan(0);
    await settle();
    const names = attemptSpans().map((s) => [s.name, s.attributes['gen_ai.operation.name']]);
    expect(names).toContainEqual(['POST /v1/messages/count_tokens', 'count_tokens']);
    expect(names.some(([n, op]) => String(n).startsWith('GET /v1/models') && op === 'list_models')).toBe(
      true,
    );
  });
});

describe('streams', () => {
  it('records usage, time to first chunk and the event count of messages.stream().finalMessage()', async () => {
    const message = await client().messages.stream(params).finalMessage();
    await settle();
    const [span] = attemptSpans();
    expect(attemptSpans()).toHaveLength(1);
    const a = span?.attributes ?? {};
    expect(a['gen_ai.request.stream']).toBe(true);
    expect(a['gen_ai.response.id']).toBe(message.id);
    expect(a['gen_ai.usage.output_tokens']).toBe(message.usage.output_tokens);
    expect(a['gen_ai.usage.input_tokens']).toBe(
      message.usage.input_tokens +
        (message.usage.cache_read_input_tokens ?? 0) +
        (message.usage.cache_creation_input_tokens ?? 0),
    );
    expect(a['anthropic.message.stop_reason']).toBe(message.stop_reason);
    expect(typeof a['gen_ai.response.time_to_first_chunk']).toBe('number');
    expect(a['anthropic.stream.outcome']).toBe('completed');
    expect(Number(a['anthropic.stream.events'])).toBeGreaterThan(5);
    expect((await otel.histogram('gen_ai.client.operation.time_to_first_chunk')).count).toBe(1);
    expect((await otel.histogram('gen_ai.client.token.usage', { 'gen_ai.token.type': 'output' })).sum).toBe(
      message.usage.output_tokens,
    );
  });

  it('records a tool_use stream', async () => {
    const message = await client()
      .messages.stream({
        ...params,
        tools: [{ name: 'get_weather', input_schema: { type: 'object', properties: {} } }],
      })
      .finalMessage();
    expect(message.content.some((b) => b.type === 'tool_use')).toBe(true);
    await settle();
    expect(attemptSpans()[0]?.attributes['anthropic.message.stop_reason']).toBe('tool_use');
  });

  it('ends the span once when the consumer breaks out', async () => {
    const stream = await client().messages.create({ ...params, stream: true });
    let seen = 0;
    for await (const _event of stream) {
      seen++;
      if (seen === 2) break;
    }
    await settle();
    const [span] = attemptSpans();
    expect(attemptSpans()).toHaveLength(1);
    expect(span?.attributes['anthropic.stream.outcome']).toBe('cancelled');
    expect(span?.status.code).toBe(SpanStatusCode.UNSET);
    expect(span?.attributes['error.type']).toBeUndefined();
  });

  it('ends the span once when the consumer aborts with controller.abort()', async () => {
    const stream = await client().messages.create({ ...params, stream: true });
    const seen: string[] = [];
    const error = await (async () => {
      for await (const event of stream) {
        seen.push(event.type);
        if (seen.length === 1) stream.controller.abort();
      }
    })().catch((e: unknown) => e);
    expect(error === undefined || error instanceof Error).toBe(true);
    await settle();
    expect(attemptSpans()).toHaveLength(1);
    expect(attemptSpans()[0]?.attributes['anthropic.stream.outcome']).toBe('cancelled');
  });

  it('records a connection dropped in the middle of an event as an error', async () => {
    const error = await failedStream({ drop: { afterEvents: 3, at: 'mid-event' } });
    expect(error).toBeInstanceOf(Error);
    await settle();
    const [span] = attemptSpans();
    expect(attemptSpans()).toHaveLength(1);
    expect(span?.attributes['anthropic.stream.outcome']).toBe('error');
    expect(span?.attributes['error.type']).toBe('connection_error');
    expect(span?.status.code).toBe(SpanStatusCode.ERROR);
    expect(span?.attributes['anthropic.stream.events']).toBe(3);
  });

  it('records a connection dropped inside a multi-byte character', async () => {
    const error = await failedStream({ drop: { afterEvents: 4, at: 'mid-utf8' } });
    expect(error).toBeInstanceOf(Error);
    await settle();
    expect(attemptSpans()[0]?.attributes['error.type']).toBe('connection_error');
  });

  it('records event: error mid-stream with its error type', async () => {
    const error = await failedStream({ sseError: { afterEvents: 4, errorType: 'overloaded_error' } });
    expect(error).toBeInstanceOf(Anthropic.APIError);
    await settle();
    const [span] = attemptSpans();
    expect(attemptSpans()).toHaveLength(1);
    expect(span?.attributes['error.type']).toBe('overloaded_error');
    expect(span?.status.code).toBe(SpanStatusCode.ERROR);
    expect(span?.events.map((e) => e.name)).toContain('anthropic.stream.error');
    expect(await otel.counterSum('anthropic.client.attempts', { 'error.type': 'overloaded_error' })).toBe(1);
  });

  it('does not buffer: the first event reaches the consumer while the server stalls', async () => {
    // The server holds the rest of the stream for a minute: a fetch that buffered the body would
    // hand nothing over before the test times out.
    fake.setScript([{ stall: { afterEvents: 1, ms: 60_000 } }]);
    const stream = await client().messages.create({ ...params, stream: true });
    const iterator = stream[Symbol.asyncIterator]();
    const first = await iterator.next();
    expect(first.done).toBe(false);
    expect(first.value?.type).toBe('message_start');
    await iterator.return?.();
    await settle();
    expect(attemptSpans()[0]?.attributes['anthropic.stream.outcome']).toBe('cancelled');
  });
});

describe('safety', () => {
  it('never records the API key in spans, metrics or events, even with content capture on', async () => {
    const c = new Anthropic({
      apiKey: API_KEY,
      baseURL: fake.url,
      fetch: createClaudeFetch({ captureContent: true }),
      maxRetries: 1,
    });
    fake.setScript([{ status: 401, errorType: 'authentication_error' }, null]);
    await c.messages.create(params).catch(() => undefined);
    await c.messages.create(params);
    await c.messages.stream(params).finalMessage();
    await settle();
    const spans = JSON.stringify(
      otel
        .spans()
        .map((s) => ({ name: s.name, attributes: s.attributes, events: s.events, status: s.status })),
    );
    const metricsDump = JSON.stringify(await otel.collect());
    expect(spans).toContain('gen_ai.input.messages');
    expect(spans).toContain('Say hello');
    for (const dump of [spans, metricsDump]) {
      expect(dump).not.toContain(API_KEY);
      expect(dump).not.toContain('TEST-SECRET');
      expect(dump.toLowerCase()).not.toContain('x-api-key');
    }
  });

  it('records no content by default', async () => {
    await client().messages.create(params);
    await client().messages.stream(params).finalMessage();
    await settle();
    const dump = JSON.stringify(otel.spans().map((s) => s.attributes));
    expect(dump).not.toContain('Say hello');
    expect(dump).not.toContain('gen_ai.input.messages');
    expect(dump).not.toContain('gen_ai.output.messages');
  });

  it('keeps the request going when a hook throws, and counts the failure', async () => {
    const c = new Anthropic({
      apiKey: API_KEY,
      baseURL: fake.url,
      fetch: createClaudeFetch({
        requestHook: () => {
          throw new Error('hook bug');
        },
        responseHook: (span) => span.setAttribute('custom.attribute', 'yes'),
      }),
    });
    const message = await c.messages.create(params);
    expect(message.type).toBe('message');
    await settle();
    expect(attemptSpans()[0]?.attributes['custom.attribute']).toBe('yes');
    expect(
      await otel.counterSum('anthropic.client.instrumentation.errors', {
        'anthropic.instrumentation.step': 'request_hook',
      }),
    ).toBe(1);
  });

  it('passes ignored requests through untouched', async () => {
    const c = new Anthropic({
      apiKey: API_KEY,
      baseURL: fake.url,
      fetch: createClaudeFetch({ ignoreRequest: (r) => r.operation === 'list_models' }),
    });
    await c.models.list();
    await settle();
    expect(attemptSpans()).toHaveLength(0);
    expect(fake.requests).toHaveLength(1);
  });
});

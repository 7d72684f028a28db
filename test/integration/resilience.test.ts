/**
 * The resilience policies with the real SDK (at its default settings unless a test says otherwise)
 * against the fake API over loopback. Time is the fake clock's: retry waits and our timeouts never
 * sleep for real.
 */
import Anthropic from '@anthropic-ai/sdk';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type ClaudeFetchOptions, claudeOtelErrorOf, createClaudeFetch } from '../../src/index.js';
import { type FakeClaude, startFakeClaude } from '../../src/testing/index.js';
import { advanceWhenArmed, drive as driveClock, FakeClock } from '../helpers/fake-clock.js';
import { installOtel, type OtelHarness, settle } from '../helpers/otel.js';
import { FAKE_API_KEY } from '../helpers/secrets.js';

/** Drives the fake clock's sleeps (retry waits) until `promise` settles; timers move only by hand. */
const drive = <T>(promise: Promise<T>): Promise<T> => driveClock(clock, promise, { kind: 'sleep' });

const MODEL = 'claude-sonnet-4-6';
const params = { model: MODEL, max_tokens: 64, messages: [{ role: 'user' as const, content: 'hi' }] };

let otel: OtelHarness;
let fake: FakeClaude;
let clock: FakeClock;

beforeAll(async () => {
  otel = installOtel();
  fake = await startFakeClaude({ name: 'primary' });
});

afterAll(async () => {
  await fake.close();
  await otel.shutdown();
});

beforeEach(() => {
  otel.reset();
  fake.reset();
  clock = new FakeClock(1_000_000);
});

afterEach(async () => {
  await settle();
  expect([...otel.openSpans.open.values()]).toEqual([]);
});

/** A client at the SDK's defaults (maxRetries 2) over our fetch with the fake clock. */
function client(
  options: ClaudeFetchOptions = {},
  sdk: Partial<ConstructorParameters<typeof Anthropic>[0]> = {},
) {
  return new Anthropic({
    apiKey: FAKE_API_KEY,
    baseURL: fake.url,
    fetch: createClaudeFetch({ clock, random: () => 0.5, ...options }),
    ...sdk,
  });
}

const attempts = (): ReadableSpan[] =>
  otel.spans().filter((s) => s.kind === SpanKind.CLIENT && s.name === 'POST /v1/messages');
const operations = (): ReadableSpan[] =>
  otel.spans().filter((s) => s.kind === SpanKind.INTERNAL && s.name === `chat ${MODEL}`);

describe('retry', () => {
  it('retries 529s within one SDK attempt and records the decisions on the operation span', async () => {
    fake.setScript([{ status: 529 }, { status: 529 }, null]);
    const message = await drive(client({ retry: true }).messages.create(params));
    expect(message.type).toBe('message');
    await settle();
    expect(fake.requests).toHaveLength(3);
    // The SDK saw one attempt; we made three, and the API sees their numbers as the SDK would send
    // them (issue 15, item 2: it saw 0 three times).
    expect(fake.requests.map((r) => r.headers['x-stainless-retry-count'])).toEqual(['0', '1', '2']);
    const [op] = operations();
    expect(op).toBeDefined();
    const spans = attempts();
    expect(spans).toHaveLength(3);
    for (const s of spans) expect(s.parentSpanContext?.spanId).toBe(op?.spanContext().spanId);
    const sorted = spans.sort(
      (a, b) =>
        Number(a.attributes['http.request.resend_count']) - Number(b.attributes['http.request.resend_count']),
    );
    expect(sorted.map((s) => s.attributes['http.request.resend_count'])).toEqual([0, 1, 2]);
    // Each retry is linked to the attempt it retries.
    expect(sorted[1]?.links[0]?.context.spanId).toBe(sorted[0]?.spanContext().spanId);
    expect(sorted[2]?.links[0]?.context.spanId).toBe(sorted[1]?.spanContext().spanId);
    const retries = op?.events.filter((e) => e.name === 'anthropic.retry.scheduled') ?? [];
    expect(retries.map((e) => e.attributes?.['error.type'])).toEqual([
      'overloaded_error',
      'overloaded_error',
    ]);
    expect(retries.map((e) => e.attributes?.['anthropic.retry.source'])).toEqual(['backoff', 'backoff']);
    expect(op?.attributes['anthropic.operation.attempts']).toBe(3);
    expect(await otel.counterSum('anthropic.client.retries', { 'error.type': 'overloaded_error' })).toBe(2);
    expect(
      (await otel.histogram('anthropic.client.retry.delay', { 'anthropic.retry.source': 'backoff' })).count,
    ).toBe(2);
  });

  it('never makes more than maxAttempts HTTP attempts per SDK call, at the SDK defaults', async () => {
    fake.setScript(Array.from({ length: 20 }, () => ({ status: 529 })));
    const error = await drive(
      client({ retry: { maxAttempts: 3 } })
        .messages.create(params)
        .catch((e: unknown) => e),
    );
    expect(error).toBeInstanceOf(Anthropic.APIError);
    expect((error as InstanceType<typeof Anthropic.APIError>).status).toBe(529);
    expect(fake.requests).toHaveLength(3);
  });

  it('does the same for connection errors, answering the SDK with a typed 502 it does not retry', async () => {
    const dead = await startFakeClaude();
    const url = dead.url;
    await dead.close();
    const c = new Anthropic({
      apiKey: FAKE_API_KEY,
      baseURL: url,
      fetch: createClaudeFetch({ clock, retry: true }),
    });
    const error = await drive(c.messages.create(params).catch((e: unknown) => e));
    expect(error).toBeInstanceOf(Anthropic.APIError);
    expect((error as InstanceType<typeof Anthropic.APIError>).status).toBe(502);
    expect(claudeOtelErrorOf(error)?.type).toBe('connection_error');
    await settle();
    expect(attempts()).toHaveLength(3);
    expect(attempts().every((s) => s.attributes['error.type'] === 'connection_error')).toBe(true);
  });

  it.each([
    { status: 408 },
    { status: 409 },
    { status: 429, headers: { 'retry-after-ms': '5' } },
    { status: 500 },
    { status: 502, body: 'html' as const },
    { status: 503, body: 'empty' as const },
    { status: 504 },
    { status: 529 },
  ])('retries a $status ($body) and succeeds on the next attempt', async (fault) => {
    fake.setScript([fault, null]);
    const message = await drive(client({ retry: true }).messages.create(params));
    expect(message.type).toBe('message');
    expect(fake.requests).toHaveLength(2);
    expect(await otel.counterSum('anthropic.client.retries')).toBe(1);
  });

  it('does not retry a stream broken after its 200 reached the consumer', async () => {
    fake.setScript([{ drop: { afterEvents: 3 } }, null]);
    const error = await drive(
      client({ retry: true })
        .messages.stream(params)
        .finalMessage()
        .catch((e: unknown) => e),
    );
    expect(error).toBeInstanceOf(Error);
    expect(fake.requests).toHaveLength(1);
  });

  it.each([400, 401, 403, 404, 413, 422])('never retries a %i', async (status) => {
    fake.setScript([{ status }, null]);
    const error = await drive(
      client({ retry: { maxAttempts: 5 } })
        .messages.create(params)
        .catch((e: unknown) => e),
    );
    expect((error as InstanceType<typeof Anthropic.APIError>).status).toBe(status);
    expect(fake.requests).toHaveLength(1);
    expect(await otel.counterSum('anthropic.client.retries')).toBe(0);
  });

  it('waits as a 429 tells it to', async () => {
    fake.setScript([{ status: 429, headers: { 'retry-after': '7' } }, null]);
    const before = clock.now();
    await drive(client({ retry: true }).messages.create(params));
    expect(clock.now() - before).toBe(7000);
    await settle();
    const [op] = operations();
    const [event] = op?.events.filter((e) => e.name === 'anthropic.retry.scheduled') ?? [];
    expect(event?.attributes?.['anthropic.retry.source']).toBe('retry_after');
    expect(event?.attributes?.['anthropic.retry.delay']).toBe(7);
  });

  it("fails at once when the server's wait passes the deadline, carrying the wait", async () => {
    fake.setScript([{ status: 429, headers: { 'retry-after': '120' } }, null]);
    const before = clock.now();
    // The clock is not driven: the answer must come without waiting.
    const error = await client({ retry: true, timeouts: { totalMs: 30_000 } })
      .messages.create(params)
      .catch((e: unknown) => e);
    expect(clock.now()).toBe(before);
    expect(fake.requests).toHaveLength(1);
    const info = claudeOtelErrorOf(error);
    expect(info?.type).toBe('retry_after_exceeds_deadline');
    expect(info?.retryAfterMs).toBe(120_000);
    expect((error as InstanceType<typeof Anthropic.APIError>).status).toBe(429);
  });

  it('obeys x-should-retry: false from the server', async () => {
    fake.setScript([{ status: 529, headers: { 'x-should-retry': 'false' } }, null]);
    await drive(
      client({ retry: true })
        .messages.create(params)
        .catch(() => undefined),
    );
    expect(fake.requests).toHaveLength(1);
  });

  it('stops retrying once the client-wide budget is spent, and counts it', async () => {
    fake.setScript(Array.from({ length: 50 }, () => ({ status: 529 })));
    const c = client({ retry: { maxAttempts: 3, budget: { maxTokens: 4 } } });
    for (let i = 0; i < 4; i++) await drive(c.messages.create(params).catch(() => undefined));
    // 4 tokens, retries only above 2: the first operation retries, later ones fail after one attempt.
    expect(fake.requests.length).toBeLessThan(12);
    expect(await otel.counterSum('anthropic.client.retry_budget.exhausted')).toBeGreaterThan(0);
  });
});

describe('circuit breaker', () => {
  it('opens after consecutive failures, rejects without sending, then closes after a probe', async () => {
    const c = client(
      { breaker: { mode: 'consecutive', consecutiveFailures: 2, openMs: 10_000, hold: false } },
      { maxRetries: 0 },
    );
    fake.setScript([{ status: 529 }, { status: 529 }]);
    await c.messages.create(params).catch(() => undefined);
    await c.messages.create(params).catch(() => undefined);
    expect(fake.requests).toHaveLength(2);
    const rejected = await c.messages.create(params).catch((e: unknown) => e);
    expect(fake.requests).toHaveLength(2);
    expect(claudeOtelErrorOf(rejected)?.type).toBe('circuit_open');
    expect((rejected as InstanceType<typeof Anthropic.APIError>).status).toBe(503);
    expect(await otel.counterSum('anthropic.client.circuit_breaker.rejections')).toBe(1);
    clock.advance(10_000);
    const message = await c.messages.create(params);
    expect(message.type).toBe('message');
    expect(fake.requests).toHaveLength(3);
    await settle();
    const transitions = await otel.points('anthropic.client.circuit_breaker.transitions');
    const seen = transitions.map(
      (p) =>
        `${p.attributes['anthropic.circuit_breaker.from']}>${p.attributes['anthropic.circuit_breaker.to']}`,
    );
    expect(seen.sort()).toEqual(['closed>open', 'half_open>closed', 'open>half_open']);
    const state = await otel.points('anthropic.client.circuit_breaker.state');
    expect(state.map((p) => p.value)).toEqual([0]);
    const events = operations().flatMap((s) => s.events.map((e) => e.name));
    expect(events).toContain('anthropic.circuit_breaker.rejected');
    expect(events).toContain('anthropic.circuit_breaker.transition');
  });

  it('does not count client errors or 429s as failures', async () => {
    const c = client({ breaker: { mode: 'consecutive', consecutiveFailures: 2 } }, { maxRetries: 0 });
    fake.setScript([{ status: 400 }, { status: 429 }, { status: 400 }, { status: 429 }, null]);
    for (let i = 0; i < 4; i++) await c.messages.create(params).catch(() => undefined);
    await c.messages.create(params);
    expect(fake.requests).toHaveLength(5);
  });

  it('is not retried by our retry policy or the SDK', async () => {
    const c = client({
      retry: true,
      breaker: { mode: 'consecutive', consecutiveFailures: 1, openMs: 60_000, hold: false },
    });
    fake.setScript([{ status: 500, headers: { 'x-should-retry': 'false' } }]);
    await drive(c.messages.create(params).catch(() => undefined));
    const error = await drive(c.messages.create(params).catch((e: unknown) => e));
    expect(claudeOtelErrorOf(error)?.type).toBe('circuit_open');
    expect(fake.requests).toHaveLength(1);
  });
});

describe('timeouts', () => {
  /** Waits (for real, briefly) until the fake has received `n` requests. */
  async function received(n: number): Promise<void> {
    while (fake.requests.length < n) await new Promise((resolve) => setTimeout(resolve, 1));
  }

  it('times out waiting for headers, retries, and names the timeout', async () => {
    fake.setScript([{ delayHeadersMs: 60_000 }, null]);
    const pending = client({ retry: true, timeouts: { connectMs: 5_000 } }).messages.create(params);
    await received(1);
    clock.advance(5_000);
    // The retry waits its backoff on the clock (the only thing pending), then succeeds.
    while (clock.pending === 0) await new Promise((resolve) => setTimeout(resolve, 1));
    clock.advance((clock.nextDue() ?? clock.now()) - clock.now());
    const message = await pending;
    expect(message.type).toBe('message');
    await settle();
    const failed = attempts().find((s) => s.attributes['error.type'] !== undefined);
    expect(failed?.attributes['error.type']).toBe('connect_timeout');
    const [op] = operations();
    expect(
      op?.events
        .filter((e) => e.name === 'anthropic.timeout')
        .map((e) => e.attributes?.['anthropic.timeout.kind']),
    ).toEqual(['connect']);
    expect(await otel.counterSum('anthropic.client.timeouts', { 'anthropic.timeout.kind': 'connect' })).toBe(
      1,
    );
  });

  it('errors a stalled stream with a typed idle timeout', async () => {
    // message_start and a ping, then a minute of silence (the SDK does not hand pings over).
    fake.setScript([{ stall: { afterEvents: 2, ms: 60_000 } }]);
    const stream = await client({ timeouts: { idleMs: 2_000 } }, { maxRetries: 0 }).messages.create({
      ...params,
      stream: true,
    });
    const seen: string[] = [];
    const consumed = (async () => {
      for await (const event of stream) {
        seen.push(event.type);
        if (seen.length === 1) void advanceWhenArmed(clock, 2_000);
      }
    })();
    const error = await consumed.catch((e: unknown) => e);
    expect(seen).toEqual(['message_start']);
    expect(claudeOtelErrorOf(error)?.type).toBe('idle_timeout');
    await settle();
    const [span] = attempts();
    expect(span?.attributes['error.type']).toBe('idle_timeout');
    expect(span?.status.code).toBe(SpanStatusCode.ERROR);
    expect(span?.events.map((e) => e.name)).toContain('anthropic.timeout');
  });

  it('errors a stream whose first chunk does not come in time', async () => {
    fake.setScript([{ delayFirstEventMs: 60_000 }]);
    const stream = await client({ timeouts: { firstChunkMs: 3_000 } }, { maxRetries: 0 }).messages.create({
      ...params,
      stream: true,
    });
    clock.advance(3_000);
    const error = await (async () => {
      for await (const _ of stream) {
        // nothing arrives
      }
    })().catch((e: unknown) => e);
    expect(claudeOtelErrorOf(error)?.type).toBe('first_chunk_timeout');
  });

  it('enforces the total deadline across attempts and waits, without retrying it', async () => {
    fake.setScript([{ status: 529 }, { delayHeadersMs: 60_000 }, null]);
    const pending = client({ retry: { maxAttempts: 5 }, timeouts: { totalMs: 10_000 } })
      .messages.create(params)
      .catch((e: unknown) => e);
    await received(1);
    // The first retry waits its backoff; then the second attempt hangs until the deadline.
    while (fake.requests.length < 2) {
      await new Promise((resolve) => setTimeout(resolve, 1));
      const due = clock.nextDue();
      if (due !== undefined && due - clock.now() < 10_000) clock.advance(due - clock.now());
    }
    clock.advance(10_000);
    const error = await pending;
    expect(claudeOtelErrorOf(error)?.type).toBe('total_timeout');
    expect((error as InstanceType<typeof Anthropic.APIError>).status).toBe(504);
    expect(fake.requests).toHaveLength(2);
  });

  it("cancels everything at once on the caller's abort, and never retries it", async () => {
    fake.setScript([{ status: 529 }, null]);
    const controller = new AbortController();
    const pending = client({ retry: true })
      .messages.create(params, { signal: controller.signal })
      .catch((e: unknown) => e);
    await received(1);
    // The retry is waiting on the clock: abort then.
    while (clock.pending === 0) await new Promise((resolve) => setTimeout(resolve, 1));
    controller.abort();
    const error = await pending;
    expect(error).toBeInstanceOf(Anthropic.APIUserAbortError);
    expect(fake.requests).toHaveLength(1);
  });
});

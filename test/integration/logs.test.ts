/**
 * Structured log events through the real SDK client, the fake Claude API, a real pino logger on an
 * in-memory stream and the real OpenTelemetry SDK (spans, and log records through the global Logs
 * API): the events of a retried 529, a breaker opening, a model fallback and a resumed stream, with
 * the trace and span ids of the exported spans, and no secret or content in any line.
 */
import Anthropic from '@anthropic-ai/sdk';
import { logs, SpanKind } from '@opentelemetry/api';
import { InMemoryLogRecordExporter, LoggerProvider, SimpleLogRecordProcessor } from '@opentelemetry/sdk-logs';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type ClaudeFetchOptions, createClaudeFetch } from '../../src/index.js';
import { type FakeClaude, startFakeClaude } from '../../src/testing/index.js';
import { drive, FakeClock } from '../helpers/fake-clock.js';
import { installOtel, type OtelHarness, settle } from '../helpers/otel.js';
import { FAKE_API_KEY, FAKE_COOKIE, findSecrets, scanner } from '../helpers/secrets.js';

const MODEL = 'claude-sonnet-4-6';
const FALLBACK = 'claude-haiku-4-5';
const PROMPT = 'Summarize the confidential Nightingale merger memo for the board';
const OUTPUT = 'The Nightingale merger closes in March pending approval of the board.';
const params = { model: MODEL, max_tokens: 64, messages: [{ role: 'user' as const, content: PROMPT }] };

type Line = Record<string, unknown>;

let otel: OtelHarness;
let fake: FakeClaude;
let clock: FakeClock;
let lines: Line[];
let raw: string[];
const logExporter = new InMemoryLogRecordExporter();
const loggerProvider = new LoggerProvider({
  processors: [new SimpleLogRecordProcessor({ exporter: logExporter })],
});
const fetches: { shutdown(): void }[] = [];

beforeAll(async () => {
  otel = installOtel();
  logs.setGlobalLoggerProvider(loggerProvider);
  fake = await startFakeClaude({ text: OUTPUT, pingEvery: 0 });
});

afterAll(async () => {
  await fake.close();
  await loggerProvider.shutdown();
  logs.disable();
  await otel.shutdown();
});

beforeEach(() => {
  otel.reset();
  fake.reset();
  logExporter.reset();
  clock = new FakeClock(0);
  lines = [];
  raw = [];
});

afterEach(async () => {
  for (const f of fetches.splice(0)) f.shutdown();
  await settle();
  expect([...otel.openSpans.open.values()]).toEqual([]);
  // No secret, and no prompt or output text, in any line or record.
  const records = logExporter
    .getFinishedLogRecords()
    .map((r) => ({ body: r.body, attributes: r.attributes }));
  expect(findSecrets({ lines, records })).toEqual([]);
  for (const text of [...raw, JSON.stringify(records)]) {
    expect(text).not.toContain('Nightingale');
    expect(text).not.toContain('FAKE-COOKIE');
  }
});

function client(options: ClaudeFetchOptions, sdk: { fetch?: typeof fetch } = {}): Anthropic {
  const logger = pino(
    { level: 'debug' },
    {
      write(line: string) {
        raw.push(line);
        const parsed = JSON.parse(line) as Line;
        lines.push(parsed);
        scanner.log(parsed);
      },
    },
  );
  const claudeFetch = createClaudeFetch({ clock, random: () => 0.5, logger, ...options, ...sdk });
  fetches.push(claudeFetch);
  return new Anthropic({
    apiKey: FAKE_API_KEY,
    baseURL: fake.url,
    maxRetries: 0,
    defaultHeaders: { cookie: FAKE_COOKIE },
    fetch: claudeFetch,
  });
}

const events = (name: string): Line[] => lines.filter((l) => l.event === name);
const attemptSpans = (): ReadableSpan[] => otel.spans().filter((s) => s.kind === SpanKind.CLIENT);
const operationSpan = (): ReadableSpan => {
  const ops = otel.spans().filter((s) => s.kind === SpanKind.INTERNAL && s.name.startsWith('chat'));
  expect(ops).toHaveLength(1);
  return ops[0] as ReadableSpan;
};
const idsOf = (span: ReadableSpan | undefined) => ({
  trace_id: span?.spanContext().traceId,
  span_id: span?.spanContext().spanId,
});

describe('log events', () => {
  it('a retried 529: attempt failed, retry scheduled, attempt succeeded, each with its span ids', async () => {
    fake.setScript([{ status: 529, headers: { 'retry-after': '2' } }, null]);
    const message = await drive(clock, client({ retry: true }).messages.create(params), { kind: 'sleep' });
    expect(message.content[0]).toMatchObject({ text: OUTPUT });
    await settle();
    const [first, second] = attemptSpans();
    const failed = events('anthropic.attempt.failed');
    expect(failed).toEqual([
      expect.objectContaining({
        level: 40,
        ...idsOf(first),
        'error.type': 'overloaded_error',
        'http.response.status_code': 529,
        'anthropic.request.id': fake.requests[0]?.requestId,
        'http.request.resend_count': 0,
        'anthropic.retry_after': 2,
        'anthropic.region': '127.0.0.1',
        'gen_ai.request.model': MODEL,
      }),
    ]);
    expect(events('anthropic.retry.scheduled')).toEqual([
      expect.objectContaining({
        level: 30,
        ...idsOf(operationSpan()),
        'anthropic.retry.attempt': 1,
        'anthropic.retry.delay': 2,
        'anthropic.retry.source': 'retry_after',
        'error.type': 'overloaded_error',
      }),
    ]);
    const succeeded = events('anthropic.attempt.succeeded');
    expect(succeeded).toEqual([
      expect.objectContaining({
        level: 20,
        ...idsOf(second),
        'http.request.resend_count': 1,
        'http.response.status_code': 200,
        'anthropic.request.id': fake.requests[1]?.requestId,
      }),
    ]);
    expect(succeeded[0]?.['gen_ai.usage.output_tokens']).toBeGreaterThan(0);
    expect(succeeded[0]?.['anthropic.attempt.duration']).toBeGreaterThanOrEqual(0);
    // All three spans share one trace: the operation's.
    expect(new Set(lines.map((l) => l.trace_id))).toEqual(new Set([operationSpan().spanContext().traceId]));

    // The same events as OTLP log records, attached to the same spans.
    const records = logExporter.getFinishedLogRecords();
    expect(records.map((r) => r.eventName)).toEqual(lines.map((l) => l.event));
    for (const [i, record] of records.entries()) {
      expect(record.spanContext?.traceId).toBe(lines[i]?.trace_id);
      expect(record.spanContext?.spanId).toBe(lines[i]?.span_id);
      expect(record.severityText).toBe(['WARN', 'INFO', 'DEBUG'][i]);
    }
  });

  it('a breaker opening: the transition, then rejections, on the operation spans', async () => {
    fake.setScript([{ status: 529 }, { status: 529 }]);
    const c = client({
      breaker: { mode: 'consecutive', consecutiveFailures: 2, openMs: 60_000, hold: false },
    });
    for (let i = 0; i < 3; i++) {
      await expect(c.messages.create(params)).rejects.toMatchObject({ status: i < 2 ? 529 : 503 });
    }
    await settle();
    const transitions = events('anthropic.circuit_breaker.transition');
    expect(transitions).toEqual([
      expect.objectContaining({
        level: 40,
        'anthropic.circuit_breaker.from': 'closed',
        'anthropic.circuit_breaker.to': 'open',
        'anthropic.circuit_breaker.key': `127.0.0.1|${MODEL}`,
      }),
    ]);
    expect(events('anthropic.circuit_breaker.rejected')).toHaveLength(1);
    // The transition belongs to the second operation: its span carries the same event.
    const opSpans = otel.spans().filter((s) => s.kind === SpanKind.INTERNAL);
    const opened = opSpans.find((s) =>
      s.events.some((e) => e.name === 'anthropic.circuit_breaker.transition'),
    );
    expect(transitions[0]).toMatchObject(idsOf(opened));
    expect(events('anthropic.attempt.failed')).toHaveLength(2);
  });

  it('a model fallback: the fallback event between the failed and the successful attempt', async () => {
    fake.setScript([{ status: 529 }, null]);
    const message = await client({ fallback: { models: [MODEL, FALLBACK] } }).messages.create(params);
    expect(message.model).toBe(FALLBACK);
    await settle();
    expect(lines.map((l) => l.event)).toEqual([
      'anthropic.attempt.failed',
      'anthropic.fallback',
      'anthropic.attempt.succeeded',
    ]);
    expect(events('anthropic.fallback')[0]).toMatchObject({
      ...idsOf(operationSpan()),
      'anthropic.fallback.kind': 'model',
      'anthropic.fallback.from': MODEL,
      'anthropic.fallback.to': FALLBACK,
      'anthropic.fallback.reason': 'overloaded_error',
      'gen_ai.request.model': MODEL,
    });
    expect(events('anthropic.attempt.succeeded')[0]).toMatchObject({ 'gen_ai.request.model': FALLBACK });
  });

  it('a failover to another region, and a cached answer served', async () => {
    // Two origins of the one fake are two regions.
    const regions = [
      { name: 'primary', baseURL: fake.url },
      { name: 'secondary', baseURL: fake.url.replace('127.0.0.1', 'localhost') },
    ];
    fake.setScript([{ status: 529, headers: { 'retry-after': '0' } }, null]);
    await client({ retry: true, regions }).messages.create(params);
    await settle();
    expect(events('anthropic.fallback')).toEqual([
      expect.objectContaining({
        'anthropic.fallback.kind': 'region',
        'anthropic.fallback.from': 'primary',
        'anthropic.fallback.to': 'secondary',
        'anthropic.fallback.reason': 'overloaded_error',
      }),
    ]);
    lines.length = 0;
    fake.reset();
    fake.setScript([null, { status: 529 }]);
    const c = client({ cache: true });
    await c.messages.create(params);
    await settle();
    const served = await c.messages.create(params);
    expect(served.content[0]).toMatchObject({ text: OUTPUT });
    await settle();
    expect(events('anthropic.fallback')).toEqual([
      expect.objectContaining({
        'anthropic.fallback.kind': 'cache',
        'anthropic.fallback.to': 'cache',
        'anthropic.fallback.reason': 'overloaded_error',
      }),
    ]);
  });

  it('a retry budget spent: the retry given up with its reason', async () => {
    fake.setScript(Array.from({ length: 10 }, () => ({ status: 529 })));
    const c = client({ retry: { maxAttempts: 5, budget: { maxTokens: 2 } } });
    await expect(drive(clock, c.messages.create(params), { kind: 'sleep' })).rejects.toMatchObject({
      status: 529,
    });
    await settle();
    expect(events('anthropic.retry.given_up')).toEqual([
      expect.objectContaining({
        level: 40,
        ...idsOf(operationSpan()),
        'anthropic.retry.reason': 'retry_budget_exhausted',
        'error.type': 'overloaded_error',
      }),
    ]);
  });

  it('a timeout: its own event and the failed attempt, on the attempt span', async () => {
    fake.setScript([{ stall: { afterEvents: 2, ms: 30_000 } }]);
    const stream = client({ timeouts: { idleMs: 1000 } }).messages.stream(params);
    await expect(drive(clock, stream.finalMessage(), { kind: 'timer' })).rejects.toThrow();
    await settle();
    const [timeout] = events('anthropic.timeout');
    expect(timeout?.['anthropic.timeout.kind']).toBe('idle');
    const [attempt] = attemptSpans();
    expect(timeout).toMatchObject({ level: 40, ...idsOf(attempt), 'gen_ai.request.model': MODEL });
    expect(events('anthropic.attempt.failed')).toEqual([
      expect.objectContaining({
        ...idsOf(attempt),
        'error.type': 'idle_timeout',
        'exception.type': 'ClaudeTimeoutError',
      }),
    ]);
  });

  it('a resumed stream: the broken attempt, the resumption, the continuation', async () => {
    fake.setScript([{ drop: { afterEvents: 5 } }, null]);
    const message = await client({ resume: true }).messages.stream(params).finalMessage();
    expect(message.content[0]).toMatchObject({ text: OUTPUT });
    await settle();
    expect(events('anthropic.stream.resumption')).toEqual([
      expect.objectContaining({
        ...idsOf(operationSpan()),
        'anthropic.stream.resume.outcome': 'resumed',
        'anthropic.stream.resume.reason': expect.any(String),
      }),
    ]);
    const [first, second] = attemptSpans();
    expect(events('anthropic.attempt.failed')[0]).toMatchObject(idsOf(first));
    expect(events('anthropic.attempt.succeeded')[0]).toMatchObject(idsOf(second));
  });

  it('keeps the key, cookies and the prompt out of failures that quote them', async () => {
    // Fetches that fail with what they were given in their error (as some proxies' errors do).
    const leaky =
      (withBody: boolean): typeof fetch =>
      async (_input, init) => {
        const headers = new Headers(init?.headers);
        throw new TypeError('fetch failed', {
          cause: new Error(
            `proxy refused${withBody ? ` body ${String(init?.body)}` : ''} with x-api-key: ${headers.get('x-api-key')} authorization: ${headers.get('authorization')} cookie: ${headers.get('cookie')}`,
          ),
        });
      };
    await expect(client({}, { fetch: leaky(false) }).messages.create(params)).rejects.toThrow();
    await expect(client({}, { fetch: leaky(true) }).messages.create(params)).rejects.toThrow();
    await settle();
    const failed = events('anthropic.attempt.failed');
    expect(failed).toHaveLength(2);
    for (const line of failed) {
      expect(line).toMatchObject({ 'error.type': 'connection_error', 'exception.type': 'TypeError' });
    }
    // Secrets replaced, the rest kept; a message with text of the prompt omitted whole.
    expect(failed[0]?.['exception.message']).toMatch(
      /^fetch failed; cause: Error: proxy refused with x-api-key: \[REDACTED\] authorization: \[REDACTED\]/,
    );
    expect(failed[1]?.['exception.message']).toBe('[omitted: it contained text of the request]');
    // afterEach checks that no secret and no prompt text is in any line or record.
  });

  it('bounds a storm of failures: the burst, then one summary with the count', async () => {
    fake.setScript(Array.from({ length: 60 }, () => ({ status: 529 })));
    const c = client({ logging: { rateLimit: { burst: 5, perSecond: 1, summaryIntervalMs: 10_000 } } });
    await Promise.all(
      Array.from({ length: 60 }, () =>
        c.messages.create(params).then(
          () => undefined,
          () => undefined,
        ),
      ),
    );
    await settle();
    expect(events('anthropic.attempt.failed')).toHaveLength(5);
    clock.advance(10_000);
    expect(events('anthropic.log.suppressed')).toEqual([
      expect.objectContaining({
        'anthropic.log.suppressed_event': 'anthropic.attempt.failed',
        'anthropic.log.suppressed': 55,
      }),
    ]);
  });
});

/**
 * The log events module alone: sinks (a real pino logger on an in-memory stream, the real OTel logs
 * SDK), trace correlation, redaction of secrets and content, and the noise bound on the fake clock.
 */
import { logs, trace } from '@opentelemetry/api';
import { InMemoryLogRecordExporter, LoggerProvider, SimpleLogRecordProcessor } from '@opentelemetry/sdk-logs';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import fc from 'fast-check';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import {
  describeError,
  EventLog,
  type EventLogConfig,
  type Logger,
  redactSecrets,
} from '../../src/telemetry/logging.js';
import { LOG_EVENTS } from '../../src/telemetry/names.js';
import { FakeClock } from '../helpers/fake-clock.js';

const KEY = 'sk-ant-api03-UNIT-LOGGING-KEY-0123456789abcdefABCDEF-xyzw';
const PROMPT = 'My confidential prompt about project Nightingale';
const OUTPUT = 'The confidential answer about Nightingale';

/** A real pino logger writing parsed lines to an array. */
function pinoLines(level = 'debug') {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level, base: undefined }, { write: (s: string) => lines.push(JSON.parse(s)) });
  return { logger, lines };
}

const tracerProvider = new TracerProvider({
  spanProcessors: [new SimpleSpanProcessor({ exporter: new InMemorySpanExporter() })],
});
const tracer = tracerProvider.getTracer('test');

function otelLogs() {
  const exporter = new InMemoryLogRecordExporter();
  const provider = new LoggerProvider({ processors: [new SimpleLogRecordProcessor({ exporter })] });
  return { exporter, provider };
}

function eventLog(config: EventLogConfig) {
  return new EventLog({ loggerProvider: false, ...config });
}

const attemptFacts = (overrides: Partial<Parameters<EventLog['attempt']>[0]> = {}) => ({
  span: tracer.startSpan('POST /v1/messages'),
  outcome: 'error' as const,
  operation: 'chat',
  model: 'claude-sonnet-4-6',
  region: 'primary',
  resendCount: 1,
  statusCode: 529,
  errorType: 'overloaded_error',
  requestId: 'req_123',
  retryAfterS: 2,
  durationS: 0.25,
  responseModel: undefined,
  usage: undefined,
  timeout: undefined,
  error: undefined,
  requestBody: JSON.stringify({ model: 'claude-sonnet-4-6', messages: [{ role: 'user', content: PROMPT }] }),
  ...overrides,
});

afterEach(() => {
  logs.disable();
});

describe('redactSecrets', () => {
  it.each([
    [`key ${KEY} used`, KEY],
    ['x-api-key: abc123secretvalue', 'abc123secretvalue'],
    ['{"x-api-key":"abc123secretvalue"}', 'abc123secretvalue'],
    ['authorization: Bearer eyJhbGciOi.secret.token', 'eyJhbGciOi.secret.token'],
    ['Authorization=Basic dXNlcjpwYXNzd29yZA==', 'dXNlcjpwYXNzd29yZA=='],
    ['cookie: session=abc123; theme=dark', 'session=abc123'],
    ['cookie: session=abc123; theme=dark', 'theme=dark'],
    ['set-cookie: sid=xyz789; Path=/', 'sid=xyz789'],
    ['GET https://user:hunter2@example.com/v1', 'hunter2'],
    ['https://gw.example.com/v1?api_key=qwerty123456&x=1', 'qwerty123456'],
    ['https://gw.example.com/v1?token=qwerty123456', 'qwerty123456'],
  ])('removes the secret from %j', (text, secret) => {
    const out = redactSecrets(text);
    expect(out).not.toContain(secret);
    // URLs are redacted as in `url.full` (`REDACTED`), the rest as `[REDACTED]`.
    expect(out).toContain('REDACTED');
  });

  it('leaves ordinary text alone', () => {
    const text = 'connect ECONNREFUSED 127.0.0.1:443 (overloaded_error, 529)';
    expect(redactSecrets(text)).toBe(text);
  });
});

describe('describeError', () => {
  it('follows the cause chain, with codes, and redacts secrets anywhere in it', () => {
    const root = Object.assign(new Error(`connect ECONNREFUSED 10.0.0.1:443 with x-api-key: ${KEY}`), {
      code: 'ECONNREFUSED',
    });
    const error = new TypeError('fetch failed', { cause: root });
    const d = describeError(error, { content: false });
    expect(d.type).toBe('TypeError');
    expect(d.message).toContain('fetch failed; cause: Error: connect ECONNREFUSED 10.0.0.1:443');
    expect(d.message).toContain('[ECONNREFUSED]');
    expect(d.message).not.toContain('UNIT-LOGGING-KEY');
    expect(d.message).not.toContain('sk-ant');
  });

  it('omits quoted text (a JSON parse error quotes the output it failed on)', () => {
    let error: unknown;
    try {
      JSON.parse(`${OUTPUT} and more`);
    } catch (e) {
      error = e;
    }
    expect(String(error)).toContain('The confid');
    const d = describeError(error, { content: false });
    expect(d.type).toBe('SyntaxError');
    expect(d.message).not.toContain('The confid');
    expect(d.message).toContain('[omitted]');
  });

  it('omits a message that holds text of the request, even unquoted and in a cause', () => {
    const error = new Error('upload failed', { cause: new Error(`could not send ${PROMPT.slice(3, 30)}…`) });
    const body = JSON.stringify({ messages: [{ role: 'user', content: [{ type: 'text', text: PROMPT }] }] });
    const d = describeError(error, { content: false, requestBody: body });
    expect(d.message).not.toContain('confidential');
    expect(d.message).not.toContain('Nightingale');
    expect(d.message).toMatch(/omitted/);
  });

  it('keeps the text with `content: true`, never the secrets', () => {
    const error = new Error(`bad request "${PROMPT}" with authorization: Bearer ${KEY}`);
    const d = describeError(error, { content: true, requestBody: JSON.stringify({ messages: [PROMPT] }) });
    expect(d.message).toContain(PROMPT);
    expect(d.message).not.toContain('UNIT-LOGGING-KEY');
  });

  it('describes what is not an Error, and survives a cause cycle', () => {
    expect(describeError('boom', { content: false })).toEqual({ type: 'string', message: 'boom' });
    const a = new Error('a');
    const b = new Error('b', { cause: a });
    (a as { cause?: unknown }).cause = b;
    expect(describeError(a, { content: false }).message).toBe('a; cause: Error: b');
  });
});

describe('scrubbing properties', () => {
  const token = fc.stringMatching(/^[A-Za-z0-9_-]{12,48}$/);
  const noise = fc.string({ maxLength: 40 });
  const contexts: ((secret: string) => string)[] = [
    (k) => `sk-ant-api03-${k}`,
    (k) => `x-api-key: ${k}`,
    (k) => `X-Api-Key=${k}`,
    (k) => `{"x-api-key":"${k}","anthropic-version":"2023-06-01"}`,
    (k) => `authorization: Bearer ${k}`,
    (k) => `Authorization: Token ${k}`,
    (k) => `headers: { authorization: '${k}' }`,
    (k) => `cookie: theme=dark; session=${k}`,
    (k) => `set-cookie: sid=${k}; Path=/; HttpOnly`,
    (k) => `https://user:${k}@gateway.example.com/v1/messages`,
    (k) => `https://gateway.example.com/v1/messages?api_key=${k}&beta=1`,
    (k) => `Bearer ${k}`,
  ];

  it('no secret survives in an exception message or its causes, whatever surrounds it', () => {
    fc.assert(
      fc.property(
        token,
        fc.constantFrom(...contexts),
        noise,
        noise,
        fc.boolean(),
        fc.boolean(),
        (secret, context, before, after, inCause, content) => {
          const text = `${before} ${context(secret)} ${after}`;
          const error = inCause ? new Error('request failed', { cause: new Error(text) }) : new Error(text);
          const d = describeError(error, { content });
          expect(d.message).not.toContain(secret);
          expect(redactSecrets(text)).not.toContain(secret);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('no run of 12 characters of the prompt survives without the content opt-in', () => {
    const prompt = fc
      .stringMatching(/^[A-Za-z][A-Za-z ]{18,118}[A-Za-z]$/)
      .filter((p) => !/ {2}/.test(p) && !/\b(sig|token|secret|cookie|bearer|basic)/i.test(p));
    fc.assert(
      fc.property(prompt, fc.nat(), fc.integer({ min: 12, max: 40 }), noise, (text, at, length, before) => {
        const start = at % Math.max(1, text.length - 12);
        const piece = text.slice(start, start + length);
        fc.pre(piece.trim().length >= 12);
        const body = JSON.stringify({ messages: [{ role: 'user', content: [{ type: 'text', text }] }] });
        const error = new Error(`${before} upload of ${piece}… failed`);
        expect(describeError(error, { content: false, requestBody: body }).message).not.toContain(
          piece.trim(),
        );
      }),
      { numRuns: 300 },
    );
  });
});

describe('EventLog with pino', () => {
  it('writes an event with its name, level, message, fields and the ids of its span', () => {
    const { logger, lines } = pinoLines();
    const log = eventLog({ logger });
    const facts = attemptFacts();
    log.attempt(facts);
    expect(lines).toHaveLength(1);
    const line = lines[0] as Record<string, unknown>;
    const sc = facts.span.spanContext();
    expect(line).toMatchObject({
      level: 40,
      msg: LOG_EVENTS.ATTEMPT_FAILED.message,
      event: 'anthropic.attempt.failed',
      trace_id: sc.traceId,
      span_id: sc.spanId,
      'error.type': 'overloaded_error',
      'http.response.status_code': 529,
      'anthropic.request.id': 'req_123',
      'anthropic.region': 'primary',
      'gen_ai.request.model': 'claude-sonnet-4-6',
      'http.request.resend_count': 1,
      'anthropic.retry_after': 2,
      'anthropic.attempt.duration': 0.25,
    });
    // Declared fields only.
    const declared = new Set<string>(['level', 'time', 'msg', 'event', 'trace_id', 'span_id']);
    for (const f of LOG_EVENTS.ATTEMPT_FAILED.fields) declared.add(f);
    expect(Object.keys(line).filter((k) => !declared.has(k))).toEqual([]);
  });

  it('logs a success at debug with tokens, and builds nothing when debug is off', () => {
    const usage = { input: 10, output: 20, cacheRead: 5, cacheWrite: 1 };
    const debug = pinoLines('debug');
    eventLog({ logger: debug.logger }).attempt(
      attemptFacts({ outcome: 'ok', statusCode: 200, errorType: undefined, usage, responseModel: 'm' }),
    );
    expect(debug.lines[0]).toMatchObject({
      level: 20,
      event: 'anthropic.attempt.succeeded',
      'gen_ai.usage.input_tokens': 16,
      'gen_ai.usage.output_tokens': 20,
      'gen_ai.usage.cache_read.input_tokens': 5,
      'gen_ai.response.model': 'm',
    });
    const info = pinoLines('info');
    const log = eventLog({ logger: info.logger });
    let built = 0;
    log.emit(LOG_EVENTS.ATTEMPT_SUCCEEDED, undefined, () => {
      built++;
      return {};
    });
    expect(built).toBe(0);
    expect(info.lines).toEqual([]);
  });

  it('logs a timeout as its own event besides the failed attempt', () => {
    const { logger, lines } = pinoLines();
    eventLog({ logger }).attempt(
      attemptFacts({ errorType: 'idle_timeout', timeout: 'idle', statusCode: 200, retryAfterS: undefined }),
    );
    expect(lines.map((l) => l.event)).toEqual(['anthropic.timeout', 'anthropic.attempt.failed']);
    expect(lines[0]).toMatchObject({ 'anthropic.timeout.kind': 'idle' });
  });

  it('maps a decision (span event) to its log event, with the operation fields', () => {
    const { logger, lines } = pinoLines();
    const log = eventLog({ logger });
    const span = tracer.startSpan('chat claude-sonnet-4-6');
    log.decision(
      'anthropic.retry.scheduled',
      {
        'anthropic.retry.attempt': 1,
        'anthropic.retry.delay': 0.5,
        'anthropic.retry.source': 'backoff',
        'error.type': 'overloaded_error',
        'not.declared': 'x',
      },
      span,
      { operation: 'chat', model: 'claude-sonnet-4-6' },
    );
    // A span event that is not a log event writes nothing.
    log.decision('anthropic.response.anomaly', { 'anthropic.anomaly.kind': 'x' }, span, {
      operation: 'chat',
      model: undefined,
    });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      level: 30,
      event: 'anthropic.retry.scheduled',
      span_id: span.spanContext().spanId,
      'anthropic.retry.delay': 0.5,
      'anthropic.retry.source': 'backoff',
      'gen_ai.operation.name': 'chat',
    });
    expect(lines[0]).not.toHaveProperty('not.declared');
  });

  it.each(
    Object.values(LOG_EVENTS)
      .filter((spec) => spec.span === 'operation')
      .map((spec) => [spec.name, spec] as const),
  )('logs the decision %s with every declared field', (_name, spec) => {
    const { logger, lines } = pinoLines();
    const span = tracer.startSpan('chat m');
    const attributes = Object.fromEntries(spec.fields.map((f) => [f, `value of ${f}`]));
    eventLog({ logger }).decision(spec.name, attributes, span, { operation: 'chat', model: 'm' });
    expect(lines).toHaveLength(1);
    const { level, time, msg, event, trace_id, span_id, ...fields } = lines[0] as Record<string, unknown>;
    expect({ level, msg, event, span_id }).toEqual({
      level: { debug: 20, info: 30, warn: 40, error: 50 }[spec.level],
      msg: spec.message,
      event: spec.name,
      span_id: span.spanContext().spanId,
    });
    expect(Object.keys(fields).sort()).toEqual([...spec.fields].sort());
  });

  it('redacts secrets and content in what the line carries', () => {
    const { logger, lines } = pinoLines();
    const error = new TypeError('fetch failed', {
      cause: new Error(`socket closed; request had x-api-key: ${KEY} and cookie: sid=abc; body "${PROMPT}"`),
    });
    eventLog({ logger }).attempt(
      attemptFacts({ error, statusCode: undefined, errorType: 'connection_error' }),
    );
    const text = JSON.stringify(lines);
    expect(lines[0]).toMatchObject({ 'exception.type': 'TypeError' });
    for (const secret of ['UNIT-LOGGING-KEY', 'sk-ant', 'sid=abc', 'confidential', 'Nightingale']) {
      expect(text).not.toContain(secret);
    }
  });

  it('keeps going when the logger throws, and reports it', () => {
    const errors: string[] = [];
    const logger: Logger = {
      debug() {},
      info() {},
      warn() {
        throw new Error('disk full');
      },
      error() {},
    };
    const log = eventLog({ logger, onError: (step) => errors.push(step) });
    expect(() => log.attempt(attemptFacts())).not.toThrow();
    expect(errors).toEqual(['log']);
  });

  it('refuses a logger without the four methods, and invalid limits', () => {
    expect(() => new EventLog({ logger: {} as Logger })).toThrow(TypeError);
    expect(() => new EventLog({ rateLimit: { burst: 0 } })).toThrow(/burst/);
    expect(() => new EventLog({ rateLimit: { perSecond: Number.NaN } })).toThrow(/perSecond/);
  });
});

describe('noise bound', () => {
  const failed = (log: EventLog) => log.attempt(attemptFacts());

  it('writes the burst, then the refill rate, and summarizes the rest when the interval ends', () => {
    const clock = new FakeClock(0);
    const { logger, lines } = pinoLines();
    const log = eventLog({ logger, clock, rateLimit: { burst: 5, perSecond: 2, summaryIntervalMs: 10_000 } });
    for (let i = 0; i < 1000; i++) failed(log);
    expect(lines).toHaveLength(5);
    // One second later: two tokens back.
    clock.advance(1000);
    for (let i = 0; i < 1000; i++) failed(log);
    expect(lines).toHaveLength(7);
    expect(lines.some((l) => l.event === 'anthropic.log.suppressed')).toBe(false);
    clock.advance(9000);
    const summaries = lines.filter((l) => l.event === 'anthropic.log.suppressed');
    expect(summaries).toEqual([
      expect.objectContaining({
        level: 40,
        'anthropic.log.suppressed_event': 'anthropic.attempt.failed',
        'anthropic.log.suppressed': 1993,
      }),
    ]);
    expect(summaries[0]).not.toHaveProperty('trace_id');
    // Nothing more was dropped: no further summary.
    clock.advance(60_000);
    expect(lines.filter((l) => l.event === 'anthropic.log.suppressed')).toHaveLength(1);
  });

  it('limits each event name on its own and never limits debug events', () => {
    const clock = new FakeClock(0);
    const { logger, lines } = pinoLines();
    const log = eventLog({ logger, clock, rateLimit: { burst: 2 } });
    const span = tracer.startSpan('op');
    for (let i = 0; i < 50; i++) {
      failed(log);
      log.decision('anthropic.circuit_breaker.rejected', {}, span, { operation: 'chat', model: 'm' });
      log.attempt(attemptFacts({ outcome: 'ok', errorType: undefined }));
    }
    const count = (event: string) => lines.filter((l) => l.event === event).length;
    expect(count('anthropic.attempt.failed')).toBe(2);
    expect(count('anthropic.circuit_breaker.rejected')).toBe(2);
    expect(count('anthropic.attempt.succeeded')).toBe(50);
    log.flush();
    expect(
      lines
        .filter((l) => l.event === 'anthropic.log.suppressed')
        .map((l) => [l['anthropic.log.suppressed_event'], l['anthropic.log.suppressed']]),
    ).toEqual([
      ['anthropic.attempt.failed', 48],
      ['anthropic.circuit_breaker.rejected', 48],
    ]);
    // flush cancelled the timer.
    expect(clock.pending).toBe(0);
  });

  it('is off with `rateLimit: false`', () => {
    const { logger, lines } = pinoLines();
    const log = eventLog({ logger, clock: new FakeClock(0), rateLimit: false });
    for (let i = 0; i < 300; i++) failed(log);
    expect(lines).toHaveLength(300);
  });

  it('spends no token when no sink takes the event', () => {
    const clock = new FakeClock(0);
    const { logger, lines } = pinoLines('error');
    const log = eventLog({ logger, clock, rateLimit: { burst: 1 } });
    for (let i = 0; i < 10; i++) failed(log);
    expect(lines).toEqual([]);
    expect(clock.pending).toBe(0);
  });
});

describe('EventLog with OpenTelemetry logs', () => {
  it('emits a record per event with severity, attributes and the trace context of its span', async () => {
    const { exporter, provider } = otelLogs();
    const log = new EventLog({ loggerProvider: provider });
    const facts = attemptFacts();
    log.attempt(facts);
    const records = exporter.getFinishedLogRecords();
    expect(records).toHaveLength(1);
    const record = records[0];
    expect(record?.eventName).toBe('anthropic.attempt.failed');
    expect(record?.severityNumber).toBe(13);
    expect(record?.severityText).toBe('WARN');
    expect(record?.body).toBe(LOG_EVENTS.ATTEMPT_FAILED.message);
    expect(record?.spanContext?.traceId).toBe(facts.span.spanContext().traceId);
    expect(record?.spanContext?.spanId).toBe(facts.span.spanContext().spanId);
    expect(record?.attributes).toMatchObject({
      event: 'anthropic.attempt.failed',
      'error.type': 'overloaded_error',
      'anthropic.request.id': 'req_123',
    });
    expect(record?.instrumentationScope.name).toBe('claude-otel-middleware');
    await provider.shutdown();
  });

  it('follows the global provider registered later, and is off with `loggerProvider: false`', async () => {
    const log = new EventLog();
    const off = new EventLog({ loggerProvider: false });
    log.attempt(attemptFacts());
    const { exporter, provider } = otelLogs();
    logs.setGlobalLoggerProvider(provider);
    log.attempt(attemptFacts());
    off.attempt(attemptFacts());
    expect(exporter.getFinishedLogRecords()).toHaveLength(1);
    await provider.shutdown();
  });

  it('honours the provider minimum severity (debug successes are not built for an info logger)', async () => {
    const exporter = new InMemoryLogRecordExporter();
    const provider = new LoggerProvider({
      processors: [new SimpleLogRecordProcessor({ exporter })],
      loggerConfigurator: () => ({ enabled: true, minimumSeverity: 9, traceBased: false }),
    });
    const log = new EventLog({ loggerProvider: provider });
    let built = 0;
    log.emit(LOG_EVENTS.ATTEMPT_SUCCEEDED, undefined, () => {
      built++;
      return {};
    });
    log.attempt(attemptFacts());
    expect(built).toBe(0);
    expect(exporter.getFinishedLogRecords().map((r) => r.eventName)).toEqual(['anthropic.attempt.failed']);
    await provider.shutdown();
  });

  it('writes the same event to pino and to OTLP', async () => {
    const { exporter, provider } = otelLogs();
    const { logger, lines } = pinoLines();
    const span = tracer.startSpan('chat');
    new EventLog({ logger, loggerProvider: provider }).decision(
      'anthropic.fallback',
      {
        'anthropic.fallback.kind': 'model',
        'anthropic.fallback.from': 'a',
        'anthropic.fallback.to': 'b',
        'anthropic.fallback.reason': 'overloaded_error',
      },
      span,
      { operation: 'chat', model: 'a' },
    );
    const record = exporter.getFinishedLogRecords()[0];
    const { level, time, msg, trace_id, span_id, ...fields } = lines[0] as Record<string, unknown>;
    expect(record?.attributes).toEqual(fields);
    expect(record?.spanContext?.traceId).toBe(trace_id);
    expect(record?.spanContext?.spanId).toBe(span_id);
    expect(trace.isSpanContextValid(span.spanContext())).toBe(true);
    await provider.shutdown();
  });
});

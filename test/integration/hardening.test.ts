/**
 * Hardening: malformed answers thrown at the real Anthropic SDK over our fetch, through the fake
 * API's `raw` fault (arbitrary status, headers and bytes): broken SSE framing, invalid JSON in
 * events, events out of order, absurd `retry-after` and rate-limit headers, HTML pages, empty bodies,
 * wrong content types, answers that never end, duplicate headers.
 *
 * Each case: the caller gets its data intact (when the stream was valid) or a clear typed error
 * (the SDK's error classes, our ClaudeTimeoutError / StreamInterruptedError, or the fetch's own
 * `TypeError` for a cut connection); the attempt span records what was wrong (error.type or an
 * `anthropic.response.anomaly` event); no crash, no hang, no unhandled rejection, no span left open.
 * Time is the fake clock's: the timeouts fire when the test moves it.
 */
import Anthropic from '@anthropic-ai/sdk';
import { SpanKind } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  type ClaudeFetchOptions,
  ClaudeTimeoutError,
  claudeOtelErrorOf,
  createClaudeFetch,
  StreamInterruptedError,
} from '../../src/index.js';
import { type FakeClaude, type RawResponse, startFakeClaude } from '../../src/testing/index.js';
import { advanceWhenArmed, drive, FakeClock } from '../helpers/fake-clock.js';
import { installOtel, type OtelHarness, settle } from '../helpers/otel.js';
import { FAKE_API_KEY } from '../helpers/secrets.js';

const MODEL = 'claude-sonnet-4-6';
const params = { model: MODEL, max_tokens: 64, messages: [{ role: 'user' as const, content: 'hi' }] };
/** A real-time guard only: a case that has not settled by then is a hang. Never a sleep. */
const HANG_GUARD_MS = 10_000;

let otel: OtelHarness;
let fake: FakeClaude;
let clock: FakeClock;
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown): void => {
  unhandled.push(reason);
};

beforeAll(async () => {
  process.on('unhandledRejection', onUnhandled);
  otel = installOtel();
  fake = await startFakeClaude({ name: 'primary', apiKey: FAKE_API_KEY });
});

afterAll(async () => {
  await fake.close();
  await otel.shutdown();
  process.off('unhandledRejection', onUnhandled);
});

beforeEach(() => {
  otel.reset();
  fake.reset();
  clock = new FakeClock(1_700_000_000_000);
});

afterEach(async () => {
  await settle();
  expect([...otel.openSpans.open.values()]).toEqual([]);
  expect(unhandled).toEqual([]);
});

function client(options: ClaudeFetchOptions = {}, maxRetries = 0): Anthropic {
  return new Anthropic({
    apiKey: FAKE_API_KEY,
    baseURL: fake.url,
    maxRetries,
    fetch: createClaudeFetch({ clock, random: () => 0.5, ...options }),
  });
}

const attempts = (): ReadableSpan[] =>
  otel.spans().filter((s) => s.kind === SpanKind.CLIENT && s.name === 'POST /v1/messages');
const anomalies = (span: ReadableSpan | undefined): unknown[] =>
  (span?.events ?? [])
    .filter((e) => e.name === 'anthropic.response.anomaly')
    .map((e) => e.attributes?.['anthropic.anomaly.kind']);

/** Settles `promise` (driving the fake clock's sleeps), or fails the test as a hang. */
async function outcome<T>(promise: Promise<T>): Promise<{ value?: T; error?: unknown }> {
  let guard: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => {
    guard = setTimeout(() => reject(new Error('hang: the call never settled')), HANG_GUARD_MS);
  });
  try {
    return await Promise.race([
      drive(
        clock,
        promise.then((value) => ({ value })),
        { kind: 'sleep' },
      ).catch((error: unknown) => ({ error })),
      hang,
    ]);
  } finally {
    clearTimeout(guard);
  }
}

/** A clear, typed error: what a caller can branch on. */
function expectTypedError(error: unknown): void {
  const typed =
    error instanceof Anthropic.AnthropicError ||
    error instanceof ClaudeTimeoutError ||
    error instanceof StreamInterruptedError ||
    error instanceof SyntaxError ||
    // undici's fetch, when the connection is cut while the body is read (`terminated`).
    (error instanceof TypeError && error.message === 'terminated');
  expect(typed, `untyped error: ${String(error)}`).toBe(true);
}

/** Attributes the header parsers produce: absent, or finite and ≥ 0. */
function expectSaneNumbers(span: ReadableSpan): void {
  for (const [key, value] of Object.entries(span.attributes)) {
    if (key === 'anthropic.retry_after' || key.startsWith('anthropic.ratelimit.')) {
      expect(typeof value, key).toBe('number');
      expect(Number.isFinite(value) && (value as number) >= 0, `${key} = ${String(value)}`).toBe(true);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Answers

interface Ev {
  event: string;
  data: unknown;
}

function messageEvents(pieces: string[]): Ev[] {
  const outputTokens = 1 + pieces.join('').length;
  return [
    {
      event: 'message_start',
      data: {
        type: 'message_start',
        message: {
          id: 'msg_01hardening',
          type: 'message',
          role: 'assistant',
          model: MODEL,
          content: [],
          stop_reason: null,
          stop_sequence: null,
          usage: { input_tokens: 5, output_tokens: 1 },
        },
      },
    },
    {
      event: 'content_block_start',
      data: { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } },
    },
    { event: 'ping', data: { type: 'ping' } },
    ...pieces.map((text) => ({
      event: 'content_block_delta',
      data: { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text } },
    })),
    { event: 'content_block_stop', data: { type: 'content_block_stop', index: 0 } },
    {
      event: 'message_delta',
      data: {
        type: 'message_delta',
        delta: { stop_reason: 'end_turn', stop_sequence: null },
        usage: { output_tokens: outputTokens },
      },
    },
    { event: 'message_stop', data: { type: 'message_stop' } },
  ];
}

const message = (text: string) => ({
  id: 'msg_01hardening',
  type: 'message',
  role: 'assistant',
  model: MODEL,
  content: [{ type: 'text', text }],
  stop_reason: 'end_turn',
  stop_sequence: null,
  usage: { input_tokens: 5, output_tokens: 3 },
});

/** SSE text of events, with a line ending and optional noise the SSE rules say to ignore. */
function sse(events: Ev[], eol = '\n', noise = false): string {
  return events
    .map((e) => {
      const head = noise ? `: keep-alive${eol}id: 7${eol}retry: 100${eol}` : '';
      const data = noise ? `data:${JSON.stringify(e.data)}` : `data: ${JSON.stringify(e.data)}`;
      return `${head}event: ${e.event}${eol}${data}${eol}${eol}`;
    })
    .join('');
}

/** `text` cut into chunks at the given fractions (byte offsets, so UTF-8 characters split too). */
function chunked(text: string, cuts: number[]): Uint8Array[] {
  const bytes = Buffer.from(text, 'utf8');
  const offsets = [...new Set(cuts.map((c) => Math.floor(c * bytes.length)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let start = 0;
  for (const offset of [...offsets, bytes.length]) {
    if (offset > start) out.push(bytes.subarray(start, offset));
    start = Math.max(start, offset);
  }
  return out;
}

const SSE_TYPE: [string, string] = ['content-type', 'text/event-stream; charset=utf-8'];
const JSON_TYPE: [string, string] = ['content-type', 'application/json'];

function raw(answer: RawResponse): void {
  fake.setScript([{ raw: answer }]);
}

/** Streams with the SDK's `messages.stream` helper: the final message, or what was thrown. */
function streamFinal(c: Anthropic = client()) {
  return outcome(c.messages.stream(params).finalMessage());
}

/** Iterates the SDK's raw event stream: the events seen, and what was thrown. */
async function streamEvents(c: Anthropic = client()): Promise<{ types: string[]; error?: unknown }> {
  const types: string[] = [];
  const result = await outcome(
    (async () => {
      const stream = await c.messages.create({ ...params, stream: true });
      for await (const event of stream) types.push(event.type);
    })(),
  );
  return { types, error: result.error };
}

// ---------------------------------------------------------------------------------------------

describe('streams: framing the SSE rules allow', () => {
  const textArb = fc.array(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 12 }), {
    minLength: 1,
    maxLength: 8,
  });
  it('gives the consumer the exact text, whatever the line endings, noise and chunking (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        textArb,
        fc.constantFrom('\n', '\r\n', '\r'),
        fc.boolean(),
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 12 }),
        async (pieces, eol, noise, cuts) => {
          otel.reset();
          raw({ headers: [SSE_TYPE], chunks: chunked(sse(messageEvents(pieces), eol, noise), cuts) });
          const { value, error } = await streamFinal();
          expect(error).toBeUndefined();
          const block = value?.content[0];
          expect(block?.type === 'text' ? block.text : undefined).toBe(pieces.join(''));
          await settle();
          const [span] = attempts();
          expect(span?.attributes['error.type']).toBeUndefined();
          expect(span?.attributes['anthropic.stream.outcome']).toBe('completed');
          expect(span?.attributes['gen_ai.response.id']).toBe('msg_01hardening');
          expect(anomalies(span)).toEqual([]);
          expect(otel.openSpans.open.size).toBe(0);
        },
      ),
      { numRuns: 30 },
    );
  });
});

describe('streams: malformed', () => {
  type Mutation =
    | { kind: 'invalid_json'; at: number }
    | { kind: 'drop'; at: number }
    | { kind: 'swap'; at: number }
    | { kind: 'duplicate'; at: number }
    | { kind: 'truncate'; fraction: number; end: 'finish' | 'destroy' }
    | { kind: 'no_blank_line' }
    | { kind: 'garbage'; bytes: Uint8Array; at: number };

  const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
    fc.record({ kind: fc.constant('invalid_json' as const), at: fc.nat() }),
    fc.record({ kind: fc.constant('drop' as const), at: fc.nat() }),
    fc.record({ kind: fc.constant('swap' as const), at: fc.nat() }),
    fc.record({ kind: fc.constant('duplicate' as const), at: fc.nat() }),
    fc.record({
      kind: fc.constant('truncate' as const),
      fraction: fc.double({ min: 0, max: 0.999, noNaN: true }),
      end: fc.constantFrom('finish' as const, 'destroy' as const),
    }),
    fc.record({ kind: fc.constant('no_blank_line' as const) }),
    fc.record({
      kind: fc.constant('garbage' as const),
      bytes: fc.uint8Array({ maxLength: 64 }),
      at: fc.nat(),
    }),
  );

  /** The bytes of a mutated stream, and whether they still carry a complete `message_stop`. */
  function mutate(m: Mutation): { chunks: Uint8Array[]; end: 'finish' | 'destroy'; stop: boolean } {
    const events = messageEvents(['Hello', ', ', 'world', ' ✓']);
    const frames = events.map((e) => sse([e]));
    const i = 'at' in m ? m.at % frames.length : 0;
    let end: 'finish' | 'destroy' = 'finish';
    let text: string;
    switch (m.kind) {
      case 'invalid_json':
        frames[i] = `event: ${events[i]?.event}\ndata: {"type": "${events[i]?.event}", oops\n\n`;
        break;
      case 'drop':
        frames.splice(i, 1);
        break;
      case 'swap': {
        const j = (i + 1) % frames.length;
        [frames[i], frames[j]] = [frames[j] as string, frames[i] as string];
        break;
      }
      case 'duplicate':
        frames.splice(i, 0, frames[i] as string);
        break;
      case 'no_blank_line':
        frames[frames.length - 1] = (frames.at(-1) as string).replace(/\n\n$/, '\n');
        break;
      case 'garbage':
        break;
      case 'truncate':
        end = m.end;
        break;
    }
    text = frames.join('');
    let bytes: Uint8Array = Buffer.from(text, 'utf8');
    if (m.kind === 'truncate') bytes = bytes.subarray(0, Math.floor(m.fraction * bytes.length));
    if (m.kind === 'garbage') {
      const offset = Buffer.byteLength(frames.slice(0, i).join(''));
      bytes = Buffer.concat([bytes.subarray(0, offset), m.bytes, bytes.subarray(offset)]);
    }
    text = Buffer.from(bytes).toString('utf8');
    const stop = /event: message_stop\ndata: \{"type":"message_stop"\}\n\n/.test(text);
    return { chunks: bytes.length > 0 ? [bytes] : [], end, stop };
  }

  it('ends in a typed error or a recorded anomaly, never a hang or an open span (property)', async () => {
    await fc.assert(
      fc.asyncProperty(mutationArb, fc.boolean(), async (m, helper) => {
        otel.reset();
        const { chunks, end, stop } = mutate(m);
        raw({ headers: [SSE_TYPE], chunks, end });
        let error: unknown;
        let completed = false;
        if (helper) {
          const result = await streamFinal();
          error = result.error;
          completed = result.error === undefined;
        } else {
          const result = await streamEvents();
          error = result.error;
          completed = result.error === undefined;
        }
        if (error !== undefined) expectTypedError(error);
        await settle();
        expect(otel.openSpans.open.size).toBe(0);
        const spans = attempts();
        expect(spans).toHaveLength(1);
        const [span] = spans;
        if (span === undefined) return;
        // A stream that lost its end is recorded as such, whether or not the consumer noticed.
        if (!stop && completed) {
          expect(span.attributes['error.type'], JSON.stringify(m)).toBeDefined();
          expect(anomalies(span).length, JSON.stringify(m)).toBeGreaterThan(0);
        }
        if (!stop && span.attributes['anthropic.stream.outcome'] === 'completed') {
          throw new Error(`a stream without message_stop recorded as completed: ${JSON.stringify(m)}`);
        }
      }),
      { numRuns: 60 },
    );
  });

  it('records invalid JSON in message_start as an anomaly; the SDK throws a typed error', async () => {
    const frames = messageEvents(['Hi']).map((e) => sse([e]));
    frames[0] = 'event: message_start\ndata: {"type":"message_start","message":{nope\n\n';
    raw({ headers: [SSE_TYPE], chunks: [frames.join('')] });
    const { error } = await streamFinal();
    expect(error).toBeInstanceOf(Anthropic.AnthropicError);
    await settle();
    expect(anomalies(attempts()[0])).toContain('invalid_sse_json');
  });

  it('records a stream cut before message_stop, ended cleanly, as truncated', async () => {
    const events = messageEvents(['Hi']).slice(0, -1);
    raw({ headers: [SSE_TYPE], chunks: [sse(events)] });
    const { types, error } = await streamEvents();
    // The SDK's raw stream ends quietly: only the span tells.
    expect(error).toBeUndefined();
    expect(types).toContain('message_delta');
    await settle();
    const [span] = attempts();
    expect(span?.attributes['error.type']).toBe('stream_truncated');
    expect(anomalies(span)).toEqual(['missing_message_stop']);
  });

  it('records an event cut in half at the end as a truncated event', async () => {
    const text = sse(messageEvents(['Hi']));
    raw({ headers: [SSE_TYPE], chunks: [text.slice(0, text.length - 10)] });
    await streamEvents();
    await settle();
    const [span] = attempts();
    expect(span?.attributes['error.type']).toBe('stream_truncated');
    expect(anomalies(span)).toEqual(['truncated_event']);
  });

  it('passes an `event: error` on as the SDK error, with its type on the span', async () => {
    const events = messageEvents(['Hi']).slice(0, 3);
    const error = { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } };
    raw({ headers: [SSE_TYPE], chunks: [sse([...events, { event: 'error', data: error }])] });
    const result = await streamFinal();
    expect(result.error).toBeInstanceOf(Anthropic.APIError);
    await settle();
    expect(attempts()[0]?.attributes['error.type']).toBe('overloaded_error');
  });
});

describe('non-streamed answers: malformed', () => {
  const statusArb = fc.constantFrom(
    200,
    201,
    400,
    401,
    404,
    408,
    409,
    413,
    418,
    429,
    500,
    502,
    503,
    504,
    529,
  );
  const typeArb = fc.constantFrom<[string, string][]>(
    [JSON_TYPE],
    [['content-type', 'application/json; charset=utf-8']],
    [['content-type', 'text/html']],
    [['content-type', 'text/plain']],
    [['content-type', 'application/octet-stream']],
    [['content-type', 'text/event-stream']],
    [JSON_TYPE, ['content-type', 'text/html']],
    [],
  );
  const bodyArb = fc.oneof(
    fc.constant(JSON.stringify(message('intact'))),
    fc.constant(
      JSON.stringify({ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } }),
    ),
    fc.constant('<html><body><h1>502 Bad Gateway</h1></body></html>'),
    fc.constant(''),
    fc.constant(JSON.stringify(message('cut')).slice(0, 40)),
    fc.constantFrom('null', '[]', '42', '"text"', '{}', '{"type":"error"}', '{"error":{"type":42}}'),
    fc.string({ maxLength: 200 }),
    fc.uint8Array({ maxLength: 200 }),
  );
  const retryAfterArb = fc.oneof(
    fc.constantFrom(
      '-1',
      '0',
      '1.5',
      '0.001',
      '1e9',
      '99999999999999999999999',
      'Infinity',
      'NaN',
      'abc',
      '',
      ' 3 ',
      '0x10',
      'Wed, 21 Oct 2015 07:28:00 GMT',
      new Date(1_700_000_030_000).toUTCString(),
      new Date(1_800_000_000_000).toUTCString(),
      '2, 3',
    ),
    fc.integer({ min: -1_000_000, max: 1_000_000_000 }).map(String),
    fc.double({ noNaN: false }).map(String),
    fc.string({ maxLength: 30 }),
  );
  const headerName = fc.constantFrom(
    'retry-after',
    'retry-after-ms',
    'x-should-retry',
    'request-id',
    'anthropic-ratelimit-requests-limit',
    'anthropic-ratelimit-requests-remaining',
    'anthropic-ratelimit-requests-reset',
    'anthropic-ratelimit-tokens-remaining',
    'anthropic-ratelimit-input-tokens-reset',
    'anthropic-ratelimit-output-tokens-limit',
  );
  const headersArb = fc.array(fc.tuple(headerName, retryAfterArb), { maxLength: 8 });

  it('gives the data intact or a typed error, and records what was wrong (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        statusArb,
        typeArb,
        bodyArb,
        headersArb,
        fc.constantFrom('finish' as const, 'destroy' as const),
        fc.constantFrom<ClaudeFetchOptions>({}, { retry: { maxAttempts: 2 } }, { breaker: true }),
        async (status, type, body, headers, end, options) => {
          otel.reset();
          fake.reset();
          raw({ status, headers: [...type, ...headers], chunks: [body], end });
          const { value, error } = await outcome(client(options).messages.create(params));
          await settle();
          expect(otel.openSpans.open.size).toBe(0);
          const spans = attempts();
          expect(spans.length).toBeGreaterThanOrEqual(1);
          for (const span of spans) expectSaneNumbers(span);
          const first = spans.find((s) => s.attributes['http.request.resend_count'] === 0) ?? spans[0];
          if (error !== undefined) expectTypedError(error);
          const text = typeof body === 'string' ? body : Buffer.from(body).toString('utf8');
          const contentType = type.map(([, v]) => v).join(', ');
          const validMessage = text === JSON.stringify(message('intact'));
          if (spans.length === 1 && end === 'finish' && status < 300 && contentType.includes('json')) {
            if (validMessage) {
              // The consumer's data is intact.
              expect(error).toBeUndefined();
              expect(value).toEqual(message('intact'));
            } else if (error instanceof SyntaxError) {
              expect(anomalies(first)).toContain('invalid_json');
            }
          }
          if (status < 300 && !contentType.includes('json')) {
            expect(anomalies(first)).toContain('unexpected_content_type');
          }
          if (status >= 400) {
            expect(first?.attributes['error.type']).toBeDefined();
            expect(first?.attributes['http.response.status_code']).toBe(status);
          }
          if (end === 'destroy' && first?.attributes['http.response.status_code'] !== undefined) {
            // A cut body is never counted as a success.
            if (first.attributes['error.type'] === undefined) expect(error).toBeUndefined();
          }
          // One attempt metric per attempt span.
          expect(await otel.counterSum('anthropic.client.attempts')).toBe(spans.length);
        },
      ),
      { numRuns: 80 },
    );
  });

  it.each([
    [
      'an HTML error page',
      502,
      'text/html',
      '<html><h1>502 Bad Gateway</h1></html>',
      Anthropic.InternalServerError,
    ],
    ['an empty error body', 503, 'text/plain', '', Anthropic.InternalServerError],
    ['an error body that is not JSON', 429, 'application/json', 'rate limited!', Anthropic.RateLimitError],
    ['an unknown 4xx', 418, 'application/json', '{}', Anthropic.APIError],
  ])('turns %s into a typed SDK error with the status on the span', async (_, status, type, body, cls) => {
    raw({ status, headers: [['content-type', type]], chunks: [body] });
    const { error } = await outcome(client().messages.create(params));
    expect(error).toBeInstanceOf(cls);
    await settle();
    const [span] = attempts();
    expect(span?.attributes['http.response.status_code']).toBe(status);
    expect(span?.attributes['error.type']).toBe(String(status));
  });

  it('records an empty 200 JSON body as invalid JSON; the SDK throws a SyntaxError', async () => {
    raw({ headers: [JSON_TYPE] });
    const { error } = await outcome(client().messages.create(params));
    expect(error).toBeInstanceOf(SyntaxError);
    await settle();
    const [span] = attempts();
    expect(anomalies(span)).toEqual(['invalid_json']);
    expect(span?.attributes['error.type']).toBe('invalid_response');
  });

  it('records an HTML page with a 200 (a captive portal, a proxy) as an unexpected content type', async () => {
    raw({ headers: [['content-type', 'text/html']], chunks: ['<html>Sign in to the Wi-Fi</html>'] });
    // The SDK hands non-JSON bodies over as text: nothing is thrown, so the span must tell.
    const { value, error } = await outcome(client().messages.create(params));
    expect(error).toBeUndefined();
    expect(value).toBe('<html>Sign in to the Wi-Fi</html>');
    await settle();
    expect(anomalies(attempts()[0])).toEqual(['unexpected_content_type']);
  });

  it('records a JSON answer to a stream request as an unexpected content type', async () => {
    raw({ headers: [JSON_TYPE], chunks: [JSON.stringify(message('not a stream'))] });
    // The SDK's raw event stream finds no event in it and ends quietly: only the span tells.
    const { types, error } = await streamEvents();
    expect(error).toBeUndefined();
    expect(types).toEqual([]);
    await settle();
    expect(anomalies(attempts()[0])).toContain('unexpected_content_type');
  });
});

describe('headers: absurd and duplicated', () => {
  it.each([
    ['giant', '99999999999', undefined],
    ['negative', '-5', undefined],
    ['non-numeric', 'soon', undefined],
    ['fractional', '1.25', 1.25],
    // Read against the real wall clock (the HTTP date is absolute): one in the future is a wait, one
    // in the past none (issue 15, item 17: it was read as 0 s).
    ['an HTTP date', new Date(Date.now() + 30_000).toUTCString(), 'date'],
    ['an HTTP date in the past', new Date(1_700_000_000_000).toUTCString(), undefined],
    ['duplicated', '2, 9', 2],
  ] as const)('a 429 whose retry-after is %s: the retry waits a sane time', async (_, value, expected) => {
    fake.setScript([
      {
        raw: {
          status: 429,
          headers: [JSON_TYPE, ['retry-after', value]],
          chunks: [
            JSON.stringify({ type: 'error', error: { type: 'rate_limit_error', message: 'slow down' } }),
          ],
        },
      },
      null,
    ]);
    const { value: message, error } = await outcome(client({ retry: true }).messages.create(params));
    expect(error).toBeUndefined();
    expect(message?.type).toBe('message');
    await settle();
    const [failed] = attempts().filter((s) => s.attributes['http.response.status_code'] === 429);
    const recorded = failed?.attributes['anthropic.retry_after'];
    if (expected === undefined) expect(recorded).toBeUndefined();
    else if (expected === 'date') expect(typeof recorded).toBe('number');
    else expect(recorded).toBe(expected);
    const op = otel.spans().find((s) => s.kind === SpanKind.INTERNAL);
    const scheduled = op?.events.find((e) => e.name === 'anthropic.retry.scheduled');
    const delay = scheduled?.attributes?.['anthropic.retry.delay'];
    expect(typeof delay).toBe('number');
    // Absurd values fall back to our backoff (seconds); usable ones are obeyed.
    expect(Number.isFinite(delay) && (delay as number) >= 0 && (delay as number) <= 86_400).toBe(true);
  });

  it('reads duplicated rate-limit, request-id and content-type headers without inventing values', async () => {
    raw({
      headers: [
        JSON_TYPE,
        JSON_TYPE,
        ['request-id', 'req_first'],
        ['request-id', 'req_second'],
        ['anthropic-ratelimit-requests-remaining', '7'],
        ['anthropic-ratelimit-requests-remaining', '9'],
        ['anthropic-ratelimit-tokens-remaining', '-3'],
        ['anthropic-ratelimit-tokens-limit', 'lots'],
        ['anthropic-ratelimit-requests-reset', 'tomorrow'],
      ],
      chunks: [JSON.stringify(message('intact'))],
    });
    const { value, error } = await outcome(client().messages.create(params));
    expect(error).toBeUndefined();
    expect(value).toEqual(message('intact'));
    await settle();
    const [span] = attempts();
    if (!span) throw new Error('no span');
    expectSaneNumbers(span);
    expect(span.attributes['anthropic.ratelimit.requests.remaining']).toBe(7);
    expect(span.attributes['anthropic.ratelimit.tokens.remaining']).toBeUndefined();
    expect(span.attributes['anthropic.ratelimit.tokens.limit']).toBeUndefined();
    expect(span.attributes['anthropic.ratelimit.requests.reset']).toBeUndefined();
    expect(span.attributes['anthropic.request.id']).toBe('req_first, req_second');
    expect(anomalies(span)).toEqual([]);
  });
});

describe('answers that never end', () => {
  /** Resolves when the attempt's response headers have arrived. */
  function headersSeen(): { options: ClaudeFetchOptions; arrived: Promise<void> } {
    let resolve!: () => void;
    const arrived = new Promise<void>((r) => {
      resolve = r;
    });
    return { options: { responseHook: () => resolve() }, arrived };
  }

  it('a stream whose first event never comes: first-chunk timeout', async () => {
    raw({ headers: [SSE_TYPE], end: 'hang' });
    const { options, arrived } = headersSeen();
    const pending = client({ ...options, timeouts: { firstChunkMs: 3_000 } })
      .messages.stream(params)
      .finalMessage();
    await arrived;
    clock.advance(3_000);
    const { error } = await outcome(pending);
    expect(claudeOtelErrorOf(error)?.type).toBe('first_chunk_timeout');
    await settle();
    expect(attempts()[0]?.attributes['error.type']).toBe('first_chunk_timeout');
  });

  it('a stream whose body never starts, with only the idle timeout set: idle timeout', async () => {
    raw({ headers: [SSE_TYPE], end: 'hang' });
    const { options, arrived } = headersSeen();
    const pending = client({ ...options, timeouts: { idleMs: 2_000 } })
      .messages.stream(params)
      .finalMessage();
    await arrived;
    clock.advance(2_000);
    const { error } = await outcome(pending);
    expect(claudeOtelErrorOf(error)?.type).toBe('idle_timeout');
  });

  it('a stream that stops mid-way and stays open: idle timeout, the events before it intact', async () => {
    const events = messageEvents(['Hello', ' there']);
    raw({ headers: [SSE_TYPE], chunks: [sse(events.slice(0, 5))], end: 'hang' });
    const stream = await client({ timeouts: { idleMs: 2_000 } }).messages.create({ ...params, stream: true });
    const texts: string[] = [];
    const consumed = (async () => {
      for await (const event of stream) {
        if (event.type === 'content_block_delta' && event.delta.type === 'text_delta') {
          texts.push(event.delta.text);
          if (texts.length === 2) void advanceWhenArmed(clock, 2_000);
        }
      }
    })();
    const { error } = await outcome(consumed);
    expect(texts).toEqual(['Hello', ' there']);
    expect(claudeOtelErrorOf(error)?.type).toBe('idle_timeout');
    await settle();
    expect(attempts()[0]?.attributes['error.type']).toBe('idle_timeout');
  });

  it('a stream that stays open with resume on: given up with the partial output', async () => {
    const events = messageEvents(['Hello', ' there']);
    // Every attempt hangs after two deltas; the continuation too.
    fake.setScript([
      { raw: { headers: [SSE_TYPE], chunks: [sse(events.slice(0, 5))], end: 'hang' } },
      { raw: { headers: [SSE_TYPE], end: 'hang' } },
      { raw: { headers: [SSE_TYPE], end: 'hang' } },
    ]);
    const stream = await client({
      resume: { maxResumptions: 2 },
      timeouts: { idleMs: 2_000 },
    }).messages.create({
      ...params,
      stream: true,
    });
    const consumed = (async () => {
      for await (const _ of stream) {
        // consumed as it comes
      }
    })();
    // Each attempt's idle timer is armed when its body starts: move time until the stream gives up.
    let done = false;
    void consumed.then(
      () => {
        done = true;
      },
      () => {
        done = true;
      },
    );
    for (let i = 0; i < 200 && !done; i++) {
      await settle();
      const due = clock.nextDue();
      if (due !== undefined) clock.advance(Math.max(0, due - clock.now()));
    }
    const { error } = await outcome(consumed);
    expectTypedError(error);
    let interrupted: unknown = error;
    for (let i = 0; i < 5 && !(interrupted instanceof StreamInterruptedError); i++) {
      interrupted = (interrupted as { cause?: unknown } | undefined)?.cause;
    }
    expect(interrupted).toBeInstanceOf(StreamInterruptedError);
    expect(JSON.stringify((interrupted as StreamInterruptedError).partial)).toContain('Hello there');
    await settle();
    expect(attempts().length).toBeGreaterThan(1);
    for (const span of attempts()) expect(span.attributes['error.type']).toBeDefined();
  });

  it('a JSON body that never ends: the total deadline', async () => {
    raw({ headers: [JSON_TYPE], chunks: ['{"id":"msg_01'], end: 'hang' });
    const { options, arrived } = headersSeen();
    const pending = client({ ...options, timeouts: { totalMs: 10_000 } }).messages.create(params);
    await arrived;
    clock.advance(10_000);
    const { error } = await outcome(pending);
    expectTypedError(error);
    expect(claudeOtelErrorOf(error)?.type ?? (error as Error).name).toMatch(/total_timeout|Timeout/);
    await settle();
    expect(attempts()[0]?.attributes['error.type']).toBe('total_timeout');
  });
});

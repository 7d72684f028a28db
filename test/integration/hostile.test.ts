/**
 * A hostile server on raw `node:net` (`test/helpers/hostile.ts`) in front of the real SDK through our
 * fetch: each case misbehaves the way an issue-15 item describes, and asserts what the application
 * sees, what the spans say, and what the server received (nothing after an abort, no extra request).
 */
import Anthropic from '@anthropic-ai/sdk';
import { SpanKind } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type ClaudeFetchOptions, createClaudeFetch, StreamInterruptedError } from '../../src/index.js';
import { MAX_BLOCK_MS, MAX_WINDOW_MS } from '../../src/policies/throttle.js';
import { PROBE_INTERVAL_MS } from '../../src/policies/throttle-policy.js';
import { ERROR_BODY_DEFAULTS } from '../../src/recorder.js';
import { drive, FakeClock } from '../helpers/fake-clock.js';
import {
  chunk,
  type HostileServer,
  head,
  LAST_CHUNK,
  messageEvents,
  messageJson,
  sendJson,
  sseText,
  startHostile,
} from '../helpers/hostile.js';
import { installOtel, type OtelHarness, settle } from '../helpers/otel.js';
import { FAKE_API_KEY } from '../helpers/secrets.js';

const MODEL = 'claude-sonnet-4-6';
const params = { model: MODEL, max_tokens: 64, messages: [{ role: 'user' as const, content: 'hi' }] };
const SSE_HEAD = head(200, { 'content-type': 'text/event-stream', 'transfer-encoding': 'chunked' });

let otel: OtelHarness;
let server: HostileServer;
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown): void => {
  unhandled.push(reason);
};

beforeAll(async () => {
  process.on('unhandledRejection', onUnhandled);
  otel = installOtel();
  server = await startHostile();
});

afterAll(async () => {
  await server.close();
  await otel.shutdown();
  process.off('unhandledRejection', onUnhandled);
});

beforeEach(() => {
  otel.reset();
  server.requests.length = 0;
});

afterEach(async () => {
  for (let i = 0; i < 3; i++) await settle();
  expect([...otel.openSpans.open.values()]).toEqual([]);
  expect(unhandled).toEqual([]);
});

function client(options: ClaudeFetchOptions = {}, maxRetries = 0): Anthropic {
  return new Anthropic({
    apiKey: FAKE_API_KEY,
    baseURL: server.url,
    maxRetries,
    fetch: createClaudeFetch(options),
  });
}

const attempts = (): ReadableSpan[] =>
  otel
    .spans()
    .filter((s) => s.kind === SpanKind.CLIENT && s.instrumentationScope.name === 'claude-otel-middleware');
const operations = (): ReadableSpan[] =>
  otel
    .spans()
    .filter((s) => s.kind === SpanKind.INTERNAL && s.instrumentationScope.name === 'claude-otel-middleware');

/** Waits (real time, bounded) until `condition` holds. Never a fixed sleep. */
async function until(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 2000 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 2));
  if (!condition()) throw new Error(`timed out waiting for ${what}`);
}

describe('resume: a successful stream (item 19)', () => {
  it('ends the attempt span with anthropic.stream.outcome=completed', async () => {
    server.handle((_req, socket) => {
      socket.write(SSE_HEAD);
      socket.write(chunk(sseText(messageEvents(['Hello', ' world']))));
      socket.write(LAST_CHUNK);
    });
    const message = await client({ resume: true }).messages.stream(params).finalMessage();
    expect(message.content).toEqual(
      [{ type: 'text', text: 'Hello world', citations: null }].map(({ citations: _, ...b }) => b),
    );
    await settle();
    expect(attempts()).toHaveLength(1);
    expect(attempts()[0]?.attributes['anthropic.stream.outcome']).toBe('completed');
    expect(attempts()[0]?.attributes['error.type']).toBeUndefined();
  });
});

describe('resume: a legacy Text Completions stream (item 6)', () => {
  it('passes through untouched, with no extra request', async () => {
    const text =
      'event: completion\ndata: {"type":"completion","completion":" Hello","stop_reason":null,"model":"claude-2.1"}\n\n' +
      'event: ping\ndata: {"type": "ping"}\n\n' +
      'event: completion\ndata: {"type":"completion","completion":"!","stop_reason":"stop_sequence","model":"claude-2.1"}\n\n';
    server.handle((_req, socket) => {
      socket.write(SSE_HEAD);
      socket.write(chunk(text));
      socket.write(LAST_CHUNK);
    });
    // What an SDK that still has `client.completions` sends.
    const f = createClaudeFetch({ resume: true });
    const response = await f(`${server.url}/v1/complete`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': FAKE_API_KEY },
      body: JSON.stringify({
        model: 'claude-2.1',
        prompt: '\n\nHuman: hi\n\nAssistant:',
        max_tokens_to_sample: 16,
        stream: true,
      }),
    });
    expect(await response.text()).toBe(text);
    await settle();
    expect(server.requests).toHaveLength(1);
    expect(attempts()).toHaveLength(1);
  });
});

describe('resume: a stream on /v1/messages that does not start with message_start (item 6)', () => {
  it('passes through byte for byte, broken as it is, with no extra request', async () => {
    const text = 'event: completion\ndata: {"completion":" Hi"}\n\nevent: completion\ndata: {"compl';
    server.handle((_req, socket) => {
      socket.write(head(200, { 'content-type': 'text/event-stream', 'content-length': text.length }));
      socket.write(text);
    });
    const f = createClaudeFetch({ resume: true });
    const response = await f(`${server.url}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': FAKE_API_KEY },
      body: JSON.stringify({ ...params, stream: true }),
    });
    expect(await response.text()).toBe(text);
    await settle();
    expect(server.requests).toHaveLength(1);
  });
});

describe('resume: the caller aborts mid-stream (item 15)', () => {
  it('behaves as the SDK abort and sends nothing after it', async () => {
    const events = messageEvents(['one', ' two', ' three']);
    server.handle((_req, socket) => {
      socket.write(SSE_HEAD);
      // Two deltas, then the stream stays open.
      socket.write(chunk(sseText(events.slice(0, 4))));
    });
    const stream = await client({ resume: true, retry: true }).messages.create({ ...params, stream: true });
    let deltas = 0;
    let thrown: unknown;
    try {
      for await (const event of stream) {
        if (event.type === 'content_block_delta' && ++deltas === 2) stream.controller.abort();
      }
    } catch (error) {
      thrown = error;
    }
    // Without us, the SDK's iteration ends quietly on its own abort.
    expect(thrown).toBeUndefined();
    for (let i = 0; i < 5; i++) await settle();
    expect(server.requests).toHaveLength(1);
    const resumed = operations()
      .flatMap((s) => s.events)
      .filter((e) => e.name === 'anthropic.stream.resumption');
    expect(resumed).toEqual([]);
  });

  it('an abort through the SDK signal, with the SDK helper: APIUserAbortError, not StreamInterruptedError', async () => {
    const events = messageEvents(['one', ' two', ' three']);
    server.handle((_req, socket) => {
      socket.write(SSE_HEAD);
      socket.write(chunk(sseText(events.slice(0, 4))));
    });
    const controller = new AbortController();
    const stream = client({ resume: true }).messages.stream(params, { signal: controller.signal });
    stream.on('text', (_delta, snapshot) => {
      if (snapshot === 'one two') controller.abort();
    });
    const error = await stream.finalMessage().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(Anthropic.APIUserAbortError);
    let cause: unknown = error;
    for (let i = 0; i < 5 && cause !== undefined; i++) {
      expect(cause).not.toBeInstanceOf(StreamInterruptedError);
      cause = (cause as { cause?: unknown }).cause;
    }
    for (let i = 0; i < 5; i++) await settle();
    expect(server.requests).toHaveLength(1);
  });
});

describe('resume: a server-supplied error type on the resume path (item 14)', () => {
  it('is cut on the span, the resumption event and the error message', async () => {
    const huge = 'e'.repeat(2 * 1024 * 1024);
    const events = messageEvents(['one', ' two']);
    const broken = sseText([
      ...events.slice(0, 3),
      ['error', { type: 'error', error: { type: huge, message: huge } }],
    ]);
    server.handle((_req, socket) => {
      socket.write(SSE_HEAD);
      socket.write(chunk(broken));
      socket.write(LAST_CHUNK);
    });
    const error = await client({ resume: { maxResumptions: 1 } })
      .messages.stream(params)
      .finalMessage()
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(error).toBeDefined();
    let message = '';
    for (let cause: unknown = error; cause instanceof Error; cause = cause.cause) message += cause.message;
    expect(message.length).toBeLessThan(4096);
    await settle();
    const strings = [...attempts(), ...operations()].flatMap((s) => [
      ...Object.values(s.attributes),
      s.status.message ?? '',
      ...s.events.flatMap((e) => Object.values(e.attributes ?? {})),
    ]);
    for (const value of strings)
      if (typeof value === 'string') expect(value.length).toBeLessThanOrEqual(1024);
    expect(server.requests.length).toBeGreaterThan(1);
  });
});

describe('error bodies are not read whole before the SDK gets them (items 7, 18)', () => {
  it('a 503 whose body stalls: the SDK retries once our bounded wait is over, not at its own timeout', async () => {
    const clock = new FakeClock();
    server.handle((_req, socket, index) => {
      if (index === 0) {
        // Headers and the start of the body, then nothing (the socket stays open).
        socket.write(
          head(503, { 'content-type': 'application/json', 'content-length': 400, 'retry-after-ms': '1' }),
        );
        socket.write('{"type":"error","error":{"type":"overloaded_error",');
        return;
      }
      sendJson(socket, 200, messageJson('recovered'));
    });
    const pending = client({ clock }, 1).messages.create(params);
    await until(() => server.requests.length === 1 && clock.pending > 0, 'the bounded wait to start');
    // Our wait is bounded by errorBody.maxWaitMs (1 s by default) of the injected clock.
    clock.advance(ERROR_BODY_DEFAULTS.maxWaitMs);
    const message = await withinGuard(pending);
    expect(message.content).toEqual([{ type: 'text', text: 'recovered' }]);
    expect(server.requests).toHaveLength(2);
    await settle();
    const first = attempts()[0];
    expect(first?.attributes['http.response.status_code']).toBe(503);
    expect(first?.attributes['error.type']).toBe('503');
  });

  it('hands over the bytes that arrived, then the rest of the body as it comes', async () => {
    const clock = new FakeClock();
    let socketOf: import('node:net').Socket | undefined;
    server.handle((_req, socket) => {
      socketOf = socket;
      socket.write(head(500, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' }));
      socket.write(chunk('{"type":"error",'));
    });
    const f = createClaudeFetch({ clock });
    const responded = f(`${server.url}/v1/messages`, { method: 'POST', body: JSON.stringify(params) });
    await until(() => server.requests.length === 1 && clock.pending > 0, 'the bounded wait to start');
    clock.advance(ERROR_BODY_DEFAULTS.maxWaitMs);
    const response = await withinGuard(responded);
    expect(response.status).toBe(500);
    const text = response.text();
    socketOf?.write(chunk('"error":{"type":"api_error","message":"late"}}'));
    socketOf?.write(LAST_CHUNK);
    expect(await withinGuard(text)).toBe('{"type":"error","error":{"type":"api_error","message":"late"}}');
  });

  it('a 20 MB chunked 500: holds at most errorBody.maxBytes (plus a chunk) before handing it over, whatever the length', async () => {
    const size = 20 * 1024 * 1024;
    const piece = new Uint8Array(64 * 1024).fill(120);
    let pulled = 0;
    const inner = async (): Promise<Response> => {
      const body = new ReadableStream<Uint8Array>(
        {
          pull(controller) {
            if (pulled >= size) {
              controller.close();
              return;
            }
            pulled += piece.byteLength;
            controller.enqueue(piece);
          },
        },
        { highWaterMark: 0 },
      );
      return new Response(body, { status: 500, headers: { 'content-type': 'text/plain' } });
    };
    const f = createClaudeFetch({ fetch: inner as typeof fetch });
    const response = await f('https://api.example.test/v1/messages', {
      method: 'POST',
      body: JSON.stringify(params),
    });
    // What we read (and hold) before the caller got the response.
    expect(pulled).toBeLessThanOrEqual(ERROR_BODY_DEFAULTS.maxBytes + piece.byteLength);
    const bytes = new Uint8Array(await response.arrayBuffer());
    expect(bytes.byteLength).toBe(size);
    expect(bytes.every((b) => b === 120)).toBe(true);
  });
});

/** Settles `promise` or fails as a hang after 10 s of real time (a guard, not a timing assertion). */
async function withinGuard<T>(promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('hang: never settled')), 10_000);
  });
  try {
    return await Promise.race([promise, hang]);
  } finally {
    clearTimeout(timer);
  }
}

describe('the throttle is never locked out by one response (item 13)', () => {
  const lockout = {
    'anthropic-ratelimit-requests-limit': '50',
    'anthropic-ratelimit-requests-remaining': '0',
    'anthropic-ratelimit-requests-reset': '9999-12-31T23:59:59Z',
  };

  it('a reset of 9999-12-31 is believed for a minute at most: the next request waits, it is not refused', async () => {
    const clock = new FakeClock();
    server.handle((_req, socket) => sendJson(socket, 200, messageJson('ok'), lockout));
    const c = client({ clock, throttle: true });
    await c.messages.create(params);
    await withinGuard(drive(clock, c.messages.create(params), { kind: 'sleep' }));
    expect(server.requests).toHaveLength(2);
  });

  it('a key the model refuses lets a probe through once nothing was heard for PROBE_INTERVAL_MS', async () => {
    const clock = new FakeClock();
    server.handle((_req, socket) => sendJson(socket, 200, messageJson('ok'), lockout));
    const c = client({ clock, throttle: { refill: 'at_reset' } });
    await c.messages.create(params);
    // The (capped) window is still longer than maxWaitMs: refused locally, nothing sent.
    const refused = await c.messages.create(params).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(Anthropic.RateLimitError);
    expect(server.requests).toHaveLength(1);
    clock.advance(PROBE_INTERVAL_MS);
    await c.messages.create(params);
    expect(server.requests).toHaveLength(2);
    // The probe's answer says the same: refused again at once, until the capped window is over.
    await expect(c.messages.create(params)).rejects.toBeInstanceOf(Anthropic.RateLimitError);
    clock.advance(MAX_WINDOW_MS + 1_000);
    server.handle((_req, socket) => sendJson(socket, 200, messageJson('ok')));
    await c.messages.create(params);
    expect(server.requests).toHaveLength(3);
  });

  it('a 429 with a retry-after of a day blocks the throttle for MAX_BLOCK_MS at most', async () => {
    const clock = new FakeClock();
    server.handle((_req, socket, index) => {
      if (index === 0) {
        sendJson(
          socket,
          429,
          { type: 'error', error: { type: 'rate_limit_error', message: 'slow down' } },
          {
            'retry-after': '86400',
          },
        );
        return;
      }
      sendJson(socket, 200, messageJson('ok'));
    });
    const c = client({ clock, throttle: { maxWaitMs: MAX_BLOCK_MS } });
    await c.messages.create(params).catch(() => undefined);
    // The next request waits out the capped block (within maxWaitMs) instead of being refused for a day.
    const next = drive(clock, c.messages.create(params), { kind: 'sleep' });
    await expect(withinGuard(next)).resolves.toBeDefined();
    expect(server.requests).toHaveLength(2);
  });
});

describe('the response cache stores and replays only complete Messages (item 12)', () => {
  const overloaded = { type: 'error', error: { type: 'overloaded_error', message: 'busy' } };

  it('a 200 text/html page is not stored: a later failure is not answered with it', async () => {
    server.handle((_req, socket, index) => {
      if (index === 0) {
        const page = '<html><body>captive portal</body></html>';
        socket.write(head(200, { 'content-type': 'text/html', 'content-length': page.length }));
        socket.write(page);
        return;
      }
      sendJson(socket, 529, overloaded);
    });
    const c = client({ cache: true });
    await c.messages.create(params).catch(() => undefined);
    await settle();
    const error = await c.messages.create(params).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Anthropic.APIError);
    expect((error as InstanceType<typeof Anthropic.APIError>).status).toBe(529);
  });

  it('a truncated JSON body is not stored', async () => {
    server.handle((_req, socket, index) => {
      if (index === 0) {
        const body = JSON.stringify(messageJson('cut')).slice(0, 40);
        socket.write(head(200, { 'content-type': 'application/json', 'content-length': body.length }));
        socket.write(body);
        return;
      }
      sendJson(socket, 529, overloaded);
    });
    const c = client({ cache: true });
    await c.messages.create(params).catch(() => undefined);
    await settle();
    const error = await c.messages.create(params).catch((e: unknown) => e);
    expect((error as InstanceType<typeof Anthropic.APIError>).status).toBe(529);
  });

  it('a poisoned entry from the store is validated on replay and served to no key', async () => {
    server.handle((_req, socket) => sendJson(socket, 529, overloaded));
    const poisoned = {
      status: 200,
      headers: { 'content-type': 'application/json' },
      body: '<html>',
      storedAt: 0,
    };
    const store = { get: () => poisoned, set: () => undefined };
    const c = client({ cache: { store, key: () => 'one-key-for-all' } });
    for (const content of ['a', 'b']) {
      const error = await c.messages
        .create({ ...params, messages: [{ role: 'user', content }] })
        .catch((e: unknown) => e);
      expect((error as InstanceType<typeof Anthropic.APIError>).status).toBe(529);
    }
    const streamed = await c.messages
      .stream(params)
      .finalMessage()
      .catch((e: unknown) => e);
    expect((streamed as InstanceType<typeof Anthropic.APIError>).status).toBe(529);
  });

  it('a complete Message is stored and replayed (the happy path still works)', async () => {
    server.handle((_req, socket, index) => {
      if (index === 0) sendJson(socket, 200, messageJson('cached answer'));
      else sendJson(socket, 529, overloaded);
    });
    const c = client({ cache: true });
    await c.messages.create(params);
    await settle();
    const replayed = await c.messages.create(params);
    expect(replayed.content).toEqual([{ type: 'text', text: 'cached answer' }]);
  });
});

describe('timeouts.idleMs runs on the network, not on the consumer (item 4)', () => {
  /** A stream that sends one event every 100 ms of `clock`, whether or not anyone reads. */
  function pacedStream(clock: FakeClock, signal: AbortSignal | null | undefined): ReadableStream<Uint8Array> {
    const frames = messageEvents(['a', 'b', 'c', 'd', 'e', 'f']).map(([name, data]) =>
      new TextEncoder().encode(sseText([[name, data]])),
    );
    let i = 0;
    return new ReadableStream<Uint8Array>(
      {
        start(controller) {
          // Like fetch: an abort of the request's signal errors its body.
          signal?.addEventListener('abort', () => controller.error(signal.reason));
          const tick = (): void => {
            if (signal?.aborted) return;
            const frame = frames[i++];
            if (frame === undefined) {
              controller.close();
              return;
            }
            controller.enqueue(frame);
            clock.setTimer(tick, 100);
          };
          tick();
        },
      },
      { highWaterMark: 1024 },
    );
  }

  for (const resume of [false, true]) {
    it(`a consumer pausing 500 ms on a stream sending every 100 ms, idleMs 300: not a stall${resume ? ' (resume on: no continuation)' : ''}`, async () => {
      const clock = new FakeClock();
      let calls = 0;
      const inner = async (_url: string, init?: RequestInit): Promise<Response> => {
        calls++;
        return new Response(pacedStream(clock, init?.signal), {
          headers: { 'content-type': 'text/event-stream' },
        });
      };
      const c = new Anthropic({
        apiKey: FAKE_API_KEY,
        baseURL: 'https://api.example.test',
        maxRetries: 0,
        fetch: createClaudeFetch({ fetch: inner as typeof fetch, clock, timeouts: { idleMs: 300 }, resume }),
      });
      const stream = await c.messages.create({ ...params, stream: true });
      const texts: string[] = [];
      const consumed = (async () => {
        for await (const event of stream) {
          if (event.type === 'content_block_delta' && event.delta.type === 'text_delta')
            texts.push(event.delta.text);
          // The application is busy for 500 ms after each event.
          await clock.advanceAsync(500);
        }
      })();
      await withinGuard(consumed);
      expect(texts.join('')).toBe('abcdef');
      expect(calls).toBe(1);
      await settle();
      expect(attempts()[0]?.attributes['error.type']).toBeUndefined();
    });
  }

  it('a stream that stalls while the consumer waits is still an idle timeout', async () => {
    const clock = new FakeClock();
    const frames = sseText(messageEvents(['a', 'b']).slice(0, 3));
    // Like fetch: an abort of the request's signal errors its body.
    const inner = async (_url: string, init?: RequestInit): Promise<Response> =>
      new Response(
        new ReadableStream<Uint8Array>({
          start(controller) {
            controller.enqueue(new TextEncoder().encode(frames));
            init?.signal?.addEventListener('abort', () => controller.error(init.signal?.reason));
          },
        }),
        { headers: { 'content-type': 'text/event-stream' } },
      );
    const c = new Anthropic({
      apiKey: FAKE_API_KEY,
      baseURL: 'https://api.example.test',
      maxRetries: 0,
      fetch: createClaudeFetch({ fetch: inner as typeof fetch, clock, timeouts: { idleMs: 300 } }),
    });
    const stream = await c.messages.create({ ...params, stream: true });
    let seen = 0;
    const consumed = (async () => {
      for await (const _ of stream) seen++;
    })().catch((e: unknown) => e);
    // The consumer has the three events and waits for more: the idle timer runs.
    await until(() => seen === 3 && clock.pending > 0, 'the idle timer');
    clock.advance(300);
    const error = await withinGuard(consumed);
    expect(String(error)).toMatch(/idle/);
  });
});

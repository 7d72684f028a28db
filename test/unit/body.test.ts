/**
 * How response bodies are observed (`src/body.ts`), through `createClaudeFetch` around a hand-written
 * fetch stub that returns crafted responses, with the real OpenTelemetry SDK passed explicitly (no
 * global registration): tapped 2xx bodies, buffered error bodies, SSE bodies observed in place,
 * non-bufferable pass-through, bodies that fail midway, cancelled and abandoned bodies.
 */
import { SpanStatusCode } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { describe, expect, it } from 'vitest';
import type { ClaudeFetch } from '../../src/fetch.js';
import { stubHarness } from '../helpers/stub.js';

const { claudeFetch, answering, finished, onlySpan, attemptsCounted } = stubHarness();

const BASE = 'https://api.anthropic.com';
const encoder = new TextEncoder();
const decoder = new TextDecoder();

const MESSAGE = {
  id: 'msg_01XFDUDYJgAACzvnptvVoYEL',
  type: 'message',
  role: 'assistant',
  model: 'claude-sonnet-4-5-20250929',
  content: [{ type: 'text', text: 'Hello! How can I help?' }],
  stop_reason: 'end_turn',
  stop_sequence: null,
  usage: {
    input_tokens: 11,
    output_tokens: 7,
    cache_read_input_tokens: 100,
    cache_creation_input_tokens: 20,
  },
};
const MESSAGE_TEXT = JSON.stringify(MESSAGE);
/** input + cache read + cache write. */
const TOTAL_INPUT = 131;

function createMessage(f: ClaudeFetch, init: RequestInit = {}): Promise<Response> {
  return f(`${BASE}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
    body: JSON.stringify({
      model: 'claude-sonnet-4-5',
      max_tokens: 256,
      messages: [{ role: 'user', content: 'Hi' }],
    }),
    ...init,
  });
}

const JSON_HEADERS = { 'content-type': 'application/json', 'request-id': 'req_011CTest' };

function jsonResponse(text: string, status = 200, headers: HeadersInit = JSON_HEADERS): Response {
  return new Response(text, { status, headers });
}

/**
 * A body that yields `chunks`, one per pull, then fails with `error` (a dropped connection) or, with
 * no error, ends. Remembers whether it was cancelled.
 */
function craftedBody(
  chunks: readonly string[],
  error?: unknown,
): { stream: ReadableStream<Uint8Array>; cancelled: () => { reason: unknown } | undefined } {
  let i = 0;
  let cancelled: { reason: unknown } | undefined;
  const stream = new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        const chunk = chunks[i++];
        if (chunk !== undefined) controller.enqueue(encoder.encode(chunk));
        else if (error !== undefined) controller.error(error);
        else controller.close();
      },
      cancel(reason) {
        cancelled = { reason };
      },
    },
    { highWaterMark: 0 },
  );
  return { stream, cancelled: () => cancelled };
}

/** What undici throws when the connection drops in the middle of a body. */
function droppedConnection(): TypeError {
  return new TypeError('terminated', {
    cause: Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' }),
  });
}

/** The stream as an async iterable (the DOM lib types in use do not declare it). */
const iterable = (stream: ReadableStream<Uint8Array>): AsyncIterable<Uint8Array> =>
  stream as unknown as AsyncIterable<Uint8Array>;

async function readToEnd(stream: ReadableStream<Uint8Array>): Promise<string> {
  const r = stream.getReader();
  let text = '';
  for (;;) {
    const { done, value } = await r.read();
    if (done) return text + decoder.decode();
    text += decoder.decode(value, { stream: true });
  }
}

/** Asserts the span of a chat attempt carries the usage, id and model of {@link MESSAGE}. */
function expectUsage(span: ReadableSpan): void {
  const a = span.attributes;
  expect(a['gen_ai.operation.name']).toBe('chat');
  expect(a['gen_ai.usage.input_tokens']).toBe(TOTAL_INPUT);
  expect(a['gen_ai.usage.output_tokens']).toBe(7);
  expect(a['gen_ai.usage.cache_read.input_tokens']).toBe(100);
  expect(a['gen_ai.usage.cache_write.input_tokens']).toBe(20);
  expect(a['gen_ai.response.id']).toBe(MESSAGE.id);
  expect(a['gen_ai.response.model']).toBe(MESSAGE.model);
  expect(a['gen_ai.response.finish_reasons']).toEqual(['end_turn']);
  expect(a['error.type']).toBeUndefined();
  expect(span.status.code).toBe(SpanStatusCode.UNSET);
}

function expectNoUsage(span: ReadableSpan): void {
  for (const key of Object.keys(span.attributes)) {
    expect(key.startsWith('gen_ai.usage.') || key.startsWith('gen_ai.response.')).toBe(false);
  }
}

const anomalies = (span: ReadableSpan): unknown[] =>
  span.events
    .filter((e) => e.name === 'anthropic.response.anomaly')
    .map((e) => e.attributes?.['anthropic.anomaly.kind']);

describe('tapped 2xx JSON bodies', () => {
  it('json(): the value sent, usage on the span, ended once and only after the read', async () => {
    const f = answering(() => jsonResponse(MESSAGE_TEXT));
    const response = await createMessage(f);
    expect(finished()).toHaveLength(0);
    const value = await response.json();
    expect(value).toEqual(MESSAGE);
    const span = onlySpan();
    expectUsage(span);
    expect(span.name).toBe('POST /v1/messages');
    expect(span.attributes['http.response.status_code']).toBe(200);
    expect(span.attributes['anthropic.request.id']).toBe('req_011CTest');
    expect(anomalies(span)).toEqual([]);
  });

  const readers: [string, (r: Response) => Promise<string>][] = [
    ['text()', (r) => r.text()],
    ['arrayBuffer()', async (r) => decoder.decode(await r.arrayBuffer())],
    ['bytes()', async (r) => decoder.decode(await r.bytes())],
    ['blob()', async (r) => (await r.blob()).text()],
    ['body.getReader() read to the end', (r) => readToEnd(r.body!)],
    [
      'for await (const chunk of body)',
      async (r) => {
        let text = '';
        for await (const chunk of iterable(r.body!)) text += decoder.decode(chunk, { stream: true });
        return text + decoder.decode();
      },
    ],
  ];

  for (const [name, read] of readers) {
    it(`${name}: the bytes sent, usage on the span, ended once and only after the read`, async () => {
      // Several chunks, split inside a multi-byte character, so that the body is reassembled.
      const bytes = encoder.encode(
        JSON.stringify({ ...MESSAGE, content: [{ type: 'text', text: 'héllo ✓' }] }),
      );
      const cuts = [0, 7, 60, bytes.indexOf(0xc3) + 1, bytes.byteLength];
      const chunks = cuts.slice(1).map((end, i) => bytes.slice(cuts[i], end));
      const f = answering(
        () =>
          new Response(
            new ReadableStream<Uint8Array>({
              pull(controller) {
                const chunk = chunks.shift();
                if (chunk === undefined) controller.close();
                else controller.enqueue(chunk);
              },
            }),
            { status: 200, headers: JSON_HEADERS },
          ),
      );
      const response = await createMessage(f);
      expect(finished()).toHaveLength(0);
      expect(await read(response)).toBe(decoder.decode(bytes));
      expectUsage(onlySpan());
    });
  }

  it('a body read only partly through a reader keeps the span open until the end', async () => {
    const { stream } = craftedBody([MESSAGE_TEXT.slice(0, 40), MESSAGE_TEXT.slice(40)]);
    const f = answering(() => new Response(stream, { headers: JSON_HEADERS }));
    const r = (await createMessage(f)).body!.getReader();
    expect((await r.read()).done).toBe(false);
    expect(finished()).toHaveLength(0);
    expect((await r.read()).done).toBe(false);
    expect(finished()).toHaveLength(0);
    expect((await r.read()).done).toBe(true);
    expectUsage(onlySpan());
  });

  it('a 2xx body that is not JSON is passed through without usage and ends ok', async () => {
    const payload = Uint8Array.from([0, 1, 2, 250, 255]);
    const f = answering(
      () => new Response(payload, { headers: { 'content-type': 'application/octet-stream' } }),
    );
    const response = await createMessage(f);
    expect(finished()).toHaveLength(0);
    expect(await response.bytes()).toEqual(payload);
    const span = onlySpan();
    expectNoUsage(span);
    expect(span.status.code).toBe(SpanStatusCode.UNSET);
    expect(span.attributes['error.type']).toBeUndefined();
  });
});

describe('the tapped response is the original to its consumer', () => {
  it('keeps instanceof, status, statusText, ok, headers, url and bodyUsed', async () => {
    // A response from a real fetch (of a data: URL) has a real `url`.
    const url = `data:application/json,${encodeURIComponent(MESSAGE_TEXT)}`;
    const f = claudeFetch(() => globalThis.fetch(url));
    const response = await createMessage(f);
    expect(response).toBeInstanceOf(Response);
    expect(Object.prototype.toString.call(response)).toBe('[object Response]');
    expect(response.status).toBe(200);
    expect(response.statusText).toBe('OK');
    expect(response.ok).toBe(true);
    expect(response.redirected).toBe(false);
    expect(response.type).toBe('basic');
    expect(response.url).toBe(url);
    expect(response.headers.get('content-type')).toBe('application/json');
    expect(response.bodyUsed).toBe(false);
    expect(await response.json()).toEqual(MESSAGE);
    expect(response.bodyUsed).toBe(true);
    expectUsage(onlySpan());
  });

  it('keeps a crafted status text and headers', async () => {
    const f = answering(
      () =>
        new Response(MESSAGE_TEXT, {
          status: 201,
          statusText: 'Created Here',
          headers: { ...JSON_HEADERS, 'x-custom': 'a, b' },
        }),
    );
    const response = await createMessage(f);
    expect(response.status).toBe(201);
    expect(response.statusText).toBe('Created Here');
    expect(response.ok).toBe(true);
    expect(response.headers.get('x-custom')).toBe('a, b');
    expect(response.headers.get('request-id')).toBe('req_011CTest');
    expect([...response.headers.keys()]).toEqual(['content-type', 'request-id', 'x-custom']);
    expect(await response.text()).toBe(MESSAGE_TEXT);
    expectUsage(onlySpan());
  });

  it('clone() gives a response readable independently of the original', async () => {
    const f = answering(() => jsonResponse(MESSAGE_TEXT));
    const response = await createMessage(f);
    const copy = response.clone();
    expect(copy).toBeInstanceOf(Response);
    expect(copy.status).toBe(200);
    expect(copy.headers.get('request-id')).toBe('req_011CTest');
    expect(await copy.json()).toEqual(MESSAGE);
    expect(copy.bodyUsed).toBe(true);
    expect(response.bodyUsed).toBe(false);
    expect(await response.json()).toEqual(MESSAGE);
    expectUsage(onlySpan());
  });

  it('clone() after body was taken: body is then the new branch, as without the library', async () => {
    const plain = jsonResponse(MESSAGE_TEXT);
    const plainFirst = plain.body;
    const plainCopy = plain.clone();
    expect(plain.body).not.toBe(plainFirst);
    expect(await plainCopy.text()).toBe(MESSAGE_TEXT);
    expect(await readToEnd(plain.body!)).toBe(MESSAGE_TEXT);

    const f = answering(() => jsonResponse(MESSAGE_TEXT));
    const response = await createMessage(f);
    const first = response.body;
    const copy = response.clone();
    expect(response.body).not.toBe(first);
    expect(await copy.text()).toBe(MESSAGE_TEXT);
    expect(await readToEnd(response.body!)).toBe(MESSAGE_TEXT);
    expectUsage(onlySpan());
  });

  it('a reader called while body is locked rejects as without the library and ends nothing', async () => {
    const plain = jsonResponse(MESSAGE_TEXT);
    plain.body!.getReader();
    const expected = await plain.json().catch((e: unknown) => e);

    const { stream } = craftedBody([MESSAGE_TEXT.slice(0, 30), MESSAGE_TEXT.slice(30)]);
    const f = answering(() => new Response(stream, { headers: JSON_HEADERS }));
    const response = await createMessage(f);
    const r = response.body!.getReader();
    expect(await r.read()).toMatchObject({ done: false });
    const actual = await response.json().catch((e: unknown) => e);
    expect(actual).toBeInstanceOf(TypeError);
    expect((actual as Error).message).toBe((expected as Error).message);
    // The read in progress goes on, and ends the span with what it read.
    expect(finished()).toHaveLength(0);
    while (!(await r.read()).done);
    expectUsage(onlySpan());
  });

  it('a second read of a used body rejects as without the library, and ends nothing twice', async () => {
    const f = answering(() => jsonResponse(MESSAGE_TEXT));
    const response = await createMessage(f);
    await response.text();
    const plain = jsonResponse(MESSAGE_TEXT);
    await plain.text();
    const expected = await plain.json().catch((e: unknown) => e);
    const actual = await response.json().catch((e: unknown) => e);
    expect(actual).toBeInstanceOf(TypeError);
    expect((actual as Error).message).toBe((expected as Error).message);
    expectUsage(onlySpan());
  });
});

describe('2xx bodies that are not what they claim', () => {
  it('invalid JSON: json() rejects with the same SyntaxError, span invalid_response', async () => {
    const text = '{"id": "msg_1", "usage": {';
    const f = answering(() => jsonResponse(text));
    const response = await createMessage(f);
    const expected = await jsonResponse(text)
      .json()
      .catch((e: unknown) => e);
    const actual = await response.json().catch((e: unknown) => e);
    expect(actual).toBeInstanceOf(SyntaxError);
    expect((actual as Error).message).toBe((expected as Error).message);
    const span = onlySpan();
    expect(span.attributes['error.type']).toBe('invalid_response');
    expect(span.status.code).toBe(SpanStatusCode.ERROR);
    expect(anomalies(span)).toEqual(['invalid_json']);
    expectNoUsage(span);
  });

  it('invalid JSON read as text(): the text as sent, span invalid_response', async () => {
    const text = '<html>not json</html>';
    const f = answering(() => jsonResponse(text));
    const response = await createMessage(f);
    expect(await response.text()).toBe(text);
    const span = onlySpan();
    expect(span.attributes['error.type']).toBe('invalid_response');
    expect(span.status.code).toBe(SpanStatusCode.ERROR);
    expect(anomalies(span)).toEqual(['invalid_json']);
  });

  it('invalid JSON read through body: the bytes as sent, span invalid_response', async () => {
    const text = '{"truncated": ';
    const f = answering(() => jsonResponse(text));
    const response = await createMessage(f);
    expect(await readToEnd(response.body!)).toBe(text);
    const span = onlySpan();
    expect(span.attributes['error.type']).toBe('invalid_response');
    expect(span.status.code).toBe(SpanStatusCode.ERROR);
    expect(anomalies(span)).toEqual(['invalid_json']);
  });
});

describe('2xx bodies that fail midway (dropped connection)', () => {
  const readers: [string, (r: Response) => Promise<unknown>][] = [
    ['json()', (r) => r.json()],
    ['text()', (r) => r.text()],
    ['arrayBuffer()', (r) => r.arrayBuffer()],
    ['body.getReader()', (r) => readToEnd(r.body!)],
    [
      'for await (const chunk of body)',
      async (r) => {
        for await (const _ of iterable(r.body!));
      },
    ],
  ];
  for (const [name, read] of readers) {
    it(`${name} rejects with the same error object; span connection_error`, async () => {
      const error = droppedConnection();
      const f = answering(
        () =>
          new Response(craftedBody([MESSAGE_TEXT.slice(0, 30), MESSAGE_TEXT.slice(30, 60)], error).stream, {
            headers: JSON_HEADERS,
          }),
      );
      const response = await createMessage(f);
      expect(finished()).toHaveLength(0);
      await expect(read(response)).rejects.toBe(error);
      const span = onlySpan();
      expect(span.attributes['error.type']).toBe('connection_error');
      expect(span.status.code).toBe(SpanStatusCode.ERROR);
      expect(span.status.message).toBe('terminated');
      expect(span.events.some((e) => e.name === 'exception')).toBe(true);
      expectNoUsage(span);
    });
  }

  it('a body that fails with a timeout is classified as timeout', async () => {
    const error = new DOMException('The operation timed out.', 'TimeoutError');
    const f = answering(() => new Response(craftedBody(['{"id":'], error).stream, { headers: JSON_HEADERS }));
    const response = await createMessage(f);
    await expect(response.json()).rejects.toBe(error);
    expect(onlySpan().attributes['error.type']).toBe('timeout');
  });
});

describe('error statuses are buffered', () => {
  it('529 with an Anthropic error body: error.type overloaded_error, the same body for the consumer', async () => {
    const text = JSON.stringify({
      type: 'error',
      error: { type: 'overloaded_error', message: 'Overloaded' },
      request_id: 'req_011CErr',
    });
    const f = answering(() =>
      jsonResponse(text, 529, { ...JSON_HEADERS, 'x-should-retry': 'true', 'retry-after': '3' }),
    );
    const response = await createMessage(f);
    // Buffered: the span ended before the response was handed over.
    const span = onlySpan();
    expect(response).toBeInstanceOf(Response);
    expect(response.status).toBe(529);
    expect(response.ok).toBe(false);
    expect(response.headers.get('x-should-retry')).toBe('true');
    expect(response.headers.get('retry-after')).toBe('3');
    expect(response.bodyUsed).toBe(false);
    expect(await response.text()).toBe(text);
    expect(span.attributes['error.type']).toBe('overloaded_error');
    expect(span.attributes['http.response.status_code']).toBe(529);
    expect(span.attributes['anthropic.should_retry']).toBe(true);
    expect(span.attributes['anthropic.retry_after']).toBe(3);
    expect(span.status.code).toBe(SpanStatusCode.ERROR);
    expectNoUsage(span);
  });

  it('429 read as json(): the same value', async () => {
    const value = { type: 'error', error: { type: 'rate_limit_error', message: 'Slow down' } };
    const f = answering(() => jsonResponse(JSON.stringify(value), 429));
    const response = await createMessage(f);
    expect(await response.json()).toEqual(value);
    expect(onlySpan().attributes['error.type']).toBe('rate_limit_error');
  });

  it('502 with an HTML page: error.type 502, the page for the consumer', async () => {
    const page = '<html><body><h1>502 Bad Gateway</h1></body></html>';
    const f = answering(
      () =>
        new Response(page, {
          status: 502,
          statusText: 'Bad Gateway',
          headers: { 'content-type': 'text/html; charset=utf-8' },
        }),
    );
    const response = await createMessage(f);
    const span = onlySpan();
    expect(response.status).toBe(502);
    expect(response.statusText).toBe('Bad Gateway');
    expect(await response.text()).toBe(page);
    expect(span.attributes['error.type']).toBe('502');
    expect(span.status.code).toBe(SpanStatusCode.ERROR);
    expect(anomalies(span)).toEqual([]);
  });

  it('500 with an empty body: error.type 500, an empty body for the consumer', async () => {
    const f = answering(
      () => new Response('', { status: 500, headers: { 'content-type': 'application/json' } }),
    );
    const response = await createMessage(f);
    const span = onlySpan();
    expect(response.status).toBe(500);
    expect(await response.text()).toBe('');
    expect(span.attributes['error.type']).toBe('500');
    expect(span.status.code).toBe(SpanStatusCode.ERROR);
  });

  it('500 with no body at all: error.type 500', async () => {
    const f = answering(() => new Response(null, { status: 500 }));
    const response = await createMessage(f);
    expect(response.body).toBeNull();
    expect(onlySpan().attributes['error.type']).toBe('500');
  });

  it('a JSON error body that is not JSON: the status as error.type, an invalid_json anomaly', async () => {
    const f = answering(() => jsonResponse('upstream connect error', 503));
    const response = await createMessage(f);
    expect(await response.text()).toBe('upstream connect error');
    const span = onlySpan();
    expect(span.attributes['error.type']).toBe('503');
    expect(anomalies(span)).toEqual(['invalid_json']);
  });

  it('an error body failing midway: the partial bytes then the same error, span connection_error', async () => {
    const error = droppedConnection();
    const parts = ['{"type":"error",', '"error":{"type":"api_'];
    const source = craftedBody(parts, error);
    const f = answering(() => new Response(source.stream, { status: 500, headers: JSON_HEADERS }));
    const response = await createMessage(f);
    const span = onlySpan();
    expect(span.attributes['error.type']).toBe('connection_error');
    expect(span.attributes['http.response.status_code']).toBe(500);
    expect(span.status.code).toBe(SpanStatusCode.ERROR);
    expect(response.status).toBe(500);
    const r = response.body!.getReader();
    const received: Uint8Array[] = [];
    let failure: unknown;
    for (;;) {
      try {
        const { done, value } = await r.read();
        if (done) break;
        received.push(value);
      } catch (e) {
        failure = e;
        break;
      }
    }
    expect(failure).toBe(error);
    expect(decoder.decode(Buffer.concat(received))).toBe(parts.join(''));
  });

  it('an error body failing midway read with text(): rejects with the same error', async () => {
    const error = droppedConnection();
    const f = answering(
      () => new Response(craftedBody(['{"type":'], error).stream, { status: 529, headers: JSON_HEADERS }),
    );
    const response = await createMessage(f);
    await expect(response.text()).rejects.toBe(error);
    expect(onlySpan().attributes['error.type']).toBe('connection_error');
  });

  it('an error body failing before its first byte: the same error at once', async () => {
    const error = droppedConnection();
    const f = answering(() => new Response(craftedBody([], error).stream, { status: 500 }));
    const response = await createMessage(f);
    await expect(response.arrayBuffer()).rejects.toBe(error);
    expect(onlySpan().attributes['error.type']).toBe('connection_error');
  });
});

describe('bodies that cannot be buffered pass through', () => {
  it('a binary error body: the span stays open until the body ends, error.type is the status', async () => {
    const { stream } = craftedBody(['\u0000\u0001', '\u0002']);
    const f = answering(
      () => new Response(stream, { status: 503, headers: { 'content-type': 'application/octet-stream' } }),
    );
    const response = await createMessage(f);
    expect(finished()).toHaveLength(0);
    expect(await response.bytes()).toEqual(Uint8Array.from([0, 1, 2]));
    const span = onlySpan();
    expect(span.attributes['error.type']).toBe('503');
    expect(span.status.code).toBe(SpanStatusCode.ERROR);
  });

  it('an error body over 16 MiB by content-length is read within our own bound (content-length is not trusted)', async () => {
    const { stream } = craftedBody(['{"type":"error"', '}']);
    const f = answering(
      () =>
        new Response(stream, {
          status: 500,
          headers: { 'content-type': 'application/json', 'content-length': String(17 * 1024 * 1024) },
        }),
    );
    const response = await createMessage(f);
    // Small as it is, it was read (and the span ended) before the response was handed over.
    expect(finished()).toHaveLength(1);
    expect(await response.text()).toBe('{"type":"error"}');
    expect(onlySpan().attributes['error.type']).toBe('500');
  });

  it('a binary error body failing midway: the same error, the status kept as error.type', async () => {
    const error = droppedConnection();
    const f = answering(
      () =>
        new Response(craftedBody(['abc'], error).stream, {
          status: 502,
          headers: { 'content-type': 'image/png' },
        }),
    );
    const response = await createMessage(f);
    await expect(response.arrayBuffer()).rejects.toBe(error);
    const span = onlySpan();
    expect(span.attributes['error.type']).toBe('502');
    expect(span.status.code).toBe(SpanStatusCode.ERROR);
  });
});

describe('operations other than chat', () => {
  const MODEL_INFO = {
    type: 'model',
    id: 'claude-sonnet-4-5-20250929',
    display_name: 'Claude Sonnet 4.5',
    created_at: '2025-09-29T00:00:00Z',
  };
  const cases: [string, string, string, string][] = [
    ['count_tokens', '/v1/messages/count_tokens', 'POST', JSON.stringify({ input_tokens: 42 })],
    // A body shaped like a message: only the operation keeps it from being read as one.
    ['count_tokens', '/v1/messages/count_tokens', 'POST', MESSAGE_TEXT],
    ['list_models', '/v1/models', 'GET', JSON.stringify({ data: [MODEL_INFO], has_more: false })],
    ['list_models', '/v1/models/claude-sonnet-4-5', 'GET', JSON.stringify(MODEL_INFO)],
    ['list_models', '/v1/models/claude-sonnet-4-5', 'GET', MESSAGE_TEXT],
  ];
  const readers: [string, (r: Response) => Promise<string>][] = [
    ['json()', async (r) => JSON.stringify(await r.json())],
    ['text()', (r) => r.text()],
    ['body', (r) => readToEnd(r.body!)],
  ];
  for (const [operation, path, method, text] of cases) {
    for (const [name, read] of readers) {
      it(`${method} ${path} read with ${name} (${text.slice(0, 24)}…): no usage attributes`, async () => {
        const f = answering(() => jsonResponse(text));
        const response = await f(`${BASE}${path}`, {
          method,
          headers: { 'content-type': 'application/json' },
          body: method === 'POST' ? JSON.stringify({ model: 'claude-sonnet-4-5', messages: [] }) : undefined,
        });
        expect(finished()).toHaveLength(0);
        expect(await read(response)).toBe(text);
        const span = onlySpan();
        expect(span.attributes['gen_ai.operation.name']).toBe(operation);
        expectNoUsage(span);
        expect(span.status.code).toBe(SpanStatusCode.UNSET);
        expect(span.attributes['error.type']).toBeUndefined();
      });
    }
  }

  it('invalid JSON is not an anomaly outside chat (the body is not parsed)', async () => {
    const f = answering(() => jsonResponse('{oops'));
    const response = await f(`${BASE}/v1/models`);
    expect(await response.text()).toBe('{oops');
    const span = onlySpan();
    expect(anomalies(span)).toEqual([]);
    expect(span.attributes['error.type']).toBeUndefined();
  });
});

describe('consumers that stop reading', () => {
  it('cancelling response.body ends the span, without error, counted once', async () => {
    const source = craftedBody([MESSAGE_TEXT.slice(0, 20), MESSAGE_TEXT.slice(20)]);
    const f = answering(() => new Response(source.stream, { headers: JSON_HEADERS }));
    const attemptsBefore = await attemptsCounted();
    const response = await createMessage(f);
    expect(finished()).toHaveLength(0);
    await response.body!.cancel('not interested');
    const span = onlySpan();
    expect(span.status.code).toBe(SpanStatusCode.UNSET);
    expect(span.attributes['error.type']).toBeUndefined();
    expectNoUsage(span);
    // The cancel reached the source.
    expect(source.cancelled()).toEqual({ reason: 'not interested' });
    expect(await attemptsCounted()).toBe(attemptsBefore + 1);
  });

  it('cancelling a reader after one chunk ends the span, without error', async () => {
    const source = craftedBody([MESSAGE_TEXT.slice(0, 20), MESSAGE_TEXT.slice(20)]);
    const f = answering(() => new Response(source.stream, { headers: JSON_HEADERS }));
    const r = (await createMessage(f)).body!.getReader();
    await r.read();
    expect(finished()).toHaveLength(0);
    await r.cancel();
    const span = onlySpan();
    expect(span.status.code).toBe(SpanStatusCode.UNSET);
    expect(span.attributes['error.type']).toBeUndefined();
    expect(source.cancelled()).toBeDefined();
  });

  it('breaking out of for await ends the span, without error', async () => {
    const source = craftedBody([MESSAGE_TEXT.slice(0, 20), MESSAGE_TEXT.slice(20)]);
    const f = answering(() => new Response(source.stream, { headers: JSON_HEADERS }));
    const response = await createMessage(f);
    for await (const _ of iterable(response.body!)) break;
    const span = onlySpan();
    expect(span.status.code).toBe(SpanStatusCode.UNSET);
    expect(span.attributes['error.type']).toBeUndefined();
    expect(source.cancelled()).toBeDefined();
  });

  it('cancelling a buffered error body changes nothing: the span had ended', async () => {
    const f = answering(() => jsonResponse('{"type":"error","error":{"type":"api_error"}}', 500));
    const response = await createMessage(f);
    await response.body!.cancel();
    expect(onlySpan().attributes['error.type']).toBe('api_error');
  });
});

describe('SSE bodies are observed in place', () => {
  const events = [
    `event: message_start\ndata: ${JSON.stringify({ type: 'message_start', message: { ...MESSAGE, content: [], stop_reason: null, usage: { ...MESSAGE.usage, output_tokens: 1 } } })}\n\n`,
    'event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}\n\n',
    'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}\n\n',
    'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n',
    'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":7}}\n\n',
    'event: message_stop\ndata: {"type":"message_stop"}\n\n',
  ];
  const SSE_HEADERS = { 'content-type': 'text/event-stream; charset=utf-8' };

  it('the same body instance, usage on the span once the stream ends', async () => {
    const source = craftedBody(events);
    const original = new Response(source.stream, { headers: SSE_HEADERS });
    const f = answering(() => original);
    const response = await createMessage(f);
    expect(response).toBe(original);
    expect(finished()).toHaveLength(0);
    expect(await readToEnd(response.body!)).toBe(events.join(''));
    const span = onlySpan();
    expectUsage(span);
    expect(span.attributes['anthropic.stream.outcome']).toBe('completed');
  });

  it('a stream dropped midway: the same error for the consumer, span connection_error', async () => {
    const error = droppedConnection();
    const f = answering(
      () => new Response(craftedBody(events.slice(0, 3), error).stream, { headers: SSE_HEADERS }),
    );
    const response = await createMessage(f);
    await expect(response.text()).rejects.toBe(error);
    const span = onlySpan();
    expect(span.attributes['error.type']).toBe('connection_error');
    expect(span.status.code).toBe(SpanStatusCode.ERROR);
    expect(span.attributes['anthropic.stream.outcome']).toBe('error');
  });
});

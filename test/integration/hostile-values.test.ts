/**
 * Hostile values (issue 15, items 10, 11, 16, 17, 20): a raw `node:net` server that answers
 * `HTTP/1.1 999`, an inner fetch whose usage overflows, credentials in the base URL and a server
 * echoing the API key, absurd `retry-after` values, and the region of the retry metric under
 * failover. Each case: the caller gets what plain fetch would give (or a clear typed error), every
 * span ends, and nothing recorded is infinite or holds a secret.
 */
import { createServer, type Server, type Socket } from 'node:net';
import Anthropic from '@anthropic-ai/sdk';
import { SpanKind } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type ClaudeFetchOptions, createClaudeFetch } from '../../src/index.js';
import { drive, FakeClock } from '../helpers/fake-clock.js';
import { installOtel, type OtelHarness, settle } from '../helpers/otel.js';
import { stringsOf } from '../helpers/secrets.js';

const MODEL = 'claude-sonnet-4-6';
const params = { model: MODEL, max_tokens: 64, messages: [{ role: 'user' as const, content: 'hi' }] };
const MESSAGE = {
  id: 'msg_1',
  type: 'message',
  role: 'assistant',
  model: MODEL,
  content: [{ type: 'text', text: 'hello' }],
  stop_reason: 'end_turn',
  stop_sequence: null,
  usage: { input_tokens: 3, output_tokens: 1 },
};

let otel: OtelHarness;
let clock: FakeClock;

beforeAll(() => {
  otel = installOtel();
});
afterAll(async () => {
  await otel.shutdown();
});
beforeEach(() => {
  otel.reset();
  clock = new FakeClock(1_700_000_000_000);
});
afterEach(async () => {
  await settle();
  expect([...otel.openSpans.open.values()]).toEqual([]);
});

const attempts = (): ReadableSpan[] =>
  otel
    .spans()
    .filter((s) => s.kind === SpanKind.CLIENT && s.instrumentationScope.name === 'claude-otel-middleware');

/** A raw HTTP/1.1 server: `answer(n)` gives the n-th response's bytes; the connection then closes. */
async function rawServer(
  answer: (n: number) => string,
): Promise<{ url: string; count: () => number; close(): Promise<void> }> {
  let n = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let buffer = '';
    socket.on('data', (chunk) => {
      buffer += chunk.toString('latin1');
      const end = buffer.indexOf('\r\n\r\n');
      if (end < 0) return;
      const length = Number(/content-length:\s*(\d+)/i.exec(buffer.slice(0, end))?.[1] ?? 0);
      if (buffer.length < end + 4 + length) return;
      buffer = '';
      socket.end(answer(n++));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    count: () => n,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

function http(status: string, body: string, headers: Record<string, string> = {}): string {
  const lines = [
    `HTTP/1.1 ${status}`,
    'content-type: application/json',
    `content-length: ${Buffer.byteLength(body)}`,
    'connection: close',
  ];
  for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
  return `${lines.join('\r\n')}\r\n\r\n${body}`;
}

const WEIRD = http(
  '999 Weird',
  JSON.stringify({ type: 'error', error: { type: 'api_error', message: 'odd' } }),
);
const OK = http('200 OK', JSON.stringify(MESSAGE));

describe('a final status >= 600 (item 10)', () => {
  it('is returned as plain fetch returns it, and its span ends', async () => {
    const server = await rawServer(() => WEIRD);
    try {
      const plain = await fetch(`${server.url}/v1/messages`, {
        method: 'POST',
        body: JSON.stringify(params),
      });
      const ours = await createClaudeFetch()(`${server.url}/v1/messages`, {
        method: 'POST',
        body: JSON.stringify(params),
      });
      expect(ours.status).toBe(plain.status);
      expect(ours.status).toBe(999);
      expect(ours.statusText).toBe(plain.statusText);
      expect(ours.headers.get('content-type')).toBe('application/json');
      expect(await ours.text()).toBe(await plain.text());
      await settle();
      const [span] = attempts();
      expect(span?.attributes['http.response.status_code']).toBe(999);
      expect(span?.attributes['error.type']).toBe('999');
    } finally {
      await server.close();
    }
  });

  it('clone() and every body reader work on such a response', async () => {
    const server = await rawServer(() => WEIRD);
    try {
      const response = await createClaudeFetch()(`${server.url}/v1/messages`, { method: 'POST', body: '{}' });
      const copy = response.clone();
      expect((await response.json()).error.type).toBe('api_error');
      expect(response.bodyUsed).toBe(true);
      expect(new TextDecoder().decode(await copy.arrayBuffer())).toContain('odd');
      expect(response).toBeInstanceOf(Response);
    } finally {
      await server.close();
    }
  });

  it('is retried by our retry policy (and the SDK gets the message)', async () => {
    const server = await rawServer((n) => (n < 2 ? WEIRD : OK));
    try {
      const client = new Anthropic({
        apiKey: 'test-key',
        baseURL: server.url,
        maxRetries: 0,
        fetch: createClaudeFetch({ retry: true, clock, random: () => 0.5 }),
      });
      const message = await drive(clock, client.messages.create(params));
      expect(message.id).toBe('msg_1');
      expect(server.count()).toBe(3);
    } finally {
      await server.close();
    }
  });

  it('reaches the SDK as an API error (not a connection error) when it is the last word', async () => {
    const server = await rawServer(() => WEIRD);
    try {
      const client = new Anthropic({
        apiKey: 'test-key',
        baseURL: server.url,
        maxRetries: 0,
        fetch: createClaudeFetch({ retry: { maxAttempts: 2 }, clock, random: () => 0.5 }),
      });
      const error = await drive(
        clock,
        client.messages.create(params).catch((e: unknown) => e),
      );
      expect(error).toBeInstanceOf(Anthropic.APIError);
      expect(error).not.toBeInstanceOf(Anthropic.APIConnectionError);
      expect((error as InstanceType<typeof Anthropic.APIError>).status).toBe(999);
      expect(server.count()).toBe(2);
    } finally {
      await server.close();
    }
  });

  it('fails over to the next region', async () => {
    const bad = await rawServer(() => WEIRD);
    const good = await rawServer(() => OK);
    try {
      const client = new Anthropic({
        apiKey: 'test-key',
        baseURL: bad.url,
        maxRetries: 0,
        fetch: createClaudeFetch({
          retry: true,
          regions: [
            { name: 'east', baseURL: bad.url },
            { name: 'west', baseURL: good.url },
          ],
          clock,
          random: () => 0.5,
        }),
      });
      const message = await drive(clock, client.messages.create(params));
      expect(message.id).toBe('msg_1');
      expect(bad.count()).toBe(1);
      expect(good.count()).toBe(1);
    } finally {
      await bad.close();
      await good.close();
    }
  });
});

describe('every number recorded is finite (item 11)', () => {
  const HUGE = 1.7e308;
  const overflowing = {
    ...MESSAGE,
    usage: {
      input_tokens: HUGE,
      output_tokens: HUGE,
      cache_read_input_tokens: HUGE,
      cache_creation_input_tokens: HUGE,
    },
  };

  function numbersOf(span: ReadableSpan | undefined): number[] {
    return Object.values(span?.attributes ?? {}).filter((v): v is number => typeof v === 'number');
  }

  it.each([
    [
      'a JSON message',
      () => new Response(JSON.stringify(overflowing), { headers: { 'content-type': 'application/json' } }),
      false,
    ],
    [
      'a stream',
      () =>
        new Response(
          [
            `event: message_start\ndata: ${JSON.stringify({ type: 'message_start', message: { ...overflowing, content: [], stop_reason: null } })}\n\n`,
            `event: message_delta\ndata: ${JSON.stringify({ type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage: { output_tokens: HUGE, input_tokens: HUGE } })}\n\n`,
            `event: message_stop\ndata: {"type":"message_stop"}\n\n`,
          ].join(''),
          { headers: { 'content-type': 'text/event-stream' } },
        ),
      true,
    ],
  ] as const)('%s with token counts of 1.7e308', async (_, respond, stream) => {
    const client = new Anthropic({
      apiKey: 'test-key',
      baseURL: 'http://api.test.invalid',
      maxRetries: 0,
      fetch: createClaudeFetch({ fetch: (async () => respond()) as typeof fetch }),
    });
    if (stream) {
      for await (const _event of await client.messages.create({ ...params, stream: true })) {
        // drain
      }
    } else {
      await client.messages.create(params);
    }
    await settle();
    const [span] = attempts();
    const numbers = numbersOf(span);
    expect(numbers.length).toBeGreaterThan(0);
    for (const value of numbers) expect(Number.isFinite(value)).toBe(true);
    const points = await otel.points('gen_ai.client.token.usage');
    for (const point of points) {
      const value = point.value as { sum?: number; min?: number; max?: number };
      for (const n of [value.sum, value.min, value.max])
        if (n !== undefined) expect(Number.isFinite(n)).toBe(true);
    }
  });
});

describe('every string recorded is redacted (item 16)', () => {
  const lines: unknown[] = [];
  const logger = {
    debug: (obj: unknown, msg?: string) => lines.push([obj, msg]),
    info: (obj: unknown, msg?: string) => lines.push([obj, msg]),
    warn: (obj: unknown, msg?: string) => lines.push([obj, msg]),
    error: (obj: unknown, msg?: string) => lines.push([obj, msg]),
  };
  beforeEach(() => {
    lines.length = 0;
  });

  async function everythingRecorded(): Promise<string[]> {
    await settle();
    const texts: string[] = [];
    // Ours (the SDK's own call span records the SDK's view, not ours).
    for (const span of otel.spans().filter((s) => s.instrumentationScope.name === 'claude-otel-middleware')) {
      texts.push(span.name, span.status.message ?? '');
      for (const [, text] of stringsOf(span.attributes)) texts.push(text);
      for (const event of span.events) for (const [, text] of stringsOf(event.attributes)) texts.push(text);
    }
    for (const [, text] of stringsOf(lines)) texts.push(text);
    for (const [, text] of stringsOf(await otel.collect())) texts.push(text);
    return texts;
  }

  it('credentials of a baseURL never reach the exception event, the status message, metrics or logs', async () => {
    const PASSWORD = 'hunter2-very-secret';
    const client = new Anthropic({
      apiKey: 'test-key',
      baseURL: `http://someone:${PASSWORD}@127.0.0.1:9`,
      maxRetries: 0,
      fetch: createClaudeFetch({ logger, retry: { maxAttempts: 1 } }),
    });
    const error = await client.messages.create(params).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Anthropic.APIError);
    const [span] = attempts();
    // The attempt failed with the runtime's error, whose text names the URL.
    const exception = span?.events.find((e) => e.name === 'exception');
    expect(exception).toBeDefined();
    expect(String(exception?.attributes?.['exception.message'])).toContain('REDACTED');
    const leaked = (await everythingRecorded()).filter(
      (text) => text.includes(PASSWORD) || text.includes('someone'),
    );
    expect(leaked).toEqual([]);
  });

  it('an API key echoed by the server in request-id is not recorded', async () => {
    const KEY = 'plain-secret-key-0123456789';
    const client = new Anthropic({
      apiKey: KEY,
      baseURL: 'http://api.test.invalid',
      maxRetries: 0,
      fetch: createClaudeFetch({
        logger,
        retry: { maxAttempts: 1 },
        fetch: (async () =>
          new Response(JSON.stringify({ type: 'error', error: { type: 'api_error', message: 'no' } }), {
            status: 500,
            headers: { 'content-type': 'application/json', 'request-id': `req_${KEY}` },
          })) as typeof fetch,
      }),
    });
    await client.messages.create(params).catch(() => undefined);
    const [span] = attempts();
    expect(span?.attributes['anthropic.request.id']).toBe('req_[REDACTED]');
    expect((await everythingRecorded()).filter((text) => text.includes(KEY))).toEqual([]);
  });
});

describe('absurd retry-after values and the cap on a server-requested wait (item 17)', () => {
  const rateLimited = (retryAfter: string) => () =>
    new Response(JSON.stringify({ type: 'error', error: { type: 'rate_limit_error', message: 'slow' } }), {
      status: 429,
      headers: { 'content-type': 'application/json', 'retry-after': retryAfter },
    });

  async function waits(
    retryAfter: string,
    options: ClaudeFetchOptions['retry'] = true,
  ): Promise<{ delays: number[]; sources: unknown[] }> {
    const respond = rateLimited(retryAfter);
    const fetchFn = createClaudeFetch({
      retry: options,
      clock,
      random: () => 0.5,
      fetch: (async () => respond()) as typeof fetch,
    });
    const response = await drive(
      clock,
      fetchFn('http://api.test.invalid/v1/messages', { method: 'POST', body: JSON.stringify(params) }),
    );
    await response.text();
    await settle();
    const op = otel.spans().find((s) => s.kind === SpanKind.INTERNAL);
    const scheduled = op?.events.filter((e) => e.name === 'anthropic.retry.scheduled') ?? [];
    return {
      delays: scheduled.map((e) => Number(e.attributes?.['anthropic.retry.delay'])),
      sources: scheduled.map((e) => e.attributes?.['anthropic.retry.source']),
    };
  }

  it('a date in the past is no wait: the backoff is used', async () => {
    const { delays, sources } = await waits(new Date(Date.now() - 60_000).toUTCString());
    expect(sources).toEqual(['backoff', 'backoff']);
    // Full jitter at 0.5: 250 ms, then 500 ms (before: 0 s, three attempts at once).
    expect(delays).toEqual([0.25, 0.5]);
  });

  it('86 399 s without a deadline is above the cap: the backoff is used', async () => {
    const { delays, sources } = await waits('86399');
    expect(sources).toEqual(['backoff', 'backoff']);
    expect(Math.max(...delays)).toBeLessThanOrEqual(8);
  });

  it('a wait within the cap is honoured; the cap is an option', async () => {
    expect((await waits('30')).delays).toEqual([30, 30]);
    otel.reset();
    expect((await waits('61')).sources).toEqual(['backoff', 'backoff']);
    otel.reset();
    expect((await waits('61', { maxRetryAfterMs: 120_000 })).delays).toEqual([61, 61]);
    expect(() => createClaudeFetch({ retry: { maxRetryAfterMs: -1 } })).toThrow(TypeError);
  });
});

describe('anthropic.region on the retry metric (item 20)', () => {
  it('is the route name, as on the attempts, when regions is set', async () => {
    let n = 0;
    const fetchFn = (async () => {
      n++;
      return n === 1
        ? new Response(
            JSON.stringify({ type: 'error', error: { type: 'overloaded_error', message: 'busy' } }),
            {
              status: 529,
              headers: { 'content-type': 'application/json' },
            },
          )
        : new Response(JSON.stringify(MESSAGE), { headers: { 'content-type': 'application/json' } });
    }) as typeof fetch;
    const client = new Anthropic({
      apiKey: 'test-key',
      baseURL: 'http://sdk-host.test.invalid',
      maxRetries: 0,
      fetch: createClaudeFetch({
        retry: true,
        regions: [
          { name: 'east', baseURL: 'http://east.test.invalid' },
          { name: 'west', baseURL: 'http://west.test.invalid' },
        ],
        clock,
        random: () => 0.5,
        fetch: fetchFn,
      }),
    });
    await drive(clock, client.messages.create(params));
    await settle();
    const attemptRegions = new Set(attempts().map((s) => s.attributes['anthropic.region']));
    const points = await otel.points('anthropic.client.retries');
    const retryRegions = new Set(points.map((p) => p.attributes['anthropic.region']));
    expect(retryRegions).toEqual(new Set(['east']));
    expect([...retryRegions].every((r) => attemptRegions.has(r))).toBe(true);
  });
});

describe('strings a response gives are bounded and redacted (item 16)', () => {
  it('a key echoed in error.type, model and id, and a 100 kB model name', async () => {
    const KEY = 'plain-secret-key-0123456789';
    const bodies = [
      { status: 500, body: { type: 'error', error: { type: `x-api-key=${KEY}`, message: 'no' } } },
      { status: 200, body: { ...MESSAGE, id: `msg_${KEY}`, model: `m-${KEY}-${'x'.repeat(100_000)}` } },
    ];
    let n = 0;
    const fetchFn = (async () => {
      const { status, body } = bodies[n++ % bodies.length]!;
      return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
    }) as typeof fetch;
    const client = new Anthropic({
      apiKey: KEY,
      baseURL: 'http://api.test.invalid',
      maxRetries: 0,
      fetch: createClaudeFetch({ fetch: fetchFn }),
    });
    await client.messages.create(params).catch(() => undefined);
    await client.messages.create(params);
    await settle();
    const texts: string[] = [];
    for (const span of attempts()) for (const [, text] of stringsOf(span.attributes)) texts.push(text);
    for (const [, text] of stringsOf(await otel.collect())) texts.push(text);
    expect(texts.filter((t) => t.includes(KEY)).map((t) => t.slice(0, 80))).toEqual([]);
    expect(Math.max(...texts.map((t) => t.length))).toBeLessThanOrEqual(1024);
    // The error with a secret in its type is recorded by its status.
    expect(attempts()[0]?.attributes['error.type']).toBe('500');
  });
});

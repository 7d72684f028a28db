/**
 * Transparency (issue 15, items 1, 2, 3, 8, 9 and the "Done when" test): the real SDK through our
 * fetch, with a custom inner fetch that asserts what it receives against what the SDK passed — a
 * `Headers` instance, the SDK's headers and body byte for byte, its signal, the attempt number in
 * `x-stainless-retry-count` — for JSON, streamed, multipart (file upload) and `Request`-object calls,
 * with and without policies. The inner fetch is the server: it answers each call itself.
 */
import Anthropic, { toFile } from '@anthropic-ai/sdk';
import { SpanKind, trace } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type ClaudeFetchOptions, claudeOtelErrorOf, createClaudeFetch } from '../../src/index.js';
import { drive, FakeClock } from '../helpers/fake-clock.js';
import { installOtel, type OtelHarness, settle } from '../helpers/otel.js';
import { FAKE_API_KEY } from '../helpers/secrets.js';

const MODEL = 'claude-sonnet-4-6';
const BASE = 'http://api.test.invalid';
const params = { model: MODEL, max_tokens: 64, messages: [{ role: 'user' as const, content: 'hi' }] };

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

function sse(): string {
  const frame = (event: string, data: unknown) => `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
  return [
    frame('message_start', {
      type: 'message_start',
      message: { ...MESSAGE, content: [], stop_reason: null },
    }),
    frame('content_block_start', {
      type: 'content_block_start',
      index: 0,
      content_block: { type: 'text', text: '' },
    }),
    frame('content_block_delta', {
      type: 'content_block_delta',
      index: 0,
      delta: { type: 'text_delta', text: 'hello' },
    }),
    frame('content_block_stop', { type: 'content_block_stop', index: 0 }),
    frame('message_delta', {
      type: 'message_delta',
      delta: { stop_reason: 'end_turn', stop_sequence: null },
      usage: { output_tokens: 1 },
    }),
    frame('message_stop', { type: 'message_stop' }),
  ].join('');
}

const json = (body: unknown, status = 200, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });

/** What one side of our fetch saw of one call. */
interface Seen {
  readonly input: string | URL | Request;
  readonly init: RequestInit | undefined;
  /** The headers' entries when the call was made (a later mutation would show). */
  readonly entries: [string, string][];
}

function entriesOf(headers: HeadersInit | undefined): [string, string][] {
  return [...new Headers(headers).entries()];
}

/**
 * The SDK's fetch (what it passed, recorded in `sdk`) → our fetch → the inner fetch (what it got, in
 * `inner`), which answers with `answer(n)` for its n-th call.
 */
function rig(options: ClaudeFetchOptions, answer: (n: number, input: Seen) => Response | Promise<Response>) {
  const sdk: Seen[] = [];
  const inner: Seen[] = [];
  const innerFetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    // The SDK probes its fetch with a `data:` URL (for FormData support): the runtime answers.
    if (String(input instanceof Request ? input.url : input).startsWith('data:')) return fetch(input, init);
    const seen: Seen = {
      input,
      init,
      entries: entriesOf(input instanceof Request ? input.headers : init?.headers),
    };
    inner.push(seen);
    return answer(inner.length - 1, seen);
  };
  const ours = createClaudeFetch({ clock, random: () => 0.5, ...options, fetch: innerFetch as typeof fetch });
  const sdkFetch = (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    if (!String(input).startsWith('data:')) sdk.push({ input, init, entries: entriesOf(init?.headers) });
    return ours(input, init);
  };
  return { sdk, inner, ours, sdkFetch };
}

const attemptSpans = (): ReadableSpan[] =>
  otel
    .spans()
    .filter((s) => s.kind === SpanKind.CLIENT && s.instrumentationScope.name === 'claude-otel-middleware');

/**
 * Asserts that the inner fetch got what the SDK passed: a `Headers` (when the SDK gave one) with
 * the same entries but `traceparent` (the attempt span's) and `x-stainless-retry-count` (the
 * attempt's number), the same body (the very value: byte for byte), method and a signal.
 */
function expectSameAsSdk(sdk: Seen, inner: Seen, attempt: number, span: ReadableSpan | undefined): void {
  expect(sdk.init?.headers).toBeInstanceOf(Headers);
  expect(inner.init?.headers).toBeInstanceOf(Headers);
  expect(inner.input).toBe(typeof sdk.input === 'string' ? sdk.input : String(sdk.input));
  const got = new Map(inner.entries);
  const sent = new Map(sdk.entries);
  for (const [name, value] of sent) {
    if (name === 'traceparent' || name === 'x-stainless-retry-count') continue;
    expect([name, got.get(name)]).toEqual([name, value]);
  }
  const extra = [...got.keys()].filter((name) => !sent.has(name));
  expect(extra.filter((name) => name !== 'traceparent')).toEqual([]);
  expect(got.get('x-stainless-retry-count')).toBe(String(attempt));
  if (span !== undefined) {
    const { traceId, spanId } = span.spanContext();
    expect(got.get('traceparent')).toBe(`00-${traceId}-${spanId}-01`);
  }
  expect(inner.init?.body).toBe(sdk.init?.body);
  expect(inner.init?.method).toBe(sdk.init?.method);
  expect(inner.init?.signal).toBeInstanceOf(AbortSignal);
  // Nothing of ours changed the SDK's own headers object.
  expect(entriesOf(sdk.init?.headers)).toEqual(sdk.entries);
}

const spanOfAttempt = (n: number): ReadableSpan | undefined =>
  attemptSpans().find((s) => s.attributes['http.request.resend_count'] === n);

describe.each([
  ['instrumentation only', {} as ClaudeFetchOptions],
  ['with policies', { retry: true, breaker: true, timeouts: { connectMs: 60_000 } } as ClaudeFetchOptions],
])('the inner fetch receives what the SDK passed (%s)', (_, options) => {
  const retrying = options.retry !== undefined;
  /** With policies the first attempt fails with a 529 and our retry sends the second. */
  const failFirst = (n: number): Response | undefined =>
    retrying && n === 0
      ? json({ type: 'error', error: { type: 'overloaded_error', message: 'busy' } }, 529)
      : undefined;

  it('a JSON message', async () => {
    const { sdk, inner, sdkFetch } = rig(options, (n) => failFirst(n) ?? json(MESSAGE));
    const client = new Anthropic({ apiKey: FAKE_API_KEY, baseURL: BASE, fetch: sdkFetch, maxRetries: 0 });
    const message = await drive(clock, client.messages.create(params));
    expect(message.content).toEqual(MESSAGE.content);
    await settle();
    expect(sdk).toHaveLength(1);
    expect(inner).toHaveLength(retrying ? 2 : 1);
    for (const [n, seen] of inner.entries()) expectSameAsSdk(sdk[0]!, seen, n, spanOfAttempt(n));
    expect(typeof sdk[0]!.init?.body).toBe('string');
  });

  it('a streamed message', async () => {
    const { sdk, inner, sdkFetch } = rig(
      options,
      (n) => failFirst(n) ?? new Response(sse(), { headers: { 'content-type': 'text/event-stream' } }),
    );
    const client = new Anthropic({ apiKey: FAKE_API_KEY, baseURL: BASE, fetch: sdkFetch, maxRetries: 0 });
    const message = await drive(clock, client.messages.stream(params).finalMessage());
    expect(message.content[0]).toMatchObject({ type: 'text', text: 'hello' });
    await settle();
    expect(inner).toHaveLength(retrying ? 2 : 1);
    for (const [n, seen] of inner.entries()) expectSameAsSdk(sdk[0]!, seen, n, spanOfAttempt(n));
    expect(JSON.parse(String(inner[0]!.init?.body)).stream).toBe(true);
  });

  it('a multipart file upload', async () => {
    const uploaded = {
      id: 'file_1',
      type: 'file',
      filename: 'notes.txt',
      mime_type: 'text/plain',
      size_bytes: 5,
      created_at: '2025-01-01T00:00:00Z',
    };
    const bodies: string[] = [];
    const { sdk, inner, sdkFetch } = rig(options, async (n, seen) => {
      // Read what was sent, as a server would: the same bytes on every attempt.
      bodies.push(await new Response(seen.init?.body as BodyInit, { headers: seen.init?.headers }).text());
      return failFirst(n) ?? json(uploaded);
    });
    const client = new Anthropic({ apiKey: FAKE_API_KEY, baseURL: BASE, fetch: sdkFetch, maxRetries: 0 });
    const file = await toFile(Buffer.from('hello'), 'notes.txt', { type: 'text/plain' });
    const result = await drive(clock, client.beta.files.upload({ file }));
    expect(result.id).toBe('file_1');
    await settle();
    expect(sdk).toHaveLength(1);
    expect(inner).toHaveLength(retrying ? 2 : 1);
    for (const [n, seen] of inner.entries()) expectSameAsSdk(sdk[0]!, seen, n, spanOfAttempt(n));
    for (const body of bodies) {
      expect(body).toContain('filename="notes.txt"');
      expect(body).toContain('hello');
    }
    expect(sdk[0]!.init?.body).toBeInstanceOf(FormData);
  });

  it('a Request object', async () => {
    const { inner, ours } = rig(options, (n) => failFirst(n) ?? json(MESSAGE));
    const body = JSON.stringify(params);
    const signal = new AbortController().signal;
    const request = new Request(`${BASE}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': FAKE_API_KEY, 'x-custom': 'kept' },
      body,
      redirect: 'manual',
      keepalive: false,
      signal,
    });
    const response = await drive(clock, ours(request));
    expect(await response.json()).toEqual(MESSAGE);
    await settle();
    expect(inner).toHaveLength(retrying ? 2 : 1);
    for (const seen of inner) {
      // A Request in, a Request out: its body, method, headers and options kept, on every attempt.
      expect(seen.input).toBeInstanceOf(Request);
      const sent = seen.input as Request;
      expect(sent.url).toBe(request.url);
      expect(sent.method).toBe('POST');
      expect(sent.redirect).toBe('manual');
      expect(sent.headers.get('x-custom')).toBe('kept');
      expect(sent.headers.get('content-type')).toBe('application/json');
      expect(sent.headers.get('traceparent')).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
      expect(await sent.text()).toBe(body);
    }
  });
});

describe('the headers handed to the wrapped fetch keep their shape (item 1)', () => {
  it.each([
    ['a Headers', () => new Headers({ 'x-a': '1' }), (h: unknown) => expect(h).toBeInstanceOf(Headers)],
    [
      'a record',
      () => ({ 'x-a': '1' }),
      (h: unknown) => expect(h).toEqual({ 'x-a': '1', traceparent: expect.any(String) }),
    ],
    [
      'an array',
      () => [['x-a', '1']] as [string, string][],
      (h: unknown) =>
        expect(h).toEqual([
          ['x-a', '1'],
          ['traceparent', expect.any(String)],
        ]),
    ],
  ])('%s stays one, plus traceparent, and the caller’s is not mutated', async (_, make, check) => {
    const { inner, ours } = rig({}, () => json(MESSAGE));
    const headers = make();
    const before = JSON.stringify(headers instanceof Headers ? [...headers] : headers);
    const response = await ours(`${BASE}/v1/models`, { headers });
    await response.text();
    check(inner[0]!.init?.headers);
    expect(new Headers(inner[0]!.init?.headers).get('x-a')).toBe('1');
    expect(JSON.stringify(headers instanceof Headers ? [...headers] : headers)).toBe(before);
  });

  it('a custom fetch that calls init.headers.get() works under a tracer provider', async () => {
    // Before the fix the headers were a plain record: `.get` threw, the SDK reported a connection error.
    let apiKey: string | null = null;
    const signing = async (_input: string | URL | Request, init?: RequestInit) => {
      const headers = init?.headers as Headers;
      apiKey = headers.get('x-api-key') ?? headers.get('authorization')?.replace(/^Bearer /, '') ?? null;
      return json(MESSAGE);
    };
    const client = new Anthropic({
      apiKey: FAKE_API_KEY,
      baseURL: BASE,
      maxRetries: 0,
      fetch: createClaudeFetch({ fetch: signing as typeof fetch }),
    });
    await client.messages.create(params);
    expect(apiKey).toBe(FAKE_API_KEY);
  });
});

describe('x-stainless-retry-count across our retries (item 2)', () => {
  it('is 0, 1, 2 on three attempts, as the SDK would number them', async () => {
    const { inner, sdkFetch } = rig({ retry: true }, (n) =>
      n < 2 ? json({ type: 'error', error: { type: 'api_error', message: 'x' } }, 500) : json(MESSAGE),
    );
    const client = new Anthropic({ apiKey: FAKE_API_KEY, baseURL: BASE, fetch: sdkFetch });
    await drive(clock, client.messages.create(params));
    expect(inner.map((s) => new Map(s.entries).get('x-stainless-retry-count'))).toEqual(['0', '1', '2']);
  });
});

describe('traceparent follows the application (item 3)', () => {
  const traceparentOf = (seen: Seen | undefined) => new Map(seen?.entries).get('traceparent');

  async function call(
    sdkOptions: Partial<ConstructorParameters<typeof Anthropic>[0]>,
    options: ClaudeFetchOptions = {},
  ) {
    const { inner, sdkFetch } = rig(options, () => json(MESSAGE));
    const client = new Anthropic({
      apiKey: FAKE_API_KEY,
      baseURL: BASE,
      fetch: sdkFetch,
      maxRetries: 0,
      ...sdkOptions,
    });
    await client.messages.create(params);
    await settle();
    return inner[0];
  }

  it('is the attempt span’s when the SDK propagates (its default)', async () => {
    const seen = await call({});
    const [span] = attemptSpans();
    expect(traceparentOf(seen)).toBe(`00-${span!.spanContext().traceId}-${span!.spanContext().spanId}-01`);
  });

  it.each([
    ['openTelemetry: false', { openTelemetry: false as const }],
    ['openTelemetry: { propagation: false }', { openTelemetry: { propagation: false } }],
  ])('is not sent with %s', async (_, sdkOptions) => {
    const seen = await call(sdkOptions);
    expect(traceparentOf(seen)).toBeUndefined();
    // Our attempt span is still recorded.
    expect(attemptSpans()).toHaveLength(1);
  });

  it.each([
    ['ANTHROPIC_OPEN_TELEMETRY_PROPAGATION', 'false'],
    ['ANTHROPIC_OPEN_TELEMETRY', 'false'],
  ])('is not sent with %s=%s', async (name, value) => {
    const before = process.env[name];
    process.env[name] = value;
    try {
      expect(traceparentOf(await call({}))).toBeUndefined();
    } finally {
      if (before === undefined) delete process.env[name];
      else process.env[name] = before;
    }
  });

  it('propagation: true sends it anyway, propagation: false never', async () => {
    expect(
      traceparentOf(await call({ openTelemetry: { propagation: false } }, { propagation: true })),
    ).toMatch(/^00-/);
    expect(
      traceparentOf(await call({ openTelemetry: { propagation: false } }, { propagation: false })),
    ).toBeUndefined();
    // `false`: the SDK's own context goes through untouched, ours is not written over it.
    otel.reset();
    const seen = await call({}, { propagation: false });
    const ours = attemptSpans()[0]!.spanContext().spanId;
    expect(traceparentOf(seen)).toMatch(/^00-/);
    expect(traceparentOf(seen)).not.toContain(ours);
    expect(() => createClaudeFetch({ propagation: 'yes' as never })).toThrow(TypeError);
  });

  it('is sent to callers that are not a propagating SDK (an older SDK, plain fetch calls)', async () => {
    const { inner, ours } = rig({}, () => json(MESSAGE));
    const old = { 'x-stainless-lang': 'js', 'x-stainless-package-version': '0.60.0' };
    await (await ours(`${BASE}/v1/models`, { headers: old })).text();
    await (await ours(`${BASE}/v1/models`)).text();
    expect(inner.map(traceparentOf)).toEqual([expect.stringMatching(/^00-/), expect.stringMatching(/^00-/)]);
  });
});

describe('per-request maxRetries and the final connection error with retry on (item 9)', () => {
  it('x-claude-otel-max-retries: 0 makes one attempt, and is not sent', async () => {
    const { inner, sdkFetch } = rig({ retry: true }, () =>
      json({ type: 'error', error: { type: 'api_error', message: 'x' } }, 500),
    );
    const client = new Anthropic({ apiKey: FAKE_API_KEY, baseURL: BASE, fetch: sdkFetch });
    const error = await drive(
      clock,
      client.messages
        .create(params, { headers: { 'x-claude-otel-max-retries': '0' } })
        .catch((e: unknown) => e),
    );
    expect(error).toBeInstanceOf(Anthropic.InternalServerError);
    expect(inner).toHaveLength(1);
    expect(new Map(inner[0]!.entries).has('x-claude-otel-max-retries')).toBe(false);
  });

  it('x-claude-otel-max-retries: 1 makes two attempts (never more than maxAttempts)', async () => {
    const { inner, sdkFetch } = rig({ retry: { maxAttempts: 3 } }, () =>
      json({ type: 'error', error: { type: 'api_error', message: 'x' } }, 500),
    );
    const client = new Anthropic({ apiKey: FAKE_API_KEY, baseURL: BASE, fetch: sdkFetch });
    await drive(
      clock,
      client.messages
        .create(params, { headers: { 'x-claude-otel-max-retries': '1' } })
        .catch(() => undefined),
    );
    expect(inner).toHaveLength(2);
  });

  it('a final connection error reaches the caller as a 502 InternalServerError of type connection_error', async () => {
    const { inner, sdkFetch } = rig({ retry: true }, () => {
      throw new TypeError('fetch failed');
    });
    const client = new Anthropic({ apiKey: FAKE_API_KEY, baseURL: BASE, fetch: sdkFetch });
    const error = await drive(
      clock,
      client.messages.create(params).catch((e: unknown) => e),
    );
    expect(inner).toHaveLength(3);
    expect(error).toBeInstanceOf(Anthropic.InternalServerError);
    expect((error as InstanceType<typeof Anthropic.APIError>).status).toBe(502);
    expect(claudeOtelErrorOf(error)?.type).toBe('connection_error');
  });
});

// The SDK's own span stays the parent of ours: the trace is one.
it('the attempt span is a child of the SDK call span', async () => {
  const { sdkFetch } = rig({}, () => json(MESSAGE));
  const client = new Anthropic({ apiKey: FAKE_API_KEY, baseURL: BASE, fetch: sdkFetch, maxRetries: 0 });
  await client.messages.create(params);
  await settle();
  const [attempt] = attemptSpans();
  const call = otel.spans().find((s) => s.spanContext().spanId === attempt?.parentSpanContext?.spanId);
  expect(call?.name.startsWith('anthropic.') || call?.instrumentationScope.name.includes('anthropic')).toBe(
    true,
  );
  expect(trace.getActiveSpan()).toBeUndefined();
});

import Anthropic, { APIError } from '@anthropic-ai/sdk';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type FakeClaude,
  type FakeClaudeOptions,
  type Fault,
  startFakeClaude,
} from '../../../src/testing/index.js';

const open: FakeClaude[] = [];

async function fake(options?: FakeClaudeOptions): Promise<FakeClaude> {
  const instance = await startFakeClaude(options);
  open.push(instance);
  return instance;
}

afterEach(async () => {
  await Promise.all(open.splice(0).map((f) => f.close()));
});

function client(f: FakeClaude, apiKey = 'test-key', maxRetries = 0): Anthropic {
  return new Anthropic({ apiKey, baseURL: f.url, maxRetries });
}

const MODEL = 'claude-sonnet-4-6';
const PARAMS = { model: MODEL, max_tokens: 64, messages: [{ role: 'user' as const, content: 'Hello' }] };
const WEATHER_TOOL = {
  name: 'get_weather',
  description: 'Weather of a place',
  input_schema: {
    type: 'object' as const,
    properties: { location: { type: 'string' }, days: { type: 'integer' } },
    required: ['location'],
  },
};

function post(f: FakeClaude, body: unknown, path = '/v1/messages', headers: Record<string, string> = {}) {
  return fetch(`${f.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

interface SseEvent {
  event: string;
  data: unknown;
}

function parseSse(text: string): SseEvent[] {
  return text
    .split('\n\n')
    .filter((frame) => frame.length > 0)
    .map((frame) => {
      const event = /^event: (.*)$/m.exec(frame)?.[1] ?? '';
      const data = /^data: (.*)$/m.exec(frame)?.[1] ?? 'null';
      return { event, data: JSON.parse(data) as unknown };
    });
}

/** Reads a body to its end or its failure. */
async function readAll(res: Response): Promise<{ bytes: Uint8Array; error: unknown }> {
  const reader = res.body!.getReader();
  const chunks: Uint8Array[] = [];
  let error: unknown;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
    }
  } catch (e) {
    error = e;
  }
  return { bytes: Buffer.concat(chunks), error };
}

/** Reads from a stream until `count` complete SSE events have arrived. */
async function readEvents(reader: ReadableStreamDefaultReader<Uint8Array>, count: number): Promise<string> {
  let text = '';
  const decoder = new TextDecoder();
  while (text.split('\n\n').length - 1 < count) {
    const { done, value } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
  }
  return text;
}

async function apiError(promise: Promise<unknown>): Promise<APIError> {
  try {
    await promise;
  } catch (e) {
    if (e instanceof APIError) return e;
    throw e;
  }
  throw new Error('expected an APIError');
}

describe('fake Claude: normal answers', () => {
  it('answers a non-streamed message with the documented shape and headers (raw fetch)', async () => {
    const f = await fake({ name: 'eu-west' });
    const res = await post(f, PARAMS);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(res.headers.get('request-id')).toMatch(/^req_[A-Za-z0-9]{24}$/);
    expect(res.headers.get('anthropic-organization-id')).toMatch(/^[0-9a-f-]{36}$/);
    expect(res.headers.get('x-fake-region')).toBe('eu-west');
    for (const kind of ['requests', 'tokens', 'input-tokens', 'output-tokens']) {
      expect(Number(res.headers.get(`anthropic-ratelimit-${kind}-limit`))).toBeGreaterThan(0);
      expect(Number(res.headers.get(`anthropic-ratelimit-${kind}-remaining`))).toBeGreaterThan(0);
      expect(res.headers.get(`anthropic-ratelimit-${kind}-reset`)).toMatch(
        /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/,
      );
    }
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({
      type: 'message',
      role: 'assistant',
      model: MODEL,
      stop_reason: 'end_turn',
      stop_sequence: null,
      usage: {
        input_tokens: Math.ceil(JSON.stringify(PARAMS).length / 4),
        cache_creation_input_tokens: 0,
        cache_read_input_tokens: 0,
      },
    });
    expect(body.id).toMatch(/^msg_[A-Za-z0-9]{24}$/);
    const content = body.content as Array<{ type: string; text: string }>;
    expect(content).toHaveLength(1);
    expect(content[0]?.type).toBe('text');
    expect(content[0]?.text).toMatch(/café/);
    expect(/\p{Extended_Pictographic}/u.test(content[0]?.text ?? '')).toBe(true);

    const second = await post(f, PARAMS);
    expect(second.headers.get('request-id')).not.toBe(res.headers.get('request-id'));
    expect(Number(second.headers.get('anthropic-ratelimit-requests-remaining'))).toBeLessThan(
      Number(res.headers.get('anthropic-ratelimit-requests-remaining')),
    );
  });

  it('is deterministic for a seed but for the ids, which differ between instances', async () => {
    const a = await fake({ seed: 7, text: 'Fixed text' });
    const b = await fake({ seed: 7, text: 'Fixed text' });
    const [ra, rb] = await Promise.all([
      post(a, { ...PARAMS, tools: [WEATHER_TOOL] }),
      post(b, { ...PARAMS, tools: [WEATHER_TOOL] }),
    ]);
    expect(ra.headers.get('request-id')).toMatch(/^req_[A-Za-z0-9]{24}$/);
    expect(ra.headers.get('request-id')).not.toBe(rb.headers.get('request-id'));
    const [ja, jb] = [
      (await ra.json()) as Record<string, unknown>,
      (await rb.json()) as Record<string, unknown>,
    ];
    expect(ja.id).not.toBe(jb.id);
    const toolId = (m: Record<string, unknown>): unknown => (m.content as Array<{ id?: string }>)[1]?.id;
    expect(toolId(ja)).toMatch(/^toolu_[A-Za-z0-9]{24}$/);
    expect(toolId(ja)).not.toBe(toolId(jb));
    const strip = (m: Record<string, unknown>): string =>
      JSON.stringify(m).replace(/(msg|toolu)_[A-Za-z0-9]{24}/g, '$1_ID');
    expect(strip(ja)).toBe(strip(jb));
    // Generated content stays reproducible from the seed.
    const [ga, gb] = [await fake({ seed: 7 }), await fake({ seed: 7 })];
    const text = async (f: FakeClaude): Promise<unknown> =>
      ((await (await post(f, PARAMS)).json()) as { content: unknown }).content;
    expect(await text(ga)).toEqual(await text(gb));
  });

  it('serves a non-streamed create through the SDK and records the request', async () => {
    const f = await fake({ text: 'Bonjour café 🙂' });
    const message = await client(f).messages.create(PARAMS);
    expect(message.content).toEqual([{ type: 'text', text: 'Bonjour café 🙂', citations: null }]);
    expect(message.usage.output_tokens).toBe(Math.ceil('Bonjour café 🙂'.length / 4));
    expect(f.requests).toHaveLength(1);
    const [recorded] = f.requests;
    expect(recorded).toMatchObject({
      index: 0,
      method: 'POST',
      path: '/v1/messages',
      query: '',
      fault: undefined,
    });
    expect(recorded?.body).toMatchObject(PARAMS);
    expect(recorded?.headers['x-stainless-retry-count']).toBe('0');
    expect(recorded?.headers.authorization ?? recorded?.headers['x-api-key']).toMatch(/test-key/);
    expect(recorded?.requestId).toMatch(/^req_/);
  });

  it('streams a message the SDK assembles with the right text and usage', async () => {
    const text = 'Streaming, with a café and an emoji 🚀 at the end.';
    const f = await fake({ text });
    const message = await client(f).messages.stream(PARAMS).finalMessage();
    expect(message.content).toHaveLength(1);
    expect(message.content[0]).toMatchObject({ type: 'text', text });
    expect(message.stop_reason).toBe('end_turn');
    expect(message.model).toBe(MODEL);
    const bodyLength = JSON.stringify(f.requests[0]?.body).length;
    expect(message.usage.input_tokens).toBe(Math.ceil(bodyLength / 4));
    expect(message.usage.output_tokens).toBe(Math.ceil(text.length / 4));
  });

  it('emits the exact SSE event sequence with pings (raw fetch)', async () => {
    const f = await fake({ text: 'one two three four five six seven' });
    const res = await post(f, { ...PARAMS, stream: true });
    expect(res.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    expect(res.headers.get('cache-control')).toBe('no-cache');
    const raw = await res.text();
    expect(raw).toMatch(/^event: message_start\ndata: \{/);
    const events = parseSse(raw);
    const names = events.map((e) => e.event);
    expect(names.slice(0, 3)).toEqual(['message_start', 'ping', 'content_block_start']);
    // Pings may come anywhere, even between message_delta and message_stop.
    expect(names.slice(-3)).toEqual(['message_delta', 'ping', 'message_stop']);
    const deltas = events.filter((e) => e.event === 'content_block_delta');
    expect(deltas).toHaveLength(7);
    // A ping after the first one, then one every 5 events.
    const pings = names.flatMap((n, i) => (n === 'ping' ? [i] : []));
    expect(pings).toEqual([1, 7, 13]);
    const start = events[0]?.data as { message: { content: unknown[]; usage: Record<string, number> } };
    expect(start.message.content).toEqual([]);
    expect(start.message.usage.output_tokens).toBe(1);
    const input = (start.message.usage as Record<string, number>).input_tokens;
    expect(events.at(-3)?.data).toEqual({
      type: 'message_delta',
      delta: { stop_reason: 'end_turn', stop_sequence: null, stop_details: null, container: null },
      usage: {
        input_tokens: input,
        cache_creation_input_tokens: 0,
        cache_read_input_tokens: 0,
        output_tokens: Math.ceil(33 / 4),
        output_tokens_details: null,
        server_tool_use: null,
      },
    });
  });

  it('honours pingEvery: 0 (only the ping after message_start)', async () => {
    const f = await fake({ pingEvery: 0 });
    const events = parseSse(await (await post(f, { ...PARAMS, stream: true })).text());
    expect(events.filter((e) => e.event === 'ping')).toHaveLength(1);
    expect(events[1]?.event).toBe('ping');
  });

  it('answers with a tool_use block when tools are given (stream and non-stream)', async () => {
    const f = await fake();
    const sdk = client(f);
    const params = { ...PARAMS, tools: [WEATHER_TOOL] };
    const streamed = await sdk.messages.stream(params).finalMessage();
    expect(streamed.stop_reason).toBe('tool_use');
    expect(streamed.content).toHaveLength(2);
    const tool = streamed.content[1];
    expect(tool?.type).toBe('tool_use');
    if (tool?.type !== 'tool_use') throw new Error('no tool_use');
    expect(tool.name).toBe('get_weather');
    expect(tool.id).toMatch(/^toolu_[A-Za-z0-9]{24}$/);
    expect(tool.input).toEqual({ location: 'Paris, France', days: 42 });

    const created = await sdk.messages.create(params);
    expect(created.stop_reason).toBe('tool_use');
    expect(created.content[1]).toMatchObject({ type: 'tool_use', name: 'get_weather', input: tool.input });

    const raw = parseSse(await (await post(f, { ...params, stream: true })).text());
    const partials = raw
      .filter((e) => (e.data as { delta?: { type: string } }).delta?.type === 'input_json_delta')
      .map((e) => (e.data as { delta: { partial_json: string } }).delta.partial_json);
    expect(partials.length).toBeGreaterThan(2);
    expect(JSON.parse(partials.join(''))).toEqual(tool.input);
  });

  it('reports prompt caching: creation first, read for the same prefix later', async () => {
    const f = await fake();
    const params = {
      ...PARAMS,
      system: [
        { type: 'text' as const, text: 'Long system prompt', cache_control: { type: 'ephemeral' as const } },
      ],
    };
    const sdk = client(f);
    const first = await sdk.messages.create(params);
    const second = await sdk.messages.stream(params).finalMessage();
    const other = await sdk.messages.create({
      ...params,
      messages: [{ role: 'user', content: 'Other question' }],
    });
    expect(first.usage.cache_creation_input_tokens).toBeGreaterThan(0);
    expect(first.usage.cache_read_input_tokens).toBe(0);
    expect(second.usage.cache_creation_input_tokens).toBe(0);
    expect(second.usage.cache_read_input_tokens).toBe(first.usage.cache_creation_input_tokens);
    expect(other.usage.cache_read_input_tokens).toBeGreaterThan(0);
    const total = (u: typeof first.usage): number =>
      u.input_tokens + (u.cache_creation_input_tokens ?? 0) + (u.cache_read_input_tokens ?? 0);
    expect(total(first.usage)).toBe(Math.ceil(JSON.stringify(f.requests[0]?.body).length / 4));
    // Without cache_control nothing is cached.
    const plain = await sdk.messages.create(PARAMS);
    expect(plain.usage.cache_read_input_tokens).toBe(0);
    expect(plain.usage.cache_creation_input_tokens).toBe(0);
  });

  it('counts tokens and lists models through the SDK', async () => {
    const f = await fake();
    const sdk = client(f);
    const counted = await sdk.messages.countTokens({ model: MODEL, messages: PARAMS.messages });
    expect(counted.input_tokens).toBe(
      Math.ceil(JSON.stringify({ model: MODEL, messages: PARAMS.messages }).length / 4),
    );
    const ids: string[] = [];
    for await (const model of sdk.models.list()) {
      expect(model.type).toBe('model');
      expect(model.display_name).toMatch(/^Claude/);
      ids.push(model.id);
    }
    expect(ids.length).toBeGreaterThan(1);
    const page = (await (await fetch(`${f.url}/v1/models`)).json()) as Record<string, unknown>;
    expect(page).toMatchObject({ has_more: false, first_id: ids[0], last_id: ids.at(-1) });
    const one = await sdk.models.retrieve(ids[1]!);
    expect(one.id).toBe(ids[1]);
    const missing = await apiError(sdk.models.retrieve('claude-nope'));
    expect(missing.status).toBe(404);
    expect(missing.type).toBe('not_found_error');
  });

  it('streams `repeat` deltas of the full text, lazily and with backpressure', async () => {
    const f = await fake({ text: 'ab€', repeat: 1000 });
    const events = parseSse(await (await post(f, { ...PARAMS, stream: true })).text());
    const texts = events.filter((e) => e.event === 'content_block_delta');
    expect(texts).toHaveLength(1000);
    expect(texts.every((e) => (e.data as { delta: { text: string } }).delta.text === 'ab€')).toBe(true);
    const message = await client(f).messages.stream(PARAMS).finalMessage();
    expect(message.content[0]?.type === 'text' && message.content[0].text).toBe('ab€'.repeat(1000));
    expect(message.usage.output_tokens).toBe(Math.ceil(3000 / 4));
  });

  it('streams tens of megabytes to a slow reader and survives an abort mid-stream', async () => {
    const text = 'x'.repeat(16 * 1024);
    const f = await fake({ text, repeat: 2048, pingEvery: 0 });
    const res = await post(f, { ...PARAMS, stream: true });
    const { bytes, error } = await readAll(res);
    expect(error).toBeUndefined();
    expect(bytes.length).toBeGreaterThan(32 * 1024 * 1024);
    expect(Buffer.from(bytes.subarray(-40)).toString()).toContain('message_stop');

    const controller = new AbortController();
    const aborted = await fetch(`${f.url}/v1/messages`, {
      method: 'POST',
      body: JSON.stringify({ ...PARAMS, stream: true }),
      signal: controller.signal,
    });
    await aborted.body!.getReader().read();
    controller.abort();
    const after = await post(f, PARAMS);
    expect(after.status).toBe(200);
  });
});

describe('fake Claude: request errors', () => {
  it('answers 404 for unknown paths and 400 for bad bodies', async () => {
    const f = await fake();
    const notFound = await fetch(`${f.url}/v1/nope`);
    expect(notFound.status).toBe(404);
    expect(await notFound.json()).toMatchObject({ type: 'error', error: { type: 'not_found_error' } });
    expect(notFound.headers.get('request-id')).toMatch(/^req_/);

    const badJson = await post(f, '{"model":');
    expect(badJson.status).toBe(400);
    const badBody = (await badJson.json()) as { error: { type: string }; request_id: string };
    expect(badBody.error.type).toBe('invalid_request_error');
    expect(badBody.request_id).toBe(badJson.headers.get('request-id'));

    for (const field of ['model', 'messages', 'max_tokens']) {
      const body: Record<string, unknown> = { ...PARAMS };
      delete body[field];
      const res = await post(f, body);
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: { message: string } }).error.message).toContain(field);
    }
    expect(f.requests.at(-1)?.body).toEqual({ model: MODEL, messages: PARAMS.messages });
    expect(f.requests[1]?.body).toBeUndefined();
  });

  it('checks the API key (x-api-key or bearer)', async () => {
    const f = await fake({ apiKey: 'right' });
    const wrong = await apiError(client(f, 'wrong').messages.create(PARAMS));
    expect(wrong.status).toBe(401);
    expect(wrong.type).toBe('authentication_error');
    expect((await client(f, 'right').messages.create(PARAMS)).type).toBe('message');
    expect((await post(f, PARAMS, '/v1/messages', { 'x-api-key': 'right' })).status).toBe(200);
    expect((await post(f, PARAMS, '/v1/messages', { authorization: 'Bearer right' })).status).toBe(200);
    expect((await post(f, PARAMS)).status).toBe(401);
  });

  it('omits rate-limit headers with rateLimit: false', async () => {
    const f = await fake({ rateLimit: false });
    const res = await post(f, PARAMS);
    expect([...res.headers.keys()].some((k) => k.startsWith('anthropic-ratelimit'))).toBe(false);
  });
});

describe('fake Claude: faults', () => {
  const cases: Array<[number, string]> = [
    [400, 'invalid_request_error'],
    [401, 'authentication_error'],
    [402, 'billing_error'],
    [403, 'permission_error'],
    [404, 'not_found_error'],
    [413, 'request_too_large'],
    [429, 'rate_limit_error'],
    [500, 'api_error'],
    [502, 'api_error'],
    [503, 'api_error'],
    [504, 'timeout_error'],
    [529, 'overloaded_error'],
  ];

  it('answers a status fault with the default error type, seen by the SDK', async () => {
    const f = await fake({ script: cases.map(([status]) => ({ status })) });
    const sdk = client(f);
    for (const [status, type] of cases) {
      const error = await apiError(sdk.messages.create(PARAMS));
      expect(error.status).toBe(status);
      expect(error.type).toBe(type);
      expect(error.requestID).toMatch(/^req_/);
    }
    expect(f.requests.map((r) => r.fault?.status)).toEqual(cases.map(([s]) => s));
    expect((await sdk.messages.create(PARAMS)).type).toBe('message');
  });

  it('honours errorType, message and extra headers; status faults hit streams before the 200', async () => {
    const f = await fake({
      script: [
        { status: 429, errorType: 'custom_error', message: 'slow down', headers: { 'retry-after': '7' } },
      ],
    });
    const error = await apiError(client(f).messages.stream(PARAMS).finalMessage());
    expect(error.status).toBe(429);
    expect(error.type).toBe('custom_error');
    expect(error.apiMessage).toBe('slow down');
    expect(error.headers?.get('retry-after')).toBe('7');
    expect(error.headers?.get('anthropic-ratelimit-requests-remaining')).toBe('0');
  });

  it('serves an nginx-like HTML 502 and an empty 503', async () => {
    const f = await fake({
      script: [
        { status: 502, body: 'html' },
        { status: 503, body: 'empty' },
        { status: 502, body: 'html' },
      ],
    });
    const html = await post(f, PARAMS);
    expect(html.status).toBe(502);
    expect(html.headers.get('content-type')).toBe('text/html');
    expect(await html.text()).toContain('<title>502 Bad Gateway</title>');
    const empty = await post(f, PARAMS);
    expect(empty.status).toBe(503);
    expect(await empty.text()).toBe('');
    const viaSdk = await apiError(client(f).messages.create(PARAMS));
    expect(viaSdk.status).toBe(502);
    expect(viaSdk.message).toContain('502 Bad Gateway');
  });

  it('truncated-json: half the body with a matching content-length (client sees invalid JSON)', async () => {
    const f = await fake({ text: 'fixed', script: [{ body: 'truncated-json' }, { body: 'truncated-json' }] });
    const res = await post(f, PARAMS);
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(Number(res.headers.get('content-length'))).toBe(Buffer.byteLength(text));
    expect(text.startsWith('{"id":"msg_')).toBe(true);
    expect(() => JSON.parse(text)).toThrow(SyntaxError);
    await expect(client(f).messages.create(PARAMS)).rejects.toThrow(SyntaxError);
  });

  it('sseError: an error event after N events, thrown by the SDK as APIError', async () => {
    const f = await fake({ script: [{ sseError: { afterEvents: 3 } }, { sseError: { afterEvents: 4 } }] });
    const res = await post(f, { ...PARAMS, stream: true });
    expect(res.status).toBe(200);
    const events = parseSse(await res.text());
    expect(events.map((e) => e.event)).toEqual(['message_start', 'ping', 'content_block_start', 'error']);
    expect(events[3]?.data).toEqual({
      type: 'error',
      error: { type: 'overloaded_error', message: 'Overloaded' },
      request_id: res.headers.get('request-id'),
    });
    const error = await apiError(client(f).messages.stream(PARAMS).finalMessage());
    expect(error.type).toBe('overloaded_error');
  });

  it('drop at a boundary: N complete events, then a connection error', async () => {
    const f = await fake({ script: [{ drop: { afterEvents: 4 } }, { drop: { afterEvents: 2 } }] });
    const res = await post(f, { ...PARAMS, stream: true });
    expect(res.status).toBe(200);
    const { bytes, error } = await readAll(res);
    expect(error).toBeInstanceOf(Error);
    const text = Buffer.from(bytes).toString('utf8');
    expect(text.endsWith('\n\n')).toBe(true);
    expect(parseSse(text)).toHaveLength(4);
    await expect(client(f).messages.stream(PARAMS).finalMessage()).rejects.toThrow();
    // The fake keeps serving.
    expect((await post(f, PARAMS)).status).toBe(200);
  });

  it('drop mid-event: half of the next event, then a connection error', async () => {
    const f = await fake({ script: [{ drop: { afterEvents: 3, at: 'mid-event' } }] });
    const { bytes, error } = await readAll(await post(f, { ...PARAMS, stream: true }));
    expect(error).toBeInstanceOf(Error);
    const text = Buffer.from(bytes).toString('utf8');
    const complete = text.split('\n\n');
    expect(complete).toHaveLength(4);
    expect(complete[3]).toMatch(/^event: content_block_delta\ndata: \{/);
    expect(complete[3]?.endsWith('}')).toBe(false);
  });

  it('drop mid-utf8: the received bytes end inside a multi-byte character', async () => {
    const f = await fake({
      script: [{ drop: { afterEvents: 2, at: 'mid-utf8' } }, { drop: { afterEvents: 5, at: 'mid-utf8' } }],
    });
    const { bytes, error } = await readAll(await post(f, { ...PARAMS, stream: true }));
    expect(error).toBeInstanceOf(Error);
    const last = bytes.at(-1) ?? 0;
    expect(last & 0xc0).toBe(0xc0); // a UTF-8 lead byte without its continuation
    expect(() => new TextDecoder('utf-8', { fatal: true }).decode(bytes)).toThrow();
    await expect(client(f).messages.stream(PARAMS).finalMessage()).rejects.toThrow();
  });

  it('stall, delayFirstEventMs and delayHeadersMs hold the stream back (observed by event order)', async () => {
    const f = await fake({
      script: [
        { stall: { afterEvents: 2, ms: 400 } },
        null,
        { delayFirstEventMs: 400 },
        null,
        { delayHeadersMs: 400 },
        null,
      ],
    });
    const order: string[] = [];

    // stall: after the first 2 events, a whole other request completes before event 3 arrives.
    const stalled = await post(f, { ...PARAMS, stream: true });
    const reader = stalled.body!.getReader();
    const firstTwo = await readEvents(reader, 2);
    expect(parseSse(firstTwo).map((e) => e.event)).toEqual(['message_start', 'ping']);
    order.push('stalled:2');
    await (await post(f, PARAMS)).json();
    order.push('other:done');
    await readEvents(reader, 1);
    order.push('stalled:3');
    await reader.cancel();
    expect(order).toEqual(['stalled:2', 'other:done', 'stalled:3']);

    // delayFirstEventMs: headers arrive, then another request completes before the first event.
    order.length = 0;
    const delayed = await post(f, { ...PARAMS, stream: true });
    order.push('delayed:headers');
    const delayedReader = delayed.body!.getReader();
    const firstEvent = readEvents(delayedReader, 1).then(() => order.push('delayed:event'));
    await (await post(f, PARAMS)).json();
    order.push('other:done');
    await firstEvent;
    await delayedReader.cancel();
    expect(order).toEqual(['delayed:headers', 'other:done', 'delayed:event']);

    // delayHeadersMs: a later request gets its answer first.
    order.length = 0;
    const g = await fake({
      faultFor: (r) => (r.headers['x-slow'] === '1' ? { delayHeadersMs: 400 } : undefined),
    });
    const slow = post(g, PARAMS, '/v1/messages', { 'x-slow': '1' }).then(() => order.push('slow'));
    while (g.requests.length === 0) await new Promise((r) => setTimeout(r, 5));
    await post(g, PARAMS).then(() => order.push('fast'));
    await slow;
    expect(order).toEqual(['fast', 'slow']);
  });

  it('ignores stream-only fault fields on non-stream requests', async () => {
    const f = await fake({ script: [{ drop: { afterEvents: 0 }, sseError: { afterEvents: 0 } }] });
    const message = await client(f).messages.create(PARAMS);
    expect(message.type).toBe('message');
    expect(f.requests[0]?.fault?.drop).toEqual({ afterEvents: 0 });
  });
});

describe('fake Claude: fault selection', () => {
  it('consumes the script in order, only on scriptPaths; setScript restarts it, reset clears it', async () => {
    const f = await fake({ script: [{ status: 500 }, null, { status: 429 }] });
    const statuses = async (n: number, path = '/v1/messages'): Promise<number[]> => {
      const out: number[] = [];
      for (let i = 0; i < n; i++) {
        const body = path === '/v1/messages' ? PARAMS : { model: MODEL, messages: PARAMS.messages };
        out.push((await post(f, body, path)).status);
      }
      return out;
    };
    expect(await statuses(1)).toEqual([500]);
    expect(await statuses(2, '/v1/messages/count_tokens')).toEqual([200, 200]);
    expect(await statuses(3)).toEqual([200, 429, 200]);
    f.setScript([{ status: 529 }]);
    expect(await statuses(2)).toEqual([529, 200]);
    f.reset();
    expect(f.requests).toHaveLength(0);
    expect(await statuses(2)).toEqual([200, 200]);
    expect(f.requests.map((r) => r.index)).toEqual([0, 1]);
  });

  it('applies script faults to other paths listed in scriptPaths', async () => {
    const f = await fake({
      scriptPaths: ['/v1/models', '/v1/messages/count_tokens'],
      script: [{ status: 503 }, { status: 500 }],
    });
    expect((await post(f, PARAMS)).status).toBe(200);
    expect((await fetch(`${f.url}/v1/models`)).status).toBe(503);
    const counted = await apiError(
      client(f).messages.countTokens({ model: MODEL, messages: PARAMS.messages }),
    );
    expect(counted.status).toBe(500);
  });

  it('lets faultFor take precedence without consuming the script', async () => {
    const f = await fake({
      script: [{ status: 500 }],
      faultFor: (r) =>
        r.headers['x-test'] === 'boom' ? { status: 418, errorType: 'teapot_error' } : undefined,
    });
    const teapot = await post(f, PARAMS, '/v1/messages', { 'x-test': 'boom' });
    expect(teapot.status).toBe(418);
    expect(await teapot.json()).toMatchObject({ error: { type: 'teapot_error' } });
    expect((await post(f, PARAMS)).status).toBe(500);
    expect((await post(f, PARAMS)).status).toBe(200);
  });

  it('answers 500 (and keeps serving) when a hook throws', async () => {
    const f = await fake({
      faultFor: (r) => {
        if (r.index === 0) throw new Error('hook bug');
        return undefined;
      },
    });
    const broken = await post(f, PARAMS);
    expect(broken.status).toBe(500);
    expect(broken.headers.get('request-id')).toBe(f.requests[0]?.requestId);
    expect((await post(f, PARAMS)).status).toBe(200);
  });

  it('draws a reproducible random schedule from the seed', async () => {
    const faults: Fault[] = [{ status: 500 }, { status: 529 }];
    const run = async (seed: number): Promise<number[]> => {
      const f = await fake({ seed, random: { rate: 0.5, faults } });
      const out: number[] = [];
      for (let i = 0; i < 24; i++) out.push((await post(f, PARAMS)).status);
      f.reset();
      const again: number[] = [];
      for (let i = 0; i < 24; i++) again.push((await post(f, PARAMS)).status);
      expect(again).toEqual(out);
      return out;
    };
    const a = await run(42);
    const b = await run(42);
    expect(a).toEqual(b);
    expect(new Set(a)).toEqual(new Set([200, 500, 529]));
    expect(await run(43)).not.toEqual(a);
  });

  it('records x-stainless-retry-count across SDK retries', async () => {
    const f = await fake({ script: [{ status: 529, headers: { 'retry-after-ms': '1' } }, null] });
    const message = await client(f, 'test-key', 2).messages.create(PARAMS);
    expect(message.type).toBe('message');
    expect(f.requests.map((r) => r.headers['x-stainless-retry-count'])).toEqual(['0', '1']);
    expect(f.requests[0]?.fault).toEqual({ status: 529, headers: { 'retry-after-ms': '1' } });
  });
});

describe('fake Claude: lifecycle', () => {
  it('close() ends stalled streams and stops listening', async () => {
    const f = await startFakeClaude({ script: [{ stall: { afterEvents: 1, ms: 60_000 } }] });
    const res = await post(f, { ...PARAMS, stream: true });
    const reading = readAll(res);
    await f.close();
    await f.close();
    const { error } = await reading;
    expect(error).toBeInstanceOf(Error);
    await expect(fetch(`${f.url}/v1/models`)).rejects.toThrow();
  });

  it('listens on loopback with an ephemeral port by default', async () => {
    const f = await fake();
    expect(f.url).toBe(`http://127.0.0.1:${f.port}`);
    expect(f.port).toBeGreaterThan(0);
    expect(f.name).toBe('fake');
  });
});

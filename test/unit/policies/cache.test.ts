import { createHash } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import Anthropic from '@anthropic-ai/sdk';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  CACHE_AGE_HEADER,
  CACHE_DEFAULTS,
  CACHE_HEADER,
  type CachedMessage,
  cachedResponse,
  cachedStream,
  canonicalKey,
  MemoryStore,
  storedHeaders,
} from '../../../src/policies/cache.js';
import { SseParser } from '../../../src/sse/parser.js';
import { FakeClock } from '../../helpers/fake-clock.js';

type Json = Record<string, unknown>;

const MESSAGE = {
  id: 'msg_01',
  type: 'message',
  role: 'assistant',
  model: 'claude-sonnet-4-6',
  content: [
    { type: 'thinking', thinking: 'Let me think… 🤔 about it.', signature: 'c2lnbmF0dXJl' },
    { type: 'text', text: 'Hello, wörld! 👋', citations: null },
    {
      type: 'tool_use',
      id: 'toolu_01',
      name: 'get_weather',
      input: { city: 'Paris', days: [1, 2], deep: { x: null } },
    },
    { type: 'redacted_thinking', data: 'opaque' },
  ],
  stop_reason: 'tool_use',
  stop_sequence: null,
  usage: {
    input_tokens: 42,
    cache_creation_input_tokens: 3,
    cache_read_input_tokens: 7,
    output_tokens: 99,
    service_tier: 'standard',
  },
};

function entryOf(message: unknown, storedAt = 0): CachedMessage {
  return {
    status: 200,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(message),
    storedAt,
  };
}

function entry(key: string, body: string, storedAt = 0): [string, CachedMessage] {
  return [key, { status: 200, headers: { 'content-type': 'application/json' }, body, storedAt }];
}

describe('canonicalKey', () => {
  const body = {
    model: 'claude-sonnet-4-6',
    max_tokens: 100,
    messages: [{ role: 'user', content: [{ type: 'text', text: 'hi' }] }],
    tools: [{ name: 't', input_schema: { type: 'object', properties: { b: {}, a: {} } } }],
  };

  it('is the SHA-256 hex of the sorted JSON', () => {
    const key = canonicalKey({ b: 1, a: { d: [2, { f: 1, e: 0 }], c: 'x' } });
    const expected = createHash('sha256').update('{"a":{"c":"x","d":[2,{"e":0,"f":1}]},"b":1}').digest('hex');
    expect(key).toBe(expected);
    expect(key).toMatch(/^[0-9a-f]{64}$/);
  });

  it('is stable under key order, at every depth', () => {
    /** The same value with every object's keys in reverse order. */
    const reversed = (value: unknown): unknown => {
      if (Array.isArray(value)) return value.map(reversed);
      if (value === null || typeof value !== 'object') return value;
      return Object.fromEntries(
        Object.entries(value)
          .reverse()
          .map(([k, v]) => [k, reversed(v)]),
      );
    };
    expect(canonicalKey(reversed(body) as Json)).toBe(canonicalKey(body));
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.jsonValue()), (value) => {
        expect(canonicalKey(reversed(value) as Json)).toBe(canonicalKey(value));
      }),
    );
  });

  it('ignores the top-level stream and metadata, not nested ones', () => {
    const key = canonicalKey(body);
    expect(canonicalKey({ ...body, stream: true })).toBe(key);
    expect(canonicalKey({ stream: false, ...body, metadata: { user_id: 'u1' } })).toBe(key);
    const nested = {
      ...body,
      tools: [{ name: 't', input_schema: { type: 'object', metadata: 1, stream: 2 } }],
    };
    const plain = { ...body, tools: [{ name: 't', input_schema: { type: 'object' } }] };
    expect(canonicalKey(nested)).not.toBe(canonicalKey(plain));
  });

  it('differs when the content differs', () => {
    const key = canonicalKey(body);
    expect(canonicalKey({ ...body, model: 'claude-haiku-4-5' })).not.toBe(key);
    expect(canonicalKey({ ...body, max_tokens: 101 })).not.toBe(key);
    expect(canonicalKey({ ...body, temperature: 0 })).not.toBe(key);
    expect(canonicalKey({ ...body, messages: [{ role: 'user', content: 'hi' }] })).not.toBe(key);
    // Array order counts; a string is not a number.
    expect(canonicalKey({ a: [1, 2] })).not.toBe(canonicalKey({ a: [2, 1] }));
    expect(canonicalKey({ a: 1 })).not.toBe(canonicalKey({ a: '1' }));
    /** The value as the key sees it: a JSON round trip, without the top-level fields ignored. */
    const normal = (value: Json): Json => {
      const { stream: _s, metadata: _m, ...rest } = JSON.parse(JSON.stringify(value)) as Json;
      return rest;
    };
    const pair = fc.oneof(
      fc.tuple(fc.dictionary(fc.string(), fc.jsonValue()), fc.dictionary(fc.string(), fc.jsonValue())),
      // Near misses: the same keys, values drawn from a small set.
      fc.tuple(
        fc.dictionary(
          fc.constantFrom('a', 'b'),
          fc.constantFrom<unknown>(0, 1, '1', null, [], {}, [1], { a: 1 }),
        ),
        fc.dictionary(
          fc.constantFrom('a', 'b'),
          fc.constantFrom<unknown>(0, 1, '1', null, [], {}, [1], { a: 1 }),
        ),
      ),
    );
    fc.assert(
      fc.property(pair, ([a, b]) => {
        const same = isDeepStrictEqual(normal(a as Json), normal(b as Json));
        expect(canonicalKey(a as Json) === canonicalKey(b as Json)).toBe(same);
      }),
    );
  });
});

describe('MemoryStore', () => {
  it('validates its options', () => {
    const clock = new FakeClock();
    expect(() => new MemoryStore({ ttlMs: 0, maxEntries: 1 }, clock)).toThrow(TypeError);
    expect(() => new MemoryStore({ ttlMs: 1, maxEntries: 1.5 }, clock)).toThrow(TypeError);
    expect(() => new MemoryStore({ ttlMs: 1, maxEntries: 0 }, clock)).toThrow(TypeError);
    expect(() => new MemoryStore({ ttlMs: 1, maxEntries: 1, maxBytes: -1 }, clock)).toThrow(TypeError);
    expect(() => new MemoryStore({ ttlMs: Number.POSITIVE_INFINITY, maxEntries: 1 }, clock)).not.toThrow();
  });

  it('returns what was set, and replaces an entry under the same key', () => {
    const store = new MemoryStore({ ttlMs: 1000, maxEntries: 10 }, new FakeClock());
    expect(store.get('a')).toBeUndefined();
    store.set(...entry('a', '{"n":1}'));
    expect(store.get('a')?.body).toBe('{"n":1}');
    store.set(...entry('a', '{"n":2}'));
    expect(store.get('a')?.body).toBe('{"n":2}');
    expect(store.size).toBe(1);
  });

  it('keeps a frozen copy, unaffected by later changes to the value', () => {
    const store = new MemoryStore({ ttlMs: 1000, maxEntries: 10 }, new FakeClock());
    const [key, value] = entry('a', '{}');
    store.set(key, value);
    value.body = 'changed';
    value.headers['x-other'] = '1';
    const got = store.get('a');
    expect(got?.body).toBe('{}');
    expect(got?.headers).toEqual({ 'content-type': 'application/json' });
    expect(Object.isFrozen(got)).toBe(true);
  });

  it('evicts the least recently used beyond maxEntries; a read makes an entry recent', () => {
    const store = new MemoryStore({ ttlMs: 1000, maxEntries: 3 }, new FakeClock());
    store.set(...entry('a', '1'));
    store.set(...entry('b', '2'));
    store.set(...entry('c', '3'));
    expect(store.get('a')?.body).toBe('1'); // a is now the most recent: b is the oldest
    store.set(...entry('d', '4'));
    expect(store.get('b')).toBeUndefined();
    expect(store.get('a')?.body).toBe('1');
    expect(store.get('c')?.body).toBe('3');
    expect(store.get('d')?.body).toBe('4');
    expect(store.size).toBe(3);
  });

  it('expires entries ttlMs after their storedAt', () => {
    const clock = new FakeClock(5000);
    const store = new MemoryStore({ ttlMs: 10_000, maxEntries: 10 }, clock);
    store.set(...entry('a', 'x', clock.now()));
    store.set(...entry('old', 'y', clock.now() - 8000));
    clock.advance(2000);
    expect(store.get('old')?.body).toBe('y'); // exactly ttlMs old: still served
    clock.advance(1);
    expect(store.get('old')).toBeUndefined();
    expect(store.get('a')?.body).toBe('x');
    clock.advance(8000);
    expect(store.get('a')).toBeUndefined();
    expect(store.size).toBe(0);
    expect(store.bytes).toBe(0);
  });

  it('bounds the total bytes, evicting the least recently used, and skips entries too large', () => {
    const store = new MemoryStore({ ttlMs: 1000, maxEntries: 100, maxBytes: 1000 }, new FakeClock());
    const sizeOf = (key: string, body: string): number =>
      Buffer.byteLength(key) + Buffer.byteLength(body) + 'content-type'.length + 'application/json'.length;
    const body = 'é'.repeat(150); // 300 bytes
    store.set(...entry('k1', body));
    store.set(...entry('k2', body));
    store.set(...entry('k3', body));
    expect(store.bytes).toBe(3 * sizeOf('k1', body));
    store.set(...entry('k4', body));
    expect(store.get('k1')).toBeUndefined();
    expect(store.size).toBe(3);
    expect(store.bytes).toBeLessThanOrEqual(1000);
    // An entry larger than the bound is not stored, and the one it replaces goes.
    store.set(...entry('k2', 'x'.repeat(1000)));
    expect(store.get('k2')).toBeUndefined();
    expect(store.get('k3')?.body).toBe(body);
    expect(store.size).toBe(2);
    expect(store.bytes).toBe(2 * sizeOf('k1', body));
  });

  it('defaults maxBytes to 64 MiB', () => {
    expect(CACHE_DEFAULTS).toEqual({
      ttlMs: 600_000,
      maxEntries: 1000,
      maxEntryBytes: 1024 * 1024,
      maxBytes: 64 * 1024 * 1024,
    });
  });

  it('stays within its bounds for any sequence of operations', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(
            fc.constantFrom('get', 'set', 'tick'),
            fc.integer({ min: 0, max: 7 }),
            fc.nat({ max: 400 }),
          ),
        ),
        (ops) => {
          const clock = new FakeClock();
          const store = new MemoryStore({ ttlMs: 50, maxEntries: 4, maxBytes: 600 }, clock);
          const model = new Map<string, CachedMessage>();
          for (const [op, k, n] of ops) {
            const key = `k${k}`;
            if (op === 'tick') clock.advance(n % 20);
            else if (op === 'set') {
              const [, value] = entry(key, 'x'.repeat(n), clock.now());
              store.set(key, value);
              model.set(key, value);
            } else {
              const got = store.get(key);
              // Whatever is served is the latest value set under the key, and fresh.
              if (got !== undefined) {
                expect(got).toEqual(model.get(key));
                expect(clock.now() - got.storedAt).toBeLessThanOrEqual(50);
              }
            }
            expect(store.size).toBeLessThanOrEqual(4);
            expect(store.bytes).toBeLessThanOrEqual(600);
            expect(store.bytes).toBeGreaterThanOrEqual(0);
          }
        },
      ),
    );
  });
});

describe('storedHeaders', () => {
  it('keeps only content-type, from Headers or a record', () => {
    const headers = new Headers({
      'content-type': 'application/json; charset=utf-8',
      'request-id': 'req_1',
      'anthropic-organization-id': 'org',
      'anthropic-ratelimit-requests-remaining': '5',
    });
    expect(storedHeaders(headers)).toEqual({ 'content-type': 'application/json; charset=utf-8' });
    expect(storedHeaders({ 'Content-Type': 'application/json', 'request-id': 'r' })).toEqual({
      'content-type': 'application/json',
    });
    expect(storedHeaders({})).toEqual({ 'content-type': 'application/json' });
  });
});

describe('cachedResponse', () => {
  it('serves the JSON as is, with the content type and the cache headers only', async () => {
    const stored = {
      ...entryOf(MESSAGE, 1000),
      headers: { 'content-type': 'application/json', 'request-id': 'req_old' },
    };
    const response = cachedResponse(stored, 1000 + 61_999);
    expect(response.status).toBe(200);
    expect(Object.fromEntries(response.headers)).toEqual({
      'content-type': 'application/json',
      [CACHE_HEADER]: 'hit',
      [CACHE_AGE_HEADER]: '61',
    });
    expect(await response.text()).toBe(stored.body);
  });

  it('never reports a negative age, and serves a 2xx status', () => {
    expect(cachedResponse(entryOf(MESSAGE, 5000), 0).headers.get(CACHE_AGE_HEADER)).toBe('0');
    expect(cachedResponse({ ...entryOf(MESSAGE), status: 500 }, 0).status).toBe(200);
  });
});

/** The events of a response body, parsed by our SSE parser from the bytes cut at `cuts`. */
async function eventsOf(response: Response, cuts: number[] = []): Promise<Array<[string, Json]>> {
  const bytes = new Uint8Array(await response.arrayBuffer());
  const events: Array<[string, Json]> = [];
  const parser = new SseParser((name, data) => events.push([name, JSON.parse(data ?? 'null') as Json]));
  let from = 0;
  for (const cut of [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b)) {
    parser.push(bytes.subarray(from, cut));
    from = cut;
  }
  parser.push(bytes.subarray(from));
  expect(parser.end()).toBe(false);
  return events;
}

/** Rebuilds the message from its stream events, checking their order on the way. */
function accumulate(events: Array<[string, Json]>): Json {
  expect(events[0]?.[0]).toBe('message_start');
  expect(events.at(-1)?.[0]).toBe('message_stop');
  let message: Json | undefined;
  let open: number | undefined;
  let nextIndex = 0;
  const json = new Map<number, string>();
  for (const [name, data] of events) {
    expect(data.type).toBe(name);
    const content = (message?.content ?? []) as Json[];
    const index = data.index as number;
    switch (name) {
      case 'message_start': {
        message = structuredClone(data.message) as Json;
        expect(message.content).toEqual([]);
        expect(message.stop_reason).toBeNull();
        expect((message.usage as Json).output_tokens).toBe(1);
        break;
      }
      case 'content_block_start':
        expect(open).toBeUndefined();
        expect(index).toBe(nextIndex++);
        open = index;
        content[index] = structuredClone(data.content_block) as Json;
        break;
      case 'content_block_delta': {
        expect(index).toBe(open);
        const block = content[index] as Json;
        const delta = data.delta as Json;
        if (delta.type === 'text_delta') block.text = (block.text as string) + (delta.text as string);
        else if (delta.type === 'citations_delta') (block.citations as unknown[]).push(delta.citation);
        else if (delta.type === 'input_json_delta')
          json.set(index, (json.get(index) ?? '') + delta.partial_json);
        else if (delta.type === 'thinking_delta')
          block.thinking = (block.thinking as string) + delta.thinking;
        else if (delta.type === 'signature_delta') block.signature = delta.signature;
        else throw new Error(`unexpected delta ${String(delta.type)}`);
        break;
      }
      case 'content_block_stop': {
        expect(index).toBe(open);
        open = undefined;
        const partial = json.get(index);
        if (partial !== undefined) (content[index] as Json).input = JSON.parse(partial);
        break;
      }
      case 'message_delta': {
        expect(open).toBeUndefined();
        const delta = data.delta as Json;
        message!.stop_reason = delta.stop_reason;
        message!.stop_sequence = delta.stop_sequence;
        Object.assign(message!.usage as Json, data.usage);
        break;
      }
      case 'message_stop':
        break;
      default:
        throw new Error(`unexpected event ${name}`);
    }
  }
  return message!;
}

/** Strings of every kind: ASCII, any code point, lone surrogates, and long ones cut into deltas. */
const anyText = fc.oneof(
  fc.string(),
  fc.string({ unit: 'binary', maxLength: 50 }),
  fc.string({
    unit: fc.integer({ min: 0xd7f0, max: 0xe010 }).map((c) => String.fromCharCode(c)),
    maxLength: 20,
  }),
  fc
    .tuple(fc.string({ unit: 'binary', minLength: 1, maxLength: 8 }), fc.integer({ min: 100, max: 700 }))
    .map(([s, n]) => s.repeat(n)),
);

const block = fc.oneof(
  fc.record({ type: fc.constant('text'), text: anyText, citations: fc.constant(null) }),
  fc.record({
    type: fc.constant('tool_use'),
    id: fc.string({ minLength: 1 }).map((s) => `toolu_${s}`),
    name: fc.string({ minLength: 1 }),
    input: fc.oneof(
      fc.dictionary(fc.string(), fc.jsonValue()),
      fc.dictionary(anyText, anyText, { minKeys: 1 }),
    ),
  }),
  fc.record({ type: fc.constant('thinking'), thinking: anyText, signature: fc.base64String() }),
  fc.record({ type: fc.constant('redacted_thinking'), data: fc.base64String() }),
);

const message = fc.record({
  id: fc.string().map((s) => `msg_${s}`),
  type: fc.constant('message'),
  role: fc.constant('assistant'),
  model: fc.constantFrom('claude-sonnet-4-6', 'claude-haiku-4-5'),
  content: fc.array(block, { maxLength: 5 }),
  stop_reason: fc.constantFrom('end_turn', 'max_tokens', 'stop_sequence', 'tool_use', 'refusal'),
  stop_sequence: fc.option(fc.string(), { nil: null }),
  usage: fc.record({
    input_tokens: fc.nat(),
    cache_creation_input_tokens: fc.nat(),
    cache_read_input_tokens: fc.nat(),
    output_tokens: fc.nat(),
  }),
});

describe('cachedStream', () => {
  it('is an SSE response with the cache headers', () => {
    const response = cachedStream(entryOf(MESSAGE, 0), 3500);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/event-stream');
    expect(response.headers.get(CACHE_HEADER)).toBe('hit');
    expect(response.headers.get(CACHE_AGE_HEADER)).toBe('3');
    expect(response.headers.get('request-id')).toBeNull();
  });

  it('replays the API event sequence, framed event/data/blank line', async () => {
    const text = await cachedStream(entryOf(MESSAGE), 0).text();
    const frames = text.split('\n\n');
    expect(frames.pop()).toBe('');
    for (const frame of frames) expect(frame).toMatch(/^event: [a-z_]+\ndata: \{.*\}$/);
    const events = await eventsOf(cachedStream(entryOf(MESSAGE), 0));
    expect(
      events.map(([name, data]) => (name === 'content_block_delta' ? (data.delta as Json).type : name)),
    ).toEqual([
      'message_start',
      'content_block_start',
      'thinking_delta',
      'signature_delta',
      'content_block_stop',
      'content_block_start',
      'text_delta',
      'content_block_stop',
      'content_block_start',
      'input_json_delta',
      'content_block_stop',
      'content_block_start',
      'content_block_stop',
      'message_delta',
      'message_stop',
    ]);
    const start = events[0]![1].message as Json;
    expect(start.usage).toEqual({ ...MESSAGE.usage, output_tokens: 1 });
    expect(start.stop_sequence).toBeNull();
    const delta = events.at(-2)![1];
    expect(delta.delta).toEqual({ stop_reason: 'tool_use', stop_sequence: null });
    expect((delta.usage as Json).output_tokens).toBe(99);
    expect(accumulate(events)).toEqual(MESSAGE);
  });

  it('cuts long strings into a few deltas without splitting a surrogate pair', async () => {
    const long = `${'a'.repeat(1023)}😀${'b'.repeat(3000)}`;
    const events = await eventsOf(
      cachedStream(entryOf({ ...MESSAGE, content: [{ type: 'text', text: long }] }), 0),
    );
    const deltas = events
      .filter(([name]) => name === 'content_block_delta')
      .map(([, d]) => (d.delta as Json).text);
    expect(deltas.length).toBe(4);
    expect(deltas.join('')).toBe(long);
    expect((deltas[0] as string).length).toBe(1023);
  });

  it('replays citations as citations_delta', async () => {
    const citation = {
      type: 'char_location',
      cited_text: 'x',
      document_index: 0,
      start_char_index: 0,
      end_char_index: 1,
    };
    const cited = { ...MESSAGE, content: [{ type: 'text', text: 'x', citations: [citation, citation] }] };
    expect(accumulate(await eventsOf(cachedStream(entryOf(cited), 0)))).toEqual(cited);
  });

  it('throws a TypeError for a body that is not a Message', () => {
    for (const body of ['', 'nope', '[]', '{"type":"message"}', '{"content":"x"}']) {
      expect(() => cachedStream({ ...entryOf(MESSAGE), body }, 0)).toThrow(TypeError);
    }
  });

  it('replays any message so that accumulating the parsed events gives it back', async () => {
    await fc.assert(
      fc.asyncProperty(message, fc.array(fc.nat(), { maxLength: 10 }), async (generated, cuts) => {
        const stored = entryOf(generated);
        const events = await eventsOf(cachedStream(stored, 0), cuts);
        const original = JSON.parse(stored.body) as Json;
        const rebuilt = accumulate(events);
        expect(rebuilt).toEqual(original);
        // The facts a consumer reads, one by one.
        const blocks = original.content as Json[];
        blocks.forEach((b, i) => {
          const r = (rebuilt.content as Json[])[i]!;
          if (b.type === 'text') expect(r.text).toBe(b.text);
          if (b.type === 'tool_use') expect(r.input).toEqual(b.input);
          if (b.type === 'thinking') expect([r.thinking, r.signature]).toEqual([b.thinking, b.signature]);
        });
        expect(rebuilt.stop_reason).toBe(original.stop_reason);
        expect((rebuilt.usage as Json).output_tokens).toBe((original.usage as Json).output_tokens);
      }),
      { numRuns: 200 },
    );
  });
});

describe('the SDK accepts cached responses', () => {
  const params = {
    model: 'claude-sonnet-4-6',
    max_tokens: 1024,
    messages: [{ role: 'user' as const, content: 'Weather in Paris?' }],
  };

  /** The stream helper adds `parsed_output` (for structured outputs) to the message it rebuilds. */
  function withoutParsed(message: object): object {
    const { parsed_output: _, ...rest } = message as Json;
    return rest;
  }

  function client(serve: () => Response): Anthropic {
    return new Anthropic({
      apiKey: 'k',
      baseURL: 'http://cache.invalid',
      maxRetries: 0,
      fetch: async () => serve(),
    });
  }

  it('messages.stream().finalMessage() equals the cached message', async () => {
    const stored = entryOf(MESSAGE, 0);
    const stream = client(() => cachedStream(stored, 2000)).messages.stream(params);
    const texts: string[] = [];
    stream.on('text', (text) => texts.push(text));
    const final = await stream.finalMessage();
    expect(withoutParsed(final)).toEqual(MESSAGE);
    expect(texts.join('')).toBe('Hello, wörld! 👋');
  });

  it('messages.create({ stream: true }) yields the events of the replay', async () => {
    const stored = entryOf(MESSAGE, 0);
    const events = await client(() => cachedStream(stored, 0)).messages.create({ ...params, stream: true });
    const types: string[] = [];
    for await (const event of events) types.push(event.type);
    expect(types[0]).toBe('message_start');
    expect(types.at(-1)).toBe('message_stop');
    expect(types).toHaveLength(15);
  });

  it('messages.create() returns the cached message, with the cache headers visible', async () => {
    const stored = entryOf(MESSAGE, 0);
    const { data, response } = await client(() => cachedResponse(stored, 5000))
      .messages.create(params)
      .withResponse();
    expect(data).toEqual(MESSAGE);
    expect(response.headers.get(CACHE_HEADER)).toBe('hit');
    expect(response.headers.get(CACHE_AGE_HEADER)).toBe('5');
  });

  it('rebuilds random messages through the SDK stream helper', async () => {
    await fc.assert(
      fc.asyncProperty(message, async (generated) => {
        const stored = entryOf(generated);
        const final = await client(() => cachedStream(stored, 0))
          .messages.stream(params)
          .finalMessage();
        expect(withoutParsed(final)).toEqual(JSON.parse(stored.body));
      }),
      { numRuns: 40 },
    );
  });
});

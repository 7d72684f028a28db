/**
 * Responses and bodies dropped by their consumer: the attempt span still ends (when they are
 * collected), and not before the consumer is done with what it kept. Runs with `--expose-gc` (the
 * `gc` project of `vitest.config.ts`).
 */
import { SpanStatusCode } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { describe, expect, it } from 'vitest';
import type { ClaudeFetch } from '../../src/fetch.js';
import { stubHarness } from '../helpers/stub.js';

const gc = globalThis.gc;

const { answering, finished, onlySpan } = stubHarness();
const encoder = new TextEncoder();
const decoder = new TextDecoder();

const MESSAGE = {
  id: 'msg_01GcTest',
  type: 'message',
  role: 'assistant',
  model: 'claude-sonnet-4-5-20250929',
  content: [{ type: 'text', text: 'Hi' }],
  stop_reason: 'end_turn',
  stop_sequence: null,
  usage: { input_tokens: 5, output_tokens: 3, cache_read_input_tokens: 2, cache_creation_input_tokens: 1 },
};
const MESSAGE_TEXT = JSON.stringify(MESSAGE);
const JSON_HEADERS = { 'content-type': 'application/json' };

function createMessage(f: ClaudeFetch): Promise<Response> {
  return f('https://api.anthropic.com/v1/messages', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 16, messages: [] }),
  });
}

/** A body that stalls until the test releases it, then yields `chunks`. */
function gatedBody(chunks: readonly string[]): { stream: ReadableStream<Uint8Array>; release: () => void } {
  let i = 0;
  let release!: () => void;
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  const stream = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        await gate;
        const chunk = chunks[i++];
        if (chunk === undefined) controller.close();
        else controller.enqueue(encoder.encode(chunk));
      },
    },
    { highWaterMark: 0 },
  );
  return { stream, release };
}

/** Collects garbage and lets finalizers run, until `done()` or a bounded number of rounds. */
async function collect(done: () => boolean = () => false, rounds = 20): Promise<void> {
  for (let i = 0; i < rounds && !done(); i++) {
    gc!();
    await new Promise((resolve) => setImmediate(resolve));
  }
}

function expectUsage(span: ReadableSpan): void {
  expect(span.attributes['gen_ai.usage.input_tokens']).toBe(8);
  expect(span.attributes['gen_ai.usage.output_tokens']).toBe(3);
  expect(span.attributes['gen_ai.response.id']).toBe(MESSAGE.id);
  expect(span.status.code).toBe(SpanStatusCode.UNSET);
}

// Each drop happens in a frame of its own, so that no local of the test keeps the response.
async function dropResponse(f: ClaudeFetch): Promise<void> {
  await createMessage(f);
}
async function keepBodyOnly(f: ClaudeFetch): Promise<ReadableStream<Uint8Array>> {
  return (await createMessage(f)).body!;
}
async function keepJsonPromise(f: ClaudeFetch): Promise<{ value: Promise<unknown> }> {
  // Wrapped, so that awaiting this function does not await the read.
  return { value: (await createMessage(f)).json() };
}
async function dropBodyUnread(f: ClaudeFetch): Promise<void> {
  (await createMessage(f)).body;
}

describe('dropped responses and bodies', () => {
  it('runs with the garbage collector exposed (the `gc` project of vitest.config.ts)', () => {
    expect(typeof gc).toBe('function');
  });

  it('a tapped response never read: the span ends, without error, when it is collected', async () => {
    await dropResponse(answering(() => new Response(MESSAGE_TEXT, { headers: JSON_HEADERS })));
    await collect(() => finished().length > 0);
    const span = onlySpan();
    expect(span.status.code).toBe(SpanStatusCode.UNSET);
    expect(span.attributes['error.type']).toBeUndefined();
  });

  it('a body kept after its response was dropped: the span ends when the body does, with usage', async () => {
    const { stream, release } = gatedBody([MESSAGE_TEXT.slice(0, 30), MESSAGE_TEXT.slice(30)]);
    const body = await keepBodyOnly(answering(() => new Response(stream, { headers: JSON_HEADERS })));
    await collect();
    expect(finished()).toHaveLength(0);
    release();
    let text = '';
    for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
      text += decoder.decode(chunk, { stream: true });
    }
    expect(text).toBe(MESSAGE_TEXT);
    expectUsage(onlySpan());
  });

  it('a json() read in progress when its response is dropped: the span ends with usage', async () => {
    const { stream, release } = gatedBody([MESSAGE_TEXT]);
    const pending = await keepJsonPromise(answering(() => new Response(stream, { headers: JSON_HEADERS })));
    await collect();
    expect(finished()).toHaveLength(0);
    release();
    const value = await pending.value;
    expect(value).toEqual(MESSAGE);
    expectUsage(onlySpan());
  });

  it('a tapped body taken and dropped unread: the span ends when it is collected', async () => {
    await dropBodyUnread(answering(() => new Response(MESSAGE_TEXT, { headers: JSON_HEADERS })));
    await collect(() => finished().length > 0);
    const span = onlySpan();
    expect(span.status.code).toBe(SpanStatusCode.UNSET);
    expect(span.attributes['error.type']).toBeUndefined();
  });

  it('a pass-through error body dropped unread: the span ends with the status as error.type', async () => {
    const f = answering(
      () =>
        new Response(Uint8Array.from([1, 2, 3]), {
          status: 503,
          headers: { 'content-type': 'application/octet-stream' },
        }),
    );
    await dropResponse(f);
    await collect(() => finished().length > 0);
    expect(onlySpan().attributes['error.type']).toBe('503');
  });

  it('an SSE body dropped unread: the span ends as abandoned', async () => {
    const f = answering(
      () =>
        new Response('event: ping\ndata: {"type":"ping"}\n\n', {
          headers: { 'content-type': 'text/event-stream' },
        }),
    );
    await dropResponse(f);
    await collect(() => finished().length > 0);
    const span = onlySpan();
    expect(span.attributes['anthropic.stream.outcome']).toBe('abandoned');
    expect(span.status.code).toBe(SpanStatusCode.UNSET);
  });
});

/**
 * Recovery of broken streams through the real SDK: whatever cuts the stream, `finalMessage()` is
 * the uncut message, and what cannot be resumed errors with the partial output.
 */
import Anthropic from '@anthropic-ai/sdk';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createClaudeFetch, StreamInterruptedError } from '../../src/index.js';
import { type FakeClaude, type Fault, startFakeClaude } from '../../src/testing/index.js';
import { advanceWhenArmed, FakeClock } from '../helpers/fake-clock.js';
import { installOtel, type OtelHarness, settle } from '../helpers/otel.js';
import { FAKE_API_KEY } from '../helpers/secrets.js';

const TEXT = 'The quick brown fox — café ☕ — jumps over the lazy dog, then naps in the sun.';
const params = {
  model: 'claude-sonnet-4-6',
  max_tokens: 256,
  messages: [{ role: 'user' as const, content: 'Tell me.' }],
};

let otel: OtelHarness;
let fake: FakeClaude;
let clock: FakeClock;

beforeAll(async () => {
  otel = installOtel();
  fake = await startFakeClaude({ text: TEXT, pingEvery: 0 });
});

afterAll(async () => {
  await fake.close();
  await otel.shutdown();
});

beforeEach(() => {
  otel.reset();
  fake.reset();
  clock = new FakeClock(0);
});

afterEach(async () => {
  await settle();
  expect([...otel.openSpans.open.values()]).toEqual([]);
});

function client(extra: Parameters<typeof createClaudeFetch>[0] = {}): Anthropic {
  return new Anthropic({
    apiKey: FAKE_API_KEY,
    baseURL: fake.url,
    maxRetries: 0,
    fetch: createClaudeFetch({ clock, resume: true, ...extra }),
  });
}

/** How many events the uncut stream has. */
async function eventCount(): Promise<number> {
  fake.reset();
  const stream = await client({ resume: false }).messages.create({ ...params, stream: true });
  let n = 0;
  for await (const _ of stream) n++;
  fake.reset();
  // The SDK hands over every event but pings (there are none here).
  return n;
}

describe('transparent resume', () => {
  it('gives the uncut message whatever event boundary the connection drops at', async () => {
    const total = await eventCount();
    for (let k = 0; k < total; k++) {
      fake.reset();
      fake.setScript([{ drop: { afterEvents: k } }, null]);
      const message = await client().messages.stream(params).finalMessage();
      const text = message.content.map((b) => (b.type === 'text' ? b.text : '')).join('');
      expect(text, `cut after ${k} events`).toBe(TEXT);
      expect(message.content).toHaveLength(1);
      // One continuation, or none when only `message_stop` was missing (the message was whole).
      expect(fake.requests.length, `cut after ${k} events`).toBeGreaterThanOrEqual(1);
      expect(fake.requests.length, `cut after ${k} events`).toBeLessThanOrEqual(2);
    }
  });

  it.each<[string, Fault]>([
    ['in the middle of an event', { drop: { afterEvents: 6, at: 'mid-event' } }],
    ['inside a multi-byte character', { drop: { afterEvents: 4, at: 'mid-utf8' } }],
    ['by event: error', { sseError: { afterEvents: 7, errorType: 'overloaded_error' } }],
  ])('gives the uncut message when the stream is cut %s', async (_, fault) => {
    fake.setScript([fault, null]);
    const message = await client().messages.stream(params).finalMessage();
    expect(message.content.map((b) => (b.type === 'text' ? b.text : '')).join('')).toBe(TEXT);
    expect(fake.requests).toHaveLength(2);
    // The continuation was asked with the text so far as an assistant prefill.
    const continuation = fake.requests[1]?.body as { messages: { role: string; content: string }[] };
    const prefill = continuation.messages.at(-1);
    expect(prefill?.role).toBe('assistant');
    expect(TEXT.startsWith(prefill?.content ?? '')).toBe(true);
    await settle();
    expect(
      await otel.counterSum('anthropic.client.stream.resumptions', {
        'anthropic.stream.resume.outcome': 'resumed',
      }),
    ).toBe(1);
  });

  it('resumes a stream that stalls past the idle timeout', async () => {
    fake.setScript([{ stall: { afterEvents: 5, ms: 60_000 } }, null]);
    const stream = client({ timeouts: { idleMs: 1_000 } }).messages.stream(params);
    let seen = 0;
    stream.on('streamEvent', () => {
      seen++;
      if (seen === 4) void advanceWhenArmed(clock, 1_000);
    });
    const message = await stream.finalMessage();
    expect(message.content.map((b) => (b.type === 'text' ? b.text : '')).join('')).toBe(TEXT);
  });

  it('reports output tokens of both parts in the final usage', async () => {
    fake.setScript([{ drop: { afterEvents: 8 } }, null]);
    const message = await client().messages.stream(params).finalMessage();
    // What the continuation alone reports, asked again without a stream.
    const continuation = fake.requests[1]?.body as Record<string, unknown>;
    const prefill = (continuation.messages as { content: string }[]).at(-1)?.content ?? '';
    const again = (await (
      await fetch(`${fake.url}/v1/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': 'k' },
        body: JSON.stringify({ ...continuation, stream: false }),
      })
    ).json()) as { usage: { output_tokens: number } };
    // Before the cut the API had reported no output count yet: estimated at 4 characters a token.
    const before = Math.max(1, Math.ceil(TEXT.slice(0, TEXT.indexOf(prefill) + prefill.length).length / 4));
    const delivered = TEXT.startsWith(prefill) ? prefill : '';
    expect(delivered.length).toBeGreaterThan(0);
    expect(message.usage.output_tokens).toBeGreaterThanOrEqual(before + again.usage.output_tokens - 1);
    expect(message.usage.output_tokens).toBeLessThanOrEqual(before + again.usage.output_tokens + 1);
  });

  it('errors with the partial output when resumptions are spent', async () => {
    fake.setScript([
      { drop: { afterEvents: 5 } },
      { drop: { afterEvents: 4 } },
      { drop: { afterEvents: 4 } },
    ]);
    const error = await client({ resume: { maxResumptions: 2 } })
      .messages.stream(params)
      .finalMessage()
      .catch((e: unknown) => e);
    const interrupted = findCause(error, StreamInterruptedError);
    expect(interrupted?.notResumed).toBe('resumptions_spent');
    expect(TEXT.startsWith(interrupted?.partial.text ?? 'x')).toBe(true);
    expect(interrupted?.partial.text.length).toBeGreaterThan(0);
    expect(fake.requests).toHaveLength(3);
  });

  it('keeps at most maxBufferedChars of text: a longer message is not resumed, and says so', async () => {
    fake.setScript([{ drop: { afterEvents: 8 } }, null]);
    const error = await client({ resume: { maxBufferedChars: 5 } })
      .messages.stream(params)
      .finalMessage()
      .catch((e: unknown) => e);
    const interrupted = findCause(error, StreamInterruptedError);
    expect(interrupted?.notResumed).toBe('not_resumable:too_long');
    // The text was dropped when it passed the cap: nothing of it is held any more.
    expect(interrupted?.partial.text).toBe('');
    expect(fake.requests).toHaveLength(1);

    // The same cut under the default cap is resumed.
    fake.reset();
    fake.setScript([{ drop: { afterEvents: 8 } }, null]);
    const message = await client().messages.stream(params).finalMessage();
    expect(message.content[0]?.type === 'text' ? message.content[0].text : '').toBe(TEXT);
    expect(fake.requests).toHaveLength(2);
  });

  it('rejects a maxBufferedChars that is not a positive integer', () => {
    expect(() => createClaudeFetch({ resume: { maxBufferedChars: 0 } })).toThrow(/maxBufferedChars/);
  });

  it('does not resume inside a tool_use block, and says so', async () => {
    const tools = [{ name: 'get_weather', input_schema: { type: 'object' as const, properties: {} } }];
    const uncut = await client({ resume: false }).messages.create({ ...params, tools, stream: true });
    let total = 0;
    for await (const _ of uncut) total++;
    fake.reset();
    // Two events before the end: inside the tool_use block's JSON.
    fake.setScript([{ drop: { afterEvents: total - 4 } }, null]);
    const error = await client()
      .messages.stream({ ...params, tools })
      .finalMessage()
      .catch((e: unknown) => e);
    const interrupted = findCause(error, StreamInterruptedError);
    expect(interrupted?.notResumed).toBe('not_resumable:inside_tool_use');
    expect(interrupted?.partial.text).toBe(TEXT);
    expect(fake.requests).toHaveLength(1);
  });
});

function findCause<T>(error: unknown, type: abstract new (...args: never[]) => T): T | undefined {
  let current: unknown = error;
  for (let i = 0; i < 5 && current !== undefined; i++) {
    if (current instanceof type) return current;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

describe('what cannot be resumed', () => {
  it('does not resume when extended thinking was requested (a prefill is refused with thinking)', async () => {
    fake.setScript([{ drop: { afterEvents: 6 } }, null]);
    const error = await client()
      // The budget must stay below max_tokens (the API's rule, which the fake enforces).
      .messages.stream({ ...params, max_tokens: 2048, thinking: { type: 'enabled', budget_tokens: 1024 } })
      .finalMessage()
      .catch((e: unknown) => e);
    const interrupted = findCause(error, StreamInterruptedError);
    expect(interrupted?.notResumed).toBe('not_resumable:thinking_requested');
    expect(interrupted?.reason).toBe('connection_error');
    expect(TEXT.startsWith(interrupted?.partial.text ?? 'x')).toBe(true);
    expect(fake.requests).toHaveLength(1);
    await settle();
    expect(
      await otel.counterSum('anthropic.client.stream.resumptions', {
        'anthropic.stream.resume.outcome': 'not_resumable',
        'anthropic.stream.resume.reason': 'thinking_requested',
      }),
    ).toBe(1);
    const broken = otel.spans().find((s) => s.name === 'POST /v1/messages');
    expect(Number(broken?.attributes['anthropic.stream.bytes'])).toBeGreaterThan(0);
    expect(broken?.attributes['anthropic.stream.events']).toBe(6);
  });

  it('errors with continuation_failed when the continuation request fails', async () => {
    fake.setScript([{ drop: { afterEvents: 6 } }, { status: 400 }]);
    const error = await client()
      .messages.stream(params)
      .finalMessage()
      .catch((e: unknown) => e);
    const interrupted = findCause(error, StreamInterruptedError);
    expect(interrupted?.notResumed).toMatch(/^continuation_failed:/);
    expect(fake.requests).toHaveLength(2);
  });

  it('links the continuation attempt to the attempt it continues', async () => {
    fake.setScript([{ drop: { afterEvents: 6 } }, null]);
    await client().messages.stream(params).finalMessage();
    await settle();
    const attempts = otel
      .spans()
      .filter((s) => s.name === 'POST /v1/messages')
      .sort((a, b) => a.startTime[1] - b.startTime[1] + (a.startTime[0] - b.startTime[0]) * 1e9);
    expect(attempts).toHaveLength(2);
    expect(attempts[1]?.links[0]?.context.spanId).toBe(attempts[0]?.spanContext().spanId);
  });
});

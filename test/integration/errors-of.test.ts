/**
 * `claudeOtelErrorOf()` with the real SDK (issue 15, item 21): every error of ours is recognised
 * however the SDK hands it over — a policy's response raised as an `APIError`, a
 * `StreamInterruptedError` or `ClaudeTimeoutError` wrapped in an `AnthropicError` (`cause`) by the
 * SDK's stream helpers, or thrown as it is by a raw stream — and the catch the README shows works.
 */
import Anthropic from '@anthropic-ai/sdk';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  type ClaudeFetchOptions,
  ClaudeTimeoutError,
  claudeOtelErrorOf,
  createClaudeFetch,
  StreamInterruptedError,
} from '../../src/index.js';
import { drive, FakeClock } from '../helpers/fake-clock.js';
import { installOtel, type OtelHarness, settle } from '../helpers/otel.js';

const MODEL = 'claude-sonnet-4-6';
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

const frame = (event: string, data: unknown) =>
  new TextEncoder().encode(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
const START = frame('message_start', {
  type: 'message_start',
  message: {
    id: 'msg_1',
    type: 'message',
    role: 'assistant',
    model: MODEL,
    content: [],
    stop_reason: null,
    stop_sequence: null,
    usage: { input_tokens: 3, output_tokens: 0 },
  },
});

/** A stream cut inside a `tool_use` block: not resumable. */
function cutInsideToolUse(): Response {
  const chunks = [
    START,
    frame('content_block_start', {
      type: 'content_block_start',
      index: 0,
      content_block: { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: {} },
    }),
    frame('content_block_delta', {
      type: 'content_block_delta',
      index: 0,
      delta: { type: 'input_json_delta', partial_json: '{"city": "Par' },
    }),
  ];
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      const next = chunks.shift();
      if (next !== undefined) controller.enqueue(next);
      else controller.error(new TypeError('terminated'));
    },
  });
  return new Response(body, { headers: { 'content-type': 'text/event-stream' } });
}

/** A stream that starts and then never sends another byte (its body fails on abort, as fetch's). */
function stalled(signal?: AbortSignal | null): Response {
  let sent = false;
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      signal?.addEventListener('abort', () => controller.error(signal.reason), { once: true });
    },
    pull(controller) {
      if (!sent) {
        sent = true;
        controller.enqueue(START);
      }
      return new Promise<void>(() => undefined);
    },
  });
  return new Response(body, { headers: { 'content-type': 'text/event-stream' } });
}

function client(respond: (signal?: AbortSignal | null) => Response, options: ClaudeFetchOptions): Anthropic {
  return new Anthropic({
    apiKey: 'test-key',
    baseURL: 'http://api.test.invalid',
    maxRetries: 0,
    fetch: createClaudeFetch({
      clock,
      ...options,
      fetch: (async (_: unknown, init?: RequestInit) => respond(init?.signal)) as typeof fetch,
    }),
  });
}

describe('a StreamInterruptedError', () => {
  it('wrapped by the SDK (messages.stream(): AnthropicError with ours in cause) is recognised', async () => {
    const error = await client(cutInsideToolUse, { resume: true })
      .messages.stream(params)
      .finalMessage()
      .catch((e: unknown) => e);
    // What the application catches is the SDK's class, not ours.
    expect(error).toBeInstanceOf(Anthropic.AnthropicError);
    expect(error).not.toBeInstanceOf(StreamInterruptedError);
    const ours = claudeOtelErrorOf(error);
    expect(ours?.type).toBe('stream_interrupted');
    expect(ours?.error).toBeInstanceOf(StreamInterruptedError);
    const interrupted = ours?.error as StreamInterruptedError;
    expect(interrupted.notResumed).toBe('not_resumable:inside_tool_use');
    expect(interrupted.partial.events).toBeGreaterThan(0);
  });

  it('thrown as it is by a raw stream is recognised too', async () => {
    const stream = await client(cutInsideToolUse, { resume: true }).messages.create({
      ...params,
      stream: true,
    });
    const error = await (async () => {
      for await (const _event of stream) {
        // drain
      }
    })().catch((e: unknown) => e);
    expect(claudeOtelErrorOf(error)?.type).toBe('stream_interrupted');
  });

  it('is told by its name and fields (a second copy of this package)', () => {
    const foreign = Object.assign(new Error('x'), {
      name: 'StreamInterruptedError',
      reason: 'connection_error',
    });
    const wrapped = new Anthropic.AnthropicError('wrapped');
    (wrapped as { cause?: unknown }).cause = new Error('middle', { cause: foreign });
    expect(claudeOtelErrorOf(wrapped)).toEqual({
      type: 'stream_interrupted',
      retryAfterMs: undefined,
      error: foreign,
    });
  });
});

describe('a ClaudeTimeoutError', () => {
  it('of an idle stream, wrapped by the SDK, is recognised with its kind', async () => {
    const pending = client(stalled, { timeouts: { idleMs: 1_000 } })
      .messages.stream(params)
      .finalMessage()
      .catch((e: unknown) => e);
    const error = await drive(clock, pending);
    expect(error).toBeInstanceOf(Anthropic.AnthropicError);
    const ours = claudeOtelErrorOf(error);
    expect(ours?.type).toBe('idle_timeout');
    expect(ours?.error).toBeInstanceOf(ClaudeTimeoutError);
  });
});

describe("a policy's answer", () => {
  it('is recognised on the SDK error, and the API’s own errors are not ours', async () => {
    const failing = () =>
      new Response(JSON.stringify({ type: 'error', error: { type: 'overloaded_error', message: 'busy' } }), {
        status: 529,
        headers: { 'content-type': 'application/json' },
      });
    const c = client(failing, { breaker: { mode: 'consecutive', consecutiveFailures: 1, hold: false } });
    const first = await c.messages.create(params).catch((e: unknown) => e);
    expect(claudeOtelErrorOf(first)).toBeUndefined();
    const second = await c.messages.create(params).catch((e: unknown) => e);
    expect(second).toBeInstanceOf(Anthropic.APIError);
    expect(claudeOtelErrorOf(second)?.type).toBe('circuit_open');
    expect(claudeOtelErrorOf(second)?.retryAfterMs).toBeGreaterThan(0);
  });
});

describe('the README catch', () => {
  it('tells each case apart', async () => {
    const seen: string[] = [];
    const handle = (error: unknown): void => {
      // As in the README.
      const ours = claudeOtelErrorOf(error);
      if (ours?.error instanceof StreamInterruptedError) {
        seen.push(`interrupted after ${ours.error.partial.events} events`);
      } else if (ours !== undefined) {
        seen.push(`ours: ${ours.type}`);
      } else if (error instanceof Anthropic.APIError) {
        seen.push(`api: ${error.status}`);
      }
    };
    await client(cutInsideToolUse, { resume: true }).messages.stream(params).finalMessage().catch(handle);
    await drive(
      clock,
      client(stalled, { timeouts: { idleMs: 1_000 } })
        .messages.stream(params)
        .finalMessage()
        .catch(handle),
    );
    await client(
      () => new Response('{}', { status: 400, headers: { 'content-type': 'application/json' } }),
      {},
    )
      .messages.create(params)
      .catch(handle);
    expect(seen).toEqual(['interrupted after 3 events', 'ours: idle_timeout', 'api: 400']);
  });
});

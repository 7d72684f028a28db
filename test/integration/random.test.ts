/**
 * A seeded, reproducible storm: hundreds of requests through the real SDK with faults and consumer
 * behaviour drawn at random. Every started span must end, nothing may reject unhandled, and the
 * attempt counter must equal the number of requests the server received.
 */
import Anthropic from '@anthropic-ai/sdk';
import { SpanKind } from '@opentelemetry/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClaudeFetch } from '../../src/index.js';
import { type FakeClaude, type Fault, startFakeClaude } from '../../src/testing/index.js';
import { mulberry32 } from '../../src/testing/rng.js';
import { installOtel, type OtelHarness, settle } from '../helpers/otel.js';
import { FAKE_API_KEY } from '../helpers/secrets.js';

const SEED = Number(process.env.RANDOM_TEST_SEED ?? 20261128);
const REQUESTS = 300;
const CONCURRENCY = 12;

const fast = { 'retry-after-ms': '1' };
const FAULTS: Fault[] = [
  { status: 529, headers: fast },
  { status: 429, headers: { ...fast, 'retry-after': '1' } },
  { status: 500, headers: fast },
  { status: 400 },
  { status: 502, body: 'html', headers: fast },
  { status: 503, body: 'empty', headers: fast },
  { body: 'truncated-json' },
  { delayHeadersMs: 3 },
  { delayFirstEventMs: 3 },
  { stall: { afterEvents: 2, ms: 3 } },
  { drop: { afterEvents: 3, at: 'boundary' } },
  { drop: { afterEvents: 2, at: 'mid-event' } },
  { drop: { afterEvents: 4, at: 'mid-utf8' } },
  { sseError: { afterEvents: 3, errorType: 'overloaded_error' } },
  { status: 529, headers: { 'x-should-retry': 'false' } },
  // Hostile answers (issue 15): an error body cut mid-way, an HTML page with a 200, a cut JSON
  // body with a rate-limit lockout in its headers, an `event: error` with a huge error type.
  {
    raw: {
      status: 503,
      headers: [['content-type', 'application/json'], ...Object.entries(fast)],
      chunks: ['{"type":"error","error":{"type":"overloa'],
      end: 'destroy',
    },
  },
  { raw: { status: 200, headers: [['content-type', 'text/html']], chunks: ['<html>captive portal</html>'] } },
  {
    raw: {
      status: 200,
      headers: [
        ['content-type', 'application/json'],
        ['anthropic-ratelimit-requests-limit', '50'],
        ['anthropic-ratelimit-requests-remaining', '0'],
        ['anthropic-ratelimit-requests-reset', '9999-12-31T23:59:59Z'],
      ],
      chunks: ['{"id":"msg_01cut","type":"mess'],
    },
  },
  { sseError: { afterEvents: 2, errorType: 'x'.repeat(100_000) } },
];

/** Inner fetch calls made with a signal already aborted: something sent after an abort. */
const sentAfterAbort: string[] = [];
const inner = ((input: string | URL | Request, init?: RequestInit) => {
  if (init?.signal?.aborted) sentAfterAbort.push(String(input));
  return fetch(input, init);
}) as typeof fetch;

let otel: OtelHarness;
let fake: FakeClaude;
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown): void => {
  unhandled.push(reason);
};

beforeAll(async () => {
  otel = installOtel();
  fake = await startFakeClaude({
    seed: SEED,
    random: { rate: 0.45, faults: FAULTS },
    scriptPaths: ['/v1/messages', '/v1/messages/count_tokens', '/v1/models'],
  });
  process.on('unhandledRejection', onUnhandled);
});

afterAll(async () => {
  process.off('unhandledRejection', onUnhandled);
  await fake.close();
  await otel.shutdown();
});

type Behaviour = (client: Anthropic, rand: () => number) => Promise<unknown>;

const params = (rand: () => number) => ({
  model: rand() < 0.5 ? 'claude-sonnet-4-6' : 'claude-haiku-4-5',
  max_tokens: 128,
  messages: [{ role: 'user' as const, content: `question ${Math.floor(rand() * 1000)}` }],
});

const BEHAVIOURS: Behaviour[] = [
  (c, r) => c.messages.create(params(r)),
  (c, r) => c.messages.stream(params(r)).finalMessage(),
  async (c, r) => {
    const stream = await c.messages.create({ ...params(r), stream: true });
    const stopAt = 1 + Math.floor(r() * 6);
    let n = 0;
    for await (const _ of stream) if (++n >= stopAt) break;
  },
  async (c, r) => {
    const stream = await c.messages.create({ ...params(r), stream: true });
    const stopAt = 1 + Math.floor(r() * 6);
    let n = 0;
    for await (const _ of stream) if (++n >= stopAt) stream.controller.abort();
  },
  async (c, r) => {
    const stream = c.messages.stream(params(r));
    const stopAt = 1 + Math.floor(r() * 8);
    let n = 0;
    for await (const _ of stream) if (++n >= stopAt) stream.abort();
  },
  // The caller aborts at a random moment (before the answer, during the stream, or never).
  async (c, r) => {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), Math.floor(r() * 6));
    try {
      if (r() < 0.5) {
        await c.messages.stream(params(r), { signal: controller.signal }).finalMessage();
      } else {
        const stream = await c.messages.create({ ...params(r), stream: true }, { signal: controller.signal });
        for await (const _ of stream) await new Promise((resolve) => setImmediate(resolve));
      }
    } finally {
      clearTimeout(timer);
    }
  },
  // A slow consumer: a few event-loop turns of work after each event.
  async (c, r) => {
    const stream = await c.messages.create({ ...params(r), stream: true });
    const turns = 1 + Math.floor(r() * 4);
    for await (const _ of stream) {
      for (let i = 0; i < turns; i++) await new Promise((resolve) => setImmediate(resolve));
    }
  },
  (c, r) => c.messages.countTokens({ model: 'claude-sonnet-4-6', messages: params(r).messages }),
  (c) => c.models.list(),
];

describe('randomized requests with faults', () => {
  it(`leaves no span open and counts every attempt (seed ${SEED})`, async () => {
    await storm(
      (maxRetries) =>
        new Anthropic({
          apiKey: FAKE_API_KEY,
          baseURL: fake.url,
          maxRetries,
          fetch: createClaudeFetch({ fetch: inner }),
        }),
      0.1,
      false,
    );
  });

  it(`does the same with every policy on (seed ${SEED})`, async () => {
    otel.reset();
    fake.reset();
    await storm(
      (maxRetries) =>
        new Anthropic({
          apiKey: FAKE_API_KEY,
          baseURL: fake.url,
          maxRetries,
          fetch: createClaudeFetch({
            fetch: inner,
            throttle: { maxWaitMs: 5 },
            // Waits of a few milliseconds: the storm must not sleep for real.
            retry: { maxAttempts: 3, backoff: { baseMs: 1, capMs: 4 } },
            breaker: { mode: 'consecutive', consecutiveFailures: 8, openMs: 5 },
            timeouts: { idleMs: 2_000, totalMs: 20_000 },
            resume: true,
            fallback: { models: ['claude-haiku-4-5'] },
            cache: true,
          }),
        }),
      0.02,
      false,
    );
    // Every operation span ended too.
    const operations = otel
      .spans()
      .filter(
        (s) => s.instrumentationScope.name === 'claude-otel-middleware' && s.kind === SpanKind.INTERNAL,
      );
    expect(operations.length).toBeGreaterThan(0);
  });
});

async function storm(
  makeClient: (maxRetries: number) => Anthropic,
  minFailedShare = 0.1,
  exact = true,
): Promise<void> {
  {
    const rand = mulberry32(SEED);
    const clients = [0, 1, 2].map(makeClient);
    const plan = Array.from({ length: REQUESTS }, () => ({
      behaviour: BEHAVIOURS[Math.floor(rand() * BEHAVIOURS.length)] as Behaviour,
      client: clients[Math.floor(rand() * clients.length)] as Anthropic,
      seed: Math.floor(rand() * 2 ** 31),
    }));
    let next = 0;
    const outcomes = { ok: 0, failed: 0 };
    const worker = async (): Promise<void> => {
      while (next < plan.length) {
        const item = plan[next++];
        if (!item) break;
        try {
          await item.behaviour(item.client, mulberry32(item.seed));
          outcomes.ok++;
        } catch {
          outcomes.failed++;
        }
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    for (let i = 0; i < 5; i++) await settle();

    expect(outcomes.ok + outcomes.failed).toBe(REQUESTS);
    // The storm really was stormy, and really succeeded sometimes.
    expect(outcomes.failed).toBeGreaterThan(REQUESTS * minFailedShare);
    expect(outcomes.ok).toBeGreaterThan(REQUESTS * 0.3);
    expect([...otel.openSpans.open.values()]).toEqual([]);
    expect(unhandled).toEqual([]);
    // Nothing was sent after an abort (a caller's, or the deadline's).
    expect(sentAfterAbort).toEqual([]);
    const counted = await otel.counterSum('anthropic.client.attempts');
    if (exact) {
      expect(counted).toBe(fake.requests.length);
    } else {
      // With retries and stream continuations, a caller's abort can cancel an attempt before the
      // server has read it: those are counted (they were started) but never received.
      const points = await otel.points('anthropic.client.attempts');
      const abortedUnanswered = points
        .filter(
          (p) =>
            p.attributes['error.type'] === 'aborted' &&
            p.attributes['http.response.status_code'] === undefined,
        )
        .reduce((sum, p) => sum + (p.value as number), 0);
      expect(fake.requests.length).toBeLessThanOrEqual(counted);
      expect(fake.requests.length).toBeGreaterThanOrEqual(counted - abortedUnanswered);
    }
    const attemptSpans = otel
      .spans()
      .filter((s) => s.instrumentationScope.name === 'claude-otel-middleware' && s.kind === SpanKind.CLIENT);
    expect(attemptSpans).toHaveLength(counted);
    const failedSpans = attemptSpans.filter((s) => s.attributes['error.type'] !== undefined);
    expect(failedSpans.length).toBeGreaterThan(0);
  }
}

/**
 * How a trace reads in a trace viewer: a child span never ends after its parent (the operation span
 * no later than the SDK's call span, each attempt no later than the operation span), through the
 * real SDK and the real OpenTelemetry SDK, for plain, retried, streamed and resumed calls.
 */
import Anthropic from '@anthropic-ai/sdk';
import { hrTimeToNanoseconds } from '@opentelemetry/core';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createClaudeFetch } from '../../src/index.js';
import { type FakeClaude, startFakeClaude } from '../../src/testing/index.js';
import { drive, FakeClock } from '../helpers/fake-clock.js';
import { installOtel, type OtelHarness, settle } from '../helpers/otel.js';
import { FAKE_API_KEY } from '../helpers/secrets.js';

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
  fake = await startFakeClaude({ text: 'The quick brown fox jumps over the lazy dog.', pingEvery: 0 });
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

function client(): Anthropic {
  return new Anthropic({
    apiKey: FAKE_API_KEY,
    baseURL: fake.url,
    maxRetries: 0,
    fetch: createClaudeFetch({ clock, retry: true, resume: true }),
  });
}

const end = (s: ReadableSpan): bigint => BigInt(hrTimeToNanoseconds(s.endTime));

/** Every span that ends after its parent, as `child > parent` lines (none expected). */
function outlived(): string[] {
  const spans = otel.spans();
  const byId = new Map(spans.map((s) => [s.spanContext().spanId, s]));
  const late: string[] = [];
  for (const child of spans) {
    const parent = byId.get(child.parentSpanContext?.spanId ?? '');
    if (parent !== undefined && end(child) > end(parent)) {
      late.push(`${child.name} ends ${end(child) - end(parent)} ns after ${parent.name}`);
    }
  }
  return late;
}

/** Runs `call` `n` times (the order of the ends is a race: one run may pass by luck). */
async function repeat(n: number, call: () => Promise<unknown>): Promise<void> {
  for (let i = 0; i < n; i++) {
    fake.reset();
    await drive(clock, call());
    await settle();
  }
}

describe('a child span never outlives its parent', () => {
  it('plain call: attempt ≤ operation ≤ SDK call span', async () => {
    await repeat(20, () => client().messages.create(params));
    const names = new Set(otel.spans().map((s) => s.name));
    expect(names).toEqual(
      new Set(['anthropic.messages.create', 'chat claude-sonnet-4-6', 'POST /v1/messages']),
    );
    expect(outlived()).toEqual([]);
  });

  it('retried call', async () => {
    await repeat(20, () => {
      fake.setScript([{ status: 529 }, null]);
      return client().messages.create(params);
    });
    expect(otel.spans().filter((s) => s.name === 'POST /v1/messages')).toHaveLength(40);
    expect(outlived()).toEqual([]);
  });

  it('streamed call', async () => {
    await repeat(20, () => client().messages.stream(params).finalMessage());
    expect(outlived()).toEqual([]);
  });

  it('resumed stream', async () => {
    await repeat(20, () => {
      fake.setScript([{ drop: { afterEvents: 3 } }, null]);
      return client().messages.stream(params).finalMessage();
    });
    expect(otel.spans().filter((s) => s.name === 'POST /v1/messages')).toHaveLength(40);
    expect(outlived()).toEqual([]);
  });
});

const start = (s: ReadableSpan): bigint => BigInt(hrTimeToNanoseconds(s.startTime));

describe('decision events are stamped when the decision is made', () => {
  it('a failover is stamped before the attempt it sends to the other region starts', async () => {
    const secondary = await startFakeClaude({ name: 'secondary', apiKey: FAKE_API_KEY });
    try {
      fake.setScript([{ status: 529 }]);
      const anthropic = new Anthropic({
        apiKey: FAKE_API_KEY,
        baseURL: fake.url,
        maxRetries: 0,
        fetch: createClaudeFetch({
          clock,
          retry: true,
          regions: [
            { name: 'east', baseURL: fake.url },
            { name: 'west', baseURL: secondary.url },
          ],
          random: () => 0.5,
        }),
      });
      await drive(clock, anthropic.messages.create(params));
      await settle();
      const west = otel.spans().find((s) => s.attributes['anthropic.region'] === 'west' && s.kind === 2);
      const op = otel.spans().find((s) => s.name === 'chat claude-sonnet-4-6');
      const event = op?.events.find((e) => e.name === 'anthropic.fallback');
      expect(west).toBeDefined();
      expect(event).toBeDefined();
      if (west === undefined || event === undefined) return;
      expect(BigInt(hrTimeToNanoseconds(event.time))).toBeLessThanOrEqual(start(west));
    } finally {
      await secondary.close();
    }
  });

  it('a resumption is stamped at the break, before the continuation attempt starts', async () => {
    fake.setScript([{ drop: { afterEvents: 3 } }, null]);
    await drive(clock, client().messages.stream(params).finalMessage());
    await settle();
    const attempts = otel.spans().filter((s) => s.name === 'POST /v1/messages');
    const op = otel.spans().find((s) => s.name === 'chat claude-sonnet-4-6');
    const event = op?.events.find((e) => e.name === 'anthropic.stream.resumption');
    expect(attempts).toHaveLength(2);
    expect(event?.attributes?.['anthropic.stream.resume.outcome']).toBe('resumed');
    const continuation = attempts.find((s) => s.links.length > 0);
    if (event === undefined || continuation === undefined) throw new Error('no resumption recorded');
    expect(BigInt(hrTimeToNanoseconds(event.time))).toBeLessThanOrEqual(start(continuation));
  });
});

describe('continuation attempts', () => {
  it('are marked, with the attempt they continue; first attempts and retries are not', async () => {
    fake.setScript([{ status: 529 }, { drop: { afterEvents: 3 } }, null]);
    await drive(clock, client().messages.stream(params).finalMessage());
    await settle();
    const [first, retry, continuation] = otel
      .spans()
      .filter((s) => s.name === 'POST /v1/messages')
      .sort((a, b) => Number(start(a) - start(b)));
    expect(first?.attributes['anthropic.stream.continuation']).toBeUndefined();
    expect(retry?.attributes['anthropic.stream.continuation']).toBeUndefined();
    expect(continuation?.attributes['anthropic.stream.continuation']).toBe(true);
    expect(continuation?.attributes['anthropic.stream.continues']).toBe(retry?.spanContext().spanId);
  });
});

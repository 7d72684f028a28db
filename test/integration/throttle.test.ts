/**
 * Proactive throttling end to end: the real SDK over `createClaudeFetch({ throttle })` against the
 * fake API enforcing a rate limit. The request that would earn a 429 is not sent.
 */
import Anthropic from '@anthropic-ai/sdk';
import { afterEach, describe, expect, it } from 'vitest';
import { createClaudeFetch } from '../../src/fetch.js';
import { claudeOtelErrorOf } from '../../src/policies/errors.js';
import { startFakeClaude } from '../../src/testing/index.js';
import type { FakeClaude } from '../../src/testing/types.js';
import { explicitOtel } from '../helpers/otel.js';

describe('proactive throttling against the fake API', () => {
  let fake: FakeClaude | undefined;
  afterEach(async () => {
    await fake?.close();
    fake = undefined;
  });

  const params = {
    model: 'claude-sonnet-4-6',
    max_tokens: 16,
    messages: [{ role: 'user' as const, content: 'hi' }],
  };

  it('does not send the request the window cannot cover: no 429 is earned', async () => {
    fake = await startFakeClaude({ rateLimit: { requests: 3, windowMs: 60_000, enforce: true } });
    const otel = explicitOtel();
    const client = new Anthropic({
      apiKey: 'test',
      baseURL: fake.url,
      maxRetries: 0,
      fetch: createClaudeFetch({
        throttle: { maxWaitMs: 1_000, refill: 'at_reset' },
        tracerProvider: otel.tracerProvider,
        meterProvider: otel.meterProvider,
      }),
    });
    for (let i = 0; i < 3; i++) await client.messages.create(params);
    const error = await client.messages.create(params).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Anthropic.RateLimitError);
    expect(claudeOtelErrorOf(error)?.type).toBe('throttled');
    expect(fake.requests).toHaveLength(3);
    expect(fake.requests.filter((r) => r.fault?.status === 429)).toHaveLength(0);
    expect(
      await otel.counterSum('anthropic.client.throttle.waits', {
        'anthropic.throttle.resource': 'requests',
        'anthropic.throttle.outcome': 'rejected',
      }),
    ).toBe(1);
    // The headroom gauges saw the window run out.
    const remaining = await otel.points('anthropic.client.ratelimit.remaining');
    const requests = remaining.find((p) => p.attributes['anthropic.ratelimit.resource'] === 'requests');
    expect(requests?.value).toBe(0);
  });

  it('without the throttle, the same traffic earns the 429', async () => {
    fake = await startFakeClaude({ rateLimit: { requests: 3, windowMs: 60_000, enforce: true } });
    const client = new Anthropic({
      apiKey: 'test',
      baseURL: fake.url,
      maxRetries: 0,
      fetch: createClaudeFetch(),
    });
    for (let i = 0; i < 3; i++) await client.messages.create(params);
    const error = await client.messages.create(params).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Anthropic.RateLimitError);
    expect(claudeOtelErrorOf(error)).toBeUndefined();
    expect(fake.requests.filter((r) => r.fault?.status === 429)).toHaveLength(1);
  });
});

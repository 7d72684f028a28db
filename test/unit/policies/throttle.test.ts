/**
 * Proactive throttling: the headroom model on a fake clock, then the policy inside
 * `createClaudeFetch` around a stub fetch whose responses carry `anthropic-ratelimit-*` headers.
 * Waits are driven through the fake clock, never slept.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createClaudeFetch } from '../../../src/fetch.js';
import { claudeOtelErrorOf } from '../../../src/policies/errors.js';
import { estimateInputTokens, Headroom } from '../../../src/policies/throttle.js';
import { MemoryFleetStore } from '../../../src/store/memory.js';
import { FakeClock } from '../../helpers/fake-clock.js';
import { explicitOtel, settle } from '../../helpers/otel.js';

describe('Headroom', () => {
  const limits = (remaining: number, resetS: number, limit = 100) => ({
    requests: { limit, remaining, reset: resetS },
  });

  it('waits for the continuous refill of an empty bucket', () => {
    const h = new Headroom('continuous');
    h.observe(limits(0, 10), 0);
    // 100 requests come back by the reset (10 s, and up to 1 s more: the header's precision): one
    // every 110 ms.
    expect(h.waitFor({ inputTokens: 1 }, 0)).toEqual({ ms: 110, resource: 'requests' });
    expect(h.waitFor({ inputTokens: 1 }, 110).ms).toBe(0);
    expect(h.available('requests', 5_500)).toBe(50);
    expect(h.available('requests', 20_000)).toBe(100);
  });

  it('waits for the reset of a fixed window', () => {
    const h = new Headroom('at_reset');
    h.observe(limits(0, 10), 0);
    // The reset header has whole seconds: the window is taken to end at the end of that second.
    expect(h.waitFor({ inputTokens: 1 }, 0)).toEqual({ ms: 11_000, resource: 'requests' });
    expect(h.waitFor({ inputTokens: 1 }, 10_999).ms).toBe(1);
    expect(h.waitFor({ inputTokens: 1 }, 11_000).ms).toBe(0);
  });

  it('counts reservations until the next observation replaces them', () => {
    const h = new Headroom('at_reset');
    h.observe(limits(2, 60), 0);
    h.reserve({ inputTokens: 1 });
    expect(h.waitFor({ inputTokens: 1 }, 0).ms).toBe(0);
    h.reserve({ inputTokens: 1 });
    expect(h.waitFor({ inputTokens: 1 }, 0).ms).toBe(61_000);
    h.observe(limits(5, 60), 10);
    expect(h.waitFor({ inputTokens: 1 }, 10).ms).toBe(0);
  });

  it('holds a request whose estimated input tokens exceed the input headroom', () => {
    const h = new Headroom('at_reset');
    h.observe({ input_tokens: { limit: 10_000, remaining: 300, reset: 30 } }, 0);
    expect(h.waitFor({ inputTokens: 200 }, 0).ms).toBe(0);
    expect(h.waitFor({ inputTokens: 400 }, 0)).toEqual({ ms: 31_000, resource: 'input_tokens' });
    // Larger than the whole limit: it waits for a full bucket, not forever.
    expect(h.waitFor({ inputTokens: 50_000 }, 0).ms).toBe(31_000);
  });

  it("blocks for a 429's retry-after, and only ever extends the block", () => {
    const h = new Headroom();
    h.block(1_000, 5_000);
    h.block(1_000, 2_000);
    expect(h.waitFor({ inputTokens: 1 }, 1_000)).toEqual({ ms: 5_000, resource: 'retry_after' });
    expect(h.waitFor({ inputTokens: 1 }, 6_000).ms).toBe(0);
  });

  it("adopts another process's newer observation and ignores an older one", () => {
    const h = new Headroom('at_reset');
    h.observe(limits(50, 60), 1_000);
    h.adopt({ requests: { limit: 100, remaining: 0, resetInMs: 4_000 } }, 500, 2_000);
    expect(h.waitFor({ inputTokens: 1 }, 2_000)).toEqual({ ms: 3_500, resource: 'requests' });
    h.adopt({ requests: { limit: 100, remaining: 90, resetInMs: 4_000 } }, 5_000, 2_000);
    expect(h.available('requests', 2_000)).toBe(0);
    // The snapshot is what a store keeps: remaining after reservations, reset from the observation.
    expect(h.snapshot()).toEqual({ requests: { limit: 100, remaining: 0, resetInMs: 4_000 } });
  });

  it('gives back a released reservation', () => {
    const h = new Headroom('at_reset');
    h.observe(limits(1, 60), 0);
    h.reserve({ inputTokens: 1 });
    expect(h.waitFor({ inputTokens: 1 }, 0).ms).toBe(61_000);
    h.release({ inputTokens: 1 });
    expect(h.waitFor({ inputTokens: 1 }, 0).ms).toBe(0);
  });

  it('estimates input tokens as UTF-8 bytes / 4', () => {
    expect(estimateInputTokens('abcd')).toBe(1);
    expect(estimateInputTokens('a'.repeat(401))).toBe(101);
    expect(estimateInputTokens('é'.repeat(4))).toBe(2);
  });
});

describe('throttle policy', () => {
  const otels: Array<ReturnType<typeof explicitOtel>> = [];
  afterEach(() => {
    otels.length = 0;
  });

  function headers(remaining: number, resetMs: number, extra: Record<string, string> = {}): Headers {
    const reset = new Date(Date.now() + resetMs).toISOString();
    return new Headers({
      'content-type': 'application/json',
      'anthropic-ratelimit-requests-limit': '10',
      'anthropic-ratelimit-requests-remaining': String(remaining),
      'anthropic-ratelimit-requests-reset': reset,
      ...extra,
    });
  }

  const OK = JSON.stringify({ id: 'msg_1', type: 'message', content: [], usage: {} });
  const body = JSON.stringify({ model: 'claude-test', max_tokens: 16, messages: [] });

  function setup(answers: Array<() => Response>, throttle: object = {}, store?: MemoryFleetStore) {
    const otel = explicitOtel();
    otels.push(otel);
    const clock = new FakeClock(1_000);
    let calls = 0;
    const stub = async (): Promise<Response> => {
      const make = answers[Math.min(calls, answers.length - 1)];
      calls++;
      if (make === undefined) throw new Error('no answer');
      return make();
    };
    const claudeFetch = createClaudeFetch({
      fetch: stub as typeof globalThis.fetch,
      tracerProvider: otel.tracerProvider,
      meterProvider: otel.meterProvider,
      clock,
      throttle,
      ...(store !== undefined ? { store: { store, syncMs: 1 } } : {}),
    });
    const call = () =>
      claudeFetch('https://api.anthropic.com/v1/messages', { method: 'POST', body }).then(async (r) => {
        await r.text();
        return r;
      });
    return { otel, clock, call, calls: () => calls };
  }

  it('holds the next request until the headroom refills, and records the wait', async () => {
    const t = setup([
      () => new Response(OK, { headers: headers(0, 2_000) }),
      () => new Response(OK, { headers: headers(9, 60_000) }),
    ]);
    await t.call();
    expect(t.calls()).toBe(1);
    const second = t.call();
    await settle();
    // Waiting for the refill (10 requests over ~2 s: one in ~200 ms), not sent yet.
    expect(t.calls()).toBe(1);
    expect(t.clock.pending).toBeGreaterThan(0);
    await t.clock.advanceAsync(2_000);
    await second;
    expect(t.calls()).toBe(2);
    expect(
      await t.otel.counterSum('anthropic.client.throttle.waits', { 'anthropic.throttle.outcome': 'waited' }),
    ).toBe(1);
    const delay = await t.otel.histogram('anthropic.client.throttle.delay');
    expect(delay.count).toBe(1);
    expect(delay.sum).toBeGreaterThan(0.1);
    expect(delay.sum).toBeLessThanOrEqual(2);
  });

  it('rejects with a typed `throttled` error when the wait exceeds maxWaitMs', async () => {
    const t = setup([() => new Response(OK, { headers: headers(0, 60_000) })], {
      maxWaitMs: 1_000,
      refill: 'at_reset',
    });
    await t.call();
    const rejected = await t.call();
    expect(t.calls()).toBe(1);
    expect(rejected.status).toBe(429);
    expect(rejected.headers.get('x-should-retry')).toBe('false');
    const info = claudeOtelErrorOf(rejected);
    expect(info?.type).toBe('throttled');
    expect(info?.retryAfterMs).toBeGreaterThan(50_000);
    expect(
      await t.otel.counterSum('anthropic.client.throttle.waits', {
        'anthropic.throttle.outcome': 'rejected',
      }),
    ).toBe(1);
  });

  it("waits out a 429's retry-after before the next request", async () => {
    const t = setup([
      () =>
        new Response('{"type":"error","error":{"type":"rate_limit_error","message":"slow"}}', {
          status: 429,
          headers: { 'content-type': 'application/json', 'retry-after': '5' },
        }),
      () => new Response(OK, { headers: { 'content-type': 'application/json' } }),
    ]);
    const first = await t.call();
    expect(first.status).toBe(429);
    const second = t.call();
    await t.clock.advanceAsync(4_900);
    expect(t.calls()).toBe(1);
    await t.clock.advanceAsync(200);
    await second;
    expect(t.calls()).toBe(2);
    expect(
      await t.otel.counterSum('anthropic.client.throttle.waits', {
        'anthropic.throttle.resource': 'retry_after',
      }),
    ).toBe(1);
  });

  it('shares a 429 between two clients through a store', async () => {
    const store = new MemoryFleetStore();
    const limited = () =>
      new Response('{"type":"error","error":{"type":"rate_limit_error","message":"slow"}}', {
        status: 429,
        headers: { 'content-type': 'application/json', 'retry-after': '30' },
      });
    const a = setup([limited], { maxWaitMs: 1_000 }, store);
    const b = setup(
      [() => new Response(OK, { headers: { 'content-type': 'application/json' } })],
      { maxWaitMs: 1_000 },
      store,
    );
    await a.call();
    await settle();
    // b has never seen a 429 itself: it reads the fleet's block before its request goes out.
    const held = await b.call();
    expect(b.calls()).toBe(0);
    expect(claudeOtelErrorOf(held)?.type).toBe('throttled');
  });

  it('gives back the reservation of an attempt an open breaker answered unsent', async () => {
    const otel = explicitOtel();
    const clock = new FakeClock(1_000);
    let calls = 0;
    const stub = async (): Promise<Response> => {
      calls++;
      return new Response('{"type":"error","error":{"type":"overloaded_error","message":"x"}}', {
        status: calls === 1 ? 529 : 200,
        headers: headers(1, 60_000),
      });
    };
    const claudeFetch = createClaudeFetch({
      fetch: stub as typeof globalThis.fetch,
      tracerProvider: otel.tracerProvider,
      meterProvider: otel.meterProvider,
      clock,
      throttle: { maxWaitMs: 0, refill: 'at_reset' },
      breaker: { mode: 'consecutive', consecutiveFailures: 1, openMs: 1_000, hold: false },
    });
    const call = async () => {
      const r = await claudeFetch('https://api.anthropic.com/v1/messages', { method: 'POST', body });
      await r.text();
      return r;
    };
    expect((await call()).status).toBe(529);
    for (let i = 0; i < 4; i++) expect(claudeOtelErrorOf(await call())?.type).toBe('circuit_open');
    clock.advance(1_000);
    // One request of headroom is left, as before the rejections: the half-open probe goes out.
    expect((await call()).status).toBe(200);
    expect(calls).toBe(2);
  });

  it('rejects invalid options at creation', () => {
    expect(() => createClaudeFetch({ throttle: { maxWaitMs: -1 } })).toThrow(TypeError);
    expect(() => createClaudeFetch({ throttle: { refill: 'sometimes' as 'at_reset' } })).toThrow(TypeError);
  });
});

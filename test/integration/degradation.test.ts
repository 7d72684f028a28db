/**
 * Graceful degradation with the real SDK: several fake API instances as regions, model fallbacks
 * and cached responses. Time is the fake clock's.
 */
import Anthropic from '@anthropic-ai/sdk';
import { SpanKind } from '@opentelemetry/api';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type ClaudeFetchOptions, createClaudeFetch } from '../../src/index.js';
import { type FakeClaude, startFakeClaude } from '../../src/testing/index.js';
import { drive as driveClock, FakeClock } from '../helpers/fake-clock.js';
import { installOtel, type OtelHarness, settle } from '../helpers/otel.js';
import { FAKE_API_KEY } from '../helpers/secrets.js';

/** Drives the fake clock's sleeps (retry waits) until `promise` settles; timers move only by hand. */
const drive = <T>(promise: Promise<T>): Promise<T> => driveClock(clock, promise, { kind: 'sleep' });

const MODEL = 'claude-sonnet-4-6';
const FALLBACK = 'claude-haiku-4-5';
const params = { model: MODEL, max_tokens: 64, messages: [{ role: 'user' as const, content: 'hi' }] };

let otel: OtelHarness;
let primary: FakeClaude;
let secondary: FakeClaude;
let clock: FakeClock;
const fetches: { shutdown(): void }[] = [];

beforeAll(async () => {
  otel = installOtel();
  primary = await startFakeClaude({ name: 'primary' });
  secondary = await startFakeClaude({ name: 'secondary' });
});

afterAll(async () => {
  await primary.close();
  await secondary.close();
  await otel.shutdown();
});

beforeEach(() => {
  otel.reset();
  primary.reset();
  secondary.reset();
  clock = new FakeClock(1_000_000);
});

afterEach(async () => {
  for (const f of fetches.splice(0)) f.shutdown();
  await settle();
  expect([...otel.openSpans.open.values()]).toEqual([]);
});

function client(options: ClaudeFetchOptions, baseURL = primary.url): Anthropic {
  const fetch = createClaudeFetch({ clock, random: () => 0.5, ...options });
  fetches.push(fetch);
  return new Anthropic({ apiKey: FAKE_API_KEY, baseURL, fetch });
}

const regions = () => [
  { name: 'primary', baseURL: primary.url },
  { name: 'secondary', baseURL: secondary.url },
];

describe('regions', () => {
  it('fails over to the next region after one failed attempt, and records it', async () => {
    primary.setScript(Array.from({ length: 10 }, () => ({ status: 529 })));
    const c = client({ regions: regions(), retry: true });
    const message = await drive(c.messages.create(params));
    expect(message.type).toBe('message');
    expect(primary.requests).toHaveLength(1);
    expect(secondary.requests).toHaveLength(1);
    await settle();
    const attempts = otel.spans().filter((s) => s.kind === SpanKind.CLIENT && s.name === 'POST /v1/messages');
    expect(attempts.map((s) => s.attributes['anthropic.region']).sort()).toEqual(['primary', 'secondary']);
    expect(
      await otel.counterSum('anthropic.client.fallbacks', {
        'anthropic.fallback.kind': 'region',
        'anthropic.fallback.from': 'primary',
        'anthropic.fallback.to': 'secondary',
      }),
    ).toBe(1);
  });

  it('stops sending to a dead region once its breaker is open, and fails back after probes see it again', async () => {
    const dead = await startFakeClaude({ name: 'flaky' });
    const flakyPort = dead.port;
    const c = client(
      {
        regions: {
          list: [
            { name: 'flaky', baseURL: dead.url },
            { name: 'secondary', baseURL: secondary.url },
          ],
          unhealthyAfter: 2,
          healthyAfter: 1,
          failbackAfterMs: 1_000,
          probe: { intervalMs: 10_000, timeoutMs: 1_000, jitter: 0 },
        },
        retry: true,
        breaker: { mode: 'consecutive', consecutiveFailures: 2, openMs: 60_000 },
      },
      dead.url,
    );
    await drive(c.messages.create(params));
    expect(dead.requests).toHaveLength(1);
    await dead.close();
    // The region dies: each call fails over after at most one failed attempt there.
    for (let i = 0; i < 4; i++) await drive(c.messages.create(params));
    const sentToSecondary = secondary.requests.length;
    expect(sentToSecondary).toBe(4);
    // Its breaker is open and it is unhealthy: nothing more is tried there.
    await drive(c.messages.create(params));
    expect(secondary.requests).toHaveLength(5);
    // It comes back; a probe sees it, and after the hysteresis traffic fails back.
    const back = await startFakeClaude({ name: 'flaky', port: flakyPort });
    try {
      clock.advance(10_000);
      while (back.requests.length === 0) await new Promise((resolve) => setTimeout(resolve, 1));
      await settle();
      clock.advance(61_000);
      await drive(c.messages.create(params));
      expect(back.requests.filter((r) => r.path === '/v1/messages')).toHaveLength(1);
      const probes = otel.spans().filter((s) => s.name === 'anthropic.region.probe');
      expect(probes.length).toBeGreaterThan(0);
      expect(probes.every((s) => s.attributes['anthropic.probe'] === true)).toBe(true);
    } finally {
      await back.close();
    }
  });

  it('never fails over on the caller’s own errors', async () => {
    for (const status of [400, 401, 403, 404]) {
      primary.reset();
      secondary.reset();
      primary.setScript([{ status }]);
      const c = client({ regions: regions(), retry: true, fallback: { models: [FALLBACK] } });
      const error = await drive(c.messages.create(params).catch((e: unknown) => e));
      expect((error as InstanceType<typeof Anthropic.APIError>).status).toBe(status);
      expect(primary.requests).toHaveLength(1);
      expect(secondary.requests).toHaveLength(0);
    }
    expect(await otel.counterSum('anthropic.client.fallbacks')).toBe(0);
  });
});

describe('model fallback', () => {
  it('falls back to the next model under sustained 529s, recording the model sent and the model that answered', async () => {
    primary.setScript([]);
    const fake = await startFakeClaude({
      name: 'overloaded',
      faultFor: (r) => ((r.body as { model?: string }).model === MODEL ? { status: 529 } : undefined),
    });
    try {
      const c = client({ retry: { maxAttempts: 2 }, fallback: { models: [FALLBACK] } }, fake.url);
      const message = await drive(c.messages.create(params));
      expect(message.model).toBe(FALLBACK);
      expect(fake.requests.map((r) => (r.body as { model: string }).model)).toEqual([MODEL, MODEL, FALLBACK]);
      await settle();
      const attempts = otel
        .spans()
        .filter((s) => s.kind === SpanKind.CLIENT && s.name === 'POST /v1/messages');
      expect(attempts.map((s) => s.attributes['gen_ai.request.model']).sort()).toEqual(
        [FALLBACK, MODEL, MODEL].sort(),
      );
      const last = attempts.find((s) => s.attributes['gen_ai.request.model'] === FALLBACK);
      expect(last?.attributes['gen_ai.response.model']).toBe(FALLBACK);
      expect(
        await otel.counterSum('anthropic.client.fallbacks', {
          'anthropic.fallback.kind': 'model',
          'anthropic.fallback.from': MODEL,
          'anthropic.fallback.to': FALLBACK,
          'anthropic.fallback.reason': 'overloaded_error',
        }),
      ).toBe(1);
    } finally {
      await fake.close();
    }
  });
});

describe('cache', () => {
  it('serves a cached message when every region is down, for create and for stream', async () => {
    const c = client({ regions: regions(), retry: { maxAttempts: 2 }, cache: true });
    const fresh = await drive(c.messages.create(params));
    await settle();
    primary.setScript(Array.from({ length: 10 }, () => ({ status: 529 })));
    secondary.setScript(Array.from({ length: 10 }, () => ({ status: 529 })));
    const raw = await drive(c.messages.create(params).withResponse());
    expect(raw.response.headers.get('x-claude-otel-cache')).toBe('hit');
    expect(raw.data.content).toEqual(fresh.content);
    const streamed = await drive(c.messages.stream(params).finalMessage());
    expect(streamed.content).toEqual(fresh.content);
    expect(streamed.stop_reason).toBe(fresh.stop_reason);
    expect(await otel.counterSum('anthropic.client.cache.lookups', { 'anthropic.cache.result': 'hit' })).toBe(
      2,
    );
    const ops = otel.spans().filter((s) => s.kind === SpanKind.INTERNAL);
    expect(ops.filter((s) => s.attributes['anthropic.cache.hit'] === true)).toHaveLength(2);
  });

  it('does not serve the cache for the caller’s own errors', async () => {
    const c = client({ cache: true, retry: true });
    await drive(c.messages.create(params));
    await settle();
    primary.setScript([{ status: 400 }]);
    const error = await drive(c.messages.create(params).catch((e: unknown) => e));
    expect((error as InstanceType<typeof Anthropic.APIError>).status).toBe(400);
  });
});

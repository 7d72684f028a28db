/**
 * The cardinality guard end to end: the real SDK over our fetch with every policy that records
 * outside values (retry, breaker, model fallback), against the fake API answering each request with
 * a made-up error type, for hundreds of made-up model names. No metric may get more than
 * MAX_VALUES values (plus `other`) of a guarded attribute, whatever instrument records it.
 */
import Anthropic from '@anthropic-ai/sdk';
import type { DataPoint } from '@opentelemetry/sdk-metrics';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createClaudeFetch } from '../../src/index.js';
import { GUARDED_ATTRIBUTES, MAX_LENGTH, MAX_VALUES, OVERFLOW } from '../../src/telemetry/cardinality.js';
import { type FakeClaude, startFakeClaude } from '../../src/testing/index.js';
import { drive, FakeClock } from '../helpers/fake-clock.js';
import { installOtel, type OtelHarness, settle } from '../helpers/otel.js';
import { FAKE_API_KEY } from '../helpers/secrets.js';

const REQUESTS = 3 * MAX_VALUES;

let otel: OtelHarness;
let fake: FakeClaude;
let clock: FakeClock;

beforeAll(async () => {
  otel = installOtel();
  // Every request to a made-up model fails with an error type of its own (and a long one, sometimes).
  fake = await startFakeClaude({
    apiKey: FAKE_API_KEY,
    faultFor: (request) => {
      const model = (request.body as { model?: unknown } | undefined)?.model;
      if (typeof model !== 'string' || !model.startsWith('made-up-')) return undefined;
      const suffix = model.slice('made-up-'.length);
      return {
        status: 529,
        errorType: `overloaded_${suffix}${'x'.repeat(Number(suffix) % 3 === 0 ? 80 : 0)}`,
      };
    },
  });
});

afterAll(async () => {
  await fake.close();
  await otel.shutdown();
});

beforeEach(() => {
  otel.reset();
  fake.reset();
  clock = new FakeClock(1_700_000_000_000);
});

afterEach(async () => {
  await settle();
  expect([...otel.openSpans.open.values()]).toEqual([]);
});

describe('a flood of unknown models and error types', () => {
  it(`keeps every guarded metric attribute within ${MAX_VALUES} values (plus ${OVERFLOW})`, async () => {
    const fetch = createClaudeFetch({
      clock,
      random: () => 0.5,
      retry: { maxAttempts: 2, budget: false },
      breaker: { mode: 'consecutive', consecutiveFailures: 1 },
      fallback: { models: ['made-up-fallback'] },
    });
    const client = new Anthropic({ apiKey: FAKE_API_KEY, baseURL: fake.url, maxRetries: 0, fetch });
    for (let i = 0; i < REQUESTS; i++) {
      const error = await drive(
        clock,
        client.messages
          .create({ model: `made-up-${i}`, max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] })
          .then(() => undefined)
          .catch((e: unknown) => e),
        { kind: 'sleep' },
      );
      expect(error).toBeInstanceOf(Anthropic.APIError);
    }
    fetch.shutdown();
    await settle();
    // The traffic did carry that many distinct values.
    const sentModels = new Set(fake.requests.map((r) => (r.body as { model: string }).model));
    expect(sentModels.size).toBeGreaterThan(REQUESTS);

    const rm = await otel.collect();
    const seen = new Map<string, Set<string>>();
    let metricsChecked = 0;
    for (const scope of rm.scopeMetrics) {
      for (const metric of scope.metrics) {
        metricsChecked++;
        for (const key of GUARDED_ATTRIBUTES) {
          const values = new Set<string>();
          for (const point of metric.dataPoints as DataPoint<unknown>[]) {
            const value = point.attributes[key];
            if (typeof value !== 'string') continue;
            values.add(value);
            expect(value.length, `${metric.descriptor.name} ${key}`).toBeLessThanOrEqual(MAX_LENGTH);
          }
          if (values.size > 0) seen.set(`${metric.descriptor.name} ${key}`, values);
          expect(values.size, `${metric.descriptor.name} ${key}`).toBeLessThanOrEqual(MAX_VALUES + 1);
        }
        // And so the series of a metric stay far below one per request.
        expect(metric.dataPoints.length, metric.descriptor.name).toBeLessThan(REQUESTS);
      }
    }
    expect(metricsChecked).toBeGreaterThan(3);
    // The guard was what held them: the attempts counter hit the limit and recorded the rest as `other`.
    const models = seen.get('anthropic.client.attempts gen_ai.request.model');
    const errors = seen.get('anthropic.client.attempts error.type');
    expect(models?.has(OVERFLOW)).toBe(true);
    expect(errors?.has(OVERFLOW)).toBe(true);
    // The breaker state gauge (observed, not recorded through the guard) keeps to the same limit.
    expect(seen.get('anthropic.client.circuit_breaker.state anthropic.circuit_breaker.key')?.size).toBe(
      MAX_VALUES,
    );
  });
});

/**
 * The demo's workload in process: real SDK → our fetch (every policy on) → two fake regions, with
 * the summary read from the library's telemetry, checked against what the fake API received.
 */
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { TracerProvider } from '@opentelemetry/sdk-trace';
import { describe, expect, it } from 'vitest';
import { DEMO_FALLBACK_MODEL, type DemoResult, REAL_REQUESTS, runDemo } from '../../src/cli/demo.js';
import { loadAnthropic, loadOtelSdk } from '../../src/cli/deps.js';
import { validateScenario } from '../../src/cli/scenario.js';
import { createDemoTelemetry, formatSummary } from '../../src/cli/summary.js';
import { startFakeClaude } from '../../src/testing/index.js';

async function demo(document: unknown, options: { seed: number; signal?: AbortSignal; durationS?: number }) {
  const telemetry = createDemoTelemetry(await loadOtelSdk());
  const tracerProvider = new TracerProvider({ spanProcessors: [telemetry.spanProcessor] });
  const meterProvider = new MeterProvider({ readers: [telemetry.metricReader] });
  try {
    return await runDemo({
      sdk: await loadAnthropic(),
      target: { kind: 'fake', scenario: validateScenario(document) },
      durationS: options.durationS ?? 2,
      concurrency: 3,
      seed: options.seed,
      telemetry,
      tracerProvider,
      meterProvider,
      graceMs: 10_000,
      ...(options.signal ? { signal: options.signal } : {}),
    });
  } finally {
    await tracerProvider.shutdown();
    await meterProvider.shutdown();
  }
}

/** `/v1/messages` attempts each region received (health probes are `GET /v1/models`). */
function received(result: DemoResult): Record<string, number> {
  return Object.fromEntries(
    result.regions.map((r) => [r.name, r.requests.filter((q) => q.path === '/v1/messages').length]),
  );
}

const total = (record: Record<string, number>): number => Object.values(record).reduce((a, b) => a + b, 0);

describe('demo workload', () => {
  it('under a 529 burst: the summary matches what the fake received, and retries acted', async () => {
    const result = await demo(
      {
        duration: 2,
        faults: [{ region: 'primary', rate: 0.5, match: { path: '/v1/messages' }, fault: { status: 529 } }],
      },
      { seed: 7 },
    );
    const { summary } = result;
    const server = received(result);
    expect(result.calls).toBeGreaterThan(5);
    // One operation per SDK call: the SDK never retried on top of ours.
    expect(summary.requests).toBe(result.calls);
    expect(summary.succeeded).toBe(result.callsSucceeded);
    expect(summary.attempts).toBe(total(server));
    expect(summary.attemptsByRegion).toEqual(
      Object.fromEntries(Object.entries(server).filter(([, n]) => n > 0)),
    );
    const overloads = result.regions
      .flatMap((r) => r.requests)
      .filter((q) => q.path === '/v1/messages' && q.fault?.status === 529).length;
    expect(overloads).toBeGreaterThan(0);
    expect(summary.retries.overloaded_error ?? 0).toBeGreaterThan(0);
    expect(summary.tokens.output).toBeGreaterThan(0);
    expect(summary.latencyMs.p50).toBeLessThanOrEqual(summary.latencyMs.p99);
    expect(formatSummary(summary, 'Summary')).toMatch(/retries by reason\s+\d+\s+\(.*overloaded_error/);
  });

  it('under a region outage: requests fail over to the secondary region', async () => {
    const result = await demo(
      { duration: 2, faults: [{ region: 'primary', fault: { status: 503, body: 'html' } }] },
      { seed: 3 },
    );
    const { summary } = result;
    const server = received(result);
    expect(summary.requests).toBe(result.calls);
    expect(summary.attempts).toBe(total(server));
    expect(summary.fallbacks.region ?? 0).toBeGreaterThan(0);
    expect(server.secondary).toBeGreaterThan(0);
    expect(summary.succeeded).toBe(summary.requests);
  });

  it('--real sends its small workload to the API the environment names (here a fake standing in)', async () => {
    const api = await startFakeClaude({ apiKey: 'sk-ant-real-key' });
    const telemetry = createDemoTelemetry(await loadOtelSdk());
    const tracerProvider = new TracerProvider({ spanProcessors: [telemetry.spanProcessor] });
    const meterProvider = new MeterProvider({ readers: [telemetry.metricReader] });
    try {
      const result = await runDemo({
        sdk: await loadAnthropic(),
        target: { kind: 'real', apiKey: 'sk-ant-real-key', baseURL: api.url },
        durationS: 30,
        concurrency: 2,
        seed: 1,
        telemetry,
        tracerProvider,
        meterProvider,
      });
      expect(result.calls).toBe(REAL_REQUESTS);
      expect(result.summary).toMatchObject({
        requests: REAL_REQUESTS,
        succeeded: REAL_REQUESTS,
        attempts: REAL_REQUESTS,
      });
      expect(api.requests).toHaveLength(REAL_REQUESTS);
      for (const request of api.requests) {
        expect(request.body).toMatchObject({ model: DEMO_FALLBACK_MODEL, max_tokens: 32 });
      }
    } finally {
      await api.close();
      await tracerProvider.shutdown();
      await meterProvider.shutdown();
    }
  });

  it('a stop ends the run early with the summary so far', async () => {
    const stop = new AbortController();
    setTimeout(() => stop.abort(), 300);
    const result = await demo({ faults: [] }, { seed: 1, durationS: 60, signal: stop.signal });
    expect(result.stopped).toBe(true);
    expect(result.summary.requests).toBe(result.calls);
    expect(result.summary.attempts).toBe(total(received(result)));
  });
});

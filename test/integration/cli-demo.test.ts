/**
 * The demo's workload in process: real SDK → our fetch (every policy on) → two fake regions, with
 * the summary read from the library's telemetry, checked against what the fake API received.
 */
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { TracerProvider } from '@opentelemetry/sdk-trace';
import { describe, expect, it } from 'vitest';
import { DEMO_FALLBACK_MODEL, type DemoResult, REAL_REQUESTS, runDemo } from '../../src/cli/demo.js';
import { loadAnthropic, loadOtelSdk } from '../../src/cli/deps.js';
import { loadScenario, SCENARIOS_DIR, validateScenario } from '../../src/cli/scenario.js';
import { createDemoTelemetry, type DemoTelemetry, formatSummary } from '../../src/cli/summary.js';
import { formatTraces, TRACE_KINDS } from '../../src/cli/traces.js';
import { startFakeClaude } from '../../src/testing/index.js';

async function demo(
  document: unknown,
  options: { seed: number; signal?: AbortSignal; durationS?: number; concurrency?: number },
  given?: DemoTelemetry,
) {
  const telemetry = given ?? createDemoTelemetry(await loadOtelSdk());
  const tracerProvider = new TracerProvider({ spanProcessors: [telemetry.spanProcessor] });
  const meterProvider = new MeterProvider({ readers: [telemetry.metricReader] });
  try {
    return await runDemo({
      sdk: await loadAnthropic(),
      target: { kind: 'fake', scenario: validateScenario(document) },
      durationS: options.durationS ?? 2,
      concurrency: options.concurrency ?? 3,
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

  it('the tour shows every policy it lists, and a trace of each as a tree (a short run)', async () => {
    // The shipped tour, scaled to 8 s: the summary must show each policy at work, and the traces
    // kept by the in-process span processor one retried call, failover, model fallback, resumed
    // stream and cache hit.
    await loadScenario('tour'); // the shipped file validates
    const { parse } = await import('yaml');
    const { readFileSync } = await import('node:fs');
    const document = parse(readFileSync(new URL('tour.yaml', SCENARIOS_DIR), 'utf8')) as unknown;
    const telemetry = createDemoTelemetry(await loadOtelSdk());
    const { summary } = await demo(document, { seed: 3, durationS: 8, concurrency: 4 }, telemetry);
    expect(Object.values(summary.retries).reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
    expect(summary.fallbacks.region ?? 0).toBeGreaterThan(0);
    expect(summary.fallbacks.model ?? 0).toBeGreaterThan(0);
    expect(summary.fallbacks.cache ?? 0).toBeGreaterThan(0);
    expect(summary.cacheLookups.hit ?? 0).toBeGreaterThan(0);
    expect(summary.resumptions.resumed ?? 0).toBeGreaterThan(0);
    expect(Object.keys(summary.breakerTransitions).length).toBeGreaterThan(0);
    const text = formatSummary(summary, 'Summary');
    expect(text).toMatch(/fallbacks by kind\s+\d+\s+\(.*model \d/);
    expect(text).toMatch(/cache lookups\s+\d+\s+\(.*hit \d/);

    expect(telemetry.traces.missing()).toEqual([]);
    const kept = telemetry.traces.traces();
    expect(kept.map((t) => t.kind)).toEqual([...TRACE_KINDS]);
    for (const { spans } of kept) {
      // One tree: the operation span is the root, every attempt span its child.
      const root = spans.find((s) => s.attributes['anthropic.operation.attempts'] !== undefined);
      expect(root).toBeDefined();
      for (const s of spans.filter((x) => x.name === 'POST /v1/messages')) {
        expect(s.parentSpanContext?.spanId).toBe(root?.spanContext().spanId);
        expect(s.spanContext().traceId).toBe(root?.spanContext().traceId);
      }
    }
    const printed = formatTraces(telemetry.traces);
    expect(printed).toMatch(/^A retried call — trace [0-9a-f]{32}\n {2}chat claude-/m);
    expect(printed).toMatch(/^ {2}[├└]── POST \/v1\/messages {2}region=\w+ {2}resend_count=1 /m);
    expect(printed).toMatch(/[├└]── · anthropic\.retry\.scheduled /);
    expect(printed).toMatch(/[├└]── · anthropic\.fallback {2}fallback\.kind=region /);
    expect(printed).toMatch(/[├└]── · anthropic\.fallback {2}fallback\.kind=model /);
    expect(printed).toMatch(/[├└]── · anthropic\.stream\.resumption {2}stream\.resume\.outcome=resumed/);
    expect(printed).toMatch(/anthropic\.cache\.hit=true/);
    expect(printed).not.toMatch(/no trace of this run showed/);
  });
});

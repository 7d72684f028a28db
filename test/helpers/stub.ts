/**
 * `createClaudeFetch` around hand-written fetch stubs, with the real OpenTelemetry SDK passed
 * explicitly (nothing registered globally), and per-test checks that every attempt ended exactly
 * once: one exported span and one `anthropic.client.attempts` count per stub call, and no span
 * ended twice.
 */
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import {
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
  TracerProvider,
} from '@opentelemetry/sdk-trace';
import { afterAll, afterEach, beforeEach, expect } from 'vitest';
import { type ClaudeFetch, createClaudeFetch } from '../../src/fetch.js';
import { captureDiag, OnDemandReader } from './otel.js';

export type Respond = (url: string, init: RequestInit | undefined) => Response | Promise<Response>;

export interface StubHarness {
  readonly exporter: InMemorySpanExporter;
  /** An instrumented fetch around a stub answering with `respond`. */
  claudeFetch(respond: Respond): ClaudeFetch;
  /** A fetch that answers every call with a new response from `make`. */
  answering(make: () => Response | Promise<Response>): ClaudeFetch;
  /** Finished spans. */
  finished(): ReadableSpan[];
  /** The one finished span of the test. */
  onlySpan(): ReadableSpan;
  /** Sum of `anthropic.client.attempts`. */
  attemptsCounted(): Promise<number>;
  /** The attribute sets of a metric's data points. */
  pointAttributes(metric: string): Promise<Record<string, unknown>[]>;
}

/** Creates the harness and registers its per-test checks (call at the top level of a test file). */
export function stubHarness(): StubHarness {
  const exporter = new InMemorySpanExporter();
  const tracerProvider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
  const reader = new OnDemandReader();
  const meterProvider = new MeterProvider({ readers: [reader] });
  let stubCalls = 0;

  const claudeFetch = (respond: Respond): ClaudeFetch => {
    const stub = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
      stubCalls++;
      return respond(String(input), init);
    };
    return createClaudeFetch({ fetch: stub as typeof globalThis.fetch, tracerProvider, meterProvider });
  };
  const finished = (): ReadableSpan[] => exporter.getFinishedSpans();
  const attemptsCounted = async (): Promise<number> => {
    const { resourceMetrics, errors } = await reader.collect();
    expect(errors).toEqual([]);
    let sum = 0;
    for (const scope of resourceMetrics.scopeMetrics) {
      for (const metric of scope.metrics) {
        if (metric.descriptor.name !== 'anthropic.client.attempts') continue;
        for (const point of metric.dataPoints) sum += point.value as number;
      }
    }
    return sum;
  };

  let callsAtStart = 0;
  let attemptsAtStart = 0;
  let diagLog: ReturnType<typeof captureDiag>;
  beforeEach(async () => {
    exporter.reset();
    callsAtStart = stubCalls;
    attemptsAtStart = await attemptsCounted();
    diagLog = captureDiag();
  });
  afterEach(async () => {
    diagLog.stop();
    const calls = stubCalls - callsAtStart;
    // Every attempt of the test ended exactly once: one exported span and one count each, and the
    // SDK never saw a span ended twice.
    expect(finished()).toHaveLength(calls);
    expect((await attemptsCounted()) - attemptsAtStart).toBe(calls);
    expect(diagLog.messages).toEqual([]);
  });
  afterAll(async () => {
    // `anthropic.client.attempts` counted every call of every stub in the file, once.
    expect(await attemptsCounted()).toBe(stubCalls);
    await tracerProvider.shutdown();
    await meterProvider.shutdown();
  });

  return {
    exporter,
    claudeFetch,
    answering: (make) => claudeFetch(() => make()),
    finished,
    onlySpan() {
      const spans = finished();
      expect(spans).toHaveLength(1);
      return spans[0] as ReadableSpan;
    },
    attemptsCounted,
    async pointAttributes(metric) {
      const { resourceMetrics } = await reader.collect();
      return resourceMetrics.scopeMetrics
        .flatMap((scope) => scope.metrics)
        .filter((m) => m.descriptor.name === metric)
        .flatMap((m) => m.dataPoints.map((p) => p.attributes as Record<string, unknown>));
    },
  };
}

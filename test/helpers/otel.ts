/**
 * The real OpenTelemetry SDK, wired for assertions: an in-memory span exporter, a tracker of spans
 * started but not ended, and a metric reader collected on demand. Registered globally, with the
 * AsyncLocalStorage context manager, so the Anthropic SDK's native call spans use it too.
 */
import {
  type Attributes,
  context,
  DiagLogLevel,
  diag,
  metrics,
  propagation,
  trace,
} from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import {
  type DataPoint,
  type Histogram,
  MeterProvider,
  MetricReader,
  type ResourceMetrics,
} from '@opentelemetry/sdk-metrics';
import {
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
  type Span,
  type SpanProcessor,
  TracerProvider,
} from '@opentelemetry/sdk-trace';
import { Telemetry } from '../../src/telemetry/instruments.js';
import { scanner } from './secrets.js';

/** A metric reader collected on demand (`reader.collect()`). */
export class OnDemandReader extends MetricReader {
  protected override async onShutdown(): Promise<void> {}
  protected override async onForceFlush(): Promise<void> {}
}

/** Hands every ended span to the secret scan (`secrets.ts`). */
class SecretScanProcessor implements SpanProcessor {
  onStart(): void {}
  onEnd(span: ReadableSpan): void {
    scanner.span(span);
  }
  async forceFlush(): Promise<void> {}
  async shutdown(): Promise<void> {}
}

/**
 * Metric readers not yet shut down: the secret-scan setup file collects them after each test, so
 * every data point recorded is scanned even when the test never looked at it.
 */
export const liveReaders = new Set<MetricReader>();

/** Collects `reader` for the secret scan (a reader already shut down is skipped). */
export async function scanReader(reader: MetricReader): Promise<void> {
  if (!liveReaders.has(reader)) return;
  const { resourceMetrics } = await reader.collect();
  scanner.metrics(resourceMetrics);
}

/** Remembers spans that started and have not ended. */
class OpenSpans implements SpanProcessor {
  readonly open = new Map<string, string>();
  onStart(span: Span): void {
    this.open.set(span.spanContext().spanId, span.name);
  }
  onEnd(span: ReadableSpan): void {
    this.open.delete(span.spanContext().spanId);
  }
  async forceFlush(): Promise<void> {}
  async shutdown(): Promise<void> {}
}

export interface OtelHarness {
  readonly exporter: InMemorySpanExporter;
  readonly openSpans: OpenSpans;
  readonly reader: OnDemandReader;
  readonly tracerProvider: TracerProvider;
  readonly meterProvider: MeterProvider;
  /** Finished spans. */
  spans(): ReadableSpan[];
  /** Collected metrics. */
  collect(): Promise<ResourceMetrics>;
  /** Data points of one metric by name ([] when absent). */
  points(name: string): Promise<DataPoint<unknown>[]>;
  /** Sum of a counter's points whose attributes include `match`. */
  counterSum(name: string, match?: Record<string, unknown>): Promise<number>;
  /** Sum of a histogram's `sum` and `count` over the points whose attributes include `match`. */
  histogram(name: string, match?: Record<string, unknown>): Promise<{ sum: number; count: number }>;
  reset(): void;
  shutdown(): Promise<void>;
}

function matches(attributes: Record<string, unknown>, match: Record<string, unknown> | undefined): boolean {
  if (!match) return true;
  return Object.entries(match).every(([k, v]) => attributes[k] === v);
}

/** Installs the SDK globally; call `shutdown` in `afterAll`. */
export function installOtel(): OtelHarness {
  const exporter = new InMemorySpanExporter();
  const openSpans = new OpenSpans();
  const tracerProvider = new TracerProvider({
    spanProcessors: [openSpans, new SecretScanProcessor(), new SimpleSpanProcessor({ exporter })],
  });
  let reader = new OnDemandReader();
  liveReaders.add(reader);
  let meterProvider = new MeterProvider({ readers: [reader] });
  const contextManager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(contextManager);
  trace.setGlobalTracerProvider(tracerProvider);
  metrics.setGlobalMeterProvider(meterProvider);
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());

  const harness: OtelHarness = {
    exporter,
    openSpans,
    get reader() {
      return reader;
    },
    tracerProvider,
    get meterProvider() {
      return meterProvider;
    },
    spans: () => exporter.getFinishedSpans(),
    async collect() {
      const { resourceMetrics, errors } = await reader.collect();
      if (errors.length > 0) throw errors[0];
      scanner.metrics(resourceMetrics);
      return resourceMetrics;
    },
    async points(name) {
      const rm = await harness.collect();
      for (const scope of rm.scopeMetrics) {
        for (const metric of scope.metrics) {
          if (metric.descriptor.name === name) return metric.dataPoints as DataPoint<unknown>[];
        }
      }
      return [];
    },
    async counterSum(name, match) {
      const points = await harness.points(name);
      return points
        .filter((p) => matches(p.attributes, match))
        .reduce((acc, p) => acc + (p.value as number), 0);
    },
    async histogram(name, match) {
      const points = await harness.points(name);
      let sum = 0;
      let count = 0;
      for (const p of points) {
        if (!matches(p.attributes, match)) continue;
        const h = p.value as Histogram;
        sum += h.sum ?? 0;
        count += h.count;
      }
      return { sum, count };
    },
    reset() {
      exporter.reset();
      openSpans.open.clear();
      // A fresh meter provider forgets every data point; the fetch notices the global change.
      // (Its points were scanned by the setup file after the previous test.)
      liveReaders.delete(reader);
      reader = new OnDemandReader();
      liveReaders.add(reader);
      meterProvider = new MeterProvider({ readers: [reader] });
      metrics.disable();
      metrics.setGlobalMeterProvider(meterProvider);
    },
    async shutdown() {
      await scanReader(reader);
      liveReaders.delete(reader);
      await tracerProvider.shutdown();
      await meterProvider.shutdown();
      trace.disable();
      metrics.disable();
      propagation.disable();
      context.disable();
    },
  };
  return harness;
}

/** Diagnostic messages of the OpenTelemetry API (warnings about spans ended twice land here). */
export function captureDiag(): { messages: string[]; stop(): void } {
  const messages: string[] = [];
  const push =
    (level: string) =>
    (message: string, ...args: unknown[]) => {
      messages.push(`${level}: ${message} ${args.map(String).join(' ')}`);
    };
  diag.setLogger(
    { error: push('error'), warn: push('warn'), info: () => {}, debug: () => {}, verbose: () => {} },
    DiagLogLevel.WARN,
  );
  return { messages, stop: () => diag.disable() };
}

/** Lets pending callbacks and microtasks run. */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Providers passed explicitly (nothing registered globally), the library's `Telemetry` over them,
 * and readers of what it recorded: for tests of one policy or module at a time.
 */
export function explicitOtel() {
  const exporter = new InMemorySpanExporter();
  const tracerProvider = new TracerProvider({
    spanProcessors: [new SecretScanProcessor(), new SimpleSpanProcessor({ exporter })],
  });
  const reader = new OnDemandReader();
  liveReaders.add(reader);
  const meterProvider = new MeterProvider({ readers: [reader] });
  const telemetry = new Telemetry(tracerProvider, meterProvider);
  const points = async (name: string): Promise<DataPoint<unknown>[]> => {
    const { resourceMetrics, errors } = await reader.collect();
    if (errors.length > 0) throw errors[0];
    scanner.metrics(resourceMetrics);
    for (const scope of resourceMetrics.scopeMetrics) {
      for (const metric of scope.metrics) {
        if (metric.descriptor.name === name) return metric.dataPoints as DataPoint<unknown>[];
      }
    }
    return [];
  };
  const matching = async (name: string, match: Attributes): Promise<DataPoint<unknown>[]> =>
    (await points(name)).filter((p) => Object.entries(match).every(([k, v]) => p.attributes[k] === v));
  return {
    exporter,
    tracerProvider,
    meterProvider,
    reader,
    telemetry,
    points,
    async counterSum(name: string, match: Attributes = {}): Promise<number> {
      return (await matching(name, match)).reduce((sum, p) => sum + (p.value as number), 0);
    },
    async histogram(name: string, match: Attributes = {}): Promise<{ sum: number; count: number }> {
      let sum = 0;
      let count = 0;
      for (const p of await matching(name, match)) {
        const h = p.value as Histogram;
        sum += h.sum ?? 0;
        count += h.count;
      }
      return { sum, count };
    },
    async shutdown(): Promise<void> {
      await scanReader(reader);
      liveReaders.delete(reader);
      await tracerProvider.shutdown();
      await meterProvider.shutdown();
    },
  };
}

/**
 * OTLP export for the demo: when a collector answers at `OTEL_EXPORTER_OTLP_ENDPOINT` (default
 * `http://localhost:4318`), the OpenTelemetry Node SDK is started with `setup()` and the demo's
 * own readers beside the OTLP exporters, so the traces reach Jaeger and the dashboards fill.
 */
import type { MetricReader } from '@opentelemetry/sdk-metrics';
import type { SpanProcessor } from '@opentelemetry/sdk-trace';
import { isModuleNotFound, type OtelSdk } from './deps.js';

export const DEFAULT_OTLP_ENDPOINT = 'http://localhost:4318';

/** The OTLP/HTTP base URL from the environment. */
export function otlpEndpoint(env: NodeJS.ProcessEnv = process.env): string {
  const raw = env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim();
  return (raw === undefined || raw === '' ? DEFAULT_OTLP_ENDPOINT : raw).replace(/\/+$/, '');
}

/**
 * Whether an OTLP/HTTP receiver answers at `endpoint`: an empty trace export is posted and any HTTP
 * answer counts. Waits at most `timeoutMs`.
 */
export async function collectorAnswers(endpoint: string, timeoutMs = 800): Promise<boolean> {
  try {
    const response = await fetch(`${endpoint}/v1/traces`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"resourceSpans":[]}',
      signal: AbortSignal.timeout(timeoutMs),
    });
    await response.body?.cancel().catch(() => undefined);
    return true;
  } catch {
    return false;
  }
}

/** A started export: flush and stop it at the end. */
export interface Export {
  shutdown(): Promise<void>;
}

/**
 * Starts the Node SDK through `setup()` with OTLP exporters for traces and metrics plus the demo's
 * span processor and metric reader, registered globally. Returns `undefined` with a reason when a
 * package it needs is missing.
 */
export async function startExport(
  sdk: OtelSdk,
  endpoint: string,
  extra: { spanProcessor: SpanProcessor; metricReader: MetricReader },
): Promise<Export | { missing: string }> {
  let setupModule: typeof import('../setup.js');
  let traceExporter: typeof import('@opentelemetry/exporter-trace-otlp-http');
  let metricExporter: typeof import('@opentelemetry/exporter-metrics-otlp-http');
  try {
    [setupModule, traceExporter, metricExporter] = await Promise.all([
      import('../setup.js'),
      import('@opentelemetry/exporter-trace-otlp-http'),
      import('@opentelemetry/exporter-metrics-otlp-http'),
    ]);
  } catch (error) {
    if (isModuleNotFound(error)) {
      return {
        missing:
          'npm install @opentelemetry/sdk-node @opentelemetry/exporter-trace-otlp-http @opentelemetry/exporter-metrics-otlp-http',
      };
    }
    throw error;
  }
  const spanProcessors = [
    extra.spanProcessor,
    new sdk.trace.BatchSpanProcessor({
      exporter: new traceExporter.OTLPTraceExporter({ url: `${endpoint}/v1/traces` }),
      scheduledDelayMillis: 1000,
    }),
  ];
  const metricReaders = [
    extra.metricReader,
    new sdk.metrics.PeriodicExportingMetricReader({
      exporter: new metricExporter.OTLPMetricExporter({ url: `${endpoint}/v1/metrics` }),
      exportIntervalMillis: 2000,
    }),
  ];
  // The SDK packages of sdk-node may be another copy of the same version line: the processors and
  // readers are used through their interfaces.
  type SetupOptions = NonNullable<Parameters<typeof setupModule.setup>[0]>;
  const handle = setupModule.setup({
    serviceName: 'claude-otel-middleware-demo',
    endpoint,
    metricExportIntervalMs: 2000,
    spanProcessors: spanProcessors as unknown as SetupOptions['spanProcessors'],
    metricReaders: metricReaders as unknown as SetupOptions['metricReaders'],
  });
  return { shutdown: () => handle.shutdown() };
}

/**
 * `claude-otel-middleware/setup`: starts the OpenTelemetry Node SDK for the whole process with OTLP
 * exporters for traces, metrics and logs, configured by the standard `OTEL_*` variables.
 *
 * `claude-otel-middleware/register` calls it for you (`node --import claude-otel-middleware/register app.js`);
 * call it yourself when you configure OpenTelemetry in code. Needs `@opentelemetry/sdk-node` (an optional
 * peer dependency: `npm install @opentelemetry/sdk-node`).
 */
import { basename, extname } from 'node:path';
import * as api from '@opentelemetry/api';
import { type Attributes, diag } from '@opentelemetry/api';
import { NodeSDK, type NodeSDKConfiguration } from '@opentelemetry/sdk-node';
import { ClaudeOtelOptionsError, checkOptions, SETUP_OPTIONS, show } from './config.js';

/** Options of {@link setup}. Every option is optional; the `OTEL_*` variables configure the rest. */
export interface SetupOptions {
  /**
   * `service.name` of the resource.
   * @default `OTEL_SERVICE_NAME`, else `service.name` in `OTEL_RESOURCE_ATTRIBUTES`, else the `name` of
   * the package being run by npm (`npm_package_name`), else the main script's file name, else `claude-app`.
   */
  readonly serviceName?: string;
  /** `service.version` of the resource. @default `npm_package_version` when run by npm, else unset */
  readonly serviceVersion?: string;
  /** More resource attributes; they win over `OTEL_RESOURCE_ATTRIBUTES`. @default none */
  readonly resourceAttributes?: Attributes;
  /**
   * Base URL of the OTLP receiver, e.g. `http://localhost:4318`; signals go to `/v1/traces`,
   * `/v1/metrics` and `/v1/logs` under it.
   * @default `OTEL_EXPORTER_OTLP_ENDPOINT` (and its per-signal variants), else `http://localhost:4318`
   */
  readonly endpoint?: string;
  /**
   * How often metrics are exported, in milliseconds.
   * @default `OTEL_METRIC_EXPORT_INTERVAL`, else 60000
   */
  readonly metricExportIntervalMs?: number;
  /**
   * Span processors to use instead of the OTLP exporter chosen by `OTEL_TRACES_EXPORTER`
   * (`[]` turns tracing off). @default from the environment: a batch processor with an OTLP exporter
   */
  readonly spanProcessors?: NodeSDKConfiguration['spanProcessors'];
  /** Metric readers to use instead of `OTEL_METRICS_EXPORTER`'s (`[]` turns metrics off). @default from the environment */
  readonly metricReaders?: NodeSDKConfiguration['metricReaders'];
  /** Log record processors to use instead of `OTEL_LOGS_EXPORTER`'s (`[]` turns logs off). @default from the environment */
  readonly logRecordProcessors?: NodeSDKConfiguration['logRecordProcessors'];
  /**
   * Instrumentations to register. None by default: `createClaudeFetch` records the HTTP attempts itself,
   * and an HTTP client instrumentation (undici, http) would record them a second time.
   * @default []
   */
  readonly instrumentations?: NodeSDKConfiguration['instrumentations'];
}

/** What {@link setup} returns. */
export interface OtelHandle {
  /** Exports everything recorded so far (spans, metrics, logs). Never rejects. */
  forceFlush(): Promise<void>;
  /** Flushes and stops the SDK. Idempotent; never rejects. */
  shutdown(): Promise<void>;
}

interface Flushable {
  forceFlush?: () => Promise<void>;
  getDelegate?: () => unknown;
}

let active: OtelHandle | undefined;

/**
 * Starts the OpenTelemetry Node SDK (traces, metrics and logs over OTLP) for this process and registers it
 * globally. A second call returns the handle of the first. With `OTEL_SDK_DISABLED=true` nothing starts and
 * the handle does nothing.
 *
 * The standard variables apply: `OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_EXPORTER_OTLP_PROTOCOL` (default
 * `http/protobuf`), `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_{TRACES,METRICS,LOGS}_EXPORTER` (`otlp`, `console`,
 * `none`), `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER`, `OTEL_METRIC_EXPORT_INTERVAL`,
 * `OTEL_BSP_*`, `OTEL_LOG_LEVEL`.
 *
 * @throws TypeError when an option is invalid.
 */
export function setup(options: SetupOptions = {}): OtelHandle {
  if (active) return active;
  validate(options);
  const env = process.env;
  const serviceName = options.serviceName ?? (hasServiceNameInEnv(env) ? undefined : defaultServiceName(env));
  const resourceAttributes: Attributes = { ...options.resourceAttributes };
  const version = options.serviceVersion ?? env.npm_package_version;
  if (version !== undefined && resourceAttributes['service.version'] === undefined) {
    resourceAttributes['service.version'] = version;
  }

  // The SDK reads its exporters' settings and the resource from the environment while it is built and
  // started; options that stand for a variable are applied as that variable's value for that time only
  // (a variable the user set wins, except that resourceAttributes are appended to OTEL_RESOURCE_ATTRIBUTES).
  const overrides: Record<string, string> = {};
  if (options.endpoint !== undefined && env.OTEL_EXPORTER_OTLP_ENDPOINT === undefined) {
    overrides.OTEL_EXPORTER_OTLP_ENDPOINT = options.endpoint;
  }
  if (options.metricExportIntervalMs !== undefined && env.OTEL_METRIC_EXPORT_INTERVAL === undefined) {
    overrides.OTEL_METRIC_EXPORT_INTERVAL = String(options.metricExportIntervalMs);
  }
  const extra = encodeResourceAttributes(resourceAttributes);
  if (extra)
    overrides.OTEL_RESOURCE_ATTRIBUTES = env.OTEL_RESOURCE_ATTRIBUTES
      ? `${env.OTEL_RESOURCE_ATTRIBUTES},${extra}`
      : extra;
  const sdk = withEnv(overrides, () => {
    const created = new NodeSDK({
      ...(serviceName === undefined ? {} : { serviceName }),
      ...(options.spanProcessors ? { spanProcessors: options.spanProcessors } : {}),
      ...(options.metricReaders ? { metricReaders: options.metricReaders } : {}),
      ...(options.logRecordProcessors ? { logRecordProcessors: options.logRecordProcessors } : {}),
      instrumentations: options.instrumentations ?? [],
    });
    created.start();
    return created;
  });

  let stopped: Promise<void> | undefined;
  const handle: OtelHandle = {
    forceFlush: () => flushAll(),
    shutdown: () => {
      // The providers' shutdown exports what they still hold.
      stopped ??= sdk
        .shutdown()
        .catch((error: unknown) =>
          diag.error('claude-otel-middleware: OpenTelemetry SDK shutdown failed', error),
        )
        .finally(() => {
          if (active === handle) active = undefined;
        });
      return stopped;
    },
  };
  active = handle;
  return handle;
}

async function flushAll(): Promise<void> {
  const providers: unknown[] = [api.trace.getTracerProvider(), api.metrics.getMeterProvider()];
  if ('logs' in api && api.logs) providers.push(api.logs.getLoggerProvider());
  await Promise.all(
    providers.map(async (provider) => {
      const target = unwrap(provider);
      if (typeof target?.forceFlush !== 'function') return;
      try {
        await target.forceFlush();
      } catch (error) {
        diag.warn('claude-otel-middleware: OpenTelemetry flush failed', error);
      }
    }),
  );
}

function unwrap(provider: unknown): Flushable | undefined {
  if (typeof provider !== 'object' || provider === null) return undefined;
  const flushable = provider as Flushable;
  if (typeof flushable.forceFlush === 'function') return flushable;
  if (typeof flushable.getDelegate === 'function') return unwrap(flushable.getDelegate());
  return undefined;
}

function withEnv<T>(values: Record<string, string>, build: () => T): T {
  const env = process.env;
  const saved = Object.keys(values).map((key) => [key, env[key]] as const);
  Object.assign(env, values);
  try {
    return build();
  } finally {
    for (const [key, value] of saved) {
      if (value === undefined) delete env[key];
      else env[key] = value;
    }
  }
}

/** `OTEL_RESOURCE_ATTRIBUTES` syntax: comma-separated `key=value`, values percent-encoded. */
function encodeResourceAttributes(attributes: Attributes): string {
  return Object.entries(attributes)
    .filter(([, value]) => value !== undefined && value !== null)
    .map(([key, value]) => `${key}=${encodeURIComponent(String(value))}`)
    .join(',');
}

function hasServiceNameInEnv(env: NodeJS.ProcessEnv): boolean {
  if (env.OTEL_SERVICE_NAME) return true;
  return (env.OTEL_RESOURCE_ATTRIBUTES ?? '')
    .split(',')
    .some((pair) => pair.trim().startsWith('service.name='));
}

/** The service name used when neither the options nor the environment give one. */
export function defaultServiceName(
  env: NodeJS.ProcessEnv = process.env,
  argv: readonly string[] = process.argv,
): string {
  if (env.npm_package_name) return env.npm_package_name;
  const main = argv[1];
  if (main) {
    const name = basename(main, extname(main));
    if (name && name !== 'index' && name !== 'main') return name;
  }
  return 'claude-app';
}

function validate(options: SetupOptions): void {
  checkOptions(SETUP_OPTIONS, options);
  if (options.endpoint !== undefined && !URL.canParse(options.endpoint)) {
    throw new ClaudeOtelOptionsError(
      'endpoint',
      show(options.endpoint),
      'a URL such as http://localhost:4318',
    );
  }
}

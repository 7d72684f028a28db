/**
 * The tracer, the metric instruments and the guard that keeps telemetry failures away from requests.
 */
import {
  type Attributes,
  type Counter,
  diag,
  type Histogram,
  type Meter,
  type MeterProvider,
  metrics,
  type Tracer,
  type TracerProvider,
  trace,
} from '@opentelemetry/api';
import { VERSION } from '../version.js';
import { CardinalityGuard } from './cardinality.js';
import { EventLog, type EventLogConfig } from './logging.js';
import { A, INSTRUMENTATION_SCOPE, METRICS, type MetricSpec } from './names.js';

/** The instruments of {@link METRICS}. */
export interface Instruments {
  readonly operationDuration: Histogram;
  readonly tokenUsage: Histogram;
  readonly timeToFirstChunk: Histogram;
  readonly cacheTokens: Counter;
  readonly attempts: Counter;
  readonly attemptDuration: Histogram;
  readonly instrumentationErrors: Counter;
  readonly retries: Counter;
  readonly retryDelay: Histogram;
  readonly retryBudgetExhausted: Counter;
  readonly breakerTransitions: Counter;
  readonly breakerRejections: Counter;
  readonly breakerWait: Histogram;
  readonly timeouts: Counter;
  readonly fallbacks: Counter;
  readonly cacheLookups: Counter;
  readonly resumptions: Counter;
  readonly throttleWaits: Counter;
  readonly throttleDelay: Histogram;
  readonly storeErrors: Counter;
}

/** Breaker states by key, observed by the state gauge. */
export type BreakerStates = Map<string, { value: number; attributes: Attributes }>;

/** A histogram whose records go through `guard`. */
function histogram(meter: Meter, guard: CardinalityGuard, spec: MetricSpec): Histogram {
  const instrument = meter.createHistogram(spec.name, {
    unit: spec.unit,
    description: spec.brief,
    advice: spec.buckets ? { explicitBucketBoundaries: [...spec.buckets] } : undefined,
  });
  return {
    record: (value, attributes, context) => instrument.record(value, guard.bound(attributes), context),
  };
}

/** A counter whose records go through `guard`. */
function counter(meter: Meter, guard: CardinalityGuard, spec: MetricSpec): Counter {
  const instrument = meter.createCounter(spec.name, { unit: spec.unit, description: spec.brief });
  return { add: (value, attributes, context) => instrument.add(value, guard.bound(attributes), context) };
}

/** Last rate-limit headroom seen, by resource and region: observed at collection time, not per request. */
type Headroom = Map<string, Map<string, { value: number; attributes: Attributes }>>;

function createInstruments(
  meter: Meter,
  headroom: Headroom,
  breakers: BreakerStates,
  regions: BreakerStates,
  cardinality: CardinalityGuard,
  stores: BreakerStates,
): Instruments {
  const gauge = (
    spec: MetricSpec,
    entries: () => Iterable<{ value: number; attributes: Attributes }>,
  ): void => {
    meter
      .createObservableGauge(spec.name, { unit: spec.unit, description: spec.brief })
      .addCallback((result) => {
        for (const { value, attributes } of entries()) result.observe(value, attributes);
      });
  };
  gauge(METRICS.BREAKER_STATE, () => breakers.values());
  gauge(METRICS.REGION_HEALTH, () => regions.values());
  gauge(METRICS.STORE_STATE, () => stores.values());
  gauge(METRICS.RATELIMIT_REMAINING, function* () {
    for (const byResource of headroom.values()) yield* byResource.values();
  });
  return {
    operationDuration: histogram(meter, cardinality, METRICS.OPERATION_DURATION),
    tokenUsage: histogram(meter, cardinality, METRICS.TOKEN_USAGE),
    timeToFirstChunk: histogram(meter, cardinality, METRICS.TIME_TO_FIRST_CHUNK),
    cacheTokens: counter(meter, cardinality, METRICS.CACHE_TOKENS),
    attempts: counter(meter, cardinality, METRICS.ATTEMPTS),
    attemptDuration: histogram(meter, cardinality, METRICS.ATTEMPT_DURATION),
    instrumentationErrors: counter(meter, cardinality, METRICS.INSTRUMENTATION_ERRORS),
    retries: counter(meter, cardinality, METRICS.RETRIES),
    retryDelay: histogram(meter, cardinality, METRICS.RETRY_DELAY),
    retryBudgetExhausted: counter(meter, cardinality, METRICS.RETRY_BUDGET_EXHAUSTED),
    breakerTransitions: counter(meter, cardinality, METRICS.BREAKER_TRANSITIONS),
    breakerRejections: counter(meter, cardinality, METRICS.BREAKER_REJECTIONS),
    breakerWait: histogram(meter, cardinality, METRICS.BREAKER_WAIT_DURATION),
    timeouts: counter(meter, cardinality, METRICS.TIMEOUTS),
    fallbacks: counter(meter, cardinality, METRICS.FALLBACKS),
    cacheLookups: counter(meter, cardinality, METRICS.CACHE_LOOKUPS),
    resumptions: counter(meter, cardinality, METRICS.RESUMPTIONS),
    throttleWaits: counter(meter, cardinality, METRICS.THROTTLE_WAITS),
    throttleDelay: histogram(meter, cardinality, METRICS.THROTTLE_DELAY),
    storeErrors: counter(meter, cardinality, METRICS.STORE_ERRORS),
  };
}

/** Telemetry plumbing shared by every attempt of one `createClaudeFetch` instance. */
export class Telemetry {
  readonly tracer: Tracer;
  private cachedProvider: MeterProvider | undefined;
  private cachedInstruments: Instruments | undefined;
  private readonly warned = new Set<string>();
  /** Bounds the metric attributes whose values come from outside (models, error types, …). */
  readonly cardinality = new CardinalityGuard();
  private readonly headroom: Headroom = new Map();
  /** Breaker states by key, for the state gauge. */
  readonly breakerStates: BreakerStates = new Map();
  /** Region health by name (1 healthy, 0 unhealthy), for the region health gauge. */
  readonly regionStates: BreakerStates = new Map();
  /** Fleet store state (1 shared, 0 degraded to local), for the store state gauge. */
  readonly storeStates: BreakerStates = new Map();

  /** The structured log events (pino logger and OTLP log records). */
  readonly log: EventLog;

  constructor(
    tracerProvider: TracerProvider | undefined,
    private readonly meterProvider: MeterProvider | undefined,
    logging?: EventLogConfig,
  ) {
    // The global tracer provider is a proxy: a tracer taken now follows an SDK registered later.
    this.tracer = (tracerProvider ?? trace.getTracerProvider()).getTracer(INSTRUMENTATION_SCOPE, VERSION);
    this.log = new EventLog({ ...logging, onError: (step, error) => this.failed(step, error) });
  }

  /**
   * The instruments. The global meter provider is not a proxy, so it is looked up again on each
   * call and the instruments are rebuilt when an application registers its SDK after creating the fetch.
   */
  get instruments(): Instruments {
    const provider = this.meterProvider ?? metrics.getMeterProvider();
    if (provider !== this.cachedProvider || this.cachedInstruments === undefined) {
      this.cachedInstruments = createInstruments(
        provider.getMeter(INSTRUMENTATION_SCOPE, VERSION),
        this.headroom,
        this.breakerStates,
        this.regionStates,
        this.cardinality,
        this.storeStates,
      );
      this.cachedProvider = provider;
    }
    return this.cachedInstruments;
  }

  /** Remembers the last `remaining` value of a rate-limit resource in a region, for the gauge. */
  recordHeadroom(resource: string, region: string, value: number): void {
    let byResource = this.headroom.get(region);
    if (byResource === undefined) {
      if (this.headroom.size >= 256) return;
      byResource = new Map();
      this.headroom.set(region, byResource);
    }
    const entry = byResource.get(resource);
    if (entry !== undefined) {
      entry.value = value;
    } else {
      byResource.set(resource, {
        value,
        attributes: { [A.ANTHROPIC_RATELIMIT_RESOURCE]: resource, [A.ANTHROPIC_REGION]: region },
      });
    }
  }

  /**
   * Runs a telemetry step. What it throws is caught, counted on
   * `anthropic.client.instrumentation.errors`, reported once per step through the OpenTelemetry
   * diagnostic logger, and the request goes on.
   */
  safely<T>(step: string, fn: () => T): T | undefined {
    try {
      return fn();
    } catch (error) {
      this.failed(step, error);
      return undefined;
    }
  }

  /** Records a caught telemetry failure. */
  failed(step: string, error: unknown): void {
    try {
      const attributes: Attributes = { [A.ANTHROPIC_INSTRUMENTATION_STEP]: step };
      this.instruments.instrumentationErrors.add(1, attributes);
      if (!this.warned.has(step)) {
        this.warned.add(step);
        diag.warn(`claude-otel-middleware: telemetry step "${step}" failed; the request went on`, error);
      }
    } catch {
      // Nothing more can be done without risking the request.
    }
  }
}

/**
 * The demo's figures, read from the library's own telemetry: a span processor sees the operation
 * spans (one per request: attempts, outcome, duration) and the attempt spans (the region each went
 * to); a metric reader collected on demand reads the counters (attempts, retries by reason,
 * fallbacks by kind, breaker transitions and states, resumptions, timeouts, tokens).
 */
import type { MetricReader, ResourceMetrics } from '@opentelemetry/sdk-metrics';
import type { ReadableSpan, SpanProcessor } from '@opentelemetry/sdk-trace';
import { INSTRUMENTATION_SCOPE, METRICS } from '../telemetry/names.js';
import type { OtelSdk } from './deps.js';
import { TraceSampler } from './traces.js';

const OPERATION_ATTEMPTS = 'anthropic.operation.attempts';
const REGION = 'anthropic.region';
const ERROR_TYPE = 'error.type';
const PROBE = 'anthropic.region.probe';
const STATUS_ERROR = 2;
const SPAN_KIND_CLIENT = 2;

/** What the progress line shows. */
export interface Progress {
  elapsedS: number;
  requests: number;
  succeeded: number;
  retries: number;
  /** Breaker state by key (`closed`, `half_open`, `open`). */
  breakers: Record<string, string>;
  /** Region of the latest attempt. */
  region: string | undefined;
}

/** The end-of-run figures. */
export interface Summary {
  elapsedS: number;
  /** Operations (one per SDK call) that ended. */
  requests: number;
  succeeded: number;
  /** Failed requests by `error.type`. */
  failures: Record<string, number>;
  /** HTTP attempts sent (breaker rejections and cached answers send none). */
  attempts: number;
  /** Attempts by region. */
  attemptsByRegion: Record<string, number>;
  retries: Record<string, number>;
  retryBudgetExhausted: number;
  fallbacks: Record<string, number>;
  /** `key: from → to` → count. */
  breakerTransitions: Record<string, number>;
  breakerRejections: number;
  resumptions: Record<string, number>;
  timeouts: Record<string, number>;
  cacheLookups: Record<string, number>;
  latencyMs: { p50: number; p95: number; p99: number };
  tokens: { input: number; output: number };
}

interface Point {
  attributes: Record<string, unknown>;
  value: unknown;
}

/** Nearest-rank percentile of `sorted` (ascending); NaN when empty. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] as number;
}

const BREAKER_STATES = ['closed', 'half_open', 'open'];

/** Reads the library's telemetry for the demo. Create with {@link createDemoTelemetry}. */
export class DemoTelemetry {
  readonly startedAt = performance.now();
  private readonly durationsMs: number[] = [];
  private operations = 0;
  private okOperations = 0;
  private readonly failures = new Map<string, number>();
  private lastRegion: string | undefined;
  /** The first trace of each kind the run showed (retry, failover, fallback, resumption, cache hit). */
  readonly traces = new TraceSampler();

  /** Add to the tracer provider's span processors. */
  readonly spanProcessor: SpanProcessor;

  constructor(
    /** Add to the meter provider's readers. */
    readonly metricReader: MetricReader,
  ) {
    this.spanProcessor = {
      onStart: () => undefined,
      onEnd: (span) => this.onEnd(span),
      forceFlush: async () => undefined,
      shutdown: async () => undefined,
    };
  }

  private onEnd(span: ReadableSpan): void {
    if (span.instrumentationScope.name !== INSTRUMENTATION_SCOPE) return;
    this.traces.onEnd(span);
    const attributes = span.attributes;
    if (attributes[OPERATION_ATTEMPTS] !== undefined) {
      this.operations++;
      const [s, ns] = span.duration;
      this.durationsMs.push(s * 1000 + ns / 1e6);
      const errorType = attributes[ERROR_TYPE];
      if (span.status.code !== STATUS_ERROR && errorType === undefined) this.okOperations++;
      else {
        const key = typeof errorType === 'string' ? errorType : 'error';
        this.failures.set(key, (this.failures.get(key) ?? 0) + 1);
      }
      return;
    }
    if (span.kind === SPAN_KIND_CLIENT && span.name !== PROBE && attributes['anthropic.probe'] !== true) {
      const region = attributes[REGION];
      if (typeof region === 'string') this.lastRegion = region;
    }
  }

  private async collect(): Promise<Map<string, Point[]>> {
    const out = new Map<string, Point[]>();
    let resourceMetrics: ResourceMetrics;
    try {
      ({ resourceMetrics } = await this.metricReader.collect());
    } catch {
      return out;
    }
    for (const scope of resourceMetrics.scopeMetrics) {
      if (scope.scope.name !== INSTRUMENTATION_SCOPE) continue;
      for (const metric of scope.metrics) {
        const points = out.get(metric.descriptor.name) ?? [];
        for (const p of metric.dataPoints) {
          points.push({ attributes: p.attributes as Record<string, unknown>, value: p.value });
        }
        out.set(metric.descriptor.name, points);
      }
    }
    return out;
  }

  private elapsedS(): number {
    return (performance.now() - this.startedAt) / 1000;
  }

  /** The figures of the progress line. */
  async progress(): Promise<Progress> {
    const m = await this.collect();
    const breakers: Record<string, string> = {};
    for (const p of m.get(METRICS.BREAKER_STATE.name) ?? []) {
      const key = p.attributes['anthropic.circuit_breaker.key'];
      if (typeof key === 'string') breakers[key] = BREAKER_STATES[Number(p.value)] ?? String(p.value);
    }
    return {
      elapsedS: this.elapsedS(),
      requests: this.operations,
      succeeded: this.okOperations,
      retries: sum(m.get(METRICS.RETRIES.name)),
      breakers,
      region: this.lastRegion,
    };
  }

  /** The end-of-run figures. */
  async summary(): Promise<Summary> {
    const m = await this.collect();
    const sorted = [...this.durationsMs].sort((a, b) => a - b);
    const transitions: Record<string, number> = {};
    for (const p of m.get(METRICS.BREAKER_TRANSITIONS.name) ?? []) {
      const a = p.attributes;
      const key = `${String(a['anthropic.circuit_breaker.key'])}: ${String(a['anthropic.circuit_breaker.from'])} → ${String(a['anthropic.circuit_breaker.to'])}`;
      transitions[key] = (transitions[key] ?? 0) + Number(p.value);
    }
    const tokens = { input: 0, output: 0 };
    for (const p of m.get(METRICS.TOKEN_USAGE.name) ?? []) {
      const type = p.attributes['gen_ai.token.type'];
      const value = (p.value as { sum?: number }).sum ?? 0;
      if (type === 'input') tokens.input += value;
      else if (type === 'output') tokens.output += value;
    }
    return {
      elapsedS: this.elapsedS(),
      requests: this.operations,
      succeeded: this.okOperations,
      failures: Object.fromEntries(this.failures),
      attempts: sum(m.get(METRICS.ATTEMPTS.name)),
      attemptsByRegion: byAttribute(m.get(METRICS.ATTEMPTS.name), REGION),
      retries: byAttribute(m.get(METRICS.RETRIES.name), ERROR_TYPE),
      retryBudgetExhausted: sum(m.get(METRICS.RETRY_BUDGET_EXHAUSTED.name)),
      fallbacks: byAttribute(m.get(METRICS.FALLBACKS.name), 'anthropic.fallback.kind'),
      breakerTransitions: transitions,
      breakerRejections: sum(m.get(METRICS.BREAKER_REJECTIONS.name)),
      resumptions: byAttribute(m.get(METRICS.RESUMPTIONS.name), 'anthropic.stream.resume.outcome'),
      timeouts: byAttribute(m.get(METRICS.TIMEOUTS.name), 'anthropic.timeout.kind'),
      cacheLookups: byAttribute(m.get(METRICS.CACHE_LOOKUPS.name), 'anthropic.cache.result'),
      latencyMs: { p50: percentile(sorted, 50), p95: percentile(sorted, 95), p99: percentile(sorted, 99) },
      tokens,
    };
  }
}

function sum(points: Point[] | undefined): number {
  let total = 0;
  for (const p of points ?? []) if (typeof p.value === 'number') total += p.value;
  return total;
}

function byAttribute(points: Point[] | undefined, attribute: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const p of points ?? []) {
    if (typeof p.value !== 'number' || p.value === 0) continue;
    const key = String(p.attributes[attribute] ?? 'unknown');
    out[key] = (out[key] ?? 0) + p.value;
  }
  return out;
}

/** A {@link DemoTelemetry} with a metric reader collected on demand. */
export function createDemoTelemetry(sdk: OtelSdk): DemoTelemetry {
  class OnDemandReader extends sdk.metrics.MetricReader {
    protected override async onShutdown(): Promise<void> {}
    protected override async onForceFlush(): Promise<void> {}
  }
  return new DemoTelemetry(new OnDemandReader());
}

// ---------------------------------------------------------------------------------------------
// Rendering

const fmtInt = (n: number): string => Math.round(n).toLocaleString('en-US');

export function formatMs(ms: number): string {
  if (!Number.isFinite(ms)) return '—';
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)} s`;
  return `${Math.round(ms)} ms`;
}

function list(record: Record<string, number>, empty = '0'): string {
  const entries = Object.entries(record).sort((a, b) => b[1] - a[1]);
  if (entries.length === 0) return empty;
  const total = entries.reduce((acc, [, n]) => acc + n, 0);
  return `${fmtInt(total)}  (${entries.map(([k, n]) => `${k} ${fmtInt(n)}`).join(', ')})`;
}

const STATE_SHORT: Record<string, string> = { closed: 'closed', half_open: 'half-open', open: 'OPEN' };

/** One line: time, requests, success rate, retries, current region, breakers not closed. */
export function formatProgress(p: Progress, durationS: number | undefined): string {
  const rate = p.requests === 0 ? '—' : `${((100 * p.succeeded) / p.requests).toFixed(1)} %`;
  const breakers = Object.entries(p.breakers)
    .filter(([, state]) => state !== 'closed')
    .map(([key, state]) => `${key} ${STATE_SHORT[state] ?? state}`);
  const time =
    durationS === undefined
      ? `${p.elapsedS.toFixed(1)}s`
      : p.elapsedS > durationS
        ? `${durationS}/${durationS}s, finishing`
        : `${p.elapsedS.toFixed(1)}/${durationS}s`;
  return [
    time,
    `requests ${p.requests}`,
    `ok ${rate}`,
    `retries ${p.retries}`,
    `region ${p.region ?? '—'}`,
    `breakers ${breakers.length === 0 ? 'all closed' : breakers.join(', ')}`,
  ].join(' │ ');
}

/** One row per breaker: `primary|claude-sonnet-4-6   closed → open 1, open → half_open 2, …`. */
function breakerRows(transitions: Record<string, number>): Array<[string, string]> {
  const byKey = new Map<string, string[]>();
  for (const [label, n] of Object.entries(transitions)) {
    const cut = label.lastIndexOf(': ');
    const key = label.slice(0, cut);
    const parts = byKey.get(key) ?? [];
    parts.push(`${label.slice(cut + 2)} ${fmtInt(n)}`);
    byKey.set(key, parts);
  }
  if (byKey.size === 0) return [['breaker transitions', '0']];
  const total = Object.values(transitions).reduce((a, b) => a + b, 0);
  return [
    ['breaker transitions', fmtInt(total)],
    ...[...byKey].map(([key, parts]): [string, string] => [`  ${key}`, parts.join(', ')]),
  ];
}

/** The summary table. */
export function formatSummary(s: Summary, title: string): string {
  const pct = s.requests === 0 ? '—' : `${((100 * s.succeeded) / s.requests).toFixed(1)} %`;
  const perRequest = s.requests === 0 ? '—' : (s.attempts / s.requests).toFixed(2);
  const rows: Array<[string, string]> = [
    ['requests', fmtInt(s.requests)],
    ['succeeded', `${fmtInt(s.succeeded)}  (${pct})`],
    ['failed', list(s.failures)],
    ['HTTP attempts', `${fmtInt(s.attempts)}  (${perRequest} per request)`],
    ['attempts by region', list(s.attemptsByRegion)],
    ['retries by reason', list(s.retries)],
    ['retry budget refusals', fmtInt(s.retryBudgetExhausted)],
    ['fallbacks by kind', list(s.fallbacks)],
    ...breakerRows(s.breakerTransitions),
    ['breaker rejections', fmtInt(s.breakerRejections)],
    ['stream resumptions', list(s.resumptions)],
    ['timeouts', list(s.timeouts)],
    ['cache lookups', list(s.cacheLookups)],
    [
      'latency',
      `p50 ${formatMs(s.latencyMs.p50)}   p95 ${formatMs(s.latencyMs.p95)}   p99 ${formatMs(s.latencyMs.p99)}`,
    ],
    ['tokens', `input ${fmtInt(s.tokens.input)}   output ${fmtInt(s.tokens.output)}`],
    ['elapsed', `${s.elapsedS.toFixed(1)} s`],
  ];
  const width = Math.max(...rows.map(([label]) => label.length));
  const line = '─'.repeat(Math.min(100, width + 60));
  return [title, line, ...rows.map(([label, value]) => `  ${label.padEnd(width)}   ${value}`), line].join(
    '\n',
  );
}

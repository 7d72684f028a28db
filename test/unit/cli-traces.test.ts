/**
 * The demo's trace sampler and tree printer, on spans made by the real OpenTelemetry SDK: which
 * traces are kept (the simplest of each kind, never a failed one), and how a tree prints.
 */
import { context, type Span, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { TracerProvider } from '@opentelemetry/sdk-trace';
import { describe, expect, it } from 'vitest';
import { formatTrace, formatTraces, kindsOf, TraceSampler } from '../../src/cli/traces.js';
import { INSTRUMENTATION_SCOPE } from '../../src/telemetry/names.js';

function harness() {
  const sampler = new TraceSampler();
  const provider = new TracerProvider({
    spanProcessors: [
      {
        onStart: () => undefined,
        onEnd: (s) => sampler.onEnd(s),
        forceFlush: async () => {},
        shutdown: async () => {},
      },
    ],
  });
  const tracer = provider.getTracer(INSTRUMENTATION_SCOPE);
  // The test's clock: every start, event and end gets the next millisecond. The SDK's own times are
  // not comparable across spans at sub-millisecond scale (a span starts at Date.now(), whole
  // milliseconds; an event is its span's start plus performance.now() since), so an event added
  // after a child span could sort before it when the child started in the next millisecond.
  let now = Date.UTC(2026, 0, 1);
  const tick = (): Date => new Date(now++);
  /** One operation: attempts as [region, status] and the operation span's events. */
  const operation = (
    attempts: Array<[string, number]>,
    events: Array<[string, Record<string, string>]> = [],
    failed = false,
  ): Span => {
    const op = tracer.startSpan('chat claude-sonnet-4-6', {
      kind: SpanKind.INTERNAL,
      attributes: { 'anthropic.operation.attempts': attempts.length },
      startTime: tick(),
    });
    const ctx = trace.setSpan(context.active(), op);
    attempts.forEach(([region, status], i) => {
      const a = tracer.startSpan(
        'POST /v1/messages',
        {
          kind: SpanKind.CLIENT,
          attributes: {
            'anthropic.region': region,
            'http.request.resend_count': i,
            'http.response.status_code': status,
          },
          startTime: tick(),
        },
        ctx,
      );
      a.end(tick());
    });
    for (const [name, attributes] of events) op.addEvent(name, attributes, tick());
    if (failed) op.setStatus({ code: SpanStatusCode.ERROR });
    op.end(tick());
    return op;
  };
  return { sampler, operation };
}

const retry: [string, Record<string, string>] = [
  'anthropic.retry.scheduled',
  { 'error.type': 'overloaded_error' },
];
const failover: [string, Record<string, string>] = [
  'anthropic.fallback',
  { 'anthropic.fallback.kind': 'region' },
];
const model: [string, Record<string, string>] = [
  'anthropic.fallback',
  { 'anthropic.fallback.kind': 'model' },
];

describe('the demo trace sampler', () => {
  it('keeps one trace per kind, the one showing the fewest other kinds, and never a failed one', () => {
    const { sampler, operation } = harness();
    operation(
      [
        ['primary', 529],
        ['primary', 529],
      ],
      [retry],
      true,
    ); // failed: not an example
    expect(sampler.traces()).toEqual([]);
    operation(
      [
        ['primary', 529],
        ['secondary', 529],
        ['secondary', 200],
      ],
      [retry, failover, retry, model],
    );
    expect(sampler.traces().map((t) => t.kind)).toEqual(['retry', 'failover', 'model fallback']);
    const pure = operation(
      [
        ['primary', 529],
        ['primary', 200],
      ],
      [retry],
    );
    const kept = sampler.traces().find((t) => t.kind === 'retry');
    expect(kept?.spans.map((s) => s.spanContext().spanId)).toContain(pure.spanContext().spanId);
    expect(sampler.missing()).toEqual(['resumed stream', 'cache hit']);
  });

  it('reads the kinds from the span events', () => {
    const { sampler, operation } = harness();
    operation([], [['anthropic.fallback', { 'anthropic.fallback.kind': 'cache' }]]);
    operation(
      [
        ['primary', 200],
        ['primary', 200],
      ],
      [['anthropic.stream.resumption', { 'anthropic.stream.resume.outcome': 'resumed' }]],
    );
    const traces = sampler.traces();
    expect(traces.map((t) => t.kind)).toEqual(['resumed stream', 'cache hit']);
    expect(kindsOf(traces[0]?.spans ?? [])).toEqual(['resumed stream']);
  });

  it('prints a tree: the operation span, then its attempts and events in time order', () => {
    const { sampler, operation } = harness();
    operation(
      [
        ['primary', 529],
        ['primary', 200],
      ],
      [retry],
    );
    const [kept] = sampler.traces();
    const lines = formatTrace(kept?.spans ?? []).split('\n');
    expect(lines[0]).toMatch(/^chat claude-sonnet-4-6 {2}\(INTERNAL\) {2}ok /);
    expect(lines[1]).toMatch(/^├── POST \/v1\/messages {2}region=primary {2}resend_count=0 {2}529 /);
    expect(lines[2]).toMatch(/^├── POST \/v1\/messages {2}region=primary {2}resend_count=1 {2}200 /);
    expect(lines[3]).toBe('└── · anthropic.retry.scheduled  error.type=overloaded_error');
    expect(formatTraces(sampler)).toMatch(/^A retried call — trace [0-9a-f]{32}\n {2}chat /);
    expect(formatTraces(sampler)).toMatch(
      /\(no trace of this run showed: failover, model fallback, resumed stream, cache hit\)$/,
    );
  });
});

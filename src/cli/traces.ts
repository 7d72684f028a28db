/**
 * A few of the demo run's own traces, kept by an in-process span processor and printed as trees —
 * what a trace backend would show, without one: the first retried call, failover, model fallback,
 * resumed stream and cache hit of the run. Spans are held per trace until the trace's root ends,
 * then dropped unless the trace is the first of a kind not kept yet, so memory stays bounded.
 */
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { ATTRIBUTES, EVENTS, INSTRUMENTATION_SCOPE } from '../telemetry/names.js';

/** The kinds of trace the demo shows, in the order it prints them. */
export const TRACE_KINDS = ['retry', 'failover', 'model fallback', 'resumed stream', 'cache hit'] as const;
export type TraceKind = (typeof TRACE_KINDS)[number];

const TITLES: Record<TraceKind, string> = {
  retry: 'A retried call',
  failover: 'A failover to the other region',
  'model fallback': 'A model fallback',
  'resumed stream': 'A resumed stream',
  'cache hit': 'A cached answer, served when everything else failed',
};

/** Spans held for traces whose root has not ended yet; past it, new traces are not followed. */
const MAX_PENDING_SPANS = 20_000;
const STATUS_ERROR = 2;
const KIND_NAMES = ['INTERNAL', 'SERVER', 'CLIENT', 'PRODUCER', 'CONSUMER'];

function parentOf(span: ReadableSpan): string | undefined {
  return span.parentSpanContext?.spanId;
}

/** The root of our part of a trace: the operation span (its parent, if any, is the SDK's call span). */
function isRoot(span: ReadableSpan): boolean {
  return (
    span.attributes[ATTRIBUTES.ANTHROPIC_OPERATION_ATTEMPTS.name] !== undefined ||
    parentOf(span) === undefined
  );
}

function hasEvent(spans: readonly ReadableSpan[], name: string, attribute?: [string, unknown]): boolean {
  return spans.some((s) =>
    s.events.some((e) => e.name === name && (!attribute || e.attributes?.[attribute[0]] === attribute[1])),
  );
}

/** The kinds a finished trace shows (a trace may show several). */
export function kindsOf(spans: readonly ReadableSpan[]): TraceKind[] {
  const root = spans.find(isRoot);
  if (!root || root.status.code === STATUS_ERROR) return [];
  const kinds: TraceKind[] = [];
  const fallback = EVENTS.FALLBACK.name;
  const kind = ATTRIBUTES.ANTHROPIC_FALLBACK_KIND.name;
  if (hasEvent(spans, EVENTS.RETRY_SCHEDULED.name)) kinds.push('retry');
  if (hasEvent(spans, fallback, [kind, 'region'])) kinds.push('failover');
  if (hasEvent(spans, fallback, [kind, 'model'])) kinds.push('model fallback');
  if (hasEvent(spans, EVENTS.STREAM_RESUMPTION.name, [ATTRIBUTES.ANTHROPIC_RESUME_OUTCOME.name, 'resumed'])) {
    kinds.push('resumed stream');
  }
  if (
    hasEvent(spans, fallback, [kind, 'cache']) ||
    root.attributes[ATTRIBUTES.ANTHROPIC_CACHE_HIT.name] === true
  ) {
    kinds.push('cache hit');
  }
  return kinds;
}

/** Keeps the first trace of each {@link TraceKind}. Feed it every ended span. */
export class TraceSampler {
  private readonly pending = new Map<string, ReadableSpan[]>();
  private pendingSpans = 0;
  private readonly kept = new Map<TraceKind, ReadableSpan[]>();

  onEnd(span: ReadableSpan): void {
    if (span.instrumentationScope.name !== INSTRUMENTATION_SCOPE) return;
    const traceId = span.spanContext().traceId;
    for (const spans of new Set(this.kept.values())) {
      // A child that ends after its root (a body read late) joins the kept trace.
      if (spans[0]?.spanContext().traceId === traceId) {
        spans.push(span);
        return;
      }
    }
    let spans = this.pending.get(traceId);
    if (!spans) {
      if (this.pendingSpans >= MAX_PENDING_SPANS) return;
      spans = [];
      this.pending.set(traceId, spans);
    }
    spans.push(span);
    this.pendingSpans++;
    if (!isRoot(span)) return;
    this.pending.delete(traceId);
    this.pendingSpans -= spans.length;
    // Per kind, the simplest trace that shows it: fewest other kinds, then fewest spans.
    const kinds = kindsOf(spans);
    for (const kind of kinds) {
      const kept = this.kept.get(kind);
      const keptKinds = kept ? kindsOf(kept).length : Number.POSITIVE_INFINITY;
      if (kinds.length < keptKinds || (kinds.length === keptKinds && spans.length < (kept?.length ?? 0))) {
        this.kept.set(kind, spans);
      }
    }
  }

  /** The kept traces, in {@link TRACE_KINDS} order. */
  traces(): Array<{ kind: TraceKind; spans: readonly ReadableSpan[] }> {
    return TRACE_KINDS.filter((k) => this.kept.has(k)).map((kind) => ({
      kind,
      spans: this.kept.get(kind) as ReadableSpan[],
    }));
  }

  /** The kinds no trace of the run showed. */
  missing(): TraceKind[] {
    return TRACE_KINDS.filter((k) => !this.kept.has(k));
  }
}

const ms = (t: [number, number]): number => t[0] * 1000 + t[1] / 1e6;

function durationText(span: ReadableSpan): string {
  const d = ms(span.duration);
  return d >= 1000 ? `${(d / 1000).toFixed(2)} s` : `${Math.round(d)} ms`;
}

function outcome(span: ReadableSpan): string {
  const a = span.attributes;
  const status = a[ATTRIBUTES.HTTP_RESPONSE_STATUS_CODE.name];
  const error = a[ATTRIBUTES.ERROR_TYPE.name];
  const parts: string[] = [];
  if (status !== undefined) parts.push(String(status));
  if (error !== undefined && String(error) !== String(status)) parts.push(String(error));
  if (parts.length === 0) parts.push(span.status.code === STATUS_ERROR ? 'error' : 'ok');
  return parts.join(' ');
}

function spanLine(span: ReadableSpan): string {
  const a = span.attributes;
  const fields = [span.name];
  const region = a[ATTRIBUTES.ANTHROPIC_REGION.name];
  const resend = a[ATTRIBUTES.HTTP_REQUEST_RESEND_COUNT.name];
  const model = a[ATTRIBUTES.GEN_AI_REQUEST_MODEL.name];
  if (span.kind !== 0) {
    if (region !== undefined) fields.push(`region=${String(region)}`);
    if (resend !== undefined) fields.push(`resend_count=${String(resend)}`);
    if (model !== undefined) fields.push(`model=${String(model)}`);
  } else {
    fields.push(`(${KIND_NAMES[span.kind] ?? span.kind})`);
  }
  const cache = a[ATTRIBUTES.ANTHROPIC_CACHE_HIT.name];
  if (cache === true) fields.push('anthropic.cache.hit=true');
  if (span.links.length > 0) fields.push(`linked to ${span.links.map((l) => l.context.spanId).join(', ')}`);
  fields.push(outcome(span), durationText(span));
  return `${fields.join('  ')}  [${span.spanContext().spanId}]`;
}

function value(v: unknown): string {
  if (typeof v === 'number' && !Number.isInteger(v)) return String(Number(v.toFixed(3)));
  const text = String(v);
  return text.length > 80 ? `${text.slice(0, 79)}…` : text;
}

function eventLine(event: ReadableSpan['events'][number]): string {
  const attrs = Object.entries(event.attributes ?? {})
    .filter(([k]) => k !== 'exception.stacktrace')
    .map(([k, v]) => `${k.replace(/^anthropic\./, '')}=${value(v)}`)
    .join(' ');
  return `· ${event.name}${attrs ? `  ${attrs}` : ''}`;
}

/**
 * One trace as a tree: each span with its children and its events in time order, as in
 *
 *     chat claude-sonnet-4-6  (INTERNAL)  200  312 ms
 *     ├── POST /v1/messages  region=primary  resend_count=0  529 overloaded_error  41 ms
 *     ├── · anthropic.retry.scheduled  retry.attempt=1 retry.delay=0.12 …
 *     └── POST /v1/messages  region=primary  resend_count=1  200  55 ms
 */
export function formatTrace(spans: readonly ReadableSpan[]): string {
  const ids = new Set(spans.map((s) => s.spanContext().spanId));
  const children = new Map<string, ReadableSpan[]>();
  const roots: ReadableSpan[] = [];
  for (const span of spans) {
    const parent = parentOf(span);
    if (parent === undefined || !ids.has(parent)) roots.push(span);
    else children.set(parent, [...(children.get(parent) ?? []), span]);
  }
  const lines: string[] = [];
  const walk = (span: ReadableSpan, prefix: string, branch: string, next: string): void => {
    lines.push(`${prefix}${branch}${spanLine(span)}`);
    const items: Array<{ at: number; line?: string; span?: ReadableSpan }> = [
      ...(children.get(span.spanContext().spanId) ?? []).map((s) => ({ at: ms(s.startTime), span: s })),
      ...span.events.map((e) => ({ at: ms(e.time), line: eventLine(e) })),
    ].sort((a, b) => a.at - b.at);
    items.forEach((item, i) => {
      const last = i === items.length - 1;
      if (item.span) walk(item.span, prefix + next, last ? '└── ' : '├── ', last ? '    ' : '│   ');
      else lines.push(`${prefix}${next}${last ? '└── ' : '├── '}${item.line}`);
    });
  };
  for (const root of roots.sort((a, b) => ms(a.startTime) - ms(b.startTime))) walk(root, '', '', '');
  return lines.join('\n');
}

/** The kept traces under their titles, for the demo's output. */
export function formatTraces(sampler: TraceSampler): string {
  const traces = sampler.traces();
  if (traces.length === 0)
    return 'No trace of the run showed a retry, failover, fallback, resumption or cache hit.';
  const blocks = traces.map(
    ({ kind, spans }) =>
      `${TITLES[kind]} — trace ${spans[0]?.spanContext().traceId ?? ''}\n${formatTrace(spans)
        .split('\n')
        .map((l) => `  ${l}`)
        .join('\n')}`,
  );
  const missing = sampler.missing();
  const note = missing.length > 0 ? `\n(no trace of this run showed: ${missing.join(', ')})` : '';
  return `${blocks.join('\n\n')}${note}`;
}

/**
 * Span times on one time base per trace. The OpenTelemetry SDK anchors each span to `Date.now()`
 * (whole milliseconds) when it starts and adds `performance.now()` durations from there, so two
 * spans started in different milliseconds disagree by up to 1 ms: a child that ends first, in real
 * time, can be stamped after its parent (a trace viewer then warns of clock skew). Our spans are
 * started and ended at explicit times on their parent's base instead: the SDK's call span's (the
 * SDK span's `_performanceOffset`, when the parent is an OpenTelemetry SDK span), or the one our
 * operation span took. A child that ends first in real time is then stamped first.
 */
import type { Context, HrTime, Span } from '@opentelemetry/api';
import { trace } from '@opentelemetry/api';

/** The base (ms to add to `performance.timeOrigin + performance.now()`) of each span we started. */
const bases = new WeakMap<Span, number>();

/** The time base of the span active in `ctx`: its own, or a fresh one when it has none we can read. */
export function timeBaseOf(ctx: Context): number {
  const span = trace.getSpan(ctx);
  if (span !== undefined) {
    const ours = bases.get(span);
    if (ours !== undefined) return ours;
    // The OpenTelemetry SDK's Span keeps its base in this (non-public) field.
    const offset = (span as unknown as { _performanceOffset?: unknown })._performanceOffset;
    if (typeof offset === 'number' && Number.isFinite(offset)) return offset;
  }
  return Date.now() - (performance.timeOrigin + performance.now());
}

/** Remembers that `span` was started on `base` (its children take the same). */
export function rememberBase(span: Span, base: number): void {
  bases.set(span, base);
}

function millisToHr(ms: number): HrTime {
  const seconds = Math.trunc(ms / 1000);
  return [seconds, Math.round((ms - seconds * 1000) * 1e6)];
}

/** The `HrTime` of `perfMs` (a `performance.now()` reading) on `base`, as the SDK computes it. */
export function hrTimeAt(base: number, perfMs: number): HrTime {
  const [s1, n1] = millisToHr(performance.timeOrigin);
  const [s2, n2] = millisToHr(perfMs + base);
  let seconds = s1 + s2;
  let nanos = n1 + n2;
  if (nanos >= 1e9) {
    seconds += 1;
    nanos -= 1e9;
  } else if (nanos < 0) {
    seconds -= 1;
    nanos += 1e9;
  }
  return [seconds, nanos];
}

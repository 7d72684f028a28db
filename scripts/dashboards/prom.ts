/**
 * How the metrics of `src/telemetry/names.ts` are named once they reach Prometheus through the
 * collector's `prometheus` exporter (contrib v0.165, default translation `UnderscoreEscapingWithSuffixes`,
 * with `resource_to_telemetry_conversion` enabled in `otel-collector.yaml`). Written once here so a
 * wrong guess is corrected in one place.
 *
 * - Names and attribute keys: every character outside `[a-zA-Z0-9_:]` becomes `_`.
 * - Units add a suffix: `s` → `_seconds`, `ms` → `_milliseconds`, `By` → `_bytes`, `1` on a gauge →
 *   `_ratio`; annotations in braces (`{token}`) add nothing. A suffix the name already ends with is
 *   not repeated.
 * - Monotonic counters end in `_total`; histograms are exposed as `_bucket`, `_sum` and `_count`.
 * - Resource attributes become labels too: `service.name` → `service_name`.
 */
import type { MetricSpec } from '../../src/telemetry/names.js';

/** The label the resource attribute `service.name` becomes. */
export const SERVICE_LABEL = 'service_name';

/** The bucket boundary label of histogram series. */
export const BUCKET_LABEL = 'le';

const UNIT_SUFFIXES: Readonly<Record<string, string>> = {
  s: 'seconds',
  ms: 'milliseconds',
  us: 'microseconds',
  ns: 'nanoseconds',
  min: 'minutes',
  h: 'hours',
  d: 'days',
  By: 'bytes',
  KiBy: 'kibibytes',
  MiBy: 'mebibytes',
  '%': 'percent',
};

function sanitize(name: string): string {
  return name.replace(/[^a-zA-Z0-9_:]/g, '_').replace(/__+/g, '_');
}

/** The Prometheus label an attribute key becomes (`error.type` → `error_type`). */
export function promLabel(attribute: string): string {
  return sanitize(attribute);
}

function unitSuffix(spec: MetricSpec): string | undefined {
  const unit = spec.unit.replace(/\{[^}]*\}/g, '').trim();
  if (unit === '') return undefined;
  if (unit === '1') return spec.instrument === 'gauge' ? 'ratio' : undefined;
  const [main, per] = unit.split('/');
  const parts = [UNIT_SUFFIXES[main ?? ''] ?? sanitize(main ?? '')];
  if (per !== undefined && per !== '') parts.push('per', UNIT_SUFFIXES[per] ?? sanitize(per));
  return parts.filter((p) => p !== '').join('_') || undefined;
}

/**
 * The Prometheus metric family name of a metric: counters include `_total`; for a histogram, the
 * name its `_bucket`, `_sum` and `_count` series share.
 */
export function promName(spec: MetricSpec): string {
  let name = sanitize(spec.name);
  const suffix = unitSuffix(spec);
  if (suffix !== undefined && !name.endsWith(`_${suffix}`)) name = `${name}_${suffix}`;
  if (spec.instrument === 'counter' && !name.endsWith('_total')) name = `${name}_total`;
  return name;
}

/** Every series name a metric is exposed under. */
export function promSeriesNames(spec: MetricSpec): string[] {
  const name = promName(spec);
  return spec.instrument === 'histogram' ? [`${name}_bucket`, `${name}_sum`, `${name}_count`] : [name];
}

/** The labels a metric's series carry (its attributes, the service label, `le` on buckets). */
export function promLabels(spec: MetricSpec): string[] {
  const labels = [...spec.attributes.map(promLabel), SERVICE_LABEL];
  if (spec.instrument === 'histogram') labels.push(BUCKET_LABEL);
  return labels;
}

/**
 * The secret scan: a recognizable fake API key for the test suite's traffic, and a detector that
 * looks for it (and for any Anthropic-looking key, bearer token or cookie value) in everything the
 * library exports: spans (names, attributes, events, links, status), metric points, errors thrown to
 * the caller (messages, causes) and log lines.
 *
 * The OTel harness (`otel.ts`) feeds every span and metric collection it sees to {@link scanner};
 * the setup file `secret-scan-setup.ts` fails a test whose telemetry held a secret.
 */
import type { DataPoint, ResourceMetrics } from '@opentelemetry/sdk-metrics';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';

/** The fake key the tests send: recognizable wherever it might leak. */
export const FAKE_API_KEY = 'sk-ant-api03-FAKE-SECRET-7f3c9e1a2b4d6f8e0a1c3e5b7d9f1a3c5e7b9d1f-AAAA';
/** A fake cookie value, sent by the dedicated secret-scan test. */
export const FAKE_COOKIE = 'session=FAKE-COOKIE-5e7b9d1f3a5c';

/** What counts as a secret in exported text. */
const PATTERNS: readonly RegExp[] = [
  /sk-ant-[A-Za-z0-9_-]{6,}/,
  /FAKE-SECRET/,
  /FAKE-COOKIE/,
  /bearer\s+[A-Za-z0-9._~+/-]{8,}/i,
];

/** The secret-looking substrings of `text` ([] when clean). */
export function secretsIn(text: string): string[] {
  const found: string[] = [];
  for (const pattern of PATTERNS) {
    const match = pattern.exec(text);
    if (match) found.push(match[0]);
  }
  return found;
}

/**
 * Every string reachable from `value` (own properties, array items, map entries, an error's name,
 * message, stack and cause), each with the path it was found at.
 */
export function* stringsOf(
  value: unknown,
  path = '$',
  seen = new Set<unknown>(),
): Generator<[string, string]> {
  if (typeof value === 'string') {
    yield [path, value];
    return;
  }
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') {
    yield [path, String(value)];
    return;
  }
  if (typeof value !== 'object' || value === null || seen.has(value)) return;
  seen.add(value);
  if (value instanceof Uint8Array) {
    yield [path, new TextDecoder().decode(value)];
    return;
  }
  if (value instanceof Map) {
    for (const [k, v] of value) {
      yield* stringsOf(k, `${path}<key>`, seen);
      yield* stringsOf(v, `${path}[${String(k)}]`, seen);
    }
    return;
  }
  if (value instanceof Error) {
    yield [`${path}.name`, value.name];
    yield [`${path}.message`, value.message];
    if (value.stack !== undefined) yield [`${path}.stack`, value.stack];
    yield* stringsOf(value.cause, `${path}.cause`, seen);
  }
  for (const key of Object.keys(value)) {
    yield [`${path}<key>`, key];
    yield* stringsOf((value as Record<string, unknown>)[key], `${path}.${key}`, seen);
  }
}

/** `path: secret` for each secret found in `value`. */
export function findSecrets(value: unknown, label = '$'): string[] {
  const findings: string[] = [];
  for (const [path, text] of stringsOf(value, label)) {
    for (const secret of secretsIn(text)) findings.push(`${path}: ${secret}`);
  }
  return findings;
}

/** The exported parts of a span, as plain data. */
export function spanData(span: ReadableSpan): unknown {
  return {
    name: span.name,
    attributes: span.attributes,
    events: span.events.map((e) => ({ name: e.name, attributes: e.attributes })),
    links: span.links.map((l) => ({ attributes: l.attributes, context: l.context })),
    status: span.status,
    resource: span.resource.attributes,
  };
}

/** The exported parts of a metric collection, as plain data. */
export function metricsData(rm: ResourceMetrics): unknown {
  return rm.scopeMetrics.flatMap((scope) =>
    scope.metrics.map((m) => ({
      name: m.descriptor.name,
      description: m.descriptor.description,
      unit: m.descriptor.unit,
      points: (m.dataPoints as DataPoint<unknown>[]).map((p) => ({
        attributes: p.attributes,
        value: p.value,
      })),
    })),
  );
}

/** Findings of the whole test file so far; the setup file checks them after each test. */
class Scanner {
  readonly findings: string[] = [];
  spans = 0;
  collections = 0;
  logLines = 0;

  span(span: ReadableSpan): void {
    this.spans++;
    this.findings.push(...findSecrets(spanData(span), `span "${span.name}"`));
  }

  metrics(rm: ResourceMetrics): void {
    this.collections++;
    this.findings.push(...findSecrets(metricsData(rm), 'metrics'));
  }

  log(line: unknown): void {
    this.logLines++;
    this.findings.push(...findSecrets(line, 'log'));
  }

  /** Returns the findings so far and forgets them. */
  take(): string[] {
    return this.findings.splice(0);
  }
}

export const scanner = new Scanner();

/**
 * "What none of them records": the telemetry each option exported for the same workload, read from
 * in-memory exporters (bench/compare/child.ts captures it) and turned into a table. Detection looks
 * at what was exported — span names and counts, attribute and event keys and values, metric names —
 * never at which variant it was, so the table says what a run produced.
 */

export interface CapturedSpan {
  name: string;
  attributes: Record<string, unknown>;
  events: Array<{ name: string; attributes: Record<string, unknown> }>;
  /** 0 unset, 1 ok, 2 error. */
  status: number;
}

/**
 * The workload's phases: `plain` 3 calls; `retry-after` 1 call whose first attempt gets 429 with
 * `retry-after: 1`; `stream` 1 streamed call read to its end; `overload` 6 calls whose model answers
 * 529 to every attempt while the fallback model is healthy.
 */
export type Phase = 'plain' | 'retry-after' | 'stream' | 'overload';

export interface PhaseCapture {
  phase: Phase;
  /** API calls the workload made. */
  calls: number;
  /** HTTP attempts the fake received. */
  attempts: number;
  /** Attempts that carried a `traceparent` header. */
  traceparents: number;
  /** Spans that ended during the phase. */
  spans: CapturedSpan[];
}

export interface CapturedMetric {
  name: string;
  /** Data points over the run. */
  points: number;
  attributeKeys: string[];
}

export interface Capture {
  variant: string;
  phases: PhaseCapture[];
  metrics: CapturedMetric[];
}

export interface Cell {
  yes: boolean;
  evidence: string;
}

export interface Feature {
  key: string;
  title: string;
  detect(capture: Capture): Cell;
}

const NO: Cell = { yes: false, evidence: '' };

function phase(capture: Capture, name: Phase): PhaseCapture | undefined {
  return capture.phases.find((p) => p.phase === name);
}

function allSpans(capture: Capture): CapturedSpan[] {
  return capture.phases.flatMap((p) => p.spans);
}

/** Every attribute key of a span, its events' included (event keys as `event/key`). */
function keysOf(span: CapturedSpan): string[] {
  return [
    ...Object.keys(span.attributes),
    ...span.events.flatMap((e) => [e.name, ...Object.keys(e.attributes).map((k) => `${e.name}/${k}`)]),
  ];
}

/** The first span key or metric name that matches, as evidence. */
function findKey(spans: CapturedSpan[], metrics: CapturedMetric[], pattern: RegExp): Cell {
  for (const span of spans) {
    const key = keysOf(span).find((k) => pattern.test(k));
    if (key !== undefined) return { yes: true, evidence: `\`${key}\`` };
  }
  const metric = metrics.find((m) => m.points > 0 && pattern.test(m.name));
  return metric ? { yes: true, evidence: `metric \`${metric.name}\`` } : NO;
}

function countByName(spans: CapturedSpan[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const span of spans) counts.set(span.name, (counts.get(span.name) ?? 0) + 1);
  return counts;
}

export const FEATURES: Feature[] = [
  {
    key: 'call-span',
    title: 'GenAI attributes on a span (model, token usage)',
    detect: (c) => {
      const spans = phase(c, 'plain')?.spans ?? [];
      const span = spans.find(
        (s) =>
          s.attributes['gen_ai.request.model'] !== undefined &&
          s.attributes['gen_ai.usage.output_tokens'] !== undefined,
      );
      return span ? { yes: true, evidence: `\`${span.name}\`` } : NO;
    },
  },
  {
    key: 'attempt-spans',
    title: 'a span per HTTP attempt (retries visible)',
    detect: (c) => {
      const p = phase(c, 'retry-after');
      if (!p || p.attempts <= p.calls) return NO;
      const failed = p.spans.filter((s) => s.attributes['http.response.status_code'] === 429);
      for (const [name, n] of countByName(p.spans)) {
        if (n >= p.attempts && failed.some((s) => s.name === name))
          return { yes: true, evidence: `\`${name}\` ×${n} for ${p.attempts} attempts of ${p.calls} call` };
      }
      return NO;
    },
  },
  {
    key: 'retry-after',
    title: 'the server’s retry-after',
    detect: (c) => findKey(phase(c, 'retry-after')?.spans ?? [], [], /retry[._-]?after/i),
  },
  {
    key: 'rate-limit',
    title: 'rate-limit headroom (anthropic-ratelimit-*-remaining)',
    detect: (c) => findKey(allSpans(c), c.metrics, /rate_?limit.*remaining|remaining.*(requests|tokens)/i),
  },
  {
    key: 'stream-usage',
    title: 'token usage of a streamed call',
    detect: (c) => {
      for (const span of phase(c, 'stream')?.spans ?? []) {
        const key = Object.keys(span.attributes).find((k) => /usage\.output_tokens$/.test(k));
        const value = key === undefined ? undefined : span.attributes[key];
        if (typeof value === 'number' && value > 1) return { yes: true, evidence: `\`${key}\` = ${value}` };
      }
      return NO;
    },
  },
  {
    key: 'first-chunk',
    title: 'time to first chunk of a stream',
    detect: (c) => findKey(phase(c, 'stream')?.spans ?? [], c.metrics, /first_(chunk|token)|time_to_first/i),
  },
  {
    key: 'breaker',
    title: 'circuit breaker transitions',
    detect: (c) => findKey(allSpans(c), c.metrics, /breaker|circuit/i),
  },
  {
    key: 'fallback',
    title: 'fallbacks (model, region, cache)',
    detect: (c) => findKey(phase(c, 'overload')?.spans ?? [], c.metrics, /fallback/i),
  },
  {
    key: 'errors',
    title: 'error type of failed attempts or calls',
    detect: (c) => {
      const spans = [...(phase(c, 'overload')?.spans ?? []), ...(phase(c, 'retry-after')?.spans ?? [])];
      const span = spans.find((s) => s.status === 2 && s.attributes['error.type'] !== undefined);
      return span ? { yes: true, evidence: `\`error.type\` = ${String(span.attributes['error.type'])}` } : NO;
    },
  },
  {
    key: 'metrics',
    title: 'metrics',
    detect: (c) => {
      const names = c.metrics.filter((m) => m.points > 0).map((m) => m.name);
      if (names.length === 0) return NO;
      const shown = names.slice(0, 3).map((n) => `\`${n}\``);
      return { yes: true, evidence: `${names.length}: ${shown.join(', ')}${names.length > 3 ? ', …' : ''}` };
    },
  },
  {
    key: 'traceparent',
    title: 'trace context sent to the API (`traceparent`)',
    detect: (c) => {
      const p = phase(c, 'plain');
      return p && p.traceparents > 0
        ? { yes: true, evidence: `${p.traceparents}/${p.attempts} attempts` }
        : NO;
    },
  },
  {
    key: 'content',
    title: 'prompts and completions, by default',
    detect: (c) =>
      findKey(
        allSpans(c),
        [],
        /gen_ai\.(input|output)\.messages|gen_ai\.(prompt|completion)|system_instructions/,
      ),
  },
];

/** Spans per API call over the whole workload, and the distinct span names. */
export function spanSummary(capture: Capture): string {
  const spans = allSpans(capture);
  const calls = capture.phases.reduce((n, p) => n + p.calls, 0);
  const names = [...countByName(spans).keys()].map((n) => `\`${n}\``).join(', ');
  return `${(spans.length / Math.max(1, calls)).toFixed(2)} (${names || 'none'})`;
}

/** The table: a row per feature, a column per capture; cells `✓ evidence` or `—`. */
export function coverageTable(captures: readonly Capture[]): string {
  const header = ['telemetry', ...captures.map((c) => c.variant)];
  const rows = [
    ['spans per call (names)', ...captures.map(spanSummary)],
    ...FEATURES.map((feature) => [
      feature.title,
      ...captures.map((capture) => {
        const cell = feature.detect(capture);
        return cell.yes ? `✓ ${cell.evidence}` : '—';
      }),
    ]),
  ];
  return [header, header.map(() => '---'), ...rows]
    .map((r) => `| ${r.map((cell) => cell.replaceAll('|', '\\|')).join(' | ')} |`)
    .join('\n');
}

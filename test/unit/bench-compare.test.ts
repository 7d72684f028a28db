/**
 * The comparison benchmark's table generator and round order (bench/compare): detection reads what
 * was exported, never the variant's name, and every round runs every variant once.
 */
import { describe, expect, it } from 'vitest';
import {
  type Capture,
  type CapturedSpan,
  coverageTable,
  FEATURES,
  type PhaseCapture,
} from '../../bench/compare/coverage.js';
import { roundOrder } from '../../bench/compare/overhead.js';

const span = (name: string, attributes: Record<string, unknown> = {}, extra: Partial<CapturedSpan> = {}) => ({
  name,
  attributes,
  events: [],
  status: 0,
  ...extra,
});

const phase = (p: Partial<PhaseCapture> & Pick<PhaseCapture, 'phase'>): PhaseCapture => ({
  calls: 1,
  attempts: 1,
  traceparents: 0,
  spans: [],
  ...p,
});

/** Attempt spans with the 429's retry-after, stream usage, a breaker event and a metric. */
const rich: Capture = {
  variant: 'rich | one',
  phases: [
    phase({
      phase: 'plain',
      calls: 2,
      attempts: 2,
      traceparents: 2,
      spans: [
        span('POST', { 'gen_ai.request.model': 'm', 'gen_ai.usage.output_tokens': 9 }),
        span('POST', { 'gen_ai.request.model': 'm', 'gen_ai.usage.output_tokens': 9 }),
      ],
    }),
    phase({
      phase: 'retry-after',
      attempts: 2,
      spans: [
        span(
          'POST',
          { 'http.response.status_code': 429, 'anthropic.retry_after': 1, 'error.type': 'rate_limit_error' },
          { status: 2 },
        ),
        span('POST', { 'http.response.status_code': 200, 'anthropic.ratelimit.tokens.remaining': 10 }),
      ],
    }),
    phase({ phase: 'stream', spans: [span('POST', { 'gen_ai.usage.output_tokens': 42 })] }),
    phase({
      phase: 'overload',
      spans: [
        span(
          'POST',
          {},
          { events: [{ name: 'anthropic.circuit_breaker.transition', attributes: { to: 'open' } }] },
        ),
      ],
    }),
  ],
  metrics: [
    { name: 'gen_ai.client.token.usage', points: 3, attributeKeys: [] },
    { name: 'unused', points: 0, attributeKeys: [] },
  ],
};

/** One call span per call: no attempts, and stream usage stuck at message_start's 1. */
const sparse: Capture = {
  variant: 'sparse',
  phases: [
    phase({ phase: 'plain', spans: [span('call', { 'gen_ai.request.model': 'm' })] }),
    phase({ phase: 'retry-after', attempts: 2, spans: [span('call', { 'http.response.status_code': 200 })] }),
    phase({ phase: 'stream', spans: [span('call', { 'gen_ai.usage.output_tokens': 1 })] }),
    phase({ phase: 'overload', spans: [] }),
  ],
  metrics: [{ name: 'unused', points: 0, attributeKeys: [] }],
};

const detect = (key: string, capture: Capture) => {
  const feature = FEATURES.find((f) => f.key === key);
  if (!feature) throw new Error(`no feature ${key}`);
  return feature.detect(capture);
};

describe('telemetry coverage detection', () => {
  it('finds attempt spans only when a span name covers every attempt, the failed one included', () => {
    expect(detect('attempt-spans', rich)).toEqual({
      yes: true,
      evidence: '`POST` ×2 for 2 attempts of 1 call',
    });
    expect(detect('attempt-spans', sparse).yes).toBe(false);
  });

  it('reads keys and values from what was exported', () => {
    expect(detect('retry-after', rich).evidence).toBe('`anthropic.retry_after`');
    expect(detect('rate-limit', rich).evidence).toBe('`anthropic.ratelimit.tokens.remaining`');
    expect(detect('breaker', rich).evidence).toBe('`anthropic.circuit_breaker.transition`');
    expect(detect('stream-usage', rich).evidence).toBe('`gen_ai.usage.output_tokens` = 42');
    expect(detect('stream-usage', sparse).yes).toBe(false);
    expect(detect('call-span', sparse).yes).toBe(false);
    expect(detect('errors', rich).evidence).toBe('`error.type` = rate_limit_error');
    expect(detect('traceparent', rich).evidence).toBe('2/2 attempts');
    expect(detect('traceparent', sparse).yes).toBe(false);
  });

  it('counts only metrics with data points', () => {
    expect(detect('metrics', rich).evidence).toBe('1: `gen_ai.client.token.usage`');
    expect(detect('metrics', sparse).yes).toBe(false);
  });

  it('renders a row per feature and a column per capture, escaping pipes', () => {
    const lines = coverageTable([rich, sparse]).split('\n');
    expect(lines[0]).toBe('| telemetry | rich \\| one | sparse |');
    expect(lines).toHaveLength(2 + 1 + FEATURES.length);
    expect(lines[2]).toBe('| spans per call (names) | 1.20 (`POST`) | 0.75 (`call`) |');
    const retryAfter = lines.find((l) => l.startsWith('| the server’s retry-after |'));
    expect(retryAfter).toBe('| the server’s retry-after | ✓ `anthropic.retry_after` | — |');
  });
});

describe('round order', () => {
  it('runs every variant once per round, rotating the first and reversing every other round', () => {
    const variants = ['a', 'b', 'c'];
    expect(roundOrder(variants, 0)).toEqual(['a', 'b', 'c']);
    expect(roundOrder(variants, 1)).toEqual(['a', 'c', 'b']);
    expect(roundOrder(variants, 2)).toEqual(['c', 'a', 'b']);
    for (let round = 0; round < 6; round++) expect([...roundOrder(variants, round)].sort()).toEqual(variants);
  });
});

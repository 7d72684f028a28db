import { describe, expect, it } from 'vitest';
import {
  CardinalityGuard,
  GUARDED_ATTRIBUTES,
  MAX_LENGTH,
  MAX_VALUES,
  OVERFLOW,
} from '../../src/telemetry/cardinality.js';
import { stubHarness } from '../helpers/stub.js';

const { answering, attemptsCounted, pointAttributes } = stubHarness();

describe('CardinalityGuard', () => {
  it('keeps the first values of a guarded attribute, then records the rest as other', () => {
    const guard = new CardinalityGuard(3);
    const models = ['a', 'b', 'c', 'd', 'a', 'e', 'c'].map(
      (m) => guard.bound({ 'gen_ai.request.model': m })?.['gen_ai.request.model'],
    );
    expect(models).toEqual(['a', 'b', 'c', OVERFLOW, 'a', OVERFLOW, 'c']);
  });

  it('cuts long values and leaves unguarded attributes and non-strings alone', () => {
    const guard = new CardinalityGuard();
    const attributes = {
      'error.type': 'x'.repeat(500),
      'gen_ai.operation.name': 'y'.repeat(500),
      'http.response.status_code': 200,
    };
    const out = guard.bound(attributes);
    expect(out?.['error.type']).toBe('x'.repeat(MAX_LENGTH));
    expect(out?.['gen_ai.operation.name']).toBe('y'.repeat(500));
    expect(out?.['http.response.status_code']).toBe(200);
    // The caller's object is not changed.
    expect(attributes['error.type']).toHaveLength(500);
  });

  it('returns the same object when nothing had to change', () => {
    const guard = new CardinalityGuard();
    const attributes = { 'gen_ai.request.model': 'claude-sonnet-4-6' };
    expect(guard.bound(attributes)).toBe(attributes);
  });

  it('guards the attributes whose values come from outside', () => {
    expect(GUARDED_ATTRIBUTES).toEqual(
      expect.arrayContaining(['gen_ai.request.model', 'error.type', 'anthropic.region']),
    );
  });
});

describe('metric series under a flood of unknown models and error types', () => {
  it(`stay within ${MAX_VALUES} values per attribute (plus other)`, async () => {
    const f = answering(
      () =>
        new Response('{"type":"error","error":{"type":"weird"}}', {
          status: 500,
          headers: { 'content-type': 'application/json' },
        }),
    );
    const before = await attemptsCounted();
    for (let i = 0; i < 3 * MAX_VALUES; i++) {
      const response = await f('https://api.anthropic.com/v1/messages', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: `made-up-model-${i}`, max_tokens: 1, messages: [] }),
      });
      await response.text();
    }
    expect((await attemptsCounted()) - before).toBe(3 * MAX_VALUES);
    const models = new Set(
      (await pointAttributes('anthropic.client.attempts')).map((a) => a['gen_ai.request.model']),
    );
    expect(models.size).toBe(MAX_VALUES + 1);
    expect(models.has(OVERFLOW)).toBe(true);
    const durations = new Set(
      (await pointAttributes('gen_ai.client.operation.duration')).map((a) => a['gen_ai.request.model']),
    );
    expect(durations.size).toBe(MAX_VALUES + 1);
  });
});

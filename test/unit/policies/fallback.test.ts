import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TAXONOMY } from '../../../src/policies/classify.js';
import {
  CALLER_ERROR_TYPES,
  DEFAULT_FALLBACK_ON,
  type FallbackOptions,
  ModelFallback,
  withModel,
} from '../../../src/policies/fallback.js';
import { FakeClock } from '../../helpers/fake-clock.js';

const OPUS = 'claude-opus-4-6';
const SONNET = 'claude-sonnet-4-6';
const HAIKU = 'claude-haiku-4-5';

function fallback(options: Partial<FallbackOptions> = {}, clock = new FakeClock()): ModelFallback {
  return new ModelFallback({ models: [SONNET, HAIKU], ...options }, clock);
}

describe('ModelFallback.chain', () => {
  it('puts a model outside the list first, then the whole list', () => {
    expect(fallback().chain(OPUS)).toEqual([OPUS, SONNET, HAIKU]);
  });

  it('falls back from a listed model only to the models after it', () => {
    const f = fallback();
    expect(f.chain(SONNET)).toEqual([SONNET, HAIKU]);
    expect(f.chain(HAIKU)).toEqual([HAIKU]);
  });

  it('never repeats a model, whatever the list and the request', () => {
    const models = fc.constantFrom<string>('a', 'b', 'c', 'd', 'e');
    fc.assert(
      fc.property(fc.array(models, { minLength: 1, maxLength: 6 }), models, (list, model) => {
        const chain = new ModelFallback({ models: list }, new FakeClock()).chain(model);
        expect(new Set(chain).size).toBe(chain.length);
        expect(chain[0]).toBe(model);
        // Then the models after it in the list (all of them when it is not listed), in order.
        const order = [...new Set(list)];
        expect(chain.slice(1)).toEqual(order.slice(order.indexOf(model) + 1));
      }),
    );
  });

  it('keeps a model listed twice once, at its first place', () => {
    const f = new ModelFallback({ models: [SONNET, HAIKU, SONNET] }, new FakeClock());
    expect(f.chain(OPUS)).toEqual([OPUS, SONNET, HAIKU]);
  });
});

describe('ModelFallback.triggers', () => {
  it('triggers on the service failures by default', () => {
    const f = fallback();
    for (const type of DEFAULT_FALLBACK_ON) expect(f.triggers(type)).toBe(true);
    expect([...DEFAULT_FALLBACK_ON].sort()).toEqual(
      [
        'overloaded_error',
        'api_error',
        'server_error',
        'service_unavailable',
        'bad_gateway',
        'timeout_error',
        'circuit_open',
        'connection_error',
        'connect_timeout',
        'timeout',
      ].sort(),
    );
  });

  it('does not trigger on successes, caller errors, aborts or unlisted types by default', () => {
    const f = fallback();
    expect(f.triggers(undefined)).toBe(false);
    for (const type of CALLER_ERROR_TYPES) expect(f.triggers(type)).toBe(false);
    for (const type of ['aborted', 'rate_limit_error', 'total_timeout', 'something_else']) {
      expect(f.triggers(type)).toBe(false);
    }
  });

  it('triggers on exactly the custom list', () => {
    const f = fallback({ on: ['rate_limit_error', 'overloaded_error'] });
    expect(f.triggers('rate_limit_error')).toBe(true);
    expect(f.triggers('overloaded_error')).toBe(true);
    expect(f.triggers('api_error')).toBe(false);
    expect(fallback({ on: [] }).triggers('overloaded_error')).toBe(false);
  });

  it('names as caller errors exactly the non-retryable 4xx of the taxonomy', () => {
    expect([...CALLER_ERROR_TYPES].sort()).toEqual(
      [
        'invalid_request_error',
        'authentication_error',
        'permission_error',
        'not_found_error',
        'billing_error',
        'request_too_large',
        'unprocessable_entity',
        'client_error',
      ].sort(),
    );
    for (const type of CALLER_ERROR_TYPES) {
      const row = TAXONOMY.find((entry) => entry.errorType === type);
      expect(row?.retryable).toBe(false);
    }
  });

  it.each([...CALLER_ERROR_TYPES, 'aborted'])('refuses %s in `on` at construction', (type) => {
    expect(() => fallback({ on: ['overloaded_error', type] })).toThrow(TypeError);
  });
});

describe('ModelFallback options', () => {
  it.each<[string, unknown]>([
    ['empty models', { models: [] }],
    ['non-array models', { models: SONNET }],
    ['an empty model name', { models: [SONNET, ''] }],
    ['a non-string model', { models: [SONNET, 4] }],
    ['a non-array on', { models: [SONNET], on: 'overloaded_error' }],
    ['an empty error type', { models: [SONNET], on: [''] }],
    ['a negative stickyMs', { models: [SONNET], stickyMs: -1 }],
    ['a NaN stickyMs', { models: [SONNET], stickyMs: Number.NaN }],
  ])('throws a TypeError for %s', (_, options) => {
    expect(() => new ModelFallback(options as FallbackOptions, new FakeClock())).toThrow(TypeError);
  });
});

describe('ModelFallback stickiness', () => {
  it('is off by default: fellBack changes nothing', () => {
    const f = fallback();
    f.fellBack(OPUS, SONNET);
    expect(f.chain(OPUS)).toEqual([OPUS, SONNET, HAIKU]);
  });

  it('sends requests for the failed model straight to its replacement until stickyMs passes', () => {
    const clock = new FakeClock(1000);
    const f = fallback({ stickyMs: 30_000 }, clock);
    f.fellBack(OPUS, SONNET);
    expect(f.chain(OPUS)).toEqual([SONNET, HAIKU]);
    // Other models are not affected.
    expect(f.chain(SONNET)).toEqual([SONNET, HAIKU]);
    clock.advance(29_999);
    expect(f.chain(OPUS)).toEqual([SONNET, HAIKU]);
    clock.advance(1);
    expect(f.chain(OPUS)).toEqual([OPUS, SONNET, HAIKU]);
  });

  it('puts a later replacement first and keeps the rest of the chain, without the failed model', () => {
    const clock = new FakeClock();
    const f = fallback({ stickyMs: 10_000 }, clock);
    f.fellBack(OPUS, SONNET);
    clock.advance(5000);
    f.fellBack(OPUS, HAIKU);
    expect(f.chain(OPUS)).toEqual([HAIKU, SONNET]);
    // The later call restarted the period.
    clock.advance(9999);
    expect(f.chain(OPUS)).toEqual([HAIKU, SONNET]);
    clock.advance(1);
    expect(f.chain(OPUS)).toEqual([OPUS, SONNET, HAIKU]);
  });

  it('works for listed models: sonnet sticky to haiku', () => {
    const f = fallback({ stickyMs: 1000 });
    f.fellBack(SONNET, HAIKU);
    expect(f.chain(SONNET)).toEqual([HAIKU]);
  });

  it('ends early on a success of the model', () => {
    const f = fallback({ stickyMs: 60_000 });
    f.fellBack(OPUS, SONNET);
    f.succeeded(SONNET); // a success of the replacement ends nothing
    expect(f.chain(OPUS)).toEqual([SONNET, HAIKU]);
    f.succeeded(OPUS);
    expect(f.chain(OPUS)).toEqual([OPUS, SONNET, HAIKU]);
  });

  it('ignores a fallback to the same model', () => {
    const f = fallback({ stickyMs: 60_000 });
    f.fellBack(OPUS, OPUS);
    expect(f.chain(OPUS)).toEqual([OPUS, SONNET, HAIKU]);
  });

  it('never repeats a model while sticky', () => {
    const models = fc.constantFrom<string>('a', 'b', 'c', 'd');
    fc.assert(
      fc.property(fc.array(models, { minLength: 1, maxLength: 5 }), models, models, (list, from, to) => {
        const f = new ModelFallback({ models: list, stickyMs: 100 }, new FakeClock());
        f.fellBack(from, to);
        const chain = f.chain(from);
        expect(new Set(chain).size).toBe(chain.length);
        expect(chain[0]).toBe(to);
        if (from !== to) expect(chain).not.toContain(from);
      }),
    );
  });
});

describe('withModel', () => {
  it('replaces only the top-level model, keeping every other field, its order and its text', () => {
    const body =
      '{"max_tokens":1.0e3,"model":"claude-opus-4-6","messages":[{"role":"user","content":"model: \\"x\\""}],' +
      '"metadata":{"model":"inner"},"big":12345678901234567890,"stream":true}';
    const out = withModel(body, SONNET);
    expect(out).toBe(body.replace('"claude-opus-4-6"', `"${SONNET}"`));
    expect(Object.keys(JSON.parse(out!))).toEqual([
      'max_tokens',
      'model',
      'messages',
      'metadata',
      'big',
      'stream',
    ]);
  });

  it('keeps whitespace and handles escaped keys and non-string model values', () => {
    expect(withModel('{ "a" : [1, {"b": "}"}] ,\n "model" : null }', 'm')).toBe(
      '{ "a" : [1, {"b": "}"}] ,\n "model" : "m" }',
    );
    expect(withModel('{"mod\\u0065l":"x","n":1}', 'm')).toBe('{"mod\\u0065l":"m","n":1}');
    expect(withModel('{"model":{"x":[1,2]},"n":1}', 'm')).toBe('{"model":"m","n":1}');
  });

  it('escapes the new model name as JSON', () => {
    const out = withModel('{"model":"a"}', 'we"ird\\name');
    expect(JSON.parse(out!)).toEqual({ model: 'we"ird\\name' });
  });

  it('adds a missing model at the end', () => {
    expect(withModel('{"a":1}', 'm')).toBe('{"a":1,"model":"m"}');
    expect(withModel(' { } ', 'm')).toBe(' { "model":"m"} ');
  });

  it('replaces every top-level model when named twice', () => {
    expect(withModel('{"model":"a","x":1,"model":"b"}', 'm')).toBe('{"model":"m","x":1,"model":"m"}');
  });

  it.each(['', 'not json', '[1,2]', '"model"', 'null', '42', '{"model":"a"', '{"model":"a"} x'])(
    'returns undefined for %j',
    (body) => {
      expect(withModel(body, 'm')).toBeUndefined();
    },
  );

  it('equals a parse-and-set for random JSON objects', () => {
    fc.assert(
      fc.property(
        fc.dictionary(fc.string(), fc.jsonValue()),
        fc.option(fc.jsonValue(), { nil: undefined }),
        fc.string(),
        fc.boolean(),
        (fields, model, replacement, pretty) => {
          const object: Record<string, unknown> = { ...fields };
          if (model !== undefined) object.model = model;
          const body = JSON.stringify(object, null, pretty ? 2 : undefined);
          const out = withModel(body, replacement);
          expect(out).toBeDefined();
          const expected = JSON.parse(body) as Record<string, unknown>;
          expected.model = replacement;
          const parsed = JSON.parse(out!) as Record<string, unknown>;
          expect(parsed).toEqual(expected);
          expect(Object.keys(parsed)).toEqual(Object.keys(expected));
        },
      ),
    );
  });
});

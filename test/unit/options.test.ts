import { describe, expect, it } from 'vitest';
import { createClaudeFetch } from '../../src/index.js';
import type { ClaudeFetchOptions } from '../../src/options.js';

describe('createClaudeFetch options', () => {
  it.each([
    [{ fetch: 'nope' }, /^fetch: expected a function, got "nope" \(a string\)$/],
    [{ requestHook: 1 }, /^requestHook: expected a function, got 1 \(a number\)$/],
    [{ responseHook: {} }, /^responseHook: expected a function, got \{\} \(an empty object\)$/],
    [{ ignoreRequest: true }, /^ignoreRequest: expected a function, got true \(a boolean\)$/],
    [{ region: '' }, /^region: expected a non-empty string, got "" \(a string\)$/],
    [{ captureContent: { maxLength: 0 } }, /^captureContent.maxLength: expected an integer ≥ 1, got 0/],
    [{ captureContent: { maxLength: 1.5 } }, /^captureContent.maxLength: expected an integer ≥ 1, got 1.5/],
  ])('rejects %o with a TypeError at creation', (options, message) => {
    expect(() => createClaudeFetch(options as unknown as ClaudeFetchOptions)).toThrow(TypeError);
    expect(() => createClaudeFetch(options as unknown as ClaudeFetchOptions)).toThrow(message);
  });

  it('accepts no options and valid ones', () => {
    expect(typeof createClaudeFetch()).toBe('function');
    expect(
      typeof createClaudeFetch({
        region: 'eu',
        captureContent: { maxLength: 10 },
        suppressInnerHttpSpans: false,
      }),
    ).toBe('function');
  });

  it('passes a request whose URL cannot be read to the wrapped fetch untouched', async () => {
    const seen: unknown[] = [];
    const f = createClaudeFetch({
      fetch: async (input) => {
        seen.push(input);
        return new Response('ok');
      },
    });
    const response = await f('not a url');
    expect(await response.text()).toBe('ok');
    expect(seen).toEqual(['not a url']);
  });
});

import { describe, expect, it } from 'vitest';
import { createClaudeFetch } from '../../src/index.js';
import type { ClaudeFetchOptions } from '../../src/options.js';

describe('createClaudeFetch options', () => {
  it.each([
    [{ fetch: 'nope' }, /options.fetch must be a function/],
    [{ requestHook: 1 }, /options.requestHook must be a function/],
    [{ responseHook: {} }, /options.responseHook must be a function/],
    [{ ignoreRequest: true }, /options.ignoreRequest must be a function/],
    [{ region: '' }, /options.region must be a non-empty string/],
    [{ captureContent: { maxLength: 0 } }, /captureContent.maxLength must be a positive integer/],
    [{ captureContent: { maxLength: 1.5 } }, /captureContent.maxLength must be a positive integer/],
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

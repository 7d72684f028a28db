/** Random sources for tests: scripted sequences, and the fake API's seeded PRNG. */
import type { Random } from '../../src/policies/types.js';

export { mulberry32 as seeded } from '../../src/testing/rng.js';

/** A random source that returns the given values in turn, and counts its calls. */
export function sequence(values: readonly number[]): Random & { calls: number } {
  let i = 0;
  const random = (() => {
    random.calls++;
    return values[i++ % values.length] ?? 0;
  }) as Random & { calls: number };
  random.calls = 0;
  return random;
}

/**
 * Deterministic pseudo-random helpers of the fake Claude API: a small seeded PRNG and id makers.
 * Nothing here is cryptographic; it only makes the fake reproducible from a seed.
 */

/** A source of uniform numbers in `[0, 1)`. */
export type Rng = () => number;

/**
 * Mulberry32: a tiny, fast 32-bit seeded PRNG. The same seed always yields the same sequence.
 * @param seed Any number; only its low 32 bits matter.
 */
export function mulberry32(seed: number): Rng {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * FNV-1a (32-bit) over the parts joined by `:`; used to derive independent seeds.
 * @param parts Values identifying the derived stream (e.g. seed, request serial, purpose).
 */
export function hashSeed(...parts: Array<number | string>): number {
  const text = parts.join(':');
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

const ALPHANUMERIC = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const HEX = '0123456789abcdef';

/**
 * A random string of `length` characters drawn from `alphabet`.
 * @param rng The random source.
 * @param length Number of characters.
 * @param alphabet Characters to draw from. Default: ASCII letters and digits.
 */
export function randomString(rng: Rng, length: number, alphabet: string = ALPHANUMERIC): string {
  let out = '';
  for (let i = 0; i < length; i++) out += alphabet[Math.floor(rng() * alphabet.length)];
  return out;
}

/**
 * A deterministic id body (alphanumeric) derived from a seed, a serial number and a purpose.
 * @param seed The instance seed.
 * @param serial A per-instance counter (e.g. the request serial).
 * @param purpose Distinguishes ids of different kinds made for the same serial.
 * @param length Number of characters. Default 24.
 */
export function derivedId(seed: number, serial: number, purpose: string, length = 24): string {
  return randomString(mulberry32(hashSeed(seed, serial, purpose)), length);
}

/**
 * A deterministic UUID-shaped (version 4 layout) string derived from a seed and a purpose.
 * @param seed The instance seed.
 * @param purpose Distinguishes UUIDs made from the same seed.
 */
export function derivedUuid(seed: number, purpose: string): string {
  const rng = mulberry32(hashSeed(seed, purpose, 'uuid'));
  const hex = (n: number): string => randomString(rng, n, HEX);
  return `${hex(8)}-${hex(4)}-4${hex(3)}-8${hex(3)}-${hex(12)}`;
}

/**
 * Parsers for the response headers the library records. Each is total: absurd, negative,
 * non-numeric or duplicated values give `undefined` rather than an exception or a nonsense number.
 */
import { RATELIMIT_RESOURCES, type RateLimitResource } from './names.js';

/** What the parsers read: a `Headers`, or the headers {@link pickHeaders} picked. */
export interface HeaderSource {
  get(name: string): string | null;
}

/** Server waits longer than this (one day) are treated as absurd and ignored. */
const MAX_RETRY_AFTER_S = 86_400;

/**
 * The shape of an HTTP date (IMF-fixdate, RFC 850 or asctime: a day name, then a time), checked
 * before `Date.parse`, which also reads garbage such as `abc 12` as a date.
 */
const HTTP_DATE = /^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]*,? .*\b\d{2}:\d{2}:\d{2}\b/i;
/** The shape of an RFC 3339 date-time (the rate-limit resets), checked before `Date.parse`. */
const RFC_3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}/;

function firstValue(raw: string | null): string | undefined {
  if (raw === null) return undefined;
  if (raw.indexOf(',') === -1) return raw.trim();
  // Duplicate headers arrive joined by ", "; an HTTP date has a comma of its own, so only split
  // a value that is not a date.
  const trimmed = raw.trim();
  if (/^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]*,/i.test(trimmed)) return trimmed;
  return trimmed.split(',')[0]?.trim();
}

/** A non-negative finite decimal number, or `undefined`. */
export function parseNonNegative(raw: string | null | undefined): number | undefined {
  if (raw === null || raw === undefined) return undefined;
  const value = firstValue(raw);
  if (value === undefined || !/^\d+(\.\d+)?$/.test(value)) return undefined;
  const n = Number(value);
  return Number.isFinite(n) ? n : undefined;
}

/**
 * Seconds the server asked to wait: `retry-after-ms` first, then `retry-after` as seconds or as an
 * HTTP date (relative to `nowMs`; a date in the past gives 0). Values over a day are ignored.
 */
export function parseRetryAfter(headers: HeaderSource, nowMs: number): number | undefined {
  const ms = parseNonNegative(headers.get('retry-after-ms'));
  if (ms !== undefined && ms / 1000 <= MAX_RETRY_AFTER_S) return ms / 1000;
  const raw = headers.get('retry-after');
  if (raw === null) return undefined;
  const seconds = parseNonNegative(raw);
  if (seconds !== undefined) return seconds <= MAX_RETRY_AFTER_S ? seconds : undefined;
  const value = firstValue(raw);
  if (value === undefined || !HTTP_DATE.test(value)) return undefined;
  const date = Date.parse(value);
  if (!Number.isFinite(date)) return undefined;
  // A date already past asks for no wait at all: it is not one (clock skew, a stale cache).
  if (date <= nowMs) return undefined;
  const delta = (date - nowMs) / 1000;
  return delta <= MAX_RETRY_AFTER_S ? delta : undefined;
}

/** `x-should-retry: true|false`, else `undefined`. */
export function parseShouldRetry(headers: HeaderSource): boolean | undefined {
  const raw = firstValue(headers.get('x-should-retry'));
  if (raw === 'true') return true;
  if (raw === 'false') return false;
  return undefined;
}

/** One resource's rate-limit state from the `anthropic-ratelimit-*` headers. */
export interface RateLimitState {
  limit?: number;
  remaining?: number;
  /** Seconds from `nowMs` until the window resets (≥ 0). */
  reset?: number;
}

/** The rate-limit headers by resource; resources without any header are absent. */
const HEADER_NAMES = RATELIMIT_RESOURCES.map((resource) => {
  const prefix = `anthropic-ratelimit-${resource.replace('_', '-')}-`;
  return { resource, limit: `${prefix}limit`, remaining: `${prefix}remaining`, reset: `${prefix}reset` };
});

/** Reset times parsed lately: consecutive responses usually repeat them. */
const parsedTimes = new Map<string, number>();

/** Every header the parsers of this module and the attempt read. */
const READ_HEADERS = new Set([
  'request-id',
  'retry-after',
  'retry-after-ms',
  'x-should-retry',
  ...HEADER_NAMES.flatMap((names) => [names.limit, names.remaining, names.reset]),
]);

/**
 * The response headers an attempt reads, picked in one pass (`forEach` gives the names in lower
 * case and the values as `get` does): cheaper than a `get` per name, most of which miss.
 */
export function pickHeaders(headers: Headers): HeaderSource {
  const picked = new Map<string, string>();
  headers.forEach((value, name) => {
    if (READ_HEADERS.has(name)) picked.set(name, value);
  });
  return { get: (name) => picked.get(name) ?? null };
}

/** An RFC 3339 time in ms, or NaN. */
function parseTime(raw: string): number {
  const cached = parsedTimes.get(raw);
  if (cached !== undefined) return cached;
  const at = RFC_3339.test(raw) ? Date.parse(raw) : Number.NaN;
  if (parsedTimes.size >= 64) parsedTimes.clear();
  parsedTimes.set(raw, at);
  return at;
}

export function parseRateLimits(
  headers: HeaderSource,
  nowMs: number,
): Partial<Record<RateLimitResource, RateLimitState>> {
  const out: Partial<Record<RateLimitResource, RateLimitState>> = {};
  for (const names of HEADER_NAMES) {
    const resource = names.resource;
    const limit = parseNonNegative(headers.get(names.limit));
    const remaining = parseNonNegative(headers.get(names.remaining));
    const resetRaw = firstValue(headers.get(names.reset));
    let reset: number | undefined;
    if (resetRaw !== undefined) {
      const at = parseTime(resetRaw);
      if (Number.isFinite(at)) reset = Math.max(0, (at - nowMs) / 1000);
    }
    if (limit !== undefined || remaining !== undefined || reset !== undefined) {
      const state: RateLimitState = {};
      if (limit !== undefined) state.limit = Math.trunc(limit);
      if (remaining !== undefined) state.remaining = Math.trunc(remaining);
      if (reset !== undefined) state.reset = reset;
      out[resource] = state;
    }
  }
  return out;
}

const regionCache = new Map<string, string>();

/**
 * The region a host belongs to: a Bedrock or Vertex region from the host name
 * (`bedrock-runtime.us-east-1.amazonaws.com` → `us-east-1`, `europe-west1-aiplatform.googleapis.com`
 * → `europe-west1`, `aiplatform.googleapis.com` → `global`), else the host itself.
 */
export function regionFromHost(host: string): string {
  let region = regionCache.get(host);
  if (region !== undefined) return region;
  const bedrock = /^bedrock-runtime(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.com$/.exec(host);
  const vertex = /^([a-z0-9-]+)-aiplatform\.googleapis\.com$/.exec(host);
  if (bedrock?.[1]) region = bedrock[1];
  else if (vertex?.[1]) region = vertex[1];
  else if (host === 'aiplatform.googleapis.com') region = 'global';
  else region = host;
  if (regionCache.size < 1024) regionCache.set(host, region);
  return region;
}

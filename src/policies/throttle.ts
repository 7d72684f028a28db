/**
 * Proactive throttling: a client-side model of the rate-limit headroom that the API announces on
 * every response (`anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-{limit,
 * remaining,reset}`), so a request that would earn a 429 waits for headroom instead of being sent.
 *
 * One {@link Headroom} per key (`{region}|{model}`: the API's limits are per model). For each
 * resource it keeps the last `remaining`, `limit` and reset time, and what this process sent since
 * that observation (reservations). Between observations headroom comes back:
 *
 * - `continuous` (default, the API's token bucket): linearly from `remaining` to `limit` by the reset
 *   time (the API's `reset` is when the bucket is full again), so the refill rate is
 *   `(limit − remaining) / (reset − observed)`; once full, `limit` per minute.
 * - `at_reset` (a fixed window): `remaining` until the reset time, then `limit`.
 *
 * A 429 blocks the key for its `retry-after`. A request costs 1 `requests`, its estimated input
 * tokens of `input_tokens` and `tokens`, and needs at least 1 `output_tokens` left (its output is
 * unknown before it runs). Pure state machine: times are the injected clock's milliseconds.
 */
import type { RateLimitState } from '../telemetry/headers.js';

/** The resources the API announces. */
export type ThrottleResource = 'requests' | 'tokens' | 'input_tokens' | 'output_tokens';

/** Options of the proactive throttle (`createClaudeFetch({ throttle })`). */
export interface ThrottleOptions {
  /**
   * Longest a request is held waiting for headroom, in ms. A longer wait (or one past the
   * operation's `timeouts.totalMs`) is not waited: the request is answered at once with a
   * `throttled` error (status 429, `retry-after-ms` = the wait, not retried). Default `30_000`.
   */
  maxWaitMs?: number;
  /**
   * How headroom comes back between responses: `continuous` (the API's token bucket, refilled
   * linearly up to the limit by the reset time) or `at_reset` (all at the reset time, a fixed
   * window). Default `'continuous'`.
   */
  refill?: 'continuous' | 'at_reset';
  /**
   * A request's input tokens, estimated before sending. Default {@link estimateInputTokens}: the
   * body's UTF-8 bytes / 4.
   */
  estimateTokens?: (body: string) => number;
}

/** A resource's last observation. */
interface ResourceState {
  limit: number | undefined;
  remaining: number;
  /** When it was observed, by the clock. */
  observedAt: number;
  /** When the API said it is full again, by the clock. */
  resetAt: number;
  /** Sent by this process since the observation. */
  used: number;
}

/** What a request costs. */
export interface RequestCost {
  /** Estimated input tokens. */
  inputTokens: number;
}

/** The answer of {@link Headroom.waitFor}. */
export interface ThrottleWait {
  /** ms before the request fits (0: send now; `Infinity`: never, by this model). */
  ms: number;
  /** The resource that needs the wait (or `retry_after` for a 429's block). */
  resource: ThrottleResource | 'retry_after' | undefined;
}

const MINUTE_MS = 60_000;
/**
 * The longest window a `reset` header is believed for: the API's limits are per minute, so a reset
 * further away (`9999-12-31`) is a broken or hostile header, not a reason to refuse for good.
 */
export const MAX_WINDOW_MS = MINUTE_MS;
/**
 * The longest a 429's `retry-after` blocks a key of the throttle (tighter than the retry policy's
 * own cap: the throttle refuses locally, and only a request sent can bring newer headers).
 */
export const MAX_BLOCK_MS = 30_000;
/** The precision of the `reset` headers: RFC 3339 times in whole seconds. */
const RESET_PRECISION_MS = 1_000;

/**
 * Input tokens of a request body, estimated as its UTF-8 bytes / 4 (rounded up). The API counts
 * the prompt's tokens, not the JSON's: for English prose (≈ 4 characters a token) with short JSON
 * framing this overestimates by the framing (`{"role":"user","content":…}`, some 10 tokens a
 * message), which errs toward waiting; for code or non-Latin text (fewer characters a token) it
 * underestimates. See the README for measured figures.
 */
export function estimateInputTokens(body: string): number {
  return Math.max(1, Math.ceil(Buffer.byteLength(body) / 4));
}

/** The rate-limit headroom of one key. */
export class Headroom {
  readonly #refill: 'continuous' | 'at_reset';
  readonly #resources = new Map<ThrottleResource, ResourceState>();
  /** Nothing is sent before this (a 429's `retry-after`), by the clock. */
  blockedUntil = 0;
  /** When the newest observation was made, by the clock (`-Infinity`: never). */
  observedAt = Number.NEGATIVE_INFINITY;

  constructor(refill: 'continuous' | 'at_reset' = 'continuous') {
    this.#refill = refill;
  }

  /**
   * Takes the headers' state (from `parseRateLimits`: `reset` in seconds from now) observed at
   * `now`; it replaces what was known, reservations included (the server counted them).
   */
  observe(states: Partial<Record<ThrottleResource, RateLimitState>>, now: number): void {
    let any = false;
    for (const [resource, state] of Object.entries(states) as Array<[ThrottleResource, RateLimitState]>) {
      if (state.remaining === undefined) continue;
      any = true;
      this.#resources.set(resource, {
        limit: state.limit,
        remaining: state.remaining,
        observedAt: now,
        // The API writes the reset in whole seconds (truncated): the bucket is full only by the
        // end of that second.
        resetAt: now + Math.min((state.reset ?? 0) * 1000, MAX_WINDOW_MS) + RESET_PRECISION_MS,
        used: 0,
      });
    }
    if (any) this.observedAt = now;
  }

  /** Nothing may be sent for `ms` from `now` (a 429's `retry-after`); only ever extends the block. */
  block(now: number, ms: number): void {
    const capped = Math.min(Number.isFinite(ms) ? Math.max(0, ms) : MAX_BLOCK_MS, MAX_BLOCK_MS);
    this.blockedUntil = Math.max(this.blockedUntil, now + capped);
  }

  /** The headroom of `resource` at `now`, reservations deducted (`Infinity` when unknown). */
  available(resource: ThrottleResource, now: number): number {
    const s = this.#resources.get(resource);
    if (s === undefined) return Number.POSITIVE_INFINITY;
    return this.#available(s, now);
  }

  /** The headroom of `s` at `now`, reservations deducted. */
  #available(s: ResourceState, now: number): number {
    const limit = s.limit;
    if (now >= s.resetAt) {
      // Full at the reset (without a limit: unknown, so no constraint); from there the reservations
      // drain at `limit` per minute (the API's limits are per minute).
      if (limit === undefined) return Number.POSITIVE_INFINITY;
      return Math.min(limit, limit - s.used + (limit / MINUTE_MS) * (now - s.resetAt));
    }
    if (limit === undefined || this.#refill === 'at_reset') return s.remaining - s.used;
    return Math.min(limit, s.remaining + this.#rate(s, limit) * (now - s.observedAt)) - s.used;
  }

  /** The continuous refill rate per ms: from `remaining` to `limit` by the reset. */
  #rate(s: ResourceState, limit: number): number {
    const span = s.resetAt - s.observedAt;
    return span > 0 ? Math.max(0, limit - s.remaining) / span : limit / MINUTE_MS;
  }

  /** How long before a request of `cost` fits, and for which resource. */
  waitFor(cost: RequestCost, now: number): ThrottleWait {
    let ms = Math.max(0, this.blockedUntil - now);
    let resource: ThrottleWait['resource'] = ms > 0 ? 'retry_after' : undefined;
    const needs: Array<[ThrottleResource, number]> = [
      ['requests', 1],
      ['input_tokens', cost.inputTokens],
      ['tokens', cost.inputTokens],
      ['output_tokens', 1],
    ];
    for (const [name, amount] of needs) {
      const s = this.#resources.get(name);
      if (s === undefined) continue;
      // A request larger than the whole limit can never fit: ask only for a full bucket.
      const need = s.limit !== undefined ? Math.min(amount, s.limit) : amount;
      const wait = this.#until(s, need, now);
      if (wait > ms) {
        ms = wait;
        resource = name;
      }
    }
    return { ms, resource };
  }

  /** ms until `s` holds `need` (after reservations), by the refill model. */
  #until(s: ResourceState, need: number, now: number): number {
    if (this.#available(s, now) >= need) return 0;
    const limit = s.limit;
    if (limit === undefined) return now < s.resetAt ? s.resetAt - now : Number.POSITIVE_INFINITY;
    // When it fits from the reset on: full, less the reservations draining at `limit` per minute.
    const afterReset = s.resetAt + (Math.max(0, need + s.used - limit) / limit) * MINUTE_MS;
    if (now >= s.resetAt || this.#refill === 'at_reset') return Math.max(0, afterReset - now);
    const rate = this.#rate(s, limit);
    const target = need + s.used;
    if (rate <= 0 || target > limit) return Math.max(0, afterReset - now);
    const at = s.observedAt + (target - s.remaining) / rate;
    return Math.max(0, Math.min(at, afterReset) - now);
  }

  /** Counts `requests` requests of `inputTokens` input tokens in all as sent since the observation. */
  reserveAmounts(requests: number, inputTokens: number): void {
    for (const [name, amount] of [
      ['requests', requests],
      ['input_tokens', inputTokens],
      ['tokens', inputTokens],
    ] as const) {
      const s = this.#resources.get(name);
      if (s !== undefined) s.used += amount;
    }
  }

  /** Counts a request about to be sent against the headroom. */
  reserve(cost: RequestCost): void {
    const add = (name: ThrottleResource, amount: number): void => {
      const s = this.#resources.get(name);
      if (s !== undefined) s.used += amount;
    };
    add('requests', 1);
    add('input_tokens', cost.inputTokens);
    add('tokens', cost.inputTokens);
    add('output_tokens', 1);
  }

  /** Gives back a reservation whose request was never sent (an open breaker answered it). */
  release(cost: RequestCost): void {
    const sub = (name: ThrottleResource, amount: number): void => {
      const s = this.#resources.get(name);
      if (s !== undefined) s.used = Math.max(0, s.used - amount);
    };
    sub('requests', 1);
    sub('input_tokens', cost.inputTokens);
    sub('tokens', cost.inputTokens);
    sub('output_tokens', 1);
  }

  /**
   * The state as a store keeps it: `remaining` after reservations, reset as a duration from the
   * newest observation ({@link Headroom.observedAt}).
   */
  snapshot(): Record<string, { limit?: number; remaining: number; resetInMs: number }> {
    const out: Record<string, { limit?: number; remaining: number; resetInMs: number }> = {};
    for (const [name, s] of this.#resources) {
      const entry: { limit?: number; remaining: number; resetInMs: number } = {
        remaining: Math.max(0, Math.floor(s.remaining - s.used)),
        resetInMs: Math.max(0, s.resetAt - this.observedAt),
      };
      if (s.limit !== undefined) entry.limit = s.limit;
      out[name] = entry;
    }
    return out;
  }

  /**
   * Adopts another process's observation made `ageMs` before `now`, when it is newer than ours:
   * the server's `remaining` then counts the whole fleet's traffic.
   */
  adopt(
    resources: Readonly<Record<string, { limit?: number; remaining: number; resetInMs: number }>>,
    ageMs: number,
    now: number,
  ): void {
    const observedAt = now - ageMs;
    if (observedAt <= this.observedAt) return;
    for (const [name, r] of Object.entries(resources)) {
      // This process's reservations stay counted: some were sent after that observation (counting
      // the others twice until the next response errs toward waiting).
      const used = this.#resources.get(name as ThrottleResource)?.used ?? 0;
      this.#resources.set(name as ThrottleResource, {
        limit: r.limit,
        remaining: r.remaining,
        observedAt,
        resetAt: observedAt + Math.min(r.resetInMs, MAX_WINDOW_MS + RESET_PRECISION_MS),
        used,
      });
    }
    this.observedAt = observedAt;
  }
}

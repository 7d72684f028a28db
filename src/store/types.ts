/**
 * Fleet mode: the state the resilience policies share across processes. A {@link FleetStore} holds
 * the circuit breakers (per key, with a single owner for each half-open probe), the retry budget,
 * the rate-limit headroom and the response cache; {@link MemoryFleetStore} keeps them in memory
 * (several fetches of one process), `RedisFleetStore` (`claude-otel-middleware/redis`) in Redis.
 *
 * Every call is asynchronous and may fail or be slow: the policies never wait on it on the hot path
 * (they keep local state, write behind and refresh in the background), and a failing store only
 * makes them fall back to that local state (see `guard.ts`).
 *
 * Times crossing the interface are **durations** (`openForMs`, `ageMs`, `resetInMs`), each store
 * measuring them on its own clock (Redis: the server's `TIME`), so processes whose clocks differ
 * still agree.
 *
 * What a store holds: breaker counters and states, token counts, rate-limit numbers and cached
 * Message JSON (size-bounded) — never a request's headers, so never an API key.
 */

/** How a shared breaker decides; the breaker options of the fetch, resolved. */
export interface FleetBreakerConfig {
  /** `consecutive`: failures in a row across the fleet; `failure_rate`: share of failures in `windowMs`. */
  readonly mode: 'consecutive' | 'failure_rate';
  /** `consecutive` mode: failures in a row that open the breaker. */
  readonly consecutiveFailures: number;
  /** `failure_rate` mode: the share of failures (0–1) that opens the breaker. */
  readonly failureRateThreshold: number;
  /** `failure_rate` mode: outcomes needed in the window before the rate counts. */
  readonly minimumThroughput: number;
  /** `failure_rate` mode: the fleet's last `windowSize` outcomes (`count`), or those of `windowMs` (`time`, in 10 buckets). */
  readonly windowKind: 'count' | 'time';
  /** `count` window: outcomes kept. */
  readonly windowSize: number;
  /** `time` window: its length, in ms. */
  readonly windowMs: number;
  /** How long the first trip keeps the breaker open, in ms. */
  readonly openMs: number;
  /** Factor of the open time on each trip in a row. */
  readonly openBackoffMultiplier: number;
  /** The longest open time, in ms. */
  readonly maxOpenMs: number;
  /** Probes admitted at once across the fleet in half-open. */
  readonly halfOpenProbes: number;
  /** Probe successes that close the breaker. */
  readonly successThreshold: number;
  /** A probe slot whose owner never settled it (a crashed worker) is freed after this long. */
  readonly probeTtlMs: number;
}

/** A shared breaker as the fleet sees it now. */
export interface FleetBreakerView {
  /** The breaker's state. */
  readonly state: 'closed' | 'open' | 'half_open';
  /** While open: ms until probes are admitted; else 0. */
  readonly openForMs: number;
}

/** The answer of {@link FleetStore.breakerAcquireProbe}. */
export interface ProbeGrant {
  /** Whether the owner got a probe slot. */
  readonly granted: boolean;
  /** The breaker after the attempt to take one. */
  readonly view: FleetBreakerView;
}

/** Rate-limit headroom of one key (region and model) as last observed by any process. */
export interface HeadroomSnapshot {
  /** By resource (`requests`, `tokens`, `input_tokens`, `output_tokens`). */
  readonly resources: Readonly<
    Record<
      string,
      {
        /** The limit, when the headers said it. */
        readonly limit?: number;
        /** What was left. */
        readonly remaining: number;
        /** ms until it was full again. */
        readonly resetInMs: number;
      }
    >
  >;
  /** How long ago it was observed (0 when written). */
  readonly ageMs: number;
  /** ms during which nobody should send (a 429's `retry-after`); 0 when none. */
  readonly blockedForMs: number;
}

/** What a request takes from the headroom. */
export interface HeadroomCost {
  /** Requests (1). */
  readonly requests: number;
  /** Estimated input tokens. */
  readonly inputTokens: number;
}

/** The answer of {@link FleetStore.headroomClaim}. */
export interface HeadroomClaim {
  /** Whether the request may be sent now. */
  readonly granted: boolean;
  /** When not granted: ms before it may be. */
  readonly waitMs: number;
  /** When not granted: `requests`, `input_tokens`, `tokens` or `retry_after` (a 429's block). */
  readonly resource: string | undefined;
}

/** A cached success, as a store keeps it. */
export interface StoredResponse {
  /** The HTTP status (a 2xx). */
  readonly status: number;
  /** The headers kept (`content-type`). */
  readonly headers: Record<string, string>;
  /** The Message JSON, as received. */
  readonly body: string;
  /** How long ago it was stored. */
  readonly ageMs: number;
}

/** What the store is used for (`anthropic.store.operation`); `probe` is the guard's health check. */
export type StoreOperation = 'breaker' | 'budget' | 'headroom' | 'cache' | 'probe';

/** Shared state of a fleet of clients. Implementations must be safe for concurrent processes. */
export interface FleetStore {
  /** For logs: `memory`, `redis`, … */
  readonly kind: string;
  /**
   * Optional: which part of the store holds `operation`'s data of `key` (`key`: the breaker key,
   * the budget name, the headroom key or the cache key) — for a Redis Cluster, the master serving
   * its slot (`host:port`). The guard keeps health per shard, so one dead shard degrades only the
   * keys it holds. Default: the whole store is one shard.
   */
  shardOf?(operation: Exclude<StoreOperation, 'probe'>, key: string): string;
  /**
   * Optional: a cheap read-only check that the shard holding `key` answers. While a shard is
   * degraded the guard runs it in the background every `retryMs` (so no request waits on a shard
   * known to be down); without it, a caller's own call is let through as the check.
   */
  probe?(operation: Exclude<StoreOperation, 'probe'>, key: string): Promise<void>;
  /** The breaker of `key` now (an open breaker whose time has passed is half-open). */
  breakerView(key: string, config: FleetBreakerConfig): Promise<FleetBreakerView>;
  /** Counts an outcome of a non-probe attempt (only while closed) and returns the state after it. */
  breakerRecord(key: string, failed: boolean, config: FleetBreakerConfig): Promise<FleetBreakerView>;
  /**
   * Takes one of the `halfOpenProbes` probe slots of a half-open breaker for `owner` (atomically,
   * across the fleet). `granted` false: not half-open, or every slot taken.
   */
  breakerAcquireProbe(key: string, owner: string, config: FleetBreakerConfig): Promise<ProbeGrant>;
  /** Settles `owner`'s probe: a failure re-opens (longer), enough successes close. */
  breakerSettleProbe(
    key: string,
    owner: string,
    outcome: 'success' | 'failure' | 'ignore',
    config: FleetBreakerConfig,
  ): Promise<FleetBreakerView>;
  /**
   * Adds `deltaMilli` (thousandths of a token, may be negative) to the shared retry budget `name`,
   * clamped to [0, maxMilli] (a missing budget starts full), and returns the tokens after it.
   */
  budgetAdd(name: string, deltaMilli: number, maxMilli: number): Promise<number>;
  /**
   * Stores `key`'s headroom when it was observed no earlier than the stored one; a `blockedForMs`
   * only ever extends the stored block.
   */
  headroomPut(key: string, snapshot: HeadroomSnapshot): Promise<void>;
  /** `key`'s stored headroom, if any. */
  headroomGet(key: string): Promise<HeadroomSnapshot | undefined>;
  /**
   * Claims a request's cost against `key`'s shared headroom, atomically across the fleet: granted
   * when the stored observation (refilled as `refill` says) minus what was claimed since covers it
   * (or nothing is known), else the ms to wait and for which resource. A newer observation resets
   * the claims (the server's `remaining` counts them).
   */
  headroomClaim(key: string, cost: HeadroomCost, refill: 'continuous' | 'at_reset'): Promise<HeadroomClaim>;
  /** The response cached under `key`, if any and not expired. */
  cacheGet(key: string): Promise<StoredResponse | undefined>;
  /** Stores a response for `ttlMs`; values over the store's size bound are not stored. */
  cacheSet(key: string, value: Omit<StoredResponse, 'ageMs'>, ttlMs: number): Promise<void>;
  /** Releases connections the store opened itself. */
  close(): Promise<void>;
}

/** Validation helpers shared by the stores. */
export function positiveNumber(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new TypeError(`${name} must be a positive finite number, got ${String(value)}`);
  }
  return value;
}

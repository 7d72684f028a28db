/**
 * The in-memory {@link FleetStore}: the same semantics as the Redis store (the Lua scripts of
 * `redis.ts` are this file's logic), for several fetches of one process and for tests (its clock is
 * injected). Entries expire `ttlMs` after their last write; the cache is bounded in entries and in
 * bytes per value.
 */
import { systemClock } from '../policies/clock.js';
import { Headroom } from '../policies/throttle.js';
import type { Clock } from '../policies/types.js';
import {
  type FleetBreakerConfig,
  type FleetBreakerView,
  type FleetStore,
  type HeadroomClaim,
  type HeadroomCost,
  type HeadroomSnapshot,
  type ProbeGrant,
  positiveNumber,
  type StoredResponse,
} from './types.js';

/** Options of {@link MemoryFleetStore}. */
export interface MemoryFleetStoreOptions {
  /** Entries not written for this long are dropped, in ms. Default 3 600 000 (1 hour). */
  ttlMs?: number;
  /** Largest cached body stored, in bytes. Default 1 048 576 (1 MiB). */
  maxValueBytes?: number;
  /** Most cached responses kept (oldest written go first). Default 1000. */
  maxCacheEntries?: number;
  /** The clock (tests drive it). Default: the real clock. */
  clock?: Clock;
}

/** Two observations whose resets are closer than this belong to the same window. */
const SAME_WINDOW_MS = 1_000;

/** A shared breaker's record (the Redis hash has the same fields). */
interface BreakerRecord {
  state: 'closed' | 'open' | 'half_open';
  openUntil: number;
  openDuration: number;
  consecutive: number;
  successes: number;
  /** Failure-rate buckets (time window): bucket number → [total, failures]. */
  buckets: Map<number, [number, number]>;
  /** Failure-rate outcomes (count window), oldest first: '1' a failure, '0' a success. */
  ring: string;
  /** Probe owners → expiry. */
  probes: Map<string, number>;
  expiresAt: number;
}

export class MemoryFleetStore implements FleetStore {
  readonly kind = 'memory';
  readonly #clock: Clock;
  readonly #ttlMs: number;
  readonly #maxValueBytes: number;
  readonly #maxCacheEntries: number;
  readonly #breakers = new Map<string, BreakerRecord>();
  readonly #budgets = new Map<string, { milli: number; expiresAt: number }>();
  readonly #headroom = new Map<
    string,
    {
      snapshot: HeadroomSnapshot;
      observedAt: number;
      blockedUntil: number;
      expiresAt: number;
      /** Claimed since the observation. */
      requests: number;
      inputTokens: number;
    }
  >();
  readonly #cache = new Map<
    string,
    { value: Omit<StoredResponse, 'ageMs'>; at: number; expiresAt: number }
  >();

  constructor(options: MemoryFleetStoreOptions = {}) {
    this.#clock = options.clock ?? systemClock;
    this.#ttlMs = positiveNumber('store.ttlMs', options.ttlMs, 3_600_000);
    this.#maxValueBytes = positiveNumber('store.maxValueBytes', options.maxValueBytes, 1024 * 1024);
    this.#maxCacheEntries = positiveNumber('store.maxCacheEntries', options.maxCacheEntries, 1000);
  }

  #breaker(key: string, config: FleetBreakerConfig, now: number): BreakerRecord {
    let record = this.#breakers.get(key);
    if (record === undefined || record.expiresAt <= now) {
      record = {
        state: 'closed',
        openUntil: 0,
        openDuration: config.openMs,
        consecutive: 0,
        successes: 0,
        buckets: new Map(),
        ring: '',
        probes: new Map(),
        expiresAt: 0,
      };
      this.#breakers.set(key, record);
    }
    record.expiresAt = now + Math.max(this.#ttlMs, config.maxOpenMs * 2);
    if (record.state === 'open' && now >= record.openUntil) {
      record.state = 'half_open';
      record.successes = 0;
      record.probes.clear();
    }
    return record;
  }

  #view(record: BreakerRecord, now: number): FleetBreakerView {
    return { state: record.state, openForMs: record.state === 'open' ? record.openUntil - now : 0 };
  }

  #open(record: BreakerRecord, config: FleetBreakerConfig, now: number, reopen: boolean): void {
    if (reopen) {
      record.openDuration = Math.min(record.openDuration * config.openBackoffMultiplier, config.maxOpenMs);
    }
    record.state = 'open';
    record.openUntil = now + record.openDuration;
    record.probes.clear();
  }

  async breakerView(key: string, config: FleetBreakerConfig): Promise<FleetBreakerView> {
    const now = this.#clock.now();
    return this.#view(this.#breaker(key, config, now), now);
  }

  async breakerRecord(key: string, failed: boolean, config: FleetBreakerConfig): Promise<FleetBreakerView> {
    const now = this.#clock.now();
    const record = this.#breaker(key, config, now);
    if (record.state !== 'closed') return this.#view(record, now);
    if (config.mode === 'consecutive') {
      record.consecutive = failed ? record.consecutive + 1 : 0;
      if (record.consecutive >= config.consecutiveFailures) this.#open(record, config, now, false);
      return this.#view(record, now);
    }
    if (config.windowKind === 'count') {
      record.ring = (record.ring + (failed ? '1' : '0')).slice(-config.windowSize);
      const total = record.ring.length;
      const failures = total - record.ring.replaceAll('1', '').length;
      if (failed && total >= config.minimumThroughput && failures / total >= config.failureRateThreshold) {
        this.#open(record, config, now, false);
      }
      return this.#view(record, now);
    }
    const width = config.windowMs / 10;
    const bucket = Math.floor(now / width);
    const counts = record.buckets.get(bucket) ?? [0, 0];
    counts[0]++;
    if (failed) counts[1]++;
    record.buckets.set(bucket, counts);
    let total = 0;
    let failures = 0;
    for (const [b, [t, f]] of record.buckets) {
      if (b <= bucket - 10) record.buckets.delete(b);
      else {
        total += t;
        failures += f;
      }
    }
    if (failed && total >= config.minimumThroughput && failures / total >= config.failureRateThreshold) {
      this.#open(record, config, now, false);
    }
    return this.#view(record, now);
  }

  async breakerAcquireProbe(key: string, owner: string, config: FleetBreakerConfig): Promise<ProbeGrant> {
    const now = this.#clock.now();
    const record = this.#breaker(key, config, now);
    if (record.state !== 'half_open') return { granted: false, view: this.#view(record, now) };
    for (const [o, expiry] of record.probes) if (expiry <= now) record.probes.delete(o);
    if (record.probes.size >= config.halfOpenProbes) return { granted: false, view: this.#view(record, now) };
    record.probes.set(owner, now + config.probeTtlMs);
    return { granted: true, view: this.#view(record, now) };
  }

  async breakerSettleProbe(
    key: string,
    owner: string,
    outcome: 'success' | 'failure' | 'ignore',
    config: FleetBreakerConfig,
  ): Promise<FleetBreakerView> {
    const now = this.#clock.now();
    const record = this.#breaker(key, config, now);
    if (record.state !== 'half_open' || !record.probes.delete(owner)) return this.#view(record, now);
    if (outcome === 'failure') this.#open(record, config, now, true);
    else if (outcome === 'success' && ++record.successes >= config.successThreshold) {
      record.state = 'closed';
      record.openDuration = config.openMs;
      record.consecutive = 0;
      record.buckets.clear();
      record.ring = '';
    }
    return this.#view(record, now);
  }

  async budgetAdd(name: string, deltaMilli: number, maxMilli: number): Promise<number> {
    const now = this.#clock.now();
    const entry = this.#budgets.get(name);
    const current = entry !== undefined && entry.expiresAt > now ? entry.milli : maxMilli;
    const milli = Math.min(maxMilli, Math.max(0, current + deltaMilli));
    this.#budgets.set(name, { milli, expiresAt: now + this.#ttlMs });
    return milli;
  }

  async headroomPut(key: string, snapshot: HeadroomSnapshot): Promise<void> {
    const now = this.#clock.now();
    const observedAt = now - snapshot.ageMs;
    const old = this.#headroom.get(key);
    const live = old !== undefined && old.expiresAt > now ? old : undefined;
    const blockedUntil = Math.max(live?.blockedUntil ?? 0, now + snapshot.blockedForMs);
    if (live !== undefined && observedAt < live.observedAt) {
      live.blockedUntil = blockedUntil;
      live.expiresAt = now + this.#ttlMs;
      return;
    }
    const resources: Record<string, { limit?: number; remaining: number; resetInMs: number }> = {};
    const falls: Record<string, number | undefined> = {};
    for (const [name, fresh] of Object.entries(snapshot.resources)) {
      const old = live?.snapshot.resources[name];
      const oldReset = live !== undefined && old !== undefined ? live.observedAt + old.resetInMs : undefined;
      if (
        oldReset !== undefined &&
        old !== undefined &&
        Math.abs(observedAt + fresh.resetInMs - oldReset) < SAME_WINDOW_MS
      ) {
        // The same window: `remaining` only falls within one, so a higher value is an older
        // observation that arrived late. The fall is what the server counted of the claims.
        const fall = Math.max(0, old.remaining - fresh.remaining);
        resources[name] = fall > 0 ? fresh : { ...old, resetInMs: oldReset - observedAt };
        falls[name] = fall;
      } else {
        resources[name] = fresh;
      }
    }
    const claims = (claimed: number | undefined, fall: number | undefined): number =>
      fall === undefined ? 0 : Math.max(0, (claimed ?? 0) - fall);
    this.#headroom.set(key, {
      snapshot: { ...snapshot, resources },
      observedAt,
      blockedUntil,
      expiresAt: now + this.#ttlMs,
      requests: claims(live?.requests, falls.requests),
      inputTokens: claims(live?.inputTokens, falls.input_tokens),
    });
  }

  async headroomClaim(
    key: string,
    cost: HeadroomCost,
    refill: 'continuous' | 'at_reset',
  ): Promise<HeadroomClaim> {
    const now = this.#clock.now();
    const entry = this.#headroom.get(key);
    if (entry === undefined || entry.expiresAt <= now)
      return { granted: true, waitMs: 0, resource: undefined };
    if (entry.blockedUntil > now) {
      return { granted: false, waitMs: entry.blockedUntil - now, resource: 'retry_after' };
    }
    const h = new Headroom(refill);
    h.adopt(entry.snapshot.resources, now - entry.observedAt, now);
    h.reserveAmounts(entry.requests, entry.inputTokens);
    const wait = h.waitFor({ inputTokens: cost.inputTokens }, now);
    if (wait.ms > 0) return { granted: false, waitMs: wait.ms, resource: wait.resource };
    entry.requests += cost.requests;
    entry.inputTokens += cost.inputTokens;
    return { granted: true, waitMs: 0, resource: undefined };
  }

  async headroomGet(key: string): Promise<HeadroomSnapshot | undefined> {
    const now = this.#clock.now();
    const entry = this.#headroom.get(key);
    if (entry === undefined || entry.expiresAt <= now) return undefined;
    const ageMs = now - entry.observedAt;
    return {
      resources: entry.snapshot.resources,
      ageMs,
      blockedForMs: Math.max(0, entry.blockedUntil - now),
    };
  }

  async cacheGet(key: string): Promise<StoredResponse | undefined> {
    const now = this.#clock.now();
    const entry = this.#cache.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAt <= now) {
      this.#cache.delete(key);
      return undefined;
    }
    return { ...entry.value, ageMs: now - entry.at };
  }

  async cacheSet(key: string, value: Omit<StoredResponse, 'ageMs'>, ttlMs: number): Promise<void> {
    if (Buffer.byteLength(value.body) > this.#maxValueBytes) return;
    const now = this.#clock.now();
    this.#cache.delete(key);
    this.#cache.set(key, {
      value: { status: value.status, headers: { ...value.headers }, body: value.body },
      at: now,
      expiresAt: now + Math.min(ttlMs, this.#ttlMs),
    });
    while (this.#cache.size > this.#maxCacheEntries) {
      const oldest = this.#cache.keys().next();
      if (oldest.done) break;
      this.#cache.delete(oldest.value);
    }
  }

  async close(): Promise<void> {}
}

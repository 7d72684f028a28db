/**
 * Circuit breakers: a small state machine per key (by default region + model) that stops sending
 * attempts to a dependency that keeps failing, then lets a few probes through to find out whether it
 * recovered.
 *
 * - `closed`: every attempt is admitted and its outcome recorded. In `failure_rate` mode the breaker
 *   opens when, at a failure, the window holds at least `minimumThroughput` outcomes and the share of
 *   failures reaches `failureRateThreshold`; in `consecutive` mode it opens at the
 *   `consecutiveFailures`-th failure in a row.
 * - `open`: nothing is admitted for the open duration (`openMs`, 5 s; times `openBackoffMultiplier`
 *   for each re-trip from half-open, capped by `maxOpenMs` — no doubling by default).
 * - `half_open`: at most `halfOpenProbes` attempts are out at once; `successThreshold` successes
 *   close the breaker (and reset the open duration), any failure opens it again.
 *
 * `open` becomes `half_open` when the state is next looked at (`state`, `tryAcquire()`,
 * `retryAfterMs()`) after the open duration has passed by the injected clock. Transitions are
 * reported to listeners, the breaker's only side channel.
 *
 * Holding ({@link CircuitBreaker.acquire}): instead of being refused, a caller may wait, bounded, for
 * the breaker's decision. While open, the only timer is one at the end of the open period (armed
 * only while someone waits); then the newest waiter carries the probe (it has the most time left).
 * A successful probe closes the breaker and admits every waiter; a failed probe refuses the waiters
 * that were waiting when it went out, while those that came later wait for the next probe; a probe
 * that decides nothing (ignored) hands its slot to the newest waiter. `close()` refuses every waiter.
 *
 * An admitted attempt holds a {@link BreakerPermit} and settles it once. Outcomes only count in the
 * state they were admitted in: a permit taken before a transition (a slow request admitted while
 * closed that fails after the breaker opened, or a half-open probe that outlived the re-opening) is
 * settled without effect, so it can neither extend an open period nor decide a later half-open.
 */

import { Listeners } from './listeners.js';
import type { Clock, Timer } from './types.js';

/** State of a circuit breaker: `closed` (attempts pass), `open` (attempts rejected at once), `half_open` (probes decide). */
export type BreakerState = 'closed' | 'open' | 'half_open';

/** The outcomes a `failure_rate` breaker looks at. */
export type BreakerWindow =
  /** The last `size` outcomes. */
  | {
      /** A window of the last outcomes. */
      kind: 'count';
      /** How many outcomes it holds. */
      size: number;
    }
  /**
   * The outcomes of the last `ms` milliseconds, kept in 10 buckets of `ms / 10`: an outcome leaves
   * the window between `0.9 * ms` and `ms` after it was recorded.
   */
  | {
      /** A window of the last milliseconds. */
      kind: 'time';
      /** Its length, in ms. */
      ms: number;
    };

/** How one circuit breaker trips and recovers (the breaker policy's per-key settings). */
export interface BreakerOptions {
  /**
   * What trips the breaker: the share of failures in a window (`failure_rate`) or a run of failures
   * (`consecutive`). Default `'failure_rate'`.
   */
  mode?: 'failure_rate' | 'consecutive';
  /**
   * `failure_rate` mode: the share of failures in the window, in (0, 1], at which a failure opens
   * the breaker. Default `0.5`.
   */
  failureRateThreshold?: number;
  /**
   * `failure_rate` mode: fewer outcomes than this in the window never trip the breaker. Must not
   * exceed a count window's size. Default `10`.
   */
  minimumThroughput?: number;
  /** `failure_rate` mode: which outcomes count. Default `{ kind: 'count', size: 20 }`. */
  window?: BreakerWindow;
  /** `consecutive` mode: failures in a row (ignored outcomes aside) that open the breaker. Default `5`. */
  consecutiveFailures?: number;
  /**
   * How long, in ms, the breaker stays open before it admits probes. Default `5_000`: short, so
   * requests held while open (see the policy's `hold`) wait little and a recovered API is found
   * within one open period plus one probe.
   */
  openMs?: number;
  /**
   * Each re-opening from half-open multiplies the open duration by this (≥ 1); closing resets it to
   * `openMs`. Default `1` (constant open period); e.g. `2` doubles it on every re-trip.
   */
  openBackoffMultiplier?: number;
  /** Longest open duration in ms (never less than `openMs`). Default `300_000`. */
  maxOpenMs?: number;
  /** How many attempts half-open admits at once. Default `1`. */
  halfOpenProbes?: number;
  /** Successful probes that close a half-open breaker. Default `1`. */
  successThreshold?: number;
}

/**
 * An admitted attempt. Settle it exactly once with its outcome; later calls do nothing.
 */
export interface BreakerPermit {
  /** The attempt succeeded. */
  success(): void;
  /** The attempt failed in a way that counts against the dependency. */
  failure(): void;
  /**
   * The outcome does not count (a client error, a caller's abort). In half-open this frees the
   * probe's slot without deciding anything.
   */
  ignore(): void;
}

/**
 * How a wait for the breaker's decision ({@link CircuitBreaker.acquire}) ended: `admitted` (the
 * breaker closed), `probe` (the waiter carries a half-open probe), `refused` (the probe sent while
 * it waited failed), `timeout` (no decision within the wait), `closed` (the breaker was shut down).
 */
export type BreakerWaitOutcome = 'admitted' | 'probe' | 'refused' | 'timeout' | 'closed';

/** What {@link CircuitBreaker.acquire} gave. */
export interface BreakerAcquisition {
  /** The permit, or `undefined` when refused. */
  readonly permit: BreakerPermit | undefined;
  /** How the wait ended; `undefined` when the caller did not wait (admitted or refused at once). */
  readonly outcome: BreakerWaitOutcome | undefined;
  /** The state when the wait began (`closed` when the caller did not wait). */
  readonly stateAtStart: BreakerState;
  /** Ms waited, by the clock. */
  readonly waitedMs: number;
}

interface Waiter {
  /** Arrival order. */
  readonly seq: number;
  readonly startedAt: number;
  readonly stateAtStart: BreakerState;
  timer: Timer | undefined;
  cleanup: () => void;
  resolve: (acquisition: BreakerAcquisition) => void;
}

export type TransitionListener = (from: BreakerState, to: BreakerState) => void;

export type KeyedTransitionListener = (key: string, from: BreakerState, to: BreakerState) => void;

/** The options with their defaults, validated. */
interface ResolvedOptions {
  readonly mode: 'failure_rate' | 'consecutive';
  readonly failureRateThreshold: number;
  readonly minimumThroughput: number;
  readonly window: BreakerWindow;
  readonly consecutiveFailures: number;
  readonly openMs: number;
  readonly openBackoffMultiplier: number;
  readonly maxOpenMs: number;
  readonly halfOpenProbes: number;
  readonly successThreshold: number;
}

/** The default open period, in ms. */
export const DEFAULT_OPEN_MS = 5_000;

/** Buckets of a time window. */
const TIME_BUCKETS = 10;

function positiveInteger(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw new TypeError(`options.${name} must be a positive integer, got ${String(value)}`);
  }
  return value;
}

function finiteAtLeast(name: string, value: unknown, min: number, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min) {
    throw new TypeError(`options.${name} must be a finite number ≥ ${min}, got ${String(value)}`);
  }
  return value;
}

function resolveOptions(options: BreakerOptions | undefined): ResolvedOptions {
  const o = options ?? {};
  const mode = o.mode ?? 'failure_rate';
  if (mode !== 'failure_rate' && mode !== 'consecutive') {
    throw new TypeError(`options.mode must be 'failure_rate' or 'consecutive', got ${String(mode)}`);
  }
  const failureRateThreshold = o.failureRateThreshold ?? 0.5;
  if (typeof failureRateThreshold !== 'number' || !(failureRateThreshold > 0 && failureRateThreshold <= 1)) {
    throw new TypeError(
      `options.failureRateThreshold must be in (0, 1], got ${String(failureRateThreshold)}`,
    );
  }
  const minimumThroughput = positiveInteger('minimumThroughput', o.minimumThroughput, 10);
  let window: BreakerWindow;
  const w: unknown = o.window;
  if (w === undefined) {
    window = { kind: 'count', size: 20 };
  } else if (typeof w === 'object' && w !== null && 'kind' in w && w.kind === 'count') {
    const size = (w as { size?: unknown }).size;
    if (size === undefined)
      throw new TypeError('options.window.size must be a positive integer, got undefined');
    window = { kind: 'count', size: positiveInteger('window.size', size, 0) };
  } else if (typeof w === 'object' && w !== null && 'kind' in w && w.kind === 'time') {
    const ms = (w as { ms?: unknown }).ms;
    if (typeof ms !== 'number' || !Number.isFinite(ms) || ms <= 0) {
      throw new TypeError(`options.window.ms must be a positive finite number, got ${String(ms)}`);
    }
    window = { kind: 'time', ms };
  } else {
    throw new TypeError("options.window must be { kind: 'count', size } or { kind: 'time', ms }");
  }
  if (mode === 'failure_rate' && window.kind === 'count' && window.size < minimumThroughput) {
    throw new TypeError(
      `options.minimumThroughput (${minimumThroughput}) exceeds options.window.size (${window.size}): the breaker could never open`,
    );
  }
  const openMs = finiteAtLeast('openMs', o.openMs, 0, DEFAULT_OPEN_MS);
  return {
    mode,
    failureRateThreshold,
    minimumThroughput,
    window,
    consecutiveFailures: positiveInteger('consecutiveFailures', o.consecutiveFailures, 5),
    openMs,
    openBackoffMultiplier: finiteAtLeast('openBackoffMultiplier', o.openBackoffMultiplier, 1, 1),
    maxOpenMs: Math.max(openMs, finiteAtLeast('maxOpenMs', o.maxOpenMs, 0, 300_000)),
    halfOpenProbes: positiveInteger('halfOpenProbes', o.halfOpenProbes, 1),
    successThreshold: positiveInteger('successThreshold', o.successThreshold, 1),
  };
}

/** Outcomes of a `failure_rate` breaker. */
interface OutcomeWindow {
  record(failed: boolean, now: number): void;
  /** Outcomes in the window at `now`. */
  total(now: number): number;
  /** Failures in the window (as of the last `record` or `total`). */
  readonly failures: number;
  reset(): void;
}

/** The last `size` outcomes, in a ring. */
class CountWindow implements OutcomeWindow {
  readonly #ring: Uint8Array;
  #next = 0;
  #filled = 0;
  failures = 0;

  constructor(size: number) {
    this.#ring = new Uint8Array(size);
  }

  record(failed: boolean): void {
    const size = this.#ring.length;
    if (this.#filled === size) this.failures -= this.#ring[this.#next] ?? 0;
    else this.#filled++;
    this.#ring[this.#next] = failed ? 1 : 0;
    if (failed) this.failures++;
    this.#next = (this.#next + 1) % size;
  }

  total(): number {
    return this.#filled;
  }

  reset(): void {
    this.#ring.fill(0);
    this.#next = 0;
    this.#filled = 0;
    this.failures = 0;
  }
}

/** The outcomes of the last `ms`, in {@link TIME_BUCKETS} buckets of `ms / TIME_BUCKETS`. */
class TimeWindow implements OutcomeWindow {
  readonly #width: number;
  readonly #totals = new Float64Array(TIME_BUCKETS);
  readonly #failures = new Float64Array(TIME_BUCKETS);
  /** Absolute number (time / width) of the newest bucket. */
  #head = Number.NEGATIVE_INFINITY;
  #total = 0;
  failures = 0;

  constructor(ms: number) {
    this.#width = ms / TIME_BUCKETS;
  }

  /** Drops the buckets that left the window at `now` (a clock going back stays in the newest). */
  #roll(now: number): number {
    const bucket = Math.floor(now / this.#width);
    if (bucket > this.#head) {
      if (bucket - this.#head >= TIME_BUCKETS) {
        this.reset();
      } else {
        for (let b = this.#head + 1; b <= bucket; b++) {
          const slot = slotOf(b);
          this.#total -= this.#totals[slot] ?? 0;
          this.failures -= this.#failures[slot] ?? 0;
          this.#totals[slot] = 0;
          this.#failures[slot] = 0;
        }
      }
      this.#head = bucket;
    }
    return slotOf(this.#head);
  }

  record(failed: boolean, now: number): void {
    const slot = this.#roll(now);
    this.#totals[slot] = (this.#totals[slot] ?? 0) + 1;
    this.#total++;
    if (failed) {
      this.#failures[slot] = (this.#failures[slot] ?? 0) + 1;
      this.failures++;
    }
  }

  total(now: number): number {
    this.#roll(now);
    return this.#total;
  }

  reset(): void {
    this.#totals.fill(0);
    this.#failures.fill(0);
    this.#total = 0;
    this.failures = 0;
  }
}

function slotOf(bucket: number): number {
  return ((bucket % TIME_BUCKETS) + TIME_BUCKETS) % TIME_BUCKETS;
}

type Outcome = 'success' | 'failure' | 'ignore';

export class CircuitBreaker {
  readonly #options: ResolvedOptions;
  readonly #clock: Clock;
  readonly #listeners = new Listeners<[from: BreakerState, to: BreakerState]>();
  /** `failure_rate` mode only. */
  readonly #window: OutcomeWindow | undefined;
  #state: BreakerState = 'closed';
  /** Bumped at every transition; permits of an earlier epoch settle without effect. */
  #epoch = 0;
  /** Closed, `consecutive` mode: failures in a row. */
  #consecutive = 0;
  /** Open: when it may become half-open, by the clock. */
  #openUntil = 0;
  /** The duration of the current (or next) open period. */
  #openDuration: number;
  /** Half-open: probes admitted and not settled. */
  #probes = 0;
  /** Half-open: successful probes. */
  #successes = 0;
  /** Requests waiting for a decision, oldest first. */
  readonly #waiters: Waiter[] = [];
  /** The next waiter's arrival number. */
  #seq = 0;
  /** Waiters up to this arrival number were waiting when the last probe went out. */
  #probeMark = -1;
  /** While open with waiters: fires at the end of the open period. */
  #openTimer: Timer | undefined;
  /** `close()` was called: nobody waits any more. */
  #shut = false;

  constructor(options: BreakerOptions | undefined, clock: Clock) {
    this.#options = resolveOptions(options);
    this.#clock = clock;
    this.#openDuration = this.#options.openMs;
    const { mode, window } = this.#options;
    if (mode === 'failure_rate') {
      this.#window = window.kind === 'count' ? new CountWindow(window.size) : new TimeWindow(window.ms);
    }
  }

  /** The current state (an open breaker whose open duration has passed becomes half-open here). */
  get state(): BreakerState {
    if (this.#state === 'open' && this.#clock.now() >= this.#openUntil) this.#transition('half_open');
    return this.#state;
  }

  /**
   * Admits an attempt, or returns `undefined` when the breaker is open, or half-open with all its
   * probes out.
   */
  tryAcquire(): BreakerPermit | undefined {
    const state = this.state;
    if (state === 'open') return undefined;
    if (state === 'half_open') {
      if (this.#probes >= this.#options.halfOpenProbes) return undefined;
      this.#probes++;
      // Whoever waits now was waiting when this probe went out.
      this.#probeMark = this.#seq - 1;
    }
    return this.#permit();
  }

  /**
   * Admits an attempt at once when the breaker would ({@link tryAcquire}); otherwise, with
   * `maxWaitMs` > 0, waits at most that long for the breaker's decision (see the module comment):
   * admitted when it closes, given the probe when it is the newest waiter as the breaker turns
   * half-open, refused when the probe sent while it waited fails, when `maxWaitMs` passes or when
   * the breaker is shut down ({@link close}). Rejects with the signal's reason when it aborts first
   * (nothing is admitted after an abort).
   */
  acquire(maxWaitMs: number, signal?: AbortSignal): Promise<BreakerAcquisition> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    const permit = this.tryAcquire();
    if (permit !== undefined || this.#shut || !(maxWaitMs > 0)) {
      return Promise.resolve({ permit, outcome: undefined, stateAtStart: this.#state, waitedMs: 0 });
    }
    return new Promise<BreakerAcquisition>((resolve, reject) => {
      const waiter: Waiter = {
        seq: this.#seq++,
        startedAt: this.#clock.now(),
        stateAtStart: this.#state,
        timer: undefined,
        cleanup: () => undefined,
        resolve,
      };
      const onAbort = (): void => {
        if (!this.#remove(waiter)) return;
        reject(signal?.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      waiter.cleanup = () => signal?.removeEventListener('abort', onAbort);
      waiter.timer = this.#clock.setTimer(() => this.#release(waiter, undefined, 'timeout'), maxWaitMs);
      this.#waiters.push(waiter);
      this.#armOpenTimer();
    });
  }

  /** Requests waiting for the breaker's decision. */
  get waiting(): number {
    return this.#waiters.length;
  }

  /**
   * Shuts the breaker's holding down: every waiter is refused (`closed`) and later callers of
   * {@link acquire} no longer wait. Admitting and recording go on as before.
   */
  close(): void {
    this.#shut = true;
    this.#openTimer?.cancel();
    this.#openTimer = undefined;
    for (const waiter of [...this.#waiters]) this.#release(waiter, undefined, 'closed');
  }

  /** A permit of the current epoch. */
  #permit(): BreakerPermit {
    const epoch = this.#epoch;
    let settled = false;
    const settle = (outcome: Outcome): void => {
      if (settled) return;
      settled = true;
      if (epoch === this.#epoch) this.#record(outcome);
    };
    return {
      success: () => settle('success'),
      failure: () => settle('failure'),
      ignore: () => settle('ignore'),
    };
  }

  /** Subscribes to transitions; returns the unsubscribe function. */
  onTransition(listener: TransitionListener): () => void {
    return this.#listeners.add(listener);
  }

  /** While open, the ms left before probes are admitted; otherwise `0`. */
  retryAfterMs(): number {
    if (this.state !== 'open') return 0;
    return Math.max(0, this.#openUntil - this.#clock.now());
  }

  /** Removes a waiter; false when it was no longer waiting. */
  #remove(waiter: Waiter): boolean {
    const i = this.#waiters.indexOf(waiter);
    if (i < 0) return false;
    this.#waiters.splice(i, 1);
    waiter.timer?.cancel();
    waiter.cleanup();
    if (this.#waiters.length === 0) {
      this.#openTimer?.cancel();
      this.#openTimer = undefined;
    }
    return true;
  }

  /** Ends a wait with `permit` (or a refusal). */
  #release(waiter: Waiter, permit: BreakerPermit | undefined, outcome: BreakerWaitOutcome): void {
    if (!this.#remove(waiter)) return;
    waiter.resolve({
      permit,
      outcome,
      stateAtStart: waiter.stateAtStart,
      waitedMs: Math.max(0, this.#clock.now() - waiter.startedAt),
    });
  }

  /** While open with waiters: a timer at the end of the open period, which turns it half-open. */
  #armOpenTimer(): void {
    if (this.#openTimer !== undefined || this.#state !== 'open' || this.#waiters.length === 0) return;
    this.#openTimer = this.#clock.setTimer(
      () => {
        this.#openTimer = undefined;
        // Reading the state makes the transition (and hands the probe out); a clock that fired
        // early leaves it open, and the timer is armed again.
        if (this.state === 'open') this.#armOpenTimer();
      },
      Math.max(0, this.#openUntil - this.#clock.now()),
    );
  }

  /** Hands the breaker's decision to the waiters (after a transition, or a freed probe slot). */
  #dispatch(from: BreakerState | undefined): void {
    if (this.#waiters.length === 0) return;
    switch (this.#state) {
      case 'closed':
        for (const waiter of [...this.#waiters]) this.#release(waiter, this.#permit(), 'admitted');
        break;
      case 'half_open':
        // The newest waiter carries the probe: it has the most time left to wait.
        while (this.#probes < this.#options.halfOpenProbes) {
          const newest = this.#waiters.at(-1);
          if (newest === undefined) break;
          this.#probes++;
          this.#probeMark = this.#seq - 1;
          this.#release(newest, this.#permit(), 'probe');
        }
        break;
      case 'open':
        if (from === 'half_open') {
          // The probe failed: refuse those that were waiting when it went out.
          for (const waiter of [...this.#waiters]) {
            if (waiter.seq <= this.#probeMark) this.#release(waiter, undefined, 'refused');
          }
        }
        this.#armOpenTimer();
        break;
    }
  }

  /** An outcome of a permit of the current epoch. */
  #record(outcome: Outcome): void {
    if (outcome === 'ignore') {
      if (this.#state === 'half_open') {
        this.#probes--;
        this.#dispatch(undefined);
      }
      return;
    }
    const failed = outcome === 'failure';
    if (this.#state === 'half_open') {
      this.#probes--;
      if (failed) this.#transition('open');
      else if (++this.#successes >= this.#options.successThreshold) this.#transition('closed');
      else this.#dispatch(undefined);
      return;
    }
    // Closed (open admits nothing, so no permit of an open epoch exists).
    if (this.#window === undefined) {
      this.#consecutive = failed ? this.#consecutive + 1 : 0;
      if (this.#consecutive >= this.#options.consecutiveFailures) this.#transition('open');
      return;
    }
    const now = this.#clock.now();
    this.#window.record(failed, now);
    if (!failed) return;
    const total = this.#window.total(now);
    if (
      total >= this.#options.minimumThroughput &&
      this.#window.failures / total >= this.#options.failureRateThreshold
    ) {
      this.#transition('open');
    }
  }

  #transition(to: BreakerState): void {
    const from = this.#state;
    this.#state = to;
    this.#epoch++;
    switch (to) {
      case 'open':
        if (from === 'half_open') {
          this.#openDuration = Math.min(
            this.#openDuration * this.#options.openBackoffMultiplier,
            this.#options.maxOpenMs,
          );
        }
        this.#openUntil = this.#clock.now() + this.#openDuration;
        break;
      case 'half_open':
        this.#probes = 0;
        this.#successes = 0;
        break;
      case 'closed':
        this.#openDuration = this.#options.openMs;
        this.#consecutive = 0;
        this.#window?.reset();
        break;
    }
    this.#listeners.emit(from, to);
    this.#dispatch(from);
  }
}

/**
 * One breaker per key, created on first use, for at most `maxKeys` keys: a new key evicts the least
 * recently used closed breaker, or the least recently used breaker when none is closed.
 */
export class BreakerRegistry {
  readonly #options: ResolvedOptions;
  readonly #clock: Clock;
  readonly #maxKeys: number;
  /** In order of use, least recent first. */
  readonly #breakers = new Map<string, { breaker: CircuitBreaker; unsubscribe: () => void }>();
  readonly #listeners = new Listeners<[key: string, from: BreakerState, to: BreakerState]>();
  readonly #closed = new AbortController();
  #shut = false;

  constructor(options: BreakerOptions | undefined, clock: Clock, maxKeys = 1000) {
    this.#options = resolveOptions(options);
    this.#clock = clock;
    this.#maxKeys = positiveInteger('maxKeys', maxKeys, 1000);
  }

  /** The breaker of `key`, created when missing. */
  get(key: string): CircuitBreaker {
    const entry = this.#breakers.get(key);
    if (entry !== undefined) {
      this.#breakers.delete(key);
      this.#breakers.set(key, entry);
      return entry.breaker;
    }
    if (this.#breakers.size >= this.#maxKeys) this.#evict();
    const breaker = new CircuitBreaker(this.#options, this.#clock);
    if (this.#shut) breaker.close();
    const unsubscribe = breaker.onTransition((from, to) => this.#listeners.emit(key, from, to));
    this.#breakers.set(key, { breaker, unsubscribe });
    return breaker;
  }

  /** A snapshot of the breakers, least recently used first. */
  entries(): Iterable<[string, CircuitBreaker]> {
    return Array.from(this.#breakers, ([key, { breaker }]): [string, CircuitBreaker] => [key, breaker]);
  }

  /** How many keys have a breaker. */
  get size(): number {
    return this.#breakers.size;
  }

  /** Subscribes to the transitions of every breaker; returns the unsubscribe function. */
  onTransition(listener: KeyedTransitionListener): () => void {
    return this.#listeners.add(listener);
  }

  /** Refuses every waiter of every breaker, now and later (see {@link CircuitBreaker.close}). */
  close(): void {
    this.#shut = true;
    for (const { breaker } of this.#breakers.values()) breaker.close();
    this.#closed.abort();
  }

  /** Aborted by {@link close} (the fleet breaker releases its own waiters on it). */
  get closedSignal(): AbortSignal {
    return this.#closed.signal;
  }

  #evict(): void {
    let victim: string | undefined;
    for (const [key, { breaker }] of this.#breakers) {
      if (breaker.waiting === 0) victim ??= key;
      if (breaker.state === 'closed' && breaker.waiting === 0) {
        victim = key;
        break;
      }
    }
    if (victim === undefined) {
      // Every breaker has waiters: the least recently used one refuses its own.
      victim = this.#breakers.keys().next().value;
      if (victim === undefined) return;
      this.#breakers.get(victim)?.breaker.close();
    }
    this.#breakers.get(victim)?.unsubscribe();
    this.#breakers.delete(victim);
  }
}

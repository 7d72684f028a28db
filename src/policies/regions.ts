/**
 * Regions: where an operation may be sent, best first, from a small health state machine per region
 * driven by the outcomes of user traffic and of active probes, and by an injected clock and random
 * source. Nothing here knows HTTP or OpenTelemetry; the pipeline asks {@link RegionRouter.order} for
 * the regions to try, rewrites each attempt's URL with {@link rewriteUrl}, and reports outcomes back.
 *
 * - A region is `healthy` until `unhealthyAfter` failures in a row, then `unhealthy` until
 *   `healthyAfter` successes in a row (user traffic or probes alike).
 * - Healthy regions come first, by priority; equal priorities share traffic by weight.
 * - Failback hysteresis: a preferred region that recovered less than `failbackAfterMs` ago ranks after
 *   the region currently serving, so traffic returns to it only once it has stayed healthy that long,
 *   and a region that recovers and fails again does not pull traffic back and forth.
 * - Unhealthy regions come last, least bad first, or not at all with `failFast`.
 *
 * {@link RegionProber} sends active probes on the clock's timers.
 */

import { Listeners } from './listeners.js';
import type { Clock, Random, Timer } from './types.js';

/** One region an operation may be sent to. */
export interface RegionConfig {
  /** Unique name, e.g. `us-east5` (used for `exclude`, the outcome records and `anthropic.region`). */
  name: string;
  /**
   * The API base URL of the region, as the SDK's `baseURL` would be: `http:` or `https:`, no
   * credentials, query or fragment. A path (`https://gw.example.com/anthropic`) roots every request
   * path under it.
   */
  baseURL: string;
  /** Lower is preferred. Default: the region's index in the list. */
  priority?: number;
  /** Among regions of equal priority, the share of traffic sent here first (> 0). Default `1`. */
  weight?: number;
}

/** How outcomes move a region between `healthy` and `unhealthy`, and what happens when all are down. */
export interface RegionHealthOptions {
  /** Consecutive failures that mark a healthy region unhealthy. Default `3`. */
  unhealthyAfter?: number;
  /** Consecutive successes (user traffic or probes) that mark an unhealthy region healthy again. Default `2`. */
  healthyAfter?: number;
  /**
   * Failback hysteresis: a recovered region must have stayed healthy this many ms before traffic
   * fails back to it from a less preferred region. `0` fails back at once. Default `30_000`.
   */
  failbackAfterMs?: number;
  /**
   * Unhealthy regions: `false` still offers them after the healthy ones (least bad first), so an
   * operation is tried somewhere even when every region is unhealthy; `true` never offers them, so
   * nothing is tried when every region is unhealthy. Default `false`.
   */
  failFast?: boolean;
}

/** A region's health; every region starts `healthy`. */
export type RegionHealth = 'healthy' | 'unhealthy';

/** Called at every health change of a region (see {@link RegionRouter.onHealthChange}). */
export type RegionHealthListener = (name: string, from: RegionHealth, to: RegionHealth) => void;

/** The health options with their defaults. */
export const REGION_HEALTH_DEFAULTS: Readonly<Required<RegionHealthOptions>> = Object.freeze({
  unhealthyAfter: 3,
  healthyAfter: 2,
  failbackAfterMs: 30_000,
  failFast: false,
});

/** Probe options with their defaults. */
export const PROBE_DEFAULTS: Readonly<Required<ProbeOptions>> = Object.freeze({
  intervalMs: 30_000,
  timeoutMs: 5_000,
  jitter: 0.2,
});

/** Bedrock runtime endpoints, FIPS and VPC endpoint names included. */
const BEDROCK_RUNTIME_HOST = /(?:^|\.)bedrock-runtime(?:-fips)?\.(?:[a-z0-9-]+\.)+amazonaws\.com(?:\.cn)?$/;
/** Regional Vertex AI endpoints: `{region}-aiplatform.googleapis.com`. */
const VERTEX_REGIONAL_HOST = /^([a-z0-9-]+)-aiplatform\.googleapis\.com$/;
/** The global Vertex AI endpoint. */
const VERTEX_GLOBAL_HOST = 'aiplatform.googleapis.com';
/** The location segment of a Vertex AI resource path. */
const VERTEX_LOCATION = /\/locations\/[^/]+\//;

function isBedrockRuntime(host: string): boolean {
  return BEDROCK_RUNTIME_HOST.test(host);
}

/** The Vertex AI location a host serves (`global` for the global endpoint), if it is a Vertex host. */
function vertexLocation(host: string): string | undefined {
  if (host === VERTEX_GLOBAL_HOST) return 'global';
  return VERTEX_REGIONAL_HOST.exec(host)?.[1];
}

function bedrockError(what: string, host: string): TypeError {
  return new TypeError(
    `${what}: ${host} is an Amazon Bedrock runtime endpoint. Its requests carry a SigV4 signature ` +
      'that covers the host, so rewriting the URL in fetch cannot work; use one Bedrock client per ' +
      'region instead and fail over between the clients.',
  );
}

function positiveInteger(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw new TypeError(`${name} must be a positive integer, got ${String(value)}`);
  }
  return value;
}

/** Validates one region of the list given to {@link RegionRouter}. */
function validateRegion(region: unknown, index: number): void {
  if (typeof region !== 'object' || region === null) {
    throw new TypeError(`regions[${index}] must be an object with a name and a baseURL`);
  }
  const { name, baseURL, priority, weight } = region as Partial<Record<keyof RegionConfig, unknown>>;
  if (typeof name !== 'string' || name === '') {
    throw new TypeError(`regions[${index}].name must be a non-empty string, got ${String(name)}`);
  }
  const what = `region "${name}"`;
  if (typeof baseURL !== 'string' || !URL.canParse(baseURL)) {
    throw new TypeError(`${what}: baseURL must be an absolute http(s) URL, got ${String(baseURL)}`);
  }
  const url = new URL(baseURL);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new TypeError(`${what}: baseURL must be an http: or https: URL, got ${baseURL}`);
  }
  if (url.username !== '' || url.password !== '') {
    throw new TypeError(`${what}: baseURL must not contain credentials`);
  }
  if (url.search !== '' || url.hash !== '') {
    throw new TypeError(`${what}: baseURL must not have a query or fragment, got ${baseURL}`);
  }
  if (isBedrockRuntime(url.hostname)) throw bedrockError(what, url.hostname);
  if (priority !== undefined && (typeof priority !== 'number' || !Number.isFinite(priority))) {
    throw new TypeError(`${what}: priority must be a finite number, got ${String(priority)}`);
  }
  if (weight !== undefined && (typeof weight !== 'number' || !Number.isFinite(weight) || weight <= 0)) {
    throw new TypeError(`${what}: weight must be a finite number > 0, got ${String(weight)}`);
  }
}

function resolveHealthOptions(options: RegionHealthOptions | undefined): Required<RegionHealthOptions> {
  const o = options ?? {};
  const failbackAfterMs = o.failbackAfterMs ?? REGION_HEALTH_DEFAULTS.failbackAfterMs;
  if (typeof failbackAfterMs !== 'number' || !Number.isFinite(failbackAfterMs) || failbackAfterMs < 0) {
    throw new TypeError(
      `options.failbackAfterMs must be a finite number ≥ 0, got ${String(failbackAfterMs)}`,
    );
  }
  const failFast = o.failFast ?? REGION_HEALTH_DEFAULTS.failFast;
  if (typeof failFast !== 'boolean') {
    throw new TypeError(`options.failFast must be a boolean, got ${String(failFast)}`);
  }
  return {
    unhealthyAfter: positiveInteger(
      'options.unhealthyAfter',
      o.unhealthyAfter,
      REGION_HEALTH_DEFAULTS.unhealthyAfter,
    ),
    healthyAfter: positiveInteger(
      'options.healthyAfter',
      o.healthyAfter,
      REGION_HEALTH_DEFAULTS.healthyAfter,
    ),
    failbackAfterMs,
    failFast,
  };
}

/** The state of one region. */
interface RegionState {
  readonly config: RegionConfig;
  readonly index: number;
  readonly priority: number;
  readonly weight: number;
  health: RegionHealth;
  /** Failures in a row (reset by a success). */
  failures: number;
  /** Successes in a row (reset by a failure). */
  successes: number;
  /** When the last failure was recorded, by the clock; `-Infinity` when none was. */
  lastFailureAt: number;
  /** When the region last became healthy, by the clock; `-Infinity` for healthy from the start. */
  healthySince: number;
}

/** Unhealthy regions, least bad first: fewest failures in a row, then longest since the last failure. */
function leastBadFirst(a: RegionState, b: RegionState): number {
  return (
    a.failures - b.failures ||
    compareNumbers(a.lastFailureAt, b.lastFailureAt) ||
    a.priority - b.priority ||
    a.index - b.index
  );
}

/** Like `a - b`, but `0` for equal infinities (where `a - b` is `NaN`). */
function compareNumbers(a: number, b: number): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Routes operations across regions: {@link order} says where to try an operation, best first;
 * {@link recordSuccess} and {@link recordFailure} feed it the outcomes of user traffic and probes.
 */
export class RegionRouter {
  /** The validated regions, in the order given (frozen copies). */
  readonly regions: readonly RegionConfig[];
  readonly #options: Required<RegionHealthOptions>;
  readonly #clock: Clock;
  readonly #random: Random;
  readonly #states: readonly RegionState[];
  readonly #byName = new Map<string, RegionState>();
  readonly #listeners = new Listeners<[name: string, from: RegionHealth, to: RegionHealth]>();

  /**
   * @param regions at least one; unique names; `baseURL` an http(s) URL without credentials, query
   *   or fragment; `weight` > 0; `priority` finite. Amazon Bedrock runtime hosts
   *   (`bedrock-runtime.{region}.amazonaws.com`) are refused: their SigV4 signature covers the host,
   *   so a fetch-level rewrite cannot work — use one client per region instead.
   * @param options health thresholds; defaults in {@link REGION_HEALTH_DEFAULTS}.
   * @param clock time of failures and recoveries (failback hysteresis).
   * @param random breaks priority ties by weight.
   * @throws TypeError for invalid regions or options.
   */
  constructor(
    regions: readonly RegionConfig[],
    options: RegionHealthOptions | undefined,
    clock: Clock,
    random: Random,
  ) {
    this.#options = resolveHealthOptions(options);
    this.#clock = clock;
    this.#random = random;
    if (!Array.isArray(regions) || regions.length === 0) {
      throw new TypeError('regions must be a non-empty array of { name, baseURL }');
    }
    const states: RegionState[] = [];
    regions.forEach((region: unknown, index) => {
      validateRegion(region, index);
      const config = Object.freeze({ ...(region as RegionConfig) });
      if (this.#byName.has(config.name)) {
        throw new TypeError(`regions: duplicate region name "${config.name}"`);
      }
      const state: RegionState = {
        config,
        index,
        priority: config.priority ?? index,
        weight: config.weight ?? 1,
        health: 'healthy',
        failures: 0,
        successes: 0,
        lastFailureAt: Number.NEGATIVE_INFINITY,
        healthySince: Number.NEGATIVE_INFINITY,
      };
      states.push(state);
      this.#byName.set(config.name, state);
    });
    this.#states = states;
    this.regions = Object.freeze(states.map((s) => s.config));
  }

  /**
   * The regions to try for one operation, best first (the objects of {@link regions}):
   *
   * 1. healthy regions by priority, equal priorities in a weighted random order (a region comes first
   *    with probability `weight / sum of weights` of its priority group; `random` is called only for
   *    groups of two or more);
   * 2. failback hysteresis: the *serving* region is the first healthy region in that order that has
   *    been healthy for `failbackAfterMs` (or, when none has, the one healthy the longest); a region of
   *    better priority that recovered more recently ranks right after it;
   * 3. unless `failFast`, the unhealthy regions, least bad first: fewest failures in a row, then
   *    longest since the last failure (then priority, then list order).
   *
   * @param exclude names to leave out (e.g. regions whose breaker is open); unknown names are ignored.
   *   The serving region is chosen among the regions not excluded.
   */
  order(exclude?: ReadonlySet<string>): readonly RegionConfig[] {
    const healthy: RegionState[] = [];
    const unhealthy: RegionState[] = [];
    for (const state of this.#states) {
      if (exclude?.has(state.config.name)) continue;
      (state.health === 'healthy' ? healthy : unhealthy).push(state);
    }
    const out = this.#failback(this.#byPreference(healthy)).map((s) => s.config);
    if (!this.#options.failFast) {
      unhealthy.sort(leastBadFirst);
      for (const state of unhealthy) out.push(state.config);
    }
    return out;
  }

  /**
   * A success of user traffic or of a probe in region `name`: resets its failures in a row; the
   * `healthyAfter`-th success in a row makes an unhealthy region healthy.
   * @throws TypeError for an unknown region.
   */
  recordSuccess(name: string): void {
    const state = this.#state(name);
    state.failures = 0;
    state.successes++;
    if (state.health === 'unhealthy' && state.successes >= this.#options.healthyAfter) {
      state.healthySince = this.#clock.now();
      this.#transition(state, 'healthy');
    }
  }

  /**
   * A failure of user traffic or of a probe in region `name`: resets its successes in a row; the
   * `unhealthyAfter`-th failure in a row makes a healthy region unhealthy.
   * @throws TypeError for an unknown region.
   */
  recordFailure(name: string): void {
    const state = this.#state(name);
    state.successes = 0;
    state.failures++;
    state.lastFailureAt = this.#clock.now();
    if (state.health === 'healthy' && state.failures >= this.#options.unhealthyAfter) {
      this.#transition(state, 'unhealthy');
    }
  }

  /**
   * The health of region `name` (every region starts `healthy`).
   * @throws TypeError for an unknown region.
   */
  health(name: string): RegionHealth {
    return this.#state(name).health;
  }

  /**
   * Subscribes to health changes (for metrics and events); returns the unsubscribe function.
   * Listeners run synchronously inside `recordSuccess`/`recordFailure`; one that throws does not keep
   * the others from running, and the first error is rethrown to the recording caller.
   */
  onHealthChange(listener: RegionHealthListener): () => void {
    return this.#listeners.add(listener);
  }

  #state(name: string): RegionState {
    const state = this.#byName.get(name);
    if (state === undefined) throw new TypeError(`unknown region "${name}"`);
    return state;
  }

  #transition(state: RegionState, to: RegionHealth): void {
    const from = state.health;
    state.health = to;
    this.#listeners.emit(state.config.name, from, to);
  }

  /** By priority; each group of equal priority in a weighted random order. */
  #byPreference(states: RegionState[]): RegionState[] {
    states.sort((a, b) => a.priority - b.priority || a.index - b.index);
    const out: RegionState[] = [];
    for (let i = 0; i < states.length; ) {
      const priority = states[i]?.priority;
      let j = i + 1;
      while (j < states.length && states[j]?.priority === priority) j++;
      if (j - i === 1) out.push(states[i] as RegionState);
      else out.push(...this.#weightedShuffle(states.slice(i, j)));
      i = j;
    }
    return out;
  }

  /** Weighted sampling without replacement: each pick has probability `weight / remaining weight`. */
  #weightedShuffle(group: RegionState[]): RegionState[] {
    const out: RegionState[] = [];
    while (group.length > 1) {
      let total = 0;
      for (const state of group) total += state.weight;
      let r = this.#random() * total;
      let k = 0;
      // A random value out of [0, 1) (or rounding) falls on the last region rather than on none.
      for (; k < group.length - 1; k++) {
        r -= (group[k] as RegionState).weight;
        if (r < 0) break;
      }
      out.push(...group.splice(k, 1));
    }
    out.push(...group);
    return out;
  }

  /** Moves recently recovered regions of better priority after the serving region. */
  #failback(ranked: RegionState[]): RegionState[] {
    if (ranked.length < 2) return ranked;
    const settledBy = this.#clock.now() - this.#options.failbackAfterMs;
    let longest = Number.POSITIVE_INFINITY;
    for (const state of ranked) longest = Math.min(longest, state.healthySince);
    const at = ranked.findIndex((s) => s.healthySince <= settledBy || s.healthySince === longest);
    const serving = ranked[at];
    if (serving === undefined || at === 0) return ranked;
    const before = ranked.slice(0, at);
    const waiting = before.filter((s) => s.priority < serving.priority);
    if (waiting.length === 0) return ranked;
    return [
      ...before.filter((s) => s.priority >= serving.priority),
      serving,
      ...waiting,
      ...ranked.slice(at + 1),
    ];
  }
}

/** The base path of a URL without trailing slashes (`''` for the root). */
function basePath(url: URL): string {
  return url.pathname.replace(/\/+$/, '');
}

/**
 * Rewrites `url`, an API request URL, to region `to`: the origin becomes `to.baseURL`'s, and the
 * request path is re-rooted under `to.baseURL`'s path when it has one (a gateway at
 * `https://gw.example.com/anthropic`).
 *
 * The request path is `url`'s path without `from.baseURL`'s path when it starts with it (at a segment
 * boundary); with `from` undefined (or a path that does not start with it) the whole path is the
 * request path. So pass as `from` the region whose `baseURL` the request was built with.
 *
 * Google Vertex AI: when `url`'s host is a Vertex host (`{region}-aiplatform.googleapis.com`, or the
 * global `aiplatform.googleapis.com`) and `to.baseURL`'s host is one too, the first `/locations/{x}/`
 * segment of the path becomes `to`'s region (`global` for the global endpoint).
 *
 * The query string and fragment are kept. `url` is not modified.
 *
 * @returns a new URL.
 * @throws TypeError when `url` or `to.baseURL` is an Amazon Bedrock runtime host (SigV4 signs the
 *   host; use one client per region), or when `to.baseURL` does not parse.
 */
export function rewriteUrl(url: URL, from: RegionConfig | undefined, to: RegionConfig): URL {
  if (!URL.canParse(to.baseURL)) {
    throw new TypeError(`region "${to.name}": baseURL must be an absolute URL, got ${to.baseURL}`);
  }
  const target = new URL(to.baseURL);
  if (isBedrockRuntime(url.hostname)) throw bedrockError('rewriteUrl', url.hostname);
  if (isBedrockRuntime(target.hostname)) throw bedrockError(`region "${to.name}"`, target.hostname);
  let path = url.pathname;
  if (from !== undefined && URL.canParse(from.baseURL)) {
    const prefix = basePath(new URL(from.baseURL));
    if (prefix !== '' && (path === prefix || path.startsWith(`${prefix}/`))) path = path.slice(prefix.length);
  }
  const targetLocation = vertexLocation(target.hostname);
  if (targetLocation !== undefined && vertexLocation(url.hostname) !== undefined) {
    path = path.replace(VERTEX_LOCATION, `/locations/${targetLocation}/`);
  }
  const out = new URL(target.origin);
  out.pathname = `${basePath(target)}${path}` || '/';
  out.search = url.search;
  out.hash = url.hash;
  return out;
}

/** Active health probes. */
export interface ProbeOptions {
  /** Mean ms between rounds of probes (> 0). Default `30_000`. */
  intervalMs?: number;
  /** A probe not settled after this many ms (> 0) is aborted and counts as a failure. Default `5_000`. */
  timeoutMs?: number;
  /**
   * Each wait is `intervalMs` times a uniform factor in `[1 - jitter, 1 + jitter)`, so clients started
   * together spread their probes. In [0, 1) (so a wait is never 0). Default `0.2`.
   */
  jitter?: number;
}

function resolveProbeOptions(options: ProbeOptions | undefined): Required<ProbeOptions> {
  const o = options ?? {};
  const positive = (name: string, value: unknown, fallback: number): number => {
    if (value === undefined) return fallback;
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
      throw new TypeError(`options.${name} must be a finite number > 0, got ${String(value)}`);
    }
    return value;
  };
  const jitter = o.jitter ?? PROBE_DEFAULTS.jitter;
  if (typeof jitter !== 'number' || !(jitter >= 0 && jitter < 1)) {
    throw new TypeError(`options.jitter must be a number in [0, 1), got ${String(jitter)}`);
  }
  return {
    intervalMs: positive('intervalMs', o.intervalMs, PROBE_DEFAULTS.intervalMs),
    timeoutMs: positive('timeoutMs', o.timeoutMs, PROBE_DEFAULTS.timeoutMs),
    jitter,
  };
}

/**
 * Active health probes: after `start()`, every `intervalMs` (± `jitter`; the first round too comes
 * after one such wait) calls `probe(region, signal)` for every region of the router and records the
 * outcome with `recordSuccess` (the probe resolved `true`) or `recordFailure` (it resolved anything
 * else, threw or rejected, or did not settle within `timeoutMs`, in which case `signal` is aborted with
 * a `TimeoutError`). A region whose probe is still out when the next round comes is not probed twice.
 * `stop()` cancels the next round and aborts the probes that are out (an `AbortError`); their outcomes
 * are no longer recorded.
 *
 * Only the clock's `setTimer` is used (no real timers). An error thrown by a health listener while a
 * probe's outcome is recorded is dropped here (the router's other listeners have run), so a faulty
 * listener cannot stop the probing nor surface as an unhandled rejection.
 */
export class RegionProber {
  readonly #router: RegionRouter;
  readonly #probe: (region: RegionConfig, signal: AbortSignal) => Promise<boolean>;
  readonly #options: Required<ProbeOptions>;
  readonly #clock: Clock;
  readonly #random: Random;
  #running = false;
  #timer: Timer | undefined;
  /** Probes out, by region name: each one's `cancel`. */
  readonly #out = new Map<string, (reason: unknown) => void>();

  /**
   * @param probe checks one region; should honour `signal`.
   * @param options defaults in {@link PROBE_DEFAULTS}.
   * @throws TypeError for invalid options.
   */
  constructor(
    router: RegionRouter,
    probe: (region: RegionConfig, signal: AbortSignal) => Promise<boolean>,
    options: ProbeOptions | undefined,
    clock: Clock,
    random: Random,
  ) {
    this.#router = router;
    this.#probe = probe;
    this.#options = resolveProbeOptions(options);
    this.#clock = clock;
    this.#random = random;
  }

  /** Schedules the first round; does nothing when already started. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#schedule();
  }

  /** Cancels the next round and aborts the probes that are out; `start()` may follow. */
  stop(): void {
    if (!this.#running) return;
    this.#running = false;
    this.#timer?.cancel();
    this.#timer = undefined;
    const cancels = [...this.#out.values()];
    this.#out.clear();
    const reason = new DOMException('region prober stopped', 'AbortError');
    for (const cancel of cancels) cancel(reason);
  }

  #schedule(): void {
    const { intervalMs, jitter } = this.#options;
    // A random value out of [0, 1] (a faulty source) counts as the middle; as jitter < 1 the wait is
    // never 0, so rounds cannot follow each other without time passing.
    const r = this.#random();
    const u = r >= 0 && r <= 1 ? r : 0.5;
    this.#timer = this.#clock.setTimer(() => this.#round(), intervalMs * (1 + jitter * (2 * u - 1)));
  }

  #round(): void {
    this.#timer = undefined;
    if (!this.#running) return;
    for (const region of this.#router.regions) {
      if (!this.#running) return;
      if (!this.#out.has(region.name)) this.#send(region);
    }
    if (this.#running && this.#timer === undefined) this.#schedule();
  }

  #send(region: RegionConfig): void {
    const controller = new AbortController();
    let settled = false;
    let timeout: Timer | undefined;
    const cancel = (reason: unknown): void => {
      if (settled) return;
      settled = true;
      timeout?.cancel();
      controller.abort(reason);
    };
    const settle = (ok: boolean): void => {
      if (settled) return;
      settled = true;
      timeout?.cancel();
      if (this.#out.get(region.name) === cancel) this.#out.delete(region.name);
      try {
        if (ok) this.#router.recordSuccess(region.name);
        else this.#router.recordFailure(region.name);
      } catch {
        // A health listener threw; see the class comment.
      }
    };
    this.#out.set(region.name, cancel);
    timeout = this.#clock.setTimer(() => {
      if (settled) return;
      controller.abort(new DOMException(`probe of region "${region.name}" timed out`, 'TimeoutError'));
      settle(false);
    }, this.#options.timeoutMs);
    let result: Promise<boolean>;
    try {
      result = Promise.resolve(this.#probe(region, controller.signal));
    } catch {
      settle(false);
      return;
    }
    result.then(
      (ok) => settle(ok === true),
      () => settle(false),
    );
  }
}

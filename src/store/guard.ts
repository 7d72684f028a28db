/**
 * Keeps a fleet store's failures away from requests. Every store call goes through
 * {@link StoreGuard.call}: it is given `timeoutMs` (then counted as failed and answered
 * `undefined`, whatever the store does later); a failure or a timeout counts in
 * `anthropic.client.store.errors` and switches the guard to *degraded*, logged once (a store
 * flapping between up and down logs it at most once a minute, and its recovery), where calls
 * are answered `undefined` at once without touching the store, so the policies run on their local
 * state. While degraded, one call every `retryMs` is let through as a probe; the first that
 * succeeds switches back to *shared* (logged once too). The state is the
 * `anthropic.client.store.state` gauge (1 shared, 0 local).
 *
 * So a store that is down or slow costs a request at most `timeoutMs` — and only the few calls
 * that are awaited (a half-open probe slot); the others run in the background.
 */
import { diag } from '@opentelemetry/api';
import type { Clock } from '../policies/types.js';
import type { Telemetry } from '../telemetry/instruments.js';
import { redactSecrets } from '../telemetry/logging.js';
import { A, LOG_EVENTS, LOG_FIELDS } from '../telemetry/names.js';
import { type FleetStore, positiveNumber } from './types.js';

/** What the store is used for, on `anthropic.client.store.errors`. */
export type StoreOperation = 'breaker' | 'budget' | 'headroom' | 'cache';

/**
 * A second place the guard logs its two events (pino's shape). Besides it, the events always go
 * through the fetch's structured logs (the `logger` option and OpenTelemetry log records).
 */
export interface StoreLogger {
  /** A store failure or degradation (pino's signature). */
  warn(obj: Record<string, unknown>, msg?: string): void;
  /** A recovery (pino's signature). */
  info(obj: Record<string, unknown>, msg?: string): void;
}

/** Where the events also go when the fetch has no `logger` and the store none of its own. */
export const diagLogger: StoreLogger = {
  warn: (_obj, msg) => diag.warn(msg ?? ''),
  info: (_obj, msg) => diag.info(msg ?? ''),
};

/** Options of the fleet store's guard (`createClaudeFetch({ store: { … } })`). */
export interface StoreGuardOptions {
  /** Longest wait for one store call, in ms; past it the call counts as failed. Default 100. */
  timeoutMs?: number;
  /** While degraded, one call is tried every this many ms to detect recovery. Default 1000. */
  retryMs?: number;
}

const LOG_EVERY_MS = 60_000;

export class StoreGuard {
  readonly store: FleetStore;
  readonly #telemetry: Telemetry;
  readonly #clock: Clock;
  readonly #timeoutMs: number;
  readonly #retryMs: number;
  readonly #log: StoreLogger | undefined;
  #degraded = false;
  /** Bumped when the guard degrades: only calls started since then can tell it recovered. */
  #epoch = 0;
  #nextTryAt = 0;
  /** When the last "unavailable" was logged: a flapping store logs it once a minute at most. */
  #loggedAt = Number.NEGATIVE_INFINITY;
  /** Whether this outage's start was logged (then its end is too). */
  #logged = false;
  readonly #gauge = { value: 1, attributes: {} };

  constructor(
    store: FleetStore,
    telemetry: Telemetry,
    clock: Clock,
    options: StoreGuardOptions = {},
    log?: StoreLogger,
  ) {
    this.store = store;
    this.#telemetry = telemetry;
    this.#clock = clock;
    this.#timeoutMs = positiveNumber('store.timeoutMs', options.timeoutMs, 100);
    this.#retryMs = positiveNumber('store.retryMs', options.retryMs, 1000);
    this.#log = log;
    telemetry.storeStates.set('store', this.#gauge);
  }

  /** Whether the shared state is in use (false: degraded to local state). */
  get shared(): boolean {
    return !this.#degraded;
  }

  /**
   * Runs `fn` against the store within `timeoutMs`. Never rejects: `undefined` when the store failed,
   * timed out, or is being skipped while degraded.
   */
  call<T>(operation: StoreOperation, fn: (store: FleetStore) => Promise<T>): Promise<T | undefined> {
    if (this.#degraded) {
      const now = this.#clock.now();
      if (now < this.#nextTryAt) return Promise.resolve(undefined);
      this.#nextTryAt = now + this.#retryMs;
    }
    const epoch = this.#epoch;
    return new Promise<T | undefined>((resolve) => {
      let settled = false;
      const timer = this.#clock.setTimer(() => {
        if (settled) return;
        settled = true;
        this.#failed(operation, new Error(`timed out after ${this.#timeoutMs} ms`));
        resolve(undefined);
      }, this.#timeoutMs);
      let promise: Promise<T>;
      try {
        promise = fn(this.store);
      } catch (error) {
        promise = Promise.reject(error);
      }
      promise.then(
        (value) => {
          if (settled) return;
          settled = true;
          timer.cancel();
          // A call that started before the store failed proves nothing about it now.
          if (epoch === this.#epoch) this.#succeeded();
          resolve(value);
        },
        (error: unknown) => {
          if (settled) return;
          settled = true;
          timer.cancel();
          this.#failed(operation, error);
          resolve(undefined);
        },
      );
    });
  }

  #succeeded(): void {
    if (!this.#degraded) return;
    this.#degraded = false;
    this.#gauge.value = 1;
    if (!this.#logged) return;
    this.#logged = false;
    const kind = this.store.kind;
    this.#telemetry.log.emit(LOG_EVENTS.STORE_RECOVERED, undefined, () => ({
      [LOG_FIELDS.STORE_KIND.name]: kind,
    }));
    this.#telemetry.safely('store_log', () =>
      this.#log?.info(
        { event: LOG_EVENTS.STORE_RECOVERED.name, store: kind },
        `claude-otel-middleware: fleet store (${kind}) is back; shared state in use`,
      ),
    );
  }

  #failed(operation: StoreOperation, error: unknown): void {
    this.#telemetry.safely('store_metrics', () =>
      this.#telemetry.instruments.storeErrors.add(1, { [A.ANTHROPIC_STORE_OPERATION]: operation }),
    );
    if (this.#degraded) return;
    this.#degraded = true;
    this.#epoch++;
    this.#nextTryAt = this.#clock.now() + this.#retryMs;
    this.#gauge.value = 0;
    const now = this.#clock.now();
    if (now - this.#loggedAt < LOG_EVERY_MS) return;
    this.#loggedAt = now;
    this.#logged = true;
    const reason = redactSecrets(error instanceof Error ? error.message : String(error));
    const kind = this.store.kind;
    this.#telemetry.log.emit(LOG_EVENTS.STORE_DEGRADED, undefined, () => ({
      [LOG_FIELDS.STORE_KIND.name]: kind,
      [A.ANTHROPIC_STORE_OPERATION]: operation,
      [LOG_FIELDS.EXCEPTION_MESSAGE.name]: reason,
    }));
    this.#telemetry.safely('store_log', () =>
      this.#log?.warn(
        { event: LOG_EVENTS.STORE_DEGRADED.name, store: kind, operation, reason },
        `claude-otel-middleware: fleet store (${kind}) unavailable (${operation}: ${reason}); using local state until it answers again`,
      ),
    );
  }
}

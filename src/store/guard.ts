/**
 * Keeps a fleet store's failures away from requests. Every store call goes through
 * {@link StoreGuard.call}, with the key it is about; the guard keeps health **per shard** (the
 * store's {@link FleetStore.shardOf}: a Redis Cluster master; a single store is one shard). A call
 * is given `timeoutMs` (then counted as failed and answered `undefined`, whatever the store does
 * later); a failure or a timeout counts in `anthropic.client.store.errors` and switches its shard
 * to *degraded*, logged once (a shard flapping between up and down logs it at most once a minute,
 * and its recovery). The calls in flight to that shard are answered `undefined` at once, and so is
 * every later call to it, without touching the store, so the policies run on their local state for
 * that shard's keys — one wait of `timeoutMs` per outage at most. While degraded, the shard is
 * checked every `retryMs` (the store's {@link FleetStore.probe}, in the background; a store without
 * one lets a caller's call through instead); the first check that succeeds switches it back to
 * *shared* (logged once too). `anthropic.client.store.state` is 1 while every shard is shared, 0
 * while any is degraded.
 */
import { diag } from '@opentelemetry/api';
import type { Clock } from '../policies/types.js';
import type { Telemetry } from '../telemetry/instruments.js';
import { redactSecrets } from '../telemetry/logging.js';
import { A, LOG_EVENTS, LOG_FIELDS } from '../telemetry/names.js';
import { type FleetStore, positiveNumber, type StoreOperation } from './types.js';

export type { StoreOperation } from './types.js';

/** The operations a policy calls the store for. */
type DataOperation = Exclude<StoreOperation, 'probe'>;

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
  /** While a shard is degraded, it is checked every this many ms to detect recovery. Default 1000. */
  retryMs?: number;
}

const LOG_EVERY_MS = 60_000;
/** Shards tracked at most (a cluster has a few masters; more means an unknown topology). */
const MAX_SHARDS = 256;
/** The shard of a single store, and of a cluster's keys while its topology is unknown. */
const WHOLE = '';

interface Shard {
  readonly id: string;
  /** The id as logged: redacted and bounded (a store's `shardOf` may return anything). */
  readonly label: string;
  degraded: boolean;
  /** Bumped when the shard degrades: only calls started since then can tell it recovered. */
  epoch: number;
  nextTryAt: number;
  /** When the last "unavailable" was logged: a flapping shard logs it once a minute at most. */
  loggedAt: number;
  /** Whether this outage's start was logged (then its end is too). */
  logged: boolean;
  /** Calls in flight: answered at once when the shard degrades. */
  readonly pending: Set<() => void>;
}

export class StoreGuard {
  readonly store: FleetStore;
  readonly #telemetry: Telemetry;
  readonly #clock: Clock;
  readonly #timeoutMs: number;
  readonly #retryMs: number;
  readonly #log: StoreLogger | undefined;
  readonly #shards = new Map<string, Shard>();
  #degradedCount = 0;
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

  /** Whether the shared state is in use everywhere (false: some shard degraded to local state). */
  get shared(): boolean {
    return this.#degradedCount === 0;
  }

  /** Whether the shard holding `operation`'s data of `key` is in use (false: degraded). */
  isShared(operation: DataOperation, key: string): boolean {
    return this.#shards.get(this.#shardId(operation, key))?.degraded !== true;
  }

  /**
   * Runs `fn` against the store within `timeoutMs`; `key` (the breaker key, budget name, headroom
   * or cache key) tells the shard. Never rejects: `undefined` when the store failed, timed out, or
   * its shard is being skipped while degraded.
   */
  call<T>(
    operation: DataOperation,
    key: string,
    fn: (store: FleetStore) => Promise<T>,
  ): Promise<T | undefined> {
    const shard = this.#shard(this.#shardId(operation, key));
    if (shard.degraded) {
      const now = this.#clock.now();
      if (now < shard.nextTryAt) return Promise.resolve(undefined);
      shard.nextTryAt = now + this.#retryMs;
      const { store } = this;
      if (store.probe !== undefined) {
        // Nobody waits on a shard known to be down: the check runs in the background.
        void this.#run(shard, 'probe', () =>
          (store.probe as NonNullable<FleetStore['probe']>)(operation, key),
        );
        return Promise.resolve(undefined);
      }
    }
    return this.#run(shard, operation, () => fn(this.store));
  }

  #shardId(operation: DataOperation, key: string): string {
    if (this.store.shardOf === undefined) return WHOLE;
    try {
      const id = this.store.shardOf(operation, key);
      return typeof id === 'string' ? id : WHOLE;
    } catch {
      return WHOLE;
    }
  }

  #shard(id: string): Shard {
    let shard = this.#shards.get(id);
    if (shard !== undefined) return shard;
    if (this.#shards.size >= MAX_SHARDS) {
      for (const [oldId, old] of this.#shards) {
        if (!old.degraded && old.pending.size === 0) {
          this.#shards.delete(oldId);
          break;
        }
      }
    }
    shard = {
      id,
      label: redactSecrets(id).slice(0, 256),
      degraded: false,
      epoch: 0,
      nextTryAt: 0,
      loggedAt: Number.NEGATIVE_INFINITY,
      logged: false,
      pending: new Set(),
    };
    this.#shards.set(id, shard);
    return shard;
  }

  #run<T>(shard: Shard, operation: StoreOperation, fn: () => Promise<T>): Promise<T | undefined> {
    const epoch = shard.epoch;
    return new Promise<T | undefined>((resolve) => {
      let settled = false;
      const release = (): void => {
        if (settled) return;
        settled = true;
        timer.cancel();
        resolve(undefined);
      };
      const timer = this.#clock.setTimer(() => {
        if (settled) return;
        settled = true;
        shard.pending.delete(release);
        this.#failed(shard, operation, 'timeout', new Error(`timed out after ${this.#timeoutMs} ms`));
        resolve(undefined);
      }, this.#timeoutMs);
      shard.pending.add(release);
      let promise: Promise<T>;
      try {
        promise = fn();
      } catch (error) {
        promise = Promise.reject(error);
      }
      promise.then(
        (value) => {
          if (settled) return;
          settled = true;
          shard.pending.delete(release);
          timer.cancel();
          // A call that started before the shard failed proves nothing about it now.
          if (epoch === shard.epoch) this.#succeeded(shard);
          resolve(value);
        },
        (error: unknown) => {
          if (settled) return;
          settled = true;
          shard.pending.delete(release);
          timer.cancel();
          this.#failed(shard, operation, 'store_error', error);
          resolve(undefined);
        },
      );
    });
  }

  #succeeded(shard: Shard): void {
    this.#recover(shard);
    // A cluster's answer from any master also proves it is connected and knows its topology.
    if (shard.id !== WHOLE) {
      const whole = this.#shards.get(WHOLE);
      if (whole !== undefined) this.#recover(whole);
    }
  }

  #recover(shard: Shard): void {
    if (!shard.degraded) return;
    shard.degraded = false;
    this.#degradedCount--;
    this.#gauge.value = this.#degradedCount === 0 ? 1 : 0;
    if (!shard.logged) return;
    shard.logged = false;
    const kind = this.store.kind;
    const fields = this.#shardFields(shard);
    this.#telemetry.log.emit(LOG_EVENTS.STORE_RECOVERED, undefined, () => ({
      [LOG_FIELDS.STORE_KIND.name]: kind,
      ...fields,
    }));
    const where = shard.id === WHOLE ? '' : ` shard ${shard.label}`;
    this.#telemetry.safely('store_log', () =>
      this.#log?.info(
        {
          event: LOG_EVENTS.STORE_RECOVERED.name,
          store: kind,
          ...(shard.id === WHOLE ? {} : { shard: shard.label }),
        },
        `claude-otel-middleware: fleet store (${kind})${where} is back; shared state in use`,
      ),
    );
  }

  #shardFields(shard: Shard): Record<string, string> {
    return shard.id === WHOLE ? {} : { [LOG_FIELDS.STORE_SHARD.name]: shard.label };
  }

  #failed(shard: Shard, operation: StoreOperation, type: 'timeout' | 'store_error', error: unknown): void {
    this.#telemetry.safely('store_metrics', () =>
      this.#telemetry.instruments.storeErrors.add(1, {
        [A.ANTHROPIC_STORE_OPERATION]: operation,
        [A.ERROR_TYPE]: type,
      }),
    );
    if (shard.degraded) return;
    shard.degraded = true;
    shard.epoch++;
    this.#degradedCount++;
    this.#gauge.value = 0;
    const now = this.#clock.now();
    shard.nextTryAt = now + this.#retryMs;
    // The calls still waiting on this shard are answered now: one wait per outage.
    const waiting = [...shard.pending];
    shard.pending.clear();
    for (const release of waiting) release();
    if (now - shard.loggedAt < LOG_EVERY_MS) return;
    shard.loggedAt = now;
    shard.logged = true;
    const reason = redactSecrets(error instanceof Error ? error.message : String(error));
    const kind = this.store.kind;
    const fields = this.#shardFields(shard);
    this.#telemetry.log.emit(LOG_EVENTS.STORE_DEGRADED, undefined, () => ({
      [LOG_FIELDS.STORE_KIND.name]: kind,
      ...fields,
      [A.ANTHROPIC_STORE_OPERATION]: operation,
      [LOG_FIELDS.EXCEPTION_MESSAGE.name]: reason,
    }));
    const where = shard.id === WHOLE ? '' : ` shard ${shard.label}`;
    this.#telemetry.safely('store_log', () =>
      this.#log?.warn(
        {
          event: LOG_EVENTS.STORE_DEGRADED.name,
          store: kind,
          ...(shard.id === WHOLE ? {} : { shard: shard.label }),
          operation,
          reason,
        },
        `claude-otel-middleware: fleet store (${kind})${where} unavailable (${operation}: ${reason}); using local state until it answers again`,
      ),
    );
  }
}

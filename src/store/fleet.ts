/**
 * The `store` option of `createClaudeFetch`: which fleet store, and how the policies use it.
 */
import type { Clock } from '../policies/types.js';
import type { Telemetry } from '../telemetry/instruments.js';
import { diagLogger, StoreGuard, type StoreGuardOptions, type StoreLogger } from './guard.js';
import { type FleetStore, positiveNumber } from './types.js';

/** Fleet mode settings (`createClaudeFetch({ store: { store, … } })`). */
export interface FleetOptions extends StoreGuardOptions {
  /** The shared store: `new RedisFleetStore(…)` from `claude-otel-middleware/redis`, or a `MemoryFleetStore`. */
  store: FleetStore;
  /**
   * Longest a process goes without re-reading a key's shared breaker state or rate-limit headroom
   * while it uses the key, in ms (it also learns the breaker's state from every outcome it writes).
   * Default 250.
   */
  syncMs?: number;
  /** A half-open probe slot whose owner never settled it (a crashed process) is freed after this long, in ms. Default 60 000. */
  probeTtlMs?: number;
  /** Name of the shared retry budget: processes with the same name share it. Default `'retry'`. */
  budgetName?: string;
  /**
   * Also log the store's unavailability and recovery (once each) here; they always go through the
   * fetch's structured logs (`logger`, OpenTelemetry log records) too. Default: none, or the
   * OpenTelemetry diag logger when the fetch has no `logger` either.
   */
  logger?: StoreLogger;
}

/** The resolved fleet settings. */
export interface Fleet {
  readonly guard: StoreGuard;
  readonly syncMs: number;
  readonly probeTtlMs: number;
  readonly budgetName: string;
}

function isStore(value: unknown): value is FleetStore {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as FleetStore).breakerRecord === 'function' &&
    typeof (value as FleetStore).budgetAdd === 'function'
  );
}

/** @throws TypeError when the option is not a store or `{ store, … }`. */
export function resolveFleet(
  option: FleetStore | FleetOptions | undefined,
  telemetry: Telemetry,
  clock: Clock,
  logger?: StoreLogger,
): Fleet | undefined {
  if (option === undefined) return undefined;
  const o: FleetOptions | undefined = isStore(option) ? { store: option } : option;
  if (typeof o !== 'object' || o === null || !isStore(o.store)) {
    throw new TypeError('options.store must be a FleetStore (e.g. RedisFleetStore) or { store, … }');
  }
  const budgetName = o.budgetName ?? 'retry';
  if (typeof budgetName !== 'string' || budgetName === '') {
    throw new TypeError('store.budgetName must be a non-empty string');
  }
  return {
    // The events go through the fetch's structured logs; also to the store's own logger, or to the
    // OpenTelemetry diag logger when there is no logger at all.
    guard: new StoreGuard(
      o.store,
      telemetry,
      clock,
      o,
      o.logger ?? (logger === undefined ? diagLogger : undefined),
    ),
    syncMs: positiveNumber('store.syncMs', o.syncMs, 250),
    probeTtlMs: positiveNumber('store.probeTtlMs', o.probeTtlMs, 60_000),
    budgetName,
  };
}

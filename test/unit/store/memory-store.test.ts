/**
 * The in-memory fleet store (the reference semantics of the Redis scripts), the guard that keeps a
 * failing store away from requests, and the shared retry budget — all on a fake clock.
 */
import { describe, expect, it } from 'vitest';
import { fleetBreakerConfig } from '../../../src/policies/fleet-breaker.js';
import { SharedRetryBudget } from '../../../src/policies/shared-budget.js';
import { StoreGuard, type StoreLogger } from '../../../src/store/guard.js';
import { MemoryFleetStore } from '../../../src/store/memory.js';
import type { FleetStore } from '../../../src/store/types.js';
import { FakeClock } from '../../helpers/fake-clock.js';
import { explicitOtel, settle } from '../../helpers/otel.js';

const consecutive = fleetBreakerConfig(
  {
    mode: 'consecutive',
    consecutiveFailures: 3,
    openMs: 1_000,
    openBackoffMultiplier: 2,
    halfOpenProbes: 2,
    successThreshold: 2,
  },
  5_000,
);

describe('MemoryFleetStore breaker', () => {
  it('opens at the shared threshold, half-opens after openMs, re-opens longer on a failed probe', async () => {
    const clock = new FakeClock(0);
    const store = new MemoryFleetStore({ clock });
    expect(await store.breakerRecord('k', true, consecutive)).toEqual({ state: 'closed', openForMs: 0 });
    expect((await store.breakerRecord('k', true, consecutive)).state).toBe('closed');
    expect(await store.breakerRecord('k', true, consecutive)).toEqual({ state: 'open', openForMs: 1_000 });
    // Outcomes while open do not count.
    expect((await store.breakerRecord('k', false, consecutive)).state).toBe('open');
    clock.advance(400);
    expect(await store.breakerView('k', consecutive)).toEqual({ state: 'open', openForMs: 600 });
    expect((await store.breakerAcquireProbe('k', 'a', consecutive)).granted).toBe(false);
    clock.advance(600);
    expect((await store.breakerView('k', consecutive)).state).toBe('half_open');
    // Two probe slots across the fleet, then none.
    expect((await store.breakerAcquireProbe('k', 'a', consecutive)).granted).toBe(true);
    expect((await store.breakerAcquireProbe('k', 'b', consecutive)).granted).toBe(true);
    expect((await store.breakerAcquireProbe('k', 'c', consecutive)).granted).toBe(false);
    // A settle from someone without a slot changes nothing.
    expect((await store.breakerSettleProbe('k', 'c', 'failure', consecutive)).state).toBe('half_open');
    expect(await store.breakerSettleProbe('k', 'a', 'failure', consecutive)).toEqual({
      state: 'open',
      openForMs: 2_000,
    });
    // b's probe belonged to the half-open period that ended: its outcome does nothing.
    expect((await store.breakerSettleProbe('k', 'b', 'success', consecutive)).state).toBe('open');
  });

  it('closes after successThreshold successful probes and resets the open duration', async () => {
    const clock = new FakeClock(0);
    const store = new MemoryFleetStore({ clock });
    for (let i = 0; i < 3; i++) await store.breakerRecord('k', true, consecutive);
    clock.advance(1_000);
    expect((await store.breakerAcquireProbe('k', 'a', consecutive)).granted).toBe(true);
    expect((await store.breakerAcquireProbe('k', 'b', consecutive)).granted).toBe(true);
    expect((await store.breakerSettleProbe('k', 'a', 'success', consecutive)).state).toBe('half_open');
    expect((await store.breakerSettleProbe('k', 'b', 'success', consecutive)).state).toBe('closed');
    for (let i = 0; i < 3; i++) await store.breakerRecord('k', true, consecutive);
    expect(await store.breakerView('k', consecutive)).toEqual({ state: 'open', openForMs: 1_000 });
  });

  it('frees a probe slot whose owner never settled it after probeTtlMs', async () => {
    const clock = new FakeClock(0);
    const store = new MemoryFleetStore({ clock });
    const one = { ...consecutive, halfOpenProbes: 1 };
    for (let i = 0; i < 3; i++) await store.breakerRecord('k', true, one);
    clock.advance(1_000);
    expect((await store.breakerAcquireProbe('k', 'crashed', one)).granted).toBe(true);
    clock.advance(4_999);
    expect((await store.breakerAcquireProbe('k', 'b', one)).granted).toBe(false);
    clock.advance(1);
    expect((await store.breakerAcquireProbe('k', 'b', one)).granted).toBe(true);
  });

  it('counts a failure rate over a time window', async () => {
    const clock = new FakeClock(0);
    const store = new MemoryFleetStore({ clock });
    const rate = fleetBreakerConfig(
      { failureRateThreshold: 0.5, minimumThroughput: 4, window: { kind: 'time', ms: 1_000 } },
      5_000,
    );
    await store.breakerRecord('k', true, rate);
    await store.breakerRecord('k', true, rate);
    // Those leave the window.
    clock.advance(1_000);
    await store.breakerRecord('k', false, rate);
    await store.breakerRecord('k', false, rate);
    expect((await store.breakerRecord('k', true, rate)).state).toBe('closed');
    expect((await store.breakerRecord('k', true, rate)).state).toBe('open');
  });
});

it('counts a failure rate over the last outcomes of the fleet (count window)', async () => {
  const store = new MemoryFleetStore({ clock: new FakeClock(0) });
  const rate = fleetBreakerConfig(
    { failureRateThreshold: 0.5, minimumThroughput: 4, window: { kind: 'count', size: 4 } },
    5_000,
  );
  for (const failed of [false, false, false, false, true]) {
    expect((await store.breakerRecord('k', failed, rate)).state).toBe('closed');
  }
  // The window is the last 4: [0, 0, 0, 1] → [0, 0, 1, 1] opens.
  expect((await store.breakerRecord('k', true, rate)).state).toBe('open');
});

describe('MemoryFleetStore budget, headroom, cache', () => {
  it('keeps the budget within [0, max], starting full, and forgets it after ttlMs', async () => {
    const clock = new FakeClock(0);
    const store = new MemoryFleetStore({ clock, ttlMs: 10_000 });
    expect(await store.budgetAdd('b', -30_000, 100_000)).toBe(70_000);
    expect(await store.budgetAdd('b', -90_000, 100_000)).toBe(0);
    expect(await store.budgetAdd('b', 500_000, 100_000)).toBe(100_000);
    await store.budgetAdd('b', -50_000, 100_000);
    clock.advance(10_000);
    expect(await store.budgetAdd('b', 0, 100_000)).toBe(100_000);
  });

  it('keeps the newest headroom observation and the longest block', async () => {
    const clock = new FakeClock(0);
    const store = new MemoryFleetStore({ clock });
    const r = (remaining: number) => ({ requests: { limit: 10, remaining, resetInMs: 1_000 } });
    await store.headroomPut('k', { resources: r(5), ageMs: 0, blockedForMs: 3_000 });
    clock.advance(100);
    await store.headroomPut('k', { resources: r(9), ageMs: 500, blockedForMs: 0 });
    expect(await store.headroomGet('k')).toEqual({ resources: r(5), ageMs: 100, blockedForMs: 2_900 });
    await store.headroomPut('k', { resources: r(1), ageMs: 0, blockedForMs: 0 });
    expect(await store.headroomGet('k')).toEqual({ resources: r(1), ageMs: 0, blockedForMs: 2_900 });
    expect(await store.headroomGet('other')).toBeUndefined();
  });

  it('claims headroom atomically for the fleet until a newer observation', async () => {
    const clock = new FakeClock(0);
    const store = new MemoryFleetStore({ clock });
    const cost = { requests: 1, inputTokens: 10 };
    // Nothing known: granted.
    expect((await store.headroomClaim('k', cost, 'at_reset')).granted).toBe(true);
    const r = (remaining: number) => ({ requests: { limit: 10, remaining, resetInMs: 1_000 } });
    await store.headroomPut('k', { resources: r(2), ageMs: 0, blockedForMs: 0 });
    expect((await store.headroomClaim('k', cost, 'at_reset')).granted).toBe(true);
    expect((await store.headroomClaim('k', cost, 'at_reset')).granted).toBe(true);
    expect(await store.headroomClaim('k', cost, 'at_reset')).toEqual({
      granted: false,
      waitMs: 1_000,
      resource: 'requests',
    });
    // A newer observation of the same window: the server counted one of the two claims (remaining
    // fell by one), the other is still in flight.
    clock.advance(10);
    await store.headroomPut('k', { resources: r(1), ageMs: 0, blockedForMs: 0 });
    expect((await store.headroomClaim('k', cost, 'at_reset')).granted).toBe(false);
    // An older observation arriving late does not raise `remaining` again.
    await store.headroomPut('k', { resources: r(5), ageMs: 0, blockedForMs: 0 });
    expect((await store.headroomGet('k'))?.resources.requests?.remaining).toBe(1);
    expect((await store.headroomClaim('k', cost, 'at_reset')).granted).toBe(false);
    // From the reset on, the window is full again.
    clock.advance(1_000);
    expect((await store.headroomClaim('k', cost, 'at_reset')).granted).toBe(true);
    // A 429's block holds everyone.
    await store.headroomPut('k', { resources: r(5), ageMs: 0, blockedForMs: 300 });
    expect(await store.headroomClaim('k', cost, 'at_reset')).toEqual({
      granted: false,
      waitMs: 300,
      resource: 'retry_after',
    });
  });

  it('bounds cached values in bytes and entries, and expires them', async () => {
    const clock = new FakeClock(0);
    const store = new MemoryFleetStore({ clock, maxValueBytes: 10, maxCacheEntries: 2 });
    const v = (body: string) => ({ status: 200, headers: { 'content-type': 'application/json' }, body });
    await store.cacheSet('big', v('x'.repeat(11)), 1_000);
    expect(await store.cacheGet('big')).toBeUndefined();
    await store.cacheSet('a', v('1'), 1_000);
    await store.cacheSet('b', v('2'), 1_000);
    await store.cacheSet('c', v('3'), 1_000);
    expect(await store.cacheGet('a')).toBeUndefined();
    clock.advance(400);
    expect(await store.cacheGet('b')).toEqual({ ...v('2'), ageMs: 400 });
    clock.advance(600);
    expect(await store.cacheGet('b')).toBeUndefined();
  });
});

/** A store whose every call fails (or hangs) while `down`. */
function flakyStore(inner: FleetStore, mode: { down: boolean; hang: boolean; calls: number }): FleetStore {
  return new Proxy(inner, {
    get(target, name, receiver) {
      const value = Reflect.get(target, name, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        mode.calls++;
        if (mode.down) {
          return mode.hang ? new Promise(() => undefined) : Promise.reject(new Error('ECONNREFUSED'));
        }
        return value.apply(target, args);
      };
    },
  });
}

describe('StoreGuard', () => {
  function setup(hang = false) {
    const otel = explicitOtel();
    const clock = new FakeClock(0);
    const mode = { down: false, hang, calls: 0 };
    const logs: string[] = [];
    const logger: StoreLogger = {
      warn: (_o, m) => logs.push(`warn ${m}`),
      info: (_o, m) => logs.push(`info ${m}`),
    };
    const store = flakyStore(new MemoryFleetStore({ clock }), mode);
    const guard = new StoreGuard(store, otel.telemetry, clock, { timeoutMs: 50, retryMs: 1_000 }, logger);
    return { otel, clock, mode, logs, guard };
  }

  it('degrades on failures, logs once, skips the store, probes every retryMs and recovers', async () => {
    const t = setup();
    expect(await t.guard.call('budget', 'b', (s) => s.budgetAdd('b', -1, 10))).toBe(9);
    t.mode.down = true;
    expect(await t.guard.call('budget', 'b', (s) => s.budgetAdd('b', -1, 10))).toBeUndefined();
    expect(t.guard.shared).toBe(false);
    const callsWhenDown = t.mode.calls;
    for (let i = 0; i < 5; i++)
      expect(await t.guard.call('headroom', 'k', (s) => s.headroomGet('k'))).toBeUndefined();
    // Skipped: the store was not called while degraded.
    expect(t.mode.calls).toBe(callsWhenDown);
    t.clock.advance(1_000);
    expect(await t.guard.call('budget', 'b', (s) => s.budgetAdd('b', 0, 10))).toBeUndefined();
    expect(t.mode.calls).toBe(callsWhenDown + 1);
    t.mode.down = false;
    expect(await t.guard.call('budget', 'b', (s) => s.budgetAdd('b', 0, 10))).toBeUndefined();
    t.clock.advance(1_000);
    expect(await t.guard.call('budget', 'b', (s) => s.budgetAdd('b', 0, 10))).toBe(9);
    expect(t.guard.shared).toBe(true);
    expect(t.logs).toHaveLength(2);
    expect(t.logs[0]).toMatch(/^warn .*unavailable.*ECONNREFUSED/);
    expect(t.logs[1]).toMatch(/^info .*is back/);
    expect(await t.otel.counterSum('anthropic.client.store.errors')).toBe(2);
    const state = await t.otel.points('anthropic.client.store.state');
    expect(state.map((p) => p.value)).toEqual([1]);
  });

  it('answers undefined after timeoutMs when the store hangs', async () => {
    const t = setup(true);
    t.mode.down = true;
    const pending = t.guard.call('breaker', 'k', (s) => s.breakerView('k', consecutive));
    let result: unknown = 'pending';
    void pending.then((r) => {
      result = r;
    });
    await settle();
    expect(result).toBe('pending');
    t.clock.advance(50);
    await settle();
    expect(result).toBeUndefined();
    expect(t.guard.shared).toBe(false);
    expect(
      await t.otel.counterSum('anthropic.client.store.errors', { 'anthropic.store.operation': 'breaker' }),
    ).toBe(1);
  });
});

describe('SharedRetryBudget', () => {
  it('two processes spend one budget', async () => {
    const otel = explicitOtel();
    const clock = new FakeClock(0);
    const store = new MemoryFleetStore({ clock });
    const guard = () => new StoreGuard(store, otel.telemetry, clock);
    const a = new SharedRetryBudget(guard(), 'retry', { maxTokens: 10 });
    const b = new SharedRetryBudget(guard(), 'retry', { maxTokens: 10 });
    for (let i = 0; i < 3; i++) {
      a.onFailure();
      await settle();
    }
    for (let i = 0; i < 2; i++) {
      b.onFailure();
      await settle();
    }
    // 10 − 5 = 5: not more than half left, for both.
    expect(b.tokens).toBe(5);
    expect(b.canRetry()).toBe(false);
    a.onSuccess();
    await settle();
    expect(a.tokens).toBeCloseTo(5.1, 5);
    expect(a.canRetry()).toBe(true);
  });
});

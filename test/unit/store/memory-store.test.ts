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

describe('StoreGuard with a sharded store (one shard down, the other up)', () => {
  /** Keys `a…` live on shard `A`, keys `b…` on shard `B`; every call to `B` hangs while it is down. */
  function setup() {
    const otel = explicitOtel();
    const clock = new FakeClock(0);
    const inner = new MemoryFleetStore({ clock });
    const b = { down: false, calls: 0, probes: 0 };
    const onB = (key: string) => key.startsWith('b');
    const hang = <T>(key: string, run: () => Promise<T>): Promise<T> => {
      if (!onB(key)) return run();
      b.calls++;
      return b.down ? new Promise<T>(() => undefined) : run();
    };
    const store: FleetStore = {
      kind: 'sharded',
      shardOf: (_operation, key) => (onB(key) ? 'B' : 'A'),
      probe: (_operation, key) => {
        b.probes++;
        return hang(key, async () => undefined);
      },
      breakerView: (key, c) => hang(key, () => inner.breakerView(key, c)),
      breakerRecord: (key, f, c) => hang(key, () => inner.breakerRecord(key, f, c)),
      breakerAcquireProbe: (key, o, c) => hang(key, () => inner.breakerAcquireProbe(key, o, c)),
      breakerSettleProbe: (key, o, x, c) => hang(key, () => inner.breakerSettleProbe(key, o, x, c)),
      budgetAdd: (name, d, m) => hang(name, () => inner.budgetAdd(name, d, m)),
      headroomPut: (key, v) => hang(key, () => inner.headroomPut(key, v)),
      headroomGet: (key) => hang(key, () => inner.headroomGet(key)),
      headroomClaim: (key, c, r) => hang(key, () => inner.headroomClaim(key, c, r)),
      cacheGet: (key) => hang(key, () => inner.cacheGet(key)),
      cacheSet: (key, v, t) => hang(key, () => inner.cacheSet(key, v, t)),
      close: () => inner.close(),
    };
    const logs: Array<{ level: string; obj: Record<string, unknown> }> = [];
    const logger: StoreLogger = {
      warn: (obj) => logs.push({ level: 'warn', obj }),
      info: (obj) => logs.push({ level: 'info', obj }),
    };
    const guard = new StoreGuard(store, otel.telemetry, clock, { timeoutMs: 50, retryMs: 1_000 }, logger);
    return { otel, clock, b, logs, guard };
  }

  it('one wait per outage of a shard: the calls in flight are answered with the first timeout, later ones at once; the other shard stays shared', async () => {
    const t = setup();
    expect(await t.guard.call('budget', 'b1', (s) => s.budgetAdd('b1', -1, 10))).toBe(9);
    t.b.down = true;
    const answers: unknown[] = [];
    const first = t.guard
      .call('budget', 'b1', (s) => s.budgetAdd('b1', -1, 10))
      .then((v) => answers.push(['first', v]));
    t.clock.advance(30);
    // Started before the shard was known to be down: it waits too, but only until the first times out.
    const second = t.guard
      .call('headroom', 'b2', (s) => s.headroomGet('b2'))
      .then((v) => answers.push(['second', v]));
    await settle();
    expect(answers).toEqual([]);
    t.clock.advance(20);
    await settle();
    await Promise.all([first, second]);
    expect(answers.sort()).toEqual([
      ['first', undefined],
      ['second', undefined],
    ]);
    expect(await t.otel.counterSum('anthropic.client.store.errors', { 'error.type': 'timeout' })).toBe(1);
    // Shard B is skipped at once (no call reaches it), shard A is still shared.
    const callsWhenDown = t.b.calls;
    let answered = false;
    void t.guard
      .call('cache', 'b3', (s) => s.cacheGet('b3'))
      .then(() => {
        answered = true;
      });
    await settle();
    expect(answered).toBe(true);
    expect(t.b.calls).toBe(callsWhenDown);
    expect(await t.guard.call('budget', 'a1', (s) => s.budgetAdd('a1', -1, 10))).toBe(9);
    expect(t.guard.isShared('budget', 'a1')).toBe(true);
    expect(t.guard.isShared('budget', 'b1')).toBe(false);
    expect(t.guard.shared).toBe(false);
    // Every retryMs the shard is checked in the background: the caller is answered at once.
    for (let i = 0; i < 3; i++) {
      t.clock.advance(1_000);
      answered = false;
      void t.guard
        .call('budget', 'b1', (s) => s.budgetAdd('b1', 0, 10))
        .then(() => {
          answered = true;
        });
      await settle();
      expect(answered).toBe(true);
      t.clock.advance(50);
      await settle();
    }
    expect(t.b.probes).toBe(3);
    // Successes on shard A meanwhile prove nothing about B: no recovery logged.
    expect(await t.guard.call('budget', 'a1', (s) => s.budgetAdd('a1', 0, 10))).toBe(9);
    expect(t.logs.map((l) => `${l.level} ${String(l.obj.shard)}`)).toEqual(['warn B']);
    // B is back: the next check finds it, and its keys are shared again.
    t.b.down = false;
    t.clock.advance(1_000);
    expect(await t.guard.call('budget', 'b1', (s) => s.budgetAdd('b1', 0, 10))).toBeUndefined();
    await settle();
    expect(t.guard.isShared('budget', 'b1')).toBe(true);
    expect(t.guard.shared).toBe(true);
    expect(await t.guard.call('budget', 'b1', (s) => s.budgetAdd('b1', 0, 10))).toBe(9);
    expect(t.logs.map((l) => `${l.level} ${String(l.obj.shard)}`)).toEqual(['warn B', 'info B']);
    // One wait in all; the failed checks count as `probe` errors.
    expect(
      await t.otel.counterSum('anthropic.client.store.errors', {
        'error.type': 'timeout',
        'anthropic.store.operation': 'budget',
      }),
    ).toBe(1);
    expect(
      await t.otel.counterSum('anthropic.client.store.errors', { 'anthropic.store.operation': 'probe' }),
    ).toBe(3);
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

import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import {
  type BreakerOptions,
  type BreakerPermit,
  BreakerRegistry,
  type BreakerState,
  CircuitBreaker,
} from '../../../src/policies/breaker.js';
import { FakeClock } from '../../helpers/fake-clock.js';

type Transition = [from: BreakerState, to: BreakerState];

function setup(options?: BreakerOptions, clock = new FakeClock()) {
  const breaker = new CircuitBreaker(options, clock);
  const transitions: Transition[] = [];
  breaker.onTransition((from, to) => transitions.push([from, to]));
  return { breaker, clock, transitions };
}

function acquire(breaker: CircuitBreaker): BreakerPermit {
  const permit = breaker.tryAcquire();
  if (permit === undefined) throw new Error(`not admitted (state ${breaker.state})`);
  return permit;
}

/** Records `outcomes` one attempt at a time: 's' success, 'f' failure, 'i' ignored. */
function record(breaker: CircuitBreaker, outcomes: string): void {
  for (const o of outcomes) {
    const permit = acquire(breaker);
    if (o === 's') permit.success();
    else if (o === 'f') permit.failure();
    else permit.ignore();
  }
}

describe('CircuitBreaker options', () => {
  it('starts closed and admits', () => {
    const { breaker } = setup();
    expect(breaker.state).toBe('closed');
    expect(breaker.tryAcquire()).toBeDefined();
    expect(breaker.retryAfterMs()).toBe(0);
  });

  it('rejects invalid options', () => {
    const clock = new FakeClock();
    const bad: unknown[] = [
      { mode: 'sometimes' },
      { failureRateThreshold: 0 },
      { failureRateThreshold: 1.5 },
      { failureRateThreshold: Number.NaN },
      { minimumThroughput: 0 },
      { minimumThroughput: 2.5 },
      { window: { kind: 'count', size: 0 } },
      { window: { kind: 'count' } },
      { window: { kind: 'time', ms: 0 } },
      { window: { kind: 'time', ms: Number.POSITIVE_INFINITY } },
      { window: { kind: 'sliding' } },
      { window: { kind: 'count', size: 5 } }, // smaller than the default minimumThroughput of 10
      { consecutiveFailures: 0 },
      { openMs: -1 },
      { openBackoffMultiplier: 0.5 },
      { maxOpenMs: Number.NaN },
      { halfOpenProbes: 0 },
      { successThreshold: -1 },
    ];
    for (const options of bad) {
      expect(() => new CircuitBreaker(options as BreakerOptions, clock), JSON.stringify(options)).toThrow(
        TypeError,
      );
    }
    expect(() => new BreakerRegistry(undefined, clock, 0)).toThrow(TypeError);
    // A count window smaller than minimumThroughput is fine in consecutive mode, where it is unused.
    expect(
      () => new CircuitBreaker({ mode: 'consecutive', window: { kind: 'count', size: 5 } }, clock),
    ).not.toThrow();
  });
});

describe('CircuitBreaker, failure_rate mode', () => {
  it('never trips below minimumThroughput', () => {
    const { breaker } = setup();
    record(breaker, 'fffffffff');
    expect(breaker.state).toBe('closed');
    record(breaker, 'f');
    expect(breaker.state).toBe('open');
  });

  it('trips at a failure once the failure rate reaches the threshold', () => {
    const { breaker } = setup({ failureRateThreshold: 0.5, minimumThroughput: 10 });
    record(breaker, 'ssssss' + 'ffff');
    expect(breaker.state).toBe('closed'); // 4 of 10
    record(breaker, 'f');
    expect(breaker.state).toBe('closed'); // 5 of 11
    record(breaker, 'f');
    expect(breaker.state).toBe('open'); // 6 of 12
  });

  it('is not tripped by a success, even one that brings the throughput up', () => {
    const { breaker } = setup({ failureRateThreshold: 0.5, minimumThroughput: 10 });
    record(breaker, 'fffff' + 'sssss');
    expect(breaker.state).toBe('closed'); // 5 of 10, but the 10th outcome was a success
    record(breaker, 'f');
    expect(breaker.state).toBe('open'); // 6 of 11
  });

  it('counts the last `size` outcomes of a count window', () => {
    const { breaker } = setup({ window: { kind: 'count', size: 10 }, minimumThroughput: 10 });
    record(breaker, 'fffff' + 'ssssssssss'); // the failures left the window
    record(breaker, 'ffff');
    expect(breaker.state).toBe('closed'); // 4 of 10 (9 of 19 had they stayed)
    record(breaker, 'f');
    expect(breaker.state).toBe('open'); // 5 of 10
  });

  it('counts the outcomes of the last `ms` of a time window', () => {
    const { breaker, clock } = setup({ window: { kind: 'time', ms: 10_000 }, minimumThroughput: 5 });
    record(breaker, 'ffff');
    clock.advance(10_000);
    record(breaker, 'ffff');
    expect(breaker.state).toBe('closed'); // the first four aged out
    clock.advance(8_999);
    record(breaker, 'f');
    expect(breaker.state).toBe('open'); // 5 within 9 s
  });

  it('keeps a time window bounded to its buckets and ages every bucket out', () => {
    const { breaker, clock } = setup({
      window: { kind: 'time', ms: 1_000 },
      minimumThroughput: 3,
      failureRateThreshold: 1,
    });
    // One failure every 500 ms never has 3 within a second.
    for (let i = 0; i < 100; i++) {
      record(breaker, 'f');
      clock.advance(500);
    }
    expect(breaker.state).toBe('closed');
    // Two failures 0.9 s apart are still both in the window.
    record(breaker, 'f');
    clock.advance(900);
    record(breaker, 'ff');
    expect(breaker.state).toBe('open');
  });

  it('does not count ignored outcomes', () => {
    const { breaker } = setup({ minimumThroughput: 10 });
    record(breaker, 'fffff' + 'iiiiiiiiii' + 'ffff');
    expect(breaker.state).toBe('closed'); // 9 counted outcomes
    record(breaker, 'i' + 'f');
    expect(breaker.state).toBe('open');
  });
});

describe('CircuitBreaker, consecutive mode', () => {
  it('opens at the N-th failure in a row', () => {
    const { breaker } = setup({ mode: 'consecutive', consecutiveFailures: 3 });
    record(breaker, 'ff' + 's' + 'ff' + 'i');
    expect(breaker.state).toBe('closed'); // a success breaks the run, an ignored outcome does not
    record(breaker, 'f');
    expect(breaker.state).toBe('open');
  });

  it('uses a default of 5', () => {
    const { breaker } = setup({ mode: 'consecutive' });
    record(breaker, 'ffff');
    expect(breaker.state).toBe('closed');
    record(breaker, 'f');
    expect(breaker.state).toBe('open');
  });
});

describe('CircuitBreaker, open and half-open', () => {
  const tripped = (options: BreakerOptions = {}) => {
    const s = setup({ mode: 'consecutive', consecutiveFailures: 1, ...options });
    record(s.breaker, 'f');
    return s;
  };

  it('rejects while open and says for how long', () => {
    const { breaker, clock } = tripped({ openMs: 1_000 });
    expect(breaker.tryAcquire()).toBeUndefined();
    expect(breaker.retryAfterMs()).toBe(1_000);
    clock.advance(999);
    expect(breaker.tryAcquire()).toBeUndefined();
    expect(breaker.state).toBe('open');
    expect(breaker.retryAfterMs()).toBe(1);
  });

  it('becomes half-open when the state is next looked at after openMs', () => {
    const { breaker, clock, transitions } = tripped({ openMs: 1_000 });
    clock.advance(5_000);
    expect(transitions).toEqual([['closed', 'open']]); // no timers
    expect(breaker.state).toBe('half_open');
    expect(transitions).toEqual([
      ['closed', 'open'],
      ['open', 'half_open'],
    ]);
    expect(breaker.retryAfterMs()).toBe(0);
  });

  it('moves to half-open from tryAcquire and retryAfterMs too', () => {
    const a = tripped({ openMs: 1_000 });
    a.clock.advance(1_000);
    expect(a.breaker.tryAcquire()).toBeDefined();
    expect(a.transitions.at(-1)).toEqual(['open', 'half_open']);
    const b = tripped({ openMs: 1_000 });
    b.clock.advance(1_000);
    expect(b.breaker.retryAfterMs()).toBe(0);
    expect(b.transitions.at(-1)).toEqual(['open', 'half_open']);
  });

  it('with openMs 0, is half-open as soon as it is looked at', () => {
    const { breaker } = tripped({ openMs: 0 });
    expect(breaker.state).toBe('half_open');
  });

  it('admits at most halfOpenProbes at once in half-open', () => {
    const { breaker, clock } = tripped({ openMs: 10, halfOpenProbes: 2, successThreshold: 3 });
    clock.advance(10);
    const p1 = acquire(breaker);
    const p2 = acquire(breaker);
    expect(breaker.tryAcquire()).toBeUndefined();
    p1.ignore(); // frees a slot without deciding
    expect(breaker.state).toBe('half_open');
    const p3 = acquire(breaker);
    expect(breaker.tryAcquire()).toBeUndefined();
    p2.success(); // frees a slot, 1 success of 3
    expect(breaker.state).toBe('half_open');
    const p4 = acquire(breaker);
    expect(breaker.tryAcquire()).toBeUndefined();
    p3.success();
    p4.success();
    expect(breaker.state).toBe('closed');
  });

  it('closes after successThreshold successes, with a fresh window', () => {
    const { breaker, clock, transitions } = tripped({
      mode: 'failure_rate',
      minimumThroughput: 1,
      failureRateThreshold: 1,
      window: { kind: 'count', size: 4 },
      openMs: 10,
      successThreshold: 2,
    });
    expect(breaker.state).toBe('open');
    clock.advance(10);
    record(breaker, 's');
    expect(breaker.state).toBe('half_open');
    record(breaker, 's');
    expect(breaker.state).toBe('closed');
    expect(transitions).toEqual([
      ['closed', 'open'],
      ['open', 'half_open'],
      ['half_open', 'closed'],
    ]);
    record(breaker, 's');
    record(breaker, 'f');
    expect(breaker.state).toBe('closed'); // 1 of 2: the probes' successes were not in the window
    record(breaker, 'ff');
    expect(breaker.state).toBe('closed'); // 3 of 4
    record(breaker, 'sf');
    expect(breaker.state).toBe('closed');
  });

  it('re-opens at a failure in half-open, for a backed-off time, capped', () => {
    const { breaker, clock, transitions } = tripped({
      openMs: 1_000,
      openBackoffMultiplier: 2,
      maxOpenMs: 5_000,
    });
    const durations = [breaker.retryAfterMs()];
    for (let i = 0; i < 4; i++) {
      clock.advance(breaker.retryAfterMs());
      const probe = acquire(breaker);
      probe.failure();
      expect(breaker.state).toBe('open');
      durations.push(breaker.retryAfterMs());
    }
    expect(durations).toEqual([1_000, 2_000, 4_000, 5_000, 5_000]);
    // Closing resets the open duration.
    clock.advance(5_000);
    record(breaker, 's');
    expect(breaker.state).toBe('closed');
    record(breaker, 'f');
    expect(breaker.retryAfterMs()).toBe(1_000);
    expect(transitions.filter(([, to]) => to === 'open')).toHaveLength(6);
  });

  it('re-opens at any failure in half-open, even after some successes', () => {
    const { breaker, clock } = tripped({
      openMs: 10,
      openBackoffMultiplier: 2,
      successThreshold: 3,
      halfOpenProbes: 3,
    });
    clock.advance(10);
    const [a, b, c] = [acquire(breaker), acquire(breaker), acquire(breaker)];
    a.success();
    b.success();
    c.failure();
    expect(breaker.state).toBe('open');
    expect(breaker.retryAfterMs()).toBe(20);
  });

  it('never uses an open duration below openMs', () => {
    const { breaker } = tripped({ openMs: 1_000, maxOpenMs: 10 });
    expect(breaker.retryAfterMs()).toBe(1_000);
  });
});

describe('CircuitBreaker permits', () => {
  it('counts a permit settled twice once', () => {
    const { breaker } = setup({ mode: 'consecutive', consecutiveFailures: 2 });
    const permit = acquire(breaker);
    permit.failure();
    permit.failure();
    permit.success();
    expect(breaker.state).toBe('closed');
    record(breaker, 'f');
    expect(breaker.state).toBe('open'); // the first settlement counted: 2 in a row
  });

  it('frees a half-open slot once when settled twice', () => {
    const { breaker, clock } = setup({
      mode: 'consecutive',
      consecutiveFailures: 1,
      openMs: 1,
      halfOpenProbes: 2,
    });
    record(breaker, 'f');
    clock.advance(1);
    const p1 = acquire(breaker);
    acquire(breaker);
    p1.ignore();
    p1.ignore();
    p1.success();
    acquire(breaker);
    expect(breaker.tryAcquire()).toBeUndefined();
    expect(breaker.state).toBe('half_open');
  });

  it('ignores the outcomes of permits admitted before the last transition', () => {
    const { breaker, clock, transitions } = setup({
      mode: 'consecutive',
      consecutiveFailures: 1,
      openMs: 1_000,
    });
    const slow = acquire(breaker);
    const slowToo = acquire(breaker);
    record(breaker, 'f');
    clock.advance(500);
    slow.failure(); // would otherwise restart or extend the open period
    expect(breaker.retryAfterMs()).toBe(500);
    clock.advance(500);
    expect(breaker.state).toBe('half_open');
    slowToo.success(); // not a probe: does not close
    expect(breaker.state).toBe('half_open');
    const probe = acquire(breaker);
    expect(breaker.tryAcquire()).toBeUndefined();
    probe.success();
    expect(breaker.state).toBe('closed');
    expect(transitions).toHaveLength(3);
  });

  it('does not let a probe of an earlier half-open period decide or free a slot of the next', () => {
    const { breaker, clock } = setup({
      mode: 'consecutive',
      consecutiveFailures: 1,
      openMs: 10,
      halfOpenProbes: 2,
    });
    record(breaker, 'f');
    clock.advance(10);
    const old = acquire(breaker);
    record(breaker, 'f'); // re-opens for 20 ms
    clock.advance(20);
    const p1 = acquire(breaker);
    old.ignore();
    old.success();
    acquire(breaker);
    expect(breaker.tryAcquire()).toBeUndefined();
    p1.success();
    expect(breaker.state).toBe('closed');
  });
});

describe('CircuitBreaker transitions', () => {
  it('reports every transition once, to every listener, until unsubscribed', () => {
    const { breaker, clock, transitions } = setup({
      mode: 'consecutive',
      consecutiveFailures: 1,
      openMs: 10,
    });
    const second: Transition[] = [];
    const unsubscribe = breaker.onTransition((from, to) => second.push([from, to]));
    record(breaker, 'f');
    clock.advance(10);
    expect(breaker.state).toBe('half_open');
    expect(breaker.state).toBe('half_open');
    record(breaker, 'f');
    clock.advance(20);
    breaker.tryAcquire()?.success();
    unsubscribe();
    unsubscribe();
    record(breaker, 'f');
    const cycle: Transition[] = [
      ['closed', 'open'],
      ['open', 'half_open'],
      ['half_open', 'open'],
      ['open', 'half_open'],
      ['half_open', 'closed'],
    ];
    expect(second).toEqual(cycle);
    expect(transitions).toEqual([...cycle, ['closed', 'open']]);
  });

  it('delivers transitions caused by a listener after the current one reached every listener', () => {
    const { breaker } = setup({ mode: 'consecutive', consecutiveFailures: 1, openMs: 0 });
    const seen: string[] = [];
    breaker.onTransition((from, to) => {
      seen.push(`a ${from}->${to}`);
      void breaker.state; // openMs 0: open -> half_open right away
    });
    breaker.onTransition((from, to) => seen.push(`b ${from}->${to}`));
    record(breaker, 'f');
    expect(seen).toEqual(['a closed->open', 'b closed->open', 'a open->half_open', 'b open->half_open']);
  });

  it('runs every listener when one throws, then rethrows with the state settled', () => {
    const { breaker, transitions } = setup({ mode: 'consecutive', consecutiveFailures: 1 });
    const boom = new Error('listener');
    breaker.onTransition(() => {
      throw boom;
    });
    const after = vi.fn();
    breaker.onTransition(after);
    const permit = acquire(breaker);
    expect(() => permit.failure()).toThrow(boom);
    expect(after).toHaveBeenCalledWith('closed', 'open');
    expect(transitions).toEqual([['closed', 'open']]);
    expect(breaker.state).toBe('open');
  });
});

describe('BreakerRegistry', () => {
  const tripOptions: BreakerOptions = { mode: 'consecutive', consecutiveFailures: 1, openMs: 100 };

  it('keeps one breaker per key and reports transitions with the key', () => {
    const registry = new BreakerRegistry(tripOptions, new FakeClock());
    const seen: [string, BreakerState, BreakerState][] = [];
    const unsubscribe = registry.onTransition((key, from, to) => seen.push([key, from, to]));
    const a = registry.get('us:sonnet');
    expect(registry.get('us:sonnet')).toBe(a);
    const b = registry.get('eu:sonnet');
    expect(b).not.toBe(a);
    record(b, 'f');
    expect(a.state).toBe('closed');
    expect(seen).toEqual([['eu:sonnet', 'closed', 'open']]);
    unsubscribe();
    record(a, 'f');
    expect(seen).toHaveLength(1);
    expect([...registry.entries()].map(([key]) => key)).toEqual(['us:sonnet', 'eu:sonnet']);
    expect(registry.size).toBe(2);
  });

  it('evicts the least recently used closed breaker first', () => {
    const registry = new BreakerRegistry(tripOptions, new FakeClock(), 3);
    record(registry.get('a'), 'f'); // open
    registry.get('b');
    registry.get('c');
    registry.get('b'); // c is now the least recently used closed one
    registry.get('d');
    expect([...registry.entries()].map(([key]) => key)).toEqual(['a', 'b', 'd']);
    expect(registry.get('a').state).toBe('open');
  });

  it('evicts the least recently used breaker when none is closed', () => {
    const registry = new BreakerRegistry(tripOptions, new FakeClock(), 2);
    const seen: string[] = [];
    registry.onTransition((key, from, to) => seen.push(`${key} ${from}->${to}`));
    const a = registry.get('a');
    record(a, 'f');
    record(registry.get('b'), 'f');
    registry.get('c');
    expect([...registry.entries()].map(([key]) => key)).toEqual(['b', 'c']);
    expect(registry.size).toBe(2);
    expect(registry.get('a')).not.toBe(a); // a new, closed breaker
    expect(seen).toEqual(['a closed->open', 'b closed->open']);
  });

  it('stops reporting the transitions of an evicted breaker', () => {
    const clock = new FakeClock();
    const registry = new BreakerRegistry(tripOptions, clock, 1);
    const seen: string[] = [];
    registry.onTransition((key, from, to) => seen.push(`${key} ${from}->${to}`));
    const a = registry.get('a');
    const held = acquire(a);
    registry.get('b'); // evicts a
    held.failure();
    expect(a.state).toBe('open');
    expect(seen).toEqual([]);
  });

  it('returns a snapshot from entries()', () => {
    const registry = new BreakerRegistry(undefined, new FakeClock());
    registry.get('a');
    const entries = registry.entries();
    registry.get('b');
    expect([...entries].map(([key]) => key)).toEqual(['a']);
  });
});

describe('FakeClock', () => {
  it('resolves sleeps and fires timers when time is advanced past them, in order', async () => {
    const clock = new FakeClock(100);
    const order: string[] = [];
    void clock.sleep(50).then(() => order.push(`sleep 50 at ${clock.now()}`));
    clock.setTimer(() => order.push(`timer 20 at ${clock.now()}`), 20);
    const cancelled = clock.setTimer(() => order.push('cancelled'), 10);
    cancelled.cancel();
    expect(clock.pending).toBe(2);
    expect(clock.nextDue()).toBe(120);
    clock.advance(49);
    await Promise.resolve();
    expect(order).toEqual(['timer 20 at 120']);
    clock.advance(1);
    await Promise.resolve();
    expect(order).toEqual(['timer 20 at 120', 'sleep 50 at 150']);
    expect(clock.now()).toBe(150);
    expect(clock.pending).toBe(0);
  });

  it('rejects a sleep with the abort reason', async () => {
    const clock = new FakeClock();
    const controller = new AbortController();
    const sleeping = clock.sleep(1_000, controller.signal);
    controller.abort(new Error('stop'));
    await expect(sleeping).rejects.toThrow('stop');
    expect(clock.pending).toBe(0);
    await expect(clock.sleep(1, controller.signal)).rejects.toThrow('stop');
  });

  it('needs no time for a zero delay', async () => {
    const clock = new FakeClock();
    await clock.sleep(0);
    const fired = vi.fn();
    clock.setTimer(fired, 0);
    clock.setTimer(fired, -5).cancel();
    expect(fired).not.toHaveBeenCalled();
    await Promise.resolve();
    expect(fired).toHaveBeenCalledOnce();
  });

  it('lets continuations sleep again within one advanceAsync', async () => {
    const clock = new FakeClock();
    const wakes: number[] = [];
    const loop = (async () => {
      for (let i = 0; i < 3; i++) {
        await clock.sleep(100);
        wakes.push(clock.now());
      }
    })();
    await clock.advanceAsync(250);
    expect(wakes).toEqual([100, 200]);
    await clock.advanceAsync(50);
    await loop;
    expect(wakes).toEqual([100, 200, 300]);
    expect(() => clock.advance(-1)).toThrow(RangeError);
  });
});

// ---------------------------------------------------------------------------------------------
// Properties: random sequences of operations against one breaker.

type Outcome = 'success' | 'failure' | 'ignore';

type Op =
  | { kind: 'acquire' }
  | { kind: 'settle'; index: number; outcome: Outcome }
  | { kind: 'resettle'; index: number; outcome: Outcome }
  | { kind: 'advance'; ms: number };

interface Held {
  readonly permit: BreakerPermit;
  /** The state it was admitted in. */
  readonly state: BreakerState;
  /** Transitions seen when it was admitted. */
  readonly epoch: number;
  settled: boolean;
}

interface Step {
  readonly op: Op;
  readonly now: number;
  /** For `acquire`: whether a permit was granted. */
  readonly granted: boolean | undefined;
  /** For a first `settle`: the permit's admission state and whether no transition happened since. */
  readonly settled: { state: BreakerState; current: boolean; outcome: Outcome } | undefined;
  /** Transitions during the operation and the state read after it. */
  readonly transitions: Transition[];
  /** The state read after the operation. */
  readonly state: BreakerState;
  /** Permits admitted in the current half-open period and not settled. */
  readonly probesOut: number;
  /** What `retryAfterMs()` said after the operation. */
  readonly retryAfterMs: number;
}

function run(options: BreakerOptions, ops: readonly Op[]): Step[] {
  const clock = new FakeClock(1_000);
  const breaker = new CircuitBreaker(options, clock);
  const log: Transition[] = [];
  breaker.onTransition((from, to) => log.push([from, to]));
  const held: Held[] = [];
  const steps: Step[] = [];
  for (const op of ops) {
    const before = log.length;
    let granted: boolean | undefined;
    let settled: Step['settled'];
    switch (op.kind) {
      case 'acquire': {
        const permit = breaker.tryAcquire();
        granted = permit !== undefined;
        // A grant never transitions after the fact, so the admission state is the state now.
        if (permit) held.push({ permit, state: breaker.state, epoch: log.length, settled: false });
        break;
      }
      case 'settle': {
        const open = held.filter((h) => !h.settled);
        const h = open[op.index % Math.max(1, open.length)];
        if (h) {
          settled = { state: h.state, current: h.epoch === log.length, outcome: op.outcome };
          h.settled = true;
          h.permit[op.outcome]();
        }
        break;
      }
      case 'resettle': {
        const done = held.filter((h) => h.settled);
        done[op.index % Math.max(1, done.length)]?.permit[op.outcome]();
        break;
      }
      case 'advance':
        clock.advance(op.ms);
        break;
    }
    const state = breaker.state;
    const retryAfterMs = breaker.retryAfterMs();
    const probesOut = held.filter(
      (h) => !h.settled && h.state === 'half_open' && h.epoch === log.length,
    ).length;
    steps.push({
      op,
      now: clock.now(),
      granted,
      settled,
      transitions: log.slice(before),
      state,
      probesOut,
      retryAfterMs,
    });
  }
  return steps;
}

const outcomeArb = fc.oneof(
  { arbitrary: fc.constant<Outcome>('failure'), weight: 3 },
  { arbitrary: fc.constant<Outcome>('success'), weight: 2 },
  { arbitrary: fc.constant<Outcome>('ignore'), weight: 1 },
);

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { arbitrary: fc.constant<Op>({ kind: 'acquire' }), weight: 5 },
  {
    arbitrary: fc.record({ kind: fc.constant('settle' as const), index: fc.nat(), outcome: outcomeArb }),
    weight: 5,
  },
  {
    arbitrary: fc.record({ kind: fc.constant('resettle' as const), index: fc.nat(), outcome: outcomeArb }),
    weight: 1,
  },
  {
    arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 300 }) }),
    weight: 2,
  },
);

const opsArb = fc.array(opArb, { minLength: 1, maxLength: 300, size: 'large' });

const commonOptionsArb = fc.record({
  openMs: fc.integer({ min: 0, max: 200 }),
  openBackoffMultiplier: fc.constantFrom(1, 1.5, 2, 3),
  maxOpenMs: fc.integer({ min: 0, max: 1_000 }),
  halfOpenProbes: fc.integer({ min: 1, max: 3 }),
  successThreshold: fc.integer({ min: 1, max: 3 }),
});

const consecutiveOptionsArb: fc.Arbitrary<BreakerOptions> = fc
  .tuple(commonOptionsArb, fc.integer({ min: 1, max: 4 }))
  .map(([common, consecutiveFailures]) => ({ ...common, mode: 'consecutive', consecutiveFailures }));

const failureRateOptionsArb: fc.Arbitrary<BreakerOptions> = fc
  .tuple(
    commonOptionsArb,
    fc.constantFrom(0.25, 0.3, 0.5, 0.6, 1),
    fc.integer({ min: 1, max: 6 }),
    fc.oneof(
      fc.integer({ min: 0, max: 6 }).map((extra) => ({ kind: 'count' as const, extra })),
      fc.integer({ min: 1, max: 50 }).map((tenths) => ({ kind: 'time' as const, ms: tenths * 10 })),
    ),
  )
  .map(([common, failureRateThreshold, minimumThroughput, w]) => ({
    ...common,
    mode: 'failure_rate',
    failureRateThreshold,
    minimumThroughput,
    window: w.kind === 'count' ? { kind: 'count', size: minimumThroughput + w.extra } : w,
  }));

const optionsArb = fc.oneof(consecutiveOptionsArb, failureRateOptionsArb);

const LEGAL = new Set(['closed->open', 'open->half_open', 'half_open->open', 'half_open->closed']);

describe('CircuitBreaker properties', () => {
  it('only makes legal transitions, reported in order and consistent with `state`', () => {
    fc.assert(
      fc.property(optionsArb, opsArb, (options, ops) => {
        let state: BreakerState = 'closed';
        for (const step of run(options, ops)) {
          for (const [from, to] of step.transitions) {
            expect(LEGAL.has(`${from}->${to}`), `${from}->${to}`).toBe(true);
            expect(from).toBe(state);
            state = to;
          }
          expect(step.state).toBe(state);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('never has more than halfOpenProbes permits out in half-open, and rejects only when all are out', () => {
    fc.assert(
      fc.property(optionsArb, opsArb, (options, ops) => {
        const probes = options.halfOpenProbes ?? 1;
        for (const step of run(options, ops)) {
          expect(step.probesOut).toBeLessThanOrEqual(probes);
          if (step.state !== 'half_open') expect(step.probesOut).toBe(0);
          if (step.granted === false && step.state === 'half_open') expect(step.probesOut).toBe(probes);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('grants nothing while open, for the backed-off open duration', () => {
    fc.assert(
      fc.property(optionsArb, opsArb, (options, ops) => {
        const openMs = options.openMs ?? 5_000;
        const maxOpenMs = Math.max(openMs, options.maxOpenMs ?? 300_000);
        let duration = openMs;
        let openUntil = Number.NEGATIVE_INFINITY;
        let state: BreakerState = 'closed';
        for (const step of run(options, ops)) {
          for (const [from, to] of step.transitions) {
            if (to === 'closed') duration = openMs;
            if (to === 'open') {
              if (from === 'half_open')
                duration = Math.min(duration * (options.openBackoffMultiplier ?? 1), maxOpenMs);
              openUntil = step.now + duration;
            }
            state = to;
          }
          if (step.granted) expect(step.state).not.toBe('open');
          if (step.op.kind === 'acquire' && state === 'open') expect(step.granted).toBe(false);
          // Open exactly until the backed-off duration has passed.
          expect(step.state === 'open').toBe(step.now < openUntil);
          expect(step.retryAfterMs).toBe(step.state === 'open' ? openUntil - step.now : 0);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('consecutive mode: opens exactly at the N-th failure in a row recorded while closed', () => {
    fc.assert(
      fc.property(consecutiveOptionsArb, opsArb, (options, ops) => {
        const n = options.consecutiveFailures ?? 5;
        let run_ = 0;
        for (const step of run(options, ops)) {
          let expectOpen = false;
          const s = step.settled;
          if (s?.state === 'closed' && s.current) {
            if (s.outcome === 'failure') run_++;
            else if (s.outcome === 'success') run_ = 0;
            expectOpen = run_ === n;
          }
          const opened = step.transitions.some(([from, to]) => from === 'closed' && to === 'open');
          expect(opened).toBe(expectOpen);
          if (step.transitions.length > 0) run_ = 0;
        }
      }),
      { numRuns: 300 },
    );
  });

  it('failure_rate mode: opens exactly at a failure that brings the window to the threshold', () => {
    fc.assert(
      fc.property(failureRateOptionsArb, opsArb, (options, ops) => {
        const {
          failureRateThreshold = 0.5,
          minimumThroughput = 10,
          window = { kind: 'count', size: 20 },
        } = options;
        // The documented window: the last `size` outcomes, or those in the 10 buckets of ms / 10 up to now.
        let outcomes: { failed: boolean; at: number }[] = [];
        const inWindow = (now: number) => {
          if (window.kind === 'count') return outcomes.slice(-window.size);
          const width = window.ms / 10;
          const head = Math.floor(now / width);
          return outcomes.filter((o) => Math.floor(o.at / width) > head - 10);
        };
        for (const step of run(options, ops)) {
          let expectOpen = false;
          const s = step.settled;
          if (s?.state === 'closed' && s.current && s.outcome !== 'ignore') {
            outcomes.push({ failed: s.outcome === 'failure', at: step.now });
            const current = inWindow(step.now);
            const failures = current.filter((o) => o.failed).length;
            expectOpen =
              s.outcome === 'failure' &&
              current.length >= minimumThroughput &&
              failures / current.length >= failureRateThreshold;
          }
          const opened = step.transitions.some(([from, to]) => from === 'closed' && to === 'open');
          expect(opened).toBe(expectOpen);
          if (step.transitions.length > 0) outcomes = [];
        }
      }),
      { numRuns: 300 },
    );
  });
});

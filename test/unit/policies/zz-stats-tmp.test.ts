import fc from 'fast-check';
import { it } from 'vitest';
import { type BreakerOptions, type BreakerPermit, type BreakerState, CircuitBreaker } from '../../../src/policies/breaker.js';
import { FakeClock } from '../../helpers/fake-clock.js';
type Transition = [from: BreakerState, to: BreakerState];
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

const opsArb = fc.array(opArb, { maxLength: 200 });

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
it('stats', () => {
  const counts: Record<string, number> = {};
  for (const [options, ops] of fc.sample(fc.tuple(optionsArb, opsArb), 300)) {
    const seen = new Set<string>();
    let maxProbes = 0;
    for (const s of run(options, ops)) { for (const [f, t] of s.transitions) seen.add(f + '->' + t); if (s.probesOut >= (options.halfOpenProbes ?? 1)) maxProbes++; }
    for (const k of seen) counts[k] = (counts[k] ?? 0) + 1;
    if (maxProbes) counts.fullProbes = (counts.fullProbes ?? 0) + 1;
    counts[options.mode!] = (counts[options.mode!] ?? 0) + 1;
  }
  console.log(counts);
});

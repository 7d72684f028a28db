/**
 * The breaker policy in isolation (and inside the retry policy): an `Operation` built by hand (a
 * real operation span, a fake clock), a scripted `next` answering with hand-made attempt handles.
 */
import type { SpanContext } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compose, type Operation, type Policy, type SendStep } from '../../../src/pipeline.js';
import type { BreakerState } from '../../../src/policies/breaker.js';
import {
  type BreakerPolicyOptions,
  breakerPolicy,
  createBreakers,
} from '../../../src/policies/breaker-policy.js';
import { TAXONOMY } from '../../../src/policies/classify.js';
import { claudeOtelErrorOf, POLICY_ERROR_HEADER } from '../../../src/policies/errors.js';
import { retryPolicy } from '../../../src/policies/retry.js';
import type { AttemptHandle, AttemptPlan, AttemptResult } from '../../../src/recorder.js';
import { readRequest } from '../../../src/request.js';
import { A, EVENTS, METRICS } from '../../../src/telemetry/names.js';
import { drive, FakeClock } from '../../helpers/fake-clock.js';
import { explicitOtel } from '../../helpers/otel.js';

// ---------------------------------------------------------------------------------------------
// Harness.
// ---------------------------------------------------------------------------------------------

const otel = explicitOtel;
type Otel = ReturnType<typeof otel>;

const REQUEST = readRequest('https://api.anthropic.com/v1/messages', {
  method: 'POST',
  body: JSON.stringify({ model: 'claude-test', max_tokens: 16, messages: [] }),
});

const PLAN: AttemptPlan = {
  url: REQUEST.url,
  body: REQUEST.body,
  resendCount: 0,
  region: 'us-east',
  model: 'claude-test',
};
const KEY = 'us-east|claude-test';
const START_MS = 1_000;

/** An operation with a real span; `events()` ends it and returns its events. */
function operation(o: Otel, clock: FakeClock) {
  const span = o.telemetry.tracer.startSpan('chat claude-test');
  const op: Operation = {
    request: REQUEST,
    span,
    telemetry: o.telemetry,
    clock,
    random: () => 0.5,
    signal: undefined,
    deadlineAt: Number.POSITIVE_INFINITY,
    retrying: true,
    attempts: 0,
  };
  let finished: ReadableSpan | undefined;
  const events = () => {
    if (finished === undefined) {
      span.end();
      const id = span.spanContext().spanId;
      finished = o.exporter.getFinishedSpans().find((s) => s.spanContext().spanId === id);
      if (finished === undefined) throw new Error('operation span not exported');
    }
    return finished.events.map((e) => ({ name: e.name, attributes: e.attributes ?? {} }));
  };
  return { op, events };
}

/** One scripted attempt outcome. */
type Step =
  | {
      readonly kind: 'response';
      readonly status: number;
      readonly errorType?: string | undefined;
      readonly headers?: Record<string, string>;
    }
  | { readonly kind: 'error'; readonly errorType: string };

const ok: Step = { kind: 'response', status: 200 };
const status = (s: number, errorType?: string, headers?: Record<string, string>): Step => ({
  kind: 'response',
  status: s,
  errorType,
  headers,
});
const thrown = (errorType: string): Step => ({ kind: 'error', errorType });

function spanContextOf(i: number): SpanContext {
  return { traceId: 'cd'.repeat(16), spanId: (i + 1).toString(16).padStart(16, '0'), traceFlags: 1 };
}

function makeHandle(step: Step, plan: AttemptPlan, i: number): AttemptHandle {
  const errorType = step.kind === 'error' ? step.errorType : step.status >= 400 ? step.errorType : undefined;
  const result: AttemptResult = {
    plan,
    statusCode: step.kind === 'response' ? step.status : undefined,
    errorType,
    facts: {},
    startedAt: i,
    durationS: 0,
    timeToFirstChunkS: undefined,
    outcome: step.kind === 'error' && step.errorType === 'aborted' ? 'cancelled' : errorType ? 'error' : 'ok',
  };
  const done = Promise.resolve(result);
  const spanContext = spanContextOf(i);
  if (step.kind === 'error') {
    const error =
      step.errorType === 'aborted'
        ? new DOMException('aborted', 'AbortError')
        : new TypeError('fetch failed');
    return { ok: false, error, errorType: step.errorType, done, spanContext };
  }
  const body =
    step.status >= 400
      ? JSON.stringify({ type: 'error', error: { type: step.errorType ?? 'error', message: 'scripted' } })
      : JSON.stringify({ id: `msg_${i}`, type: 'message' });
  const headers = new Headers({ 'content-type': 'application/json', ...step.headers });
  return {
    ok: true,
    response: new Response(body, { status: step.status, headers }),
    errorType,
    done,
    spanContext,
  };
}

/** A `next` answering its calls with `steps` in turn (the last one repeated). */
function scripted(steps: readonly Step[]) {
  const calls: AttemptPlan[] = [];
  const next: SendStep = async (plan) => {
    const i = calls.length;
    calls.push(plan);
    const step = steps[Math.min(i, steps.length - 1)];
    if (step === undefined) throw new Error('empty script');
    return makeHandle(step, plan, i);
  };
  return { next, calls };
}

/**
 * A breaker policy with its registry and telemetry, and the states the registry went through.
 * Fail fast (`hold: false`) unless the options say otherwise: holding has its own tests below.
 */
function setup(given: BreakerPolicyOptions, o: Otel = otel()) {
  const options: BreakerPolicyOptions = { hold: false, ...given };
  const clock = new FakeClock(START_MS);
  const registry = createBreakers(options, clock, o.telemetry);
  const transitions: string[] = [];
  registry.onTransition((key, from, to) => transitions.push(`${key}:${from}>${to}`));
  const policy = breakerPolicy(options, registry);
  /** Runs one operation through the policy alone. */
  const run = async (steps: readonly Step[], plan: AttemptPlan = PLAN) => {
    const { op, events } = operation(o, clock);
    const { next, calls } = scripted(steps);
    const answer = await policy(op, plan, next);
    return { answer, calls, events: events() };
  };
  return { o, clock, registry, policy, transitions, run };
}

function transitionEvent(from: BreakerState, to: BreakerState, key = KEY) {
  return {
    name: EVENTS.BREAKER_TRANSITION.name,
    attributes: {
      [A.ANTHROPIC_BREAKER_KEY]: key,
      [A.ANTHROPIC_BREAKER_FROM]: from,
      [A.ANTHROPIC_BREAKER_TO]: to,
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The taxonomy for breakers, written out independently of `classify` for responses.
// ---------------------------------------------------------------------------------------------

/** How an outcome counts: a success, a failure, or ignored. */
function expectCount(step: Step, rateLimitCountsAsFailure: boolean): 'success' | 'failure' | 'ignore' {
  if (step.kind === 'error') {
    if (step.errorType === 'rate_limit_error') return rateLimitCountsAsFailure ? 'failure' : 'ignore';
    const row = TAXONOMY.find((r) => r.errorType === step.errorType);
    return row === undefined || row.countsAsFailure ? 'failure' : 'ignore';
  }
  if (step.status < 400) return 'success';
  if (step.status === 429) return rateLimitCountsAsFailure ? 'failure' : 'ignore';
  // A 5xx naming one of our own error types is a policy's answer (e.g. a breaker's), never a failure.
  const own = TAXONOMY.find((r) => r.errorType === step.errorType && r.status === undefined);
  if (step.status >= 500 && own !== undefined) return own.countsAsFailure ? 'failure' : 'ignore';
  return step.status === 408 || step.status >= 500 ? 'failure' : 'ignore';
}

const STATUSES = [
  200, 201, 400, 401, 402, 403, 404, 405, 408, 409, 413, 418, 422, 429, 500, 501, 502, 503, 504, 520, 529,
];
const THROWN = [
  ...TAXONOMY.filter((r) => r.status === undefined).map((r) => r.errorType),
  'overloaded_error',
  'rate_limit_error',
  'something_unknown',
];

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...STATUSES).map((s) => status(s)) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.constantFrom(503, 500, 529), fc.constantFrom('circuit_open', 'api_error'))
      .map(([s, type]) => status(s, type, { 'x-should-retry': 'false' })),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom(429, 500, 400).map((s) => status(s, undefined, { 'x-should-retry': 'true' })),
  },
  { weight: 2, arbitrary: fc.constantFrom(...THROWN).map(thrown) },
);

// ---------------------------------------------------------------------------------------------
// Tests.
// ---------------------------------------------------------------------------------------------

describe('breakerPolicy: rejection', () => {
  it('answers circuit_open (503, x-should-retry: false, retry-after-ms = time left) without calling next', async () => {
    const { o, clock, run } = setup({ mode: 'consecutive', consecutiveFailures: 1, openMs: 10_000 });
    const first = await run([status(500, 'api_error')]);
    expect(first.calls).toHaveLength(1);
    clock.advance(2_500.25);
    const { answer, calls, events } = await run([ok]);
    expect(calls).toHaveLength(0);
    expect(answer.ok).toBe(true);
    if (!answer.ok) return;
    expect(answer.errorType).toBe('circuit_open');
    expect(answer.spanContext).toBeUndefined();
    expect(answer.response.status).toBe(503);
    expect(answer.response.headers.get('x-should-retry')).toBe('false');
    expect(answer.response.headers.get(POLICY_ERROR_HEADER)).toBe('circuit_open');
    expect(answer.response.headers.get('retry-after-ms')).toBe('7500');
    expect(claudeOtelErrorOf(answer.response)).toEqual({ type: 'circuit_open', retryAfterMs: 7500 });
    const body = (await answer.response.json()) as { type: string; error: { type: string; message: string } };
    expect(body.type).toBe('error');
    expect(body.error.type).toBe('circuit_open');
    expect(body.error.message).toContain(`circuit breaker ${KEY} is open`);
    const result = await answer.done;
    expect(result.errorType).toBe('circuit_open');
    expect(result.statusCode).toBe(503);
    expect(events).toEqual([
      {
        name: EVENTS.BREAKER_REJECTED.name,
        attributes: { [A.ANTHROPIC_BREAKER_KEY]: KEY, [A.ANTHROPIC_BREAKER_STATE]: 'open' },
      },
    ]);
    expect(await o.counterSum(METRICS.BREAKER_REJECTIONS.name, { [A.ANTHROPIC_BREAKER_KEY]: KEY })).toBe(1);
    await o.shutdown();
  });

  it('rejects while the half-open probe is out, with retry-after-ms 0', async () => {
    const { o, clock, run, policy } = setup({ mode: 'consecutive', consecutiveFailures: 1, openMs: 1000 });
    await run([status(503)]);
    clock.advance(1000);
    // A probe that has not answered yet.
    let release!: (handle: AttemptHandle) => void;
    const probe = operation(o, clock);
    const pending = policy(probe.op, PLAN, () => new Promise((resolve) => (release = resolve)));
    const { answer, calls, events } = await run([ok]);
    expect(calls).toHaveLength(0);
    expect(answer.ok && answer.response.headers.get('retry-after-ms')).toBe('0');
    expect(events.find((e) => e.name === EVENTS.BREAKER_REJECTED.name)?.attributes).toEqual({
      [A.ANTHROPIC_BREAKER_KEY]: KEY,
      [A.ANTHROPIC_BREAKER_STATE]: 'half_open',
    });
    release(makeHandle(ok, PLAN, 9));
    await pending;
    expect((await run([ok])).calls).toHaveLength(1);
    await o.shutdown();
  });

  it('never counts its own rejection, nor a policy answer of another breaker, as a failure', async () => {
    const { registry, run } = setup({ mode: 'consecutive', consecutiveFailures: 1, openMs: 1000 });
    await run([status(503, 'circuit_open', { 'x-should-retry': 'false' })]);
    await run([status(503, 'circuit_open', { 'x-should-retry': 'false' })]);
    expect(registry.get(KEY).state).toBe('closed');
  });
});

describe('breakerPolicy: counting by the taxonomy', () => {
  it('ignores client errors and 429s by default; counts 408, 5xx and thrown transient errors', async () => {
    const counts = async (step: Step, options: BreakerPolicyOptions = {}) => {
      const { registry, run } = setup({ mode: 'consecutive', consecutiveFailures: 1, ...options });
      await run([step]);
      return registry.get(KEY).state === 'open';
    };
    for (const s of [400, 401, 403, 404, 409, 413, 422, 429, 418])
      expect(await counts(status(s)), `${s}`).toBe(false);
    for (const s of [408, 500, 502, 503, 504, 529, 520]) expect(await counts(status(s)), `${s}`).toBe(true);
    for (const t of ['connection_error', 'timeout', 'connect_timeout', 'idle_timeout', 'total_timeout']) {
      expect(await counts(thrown(t)), t).toBe(true);
    }
    expect(await counts(thrown('aborted'))).toBe(false);
    // x-should-retry changes what is retried, never what counts.
    expect(await counts(status(500, undefined, { 'x-should-retry': 'false' }))).toBe(true);
    expect(await counts(status(400, undefined, { 'x-should-retry': 'true' }))).toBe(false);
  });

  it('counts a 429 with rateLimitCountsAsFailure, as a response or thrown after the headers', async () => {
    for (const step of [status(429), thrown('rate_limit_error')]) {
      const { registry, run } = setup({
        mode: 'consecutive',
        consecutiveFailures: 1,
        rateLimitCountsAsFailure: true,
      });
      await run([step]);
      expect(registry.get(KEY).state, JSON.stringify(step)).toBe('open');
    }
  });

  it('opens, rejects and recovers as the taxonomy says, whatever the outcomes (property)', async () => {
    const o = otel();
    await fc.assert(
      fc.asyncProperty(
        fc.array(stepArb, { minLength: 1, maxLength: 30 }),
        fc.integer({ min: 1, max: 4 }),
        fc.boolean(),
        async (steps, consecutiveFailures, rateLimitCountsAsFailure) => {
          const openMs = 1000;
          const { clock, run } = setup(
            {
              mode: 'consecutive',
              consecutiveFailures,
              openMs,
              openBackoffMultiplier: 2,
              rateLimitCountsAsFailure,
            },
            o,
          );
          o.telemetry.breakerStates.clear();
          // The model: a run of counted failures opens it; it stays open for its open duration
          // (doubled by each failed probe, reset by closing); then one probe decides.
          let state: BreakerState = 'closed';
          let failures = 0;
          let openUntil = 0;
          let openFor = openMs;
          for (const step of steps) {
            clock.advance(400);
            const reopens = state === 'open' && clock.now() >= openUntil;
            if (reopens) state = 'half_open';
            const { answer, calls, events } = await run([step]);
            if (state === 'open') {
              expect(calls).toHaveLength(0);
              expect(answer.errorType).toBe('circuit_open');
              expect(answer.ok && answer.response.headers.get('retry-after-ms')).toBe(
                String(Math.ceil(openUntil - clock.now())),
              );
              continue;
            }
            expect(calls).toHaveLength(1);
            const before: BreakerState = state;
            const count = expectCount(step, rateLimitCountsAsFailure);
            if (state === 'half_open') {
              if (count === 'failure') {
                openFor *= 2;
                state = 'open';
              } else if (count === 'success') {
                openFor = openMs;
                state = 'closed';
              }
            } else {
              failures = count === 'failure' ? failures + 1 : count === 'success' ? 0 : failures;
              if (failures >= consecutiveFailures) state = 'open';
            }
            if (state === 'open') {
              openUntil = clock.now() + openFor;
              failures = 0;
            }
            // Each change of state is an event of the operation that made it.
            const expected = [];
            if (reopens) expected.push(transitionEvent('open', 'half_open'));
            if (state !== before) expected.push(transitionEvent(before, state));
            expect(events).toEqual(expected);
            expect(o.telemetry.breakerStates.get(KEY)?.value ?? 0).toBe(
              { closed: 0, half_open: 1, open: 2 }[state],
            );
          }
        },
      ),
      { numRuns: 200 },
    );
    await o.shutdown();
  });

  it('frees a half-open probe whose next rejects, so the breaker is not stuck', async () => {
    const { o, clock, registry, policy, run } = setup({
      mode: 'consecutive',
      consecutiveFailures: 1,
      openMs: 1000,
    });
    await run([status(500)]);
    clock.advance(1000);
    const { op } = operation(o, clock);
    const failure = new Error('inner step failed');
    await expect(policy(op, PLAN, () => Promise.reject(failure))).rejects.toBe(failure);
    expect(registry.get(KEY).state).toBe('half_open');
    // The slot is free again: the next operation is let through as a probe.
    const probe = await run([ok]);
    expect(probe.calls).toHaveLength(1);
    expect(registry.get(KEY).state).toBe('closed');
    await o.shutdown();
  });
});

describe('breakerPolicy: telemetry', () => {
  it('records each transition on the operation that caused it, in the metrics and the state gauge', async () => {
    const { o, clock, run, transitions } = setup({
      mode: 'consecutive',
      consecutiveFailures: 2,
      openMs: 10_000,
    });
    const states = () => o.telemetry.breakerStates.get(KEY)?.value;
    expect((await run([status(529)])).events).toEqual([]);
    expect(states()).toBeUndefined();
    const opening = await run([thrown('connection_error')]);
    expect(opening.events).toEqual([transitionEvent('closed', 'open')]);
    expect(states()).toBe(2);
    clock.advance(10_000);
    // The operation that finds the open period over lets the probe through and closes the breaker.
    const probe = await run([ok]);
    expect(probe.calls).toHaveLength(1);
    expect(probe.events).toEqual([
      transitionEvent('open', 'half_open'),
      transitionEvent('half_open', 'closed'),
    ]);
    expect(states()).toBe(0);
    expect(transitions).toEqual([`${KEY}:closed>open`, `${KEY}:open>half_open`, `${KEY}:half_open>closed`]);
    const counted = async (from: string, to: string) =>
      o.counterSum(METRICS.BREAKER_TRANSITIONS.name, {
        [A.ANTHROPIC_BREAKER_KEY]: KEY,
        [A.ANTHROPIC_BREAKER_FROM]: from,
        [A.ANTHROPIC_BREAKER_TO]: to,
      });
    expect(await counted('closed', 'open')).toBe(1);
    expect(await counted('open', 'half_open')).toBe(1);
    expect(await counted('half_open', 'closed')).toBe(1);
    const gauge = await o.points(METRICS.BREAKER_STATE.name);
    expect(gauge.map((p) => [p.attributes[A.ANTHROPIC_BREAKER_KEY], p.value])).toEqual([[KEY, 0]]);
    await o.shutdown();
  });

  it('re-opens from half-open on a failed probe, for twice as long, and shows it in the gauge', async () => {
    const { o, clock, run } = setup({
      mode: 'consecutive',
      consecutiveFailures: 1,
      openMs: 10_000,
      openBackoffMultiplier: 2,
    });
    await run([status(500)]);
    clock.advance(10_000);
    const probe = await run([status(502)]);
    expect(probe.events).toEqual([
      transitionEvent('open', 'half_open'),
      transitionEvent('half_open', 'open'),
    ]);
    expect(o.telemetry.breakerStates.get(KEY)?.value).toBe(2);
    const rejected = await run([ok]);
    expect(rejected.answer.ok && rejected.answer.response.headers.get('retry-after-ms')).toBe('20000');
    await o.shutdown();
  });

  it('an ignored outcome in half-open frees the probe without deciding', async () => {
    const { o, clock, run, registry } = setup({ mode: 'consecutive', consecutiveFailures: 1, openMs: 1000 });
    await run([status(500)]);
    clock.advance(1000);
    const ignored = await run([status(400)]);
    expect(ignored.calls).toHaveLength(1);
    expect(ignored.events).toEqual([transitionEvent('open', 'half_open')]);
    expect(registry.get(KEY).state).toBe('half_open');
    expect(o.telemetry.breakerStates.get(KEY)?.value).toBe(1);
    const probe = await run([ok]);
    expect(probe.calls).toHaveLength(1);
    expect(registry.get(KEY).state).toBe('closed');
    await o.shutdown();
  });

  it('works without an operation span', async () => {
    const { o, clock, registry, policy } = setup({ mode: 'consecutive', consecutiveFailures: 1 });
    const { op } = operation(o, clock);
    const bare: Operation = { ...op, span: undefined };
    await policy(bare, PLAN, scripted([status(500)]).next);
    const answer = await policy(bare, PLAN, scripted([ok]).next);
    expect(answer.errorType).toBe('circuit_open');
    expect(registry.get(KEY).state).toBe('open');
    await o.shutdown();
  });
});

describe('breakerPolicy: keys', () => {
  it('keeps one breaker per region and model by default', async () => {
    const { o, registry, run } = setup({ mode: 'consecutive', consecutiveFailures: 1 });
    await run([status(500)]);
    const other = await run([ok], { ...PLAN, model: 'claude-other' });
    expect(other.calls).toHaveLength(1);
    const noModel = await run([status(500)], { ...PLAN, model: undefined });
    expect(noModel.events).toEqual([transitionEvent('closed', 'open', 'us-east|-')]);
    expect([...registry.entries()].map(([key, b]) => [key, b.state])).toEqual([
      [KEY, 'open'],
      ['us-east|claude-other', 'closed'],
      ['us-east|-', 'open'],
    ]);
    await o.shutdown();
  });

  it('uses a custom key for the breaker, its events, metrics and gauge', async () => {
    const key = (a: { region: string; model: string | undefined }) => `region:${a.region}`;
    const { o, run } = setup({ mode: 'consecutive', consecutiveFailures: 1, key });
    const opened = await run([status(500)]);
    expect(opened.events).toEqual([transitionEvent('closed', 'open', 'region:us-east')]);
    // Another model in the same region shares the breaker.
    const rejected = await run([ok], { ...PLAN, model: 'claude-other' });
    expect(rejected.calls).toHaveLength(0);
    expect(rejected.answer.errorType).toBe('circuit_open');
    expect(rejected.events[0]?.attributes[A.ANTHROPIC_BREAKER_KEY]).toBe('region:us-east');
    expect(o.telemetry.breakerStates.get('region:us-east')?.value).toBe(2);
    expect(o.telemetry.breakerStates.has(KEY)).toBe(false);
    expect(
      await o.counterSum(METRICS.BREAKER_REJECTIONS.name, { [A.ANTHROPIC_BREAKER_KEY]: 'region:us-east' }),
    ).toBe(1);
    // Another region does not.
    expect((await run([ok], { ...PLAN, region: 'eu-west' })).calls).toHaveLength(1);
    await o.shutdown();
  });
});

// ---------------------------------------------------------------------------------------------
// Inside the retry policy.
// ---------------------------------------------------------------------------------------------

const breakerOptionsArb: fc.Arbitrary<BreakerPolicyOptions> = fc.oneof(
  fc.record({
    mode: fc.constant('consecutive' as const),
    consecutiveFailures: fc.integer({ min: 1, max: 3 }),
    openMs: fc.integer({ min: 0, max: 5_000 }),
    halfOpenProbes: fc.integer({ min: 1, max: 2 }),
    rateLimitCountsAsFailure: fc.boolean(),
  }),
  fc.record({
    mode: fc.constant('failure_rate' as const),
    minimumThroughput: fc.integer({ min: 1, max: 4 }),
    window: fc.constant({ kind: 'count' as const, size: 4 }),
    failureRateThreshold: fc.constantFrom(0.25, 0.5, 1),
    openMs: fc.integer({ min: 0, max: 5_000 }),
    rateLimitCountsAsFailure: fc.boolean(),
  }),
);

describe('breakerPolicy inside retryPolicy', () => {
  it('a rejected attempt is never retried, and next is never called while the breaker is open (property)', async () => {
    const o = otel();
    await fc.assert(
      fc.asyncProperty(
        breakerOptionsArb,
        fc.integer({ min: 1, max: 6 }),
        fc.array(
          fc.record({
            gapMs: fc.integer({ min: 0, max: 6_000 }),
            steps: fc.array(stepArb, { minLength: 1, maxLength: 6 }),
          }),
          { minLength: 1, maxLength: 8 },
        ),
        async (breakerOptions, maxAttempts, operations) => {
          const clock = new FakeClock(START_MS);
          breakerOptions = { hold: false, ...breakerOptions };
          const registry = createBreakers(breakerOptions, clock, o.telemetry);
          // The breaker's state as its transitions tell it (reading `state` would move it).
          let state: BreakerState = 'closed';
          registry.onTransition((_key, _from, to) => {
            state = to;
          });
          const breaker = breakerPolicy(breakerOptions, registry);
          const answers: string[] = [];
          const observed: Policy = async (op, plan, next) => {
            const handle = await breaker(op, plan, next);
            answers.push(
              handle.errorType === 'circuit_open' && handle.spanContext === undefined ? 'rejected' : 'sent',
            );
            return handle;
          };
          const retry = retryPolicy({ maxAttempts, backoff: { baseMs: 100, capMs: 2_000 } }, undefined);
          for (const { gapMs, steps } of operations) {
            clock.advance(gapMs);
            answers.length = 0;
            const { op } = operation(o, clock);
            let sent = 0;
            const send: SendStep = async (plan) => {
              expect(state).not.toBe('open');
              const step = steps[Math.min(sent, steps.length - 1)]!;
              return makeHandle(step, plan, sent++);
            };
            const answer = await drive(clock, compose(op, [retry, observed], send)(PLAN));
            expect(answers.length).toBeLessThanOrEqual(maxAttempts);
            expect(sent).toBe(answers.filter((a) => a === 'sent').length);
            const firstRejection = answers.indexOf('rejected');
            if (firstRejection >= 0) {
              // The rejection ends the operation: nothing after it, and it is the answer.
              expect(firstRejection).toBe(answers.length - 1);
              expect(answer.ok).toBe(true);
              if (!answer.ok) return;
              expect(answer.errorType).toBe('circuit_open');
              expect(answer.response.status).toBe(503);
              expect(answer.response.headers.get('x-should-retry')).toBe('false');
              expect(answer.response.headers.get(POLICY_ERROR_HEADER)).toBe('circuit_open');
            }
          }
        },
      ),
      { numRuns: 200 },
    );
    await o.shutdown();
  });

  it('an opening breaker turns the retry of a 5xx into a circuit_open answer', async () => {
    const o = otel();
    const clock = new FakeClock(START_MS);
    const options: BreakerPolicyOptions = { mode: 'consecutive', consecutiveFailures: 1, openMs: 60_000 };
    const registry = createBreakers(options, clock, o.telemetry);
    const { op, events } = operation(o, clock);
    const { next, calls } = scripted([status(503, 'service_unavailable'), ok]);
    const answer = await drive(
      clock,
      compose(op, [retryPolicy({ maxAttempts: 5 }, undefined), breakerPolicy(options, registry)], next)(PLAN),
    );
    expect(calls).toHaveLength(1);
    expect(answer.errorType).toBe('circuit_open');
    expect(answer.ok && answer.response.headers.get('retry-after-ms')).toBe(
      String(60_000 - (clock.now() - START_MS)),
    );
    expect(events().map((e) => e.name)).toEqual([
      EVENTS.BREAKER_TRANSITION.name,
      EVENTS.RETRY_SCHEDULED.name,
      EVENTS.BREAKER_REJECTED.name,
    ]);
    await o.shutdown();
  });
});

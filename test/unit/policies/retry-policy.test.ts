/**
 * The retry policy in isolation: an `Operation` built by hand (a real operation span, a fake clock,
 * a seeded random source), and a scripted `next` that answers with hand-made attempt handles. Waits
 * are driven through the fake clock, never slept.
 */
import type { SpanContext } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import type { Operation, SendStep } from '../../../src/pipeline.js';
import type { BackoffOptions } from '../../../src/policies/backoff.js';
import { type RetryBudget, TokenBucketRetryBudget } from '../../../src/policies/budget.js';
import { TAXONOMY } from '../../../src/policies/classify.js';
import { ClaudeTimeoutError, claudeOtelErrorOf, POLICY_ERROR_HEADER } from '../../../src/policies/errors.js';
import { classifyHandle, finalFailure, type RetryOptions, retryPolicy } from '../../../src/policies/retry.js';
import type { Random } from '../../../src/policies/types.js';
import type { AttemptHandle, AttemptPlan, AttemptResult } from '../../../src/recorder.js';
import { readRequest } from '../../../src/request.js';
import { A, EVENTS, METRICS } from '../../../src/telemetry/names.js';
import { mulberry32 } from '../../../src/testing/rng.js';
import { drive, FakeClock } from '../../helpers/fake-clock.js';
import { explicitOtel } from '../../helpers/otel.js';

// ---------------------------------------------------------------------------------------------
// Harness: telemetry with explicit providers, an operation, scripted attempts, a clock driver.
// ---------------------------------------------------------------------------------------------

const otel = explicitOtel;
type Otel = ReturnType<typeof otel>;

const REQUEST = readRequest('https://api.anthropic.com/v1/messages', {
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ model: 'claude-test', max_tokens: 16, messages: [] }),
});

const PLAN: AttemptPlan = {
  url: REQUEST.url,
  body: REQUEST.body,
  resendCount: 0,
  region: 'us-east',
  model: 'claude-test',
};

const START_MS = 1_000;

interface OperationOptions {
  clock?: FakeClock;
  random?: Random;
  deadlineAt?: number;
  signal?: AbortSignal;
}

/** An operation with a real span (ended by `events()`), a fake clock and a constant random. */
function operation(o: Otel, options: OperationOptions = {}) {
  const clock = options.clock ?? new FakeClock(START_MS);
  const span = o.telemetry.tracer.startSpan('chat claude-test');
  const op: Operation = {
    request: REQUEST,
    span,
    telemetry: o.telemetry,
    clock,
    random: options.random ?? (() => 0.5),
    signal: options.signal,
    deadlineAt: options.deadlineAt ?? Number.POSITIVE_INFINITY,
    retrying: true,
    attempts: 0,
  };
  let finished: ReadableSpan | undefined;
  /** Ends the operation span and returns its events. */
  const events = () => {
    if (finished === undefined) {
      span.end();
      const id = span.spanContext().spanId;
      finished = o.exporter.getFinishedSpans().find((s) => s.spanContext().spanId === id);
      if (finished === undefined) throw new Error('operation span not exported');
    }
    return finished.events.map((e) => ({ name: e.name, attributes: e.attributes ?? {} }));
  };
  return { op, clock, events };
}

type RetryAfter = { readonly header: 'retry-after' | 'retry-after-ms'; readonly ms: number };

/** One scripted attempt outcome. `durationMs` is how long the attempt takes by the fake clock. */
type Step =
  | {
      readonly kind: 'response';
      readonly status: number;
      /** The handle's `errorType` (from the body, or the status as a string for a bodiless error). */
      readonly errorType?: string | undefined;
      readonly retryAfter?: RetryAfter | undefined;
      readonly shouldRetry?: boolean | undefined;
      readonly durationMs?: number;
      /** Called when the response's body is cancelled. */
      readonly onCancel?: () => void;
    }
  | { readonly kind: 'error'; readonly errorType: string; readonly durationMs?: number };

function spanContextOf(i: number): SpanContext {
  return { traceId: 'ab'.repeat(16), spanId: (i + 1).toString(16).padStart(16, '0'), traceFlags: 1 };
}

function bodyOf(step: Step & { kind: 'response' }, i: number): string {
  return step.status < 400
    ? JSON.stringify({ id: `msg_${i}`, type: 'message', content: [] })
    : JSON.stringify({ type: 'error', error: { type: step.errorType ?? 'error', message: `attempt ${i}` } });
}

function errorOf(errorType: string): unknown {
  if (errorType === 'aborted') return new DOMException('This operation was aborted', 'AbortError');
  const timeout = /^(connect|first_chunk|idle|total)_timeout$/.exec(errorType);
  if (timeout) return new ClaudeTimeoutError(timeout[1] as 'connect', 1234);
  return Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNRESET' } });
}

/** The handle an attempt with outcome `step` returns, and the result its `done` resolves to. */
function makeHandle(
  step: Step,
  plan: AttemptPlan,
  i: number,
): { handle: AttemptHandle; result: AttemptResult } {
  const spanContext = spanContextOf(i);
  const base = {
    plan,
    facts: {},
    startedAt: i,
    durationS: (step.durationMs ?? 0) / 1000,
    timeToFirstChunkS: undefined,
  };
  if (step.kind === 'error') {
    const result: AttemptResult = {
      ...base,
      statusCode: undefined,
      errorType: step.errorType,
      outcome: step.errorType === 'aborted' ? 'cancelled' : 'error',
    };
    const handle: AttemptHandle = {
      ok: false,
      error: errorOf(step.errorType),
      errorType: step.errorType,
      done: Promise.resolve(result),
      spanContext,
    };
    return { handle, result };
  }
  const headers = new Headers({ 'content-type': 'application/json', 'request-id': `req_${i}` });
  if (step.retryAfter !== undefined) {
    const { header, ms } = step.retryAfter;
    headers.set(header, header === 'retry-after-ms' ? String(ms) : String(ms / 1000));
  }
  if (step.shouldRetry !== undefined) headers.set('x-should-retry', String(step.shouldRetry));
  const text = bodyOf(step, i);
  const onCancel = step.onCancel;
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(new TextEncoder().encode(text));
      controller.close();
    },
    cancel() {
      onCancel?.();
    },
  });
  const errorType = step.status >= 400 ? step.errorType : undefined;
  const result: AttemptResult = {
    ...base,
    statusCode: step.status,
    errorType,
    outcome: errorType === undefined ? 'ok' : 'error',
  };
  const handle: AttemptHandle = {
    ok: true,
    response: new Response(body, { status: step.status, headers }),
    errorType,
    done: Promise.resolve(result),
    spanContext,
  };
  return { handle, result };
}

interface Call {
  readonly plan: AttemptPlan;
  /** Clock time when `next` was called. */
  readonly at: number;
  /** Clock time when the attempt's handle was returned. */
  readonly endedAt: number;
  readonly step: Step;
  readonly handle: AttemptHandle;
  readonly result: AttemptResult;
}

/** A `next` that answers its i-th call with `script[i]` (and fails the test past the script). */
function scripted(clock: FakeClock, script: readonly Step[]) {
  const calls: Call[] = [];
  const next: SendStep = async (plan) => {
    const i = calls.length;
    const step = script[i];
    if (step === undefined) throw new Error(`next called ${i + 1} times, script has ${script.length}`);
    const at = clock.now();
    // The attempt takes time (no sleep is pending while the policy awaits `next`).
    if ((step.durationMs ?? 0) > 0) clock.advance(step.durationMs ?? 0);
    const { handle, result } = makeHandle(step, plan, i);
    calls.push({ plan, at, endedAt: clock.now(), step, handle, result });
    return handle;
  };
  return { next, calls };
}

/** A turn of the event loop: lets promise continuations run. */
function turn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** A budget that records the protocol calls the policy makes. */
function recordingBudget(inner: RetryBudget) {
  const log: string[] = [];
  const budget: RetryBudget = {
    canRetry() {
      const ok = inner.canRetry();
      log.push(ok ? 'canRetry:true' : 'canRetry:false');
      return ok;
    },
    onSuccess() {
      log.push('success');
      inner.onSuccess();
    },
    onFailure() {
      log.push('failure');
      inner.onFailure();
    },
    get tokens() {
      return inner.tokens;
    },
  };
  return { budget, log };
}

// ---------------------------------------------------------------------------------------------
// An oracle of the taxonomy, written independently of `classify` for responses.
// ---------------------------------------------------------------------------------------------

const THROWN_RETRYABLE = new Map<string, boolean>(
  TAXONOMY.filter((row) => row.status === undefined).map((row) => [row.errorType, row.retryable]),
);
// API error types may be thrown after the headers (an SSE `event: error`): classified like their status.
THROWN_RETRYABLE.set('overloaded_error', true);
THROWN_RETRYABLE.set('api_error', true);
THROWN_RETRYABLE.set('invalid_request_error', false);

function isFailure(step: Step): boolean {
  return step.kind === 'error' || step.status >= 400;
}

/** Whether the outcome may be retried: 408, 409, 429, ≥ 500 (or as `x-should-retry` says). */
function expectRetryable(step: Step): boolean {
  if (step.kind === 'error') return THROWN_RETRYABLE.get(step.errorType) ?? false;
  if (step.status < 400) return false;
  return (
    step.shouldRetry ??
    (step.status === 408 || step.status === 409 || step.status === 429 || step.status >= 500)
  );
}

/** The `error.type` of a failure: the handle's, else the name of its status. */
function expectErrorType(step: Step): string {
  if (step.kind === 'error') return step.errorType;
  return (
    step.errorType ?? STATUS_NAMES.get(step.status) ?? (step.status < 500 ? 'client_error' : 'server_error')
  );
}

/** A rate limit with a `retry-after`: waits as told, outside the retry budget. */
function isServerPaced(step: Step): boolean {
  return (
    step.kind === 'response' && step.retryAfter !== undefined && expectErrorType(step) === 'rate_limit_error'
  );
}

function isOverloaded(step: Step): boolean {
  return step.kind === 'response' ? step.status === 529 : step.errorType === 'overloaded_error';
}

const RESOLVED_DEFAULTS = { baseMs: 500, capMs: 8000, overloadMultiplier: 2 };

/** The full-jitter window of the n-th retry (0 = first): [0, min(cap, base·mult·2ⁿ)]. */
function backoffCeiling(backoff: BackoffOptions | undefined, n: number, overloaded: boolean): number {
  const baseMs = backoff?.baseMs ?? RESOLVED_DEFAULTS.baseMs;
  const capMs = backoff?.capMs ?? RESOLVED_DEFAULTS.capMs;
  const mult = overloaded ? (backoff?.overloadMultiplier ?? RESOLVED_DEFAULTS.overloadMultiplier) : 1;
  return Math.min(capMs, baseMs * mult * 2 ** n);
}

/** The `x-claude-otel-error` status of a failure without a response. */
function policyStatus(errorType: string): number {
  if (errorType === 'connection_error') return 502;
  if (errorType === 'circuit_open') return 503;
  return 504;
}

const EPS = 1e-6;

// ---------------------------------------------------------------------------------------------
// Generators.
// ---------------------------------------------------------------------------------------------

const STATUS_NAMES = new Map<number, string>(
  TAXONOMY.flatMap((row) => (typeof row.status === 'number' ? [[row.status, row.errorType] as const] : [])),
);

const statusArb = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...STATUS_NAMES.keys()) },
  { weight: 2, arbitrary: fc.constantFrom(200, 201) },
  { weight: 1, arbitrary: fc.constantFrom(405, 418, 451, 501, 520, 599) },
);

const retryAfterArb: fc.Arbitrary<RetryAfter> = fc.oneof(
  fc.record({ header: fc.constant('retry-after-ms' as const), ms: fc.integer({ min: 0, max: 90_000 }) }),
  fc.integer({ min: 0, max: 90 }).map((s): RetryAfter => ({ header: 'retry-after', ms: s * 1000 })),
);

const durationArb = fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 5_000 }));

const responseArb: fc.Arbitrary<Step> = statusArb.chain((status) =>
  fc.record({
    kind: fc.constant('response' as const),
    status: fc.constant(status),
    errorType: fc.constantFrom(STATUS_NAMES.get(status), String(status), undefined),
    retryAfter: fc.option(retryAfterArb, { nil: undefined, freq: 2 }),
    shouldRetry: fc.option(fc.boolean(), { nil: undefined, freq: 4 }),
    durationMs: durationArb,
  }),
);

const THROWN_TYPES = [...THROWN_RETRYABLE.keys(), 'something_unknown'];

const errorArb: fc.Arbitrary<Step> = fc.record({
  kind: fc.constant('error' as const),
  errorType: fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom('connection_error', 'connect_timeout', 'timeout') },
    { weight: 2, arbitrary: fc.constantFrom(...THROWN_TYPES) },
  ),
  durationMs: durationArb,
});

/** Six outcomes: more than any `maxAttempts`, so the script never runs out. */
const scriptArb = fc.array(
  fc.oneof({ weight: 3, arbitrary: responseArb }, { weight: 1, arbitrary: errorArb }),
  {
    minLength: 6,
    maxLength: 6,
  },
);

const backoffArb: fc.Arbitrary<BackoffOptions | undefined> = fc.option(
  fc.record(
    {
      baseMs: fc.integer({ min: 0, max: 3_000 }),
      capMs: fc.integer({ min: 0, max: 20_000 }),
      overloadMultiplier: fc.double({ min: 1, max: 4, noNaN: true }),
    },
    { requiredKeys: [] },
  ),
  { nil: undefined },
);

const randomArb: fc.Arbitrary<{ label: string; make: () => Random }> = fc.oneof(
  fc.integer().map((seed) => ({ label: `mulberry32(${seed})`, make: () => mulberry32(seed) })),
  fc.constantFrom(0, 0.5, 1 - Number.EPSILON).map((v) => ({ label: `constant(${v})`, make: () => () => v })),
);

const budgetArb = fc.option(
  fc.record({
    maxTokens: fc.integer({ min: 1, max: 12 }),
    tokenRatio: fc.constantFrom(0.1, 0.5, 1),
    retryCost: fc.constantFrom(0.5, 1, 2),
    /** Failures recorded before the operation, so the bucket may start partly drained. */
    drained: fc.integer({ min: 0, max: 10 }),
  }),
  { nil: undefined },
);

const scenarioArb = fc.record({
  script: scriptArb,
  maxAttempts: fc.integer({ min: 1, max: 6 }),
  /** Time until the deadline, from the operation's start (undefined: no deadline). */
  deadlineMs: fc.option(fc.integer({ min: 0, max: 120_000 }), { nil: undefined }),
  budget: budgetArb,
  backoff: backoffArb,
  random: randomArb,
});
type Scenario = typeof scenarioArb extends fc.Arbitrary<infer T> ? T : never;

// ---------------------------------------------------------------------------------------------
// The property: one operation, then every requirement checked against its trace.
// ---------------------------------------------------------------------------------------------

const shared = otel();
afterAll(() => shared.shutdown());

async function runScenario(s: Scenario): Promise<void> {
  const clock = new FakeClock(START_MS);
  const deadlineAt = s.deadlineMs === undefined ? Number.POSITIVE_INFINITY : START_MS + s.deadlineMs;
  const { op, events } = operation(shared, { clock, deadlineAt, random: s.random.make() });
  let recording: ReturnType<typeof recordingBudget> | undefined;
  if (s.budget !== undefined) {
    const bucket = new TokenBucketRetryBudget(s.budget);
    for (let i = 0; i < s.budget.drained; i++) bucket.onFailure();
    recording = recordingBudget(bucket);
  }
  // Every generated wait (≤ 90 s) is honoured; the cap itself has its own tests.
  const options: RetryOptions = { maxAttempts: s.maxAttempts, backoff: s.backoff, maxRetryAfterMs: 90_000 };
  const policy = retryPolicy(options, recording?.budget);
  const { next, calls } = scripted(clock, s.script);
  const answer = await drive(clock, policy(op, PLAN, next));
  const evts = events();
  const scheduled = evts.filter((e) => e.name === EVENTS.RETRY_SCHEDULED.name);
  const givenUp = evts.filter((e) => e.name === EVENTS.RETRY_GIVEN_UP.name);

  const n = calls.length;
  // 2. Never more attempts than allowed (and at least one).
  expect(n).toBeGreaterThanOrEqual(1);
  expect(n).toBeLessThanOrEqual(s.maxAttempts);
  expect(scheduled).toHaveLength(n - 1);

  for (let i = 0; i < n; i++) {
    const call = calls[i]!;
    // Each attempt is the plan with its resend count and a link to the attempt it retries.
    expect(call.plan.resendCount).toBe(i);
    expect(call.plan.previous).toEqual(i === 0 ? undefined : calls[i - 1]!.handle.spanContext);
    expect(call.plan.url).toBe(PLAN.url);
    expect(call.plan.body).toBe(PLAN.body);
    expect(call.plan.model).toBe(PLAN.model);
    expect(call.plan.region).toBe(PLAN.region);
    // 3. Nothing is sent after the deadline.
    expect(call.at).toBeLessThanOrEqual(deadlineAt);
    if (i === n - 1) break;
    // 1. Only a retryable failure is retried.
    expect(isFailure(call.step)).toBe(true);
    expect(expectRetryable(call.step)).toBe(true);
    // 3. The wait is the server's retry-after exactly, else within the full-jitter window.
    const waitMs = calls[i + 1]!.at - call.endedAt;
    const retryAfter = call.step.kind === 'response' ? call.step.retryAfter : undefined;
    const event = scheduled[i]!;
    expect(event.attributes[A.ANTHROPIC_RETRY_ATTEMPT]).toBe(i + 1);
    expect(event.attributes[A.ERROR_TYPE]).toBe(expectErrorType(call.step));
    expect(event.attributes[A.ANTHROPIC_RETRY_DELAY] as number).toBeCloseTo(waitMs / 1000, 6);
    if (retryAfter !== undefined) {
      expect(Math.abs(waitMs - retryAfter.ms)).toBeLessThan(EPS);
      expect(event.attributes[A.ANTHROPIC_RETRY_SOURCE]).toBe('retry_after');
    } else {
      expect(waitMs).toBeGreaterThanOrEqual(-EPS);
      expect(waitMs).toBeLessThanOrEqual(backoffCeiling(s.backoff, i, isOverloaded(call.step)) + EPS);
      expect(event.attributes[A.ANTHROPIC_RETRY_SOURCE]).toBe('backoff');
    }
    // …and ends before the deadline.
    expect(calls[i + 1]!.at).toBeLessThanOrEqual(deadlineAt);
  }

  // The budget protocol: a success refunds, each retryable failure costs, a retry asks first —
  // except a rate limit that says when to come back, which is paced by the server and leaves the
  // budget alone.
  if (recording !== undefined) {
    const expected: string[] = [];
    for (let i = 0; i < n; i++) {
      const step = calls[i]!.step;
      if (!isFailure(step)) expected.push('success');
      else if (expectRetryable(step) && !isServerPaced(step)) {
        expected.push('failure');
        if (i < n - 1) expected.push('canRetry:true');
      }
    }
    // The last failure may have asked too (and been refused, or then stopped by the deadline).
    const log = recording.log;
    const tail = log.at(-1);
    if (tail?.startsWith('canRetry') && expected.at(-1) === 'failure') expected.push(tail);
    expect(log).toEqual(expected);
  }

  const last = calls[n - 1]!;
  const endedAt = last.endedAt;
  // No wait after the last attempt.
  expect(clock.now()).toBe(endedAt);
  expect(clock.pending).toBe(0);
  // The answer's `done` is the last attempt's.
  expect(await answer.done).toBe(last.result);

  if (!isFailure(last.step)) {
    expect(answer).toBe(last.handle);
    expect(givenUp).toHaveLength(0);
    return;
  }
  if (!expectRetryable(last.step)) {
    expect(givenUp).toHaveLength(0);
    await expectFinalFailure(answer, last);
    return;
  }
  // A retryable failure that was not retried: why?
  expect(givenUp).toHaveLength(1);
  const reason = givenUp[0]!.attributes['anthropic.retry.reason'];
  const leftMs = deadlineAt - endedAt;
  if (n === s.maxAttempts) {
    expect(reason).toBe('max_attempts');
    await expectFinalFailure(answer, last);
    return;
  }
  if (recording?.log.at(-1) === 'canRetry:false') {
    expect(reason).toBe('retry_budget_exhausted');
    await expectFinalFailure(answer, last);
    return;
  }
  const retryAfter = last.step.kind === 'response' ? last.step.retryAfter : undefined;
  if (retryAfter !== undefined && last.step.kind === 'response') {
    // 5. The server's wait passes the deadline: fail at once, carrying the wait and the status.
    expect(retryAfter.ms).toBeGreaterThanOrEqual(leftMs);
    expect(reason).toBe('retry_after_exceeds_deadline');
    expect(givenUp[0]!.attributes[A.ANTHROPIC_RETRY_DELAY]).toBe(retryAfter.ms / 1000);
    expect(answer.ok).toBe(true);
    if (!answer.ok) return;
    expect(answer.errorType).toBe('retry_after_exceeds_deadline');
    expect(answer.response.status).toBe(last.step.status);
    expect(answer.response.headers.get('retry-after-ms')).toBe(String(retryAfter.ms));
    expect(answer.response.headers.get('x-should-retry')).toBe('false');
    expect(answer.response.headers.get(POLICY_ERROR_HEADER)).toBe('retry_after_exceeds_deadline');
    const body = (await answer.response.json()) as { error: { type: string } };
    expect(body.error.type).toBe('retry_after_exceeds_deadline');
    return;
  }
  // The backoff drawn would end at or past the deadline.
  expect(reason).toBe('deadline');
  const delayMs = (givenUp[0]!.attributes[A.ANTHROPIC_RETRY_DELAY] as number) * 1000;
  expect(delayMs).toBeGreaterThanOrEqual(leftMs - EPS);
  expect(delayMs).toBeLessThanOrEqual(backoffCeiling(s.backoff, n - 1, isOverloaded(last.step)) + EPS);
  await expectFinalFailure(answer, last);
}

/** 4. The last word on a failure: the SDK must not retry it; a caller's abort stays as it is. */
async function expectFinalFailure(answer: AttemptHandle, last: Call): Promise<void> {
  const step = last.step;
  if (step.kind === 'error') {
    if (step.errorType === 'aborted') {
      expect(answer).toBe(last.handle);
      expect(answer.ok).toBe(false);
      return;
    }
    // A thrown error becomes a policy response named after it.
    expect(answer.ok).toBe(true);
    if (!answer.ok) return;
    expect(answer.errorType).toBe(step.errorType);
    expect(answer.spanContext).toEqual(last.handle.spanContext);
    expect(answer.response.status).toBe(policyStatus(step.errorType));
    expect(answer.response.headers.get(POLICY_ERROR_HEADER)).toBe(step.errorType);
    expect(answer.response.headers.get('x-should-retry')).toBe('false');
    const body = (await answer.response.json()) as { type: string; error: { type: string } };
    expect(body.type).toBe('error');
    expect(body.error.type).toBe(step.errorType);
    expect(claudeOtelErrorOf(answer.response)?.type).toBe(step.errorType);
    return;
  }
  // The API's own response, whole, with `x-should-retry: false`.
  expect(answer.ok).toBe(true);
  if (!answer.ok || !last.handle.ok) return;
  expect(answer.errorType).toBe(last.handle.errorType);
  expect(answer.spanContext).toEqual(last.handle.spanContext);
  expect(answer.response.status).toBe(step.status);
  expect(answer.response.headers.get('x-should-retry')).toBe('false');
  expect(answer.response.headers.get(POLICY_ERROR_HEADER)).toBeNull();
  expect(answer.response.headers.get('request-id')).toBe(last.handle.response.headers.get('request-id'));
  expect(answer.response.headers.get('retry-after')).toBe(last.handle.response.headers.get('retry-after'));
  expect(await answer.response.text()).toBe(bodyOf(step, last.result.startedAt));
}

describe('retryPolicy: properties', () => {
  it('retries only retryable failures, within maxAttempts, the budget and the deadline, waiting as it should', async () => {
    await fc.assert(fc.asyncProperty(scenarioArb, runScenario), { numRuns: 400 });
  });

  it('waits the server-given retry-after exactly, and fails at once when it passes the deadline', async () => {
    // Every failure is a retryable response with a retry-after: the deadline decides alone.
    const stepArb: fc.Arbitrary<Step> = fc.record({
      kind: fc.constant('response' as const),
      status: fc.constantFrom(429, 500, 503, 529, 408),
      retryAfter: retryAfterArb,
      durationMs: durationArb,
    });
    await fc.assert(
      fc.asyncProperty(
        fc.array(stepArb, { minLength: 6, maxLength: 6 }),
        fc.integer({ min: 2, max: 6 }),
        fc.integer({ min: 0, max: 200_000 }),
        async (script, maxAttempts, deadlineMs) => {
          await runScenario({
            script,
            maxAttempts,
            deadlineMs,
            budget: undefined,
            backoff: undefined,
            random: { label: 'constant', make: () => () => 0.5 },
          });
        },
      ),
      { numRuns: 300 },
    );
  });

  it('never retries a non-retryable outcome, whatever came before', async () => {
    const nonRetryable: fc.Arbitrary<Step> = fc.oneof(
      fc.record({
        kind: fc.constant('response' as const),
        status: fc.constantFrom(400, 401, 402, 403, 404, 413, 422, 418),
        retryAfter: fc.option(retryAfterArb, { nil: undefined }),
      }),
      fc.record({
        kind: fc.constant('response' as const),
        status: fc.constantFrom(429, 500, 503, 529),
        shouldRetry: fc.constant(false),
        retryAfter: fc.option(retryAfterArb, { nil: undefined }),
      }),
      fc.record({
        kind: fc.constant('error' as const),
        errorType: fc.constantFrom('aborted', 'total_timeout', 'circuit_open', 'something_unknown'),
      }),
    );
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 4 }), nonRetryable, async (failuresBefore, stop) => {
        const clock = new FakeClock(START_MS);
        const { op } = operation(shared, { clock });
        const script: Step[] = [
          ...Array.from({ length: failuresBefore }, (): Step => ({ kind: 'response', status: 503 })),
          stop,
          { kind: 'response', status: 200 },
        ];
        const { next, calls } = scripted(clock, script);
        const answer = await drive(clock, retryPolicy({ maxAttempts: 6 }, undefined)(op, PLAN, next));
        expect(calls).toHaveLength(failuresBefore + 1);
        await expectFinalFailure(answer, calls.at(-1)!);
      }),
      { numRuns: 200 },
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Examples.
// ---------------------------------------------------------------------------------------------

describe('retryPolicy: retries', () => {
  it('retries a 529 and records the retry as an event and in the metrics', async () => {
    const o = otel();
    const { op, clock, events } = operation(o, { random: () => 0.5 });
    const { next, calls } = scripted(clock, [
      { kind: 'response', status: 529, errorType: 'overloaded_error' },
      { kind: 'error', errorType: 'connection_error' },
      { kind: 'response', status: 200 },
    ]);
    const answer = await drive(clock, retryPolicy({}, undefined)(op, PLAN, next));
    expect(answer).toBe(calls[2]!.handle);
    expect(calls.map((c) => c.plan.resendCount)).toEqual([0, 1, 2]);
    expect(calls.map((c) => c.plan.previous)).toEqual([undefined, spanContextOf(0), spanContextOf(1)]);
    // Full jitter at 0.5: half of 1000 (500 × 2 for an overload), then half of 500 × 2¹.
    expect(calls.map((c) => c.at - START_MS)).toEqual([0, 500, 1000]);
    const scheduled = events().filter((e) => e.name === EVENTS.RETRY_SCHEDULED.name);
    expect(scheduled.map((e) => e.attributes)).toEqual([
      {
        [A.ANTHROPIC_RETRY_ATTEMPT]: 1,
        [A.ANTHROPIC_RETRY_DELAY]: 0.5,
        [A.ANTHROPIC_RETRY_SOURCE]: 'backoff',
        [A.ERROR_TYPE]: 'overloaded_error',
      },
      {
        [A.ANTHROPIC_RETRY_ATTEMPT]: 2,
        [A.ANTHROPIC_RETRY_DELAY]: 0.5,
        [A.ANTHROPIC_RETRY_SOURCE]: 'backoff',
        [A.ERROR_TYPE]: 'connection_error',
      },
    ]);
    expect(events().some((e) => e.name === EVENTS.RETRY_GIVEN_UP.name)).toBe(false);
    const retries = { [A.ANTHROPIC_REGION]: 'us-east', [A.GEN_AI_REQUEST_MODEL]: 'claude-test' };
    expect(await o.counterSum(METRICS.RETRIES.name, retries)).toBe(2);
    expect(await o.counterSum(METRICS.RETRIES.name, { [A.ERROR_TYPE]: 'overloaded_error' })).toBe(1);
    expect(await o.counterSum(METRICS.RETRIES.name, { [A.ERROR_TYPE]: 'connection_error' })).toBe(1);
    expect(await o.histogram(METRICS.RETRY_DELAY.name, { [A.ANTHROPIC_RETRY_SOURCE]: 'backoff' })).toEqual({
      sum: 1,
      count: 2,
    });
    await o.shutdown();
  });

  it('keeps the resend count relative to the plan it was given, and leaves the rest of the plan alone', async () => {
    const o = otel();
    const { op, clock } = operation(o);
    const { next, calls } = scripted(clock, [
      { kind: 'response', status: 500 },
      { kind: 'response', status: 200 },
    ]);
    const signal = new AbortController().signal;
    await drive(clock, retryPolicy({}, undefined)(op, { ...PLAN, signal }, next));
    expect(calls.map((c) => c.plan.signal)).toEqual([signal, signal]);
    expect(calls.map((c) => c.plan.url.href)).toEqual([PLAN.url.href, PLAN.url.href]);
    await o.shutdown();
  });

  it('waits what retry-after or retry-after-ms says, exactly, and records the source', async () => {
    const o = otel();
    const { op, clock, events } = operation(o);
    const { next, calls } = scripted(clock, [
      { kind: 'response', status: 429, retryAfter: { header: 'retry-after', ms: 7000 } },
      { kind: 'response', status: 529, retryAfter: { header: 'retry-after-ms', ms: 1234 } },
      { kind: 'response', status: 200 },
    ]);
    await drive(clock, retryPolicy({ maxAttempts: 3 }, undefined)(op, PLAN, next));
    expect(calls.map((c) => c.at - START_MS)).toEqual([0, 7000, 8234]);
    const scheduled = events().filter((e) => e.name === EVENTS.RETRY_SCHEDULED.name);
    expect(scheduled.map((e) => e.attributes[A.ANTHROPIC_RETRY_SOURCE])).toEqual([
      'retry_after',
      'retry_after',
    ]);
    expect(scheduled.map((e) => e.attributes[A.ANTHROPIC_RETRY_DELAY])).toEqual([7, 1.234]);
    expect(
      await o.histogram(METRICS.RETRY_DELAY.name, { [A.ANTHROPIC_RETRY_SOURCE]: 'retry_after' }),
    ).toEqual({ sum: 8.234, count: 2 });
    await o.shutdown();
  });

  it('releases the body of a response it retries, not of the one it hands over', async () => {
    const o = otel();
    const { op, clock } = operation(o);
    const cancelled: number[] = [];
    const { next } = scripted(clock, [
      { kind: 'response', status: 503, onCancel: () => cancelled.push(0) },
      { kind: 'response', status: 503, onCancel: () => cancelled.push(1) },
    ]);
    const answer = await drive(clock, retryPolicy({ maxAttempts: 2 }, undefined)(op, PLAN, next));
    await turn();
    expect(cancelled).toEqual([0]);
    expect(answer.ok && (await answer.response.text())).toContain('attempt 1');
    await o.shutdown();
  });

  it('retries a 4xx the server says to retry (x-should-retry: true)', async () => {
    const o = otel();
    const { op, clock } = operation(o);
    const { next, calls } = scripted(clock, [
      { kind: 'response', status: 400, errorType: 'invalid_request_error', shouldRetry: true },
      { kind: 'response', status: 200 },
    ]);
    const answer = await drive(clock, retryPolicy({}, undefined)(op, PLAN, next));
    expect(calls).toHaveLength(2);
    expect(answer).toBe(calls[1]!.handle);
    await o.shutdown();
  });

  it('backs off harder for a 529 whose body named no error type (error.type "529")', async () => {
    const o = otel();
    const { op, clock } = operation(o, { random: () => 0.5 });
    const { next, calls } = scripted(clock, [
      { kind: 'response', status: 529, errorType: '529' },
      { kind: 'response', status: 529 },
      { kind: 'response', status: 200 },
    ]);
    await drive(clock, retryPolicy({}, undefined)(op, PLAN, next));
    // 0.5 × 500 × 2 (overload) × 2ⁿ, as for an `overloaded_error` body.
    expect(calls.map((c) => c.at - START_MS)).toEqual([0, 500, 1500]);
    await o.shutdown();
  });

  it('keeps a decorrelated jitter within [base, cap]', async () => {
    const o = otel();
    await fc.assert(
      fc.asyncProperty(
        fc.integer(),
        fc.integer({ min: 0, max: 2000 }),
        fc.integer({ min: 0, max: 10_000 }),
        async (seed, baseMs, capMs) => {
          const { op, clock } = operation(o, { random: mulberry32(seed) });
          const script: Step[] = Array.from(
            { length: 5 },
            () => ({ kind: 'response', status: 500 }) as const,
          );
          const { next, calls } = scripted(clock, script);
          await drive(
            clock,
            retryPolicy({ maxAttempts: 5, backoff: { jitter: 'decorrelated', baseMs, capMs } }, undefined)(
              op,
              PLAN,
              next,
            ),
          );
          for (let i = 1; i < calls.length; i++) {
            const wait = calls[i]!.at - calls[i - 1]!.endedAt;
            expect(wait).toBeGreaterThanOrEqual(Math.min(baseMs, capMs) - EPS);
            expect(wait).toBeLessThanOrEqual(capMs + EPS);
          }
        },
      ),
      { numRuns: 100 },
    );
    await o.shutdown();
  });
});

describe('retryPolicy: giving up', () => {
  it('after maxAttempts: the last response whole with x-should-retry: false, and a given_up event', async () => {
    const o = otel();
    const { op, clock, events } = operation(o);
    const { next, calls } = scripted(clock, [
      {
        kind: 'response',
        status: 503,
        errorType: 'service_unavailable',
        retryAfter: { header: 'retry-after', ms: 1000 },
      },
      {
        kind: 'response',
        status: 503,
        errorType: 'service_unavailable',
        retryAfter: { header: 'retry-after', ms: 1000 },
      },
    ]);
    const answer = await drive(clock, retryPolicy({ maxAttempts: 2 }, undefined)(op, PLAN, next));
    expect(calls).toHaveLength(2);
    expect(answer.ok).toBe(true);
    if (!answer.ok) return;
    expect(answer.response.status).toBe(503);
    expect(answer.response.headers.get('x-should-retry')).toBe('false');
    expect(answer.response.headers.get('retry-after')).toBe('1');
    expect(answer.errorType).toBe('service_unavailable');
    expect(await answer.response.text()).toBe(bodyOf(calls[1]!.step as Step & { kind: 'response' }, 1));
    const givenUp = events().filter((e) => e.name === EVENTS.RETRY_GIVEN_UP.name);
    expect(givenUp.map((e) => e.attributes)).toEqual([
      { [A.ERROR_TYPE]: 'service_unavailable', 'anthropic.retry.reason': 'max_attempts' },
    ]);
    await o.shutdown();
  });

  it('with maxAttempts 1, never retries', async () => {
    const o = otel();
    const { op, clock } = operation(o);
    const { next, calls } = scripted(clock, [{ kind: 'error', errorType: 'connection_error' }]);
    const answer = await drive(clock, retryPolicy({ maxAttempts: 1 }, undefined)(op, PLAN, next));
    expect(calls).toHaveLength(1);
    await expectFinalFailure(answer, calls[0]!);
    await o.shutdown();
  });

  it('turns a thrown connection error after the last attempt into a 502 policy response', async () => {
    const o = otel();
    const { op, clock } = operation(o);
    const { next, calls } = scripted(clock, [
      { kind: 'error', errorType: 'connection_error' },
      { kind: 'error', errorType: 'connection_error' },
    ]);
    const answer = await drive(clock, retryPolicy({ maxAttempts: 2 }, undefined)(op, PLAN, next));
    expect(answer.ok).toBe(true);
    if (!answer.ok) return;
    expect(answer.response.status).toBe(502);
    expect(answer.response.headers.get(POLICY_ERROR_HEADER)).toBe('connection_error');
    expect(answer.response.headers.get('x-should-retry')).toBe('false');
    const body = (await answer.response.json()) as { error: { type: string; message: string } };
    expect(body.error.message).toContain('fetch failed');
    expect(await answer.done).toBe(calls[1]!.result);
    expect(answer.spanContext).toEqual(spanContextOf(1));
    await o.shutdown();
  });

  it("names our own timeout in the answer, with the timeout's message", async () => {
    const o = otel();
    const { op, clock } = operation(o);
    const { next } = scripted(clock, [{ kind: 'error', errorType: 'connect_timeout' }]);
    const answer = await drive(clock, retryPolicy({ maxAttempts: 1 }, undefined)(op, PLAN, next));
    expect(answer.ok).toBe(true);
    if (!answer.ok) return;
    expect(answer.response.status).toBe(504);
    expect(answer.response.headers.get(POLICY_ERROR_HEADER)).toBe('connect_timeout');
    const body = (await answer.response.json()) as { error: { message: string } };
    expect(body.error.message).toBe(new ClaudeTimeoutError('connect', 1234).message);
    await o.shutdown();
  });

  it("returns the caller's abort unchanged and never retries it", async () => {
    const o = otel();
    const { op, clock, events } = operation(o);
    const { next, calls } = scripted(clock, [
      { kind: 'error', errorType: 'aborted' },
      { kind: 'response', status: 200 },
    ]);
    const answer = await drive(clock, retryPolicy({ maxAttempts: 3 }, undefined)(op, PLAN, next));
    expect(answer).toBe(calls[0]!.handle);
    expect(answer.ok).toBe(false);
    expect(calls).toHaveLength(1);
    expect(events()).toEqual([]);
    await o.shutdown();
  });

  it('hands a non-retryable response over at once with x-should-retry: false, without a decision event', async () => {
    const o = otel();
    const { op, clock, events } = operation(o);
    const { next, calls } = scripted(clock, [
      { kind: 'response', status: 400, errorType: 'invalid_request_error' },
    ]);
    const answer = await drive(clock, retryPolicy({}, undefined)(op, PLAN, next));
    expect(calls).toHaveLength(1);
    expect(answer.ok && answer.response.headers.get('x-should-retry')).toBe('false');
    expect(events()).toEqual([]);
    await o.shutdown();
  });

  it('hands over a response the server said not to retry as it is', async () => {
    const o = otel();
    const { op, clock } = operation(o);
    const { next, calls } = scripted(clock, [{ kind: 'response', status: 529, shouldRetry: false }]);
    const answer = await drive(clock, retryPolicy({}, undefined)(op, PLAN, next));
    expect(answer).toBe(calls[0]!.handle);
    await o.shutdown();
  });

  it('stops when the retry budget is spent, counts it, and records why', async () => {
    const o = otel();
    const budget = new TokenBucketRetryBudget({ maxTokens: 4 });
    const policy = retryPolicy({ maxAttempts: 3 }, budget);
    // 4 tokens, retries only while more than 2 are left: 4 → 3 (retry) → 2 (no retry).
    const first = operation(o);
    const a = scripted(first.clock, [
      { kind: 'response', status: 529 },
      { kind: 'response', status: 529 },
      { kind: 'response', status: 529 },
    ]);
    const answer = await drive(first.clock, policy(first.op, PLAN, a.next));
    expect(a.calls).toHaveLength(2);
    expect(budget.tokens).toBe(2);
    expect(answer.ok && answer.response.headers.get('x-should-retry')).toBe('false');
    const givenUp = first.events().filter((e) => e.name === EVENTS.RETRY_GIVEN_UP.name);
    expect(givenUp.map((e) => e.attributes)).toEqual([
      { [A.ERROR_TYPE]: 'overloaded_error', 'anthropic.retry.reason': 'retry_budget_exhausted' },
    ]);
    expect(
      await o.counterSum(METRICS.RETRY_BUDGET_EXHAUSTED.name, { [A.ERROR_TYPE]: 'overloaded_error' }),
    ).toBe(1);
    // The next operation fails after one attempt: counted again.
    const second = operation(o);
    const b = scripted(second.clock, [{ kind: 'error', errorType: 'connection_error' }]);
    const failed = await drive(second.clock, policy(second.op, PLAN, b.next));
    expect(b.calls).toHaveLength(1);
    expect(failed.ok && failed.response.headers.get(POLICY_ERROR_HEADER)).toBe('connection_error');
    expect(await o.counterSum(METRICS.RETRY_BUDGET_EXHAUSTED.name)).toBe(2);
    // Successes refill it (0.1 each): 10 bring it back above half.
    for (let i = 0; i < 11; i++) {
      const op = operation(o);
      await drive(
        op.clock,
        policy(op.op, PLAN, scripted(op.clock, [{ kind: 'response', status: 200 }]).next),
      );
    }
    expect(budget.canRetry()).toBe(true);
    await o.shutdown();
  });

  it('gives up when the backoff would pass the deadline, without waiting', async () => {
    const o = otel();
    const { op, clock, events } = operation(o, { deadlineAt: START_MS + 400, random: () => 0.9 });
    const { next, calls } = scripted(clock, [
      { kind: 'error', errorType: 'connection_error' },
      { kind: 'response', status: 200 },
    ]);
    const answer = await drive(clock, retryPolicy({}, undefined)(op, PLAN, next));
    expect(calls).toHaveLength(1);
    expect(clock.now()).toBe(START_MS);
    expect(answer.ok && answer.response.headers.get(POLICY_ERROR_HEADER)).toBe('connection_error');
    const givenUp = events().filter((e) => e.name === EVENTS.RETRY_GIVEN_UP.name);
    expect(givenUp.map((e) => e.attributes)).toEqual([
      {
        [A.ERROR_TYPE]: 'connection_error',
        'anthropic.retry.reason': 'deadline',
        [A.ANTHROPIC_RETRY_DELAY]: 0.45,
      },
    ]);
    await o.shutdown();
  });

  it('answers retry_after_exceeds_deadline at once when the server asks for more than is left', async () => {
    const o = otel();
    const { op, clock, events } = operation(o, { deadlineAt: START_MS + 30_000 });
    const cancelled: string[] = [];
    const { next, calls } = scripted(clock, [
      {
        kind: 'response',
        status: 429,
        errorType: 'rate_limit_error',
        retryAfter: { header: 'retry-after', ms: 120_000 },
        durationMs: 1000,
        onCancel: () => cancelled.push('body'),
      },
      { kind: 'response', status: 200 },
    ]);
    const answer = await drive(clock, retryPolicy({}, undefined)(op, PLAN, next));
    expect(calls).toHaveLength(1);
    expect(clock.now()).toBe(START_MS + 1000);
    expect(answer.ok).toBe(true);
    if (!answer.ok) return;
    expect(answer.errorType).toBe('retry_after_exceeds_deadline');
    expect(answer.response.status).toBe(429);
    expect(answer.response.headers.get('retry-after-ms')).toBe('120000');
    expect(answer.response.headers.get('x-should-retry')).toBe('false');
    expect(claudeOtelErrorOf(answer.response)).toEqual({
      type: 'retry_after_exceeds_deadline',
      retryAfterMs: 120_000,
    });
    const body = (await answer.response.json()) as { error: { message: string } };
    expect(body.error.message).toContain('120000 ms (rate_limit_error)');
    expect(body.error.message).toContain('29000 ms left');
    expect(await answer.done).toBe(calls[0]!.result);
    await turn();
    expect(cancelled).toEqual(['body']);
    const givenUp = events().filter((e) => e.name === EVENTS.RETRY_GIVEN_UP.name);
    expect(givenUp.map((e) => e.attributes)).toEqual([
      {
        [A.ERROR_TYPE]: 'rate_limit_error',
        'anthropic.retry.reason': 'retry_after_exceeds_deadline',
        [A.ANTHROPIC_RETRY_DELAY]: 120,
      },
    ]);
    expect(await o.counterSum(METRICS.RETRIES.name)).toBe(0);
    await o.shutdown();
  });

  it('does not retry at the very moment of the deadline (its timer fires then)', async () => {
    const o = otel();
    const { op, clock, events } = operation(o, { deadlineAt: START_MS + 5000 });
    const { next, calls } = scripted(clock, [
      { kind: 'response', status: 503, retryAfter: { header: 'retry-after', ms: 5000 } },
      { kind: 'response', status: 200 },
    ]);
    const answer = await drive(clock, retryPolicy({}, undefined)(op, PLAN, next));
    expect(calls).toHaveLength(1);
    expect(answer.errorType).toBe('retry_after_exceeds_deadline');
    expect(events().map((e) => e.attributes['anthropic.retry.reason'])).toEqual([
      'retry_after_exceeds_deadline',
    ]);
    await o.shutdown();
  });

  it('rethrows a caller abort that comes while waiting, without another attempt', async () => {
    const o = otel();
    const controller = new AbortController();
    const { op, clock } = operation(o, { signal: controller.signal });
    const { next, calls } = scripted(clock, [
      { kind: 'response', status: 429, retryAfter: { header: 'retry-after', ms: 5000 } },
      { kind: 'response', status: 200 },
    ]);
    const pending = retryPolicy({}, undefined)(op, PLAN, next);
    await turn();
    expect(clock.pending).toBe(1);
    clock.advance(1000);
    const reason = new DOMException('The operation was aborted.', 'AbortError');
    controller.abort(reason);
    await expect(pending).rejects.toBe(reason);
    expect(calls).toHaveLength(1);
    expect(clock.pending).toBe(0);
    await o.shutdown();
  });

  it('answers total_timeout when the deadline timer fires while waiting', async () => {
    const o = otel();
    const controller = new AbortController();
    const { op, clock } = operation(o, { signal: controller.signal });
    const { next, calls } = scripted(clock, [
      { kind: 'error', errorType: 'connection_error' },
      { kind: 'response', status: 200 },
    ]);
    const pending = retryPolicy({}, undefined)(op, PLAN, next);
    await turn();
    expect(clock.pending).toBe(1);
    controller.abort(new ClaudeTimeoutError('total', 100));
    const answer = await pending;
    expect(calls).toHaveLength(1);
    expect(answer.ok).toBe(true);
    if (!answer.ok) return;
    expect(answer.errorType).toBe('total_timeout');
    expect(answer.response.status).toBe(504);
    expect(answer.response.headers.get(POLICY_ERROR_HEADER)).toBe('total_timeout');
    expect(answer.response.headers.get('x-should-retry')).toBe('false');
    expect(await answer.done).toBe(calls[0]!.result);
    await o.shutdown();
  });

  it('works without an operation span', async () => {
    const o = otel();
    const { op: withSpan, clock } = operation(o);
    const op: Operation = { ...withSpan, span: undefined };
    const { next, calls } = scripted(clock, [
      { kind: 'response', status: 500 },
      { kind: 'response', status: 500 },
    ]);
    const answer = await drive(clock, retryPolicy({ maxAttempts: 2 }, undefined)(op, PLAN, next));
    expect(calls).toHaveLength(2);
    expect(answer.ok && answer.response.headers.get('x-should-retry')).toBe('false');
    await o.shutdown();
  });
});

describe('retryPolicy: options', () => {
  it('rejects an invalid maxAttempts or backoff at creation', () => {
    for (const maxAttempts of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => retryPolicy({ maxAttempts }, undefined)).toThrow(TypeError);
    }
    expect(() => retryPolicy({ backoff: { baseMs: -1 } }, undefined)).toThrow(TypeError);
    expect(() => retryPolicy({ backoff: { overloadMultiplier: 0.5 } }, undefined)).toThrow(TypeError);
    expect(() => retryPolicy({}, undefined)).not.toThrow();
  });

  it('defaults to 3 attempts', async () => {
    const o = otel();
    const { op, clock } = operation(o);
    const script: Step[] = Array.from({ length: 6 }, () => ({ kind: 'response', status: 502 }) as const);
    const { next, calls } = scripted(clock, script);
    await drive(clock, retryPolicy({}, undefined)(op, PLAN, next));
    expect(calls).toHaveLength(3);
    await o.shutdown();
  });
});

describe('classifyHandle and finalFailure', () => {
  it('classify a handle by its response or its error', () => {
    const ok = makeHandle(
      { kind: 'response', status: 429, retryAfter: { header: 'retry-after', ms: 3000 } },
      PLAN,
      0,
    );
    expect(classifyHandle(ok.handle)).toEqual({
      errorType: 'rate_limit_error',
      retryable: true,
      countsAsFailure: false,
      retryAfterS: 3,
    });
    const thrown = makeHandle({ kind: 'error', errorType: 'connection_error' }, PLAN, 0);
    expect(classifyHandle(thrown.handle)).toEqual({
      errorType: 'connection_error',
      retryable: true,
      countsAsFailure: true,
      retryAfterS: undefined,
    });
    const untyped: AttemptHandle = { ...thrown.handle, errorType: undefined };
    expect(classifyHandle(untyped).errorType).toBe('connection_error');
  });

  it('finalFailure keeps the response, its body and its other headers', async () => {
    const { handle } = makeHandle({ kind: 'response', status: 500, errorType: 'api_error' }, PLAN, 3);
    const final = finalFailure(PLAN, handle, 'api_error');
    expect(final.ok).toBe(true);
    if (!final.ok) return;
    expect(final.response.headers.get('x-should-retry')).toBe('false');
    expect(final.response.headers.get('request-id')).toBe('req_3');
    expect(final.done).toBe(handle.done);
    expect(await final.response.json()).toEqual({
      type: 'error',
      error: { type: 'api_error', message: 'attempt 3' },
    });
  });
});

/**
 * Holding instead of refusing: a request's first attempt that finds the breaker open waits for the
 * breaker's decision (bounded by `hold.maxWaitMs` and the deadline). The breaker alone
 * (`CircuitBreaker.acquire`) and the policy through `createClaudeFetch` over an inner fetch that
 * fails the way an outage does, all on the fake clock.
 */
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { createClaudeFetch } from '../../../src/fetch.js';
import { type BreakerAcquisition, CircuitBreaker } from '../../../src/policies/breaker.js';
import { claudeOtelErrorOf } from '../../../src/policies/errors.js';
import { A, EVENTS, METRICS } from '../../../src/telemetry/names.js';
import { drive, FakeClock } from '../../helpers/fake-clock.js';
import { explicitOtel } from '../../helpers/otel.js';

/** Lets promise continuations run. */
const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** A breaker tripped at t = 0 (one failure opens it for `openMs`). */
function tripped(openMs = 5_000) {
  const clock = new FakeClock(0);
  const breaker = new CircuitBreaker({ mode: 'consecutive', consecutiveFailures: 1, openMs }, clock);
  breaker.tryAcquire()?.failure();
  expect(breaker.state).toBe('open');
  return { clock, breaker };
}

/** Starts a wait and keeps what it gave, once it gives it. */
function waitOn(breaker: CircuitBreaker, maxWaitMs: number, signal?: AbortSignal) {
  const box: { result?: BreakerAcquisition; error?: unknown } = {};
  const promise = breaker.acquire(maxWaitMs, signal).then(
    (r) => {
      box.result = r;
    },
    (e: unknown) => {
      box.error = e;
    },
  );
  return Object.assign(box, { promise });
}

describe('CircuitBreaker.acquire: holding', () => {
  it('a successful probe, carried by the newest waiter, closes the breaker and admits every waiter', async () => {
    const { clock, breaker } = tripped();
    const older = waitOn(breaker, 10_000);
    clock.advance(1_000);
    const newest = waitOn(breaker, 10_000);
    expect(breaker.waiting).toBe(2);
    await clock.advanceAsync(4_000);
    expect(newest.result?.outcome).toBe('probe');
    expect(older.result).toBeUndefined();
    expect(breaker.state).toBe('half_open');
    newest.result?.permit?.success();
    await flush();
    expect(breaker.state).toBe('closed');
    expect(older.result?.outcome).toBe('admitted');
    expect(older.result?.waitedMs).toBe(5_000);
    expect(older.result?.permit).toBeDefined();
  });

  it('a failed probe refuses those waiting when it went out; a later arrival waits for the next probe', async () => {
    const { clock, breaker } = tripped();
    const before = waitOn(breaker, 20_000);
    const carrier = waitOn(breaker, 20_000);
    await clock.advanceAsync(5_000);
    expect(carrier.result?.outcome).toBe('probe');
    // Arrives while the probe is out.
    clock.advance(100);
    const later = waitOn(breaker, 20_000);
    carrier.result?.permit?.failure();
    await flush();
    expect(breaker.state).toBe('open');
    expect(before.result?.outcome).toBe('refused');
    expect(before.result?.permit).toBeUndefined();
    expect(before.result?.waitedMs).toBe(5_100);
    expect(later.result).toBeUndefined();
    // The next open period (constant 5 s) ends: the later arrival carries the next probe.
    await clock.advanceAsync(5_000);
    expect(later.result?.outcome).toBe('probe');
    later.result?.permit?.success();
    expect(breaker.state).toBe('closed');
  });

  it('a waiter whose wait runs out is refused (timeout), and leaves the queue', async () => {
    const { clock, breaker } = tripped();
    const w = waitOn(breaker, 2_000);
    await clock.advanceAsync(2_000);
    expect(w.result).toMatchObject({ permit: undefined, outcome: 'timeout', waitedMs: 2_000 });
    expect(breaker.waiting).toBe(0);
    // Nobody waits: no timer left behind for the open period either.
    expect(clock.pending).toBe(0);
  });

  it('an abort while waiting rejects with its reason and admits nothing afterwards', async () => {
    const { clock, breaker } = tripped();
    const controller = new AbortController();
    const w = waitOn(breaker, 10_000, controller.signal);
    clock.advance(1_000);
    controller.abort(new Error('caller gave up'));
    await w.promise;
    expect((w.error as Error).message).toBe('caller gave up');
    expect(breaker.waiting).toBe(0);
    await clock.advanceAsync(10_000);
    expect(w.result).toBeUndefined();
    // The probe slot was never handed to the aborted waiter.
    expect(breaker.tryAcquire()).toBeDefined();
  });

  it('close() refuses every waiter at once, and later callers do not wait', async () => {
    const { clock, breaker } = tripped();
    const ws = [waitOn(breaker, 10_000), waitOn(breaker, 10_000), waitOn(breaker, 10_000)];
    clock.advance(500);
    breaker.close();
    await flush();
    for (const w of ws)
      expect(w.result).toMatchObject({ permit: undefined, outcome: 'closed', waitedMs: 500 });
    const late = waitOn(breaker, 10_000);
    await flush();
    expect(late.result).toMatchObject({ permit: undefined, outcome: undefined });
    expect(clock.pending).toBe(0);
  });

  it('half-open reached by reading the state while everyone waits hands the probe to the newest waiter', async () => {
    const clock = new FakeClock(0);
    const breaker = new CircuitBreaker({ mode: 'consecutive', consecutiveFailures: 1, openMs: 5_000 }, clock);
    breaker.tryAcquire()?.failure();
    const a = waitOn(breaker, 10_000);
    const b = waitOn(breaker, 10_000);
    // Time passes without the breaker's timer firing (a clock moved by hand, `advance` fires timers
    // only at their due time: here the read comes first).
    const timers = clock.nextDue('timer');
    expect(timers).toBe(5_000);
    await clock.advanceAsync(4_999);
    expect(a.result).toBeUndefined();
    // Move the clock's time without firing (sleep until the due time is not yet reached for the timer
    // callback): read the state from a listener on the way.
    const seen: string[] = [];
    breaker.onTransition((from, to) => seen.push(`${from}>${to}`));
    clock.advance(1);
    // `advance` fired the open-period timer; a second read changes nothing, and exactly one probe is out.
    expect(breaker.state).toBe('half_open');
    await flush();
    expect(seen).toEqual(['open>half_open']);
    expect(b.result?.outcome).toBe('probe');
    expect(a.result).toBeUndefined();
    expect(breaker.tryAcquire()).toBeUndefined();
    b.result?.permit?.success();
    await flush();
    expect(a.result?.outcome).toBe('admitted');
  });

  it('a state read that turns it half-open before the timer fires serves the waiters once', async () => {
    // A clock whose timers never fire by themselves: only reading the state can end the open period.
    const inner = new FakeClock(0);
    const clock = {
      now: () => inner.now(),
      sleep: inner.sleep.bind(inner),
      setTimer: () => ({ cancel() {} }),
    };
    const breaker = new CircuitBreaker({ mode: 'consecutive', consecutiveFailures: 1, openMs: 5_000 }, clock);
    breaker.tryAcquire()?.failure();
    const a = waitOn(breaker, 10_000);
    const b = waitOn(breaker, 10_000);
    inner.advance(6_000);
    await flush();
    expect(a.result).toBeUndefined();
    expect(b.result).toBeUndefined();
    // Someone reads the state (a request arriving, a gauge): half-open, and the newest waiter probes.
    expect(breaker.state).toBe('half_open');
    await flush();
    expect(b.result?.outcome).toBe('probe');
    expect(a.result).toBeUndefined();
    b.result?.permit?.success();
    await flush();
    expect(a.result?.outcome).toBe('admitted');
    expect(breaker.state).toBe('closed');
  });

  it('an ignored probe hands the slot to the newest waiter left', async () => {
    const { clock, breaker } = tripped();
    const a = waitOn(breaker, 10_000);
    const b = waitOn(breaker, 10_000);
    await clock.advanceAsync(5_000);
    expect(b.result?.outcome).toBe('probe');
    b.result?.permit?.ignore();
    await flush();
    expect(a.result?.outcome).toBe('probe');
  });
});

// ---------------------------------------------------------------------------------------------
// The policy, through createClaudeFetch, against an inner fetch in an outage.
// ---------------------------------------------------------------------------------------------

const URL_ = 'https://api.anthropic.com/v1/messages';
const BODY = JSON.stringify({ model: 'claude-test', max_tokens: 16, messages: [] });
const KEY = 'api.anthropic.com|claude-test';

/** An inner fetch answering 503 while `down`, 200 otherwise; counts the sends. */
function api() {
  const state = { down: true, sent: 0, sentAfterAbort: 0, aborted: false };
  const fetch = async (_input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    state.sent++;
    if (state.aborted) state.sentAfterAbort++;
    if (init?.signal?.aborted) throw init.signal.reason;
    return state.down
      ? new Response('<html>503 Service Unavailable</html>', {
          status: 503,
          headers: { 'content-type': 'text/html' },
        })
      : new Response(JSON.stringify({ id: 'msg_1', type: 'message', content: [] }), {
          status: 200,
          headers: { 'content-type': 'application/json' },
        });
  };
  return { state, fetch: fetch as typeof globalThis.fetch };
}

function client(extra: Parameters<typeof createClaudeFetch>[0] = {}) {
  const otel = explicitOtel();
  const clock = new FakeClock(0);
  const server = api();
  const lines: Record<string, unknown>[] = [];
  const logger = pino(
    { level: 'debug', base: undefined },
    { write: (s: string) => lines.push(JSON.parse(s)) },
  );
  const claudeFetch = createClaudeFetch({
    fetch: server.fetch,
    tracerProvider: otel.tracerProvider,
    meterProvider: otel.meterProvider,
    logger,
    clock,
    breaker: { mode: 'consecutive', consecutiveFailures: 1 },
    ...extra,
  });
  const call = (signal?: AbortSignal) => {
    const box: { response?: Response; error?: unknown } = {};
    const promise = claudeFetch(URL_, { method: 'POST', body: BODY, signal }).then(
      async (r) => {
        // Read to the end: the operation span ends with the body.
        await r.text();
        box.response = r;
      },
      (e: unknown) => {
        box.error = e;
      },
    );
    return Object.assign(box, { promise });
  };
  const waitEvents = () =>
    otel.exporter
      .getFinishedSpans()
      .flatMap((s) => s.events)
      .filter((e) => e.name === EVENTS.BREAKER_WAIT.name)
      .map((e) => e.attributes ?? {});
  return { otel, clock, server, claudeFetch, call, lines, waitEvents };
}

describe('breaker policy: holding', () => {
  it('holds first attempts while open; the probe succeeds and every held request is sent and served', async () => {
    const { otel, clock, server, call, lines, waitEvents } = client();
    const trip = call();
    await trip.promise;
    expect(trip.response?.status).toBe(503);
    const held = [call(), call(), call()];
    await flush();
    expect(server.state.sent).toBe(1);
    server.state.down = false;
    await clock.advanceAsync(5_000);
    await Promise.all(held.map((h) => h.promise));
    for (const h of held) expect(h.response?.status).toBe(200);
    expect(server.state.sent).toBe(4);
    const events = waitEvents();
    expect(events.map((e) => e[A.ANTHROPIC_BREAKER_WAIT_OUTCOME]).sort()).toEqual([
      'admitted',
      'admitted',
      'probe',
    ]);
    for (const e of events) {
      expect(e[A.ANTHROPIC_BREAKER_KEY]).toBe(KEY);
      expect(e[A.ANTHROPIC_BREAKER_STATE]).toBe('open');
      expect(e[A.ANTHROPIC_BREAKER_WAITED]).toBe(5);
    }
    const logged = lines.filter(
      (l) =>
        l.event === EVENTS.BREAKER_WAIT.name || l.msg === 'Claude API request waited for a circuit breaker',
    );
    expect(logged).toHaveLength(3);
    const h = await otel.histogram(METRICS.BREAKER_WAIT_DURATION.name, {
      [A.ANTHROPIC_BREAKER_WAIT_OUTCOME]: 'admitted',
    });
    expect(h).toEqual({ sum: 10, count: 2 });
    await otel.shutdown();
  });

  it('a failed probe refuses the held requests with circuit_open, not sent', async () => {
    const { otel, clock, server, call, waitEvents } = client();
    await call().promise;
    const held = [call(), call()];
    await clock.advanceAsync(5_000);
    await Promise.all(held.map((h) => h.promise));
    // One probe was sent (the newest); the other was refused when it failed.
    expect(server.state.sent).toBe(2);
    const statuses = held.map((h) => h.response?.status).sort();
    expect(statuses).toEqual([503, 503]);
    expect(held.map((h) => h.response && claudeOtelErrorOf(h.response)?.type)).toContain('circuit_open');
    expect(
      waitEvents()
        .map((e) => e[A.ANTHROPIC_BREAKER_WAIT_OUTCOME])
        .sort(),
    ).toEqual(['probe', 'refused']);
    await otel.shutdown();
  });

  it('a held request whose deadline passes first is refused at the deadline, unsent', async () => {
    const { otel, clock, server, call, waitEvents } = client({ timeouts: { totalMs: 2_000 } });
    await call().promise;
    const held = call();
    await clock.advanceAsync(2_000);
    await held.promise;
    expect(held.response && claudeOtelErrorOf(held.response)?.type).toBe('circuit_open');
    expect(server.state.sent).toBe(1);
    const [event] = waitEvents();
    expect(event?.[A.ANTHROPIC_BREAKER_WAIT_OUTCOME]).toBe('deadline');
    expect(event?.[A.ANTHROPIC_BREAKER_WAITED]).toBe(2);
    await otel.shutdown();
  });

  it('an abort while held rejects the call, and nothing is sent after it', async () => {
    const { otel, clock, server, call, waitEvents } = client();
    await call().promise;
    const controller = new AbortController();
    const held = call(controller.signal);
    clock.advance(1_000);
    controller.abort(new DOMException('stop', 'AbortError'));
    server.state.aborted = true;
    await held.promise;
    expect((held.error as DOMException).name).toBe('AbortError');
    server.state.down = false;
    await clock.advanceAsync(10_000);
    expect(server.state.sentAfterAbort).toBe(0);
    expect(waitEvents().map((e) => e[A.ANTHROPIC_BREAKER_WAIT_OUTCOME])).toEqual(['aborted']);
    await otel.shutdown();
  });

  it('shutdown() releases every held request with circuit_open', async () => {
    const { otel, clock, server, call, claudeFetch, waitEvents } = client();
    await call().promise;
    const held = [call(), call(), call()];
    clock.advance(100);
    claudeFetch.shutdown();
    await Promise.all(held.map((h) => h.promise));
    for (const h of held) expect(h.response && claudeOtelErrorOf(h.response)?.type).toBe('circuit_open');
    expect(server.state.sent).toBe(1);
    expect(waitEvents().map((e) => e[A.ANTHROPIC_BREAKER_WAIT_OUTCOME])).toEqual([
      'closed',
      'closed',
      'closed',
    ]);
    await otel.shutdown();
  });

  it('a retry is refused at once (only first attempts are held)', async () => {
    const { otel, clock, server, call, waitEvents } = client({ retry: { maxAttempts: 3 } });
    const first = call();
    // The 503 opened the breaker; the retry, after its backoff, is refused without waiting.
    await drive(clock, first.promise);
    expect(first.response && claudeOtelErrorOf(first.response)?.type).toBe('circuit_open');
    expect(server.state.sent).toBe(1);
    expect(waitEvents()).toEqual([]);
    await otel.shutdown();
  });

  it('hold: false fails fast', async () => {
    const { otel, server, call, waitEvents } = client({
      breaker: { mode: 'consecutive', consecutiveFailures: 1, hold: false },
    });
    await call().promise;
    const next = call();
    await next.promise;
    expect(next.response && claudeOtelErrorOf(next.response)?.type).toBe('circuit_open');
    expect(server.state.sent).toBe(1);
    expect(waitEvents()).toEqual([]);
    await otel.shutdown();
  });

  it('does not hold when another region can take the request', async () => {
    const { otel, server, call, waitEvents } = client({
      regions: [
        { name: 'a', baseURL: 'https://a.example.com' },
        { name: 'b', baseURL: 'https://b.example.com' },
      ],
      breaker: { mode: 'consecutive', consecutiveFailures: 1 },
    });
    await call().promise; // a: 503, opens a's breaker
    expect(server.state.sent).toBe(1);
    server.state.down = false;
    const next = call();
    await next.promise;
    // a's breaker refused at once, b served it.
    expect(next.response?.status).toBe(200);
    expect(waitEvents()).toEqual([]);
    await otel.shutdown();
  });
});

/**
 * Fleet mode inside `createClaudeFetch`, two "processes" (two fetches) sharing a `MemoryFleetStore`,
 * each around its own stub: the breaker and the cache are shared; a failing store falls back to
 * local state without failing a request.
 */
import { describe, expect, it } from 'vitest';
import { createClaudeFetch } from '../../../src/fetch.js';
import type { ClaudeFetchOptions } from '../../../src/options.js';
import { claudeOtelErrorOf } from '../../../src/policies/errors.js';
import { MemoryFleetStore } from '../../../src/store/memory.js';
import type { FleetStore } from '../../../src/store/types.js';
import { FakeClock } from '../../helpers/fake-clock.js';
import { explicitOtel, settle } from '../../helpers/otel.js';

const explicitProviders = () => {
  const otel = explicitOtel();
  return { tracerProvider: otel.tracerProvider, meterProvider: otel.meterProvider };
};

const OK = JSON.stringify({
  id: 'msg_1',
  type: 'message',
  role: 'assistant',
  model: 'claude-test',
  content: [{ type: 'text', text: 'hello' }],
  stop_reason: 'end_turn',
  usage: { input_tokens: 1, output_tokens: 1 },
});
const OVERLOADED = '{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}';
const BODY = JSON.stringify({
  model: 'claude-test',
  max_tokens: 16,
  messages: [{ role: 'user', content: 'hi' }],
});

function process(store: FleetStore, options: ClaudeFetchOptions, answer: () => Response) {
  const otel = explicitOtel();
  let calls = 0;
  const stub = async (): Promise<Response> => {
    calls++;
    return answer();
  };
  const claudeFetch = createClaudeFetch({
    fetch: stub as typeof globalThis.fetch,
    tracerProvider: otel.tracerProvider,
    meterProvider: otel.meterProvider,
    clock: new FakeClock(0),
    store: { store, logger: { warn() {}, info() {} } },
    ...options,
  });
  const call = async () => {
    const response = await claudeFetch('https://api.anthropic.com/v1/messages', {
      method: 'POST',
      body: BODY,
    });
    const text = await response.text();
    await settle();
    return { response, text };
  };
  return { call, calls: () => calls, otel };
}

const ok = () => new Response(OK, { headers: { 'content-type': 'application/json' } });
const overloaded = () =>
  new Response(OVERLOADED, { status: 529, headers: { 'content-type': 'application/json' } });

describe('fleet mode in createClaudeFetch', () => {
  it('one breaker for both: failures of one open it for the other', async () => {
    const store = new MemoryFleetStore({ clock: new FakeClock(0) });
    const breaker = { mode: 'consecutive' as const, consecutiveFailures: 2, hold: false };
    const a = process(store, { breaker }, overloaded);
    const b = process(store, { breaker }, ok);
    await a.call();
    await a.call();
    const rejected = await b.call();
    expect(b.calls()).toBe(0);
    expect(claudeOtelErrorOf(rejected.response)?.type).toBe('circuit_open');
  });

  it('one cache for both: a success stored by one is served to the other when everything failed', async () => {
    const store = new MemoryFleetStore({ clock: new FakeClock(0) });
    const a = process(store, { cache: true }, ok);
    const b = process(store, { cache: true }, overloaded);
    await a.call();
    const served = await b.call();
    expect(b.calls()).toBe(1);
    expect(served.response.status).toBe(200);
    expect(served.response.headers.get('x-claude-otel-cache')).toBe('hit');
    expect(JSON.parse(served.text)).toEqual(JSON.parse(OK));
  });

  it('a failing store: requests go on, on local state (the local breaker still opens)', async () => {
    const failing = new Proxy(new MemoryFleetStore(), {
      get(target, name, receiver) {
        const value = Reflect.get(target, name, receiver);
        return typeof value === 'function' && name !== 'constructor'
          ? () => Promise.reject(new Error('ECONNREFUSED'))
          : value;
      },
    });
    const breaker = { mode: 'consecutive' as const, consecutiveFailures: 3, hold: false };
    let fail = false;
    const a = process(failing, { breaker, throttle: true }, () => (fail ? overloaded() : ok()));
    for (let i = 0; i < 3; i++) expect((await a.call()).response.status).toBe(200);
    expect(await a.otel.counterSum('anthropic.client.store.errors')).toBeGreaterThan(0);
    expect((await a.otel.points('anthropic.client.store.state')).map((p) => p.value)).toEqual([0]);
    fail = true;
    // Three failures open the local breaker; the next is refused unsent.
    for (let i = 0; i < 3; i++) expect((await a.call()).response.status).toBe(529);
    const calls = a.calls();
    const refused = await a.call();
    expect(a.calls()).toBe(calls);
    expect(claudeOtelErrorOf(refused.response)?.type).toBe('circuit_open');
  });

  it("logs the store's outage once and its recovery through the fetch's logger, as declared events (breaker only)", async () => {
    let down = true;
    const flaky = new Proxy(new MemoryFleetStore(), {
      get(target, name, receiver) {
        const value = Reflect.get(target, name, receiver);
        if (typeof value !== 'function' || name === 'constructor') return value;
        return (...args: unknown[]) =>
          down
            ? Promise.reject(new Error('connect ECONNREFUSED redis://:sk-ant-api03-LEAKED@cache:6379'))
            : (value as (...a: unknown[]) => unknown).apply(target, args);
      },
    });
    const lines: Array<Record<string, unknown>> = [];
    const logger = {
      debug() {},
      info: (obj: Record<string, unknown>) => lines.push(obj),
      warn: (obj: Record<string, unknown>) => lines.push(obj),
      error: (obj: Record<string, unknown>) => lines.push(obj),
    };
    const clock = new FakeClock(0);
    const claudeFetch = createClaudeFetch({
      fetch: (async () => ok()) as typeof globalThis.fetch,
      ...explicitProviders(),
      clock,
      logger,
      breaker: true,
      store: { store: flaky, retryMs: 1_000 },
    });
    const call = async () => {
      const response = await claudeFetch('https://api.anthropic.com/v1/messages', {
        method: 'POST',
        body: BODY,
      });
      await response.text();
      await settle();
    };
    for (let i = 0; i < 5; i++) await call();
    const events = () => lines.filter((l) => String(l.event).startsWith('anthropic.store.'));
    expect(events()).toEqual([
      {
        event: 'anthropic.store.degraded',
        'anthropic.store.kind': 'memory',
        'anthropic.store.operation': expect.any(String),
        'exception.message': 'connect ECONNREFUSED redis://[REDACTED]@cache:6379',
      },
    ]);
    down = false;
    clock.advance(1_000);
    for (let i = 0; i < 3; i++) await call();
    expect(events().map((l) => l.event)).toEqual(['anthropic.store.degraded', 'anthropic.store.recovered']);
  });
});

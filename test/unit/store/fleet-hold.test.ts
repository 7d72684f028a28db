/**
 * Fleet mode holds like one process: two "processes" (two fetches) sharing a `MemoryFleetStore` and
 * one fake clock. Requests held while the shared breaker is open learn its decision through one
 * loop per process and key — the store is read a bounded number of times, not per waiter.
 */
import { describe, expect, it } from 'vitest';
import { createClaudeFetch } from '../../../src/fetch.js';
import { claudeOtelErrorOf } from '../../../src/policies/errors.js';
import { MemoryFleetStore } from '../../../src/store/memory.js';
import type { FleetStore } from '../../../src/store/types.js';
import { A, EVENTS } from '../../../src/telemetry/names.js';
import { FakeClock } from '../../helpers/fake-clock.js';
import { explicitOtel } from '../../helpers/otel.js';

const OK = JSON.stringify({
  id: 'msg_1',
  type: 'message',
  role: 'assistant',
  model: 'claude-test',
  content: [],
});
const BODY = JSON.stringify({
  model: 'claude-test',
  max_tokens: 16,
  messages: [{ role: 'user', content: 'hi' }],
});

/** A store that counts the calls each process makes. */
function counted(store: FleetStore): { store: FleetStore; calls: Map<string, number> } {
  const calls = new Map<string, number>();
  const proxy = new Proxy(store, {
    get(target, name, receiver) {
      const value = Reflect.get(target, name, receiver);
      if (typeof value !== 'function' || name === 'constructor') return value;
      return (...args: unknown[]) => {
        calls.set(String(name), (calls.get(String(name)) ?? 0) + 1);
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { store: proxy, calls };
}

function fleetProcess(shared: FleetStore, clock: FakeClock, api: { down: boolean }) {
  const otel = explicitOtel();
  const { store, calls: storeCalls } = counted(shared);
  let sent = 0;
  const fetch = async (): Promise<Response> => {
    sent++;
    return api.down
      ? new Response('{"type":"error","error":{"type":"overloaded_error","message":"x"}}', {
          status: 529,
          headers: { 'content-type': 'application/json' },
        })
      : new Response(OK, { headers: { 'content-type': 'application/json' } });
  };
  const claudeFetch = createClaudeFetch({
    fetch: fetch as typeof globalThis.fetch,
    tracerProvider: otel.tracerProvider,
    meterProvider: otel.meterProvider,
    clock,
    store: { store, logger: { warn() {}, info() {} } },
    breaker: { mode: 'consecutive', consecutiveFailures: 2 },
  });
  const call = () => {
    const box: { status?: number; type?: string } = {};
    const promise = claudeFetch('https://api.anthropic.com/v1/messages', { method: 'POST', body: BODY }).then(
      async (r) => {
        await r.text();
        box.status = r.status;
        box.type = claudeOtelErrorOf(r)?.type;
      },
    );
    return Object.assign(box, { promise });
  };
  const waits = () =>
    otel.exporter
      .getFinishedSpans()
      .flatMap((s) => s.events)
      .filter((e) => e.name === EVENTS.BREAKER_WAIT.name)
      .map((e) => String(e.attributes?.[A.ANTHROPIC_BREAKER_WAIT_OUTCOME]))
      .sort();
  return { call, sent: () => sent, storeCalls, waits, claudeFetch, otel };
}

const total = (calls: Map<string, number>): number => [...calls.values()].reduce((a, b) => a + b, 0);

describe('fleet breaker: holding', () => {
  it('waiters of both processes learn a successful probe; the other process polls, not per waiter', async () => {
    const clock = new FakeClock(0);
    const shared = new MemoryFleetStore({ clock });
    const api = { down: true };
    const a = fleetProcess(shared, clock, api);
    const b = fleetProcess(shared, clock, api);
    await a.call().promise;
    await a.call().promise;
    await clock.advanceAsync(0);
    // b learns the open breaker at its first sync (a closed view is trusted for syncMs: the first
    // request reads it alone), and holds its requests.
    const heldA = [a.call(), a.call()];
    const heldB = [b.call()];
    await clock.advanceAsync(10);
    heldB.push(b.call(), b.call(), b.call());
    await clock.advanceAsync(10);
    expect(a.sent() + b.sent()).toBe(2);
    const before = total(b.storeCalls);
    api.down = false;
    await clock.advanceAsync(6_000);
    await Promise.all([...heldA, ...heldB].map((h) => h.promise));
    for (const h of [...heldA, ...heldB]) expect(h.status).toBe(200);
    // One probe, then everyone sent once.
    expect(a.sent() + b.sent()).toBe(2 + 6);
    // b's waiting cost a few store calls for its four waiters over 6 s (a probe slot, a few polls
    // every syncMs, the outcomes written behind), not one per waiter and poll.
    const during = total(b.storeCalls) - before;
    expect(during).toBeLessThanOrEqual(4 + 4);
    expect([...a.waits(), ...b.waits()].filter((w) => w === 'probe')).toHaveLength(1);
    expect([...a.waits(), ...b.waits()].filter((w) => w === 'admitted')).toHaveLength(5);
    await a.otel.shutdown();
    await b.otel.shutdown();
  });

  it("another process's failed probe refuses the waiters that were waiting when it went out", async () => {
    const clock = new FakeClock(0);
    const shared = new MemoryFleetStore({ clock });
    const api = { down: true };
    const a = fleetProcess(shared, clock, api);
    const b = fleetProcess(shared, clock, api);
    await a.call().promise;
    await a.call().promise;
    const heldA = a.call();
    const heldB = [b.call()];
    await clock.advanceAsync(10);
    heldB.push(b.call());
    await clock.advanceAsync(6_000);
    await Promise.all([heldA.promise, ...heldB.map((h) => h.promise)]);
    // a's waiter carried the probe (529); b's were refused, unsent.
    expect(heldA.status).toBe(529);
    for (const h of heldB) expect(h.type).toBe('circuit_open');
    expect(b.sent()).toBe(0);
    expect(b.waits()).toEqual(['refused', 'refused']);
    expect(a.waits()).toEqual(['probe']);
    await a.otel.shutdown();
    await b.otel.shutdown();
  });

  it('shutdown() releases the fleet waiters with circuit_open', async () => {
    const clock = new FakeClock(0);
    const shared = new MemoryFleetStore({ clock });
    const api = { down: true };
    const a = fleetProcess(shared, clock, api);
    await a.call().promise;
    await a.call().promise;
    const held = [a.call(), a.call()];
    await clock.advanceAsync(10);
    a.claudeFetch.shutdown();
    await clock.advanceAsync(0);
    await Promise.all(held.map((h) => h.promise));
    for (const h of held) expect(h.type).toBe('circuit_open');
    expect(a.sent()).toBe(2);
    expect(a.waits()).toEqual(['closed', 'closed']);
    await a.otel.shutdown();
  });
});

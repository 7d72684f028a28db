/**
 * The fleet scenarios every shared backend must pass — a single `redis-server`
 * (`test/integration/fleet.test.ts`) and a three-master Redis Cluster through an ioredis `Cluster`
 * (`test/integration/fleet-cluster.test.ts`): worker processes, each the real SDK over
 * `createClaudeFetch` with the Redis store, against the fake API, driven in lockstep rounds over
 * IPC so that what each round may send is decided by the shared state, not by timing.
 */
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect, it } from 'vitest';
import type { FakeClaude, Fault } from '../../src/testing/types.js';
import { type Fleet, startFleet } from './fleet.js';
import type { WorkerConfig, WorkerResult } from './fleet-worker.js';

export const WORKERS = 4;
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface FleetBackend {
  fake(): FakeClaude;
  setFault(fault: (worker: string, index: number) => Fault | undefined): void;
  /** Where the workers share state: `redisUrl` or `cluster`. */
  store(): Pick<WorkerConfig, 'redisUrl' | 'cluster'>;
}

/** Helpers over one backend: fleets on a fresh key prefix, and counts of what reached the fake. */
export function fleetTools(backend: FleetBackend, prefixOf: () => string) {
  return {
    async fleet(
      options: WorkerConfig['options'],
      extra: Partial<WorkerConfig> = {},
      size = WORKERS,
    ): Promise<Fleet> {
      backend.fake().reset();
      const prefix = prefixOf();
      return startFleet(size, (id) => ({
        id,
        fakeUrl: backend.fake().url,
        prefix,
        options,
        ...backend.store(),
        ...extra,
      }));
    },
    attempts: () => backend.fake().requests.filter((r) => r.path === '/v1/messages').length,
    flat: (results: WorkerResult[][]) => results.flat(),
    types: (results: WorkerResult[][]) => results.flat().map((r) => r.errorType ?? 'ok'),
  };
}

/**
 * A pass-through HTTP proxy in front of `target` that, while held, keeps each request it receives
 * until `release()`: a test can then act while that request is out, as long as it needs.
 */
async function gatedProxy(target: string) {
  let gate: { promise: Promise<void>; resolve: () => void } | undefined;
  let held = 0;
  const server = createServer((req, res) => {
    const forward = () => {
      const up = request(
        new URL(req.url ?? '/', target),
        { method: req.method, headers: req.headers },
        (r) => {
          res.writeHead(r.statusCode ?? 502, r.headers);
          r.pipe(res);
        },
      );
      up.on('error', () => res.destroy());
      req.pipe(up);
    };
    if (gate === undefined) return forward();
    held++;
    void gate.promise.then(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    held: () => held,
    hold() {
      let resolve = () => {};
      const promise = new Promise<void>((r) => {
        resolve = r;
      });
      gate = { promise, resolve };
    },
    release() {
      gate?.resolve();
      gate = undefined;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Polls `done` (every 10 ms) until it holds: waiting for an event, not for a time. */
async function until(done: () => Promise<boolean>): Promise<void> {
  while (!(await done())) await sleep(10);
}

/** The scenarios, as `it`s in the caller's `describe`. */
export function sharedFleetScenarios(backend: FleetBackend, prefixOf: () => string): void {
  const { fleet, attempts, flat, types } = fleetTools(backend, prefixOf);
  const fault = (f: (worker: string, index: number) => Fault | undefined) => backend.setFault(f);

  it("one process's own failures take effect at once: its breaker stops at the threshold (3 sent, not 4)", async () => {
    fault(() => ({ status: 529 }));
    const f = await fleet(
      { breaker: { mode: 'consecutive', consecutiveFailures: 3, openMs: 60_000, hold: false } },
      {},
      1,
    );
    try {
      // One request after another, each sent as soon as the previous one's answer is back (as the
      // local breaker, which counts synchronously, would stop after the third).
      const results = flat(await f.send(6));
      expect(attempts()).toBe(3);
      expect(results.map((r) => r.errorType ?? 'ok')).toEqual([
        'overloaded_error',
        'overloaded_error',
        'overloaded_error',
        'circuit_open',
        'circuit_open',
        'circuit_open',
      ]);
    } finally {
      await f.close();
    }
  });

  it('sustained 529: the breaker opens for all at the shared threshold; one probe across the fleet', async () => {
    fault(() => ({ status: 529 }));
    // Time moves only when the test says (f.advance): an open period (60 s, then 120 s) never
    // ends while a round runs, however slow the machine.
    const proxy = await gatedProxy(backend.fake().url);
    const f = await fleet(
      {
        breaker: {
          mode: 'consecutive',
          consecutiveFailures: 6,
          openMs: 60_000,
          openBackoffMultiplier: 2,
          halfOpenProbes: 1,
          // Fail fast: this test counts refusals (holding has its own tests, fleet-hold.test.ts).
          hold: false,
        },
      },
      { fakeUrl: proxy.url },
    );
    const rejections = async () => (await f.stats()).reduce((n, s) => n + s.breakerRejections, 0);
    try {
      // Rounds of one request per worker at once. Two rounds: the 6th failure opened the breaker (a
      // worker that started its second request after that may have been refused already).
      await f.send(1);
      await f.send(1);
      const opened = attempts();
      expect(opened).toBeGreaterThanOrEqual(6);
      expect(opened).toBeLessThanOrEqual(2 * WORKERS);
      // Every worker learnt it from its own outcome: nothing more is sent.
      const third = await f.send(1);
      expect(types(third)).toEqual(Array(WORKERS).fill('circuit_open'));
      expect(attempts()).toBe(opened);
      // Local breakers would each have needed 6 failures: 24 attempts.
      await f.advance(61_000);
      // Half-open: all four try at once, exactly one probe goes out (and fails: re-opened for 120 s).
      const probe = await f.send(1);
      expect(attempts()).toBe(opened + 1);
      expect(types(probe).filter((t) => t === 'circuit_open')).toHaveLength(WORKERS - 1);
      expect((await f.send(1)).flat().every((r) => r.errorType === 'circuit_open')).toBe(true);
      expect(attempts()).toBe(opened + 1);
      // Recovery: the next probe succeeds, held at the proxy until the others have asked for a slot
      // while it is out (and been refused), and closes the breaker for the whole fleet.
      fault(() => undefined);
      await f.advance(121_000);
      const refusedBefore = await rejections();
      proxy.hold();
      const recovering = f.send(1);
      // Until every worker has either been refused or has its request held.
      await until(async () => proxy.held() + (await rejections()) >= refusedBefore + WORKERS);
      expect(proxy.held()).toBe(1);
      expect(await rejections()).toBe(refusedBefore + WORKERS - 1);
      expect(attempts()).toBe(opened + 1);
      proxy.release();
      const recovered = await recovering;
      expect(attempts()).toBe(opened + 2);
      expect(flat(recovered).filter((r) => r.ok)).toHaveLength(1);
      const after = await f.send(1);
      expect(flat(after).every((r) => r.ok)).toBe(true);
      expect(attempts()).toBe(opened + 2 + WORKERS);
    } finally {
      await f.close();
      await proxy.close();
    }
  });

  it("sustained 529: the fleet's retries stay within one shared budget", async () => {
    fault(() => ({ status: 529 }));
    const maxTokens = 10;
    const f = await fleet({
      retry: { maxAttempts: 3, backoff: { baseMs: 1, capMs: 2 }, budget: { maxTokens } },
    });
    try {
      const rounds = 6;
      for (let i = 0; i < rounds; i++) await f.send(1);
      const requests = rounds * WORKERS;
      const retries = attempts() - requests;
      // Retries stop once half the shared bucket is spent (5 failures); each worker may overshoot
      // by the retries of the one request it had in flight while learning it.
      expect(retries).toBeGreaterThan(0);
      expect(retries).toBeLessThanOrEqual(maxTokens / 2 + WORKERS * 2);
      // Four local budgets would have allowed 4 × 5 = 20 retries.
      expect(retries).toBeLessThan(WORKERS * (maxTokens / 2));
    } finally {
      await f.close();
    }
  });

  it('a 429 seen by one worker holds the others', async () => {
    let limited = false;
    fault((worker) => {
      if (worker === '0' && !limited) {
        limited = true;
        return { status: 429, headers: { 'retry-after': '30' } };
      }
      return undefined;
    });
    const f = await fleet({ throttle: { maxWaitMs: 1_000 } });
    try {
      expect(flat(await f.send(1, { ids: [1, 2, 3] })).every((r) => r.ok)).toBe(true);
      const first = await f.send(1, { ids: [0] });
      expect(first[0]?.[0]?.status).toBe(429);
      expect(attempts()).toBe(4);
      // The others have seen no 429 themselves: the fleet's block holds them (30 s > maxWaitMs).
      const others = await f.send(1, { ids: [1, 2, 3] });
      expect(types(others)).toEqual(['throttled', 'throttled', 'throttled']);
      expect(attempts()).toBe(4);
    } finally {
      await f.close();
    }
  });
}

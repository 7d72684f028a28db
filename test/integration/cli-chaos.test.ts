/**
 * `chaos` as a fault-injecting proxy in front of a second fake Claude API playing the upstream:
 * passthrough unchanged (bytes, headers, streams as they come), faults at the scenario's rates,
 * reproducible with a seed, and the real SDK meeting them. Also the standalone fake.
 */
import Anthropic from '@anthropic-ai/sdk';
import { afterEach, describe, expect, it } from 'vitest';
import { type ChaosServer, startChaos } from '../../src/cli/chaos.js';
import { main } from '../../src/cli/main.js';
import { validateScenario } from '../../src/cli/scenario.js';
import { type FakeClaude, startFakeClaude } from '../../src/testing/index.js';

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanup.length > 0) await cleanup.pop()?.();
});

async function fake(options: Parameters<typeof startFakeClaude>[0] = {}): Promise<FakeClaude> {
  const f = await startFakeClaude({ seed: 5, ...options });
  cleanup.push(() => f.close());
  return f;
}

async function proxy(
  upstream: string,
  faults: unknown[],
  seed = 1,
  log?: (line: string) => void,
): Promise<ChaosServer> {
  const p = await startChaos({ scenario: validateScenario({ faults }), upstream, seed, log });
  cleanup.push(() => p.close());
  return p;
}

const body = (stream: boolean, model = 'claude-sonnet-4-6'): string =>
  JSON.stringify({
    model,
    max_tokens: 64,
    stream,
    messages: [{ role: 'user', content: 'Bonjour, ça va ? 日本語' }],
  });

const sentHeaders = {
  'content-type': 'application/json',
  'x-api-key': 'sk-ant-test-key',
  authorization: 'Bearer sk-ant-test-key',
  'anthropic-version': '2023-06-01',
  'anthropic-beta': 'some-beta-2025',
  'x-custom': 'kept',
};

async function post(base: string, payload: string): Promise<Response> {
  return fetch(`${base}/v1/messages?beta=true`, { method: 'POST', headers: sentHeaders, body: payload });
}

const ECHOED = ['request-id', 'content-type', 'x-fake-region', 'anthropic-organization-id', 'cache-control'];

describe('chaos proxy: passthrough', () => {
  it('forwards requests and answers unchanged, byte for byte, JSON and streamed', async () => {
    // Two upstreams with the same seed: one behind the proxy, one called directly, each answering its
    // first requests the same way but for the ids (unique per instance, as the API's are).
    const behind = await fake({ name: 'upstream' });
    const direct = await fake({ name: 'upstream' });
    const p = await proxy(behind.url, []);
    for (const stream of [false, true]) {
      const viaProxy = await post(p.url, body(stream));
      const straight = await post(direct.url, body(stream));
      expect(viaProxy.status).toBe(straight.status);
      for (const name of ECHOED.filter((n) => n !== 'request-id'))
        expect(viaProxy.headers.get(name)).toBe(straight.headers.get(name));
      // The request id is the one the upstream behind the proxy answered with.
      expect(viaProxy.headers.get('request-id')).toBe(behind.requests.at(-1)?.requestId);
      const [a, b] = [Buffer.from(await viaProxy.arrayBuffer()), Buffer.from(await straight.arrayBuffer())];
      expect(a.length).toBeGreaterThan(0);
      const ids = /(req|msg|toolu)_[A-Za-z0-9]{24}/g;
      const withoutIds = (bytes: Buffer): Buffer =>
        Buffer.from(bytes.toString('latin1').replace(ids, '$1_ID'), 'latin1');
      // Same bytes once the ids are set aside (latin1: one character per byte, so nothing else moves).
      expect(withoutIds(a).equals(withoutIds(b))).toBe(true);
      expect(a.length).toBe(b.length);
      if (stream) expect(a.toString('utf8')).toContain('event: message_stop');
    }
    // The upstream got what the client sent: path, query, headers (credentials included) and body.
    expect(behind.requests).toHaveLength(2);
    for (const [i, request] of behind.requests.entries()) {
      expect(request.path).toBe('/v1/messages');
      expect(request.query).toBe('beta=true');
      for (const [name, value] of Object.entries(sentHeaders)) expect(request.headers[name]).toBe(value);
      expect(request.body).toEqual(JSON.parse(body(i === 1)));
    }
    const models = await fetch(`${p.url}/v1/models?limit=2`, { headers: sentHeaders });
    expect(models.status).toBe(200);
    expect(behind.requests.at(-1)).toMatchObject({ method: 'GET', path: '/v1/models', query: 'limit=2' });
  });

  it('streams events as they arrive, without waiting for the end', async () => {
    // The upstream stalls for a minute after two events: the client still gets those two.
    const upstream = await fake({ script: [{ stall: { afterEvents: 2, ms: 60_000 } }] });
    const p = await proxy(upstream.url, []);
    const response = await post(p.url, body(true));
    const reader = response.body!.getReader();
    let text = '';
    while (!text.includes('event: ping')) {
      const { value, done } = await reader.read();
      if (done) break;
      text += Buffer.from(value).toString('utf8');
    }
    expect(text).toContain('event: message_start');
    expect(text).not.toContain('message_stop');
    await reader.cancel();
  });

  it("an upstream's own broken stream reaches the client broken", async () => {
    const upstream = await fake({ script: [{ drop: { afterEvents: 4, at: 'mid-event' } }] });
    const p = await proxy(upstream.url, []);
    const response = await post(p.url, body(true));
    expect(response.status).toBe(200);
    await expect(response.arrayBuffer()).rejects.toThrow();
  });
});

describe('chaos proxy: faults', () => {
  it('injects status faults at the configured rate, reproducibly with a seed, and logs them', async () => {
    const upstream = await fake();
    const rules = [
      { rate: 0.3, match: { path: '/v1/messages' }, fault: { status: 529 } },
      { rate: 0.1, match: { path: '/v1/messages' }, fault: { status: 429, headers: { 'retry-after': 2 } } },
    ];
    const run = async (seed: number): Promise<{ statuses: number[]; lines: string[] }> => {
      const lines: string[] = [];
      const p = await proxy(upstream.url, rules, seed, (line) => lines.push(line));
      const statuses: number[] = [];
      for (let i = 0; i < 300; i++) {
        const response = await post(p.url, body(false));
        const text = await response.text();
        statuses.push(response.status);
        if (response.status !== 200) {
          expect(response.headers.get('x-claude-chaos')).toBe('injected');
          expect(JSON.parse(text)).toMatchObject({
            type: 'error',
            error: { type: response.status === 529 ? 'overloaded_error' : 'rate_limit_error' },
          });
        }
        if (response.status === 429) expect(response.headers.get('retry-after')).toBe('2');
      }
      return { statuses, lines };
    };
    const first = await run(11);
    const overloads = first.statuses.filter((s) => s === 529).length;
    const limited = first.statuses.filter((s) => s === 429).length;
    // Binomial(300, 0.3): sd ≈ 7.9; (300, 0.1): sd ≈ 5.2 — bounds of about 5 sd.
    expect(Math.abs(overloads - 90)).toBeLessThan(40);
    expect(Math.abs(limited - 30)).toBeLessThan(26);
    expect(first.statuses.filter((s) => s !== 200 && s !== 529 && s !== 429)).toEqual([]);
    // Faulted requests never reached the upstream.
    expect(upstream.requests).toHaveLength(300 - overloads - limited);
    expect(first.lines).toHaveLength(overloads + limited);
    expect(first.lines.find((l) => l.includes('529'))).toMatch(
      /POST \/v1\/messages claude-sonnet-4-6 → fault \(rule 0\): 529/,
    );
    expect((await run(11)).statuses).toEqual(first.statuses);
    expect((await run(12)).statuses).not.toEqual(first.statuses);
  });

  it('the real SDK meets the faults: 529, an in-stream error, a dropped stream, a stall; others pass', async () => {
    const upstream = await fake({ models: ['test-model-drop', 'test-model-stall'] });
    const p = await proxy(upstream.url, [
      { match: { stream: false, model: 'claude-sonnet-4-6' }, fault: { status: 529 } },
      { match: { stream: true, model: 'claude-sonnet-4-6' }, fault: { sseError: { afterEvents: 3 } } },
      {
        match: { stream: true, model: 'test-model-drop' },
        fault: { drop: { afterEvents: 4, at: 'mid-utf8' } },
      },
      { match: { stream: true, model: 'test-model-stall' }, fault: { stall: { afterEvents: 3, ms: 300 } } },
    ]);
    const client = new Anthropic({ apiKey: 'sk-ant-test', baseURL: p.url, maxRetries: 0 });
    const params = { max_tokens: 64, messages: [{ role: 'user' as const, content: 'hi' }] };

    const overloaded = await client.messages
      .create({ ...params, model: 'claude-sonnet-4-6' })
      .catch((e: unknown) => e);
    expect(overloaded).toBeInstanceOf(Anthropic.APIError);
    expect((overloaded as InstanceType<typeof Anthropic.APIError>).status).toBe(529);

    const sseError = await client.messages
      .stream({ ...params, model: 'claude-sonnet-4-6' })
      .finalMessage()
      .catch((e: unknown) => e);
    expect(sseError).toBeInstanceOf(Anthropic.APIError);
    expect(String((sseError as Error).message)).toMatch(/overloaded/i);

    const dropped = await client.messages
      .stream({ ...params, model: 'test-model-drop' })
      .finalMessage()
      .catch((e: unknown) => e);
    expect(dropped).toBeInstanceOf(Error);

    const stalled = await client.messages.stream({ ...params, model: 'test-model-stall' }).finalMessage();
    expect(stalled.stop_reason).toBe('end_turn');

    const fine = await client.messages.create({ ...params, model: 'claude-haiku-4-5' });
    expect(fine.content[0]?.type).toBe('text');
    // The 529 was answered by the proxy; every other call reached the upstream.
    expect(upstream.requests.map((r) => (r.body as { model: string }).model)).toEqual([
      'claude-sonnet-4-6',
      'test-model-drop',
      'test-model-stall',
      'claude-haiku-4-5',
    ]);
  });
});

describe('chaos without an upstream', () => {
  it('serves the fake API with the scenario faults', async () => {
    const lines: string[] = [];
    const server = await startChaos({
      scenario: validateScenario({
        faults: [{ match: { model: 'claude-opus-4-6' }, fault: { status: 500 } }],
      }),
      log: (line) => lines.push(line),
    });
    cleanup.push(() => server.close());
    const client = new Anthropic({ apiKey: 'k', baseURL: server.url, maxRetries: 0 });
    const params = { max_tokens: 16, messages: [{ role: 'user' as const, content: 'hi' }] };
    await expect(client.messages.create({ ...params, model: 'claude-opus-4-6' })).rejects.toMatchObject({
      status: 500,
    });
    expect((await client.messages.create({ ...params, model: 'claude-haiku-4-5' })).type).toBe('message');
    expect(server.stats()).toMatchObject({ requests: 2, faults: 1, passedThrough: 1 });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/fault \(rule 0\): 500/);
  });
});

describe('chaos command', () => {
  it('a port in use is a clear usage error, not a crash', async () => {
    const busy = await fake();
    const out: string[] = [];
    const err: string[] = [];
    const code = await main(['chaos', '--port', String(busy.port)], {
      out: (t) => out.push(t),
      err: (t) => err.push(t),
      tty: false,
      env: {},
    });
    expect(code).toBe(2);
    expect(err.join('')).toMatch(/cannot listen on 127\.0\.0\.1:\d+ \(EADDRINUSE\); choose another --port/);
  });
});

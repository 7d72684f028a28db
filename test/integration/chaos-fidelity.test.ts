/**
 * The chaos proxy answers like the API it stands in front of: nothing goes upstream for a client
 * that left during a header delay, an in-stream error names the upstream's request, and the errors
 * it makes itself (injected, or its own 502) carry a `req_` + 24 request id, and the organization
 * and rate-limit headers.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { type ChaosServer, startChaos } from '../../src/cli/chaos.js';
import { validateScenario } from '../../src/cli/scenario.js';
import { type FakeClaude, startFakeClaude } from '../../src/testing/index.js';

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanup.length > 0) await cleanup.pop()?.();
});

async function proxy(upstream: string, faults: unknown[]): Promise<ChaosServer> {
  const p = await startChaos({ scenario: validateScenario({ faults }), upstream });
  cleanup.push(() => p.close());
  return p;
}

async function fake(): Promise<FakeClaude> {
  const f = await startFakeClaude();
  cleanup.push(() => f.close());
  return f;
}

const BODY = JSON.stringify({
  model: 'claude-sonnet-4-6',
  max_tokens: 64,
  messages: [{ role: 'user', content: 'hi' }],
});
const post = (base: string, body = BODY, signal?: AbortSignal): Promise<Response> =>
  fetch(`${base}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': 'k' },
    body,
    ...(signal && { signal }),
  });

/** A plain upstream that counts the requests it receives and answers each with a small JSON. */
async function countingUpstream(): Promise<{ url: string; count: () => number }> {
  let count = 0;
  const server: Server = createServer((req, res) => {
    count++;
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json', 'request-id': 'req_upstream' });
      res.end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanup.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, count: () => count };
}

const ID = /^req_[A-Za-z0-9]{24}$/;

describe('chaos proxy: fidelity', () => {
  it('sends nothing upstream for a client that left during delayHeadersMs', async () => {
    const upstream = await countingUpstream();
    const lines: string[] = [];
    const p = await startChaos({
      scenario: validateScenario({ faults: [{ fault: { delayHeadersMs: 150 } }] }),
      upstream: upstream.url,
      log: (line) => lines.push(line),
    });
    cleanup.push(() => p.close());
    const gone = new AbortController();
    const abandoned = post(p.url, BODY, gone.signal).catch((e: unknown) => e);
    // The proxy has the request (its fault is logged) and is holding it back: the client leaves.
    while (lines.length === 0) await new Promise((resolve) => setImmediate(resolve));
    gone.abort();
    expect(await abandoned).toBeInstanceOf(Error);
    // A second request with the same delay, started later, ends after the first one's delay did.
    const answered = await post(p.url);
    expect(answered.status).toBe(200);
    await answered.text();
    expect(upstream.count()).toBe(1);
    expect(lines.some((l) => /#1 client went away: not forwarded/.test(l))).toBe(true);
  });

  it("an in-stream error carries the upstream's request-id", async () => {
    const upstream = await fake();
    const p = await proxy(upstream.url, [{ fault: { sseError: { afterEvents: 3 } } }]);
    const res = await post(p.url, BODY.replace('"max_tokens"', '"stream":true,"max_tokens"'));
    const text = await res.text();
    const data = /event: error\ndata: (.*)\n/.exec(text)?.[1];
    const error = JSON.parse(data ?? 'null') as { request_id: string; error: { type: string } };
    expect(error.error.type).toBe('overloaded_error');
    expect(error.request_id).toBe(res.headers.get('request-id'));
    expect(error.request_id).toBe(upstream.requests[0]?.requestId);
  });

  it('injected errors carry a req_ + 24 id, retry-after on 429, and the organization and rate-limit headers', async () => {
    const upstream = await fake();
    const p = await proxy(upstream.url, [
      { match: { model: 'claude-opus-4-6' }, fault: { status: 429 } },
      { match: { model: 'claude-haiku-4-5' }, fault: { status: 529 } },
    ]);
    const check = async (model: string, status: number): Promise<Response> => {
      const res = await post(p.url, BODY.replace('claude-sonnet-4-6', model));
      expect(res.status).toBe(status);
      const body = (await res.json()) as { request_id: string };
      expect(res.headers.get('request-id')).toMatch(ID);
      expect(body.request_id).toBe(res.headers.get('request-id'));
      expect(res.headers.get('anthropic-organization-id')).toMatch(/^[0-9a-f-]{36}$/);
      for (const kind of ['requests', 'tokens', 'input-tokens', 'output-tokens']) {
        expect(res.headers.get(`anthropic-ratelimit-${kind}-limit`)).toMatch(/^\d+$/);
        expect(res.headers.get(`anthropic-ratelimit-${kind}-reset`)).toMatch(/Z$/);
      }
      return res;
    };
    // Before any upstream answer: the proxy's own account headers.
    const limited = await check('claude-opus-4-6', 429);
    expect(limited.headers.get('retry-after')).toBe('1');
    expect(limited.headers.get('anthropic-ratelimit-requests-remaining')).toBe('0');
    // After one: the upstream's organization and limits as last seen.
    const passed = await post(p.url);
    expect(passed.status).toBe(200);
    await passed.text();
    const overloaded = await check('claude-haiku-4-5', 529);
    expect(overloaded.headers.get('anthropic-organization-id')).toBe(
      passed.headers.get('anthropic-organization-id'),
    );
    expect(overloaded.headers.get('anthropic-ratelimit-requests-limit')).toBe(
      passed.headers.get('anthropic-ratelimit-requests-limit'),
    );
    const ids = new Set([limited.headers.get('request-id'), overloaded.headers.get('request-id')]);
    expect(ids.size).toBe(2);
  });

  it('its own 502 (upstream unreachable) has a request-id', async () => {
    const closed = await countingUpstream();
    const url = closed.url;
    await cleanup.pop()?.(); // the upstream is gone: nothing listens on its port any more
    const p = await proxy(url, []);
    const res = await post(p.url);
    expect(res.status).toBe(502);
    const body = (await res.json()) as { request_id: string; error: { type: string } };
    expect(body.error.type).toBe('api_error');
    expect(res.headers.get('request-id')).toMatch(ID);
    expect(body.request_id).toBe(res.headers.get('request-id'));
  });
});

/**
 * The fake API's rate-limit headers, as the API sends them
 * (`anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-{limit,remaining,reset}`,
 * reset an RFC 3339 time), and its opt-in enforcement (a 429 with `retry-after`).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startFakeClaude } from '../../../src/testing/index.js';
import type { FakeClaude } from '../../../src/testing/types.js';

const BODY = JSON.stringify({
  model: 'claude-haiku-4-5',
  max_tokens: 8,
  messages: [{ role: 'user', content: 'hi' }],
});
const RESOURCES = ['requests', 'tokens', 'input-tokens', 'output-tokens'];

describe('fake API rate limits', () => {
  let fake: FakeClaude | undefined;
  afterEach(async () => {
    await fake?.close();
    fake = undefined;
  });

  const post = (f: FakeClaude) =>
    fetch(`${f.url}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: BODY,
    });

  it('sends all twelve headers, remaining counting down, reset an RFC 3339 time', async () => {
    fake = await startFakeClaude({ rateLimit: { requests: 5, windowMs: 30_000 } });
    const first = await post(fake);
    await first.text();
    for (const resource of RESOURCES) {
      for (const field of ['limit', 'remaining', 'reset']) {
        expect(first.headers.get(`anthropic-ratelimit-${resource}-${field}`)).not.toBeNull();
      }
    }
    expect(first.headers.get('anthropic-ratelimit-requests-remaining')).toBe('4');
    const reset = first.headers.get('anthropic-ratelimit-requests-reset') ?? '';
    expect(reset).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
    const inMs = Date.parse(reset) - Date.now();
    expect(inMs).toBeGreaterThan(25_000);
    expect(inMs).toBeLessThanOrEqual(30_000);
    const second = await post(fake);
    await second.text();
    expect(second.headers.get('anthropic-ratelimit-requests-remaining')).toBe('3');
  });

  it('does not enforce by default', async () => {
    fake = await startFakeClaude({ rateLimit: { requests: 1 } });
    for (let i = 0; i < 3; i++) expect((await post(fake)).status).toBe(200);
  });

  it('with enforce, answers 429 with retry-after once the window is spent', async () => {
    fake = await startFakeClaude({ rateLimit: { requests: 2, enforce: true, windowMs: 60_000 } });
    expect((await post(fake)).status).toBe(200);
    expect((await post(fake)).status).toBe(200);
    const limited = await post(fake);
    expect(limited.status).toBe(429);
    const body = (await limited.json()) as { error: { type: string } };
    expect(body.error.type).toBe('rate_limit_error');
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(50);
    expect(limited.headers.get('anthropic-ratelimit-requests-remaining')).toBe('0');
    // A scripted error still wins over the limit.
    fake.setScript([{ status: 529 }]);
    expect((await post(fake)).status).toBe(529);
  });
});

/**
 * Every example the docs include (`examples/*.ts`) runs as a user would run it —
 * `node --import tsx examples/<name>.ts`, in its own process, `claude-otel-middleware` resolved to
 * `src/` through tsconfig `paths` — against the fake API it starts itself (no key, no network), and
 * prints or records what the docs say it does.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { hasRedis, type RedisServer, startRedis } from '../helpers/redis.js';
import { clusterUnavailable, startRedisCluster } from '../helpers/redis-cluster.js';

const root = fileURLToPath(new URL('../../', import.meta.url));

async function run(
  example: string,
  env: Record<string, string> = {},
): Promise<{ stdout: string; stderr: string }> {
  const { ANTHROPIC_API_KEY: _key, ANTHROPIC_BASE_URL: _url, ...rest } = process.env;
  return await new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', `examples/${example}`],
      { cwd: root, env: { ...rest, ...env }, timeout: 60_000 },
      (error, stdout, stderr) => {
        if (error) reject(Object.assign(error, { stdout, stderr }));
        else resolve({ stdout, stderr });
      },
    );
  });
}

interface PrintedSpan {
  name: string;
  id: string;
  traceId: string;
  parent: string | undefined;
  block: string;
}

/** The spans `ConsoleSpanExporter` printed (util.inspect of each span, one top-level object each). */
function printedSpans(stdout: string): PrintedSpan[] {
  return stdout
    .split(/^\{$/m)
    .slice(1)
    .map((block) => ({
      name: /^ {2}name: '([^']+)'/m.exec(block)?.[1] as string,
      id: /^ {2}id: '([0-9a-f]{16})'/m.exec(block)?.[1] as string,
      traceId: /^ {2}traceId: '([0-9a-f]{32})'/m.exec(block)?.[1] as string,
      parent: /^ {2}parentSpanContext: \{[^}]*?spanId: '([0-9a-f]{16})'/m.exec(block)?.[1],
      block,
    }));
}

describe('examples', () => {
  it('quick-start.ts: prints the SDK call span and two attempt spans, children of it in one trace', async () => {
    const { stdout } = await run('quick-start.ts');
    const spans = printedSpans(stdout);
    const call = spans.find((s) => s.name === 'anthropic.messages.create');
    const attempts = spans.filter((s) => s.name === 'POST /v1/messages');
    expect(call).toBeDefined();
    expect(call?.parent).toBeUndefined();
    expect(attempts).toHaveLength(2);
    for (const attempt of attempts) {
      expect(attempt.parent).toBe(call?.id);
      expect(attempt.traceId).toBe(call?.traceId);
    }
    expect(attempts[0]?.block).toMatch(/'http.request.resend_count': 0,/);
    expect(attempts[0]?.block).toMatch(/'http.response.status_code': 529,/);
    expect(attempts[0]?.block).toMatch(/'error.type': 'overloaded_error'/);
    expect(attempts[1]?.block).toMatch(/'http.request.resend_count': 1,/);
    expect(attempts[1]?.block).toMatch(/'http.response.status_code': 200,/);
    expect(stdout).toMatch(/^answer: \S/m);
  });

  it('testing-fake-api.ts: prints 2 (the 529, then the SDK retry)', async () => {
    const { stdout } = await run('testing-fake-api.ts');
    expect(stdout).toBe('2\n');
  });

  it('resilience.ts: the primary region is down, the retry fails over and the secondary answers', async () => {
    const { stdout } = await run('resilience.ts');
    expect(stdout).toBe('answered by secondary (claude-sonnet-4-6)\nattempts: primary 1, secondary 1\n');
  });

  it('errors.ts: the API error first, then circuit_open from the open breaker, nothing more sent', async () => {
    const { stdout } = await run('errors.ts');
    const lines = stdout.trimEnd().split('\n');
    expect(lines[0]).toBe('call 1: 529 from the API');
    expect(lines[1]).toMatch(/^call 2: 503 ours: circuit_open, retry after \d+ ms$/);
    expect(lines[2]).toBe('requests sent: 2');
  });

  it('logs.ts: one pino line per event, joined to one trace', async () => {
    const { stdout } = await run('logs.ts');
    const lines = stdout
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const failed = lines.find((l) => l.event === 'anthropic.attempt.failed');
    const retry = lines.find((l) => l.event === 'anthropic.retry.scheduled');
    expect(failed).toMatchObject({
      level: 40,
      'http.response.status_code': 529,
      'error.type': 'overloaded_error',
    });
    expect(retry).toMatchObject({
      level: 30,
      'anthropic.retry.attempt': 1,
      'anthropic.retry.source': 'backoff',
    });
    expect(failed?.trace_id).toMatch(/^[0-9a-f]{32}$/);
    expect(retry?.trace_id).toBe(failed?.trace_id);
    expect(retry?.span_id).not.toBe(failed?.span_id);
    expect(stdout).not.toContain('test-key');
  });

  describe.skipIf(!hasRedis())('with redis-server', () => {
    let redis: RedisServer | undefined;
    it('fleet.ts: after store.ready() the first call already shares its state in Redis', async () => {
      redis = await startRedis();
      try {
        const { stdout, stderr } = await run('fleet.ts', { REDIS_URL: redis.url });
        expect(stdout).not.toMatch(/not reachable/);
        // Without `await store.ready()` the first call finds the store still connecting, and it
        // degrades: "Stream isn't writeable and enableOfflineQueue options is false". (A call
        // timing out past `timeoutMs` on a loaded machine degrades it too, for another reason.)
        expect(stderr).not.toMatch(/enableOfflineQueue/);
        // State written to Redis under the prefix. (Writes are behind the request, and each may
        // time out on a loaded machine, so which keys are there yet when it lists them varies.)
        const line = /^shared in Redis: (.+)$/m.exec(stdout)?.[1] ?? '';
        const keys = line.split(', ');
        expect(keys.length).toBeGreaterThan(0);
        for (const key of keys) expect(key).toMatch(/^myapp:claude:(breaker|budget|headroom|cache):/);
      } finally {
        await redis.stop();
      }
    });
  });

  it('otlp-setup.ts: setup() exports traces, metrics and logs of the call over OTLP/HTTP', async () => {
    const { stdout } = await run('otlp-setup.ts');
    expect(stdout).toBe('the collector received: POST /v1/logs, POST /v1/metrics, POST /v1/traces\n');
  });

  it("catch-errors.ts: tells the API's error, an open breaker and a broken stream apart (issue 15, item 21)", async () => {
    const { stdout } = await run('catch-errors.ts');
    expect(stdout.trim().split('\n')).toEqual([
      "the API's: 529",
      'ours: circuit_open (retry-after-ms set)',
      expect.stringMatching(
        /^ours: the stream broke \(connection_error\), not resumed \(continuation_failed:api_error\), [1-9]\d* characters kept$/,
      ),
    ]);
  });

  describe.skipIf(clusterUnavailable() !== undefined)('with a Redis Cluster', () => {
    it('fleet-cluster.ts: the store on an ioredis Cluster, each key on a master of the cluster', async () => {
      const rc = await startRedisCluster();
      try {
        const node = rc.nodes[1];
        const { stdout } = await run('fleet-cluster.ts', { REDIS_CLUSTER: node?.key ?? '' });
        const masters = new Set(rc.nodes.map((n) => n.key));
        const lines = stdout.trimEnd().split('\n');
        expect(lines.map((l) => l.split(' on ')[0])).toEqual(['breaker', 'budget', 'headroom']);
        for (const line of lines) expect(masters.has(line.split(' on ')[1] ?? '')).toBe(true);
      } finally {
        await rc.stop();
      }
    }, 60_000);
  });
});

/**
 * The CLI as a process: `demo` runs to the end and prints its summary; Ctrl-C (SIGINT) mid-run stops
 * it cleanly with the summary so far; a bad flag or scenario exits 2 with a message. Run from the
 * sources through tsx (the built `dist/cli/main.js` is the same code; `npm run demo` runs that one).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
// Nothing listens on port 9 (discard) on loopback: the demo reports no collector and goes on.
const env = { ...process.env, OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9', ANTHROPIC_API_KEY: '' };

function cli(args: string[]): {
  child: ChildProcess;
  done: Promise<{ code: number | null; out: string; err: string }>;
  out: () => string;
} {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: root, env });
  let out = '';
  let err = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    out += chunk.toString('utf8');
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    err += chunk.toString('utf8');
  });
  const done = new Promise<{ code: number | null; out: string; err: string }>((resolve) =>
    child.on('close', (code) => resolve({ code, out, err })),
  );
  return { child, done, out: () => out };
}

describe('the CLI process', () => {
  it('demo --duration 3 exits 0 with a summary', async () => {
    const { done } = cli(['demo', '--duration', '3', '--seed', '2', '--concurrency', '3']);
    const { code, out, err } = await done;
    expect(err).toBe('');
    expect(code).toBe(0);
    expect(out).toMatch(/OTLP: no collector at http:\/\/127\.0\.0\.1:9/);
    expect(out).toMatch(/\nSummary\n/);
    expect(out).toMatch(/requests\s+[1-9]/);
    expect(out).toMatch(/HTTP attempts\s+\d+\s+\(\d+\.\d\d per request\)/);
    expect(out).toMatch(/latency\s+p50 /);
    expect(out).toMatch(/The fake API received: primary \d+/);
    // No collector: a few of the run's own traces, as trees.
    expect(out).toMatch(/\nTraces of this run \(from the in-process span processor/);
    expect(out).toMatch(/\n {2}chat claude-\S+ {2}\(INTERNAL\)/);
    expect(out).toMatch(/\n {2}[├└]── POST \/v1\/messages {2}region=/);
  });

  it('SIGINT mid-run stops cleanly with the summary so far', async () => {
    const { child, done, out } = cli(['demo', '--duration', '60']);
    // Wait for the first progress line (printed every 2 s when stdout is not a terminal).
    await new Promise<void>((resolve) => {
      const check = (): void => {
        if (/requests \d+/.test(out())) resolve();
        else setTimeout(check, 50);
      };
      check();
    });
    child.kill('SIGINT');
    const result = await done;
    expect(result.code).toBe(0);
    expect(result.out).toMatch(/Summary \(stopped early: the summary so far\)/);
    expect(result.out).toMatch(/requests\s+[1-9]/);
  });

  it('bad input exits 2 with a message naming it; --real without a key refuses', async () => {
    const bad = await cli(['demo', '--concurrency', 'many']).done;
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/--concurrency must be an integer/);

    const dir = await mkdtemp(join(tmpdir(), 'chaos-'));
    const file = join(dir, 'bad.yaml');
    await writeFile(file, 'faults:\n  - rate: 1.5\n    fault: { status: 529 }\n');
    const scenario = await cli(['demo', '--scenario', file]).done;
    expect(scenario.code).toBe(2);
    expect(scenario.err).toMatch(/invalid scenario: .*bad\.yaml: faults\[0\]\.rate must be ≤ 1, got 1\.5/);

    const real = await cli(['demo', '--real']).done;
    expect(real.code).toBe(2);
    expect(real.err).toMatch(/needs an API key/);
    expect(real.err).toMatch(/ANTHROPIC_API_KEY/);
  });
});

describe('the CLI process with a collector', () => {
  it('exports the demo traces and metrics over OTLP/HTTP through setup() when a receiver answers', async () => {
    // A stand-in OTLP/HTTP receiver that records what it is sent.
    const received: Array<{ path: string; body: string }> = [];
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received.push({ path: req.url ?? '', body: Buffer.concat(chunks).toString('latin1') });
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{}');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    try {
      const child = spawn(
        process.execPath,
        ['--import', 'tsx', 'src/cli/main.ts', 'demo', '--duration', '2', '--scenario', 'overload'],
        { cwd: root, env: { ...env, OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}` } },
      );
      let out = '';
      child.stdout.on('data', (c: Buffer) => {
        out += c.toString('utf8');
      });
      const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
      expect(code).toBe(0);
      expect(out).toContain(`OTLP: exporting traces and metrics to http://127.0.0.1:${port}`);
      expect(out).toMatch(/\nSummary\n/);
      const traces = received.filter(
        (r) => r.path === '/v1/traces' && r.body.includes('claude-otel-middleware-demo'),
      );
      const metrics = received.filter(
        (r) => r.path === '/v1/metrics' && r.body.includes('claude-otel-middleware-demo'),
      );
      expect(traces.length).toBeGreaterThan(0);
      // Attempt spans, operation spans, and the SDK's own call spans (the Node SDK is registered globally).
      expect(traces.some((r) => r.body.includes('POST /v1/messages'))).toBe(true);
      expect(traces.some((r) => r.body.includes('chat claude-sonnet-4-6'))).toBe(true);
      expect(traces.some((r) => r.body.includes('anthropic.messages.create'))).toBe(true);
      expect(metrics.some((r) => r.body.includes('anthropic.client.attempts'))).toBe(true);
      // The summary still reads the library's telemetry (its own reader beside the OTLP one).
      expect(out).toMatch(/HTTP attempts\s+[1-9]/);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

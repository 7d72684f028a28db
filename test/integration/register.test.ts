/**
 * `claude-otel-middleware/register` in a real child process: the OpenTelemetry Node SDK exports the
 * application's spans, metrics and logs over OTLP/HTTP to a local receiver, with a default service name, and
 * flushes when the process ends by itself or by SIGTERM. `setup()` validates its options.
 */
import { spawn } from 'node:child_process';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { defaultServiceName, setup } from '../../src/setup.js';

/** The register module's exit bound (importing it would start an SDK in this process). */
const EXIT_FLUSH_TIMEOUT_MS = 5000;

const API_KEY = 'sk-ant-api03-TEST-SECRET-register-0a1b2c3d';

interface Received {
  readonly path: string;
  readonly contentType: string;
  readonly body: Buffer;
}

let receiver: Server;
let endpoint: string;
let received: Received[] = [];

beforeAll(async () => {
  receiver = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({
        path: req.url ?? '',
        contentType: String(req.headers['content-type']),
        body: Buffer.concat(chunks),
      });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => receiver.close(resolve));
});

beforeEach(() => {
  received = [];
});

interface Run {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stderr: string;
}

function runApp(mode: 'exit' | 'wait', env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', '--import', './src/register.ts', 'test/integration/fixtures/register-app.ts'],
      {
        env: {
          PATH: process.env.PATH ?? '',
          OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
          APP_API_KEY: API_KEY,
          APP_MODE: mode,
          ...env,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    child.stdout.on('data', (c: Buffer) => {
      if (c.toString().includes('ready')) child.kill('SIGTERM');
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve({ code, signal, stderr }));
  });
}

const paths = () => new Set(received.map((r) => r.path));
const bodies = (path: string) => Buffer.concat(received.filter((r) => r.path === path).map((r) => r.body));

describe('register', () => {
  it('exports traces and metrics over OTLP/HTTP (protobuf) and flushes when the process ends by itself', async () => {
    const run = await runApp('exit');
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(paths()).toContain('/v1/traces');
    expect(paths()).toContain('/v1/metrics');
    expect(received.every((r) => r.contentType === 'application/x-protobuf')).toBe(true);
    const traces = bodies('/v1/traces').toString('latin1');
    expect(traces).toContain('POST /v1/messages');
    expect(traces).toContain('claude-otel-middleware');
    // The default service name is the main script's name when npm does not run the app.
    expect(traces).toContain('register-app');
    expect(bodies('/v1/metrics').toString('latin1')).toContain('anthropic.client.attempts');
    // No secret leaves the process.
    for (const r of received) expect(r.body.toString('latin1')).not.toContain(API_KEY);
  });

  it('honours OTEL_SERVICE_NAME and OTEL_EXPORTER_OTLP_PROTOCOL=http/json', async () => {
    const run = await runApp('exit', {
      OTEL_SERVICE_NAME: 'checkout',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    });
    expect(run.code).toBe(0);
    const traces = received.filter((r) => r.path === '/v1/traces');
    expect(traces.length).toBeGreaterThan(0);
    const payload = JSON.parse(traces[0]?.body.toString() ?? '{}') as {
      resourceSpans: { resource: { attributes: { key: string; value: { stringValue?: string } }[] } }[];
    };
    const attributes = payload.resourceSpans[0]?.resource.attributes ?? [];
    expect(attributes.find((a) => a.key === 'service.name')?.value.stringValue).toBe('checkout');
  });

  it('flushes on SIGTERM and then ends the process as the signal would have', async () => {
    const run = await runApp('wait');
    expect(run.signal).toBe('SIGTERM');
    expect(paths()).toContain('/v1/traces');
    expect(bodies('/v1/traces').toString('latin1')).toContain('POST /v1/messages');
  });

  it('exports nothing with OTEL_SDK_DISABLED=true', async () => {
    const run = await runApp('exit', { OTEL_SDK_DISABLED: 'true' });
    expect(run.code).toBe(0);
    expect(received).toEqual([]);
  });
});

describe('setup()', () => {
  it('rejects invalid options with a TypeError naming the option', () => {
    expect(() => setup({ endpoint: 'not a url' })).toThrow(/endpoint/);
    expect(() => setup({ metricExportIntervalMs: 0 })).toThrow(/metricExportIntervalMs/);
    expect(() => setup({ serviceName: '' })).toThrow(/serviceName/);
  });

  it('derives a default service name from npm, then the main script', () => {
    expect(defaultServiceName({ npm_package_name: 'shop' }, ['node', '/srv/app.js'])).toBe('shop');
    expect(defaultServiceName({}, ['node', '/srv/worker.mjs'])).toBe('worker');
    expect(defaultServiceName({}, ['node', '/srv/index.js'])).toBe('claude-app');
    expect(defaultServiceName({}, ['node'])).toBe('claude-app');
  });
});

describe('register at exit, against a collector that accepts and never answers (item 23)', () => {
  it('the process still ends by itself within the exit bound, not after the exporters give up', async () => {
    const { createServer: createNetServer } = await import('node:net');
    const sockets = new Set<import('node:net').Socket>();
    const silent = createNetServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as AddressInfo).port;
    try {
      const started = Date.now();
      // Each export may wait 60 s for an answer: without our bound, the exit would take a minute or more.
      const run = await runApp('exit', {
        OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`,
        OTEL_EXPORTER_OTLP_TIMEOUT: '60000',
      });
      expect(run.code).toBe(0);
      expect(sockets.size).toBeGreaterThan(0);
      // Generous (a busy machine), and far below the exporters' own minute.
      expect(Date.now() - started).toBeLessThan(EXIT_FLUSH_TIMEOUT_MS + 15_000);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  }, 60_000);
});

/**
 * The log events as OTLP log records with `claude-otel-middleware/register`, in a real child
 * process: no pino logger, the events reach the collector endpoint (here a local receiver, OTLP/HTTP
 * JSON) through the LoggerProvider that register starts, each with the trace and span ids of an
 * exported span, and without the API key or the prompt.
 */
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';

const API_KEY = 'sk-ant-api03-TEST-SECRET-logs-register-9f8e7d6c';
const PROMPT = 'The confidential Nightingale memo, summarized';

interface KeyValue {
  key: string;
  value: { stringValue?: string; intValue?: string | number; doubleValue?: number };
}
interface LogRecord {
  eventName?: string;
  severityText?: string;
  traceId?: string;
  spanId?: string;
  attributes?: KeyValue[];
}
interface OtlpSpan {
  name: string;
  traceId: string;
  spanId: string;
}

let receiver: Server;
let endpoint: string;
const received: { path: string; body: string }[] = [];

beforeAll(async () => {
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ path: req.url ?? '', body: Buffer.concat(chunks).toString() });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => receiver.close(resolve));
});

function runApp(): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', '--import', './src/register.ts', 'test/integration/fixtures/logs-app.ts'],
      {
        env: {
          PATH: process.env.PATH ?? '',
          OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
          OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
          APP_API_KEY: API_KEY,
          APP_PROMPT: PROMPT,
        },
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, stderr }));
  });
}

const attribute = (record: LogRecord, key: string) => {
  const value = record.attributes?.find((a) => a.key === key)?.value;
  return value?.stringValue ?? (value?.intValue !== undefined ? Number(value.intValue) : value?.doubleValue);
};

it('sends the log events as OTLP log records tied to the exported spans', async () => {
  const run = await runApp();
  expect(run.stderr).toBe('');
  expect(run.code).toBe(0);
  const logs = received.filter((r) => r.path === '/v1/logs');
  expect(logs.length).toBeGreaterThan(0);
  const records: LogRecord[] = logs.flatMap((r) =>
    (
      JSON.parse(r.body) as {
        resourceLogs: { scopeLogs: { scope: { name: string }; logRecords: LogRecord[] }[] }[];
      }
    ).resourceLogs
      .flatMap((rl) => rl.scopeLogs)
      .filter((sl) => sl.scope.name === 'claude-otel-middleware')
      .flatMap((sl) => sl.logRecords),
  );
  const spans: OtlpSpan[] = received
    .filter((r) => r.path === '/v1/traces')
    .flatMap((r) =>
      (JSON.parse(r.body) as { resourceSpans: { scopeSpans: { spans: OtlpSpan[] }[] }[] }).resourceSpans
        .flatMap((rs) => rs.scopeSpans)
        .flatMap((ss) => ss.spans),
    );
  expect(records.map((r) => r.eventName)).toEqual([
    'anthropic.attempt.failed',
    'anthropic.retry.scheduled',
    'anthropic.attempt.succeeded',
  ]);
  const [failed, scheduled, succeeded] = records as [LogRecord, LogRecord, LogRecord];
  expect(failed.severityText).toBe('WARN');
  expect(attribute(failed, 'error.type')).toBe('overloaded_error');
  expect(attribute(failed, 'http.response.status_code')).toBe(529);
  expect(attribute(scheduled, 'anthropic.retry.source')).toBe('retry_after');
  expect(succeeded.severityText).toBe('DEBUG');
  const byId = new Map(spans.map((s) => [s.spanId, s]));
  const [first, second] = spans.filter((s) => s.name === 'POST /v1/messages');
  expect(failed.spanId).toBe(first?.spanId);
  expect(succeeded.spanId).toBe(second?.spanId);
  expect(byId.get(scheduled.spanId ?? '')?.name).toBe('chat claude-sonnet-4-6');
  for (const record of records) expect(record.traceId).toBe(first?.traceId);
  for (const r of received) {
    expect(r.body).not.toContain('TEST-SECRET');
    if (r.path === '/v1/logs') expect(r.body).not.toContain('Nightingale');
  }
});

// Exporting over OTLP/HTTP with setup(): the OpenTelemetry Node SDK with OTLP exporters for traces,
// metrics and logs, configured in code. A tiny HTTP server stands in for your collector here and
// prints what it received; in your app, point `endpoint` at your collector (or leave it out and
// set OTEL_EXPORTER_OTLP_ENDPOINT).
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import Anthropic from '@anthropic-ai/sdk';
import { createClaudeFetch } from 'claude-otel-middleware';
import { setup } from 'claude-otel-middleware/setup';
import { startFakeClaude } from 'claude-otel-middleware/testing';

const received = new Set<string>();
const collector = createServer((request, response) => {
  received.add(`${request.method} ${request.url}`);
  request
    .resume()
    .on('end', () => response.writeHead(200, { 'content-type': 'application/x-protobuf' }).end());
});
await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve));
const endpoint = `http://127.0.0.1:${(collector.address() as AddressInfo).port}`;

const otel = setup({ serviceName: 'checkout', endpoint, metricExportIntervalMs: 10_000 });

const fake = await startFakeClaude({ script: [{ status: 529 }, null] }); // in your app: the real API
const client = new Anthropic({
  apiKey: 'test-key',
  baseURL: fake.url,
  fetch: createClaudeFetch({ retry: true }),
});
await client.messages.create({
  model: 'claude-sonnet-4-6',
  max_tokens: 64,
  messages: [{ role: 'user', content: 'hi' }],
});

// … on shutdown: the last spans, metrics and log records are exported, then the SDK stops.
await otel.shutdown();
console.log(`the collector received: ${[...received].sort().join(', ')}`);
await fake.close();
collector.closeAllConnections();
collector.close();

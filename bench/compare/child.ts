/**
 * One variant of `bench:compare` in its own process: `child.ts <variant> overhead` serves timed
 * tasks over IPC (non-streamed requests at a concurrency, long streams) and answers with its own CPU
 * and wall time; `memory <url>` consumes one huge stream and prints its memory growth; `telemetry`
 * runs the coverage workload against an in-process fake and sends what the variant exported.
 */
import type Anthropic from '@anthropic-ai/sdk';
import { context, metrics, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import {
  BatchSpanProcessor,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
  TracerProvider,
} from '@opentelemetry/sdk-trace';
import type { Fault } from '../../src/testing/index.js';
import { scaledClock } from '../resilience/harness.js';
import { REQUEST_MODEL } from '../resilience/scenarios.js';
import { CountingExporter, measure, median, Reader, retainedBytes } from '../shared.js';
import type { Capture, CapturedSpan, Phase, PhaseCapture } from './coverage.js';
import { setupVariant, VARIANTS, type VariantName } from './variants.js';

export type Task =
  | { kind: 'nonstream'; url: string; concurrency: number; requests: number }
  | { kind: 'stream'; url: string; streams: number };

export interface TaskResult {
  wallMs: number;
  cpuUs: number;
}

export interface MemoryResult {
  /** Median of the retained-memory samples (heap + array buffers after a full GC), MB. */
  retainedMb: number;
  /** Peak RSS growth, MB. */
  peakMb: number;
  bytes: number;
  events: number;
}

const variant = process.argv[2] as VariantName;
const mode = process.argv[3];
if (!VARIANTS.includes(variant)) throw new TypeError(`unknown variant ${process.argv[2]}`);

const params = {
  model: REQUEST_MODEL,
  max_tokens: 256,
  messages: [{ role: 'user' as const, content: 'Summarise the plot of Hamlet in two sentences.' }],
};

// What an application's OpenTelemetry setup registers (the SDK for Node does both).
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
propagation.setGlobalPropagator(new W3CTraceContextPropagator());

async function overhead(): Promise<void> {
  const exporter = new CountingExporter();
  const tracerProvider = new TracerProvider({
    spanProcessors: [new BatchSpanProcessor({ exporter, maxQueueSize: 65_536, scheduledDelayMillis: 200 })],
  });
  const meterProvider = new MeterProvider({ readers: [new Reader()] });
  trace.setGlobalTracerProvider(tracerProvider);
  metrics.setGlobalMeterProvider(meterProvider);
  const runtime = await setupVariant(variant, { tracerProvider, meterProvider });
  const clients = new Map<string, Anthropic>();
  const clientFor = (url: string): Anthropic => {
    let client = clients.get(url);
    if (!client) {
      client = runtime.client(url);
      clients.set(url, client);
    }
    return client;
  };
  const run = async (task: Task): Promise<void> => {
    const client = clientFor(task.url);
    if (task.kind === 'nonstream') {
      let next = 0;
      const worker = async () => {
        while (next++ < task.requests)
          await runtime.run((signal) => client.messages.create(params, { signal }));
      };
      await Promise.all(Array.from({ length: task.concurrency }, worker));
      return;
    }
    for (let i = 0; i < task.streams; i++) {
      await runtime.run(async (signal) => {
        const stream = await client.messages.create(
          { ...params, max_tokens: 64_000, stream: true },
          { signal },
        );
        for await (const _event of stream) {
          // consume every event
        }
      });
    }
  };
  process.on('message', (message: { task?: Task; exit?: boolean }) => {
    if (message.exit) {
      void tracerProvider.shutdown().then(() => process.exit(0));
      return;
    }
    const task = message.task;
    if (!task) return;
    globalThis.gc?.();
    void measure(() => run(task)).then(
      (sample) => process.send?.({ result: sample satisfies TaskResult }),
      (error: unknown) => process.send?.({ error: String(error) }),
    );
  });
  process.send?.({ ready: true });
}

/** Memory growth while one huge stream is consumed through the SDK's iterator. */
async function memory(url: string): Promise<void> {
  const tracerProvider = new TracerProvider({
    spanProcessors: [new BatchSpanProcessor({ exporter: new CountingExporter() })],
  });
  const meterProvider = new MeterProvider({ readers: [new Reader()] });
  trace.setGlobalTracerProvider(tracerProvider);
  metrics.setGlobalMeterProvider(meterProvider);
  const runtime = await setupVariant(variant, { tracerProvider, meterProvider });
  const client = runtime.client(url);
  // Warm up the connection and the code paths on a small request first.
  await runtime.run((signal) => client.models.list({}, { signal }));
  const baseRetained = retainedBytes();
  const base = process.memoryUsage().rss;
  let peak = base;
  const samples: number[] = [];
  let events = 0;
  let bytes = 0;
  await runtime.run(async (signal) => {
    const stream = await client.messages.create({ ...params, max_tokens: 64_000, stream: true }, { signal });
    for await (const event of stream) {
      if (event.type === 'content_block_delta' && event.delta.type === 'text_delta')
        bytes += event.delta.text.length;
      if (++events % 64 === 0) peak = Math.max(peak, process.memoryUsage().rss);
      if (events % 2048 === 0) samples.push(retainedBytes() - baseRetained);
    }
  });
  peak = Math.max(peak, process.memoryUsage().rss);
  await tracerProvider.forceFlush();
  const result: MemoryResult = {
    retainedMb: median(samples) / 1024 / 1024,
    peakMb: (peak - base) / 1024 / 1024,
    bytes,
    events,
  };
  process.send?.({ result }, () => process.exit(0));
}

function captureSpan(span: ReadableSpan): CapturedSpan {
  return {
    name: span.name,
    attributes: { ...span.attributes },
    events: span.events.map((e) => ({ name: e.name, attributes: { ...(e.attributes ?? {}) } })),
    status: span.status.code,
  };
}

/** The coverage workload (see {@link Phase}) against an in-process fake; sends the {@link Capture}. */
async function telemetry(label: string): Promise<void> {
  const testing = (await import(
    new URL('../../dist/testing/index.js', import.meta.url).href
  )) as typeof import('../../src/testing/index.js');
  const exporter = new InMemorySpanExporter();
  const tracerProvider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
  const reader = new Reader();
  const meterProvider = new MeterProvider({ readers: [reader] });
  trace.setGlobalTracerProvider(tracerProvider);
  metrics.setGlobalMeterProvider(meterProvider);
  // Policy time runs 100× faster than real time (backoff, breaker open durations), as in the
  // resilience benchmark; the SDK's own backoff stays real.
  const scale = 0.01;
  const runtime = await setupVariant(variant, {
    tracerProvider,
    meterProvider,
    clock: scaledClock(scale),
    timeScale: scale,
  });
  let current: Phase = 'plain';
  const attempts = new Map<Phase, number>();
  const traceparents = new Map<Phase, number>();
  const fake = await testing.startFakeClaude({
    seed: 1,
    faultFor: (request): Fault | undefined => {
      if (request.path !== '/v1/messages') return undefined;
      const attempt = attempts.get(current) ?? 0;
      attempts.set(current, attempt + 1);
      if (request.headers.traceparent) traceparents.set(current, (traceparents.get(current) ?? 0) + 1);
      const model = (request.body as { model?: unknown } | undefined)?.model;
      if (current === 'retry-after' && attempt === 0) return { status: 429, headers: { 'retry-after': '1' } };
      if (current === 'overload' && model === REQUEST_MODEL) return { status: 529 };
      return undefined;
    },
  });
  const client = runtime.client(fake.url);
  const phases: PhaseCapture[] = [];
  const call = async (stream: boolean): Promise<void> => {
    try {
      await runtime.run(async (signal) => {
        if (!stream) return void (await client.messages.create(params, { signal }));
        const events = await client.messages.create({ ...params, stream: true }, { signal });
        for await (const _event of events) {
          // consume every event
        }
      });
    } catch {
      // Failed calls are part of the workload (the overload phase without a fallback).
    }
  };
  const plan: Array<[Phase, number, boolean]> = [
    ['plain', 3, false],
    ['retry-after', 1, false],
    ['stream', 1, true],
    ['overload', 6, false],
  ];
  for (const [name, calls, stream] of plan) {
    current = name;
    for (let i = 0; i < calls; i++) await call(stream);
    // Attempt spans end when their bodies do; give the last ones a moment.
    await new Promise((resolve) => setTimeout(resolve, 50));
    await tracerProvider.forceFlush();
    phases.push({
      phase: name,
      calls,
      attempts: attempts.get(name) ?? 0,
      traceparents: traceparents.get(name) ?? 0,
      spans: exporter.getFinishedSpans().map(captureSpan),
    });
    exporter.reset();
  }
  const collected = await reader.collect();
  const capture: Capture = {
    variant: label,
    phases,
    metrics: collected.resourceMetrics.scopeMetrics.flatMap((scope) =>
      scope.metrics.map((m) => ({
        name: m.descriptor.name,
        points: m.dataPoints.length,
        attributeKeys: [...new Set(m.dataPoints.flatMap((p) => Object.keys(p.attributes)))],
      })),
    ),
  };
  await fake.close();
  process.send?.({ result: capture }, () => process.exit(0));
}

if (mode === 'overhead') await overhead();
else if (mode === 'memory') await memory(process.argv[4] ?? '');
else if (mode === 'telemetry') await telemetry(process.argv[4] ?? variant);
else throw new TypeError(`unknown mode ${mode}`);

/**
 * Telemetry back-pressure benchmark: what a down or slow collector does to the application.
 *
 * The real OpenTelemetry Node SDK pieces a user would wire (BatchSpanProcessor + OTLPTraceExporter,
 * PeriodicExportingMetricReader + OTLPMetricExporter, both OTLP/HTTP at their default limits) are
 * pointed at:
 *   - baseline: an exporter that succeeds at once, in process (telemetry that costs no network),
 *   - healthy:  a local collector that answers 200 at once,
 *   - down:     a port nobody listens on (connection refused),
 *   - slow:     a collector that answers after SLOW_MS (5 s by default),
 *   - hung:     a collector that accepts and never answers (the exporter's own timeout ends it),
 * and the application's requests (the Anthropic SDK over createClaudeFetch, non-streamed, against the
 * fake API in another process) are timed in alternating rounds against the baseline in the same
 * process: median and p99 latency, heap and RSS growth, and what telemetry was lost, counted —
 * spans dropped by the BatchSpanProcessor's queue limit (its `diag` warnings, plus the count not yet
 * reported at the end) and spans and metric exports that failed (a counting wrapper around each
 * exporter).
 *
 *   npm run bench:backpressure
 *   BENCH_ROUNDS=5 BENCH_REQUESTS=2000 SLOW_MS=5000 npm run bench:backpressure
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import Anthropic from '@anthropic-ai/sdk';
import { type ExportResult, ExportResultCode } from '@opentelemetry/core';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import {
  AggregationTemporality,
  type DataPoint,
  type InstrumentType,
  MeterProvider,
  MetricReader,
  PeriodicExportingMetricReader,
  type PushMetricExporter,
  type ResourceMetrics,
} from '@opentelemetry/sdk-metrics';
import {
  BatchSpanProcessor,
  type ReadableSpan,
  type Span,
  type SpanExporter,
  type SpanProcessor,
  TracerProvider,
} from '@opentelemetry/sdk-trace';

// The built package, as users run it (`npm run bench:backpressure` builds first). Typed from the sources.
const { createClaudeFetch } = (await import(
  new URL('../dist/index.js', import.meta.url).href
)) as typeof import('../src/index.js');

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 2000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16);
const SLOW_MS = Number(process.env.SLOW_MS ?? 5000);
/** The metric reader's interval: short, so that a slow collector is hit many times per scenario. */
const METRIC_INTERVAL_MS = 1000;
/** How long the end of a scenario may wait for exports still in flight before giving up on them. */
const DRAIN_MS = 12_000;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------------------------
// Child processes: the fake API, and the collectors.

async function startChild(args: string[]): Promise<{ line: string; stop(): void }> {
  const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  const line = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const nl = out.indexOf('\n');
      if (nl !== -1) resolve(out.slice(0, nl).trim());
    });
    child.once('exit', (code) => reject(new Error(`child exited (${code})`)));
  });
  return { line, stop: () => child.stdin.end() };
}

/** A collector in its own process: `fast` answers 200 at once, `slow` after `delayMs`, `hung` never. */
const COLLECTOR = `
import { createServer } from 'node:http';
const [mode, delay] = process.argv.slice(1);
let requests = 0;
const server = createServer((req, res) => {
  requests++;
  req.resume();
  req.on('end', () => {
    if (mode === 'hung') return;
    const answer = () => { res.writeHead(200, { 'content-type': 'application/json' }); res.end('{}'); };
    if (mode === 'slow') setTimeout(answer, Number(delay)); else answer();
  });
});
server.keepAliveTimeout = 60_000;
server.requestTimeout = 0;
server.listen(0, '127.0.0.1', () => process.stdout.write('http://127.0.0.1:' + server.address().port + '\\n'));
process.stdin.resume();
process.stdin.on('end', () => { process.stderr.write(''); process.exit(0); });
`;

function startCollector(mode: 'fast' | 'slow' | 'hung') {
  return startChild(['--input-type=module', '-e', COLLECTOR, mode, String(SLOW_MS)]);
}

/** A loopback port with nothing listening on it. */
async function deadUrl(): Promise<string> {
  const { createServer } = await import('node:net');
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

// ---------------------------------------------------------------------------------------------
// Counting what telemetry was lost.

interface Loss {
  ended: number;
  exported: number;
  failedSpans: number;
  failedSpanExports: number;
  metricExports: number;
  failedMetricExports: number;
  /** Metric exports that finished (either way) after the reader had given up on them. */
  lateMetricExports: number;
}

const newLoss = (): Loss => ({
  ended: 0,
  exported: 0,
  failedSpans: 0,
  failedSpanExports: 0,
  metricExports: 0,
  failedMetricExports: 0,
  lateMetricExports: 0,
});

/** Counts spans exported and spans in failed exports. */
class CountingSpanExporter implements SpanExporter {
  constructor(
    private readonly inner: SpanExporter,
    private readonly loss: Loss,
  ) {}
  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    this.inner.export(spans, (result) => {
      if (result.code === ExportResultCode.SUCCESS) this.loss.exported += spans.length;
      else {
        this.loss.failedSpans += spans.length;
        this.loss.failedSpanExports++;
      }
      done(result);
    });
  }
  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }
  forceFlush(): Promise<void> {
    return this.inner.forceFlush?.() ?? Promise.resolve();
  }
}

/** Counts metric exports and failed ones. */
class CountingMetricExporter implements PushMetricExporter {
  constructor(
    private readonly inner: PushMetricExporter,
    private readonly loss: Loss,
  ) {}
  export(metrics: ResourceMetrics, done: (result: ExportResult) => void): void {
    this.loss.metricExports++;
    const started = performance.now();
    this.inner.export(metrics, (result) => {
      if (result.code !== ExportResultCode.SUCCESS) this.loss.failedMetricExports++;
      else if (performance.now() - started > METRIC_INTERVAL_MS) this.loss.lateMetricExports++;
      done(result);
    });
  }
  forceFlush(): Promise<void> {
    return this.inner.forceFlush();
  }
  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }
  selectAggregationTemporality(type: InstrumentType): AggregationTemporality {
    return this.inner.selectAggregationTemporality?.(type) ?? AggregationTemporality.CUMULATIVE;
  }
}

/** An exporter that succeeds at once (the baseline's). */
class NullSpanExporter implements SpanExporter {
  export(_spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    done({ code: ExportResultCode.SUCCESS });
  }
  async shutdown(): Promise<void> {}
}
class NullMetricExporter implements PushMetricExporter {
  export(_metrics: ResourceMetrics, done: (result: ExportResult) => void): void {
    done({ code: ExportResultCode.SUCCESS });
  }
  async forceFlush(): Promise<void> {}
  async shutdown(): Promise<void> {}
}

/** Counts ended spans (before the batch processor, which may drop them). */
class EndCounter implements SpanProcessor {
  constructor(private readonly loss: Loss) {}
  onStart(_span: Span): void {}
  onEnd(): void {
    this.loss.ended++;
  }
  async forceFlush(): Promise<void> {}
  async shutdown(): Promise<void> {}
}

/** A metric reader collected on demand (the span processor's own metrics). */
class OnDemandReader extends MetricReader {
  protected override async onShutdown(): Promise<void> {}
  protected override async onForceFlush(): Promise<void> {}
}

/**
 * The BatchSpanProcessor's self-observability metrics (`selfObsMeterProvider`):
 * `otel.sdk.processor.span.processed` with `error.type` `queue_full` counts the spans its queue
 * limit dropped (other error types: spans whose export failed), and `otel.sdk.processor.span.queue.size`
 * is the queue's length now.
 */
async function processorState(
  reader: OnDemandReader,
): Promise<{ queueFull: number; failed: number; queue: number }> {
  const { resourceMetrics } = await reader.collect();
  let queueFull = 0;
  let failed = 0;
  let queue = 0;
  for (const scope of resourceMetrics.scopeMetrics) {
    for (const metric of scope.metrics) {
      for (const point of metric.dataPoints as DataPoint<number>[]) {
        if (metric.descriptor.name === 'otel.sdk.processor.span.processed') {
          const error = point.attributes['error.type'];
          if (error === 'queue_full') queueFull += point.value;
          else if (error !== undefined) failed += point.value;
        } else if (metric.descriptor.name === 'otel.sdk.processor.span.queue.size') {
          queue += point.value;
        }
      }
    }
  }
  return { queueFull, failed, queue };
}

// ---------------------------------------------------------------------------------------------
// Scenarios.

interface Telemetry {
  name: string;
  loss: Loss;
  tracerProvider: TracerProvider;
  meterProvider: MeterProvider;
  bsp: BatchSpanProcessor;
  /** The span processor's own metrics. */
  selfObs: OnDemandReader;
  /** The longest the span queue was, sampled while the rounds ran. */
  maxQueue: number;
}

const MAX_QUEUE_SIZE = 2048; // the BatchSpanProcessor's default, written out for the table

function telemetry(name: string, endpoint: string | undefined): Telemetry {
  const loss = newLoss();
  const selfObs = new OnDemandReader();
  const spanExporter =
    endpoint === undefined ? new NullSpanExporter() : new OTLPTraceExporter({ url: `${endpoint}/v1/traces` });
  const metricExporter =
    endpoint === undefined
      ? new NullMetricExporter()
      : new OTLPMetricExporter({ url: `${endpoint}/v1/metrics` });
  // The defaults, written out: queue 2048 spans, batches of 512, every 5 s, 30 s export timeout.
  const bsp = new BatchSpanProcessor({
    exporter: new CountingSpanExporter(spanExporter, loss),
    maxQueueSize: MAX_QUEUE_SIZE,
    maxExportBatchSize: 512,
    scheduledDelayMillis: 5000,
    exportTimeoutMillis: 30_000,
    selfObsMeterProvider: new MeterProvider({ readers: [selfObs] }),
  });
  const tracerProvider = new TracerProvider({
    spanProcessors: [new EndCounter(loss), bsp],
  });
  const meterProvider = new MeterProvider({
    readers: [
      new PeriodicExportingMetricReader({
        exporter: new CountingMetricExporter(metricExporter, loss),
        exportIntervalMillis: METRIC_INTERVAL_MS,
        exportTimeoutMillis: METRIC_INTERVAL_MS,
      }),
    ],
  });
  return { name, loss, tracerProvider, meterProvider, bsp, selfObs, maxQueue: 0 };
}

// ---------------------------------------------------------------------------------------------
// Measuring.

interface Round {
  latencies: number[];
  wallMs: number;
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i] as number;
}
const median = (values: number[]) =>
  quantile(
    [...values].sort((a, b) => a - b),
    0.5,
  );

const params = {
  model: 'claude-sonnet-4-6',
  max_tokens: 256,
  messages: [{ role: 'user' as const, content: 'Summarise the plot of Hamlet in two sentences.' }],
};

async function round(client: Anthropic): Promise<Round> {
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  const worker = async () => {
    while (next++ < REQUESTS) {
      const t0 = performance.now();
      await client.messages.create(params);
      latencies.push(performance.now() - t0);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return { latencies: latencies.sort((a, b) => a - b), wallMs: performance.now() - started };
}

/** Samples heap and RSS while `run` goes, returning the peaks. */
async function sampled<T>(
  t: Telemetry,
  run: () => Promise<T>,
): Promise<{ value: T; peakHeap: number; peakRss: number }> {
  let peakHeap = 0;
  let peakRss = 0;
  const sample = () => {
    const m = process.memoryUsage();
    peakHeap = Math.max(peakHeap, m.heapUsed);
    peakRss = Math.max(peakRss, m.rss);
    void processorState(t.selfObs).then((state) => {
      t.maxQueue = Math.max(t.maxQueue, state.queue);
    });
  };
  const timer = setInterval(sample, 50);
  try {
    const value = await run();
    sample();
    return { value, peakHeap, peakRss };
  } finally {
    clearInterval(timer);
  }
}

const MB = 1024 * 1024;
const mb = (bytes: number) => `${bytes >= 0 ? '+' : ''}${(bytes / MB).toFixed(1)} MB`;
const ms = (v: number) => `${v.toFixed(2)} ms`;
const pct = (ratio: number) => `${ratio >= 1 ? '+' : ''}${((ratio - 1) * 100).toFixed(1)} %`;

function gc(): void {
  globalThis.gc?.();
  globalThis.gc?.();
}

async function main(): Promise<void> {
  const fake = await startChild([
    '--import',
    'tsx',
    fileURLToPath(new URL('./fake-server.ts', import.meta.url)),
    JSON.stringify({ seed: 1 }),
  ]);
  const collectors = {
    fast: await startCollector('fast'),
    slow: await startCollector('slow'),
    hung: await startCollector('hung'),
  };
  const clientFor = (t: Telemetry) =>
    new Anthropic({
      apiKey: 'bench-key',
      baseURL: fake.line,
      maxRetries: 0,
      fetch: createClaudeFetch({ tracerProvider: t.tracerProvider, meterProvider: t.meterProvider }),
    });

  const baseline = telemetry('baseline (in-process exporter, always succeeds)', undefined);
  const scenarios = [
    // A/A: the baseline's setup on both sides, to show what noise alone gives on this machine.
    telemetry('A/A noise floor: a second in-process exporter', undefined),
    telemetry('healthy collector (answers at once)', collectors.fast.line),
    telemetry('collector down (connection refused)', await deadUrl()),
    telemetry(`slow collector (answers after ${SLOW_MS / 1000} s)`, collectors.slow.line),
    telemetry('hung collector (never answers)', collectors.hung.line),
  ];
  const baseClient = clientFor(baseline);
  // Warm-up: connections, JIT, the SDK's first-call costs.
  await round(baseClient);

  const rows: string[][] = [];
  const lossRows: string[][] = [];
  const memRows: string[][] = [];
  for (const scenario of scenarios) {
    const client = clientFor(scenario);
    await round(client);
    gc();
    const before = process.memoryUsage();
    const base: Round[] = [];
    const ours: Round[] = [];
    const { peakHeap, peakRss } = await sampled(scenario, async () => {
      for (let r = 0; r < ROUNDS; r++) {
        if (r % 2 === 0) {
          base.push(await round(baseClient));
          ours.push(await round(client));
        } else {
          ours.push(await round(client));
          base.push(await round(baseClient));
        }
      }
    });
    gc();
    const after = process.memoryUsage();
    const p50 = (rs: Round[]) => median(rs.map((r) => quantile(r.latencies, 0.5)));
    const p99 = (rs: Round[]) => median(rs.map((r) => quantile(r.latencies, 0.99)));
    // Each round's ratio to the baseline round next to it, then the median: slow drifts of the
    // machine's load cancel out better than in a ratio of medians.
    const paired = (q: number) =>
      median(ours.map((r, i) => quantile(r.latencies, q) / quantile(base[i]?.latencies ?? [], q)));
    const thr = (rs: Round[]) => median(rs.map((r) => (REQUESTS / r.wallMs) * 1000));
    rows.push([
      scenario.name,
      `${ms(p50(base))} / ${ms(p50(ours))}`,
      pct(paired(0.5)),
      `${ms(p99(base))} / ${ms(p99(ours))}`,
      pct(paired(0.99)),
      `${thr(base).toFixed(0)} / ${thr(ours).toFixed(0)}`,
    ]);
    memRows.push([
      scenario.name,
      mb(peakHeap - before.heapUsed),
      mb(after.heapUsed - before.heapUsed),
      mb(peakRss - before.rss),
      mb(after.rss - before.rss),
    ]);
    // The end: give exports in flight a bounded time, then count what never made it.
    const loss = scenario.loss;
    await Promise.race([scenario.tracerProvider.forceFlush().catch(() => undefined), sleep(DRAIN_MS)]);
    const state = await processorState(scenario.selfObs);
    const lost = loss.ended - loss.exported;
    lossRows.push([
      scenario.name,
      String(loss.ended),
      String(loss.exported),
      String(state.queueFull),
      `${loss.failedSpans} (${loss.failedSpanExports} exports)`,
      String(lost - state.queueFull - loss.failedSpans),
      String(scenario.maxQueue),
      `${loss.failedMetricExports} / ${loss.lateMetricExports} / ${loss.metricExports}`,
    ]);
    void scenario.tracerProvider.shutdown().catch(() => undefined);
    void scenario.meterProvider.shutdown().catch(() => undefined);
  }

  const table = (header: string[], body: string[][]) => {
    const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => (r[i] ?? '').length)));
    const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ')} |`;
    return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...body.map(line)].join(
      '\n',
    );
  };
  const cpus = (await import('node:os')).cpus().length;
  console.log(
    `\nTelemetry back-pressure: ${ROUNDS} alternating rounds of ${REQUESTS} non-streamed requests ` +
      `(concurrency ${CONCURRENCY}) per scenario vs the baseline, Node ${process.version}, ${cpus} CPUs. ` +
      `BatchSpanProcessor maxQueueSize ${MAX_QUEUE_SIZE}, batch 512, every 5 s; metrics every ${METRIC_INTERVAL_MS} ms.\n`,
  );
  console.log(
    'Latency (baseline / scenario: medians over rounds; Δ: median of each round against the baseline ' +
      'round beside it) and throughput (req/s)\n',
  );
  console.log(table(['collector', 'p50', 'Δ p50', 'p99', 'Δ p99', 'req/s'], rows));
  console.log('\nMemory (vs the start of the scenario; peak while running, and after GC at the end)\n');
  console.log(table(['collector', 'heap peak', 'heap after', 'RSS peak', 'RSS after'], memRows));
  console.log(
    `\nTelemetry lost, counted (after the rounds, exports in flight get ${DRAIN_MS / 1000} s to finish)\n`,
  );
  console.log(
    table(
      [
        'collector',
        'spans ended',
        'exported',
        'dropped (queue full)',
        'in failed exports',
        'not exported yet',
        'max queued',
        'metric exports failed / late / all',
      ],
      lossRows,
    ),
  );
  fake.stop();
  for (const c of Object.values(collectors)) c.stop();
  await Promise.race([baseline.tracerProvider.shutdown(), sleep(2000)]);
  process.exit(0);
}

await main();

/**
 * Overhead benchmark: bare fetch vs createClaudeFetch (instrumentation only, with a real
 * OpenTelemetry SDK recording every span and metric), against the fake Claude API on loopback, in one
 * process, in alternating rounds (A B B A …). Prints medians and ratios against the goals.
 *
 *   npm run bench                 # all scenarios
 *   BENCH_ROUNDS=9 npm run bench  # more rounds
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { context, metrics, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import {
  BatchSpanProcessor,
  type ReadableSpan,
  type SpanExporter,
  TracerProvider,
} from '@opentelemetry/sdk-trace';

// The built package, as users run it (`npm run bench` builds first): the TypeScript loader's helpers
// would otherwise be measured as the library's cost. Typed from the sources.
const { createClaudeFetch } = (await import(
  new URL('../dist/index.js', import.meta.url).href
)) as typeof import('../src/index.js');

type FakeOptions = NonNullable<Parameters<typeof import('../src/testing/index.js').startFakeClaude>[0]>;

/** Starts the fake API in a child process (its CPU is not the client's). */
async function startFake(options: FakeOptions): Promise<{ url: string; close(): Promise<void> }> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', fileURLToPath(new URL('./fake-server.ts', import.meta.url)), JSON.stringify(options)],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const line = out.split('\n')[0];
      if (out.includes('\n') && line) resolve(line.trim());
    });
    child.once('exit', (code) => reject(new Error(`fake server exited with ${code}`)));
  });
  return {
    url,
    close: () =>
      new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.stdin.end();
      }),
  };
}

type Fetch = (input: string, init?: RequestInit) => Promise<Response>;

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 1500);
const CONCURRENCY = 32;

/** Counts spans and drops them: the exporter's own cost is not ours to measure. */
class CountingExporter implements SpanExporter {
  count = 0;
  export(spans: ReadableSpan[], done: (result: { code: 0 }) => void): void {
    this.count += spans.length;
    done({ code: 0 });
  }
  async shutdown(): Promise<void> {}
  async forceFlush(): Promise<void> {}
}

class Reader extends MetricReader {
  protected override async onShutdown(): Promise<void> {}
  protected override async onForceFlush(): Promise<void> {}
}

const exporter = new CountingExporter();
const tracerProvider = new TracerProvider({
  spanProcessors: [new BatchSpanProcessor({ exporter, maxQueueSize: 65_536, scheduledDelayMillis: 200 })],
});
const reader = new Reader();
const meterProvider = new MeterProvider({ readers: [reader] });
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
trace.setGlobalTracerProvider(tracerProvider);
metrics.setGlobalMeterProvider(meterProvider);

const bare: Fetch = (input, init) => fetch(input, init);
const ours: Fetch = createClaudeFetch();

const headers = {
  'content-type': 'application/json',
  'x-api-key': 'bench-key',
  'anthropic-version': '2023-06-01',
};

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

interface Sample {
  wallMs: number;
  cpuUs: number;
}

async function measure(fn: () => Promise<void>): Promise<Sample> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await fn();
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  return { wallMs, cpuUs: cpu.user + cpu.system };
}

/** Runs `a` and `b` in alternating rounds (A B, B A, …) after one warm-up each. */
async function alternate(
  a: () => Promise<void>,
  b: () => Promise<void>,
): Promise<{ a: Sample[]; b: Sample[] }> {
  await a();
  await b();
  const out = { a: [] as Sample[], b: [] as Sample[] };
  for (let round = 0; round < ROUNDS; round++) {
    globalThis.gc?.();
    if (round % 2 === 0) {
      out.a.push(await measure(a));
      out.b.push(await measure(b));
    } else {
      out.b.push(await measure(b));
      out.a.push(await measure(a));
    }
  }
  return out;
}

const rows: string[][] = [];
const verdicts: string[] = [];

function report(
  name: string,
  unit: string,
  samples: { a: Sample[]; b: Sample[] },
  per: number,
): { ratio: number; cpuDeltaUs: number } {
  const wallA = median(samples.a.map((s) => s.wallMs));
  const wallB = median(samples.b.map((s) => s.wallMs));
  const cpuA = median(samples.a.map((s) => s.cpuUs));
  const cpuB = median(samples.b.map((s) => s.cpuUs));
  const ratio = wallB / wallA;
  const cpuDeltaUs = (cpuB - cpuA) / per;
  rows.push([
    name,
    `${wallA.toFixed(1)} ms`,
    `${wallB.toFixed(1)} ms`,
    `${((ratio - 1) * 100).toFixed(2)} %`,
    `${(cpuA / per).toFixed(1)} µs`,
    `${(cpuB / per).toFixed(1)} µs`,
    `${cpuDeltaUs >= 0 ? '+' : ''}${cpuDeltaUs.toFixed(1)} µs/${unit}`,
  ]);
  return { ratio, cpuDeltaUs };
}

async function nonStreamed(): Promise<void> {
  const fake = await startFake({ seed: 1 });
  const url = `${fake.url}/v1/messages`;
  const body = JSON.stringify({
    model: 'claude-sonnet-4-6',
    max_tokens: 256,
    messages: [{ role: 'user', content: 'Summarise the plot of Hamlet in two sentences.' }],
  });
  const run = (f: Fetch) => async () => {
    let next = 0;
    const worker = async () => {
      while (next++ < REQUESTS) {
        const response = await f(url, { method: 'POST', headers, body });
        await response.json();
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  };
  const samples = await alternate(run(bare), run(ours));
  const { ratio, cpuDeltaUs } = report(
    `non-streamed, concurrency ${CONCURRENCY} (${REQUESTS} req/round)`,
    'attempt',
    samples,
    REQUESTS,
  );
  verdicts.push(
    `non-streamed wall time: +${((ratio - 1) * 100).toFixed(2)} % (goal ≤ 3 %) ${ratio <= 1.03 ? 'MET' : 'MISSED'}`,
    `non-streamed CPU per attempt: ${cpuDeltaUs >= 0 ? '+' : ''}${cpuDeltaUs.toFixed(1)} µs (goal ≤ 25 µs) ${cpuDeltaUs <= 25 ? 'MET' : 'MISSED'}`,
  );
  await fake.close();
}

async function consume(response: Response): Promise<number> {
  const decoder = new TextDecoder();
  let chars = 0;
  const body = response.body;
  if (!body) return 0;
  const reader = body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return chars;
    chars += decoder.decode(value, { stream: true }).length;
  }
}

async function longStream(): Promise<void> {
  const EVENTS = 10_000;
  const fake = await startFake({ seed: 1, text: 'token ', repeat: EVENTS, pingEvery: 0 });
  const url = `${fake.url}/v1/messages`;
  const body = JSON.stringify({
    model: 'claude-sonnet-4-6',
    max_tokens: 64_000,
    stream: true,
    messages: [{ role: 'user', content: 'Count.' }],
  });
  const run = (f: Fetch) => async () => {
    const response = await f(url, { method: 'POST', headers, body });
    await consume(response);
  };
  const samples = await alternate(run(bare), run(ours));
  const { ratio } = report(`${EVENTS.toLocaleString('en')}-event stream`, 'stream', samples, 1);
  verdicts.push(
    `10 000-event stream consumption: +${((ratio - 1) * 100).toFixed(2)} % (goal ≤ 5 %) ${ratio <= 1.05 ? 'MET' : 'MISSED'}`,
  );
  await fake.close();
}

async function hugeStream(): Promise<void> {
  const text = 'x'.repeat(4000);
  const repeat = Math.ceil((200 * 1024 * 1024) / (text.length + 90));
  const fake = await startFake({ seed: 1, text, repeat, pingEvery: 0 });
  const url = `${fake.url}/v1/messages`;
  const body = JSON.stringify({
    model: 'claude-sonnet-4-6',
    max_tokens: 64_000,
    stream: true,
    messages: [{ role: 'user', content: 'Write a lot.' }],
  });
  const growth = async (f: Fetch): Promise<{ mb: number; bytes: number }> => {
    globalThis.gc?.();
    const base = process.memoryUsage().rss;
    let peak = base;
    let bytes = 0;
    let chunks = 0;
    const response = await f(url, { method: 'POST', headers, body });
    const stream = response.body;
    if (!stream) return { mb: 0, bytes: 0 };
    const reader = stream.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      bytes += value.byteLength;
      if (++chunks % 64 === 0) peak = Math.max(peak, process.memoryUsage().rss);
    }
    peak = Math.max(peak, process.memoryUsage().rss);
    return { mb: (peak - base) / 1024 / 1024, bytes };
  };
  const b = await growth(bare);
  const o = await growth(ours);
  rows.push([
    `${(o.bytes / 1024 / 1024).toFixed(0)} MB stream: peak RSS growth`,
    `${b.mb.toFixed(1)} MB`,
    `${o.mb.toFixed(1)} MB`,
    '',
    '',
    '',
    '',
  ]);
  verdicts.push(
    `200 MB stream RSS growth with our fetch: ${o.mb.toFixed(1)} MB (goal < 10 MB) ${o.mb < 10 ? 'MET' : 'MISSED'}`,
  );
  await fake.close();
}

function table(): string {
  const header = ['scenario', 'bare fetch', 'ours', 'wall Δ', 'CPU bare', 'CPU ours', 'CPU Δ'];
  const lines = [header, header.map(() => '---'), ...rows].map((r) => `| ${r.join(' | ')} |`);
  return lines.join('\n');
}

async function main(): Promise<void> {
  const only = process.env.BENCH_ONLY;
  if (!only || only === 'nonstream') await nonStreamed();
  if (!only || only === 'stream') await longStream();
  if (!only || only === 'huge') await hugeStream();
  await tracerProvider.forceFlush();
  console.log(
    `\nNode ${process.version}, ${ROUNDS} alternating rounds, medians; ${exporter.count} spans recorded.\n`,
  );
  console.log(table());
  console.log('');
  for (const v of verdicts) console.log(v);
  await tracerProvider.shutdown();
  await meterProvider.shutdown();
}

await main();

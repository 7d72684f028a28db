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
import Anthropic from '@anthropic-ai/sdk';
import { context, createNoopMeter, metrics, ProxyTracerProvider, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { BatchSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import {
  CountingExporter,
  consume,
  measure,
  median,
  Reader,
  retainedBytes,
  type Sample,
  startFake,
} from './shared.js';

// The built package, as users run it (`npm run bench` builds first): the TypeScript loader's helpers
// would otherwise be measured as the library's cost. Typed from the sources.
const { createClaudeFetch } = (await import(
  new URL('../dist/index.js', import.meta.url).href
)) as typeof import('../src/index.js');

type Fetch = (input: string, init?: RequestInit) => Promise<Response>;

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 3000);
const CONCURRENCY = 32;

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
/** Ours with providers that record nothing: the library's own cost without an SDK's. */
const oursNoSdk: Fetch = createClaudeFetch({
  tracerProvider: new ProxyTracerProvider(),
  meterProvider: { getMeter: () => createNoopMeter() },
});

const headers = {
  'content-type': 'application/json',
  'x-api-key': 'bench-key',
  'anthropic-version': '2023-06-01',
};

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
  const run = (f: Fetch, concurrency: number, requests: number) => async () => {
    let next = 0;
    const worker = async () => {
      while (next++ < requests) {
        const response = await f(url, { method: 'POST', headers, body });
        await response.json();
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
  };
  // A/A: the same fetch on both sides, to show what noise alone gives on this machine.
  const bare2: Fetch = (input, init) => fetch(input, init);
  report(
    `A/A noise floor: bare vs bare, concurrency ${CONCURRENCY}`,
    'attempt',
    await alternate(run(bare, CONCURRENCY, REQUESTS), run(bare2, CONCURRENCY, REQUESTS)),
    REQUESTS,
  );
  const samples = await alternate(run(bare, CONCURRENCY, REQUESTS), run(ours, CONCURRENCY, REQUESTS));
  const { ratio, cpuDeltaUs } = report(
    `non-streamed, concurrency ${CONCURRENCY} (${REQUESTS} req/round)`,
    'attempt',
    samples,
    REQUESTS,
  );
  report(
    `non-streamed, concurrency ${CONCURRENCY}, no OTel SDK registered (API no-op)`,
    'attempt',
    await alternate(run(bare, CONCURRENCY, REQUESTS), run(oursNoSdk, CONCURRENCY, REQUESTS)),
    REQUESTS,
  );
  const sequential = Math.ceil(REQUESTS / 4);
  report(
    `non-streamed, concurrency 1 (${sequential} req/round)`,
    'attempt',
    await alternate(run(bare, 1, sequential), run(ours, 1, sequential)),
    sequential,
  );
  verdicts.push(
    `non-streamed wall time at concurrency ${CONCURRENCY}: +${((ratio - 1) * 100).toFixed(2)} % (goal ≤ 3 %) ${ratio <= 1.03 ? 'MET' : 'MISSED'}`,
    `non-streamed CPU per attempt: ${cpuDeltaUs >= 0 ? '+' : ''}${cpuDeltaUs.toFixed(1)} µs (goal ≤ 25 µs) ${cpuDeltaUs <= 25 ? 'MET' : 'MISSED'}`,
  );
  await fake.close();
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
  const raw = report(
    `${EVENTS.toLocaleString('en')}-event stream, raw byte consumer`,
    'stream',
    await alternate(run(bare), run(ours)),
    1,
  );
  // The consumer users have: the SDK's stream iterator, which parses every event.
  const sdk = (f: Fetch) => {
    const client = new Anthropic({
      apiKey: 'bench-key',
      baseURL: fake.url,
      fetch: f as typeof fetch,
      maxRetries: 0,
    });
    return async () => {
      const stream = await client.messages.create({
        model: 'claude-sonnet-4-6',
        max_tokens: 64_000,
        stream: true,
        messages: [{ role: 'user', content: 'Count.' }],
      });
      for await (const _event of stream) {
        // consume
      }
    };
  };
  const viaSdk = report(
    `${EVENTS.toLocaleString('en')}-event stream, consumed by the SDK`,
    'stream',
    await alternate(sdk(bare), sdk(ours)),
    1,
  );
  verdicts.push(
    `10 000-event stream consumed by the SDK: +${((viaSdk.ratio - 1) * 100).toFixed(2)} % (goal ≤ 5 %) ${viaSdk.ratio <= 1.05 ? 'MET' : 'MISSED'}`,
    `10 000-event stream, raw byte consumer: +${((raw.ratio - 1) * 100).toFixed(2)} % (goal ≤ 5 %) ${raw.ratio <= 1.05 ? 'MET' : 'MISSED'}`,
  );
  await fake.close();
}

/** Peak RSS growth while one 200 MB stream is consumed, measured in a fresh process per fetch. */
async function rssGrowth(
  variant: 'bare' | 'ours',
  url: string,
): Promise<{ mb: number; retainedMb: number; bytes: number }> {
  const f = variant === 'bare' ? bare : ours;
  const body = JSON.stringify({
    model: 'claude-sonnet-4-6',
    max_tokens: 64_000,
    stream: true,
    messages: [{ role: 'user', content: 'Write a lot.' }],
  });
  // Warm up the client's connection and code paths on a small request first.
  await (await f(url.replace('/v1/messages', '/v1/models'), { headers })).json();
  const baseRetained = retainedBytes();
  const base = process.memoryUsage().rss;
  let peak = base;
  const samples: number[] = [];
  let bytes = 0;
  let chunks = 0;
  const response = await f(url, { method: 'POST', headers, body });
  const reader = response.body?.getReader();
  if (!reader) return { mb: 0, retainedMb: 0, bytes: 0 };
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    bytes += value.byteLength;
    if (++chunks % 64 === 0) peak = Math.max(peak, process.memoryUsage().rss);
    if (chunks % 256 === 0) samples.push(retainedBytes() - baseRetained);
  }
  peak = Math.max(peak, process.memoryUsage().rss);
  // The median sample: buffering by the fetch would grow steadily; socket backlog while the GC
  // pauses the consumer comes and goes.
  return { mb: (peak - base) / 1024 / 1024, retainedMb: median(samples) / 1024 / 1024, bytes };
}

async function hugeStream(): Promise<void> {
  const text = 'x'.repeat(4000);
  const repeat = Math.ceil((200 * 1024 * 1024) / (text.length + 90));
  const fake = await startFake({ seed: 1, text, repeat, pingEvery: 0 });
  const url = `${fake.url}/v1/messages`;
  const child = async (
    variant: 'bare' | 'ours',
  ): Promise<{ mb: number; retainedMb: number; bytes: number }> => {
    const out = await new Promise<string>((resolve, reject) => {
      const proc = spawn(
        process.execPath,
        ['--expose-gc', '--import', 'tsx', fileURLToPath(import.meta.url), '--rss-child', variant, url],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      let text = '';
      proc.stdout.on('data', (chunk: Buffer) => {
        text += chunk.toString();
      });
      proc.once('exit', (code) =>
        code === 0 ? resolve(text) : reject(new Error(`rss child exited ${code}`)),
      );
    });
    return JSON.parse(out.trim().split('\n').pop() ?? '{}') as {
      mb: number;
      retainedMb: number;
      bytes: number;
    };
  };
  // Three fresh processes each, alternating; medians (GC timing makes single runs noisy).
  const runs: Record<'bare' | 'ours', { mb: number; retainedMb: number; bytes: number }[]> = {
    bare: [],
    ours: [],
  };
  for (let i = 0; i < 3; i++) {
    runs.bare.push(await child('bare'));
    runs.ours.push(await child('ours'));
  }
  const mid = (list: { mb: number; retainedMb: number; bytes: number }[]) => ({
    mb: median(list.map((r) => r.mb)),
    retainedMb: median(list.map((r) => r.retainedMb)),
    bytes: list[0]?.bytes ?? 0,
  });
  const b = mid(runs.bare);
  const o = mid(runs.ours);
  const size = `${(o.bytes / 1024 / 1024).toFixed(0)} MB stream`;
  rows.push([
    `${size}: retained memory growth (median sample after GC), median of 3`,
    `${b.retainedMb.toFixed(1)} MB`,
    `${o.retainedMb.toFixed(1)} MB`,
    '',
    '',
    '',
    '',
  ]);
  rows.push([
    `${size}: peak RSS growth (GC lag included), median of 3`,
    `${b.mb.toFixed(1)} MB`,
    `${o.mb.toFixed(1)} MB`,
    '',
    '',
    '',
    '',
  ]);
  verdicts.push(
    `200 MB stream, retained memory growth with our fetch: ${o.retainedMb.toFixed(1)} MB (bare fetch ${b.retainedMb.toFixed(1)} MB; goal < 10 MB) ${o.retainedMb < 10 ? 'MET' : 'MISSED'}`,
    `200 MB stream, peak RSS growth with our fetch: ${o.mb.toFixed(1)} MB (bare fetch ${b.mb.toFixed(1)} MB: uncollected garbage, not buffering; goal < 10 MB) ${o.mb < 10 ? 'MET' : 'MISSED'}`,
  );
  await fake.close();
}

function table(): string {
  const header = ['scenario', 'bare fetch', 'ours', 'wall Δ', 'CPU bare', 'CPU ours', 'CPU Δ'];
  const lines = [header, header.map(() => '---'), ...rows].map((r) => `| ${r.join(' | ')} |`);
  return lines.join('\n');
}

async function main(): Promise<void> {
  const rssChild = process.argv.indexOf('--rss-child');
  if (rssChild !== -1) {
    const variant = process.argv[rssChild + 1] === 'ours' ? 'ours' : 'bare';
    console.log(JSON.stringify(await rssGrowth(variant, process.argv[rssChild + 2] ?? '')));
    await tracerProvider.shutdown();
    return;
  }
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

/**
 * Pieces the benchmarks share: the fake API in its own process, medians and percentiles, CPU and
 * wall time of one run, an exporter that counts spans, and a raw byte consumer of a response body.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { MetricReader } from '@opentelemetry/sdk-metrics';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace';

export type FakeOptions = NonNullable<
  Parameters<typeof import('../src/testing/index.js').startFakeClaude>[0]
>;

/** Starts the fake API in a child process (its CPU is not the client's); JSON options only. */
export async function startFake(options: FakeOptions): Promise<{ url: string; close(): Promise<void> }> {
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

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** The nearest-rank percentile `p` (0–100); NaN for no values. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] as number;
}

export interface Sample {
  wallMs: number;
  /** User + system CPU of this process, µs. */
  cpuUs: number;
}

/** Wall time and this process's CPU time of one run of `fn`. */
export async function measure(fn: () => Promise<void>): Promise<Sample> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await fn();
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  return { wallMs, cpuUs: cpu.user + cpu.system };
}

/** Counts spans and drops them: the exporter's own cost is not ours to measure. */
export class CountingExporter implements SpanExporter {
  count = 0;
  export(spans: ReadableSpan[], done: (result: { code: 0 }) => void): void {
    this.count += spans.length;
    done({ code: 0 });
  }
  async shutdown(): Promise<void> {}
  async forceFlush(): Promise<void> {}
}

/** A metric reader collected on demand (`collect()`), or never. */
export class Reader extends MetricReader {
  protected override async onShutdown(): Promise<void> {}
  protected override async onForceFlush(): Promise<void> {}
}

/** Reads a response body to its end as text; returns the characters read. */
export async function consume(response: Response): Promise<number> {
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

/**
 * Retained memory: JS heap plus array buffers, sampled after a full GC (with `--expose-gc`), so
 * garbage the GC has yet to collect does not count (RSS counts it).
 */
export function retainedBytes(): number {
  globalThis.gc?.();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

/** Epoch milliseconds with sub-millisecond precision (comparable with span event times). */
export const nowEpochMs = (): number => performance.timeOrigin + performance.now();

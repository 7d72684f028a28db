/**
 * The demo's workload: the real `@anthropic-ai/sdk` client over `createClaudeFetch` with every
 * policy on, sending a mix of `create` and `stream` calls with some concurrency, against two fake
 * Claude API regions whose faults come from a scenario (or, with `--real`, a few short requests to
 * the real API). The figures come from the library's own telemetry ({@link DemoTelemetry}).
 */
import type { MeterProvider, TracerProvider } from '@opentelemetry/api';
import { createClaudeFetch } from '../fetch.js';
import type { ClaudeFetchOptions } from '../options.js';
import { hashSeed, mulberry32, type Rng } from '../testing/rng.js';
import { startFakeClaude } from '../testing/server.js';
import type { FakeClaude, Fault, RecordedRequest } from '../testing/types.js';
import type { AnthropicModule } from './deps.js';
import { createFaultPicker, type Scenario } from './scenario.js';
import type { DemoTelemetry, Progress, Summary } from './summary.js';

export const DEMO_MODEL = 'claude-sonnet-4-6';
export const DEMO_FALLBACK_MODEL = 'claude-haiku-4-5';
/** The real-API workload: this many short requests at most. */
export const REAL_REQUESTS = 6;

const PROMPTS = [
  'Summarise the plot of Hamlet in two sentences.',
  'What is a circuit breaker in distributed systems?',
  'Give three tips for writing clear commit messages.',
  'Explain exponential backoff with jitter to a new engineer.',
  'Translate "good morning" into French, Spanish and German.',
  'Write a haiku about retries.',
  'What does HTTP status 529 mean for the Claude API?',
  'List two differences between TCP and UDP.',
  'Suggest a name for a cat that likes servers.',
  'Why do streams need an idle timeout?',
];

/** The policies the demo turns on (tuned so that a 30-second run shows them all act and recover). */
export function demoPolicies(): ClaudeFetchOptions {
  return {
    retry: { maxAttempts: 3, backoff: { baseMs: 100, capMs: 1_000 } },
    // Fail fast (no holding): the tour shows the open breaker's circuit_open answers, and the cache
    // serving what they refused.
    breaker: {
      openMs: 2_000,
      maxOpenMs: 8_000,
      minimumThroughput: 8,
      window: { kind: 'count', size: 16 },
      hold: false,
    },
    timeouts: { connectMs: 5_000, firstChunkMs: 5_000, idleMs: 1_000, totalMs: 20_000 },
    fallback: { models: [DEMO_MODEL, DEMO_FALLBACK_MODEL], stickyMs: 3_000 },
    cache: true,
    resume: true,
  };
}

export type DemoTarget =
  | { kind: 'fake'; scenario: Scenario }
  | { kind: 'real'; apiKey: string; baseURL?: string | undefined };

export interface DemoOptions {
  sdk: AnthropicModule;
  target: DemoTarget;
  /** Real seconds the workload runs (new requests stop then; those in flight finish). */
  durationS: number;
  concurrency: number;
  seed: number;
  telemetry: DemoTelemetry;
  /** Default: the global providers (what `setup()` registered). */
  tracerProvider?: TracerProvider;
  meterProvider?: MeterProvider;
  /** Aborting stops the run early: no new requests, those in flight get `graceMs`, then are aborted. */
  signal?: AbortSignal;
  /** Called every `progressMs` (default 250) and once at the end. */
  onProgress?: (progress: Progress) => void;
  progressMs?: number;
  /** How long requests in flight may finish after the end or a stop. Default 3000 ms. */
  graceMs?: number;
  /** Called once the fake regions listen (fake target only). */
  onStart?: (regions: readonly FakeClaude[]) => void;
}

export interface DemoResult {
  summary: Summary;
  /** SDK calls made. */
  calls: number;
  /** SDK calls that returned a message. */
  callsSucceeded: number;
  /** Whether the run was stopped early. */
  stopped: boolean;
  /** Fake target: what each region received (`/v1/messages` attempts and the faults applied). */
  regions: Array<{ name: string; requests: readonly RecordedRequest[] }>;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

async function startRegions(
  scenario: Scenario,
  seed: number,
  durationS: number,
  startedAt: () => number,
): Promise<FakeClaude[]> {
  // Scenario time runs at scenario.duration / durationS of real time.
  const scale = scenario.duration / durationS;
  const elapsedS = (): number => ((performance.now() - startedAt()) / 1000) * scale;
  const regions: FakeClaude[] = [];
  for (const name of ['primary', 'secondary']) {
    const pick = createFaultPicker(scenario, { seed, region: name, elapsedS });
    const latency: Rng = mulberry32(hashSeed(seed, 'latency', name));
    const fake = await startFakeClaude({
      name,
      seed: hashSeed(seed, name),
      faultFor: (request): Fault | undefined => {
        const body = request.body as { stream?: unknown; model?: unknown } | undefined;
        const picked = pick({
          method: request.method,
          path: request.path,
          stream: body?.stream === true,
          model: typeof body?.model === 'string' ? body.model : undefined,
        });
        // The API's own latency: 30–90 ms before the headers.
        const delayHeadersMs = request.path === '/v1/messages' ? 30 + Math.floor(latency() * 60) : undefined;
        if (picked === undefined) return delayHeadersMs === undefined ? undefined : { delayHeadersMs };
        return { delayHeadersMs, ...picked.fault };
      },
    });
    regions.push(fake);
  }
  return regions;
}

/** Runs the demo's workload and returns the summary read from the library's telemetry. */
export async function runDemo(options: DemoOptions): Promise<DemoResult> {
  const clock = { startedAt: performance.now() };
  const target = options.target;
  const regions =
    target.kind === 'fake'
      ? await startRegions(target.scenario, options.seed, options.durationS, () => clock.startedAt)
      : [];
  try {
    return await workload(options, regions, clock);
  } finally {
    await Promise.all(regions.map((r) => r.close()));
  }
}

async function workload(
  options: DemoOptions,
  regions: FakeClaude[],
  clock: { startedAt: number },
): Promise<DemoResult> {
  const { sdk, target, telemetry } = options;
  const Anthropic = sdk.default;
  const stop = new AbortController();
  const external = options.signal;
  const onExternalStop = (): void => stop.abort();
  if (external?.aborted) stop.abort();
  external?.addEventListener('abort', onExternalStop, { once: true });
  const [primary, secondary] = regions;
  const policies = demoPolicies();
  const fetch = createClaudeFetch({
    ...policies,
    ...(target.kind === 'real' ? { fallback: undefined } : {}),
    ...(primary && secondary
      ? {
          regions: {
            list: [
              { name: primary.name, baseURL: primary.url },
              { name: secondary.name, baseURL: secondary.url },
            ],
            // The breaker of a failing region trips before its health turns: both show in the summary.
            unhealthyAfter: 8,
            failbackAfterMs: 4_000,
            probe: { intervalMs: 1_000, timeoutMs: 1_000 },
          },
        }
      : {}),
    ...(options.tracerProvider ? { tracerProvider: options.tracerProvider } : {}),
    ...(options.meterProvider ? { meterProvider: options.meterProvider } : {}),
  });
  const client = new Anthropic({
    apiKey: target.kind === 'real' ? target.apiKey : 'demo-key-not-a-secret',
    baseURL: target.kind === 'real' ? (target.baseURL ?? null) : primary?.url,
    fetch,
    timeout: 60_000,
  });
  const rng = mulberry32(hashSeed(options.seed, 'workload'));
  const inFlight = new Set<AbortController>();
  let calls = 0;
  let callsSucceeded = 0;
  const maxCalls = target.kind === 'real' ? REAL_REQUESTS : Number.POSITIVE_INFINITY;
  const model = target.kind === 'real' ? DEMO_FALLBACK_MODEL : undefined;

  const deadline = setTimeout(() => stop.abort(), options.durationS * 1000);
  let progressTimer: ReturnType<typeof setInterval> | undefined;
  if (options.onProgress) {
    const report = options.onProgress;
    progressTimer = setInterval(() => {
      void telemetry.progress().then(report, () => undefined);
    }, options.progressMs ?? 250);
  }
  clock.startedAt = performance.now();
  options.onStart?.(regions);

  async function one(index: number): Promise<void> {
    const streamed = rng() < 0.5;
    const params = {
      model: model ?? (rng() < 0.8 ? DEMO_MODEL : DEMO_FALLBACK_MODEL),
      max_tokens: target.kind === 'real' ? 32 : 256,
      messages: [
        {
          role: 'user' as const,
          content:
            target.kind === 'real'
              ? `Answer in five words or fewer: ${PROMPTS[index % PROMPTS.length]}`
              : (PROMPTS[Math.floor(rng() * PROMPTS.length)] as string),
        },
      ],
    };
    const controller = new AbortController();
    inFlight.add(controller);
    try {
      if (streamed) {
        const stream = client.messages.stream(params, { signal: controller.signal });
        await stream.finalMessage();
      } else {
        await client.messages.create(params, { signal: controller.signal });
      }
      callsSucceeded++;
    } catch {
      // Counted from the telemetry (the operation span's error.type).
    } finally {
      inFlight.delete(controller);
    }
  }

  async function worker(): Promise<void> {
    while (!stop.signal.aborted && calls < maxCalls) {
      const index = calls++;
      await one(index);
      await sleep(target.kind === 'real' ? 200 : 10 + Math.floor(rng() * 40), stop.signal);
    }
  }

  const workers = Array.from({ length: options.concurrency }, () => worker());
  const all = Promise.all(workers);
  // After the end (or a stop), requests in flight get a grace period, then are aborted.
  const graceTimer = new Promise<void>((resolve) => {
    const onStop = (): void => {
      const t = setTimeout(() => {
        for (const c of inFlight) c.abort();
        resolve();
      }, options.graceMs ?? 3_000);
      void all.then(() => {
        clearTimeout(t);
        resolve();
      });
    };
    if (stop.signal.aborted) onStop();
    else stop.signal.addEventListener('abort', onStop, { once: true });
  });
  try {
    await all;
    stop.abort();
    await graceTimer;
  } finally {
    stop.abort();
    clearTimeout(deadline);
    if (progressTimer) clearInterval(progressTimer);
    external?.removeEventListener('abort', onExternalStop);
    fetch.shutdown();
  }
  // Spans of aborted or just-finished bodies end on their own turn of the event loop.
  await new Promise((resolve) => setTimeout(resolve, 50));
  if (options.onProgress) options.onProgress(await telemetry.progress());
  const summary = await telemetry.summary();
  const result: DemoResult = {
    summary,
    calls,
    callsSucceeded,
    stopped: external?.aborted === true,
    regions: regions.map((r) => ({ name: r.name, requests: [...r.requests] })),
  };
  return result;
}

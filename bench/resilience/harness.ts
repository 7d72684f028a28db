/**
 * Runs one scenario with one variant: a fresh fake Claude API (in process) whose faults come from
 * the scenario, a fresh client (real `@anthropic-ai/sdk` over our fetch from the BUILT package), and
 * a workload issued on a fixed schedule with a cap on requests in flight. Returns what the client
 * saw (per request), what the server got (`fake.requests`) and the policy decisions recorded as
 * span events (breaker transitions with their times, rejections, retries given up, timeouts,
 * fallbacks) and region health probe spans.
 *
 * A scenario with `regions` gives ours a second fake instance as a second region (the SDK variant
 * keeps the primary only); one with `fallbackModels` gives ours a model fallback chain; one with
 * `resume` is also run with ours plus `resume: true` (the `ours-resume` variant).
 */
import Anthropic from '@anthropic-ai/sdk';
import { type Context, SpanStatusCode } from '@opentelemetry/api';
import { type ReadableSpan, type Span, type SpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import type { ClaudeFetchOptions, Clock, Timer } from '../../src/index.js';
import { systemClock } from '../../src/policies/clock.js';
import type { Fault, RecordedRequest } from '../../src/testing/index.js';
import { nowEpochMs } from '../shared.js';
import { type Instance, invalidRequest, REQUEST_MODEL, type Scenario, seededRandom } from './scenarios.js';

// The built package, as users run it (`npm run bench:resilience` builds first). Typed from the sources.
const lib = (await import(
  new URL('../../dist/index.js', import.meta.url).href
)) as typeof import('../../src/index.js');
const testing = (await import(
  new URL('../../dist/testing/index.js', import.meta.url).href
)) as typeof import('../../src/testing/index.js');

/**
 * `sdk`: instrumentation only; `ours`: our policies; `ours-resume`: ours plus `resume: true`;
 * `cockatiel`: instrumentation only, with the SDK told not to retry and each call run through an
 * application-level {@link CallPolicy} (`bench:compare` builds one from cockatiel).
 */
export type Variant = 'sdk' | 'ours' | 'ours-resume' | 'cockatiel';

/** A policy stack around each SDK call, as an application adds one (retry, breaker, timeout…). */
export interface CallPolicy {
  /** Runs one call; `signal` aborts it (e.g. the stack's timeout). */
  execute<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T>;
  /** Reports the stack's breaker transitions, as they happen. */
  onTransition(listener: (transition: Transition) => void): void;
}

export interface WorkloadConfig {
  requests: number;
  /** Real ms between two scheduled request starts. */
  intervalMs: number;
  /** Most requests in flight; a request due while all slots are taken waits for one. */
  concurrency: number;
  /** Real ms the fake waits before every response's headers (the API's own latency). */
  latencyMs: number;
  seed: number;
  /** Real ms per ms of policy time (e.g. 0.01: a 30 s open breaker lasts 300 ms). */
  timeScale: number;
  /** Our timeouts, in policy ms. */
  timeouts: NonNullable<ClaudeFetchOptions['timeouts']>;
  /** Our active region health probes (scenarios with regions), in policy ms. */
  probe: { intervalMs: number; timeoutMs: number };
}

export { nowEpochMs };

/**
 * The policies' clock: real timers, but time runs `1 / scale` times faster. `now()` advances by
 * `elapsed / scale`, `sleep(ms)` and `setTimer(fn, ms)` take `ms · scale` of real time, so backoff
 * sleeps, breaker open durations and our timeouts are consistent with each other, only faster.
 */
export function scaledClock(scale: number): Clock {
  const origin = performance.now();
  const real = (ms: number): number => Math.max(0, ms) * scale;
  return {
    now: () => origin + (performance.now() - origin) / scale,
    sleep: (ms: number, signal?: AbortSignal): Promise<void> => systemClock.sleep(real(ms), signal),
    setTimer: (fn: () => void, ms: number): Timer => systemClock.setTimer(fn, real(ms)),
  };
}

export interface Transition {
  /** Epoch ms of the span event. */
  at: number;
  /** The breaker's key, `{region}|{model}`. */
  key: string;
  from: string;
  to: string;
}

/** Outcomes of the region health probes of one region. */
export interface ProbeCounts {
  sent: number;
  /** Answered 5xx, failed or timed out. */
  failed: number;
}

/** Collects the policy events of every span as it ends, and the outcomes of region probes. */
class PolicyEvents implements SpanProcessor {
  readonly transitions: Transition[] = [];
  readonly probes = new Map<string, ProbeCounts>();
  /** Event counts by `name` or `name:detail` (the retry give-up reason, the timeout kind). */
  readonly counts = new Map<string, number>();

  onStart(_span: Span, _parentContext: Context): void {}

  onEnd(span: ReadableSpan): void {
    if (span.name === 'anthropic.region.probe') {
      // The probes out when the run ends are aborted by `shutdown()`: they count as neither.
      if (span.status.message === 'region prober stopped') return;
      const region = String(span.attributes['anthropic.region']);
      const counts = this.probes.get(region) ?? { sent: 0, failed: 0 };
      counts.sent++;
      if (span.status.code === SpanStatusCode.ERROR) counts.failed++;
      this.probes.set(region, counts);
    }
    for (const event of span.events) {
      const a = event.attributes ?? {};
      let key = event.name;
      if (event.name === 'anthropic.circuit_breaker.transition') {
        const [s, ns] = event.time;
        this.transitions.push({
          at: s * 1000 + ns / 1e6,
          key: String(a['anthropic.circuit_breaker.key']),
          from: String(a['anthropic.circuit_breaker.from']),
          to: String(a['anthropic.circuit_breaker.to']),
        });
        key = `${event.name}:${String(a['anthropic.circuit_breaker.to'])}`;
      } else if (event.name === 'anthropic.retry.given_up') {
        key = `${event.name}:${String(a['anthropic.retry.reason'])}`;
      } else if (event.name === 'anthropic.timeout') {
        key = `${event.name}:${String(a['anthropic.timeout.kind'])}`;
      } else if (event.name === 'anthropic.fallback') {
        key = `${event.name}:${String(a['anthropic.fallback.kind'])}`;
      } else if (event.name === 'anthropic.stream.resumption') {
        key = `${event.name}:${String(a['anthropic.stream.resume.outcome'])}/${String(a['anthropic.stream.resume.reason'])}`;
      } else if (event.name === 'anthropic.region.health_change') {
        key = `${event.name}:${String(a['anthropic.region'])}→${String(a['anthropic.region.health'])}`;
      }
      this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
    }
  }

  async forceFlush(): Promise<void> {}
  async shutdown(): Promise<void> {}
}

export interface RequestResult {
  index: number;
  /** Epoch ms when the SDK call started. */
  issuedAt: number;
  /** From the SDK call's start to its end (the last stream event), ms. */
  latencyMs: number;
  ok: boolean;
  /** Failures: what the caller got, e.g. `503 service_unavailable`, `circuit_open`. */
  error: string | undefined;
  /** Successes: the instance that answered (the fake's `x-fake-region` header). */
  servedBy: string | undefined;
  /** Successes: the response's `model`, undefined for a stream consumed event by event. */
  model: string | undefined;
  /** Successes of `final-message` workloads: the text of the final message (its text blocks). */
  text: string | undefined;
}

export interface RunResult {
  scenario: Scenario;
  variant: Variant;
  results: RequestResult[];
  /** The fakes' `/v1/messages` requests of this workload, in arrival order (both instances). */
  server: RecordedRequest[];
  /** How many of them each instance got. */
  sentTo: Map<Instance, number>;
  /** Region health probes by region (ours, scenarios with regions). */
  probes: Map<string, ProbeCounts>;
  transitions: Transition[];
  eventCounts: Map<string, number>;
  wallMs: number;
  /** Most requests in flight at once. */
  maxInFlight: number;
}

const MARKER = /\[bench#(\d+)\]/;

/** The workload index a request carries in its message text. */
export function workloadIndex(request: RecordedRequest): number | undefined {
  const body = request.body as { messages?: Array<{ content?: unknown }> } | undefined;
  const content = body?.messages?.[0]?.content;
  const match = typeof content === 'string' ? MARKER.exec(content) : null;
  return match ? Number(match[1]) : undefined;
}

/** What the caller got, in a few words. */
function describeError(error: unknown): string {
  const own = lib.claudeOtelErrorOf(error);
  if (own !== undefined) return String(own.type);
  const e = error as { status?: unknown; error?: { error?: { type?: unknown } } } | null;
  const type = e?.error?.error?.type;
  if (typeof e?.status === 'number') return `${e.status}${typeof type === 'string' ? ` ${type}` : ''}`;
  if (!(error instanceof Error)) return String(error);
  // Some libraries' errors (cockatiel's) keep the name `Error`: their class says more.
  return error.name === 'Error' ? error.constructor.name : error.name;
}

/** A counting semaphore. */
class Slots {
  #free: number;
  readonly #waiting: Array<() => void> = [];
  constructor(size: number) {
    this.#free = size;
  }
  async acquire(): Promise<void> {
    if (this.#free > 0) {
      this.#free--;
      return;
    }
    await new Promise<void>((resolve) => this.#waiting.push(resolve));
  }
  release(): void {
    const next = this.#waiting.shift();
    if (next) next();
    else this.#free++;
  }
}

/**
 * Whether a breaker is the one the scenario's fault phase trips: the request model's, on the primary
 * (the SDK's base URL, whose region is named after its host unless `regions` names it `primary`).
 */
export const isWatchedBreaker = (key: string): boolean =>
  key.endsWith(`|${REQUEST_MODEL}`) && !key.startsWith('secondary|');

export async function runScenario(
  scenario: Scenario,
  variant: Variant,
  config: WorkloadConfig,
  /** Required by the `cockatiel` variant. */
  policy?: CallPolicy,
): Promise<RunResult> {
  if ((variant === 'cockatiel') !== (policy !== undefined))
    throw new TypeError('the cockatiel variant, and it alone, needs a call policy');
  // Attempts per workload index, over every instance.
  const attempts = new Map<number, number>();
  // The `/v1/messages` requests of the workload as they arrive, at either instance.
  const server: RecordedRequest[] = [];
  const sentTo = new Map<Instance, number>();
  // The workload index issued last (health probes fail or not by it).
  let lastIssued = -1;
  const startFake = (instance: Instance) =>
    testing.startFakeClaude({
      seed: config.seed,
      name: instance,
      ...(scenario.text !== undefined && { text: scenario.text }),
      faultFor: (request): Fault | undefined => {
        const index = request.path === '/v1/messages' ? workloadIndex(request) : undefined;
        if (index === undefined) {
          // A region health probe (`GET /v1/models`), answered with the API's latency.
          if (request.path === '/v1/messages' || !scenario.regions) return undefined;
          return { delayHeadersMs: config.latencyMs, ...scenario.probeFault?.(instance, lastIssued) };
        }
        server.push(request);
        sentTo.set(instance, (sentTo.get(instance) ?? 0) + 1);
        const attempt = attempts.get(index) ?? 0;
        attempts.set(index, attempt + 1);
        const body = request.body as { model?: unknown } | undefined;
        const model = typeof body?.model === 'string' ? body.model : undefined;
        const fault =
          scenario.fault(index, attempt, { instance, model }) ?? invalidRequest(config.seed, index);
        return { delayHeadersMs: config.latencyMs, ...fault };
      },
    });
  const fake = await startFake('primary');
  // The second region: ours only; the SDK variant has nowhere else to go.
  const secondary =
    scenario.regions && (variant === 'ours' || variant === 'ours-resume')
      ? await startFake('secondary')
      : undefined;
  const events = new PolicyEvents();
  policy?.onTransition((transition) => events.transitions.push(transition));
  const tracerProvider = new TracerProvider({ spanProcessors: [events] });
  const fetch =
    variant === 'sdk' || variant === 'cockatiel'
      ? lib.createClaudeFetch({ tracerProvider })
      : lib.createClaudeFetch({
          tracerProvider,
          retry: true,
          breaker: true,
          timeouts: config.timeouts,
          ...(secondary && {
            regions: {
              list: [
                { name: 'primary', baseURL: fake.url },
                { name: 'secondary', baseURL: secondary.url },
              ],
              probe: config.probe,
            },
          }),
          ...(scenario.fallbackModels && { fallback: { models: scenario.fallbackModels } }),
          ...(variant === 'ours-resume' && { resume: true }),
          clock: scaledClock(config.timeScale),
          random: seededRandom(config.seed),
        });
  // The SDK at its defaults (maxRetries 2, its own backoff), on the primary; under a call policy, without retries.
  const client = new Anthropic({
    apiKey: 'bench-key',
    baseURL: fake.url,
    fetch,
    ...(policy && { maxRetries: 0 }),
  });

  /** Sends workload request `index`; returns who answered, the response's model and text. */
  const call = async (
    index: number,
    signal?: AbortSignal,
  ): Promise<{ servedBy: string | undefined; model: string | undefined; text?: string }> => {
    const options = signal && { signal };
    const content = `[bench#${index}] Summarise the plot of Hamlet in one sentence.`;
    const params = {
      model: REQUEST_MODEL,
      max_tokens: 64,
      messages: [{ role: 'user' as const, content }],
    };
    if (scenario.stream === 'final-message') {
      const stream = client.messages.stream(params, options);
      const message = await stream.finalMessage();
      const text = message.content.map((block) => (block.type === 'text' ? block.text : '')).join('');
      return {
        servedBy: stream.response?.headers.get('x-fake-region') ?? undefined,
        model: message.model,
        text,
      };
    }
    if (scenario.stream === 'events') {
      const { data: stream, response } = await client.messages
        .create({ ...params, stream: true }, options)
        .withResponse();
      for await (const _event of stream) {
        // consume every event
      }
      return { servedBy: response.headers.get('x-fake-region') ?? undefined, model: undefined };
    }
    const { data, response } = await client.messages.create(params, options).withResponse();
    return { servedBy: response.headers.get('x-fake-region') ?? undefined, model: data.model };
  };

  const results: RequestResult[] = [];
  const slots = new Slots(config.concurrency);
  let inFlight = 0;
  let maxInFlight = 0;
  const running: Promise<void>[] = [];
  const start = performance.now();
  for (let index = 0; index < config.requests; index++) {
    const due = start + index * config.intervalMs;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    await slots.acquire();
    lastIssued = index;
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    const issuedAt = nowEpochMs();
    const t0 = performance.now();
    running.push(
      (policy ? policy.execute((signal) => call(index, signal)) : call(index))
        .then(
          ({ servedBy, model, text }) => {
            results.push({
              index,
              issuedAt,
              latencyMs: performance.now() - t0,
              ok: true,
              error: undefined,
              servedBy,
              model,
              text,
            });
          },
          (error: unknown) => {
            results.push({
              index,
              issuedAt,
              latencyMs: performance.now() - t0,
              ok: false,
              error: describeError(error),
              servedBy: undefined,
              model: undefined,
              text: undefined,
            });
          },
        )
        .finally(() => {
          inFlight--;
          slots.release();
        }),
    );
  }
  await Promise.all(running);
  const wallMs = performance.now() - start;
  // Stops the region probes (and aborts those out).
  fetch.shutdown();
  // Attempt spans end when their bodies do; give the last ones a moment.
  await new Promise((resolve) => setTimeout(resolve, 50));
  await tracerProvider.forceFlush();
  await fake.close();
  await secondary?.close();
  await tracerProvider.shutdown();
  results.sort((a, b) => a.index - b.index);
  events.transitions.sort((a, b) => a.at - b.at);
  return {
    scenario,
    variant,
    results,
    server,
    sentTo,
    probes: events.probes,
    transitions: events.transitions,
    eventCounts: events.counts,
    wallMs,
    maxInFlight,
  };
}

/**
 * The deterministic virtual-time simulator of the resilience scenarios: the real
 * `@anthropic-ai/sdk`, a cockatiel stack and our package, against a fake Claude API that lives in
 * memory (an in-process `fetch`), with every timer on one virtual clock (`virtual-time.ts`).
 *
 * Faults follow **time**, not the request number: a fault window is a stretch of virtual time
 * (fractions of the workload's nominal span, `requests × interval`), and an attempt fails when it
 * *arrives* inside it — a request issued in the window whose retry lands after it succeeds, as it
 * would against a real outage.
 *
 * One clock for everything: the SDK's own backoff and timeouts, cockatiel's, ours, the API's
 * latency and the schedule all run on the same virtual time ("world" time). The workload shapes
 * are given in the real-time harness's units (latency 40 ms, interval 8 ms) and converted with its
 * time scale (`timeScale` 0.01: 1 harness ms = 100 world ms, so 4 s of latency and a request every
 * 0.8 s), which is what the harness's policies saw; unlike the harness, the SDK's sleeps and
 * cockatiel's durations are on that same world clock instead of 100× too long.
 */
import Anthropic from '@anthropic-ai/sdk';
import type { Context } from '@opentelemetry/api';
import type { ReadableSpan, Span, SpanProcessor } from '@opentelemetry/sdk-trace';
import { TracerProvider } from '@opentelemetry/sdk-trace';
import { type ClaudeFetchOptions, claudeOtelErrorOf, createClaudeFetch } from '../../src/index.js';
import { cockatielStack } from '../compare/cockatiel.js';
import type { CallPolicy } from '../resilience/harness.js';
import {
  BROKEN_STREAM_TEXT,
  FALLBACK_MODEL,
  hashUnit,
  invalidRequest,
  REQUEST_MODEL,
  seededRandom,
} from '../resilience/scenarios.js';
import { VirtualTime } from './virtual-time.js';

/** `sdk`: the SDK's own retries; `ours`: our defaults; `ours-old`: our policies with the defaults before holding (30 s open doubling, fail fast); `cockatiel`: its README stack; `ours-resume`: ours + resume. */
export type SimVariant = 'sdk' | 'cockatiel' | 'ours-old' | 'ours' | 'ours-resume';

export interface Shape {
  /** The API's latency before headers, real ms. */
  latencyMs: number;
  /** Between two scheduled request starts, real ms. */
  intervalMs: number;
  /** Most requests in flight. */
  concurrency: number;
}

export interface SimConfig extends Shape {
  requests: number;
  seed: number;
  /** Harness ms per world ms: the shape's latency and interval are divided by it (0.01: ×100). */
  timeScale: number;
}

/** A fault the in-memory API applies to one attempt. */
export interface SimFault {
  status?: number;
  /** A proxy's HTML page instead of an API error body. */
  html?: boolean;
  retryAfterS?: number;
  /** Pause the stream after `afterEvents` events for `ms` (world) ms. */
  stall?: { afterEvents: number; ms: number };
  /** Drop the connection after `afterEvents` events (`midEvent`: in the middle of the next). */
  drop?: { afterEvents: number; midEvent?: boolean };
  /** `event: error` (overloaded) in place of event `afterEvents`. */
  sseError?: { afterEvents: number };
}

/** Where and when an attempt arrived. */
export interface Arrival {
  /** Virtual real ms since the workload's start. */
  t: number;
  index: number;
  attempt: number;
  instance: 'primary' | 'secondary';
  model: string;
  /** A continuation of a broken stream (the messages end with an assistant prefill). */
  continuation: boolean;
}

export type ScenarioKey =
  | 'steady'
  | 'burst'
  | 'rate-limit'
  | 'outage'
  | 'stall'
  | 'failover'
  | 'model-fallback'
  | 'broken-streams';

export interface SimScenario {
  key: ScenarioKey;
  title: string;
  stream: false | 'events' | 'final-message';
  text?: string;
  resume?: boolean;
  regions?: boolean;
  fallbackModels?: string[];
  /** The fault phase, virtual real ms since the workload's start. */
  window?: { start: number; end: number };
  /** The phase opens a breaker: report its timing and the attempts once it is open. */
  breakerPhase?: boolean;
  fault(a: Arrival): SimFault | undefined;
  /** A region health probe's fault at time `t`. */
  probeFault?(instance: 'primary' | 'secondary', t: number): SimFault | undefined;
  /**
   * The fewest attempts request `index` (issued at `t`) needs to succeed when it can, 0 when no
   * design can make it succeed (issued inside a full outage).
   */
  need(index: number, t: number): number;
}

const inside = (w: { start: number; end: number }, t: number): boolean => t >= w.start && t < w.end;

/** The scenarios over a workload of `config` (windows as fractions of its nominal span). */
export function simScenarios(config: SimConfig, stallPolicyMs = 1500): SimScenario[] {
  const { seed } = config;
  const span = (config.requests * config.intervalMs) / config.timeScale;
  const win = (from: number, to: number) => ({ start: span * from, end: span * to });
  const burst = win(0.4, 0.5);
  const limited = win(0.3, 0.55);
  const outage = win(0.25, 0.55);
  // The stall, in world ms: shorter than our idleMs (20 s), as the scenario means it.
  const stallMs = stallPolicyMs;
  const invalid = (index: number) => invalidRequest(seed, index) !== undefined;
  const base = (index: number) => (invalid(index) ? 0 : 1);
  return [
    {
      key: 'steady',
      title: '1. steady 5 % 529',
      stream: false,
      fault: (a) => (hashUnit(seed, 'steady', a.index, a.attempt) < 0.05 ? { status: 529 } : undefined),
      need: (index) => {
        if (invalid(index)) return 0;
        let n = 0;
        while (n < 3 && hashUnit(seed, 'steady', index, n) < 0.05) n++;
        return n < 3 ? n + 1 : 0;
      },
    },
    {
      key: 'burst',
      title: '2. burst of 529',
      stream: false,
      window: burst,
      breakerPhase: true,
      fault: (a) => (inside(burst, a.t) ? { status: 529 } : undefined),
      need: (index, t) => (inside(burst, t) ? 0 : base(index)),
    },
    {
      key: 'rate-limit',
      title: '3. 429 with retry-after: 1',
      stream: false,
      window: limited,
      fault: (a) => (inside(limited, a.t) && a.attempt === 0 ? { status: 429, retryAfterS: 1 } : undefined),
      need: (index, t) => (inside(limited, t) ? 2 * base(index) : base(index)),
    },
    {
      key: 'outage',
      title: '4. full outage (503), then recovery',
      stream: false,
      window: outage,
      breakerPhase: true,
      fault: (a) => (inside(outage, a.t) ? { status: 503, html: true } : undefined),
      need: (index, t) => (inside(outage, t) ? 0 : base(index)),
    },
    {
      key: 'stall',
      title: '5. stalled streams',
      stream: 'events',
      fault: (a) =>
        a.attempt === 0 && hashUnit(seed, 'stall', a.index) < 0.1
          ? { stall: { afterEvents: 5, ms: stallMs } }
          : undefined,
      need: (index) => base(index),
    },
    {
      key: 'failover',
      title: '6. region outage with failover',
      stream: false,
      regions: true,
      window: outage,
      breakerPhase: true,
      fault: (a) =>
        a.instance === 'primary' && inside(outage, a.t) ? { status: 503, html: true } : undefined,
      probeFault: (instance, t) =>
        instance === 'primary' && inside(outage, t) ? { status: 503, html: true } : undefined,
      // One attempt each: to the secondary while the primary is down (a design with regions).
      need: (index) => base(index),
    },
    {
      key: 'model-fallback',
      title: '7. model fallback under sustained 529',
      stream: false,
      fallbackModels: [FALLBACK_MODEL],
      window: outage,
      breakerPhase: true,
      fault: (a) => (a.model === REQUEST_MODEL && inside(outage, a.t) ? { status: 529 } : undefined),
      need: (index) => base(index),
    },
    {
      key: 'broken-streams',
      title: '8. broken streams',
      stream: 'final-message',
      text: BROKEN_STREAM_TEXT,
      resume: true,
      fault: (a) => {
        if (a.attempt > 0 || invalid(a.index) || hashUnit(seed, 'broken', a.index) >= 0.2) return undefined;
        const afterEvents = 4 + Math.floor(hashUnit(seed, 'broken-at', a.index) * 36);
        const kind = Math.floor(hashUnit(seed, 'broken-kind', a.index) * 3);
        return kind === 2 ? { sseError: { afterEvents } } : { drop: { afterEvents, midEvent: kind === 1 } };
      },
      // A broken stream needs a second attempt (a continuation or a resend).
      need: (index) => (invalid(index) ? 0 : hashUnit(seed, 'broken', index) < 0.2 ? 2 : 1),
    },
  ];
}

// ---------------------------------------------------------------------------------------------
// The fake API, in memory.

const MARKER = /\[bench#(\d+)\]/;
const enc = new TextEncoder();
const frame = (event: string, data: unknown): string => `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;

/** Resolves after `ms` virtual ms (via the patched `setTimeout`), rejects when `signal` aborts. */
function delay(ms: number, signal: AbortSignal | null | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function generatedText(seed: number, index: number): string {
  const words = ['the', 'prince', 'of', 'denmark', 'avenges', 'his', 'father', 'and', 'everyone', 'dies'];
  const n = 12 + Math.floor(hashUnit(seed, 'len', index) * 12);
  return Array.from({ length: n }, (_, i) => words[Math.floor(hashUnit(seed, 'w', index, i) * words.length)])
    .join(' ')
    .concat('.');
}

interface FakeApi {
  fetch: typeof globalThis.fetch;
  arrivals: Arrival[];
}

function fakeApi(scenario: SimScenario, config: SimConfig, vt: VirtualTime, t0: () => number): FakeApi {
  const arrivals: Arrival[] = [];
  const attempts = new Map<number, number>();
  let serial = 0;
  const fetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const signal = init?.signal ?? (input instanceof Request ? input.signal : undefined);
    const instance = url.hostname.startsWith('secondary') ? 'secondary' : 'primary';
    const t = vt.now - t0();
    const id = `req_sim${String(++serial).padStart(8, '0')}`;
    const headers = { 'request-id': id, 'x-fake-region': instance };
    if (url.pathname !== '/v1/messages') {
      // A region health probe.
      await delay(config.latencyMs / config.timeScale, signal);
      const f = scenario.probeFault?.(instance, t);
      return f?.status
        ? new Response('<html>down</html>', {
            status: f.status,
            headers: { ...headers, 'content-type': 'text/html' },
          })
        : Response.json({ data: [], has_more: false }, { headers });
    }
    const body = JSON.parse(String(init?.body ?? '{}')) as {
      model: string;
      stream?: boolean;
      messages: Array<{ role: string; content: unknown }>;
    };
    const first = body.messages[0]?.content;
    const index = Number((typeof first === 'string' ? MARKER.exec(first) : null)?.[1] ?? -1);
    const attempt = attempts.get(index) ?? 0;
    attempts.set(index, attempt + 1);
    const last = body.messages.at(-1);
    const continuation = last?.role === 'assistant';
    const arrival: Arrival = { t, index, attempt, instance, model: body.model, continuation };
    arrivals.push(arrival);
    const fault: SimFault | undefined =
      scenario.fault(arrival) ?? (invalidRequest(config.seed, index) ? { status: 400 } : undefined);
    await delay(config.latencyMs / config.timeScale, signal);
    if (fault?.status !== undefined) {
      const h: Record<string, string> = { ...headers };
      if (fault.retryAfterS !== undefined) h['retry-after'] = String(fault.retryAfterS);
      if (fault.html) {
        return new Response(`<html><body><h1>${fault.status} Service Unavailable</h1></body></html>`, {
          status: fault.status,
          headers: { ...h, 'content-type': 'text/html' },
        });
      }
      const type =
        fault.status === 529
          ? 'overloaded_error'
          : fault.status === 429
            ? 'rate_limit_error'
            : fault.status === 400
              ? 'invalid_request_error'
              : 'api_error';
      return Response.json(
        { type: 'error', error: { type, message: 'simulated' }, request_id: id },
        { status: fault.status, headers: h },
      );
    }
    const full = scenario.text ?? generatedText(config.seed, index);
    const prefill = continuation && typeof last?.content === 'string' ? last.content : '';
    const text = prefill !== '' && full.startsWith(prefill) ? full.slice(prefill.length) : full;
    const message = {
      id: `msg_sim${serial}`,
      type: 'message',
      role: 'assistant',
      model: body.model,
      stop_sequence: null,
      usage: { input_tokens: 12, output_tokens: 1 },
    };
    if (!body.stream) {
      return Response.json(
        {
          ...message,
          content: [{ type: 'text', text }],
          stop_reason: 'end_turn',
          usage: { input_tokens: 12, output_tokens: 20 },
        },
        { headers },
      );
    }
    const events = [
      frame('message_start', {
        type: 'message_start',
        message: { ...message, content: [], stop_reason: null },
      }),
      frame('content_block_start', {
        type: 'content_block_start',
        index: 0,
        content_block: { type: 'text', text: '' },
      }),
      ...(text.match(/\S+\s*|\s+/g) ?? []).map((piece) =>
        frame('content_block_delta', {
          type: 'content_block_delta',
          index: 0,
          delta: { type: 'text_delta', text: piece },
        }),
      ),
      frame('content_block_stop', { type: 'content_block_stop', index: 0 }),
      frame('message_delta', {
        type: 'message_delta',
        delta: { stop_reason: 'end_turn', stop_sequence: null },
        usage: { output_tokens: 20 },
      }),
      frame('message_stop', { type: 'message_stop' }),
    ];
    let next = 0;
    let closed = false;
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        signal?.addEventListener(
          'abort',
          () => {
            if (!closed) {
              closed = true;
              controller.error(signal.reason);
            }
          },
          { once: true },
        );
      },
      async pull(controller) {
        if (closed) return;
        if (fault?.stall && next === fault.stall.afterEvents) {
          await delay(fault.stall.ms, undefined);
          if (closed) return;
        }
        if (fault?.drop && next === fault.drop.afterEvents) {
          if (fault.drop.midEvent) {
            const e = events[next] ?? '';
            controller.enqueue(enc.encode(e.slice(0, Math.floor(e.length / 2))));
          }
          closed = true;
          controller.error(new TypeError('terminated'));
          return;
        }
        if (fault?.sseError && next === fault.sseError.afterEvents) {
          controller.enqueue(
            enc.encode(
              frame('error', { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } }),
            ),
          );
          closed = true;
          controller.close();
          return;
        }
        const e = events[next++];
        if (e === undefined) {
          closed = true;
          controller.close();
          return;
        }
        controller.enqueue(enc.encode(e));
      },
    });
    return new Response(stream, { headers: { ...headers, 'content-type': 'text/event-stream' } });
  };
  return { fetch: fetch as typeof globalThis.fetch, arrivals };
}

// ---------------------------------------------------------------------------------------------
// One run.

export interface SimTransition {
  /** Virtual real ms since the workload's start. */
  t: number;
  key: string;
  to: string;
}

export interface SimRequest {
  index: number;
  /** Virtual real ms since the workload's start. */
  issuedAt: number;
  ok: boolean;
  error: string | undefined;
  /** final-message runs: the text differs from the fake's. */
  mismatch: boolean;
}

export interface SimRun {
  scenario: SimScenario;
  variant: SimVariant;
  config: SimConfig;
  requests: SimRequest[];
  arrivals: Arrival[];
  transitions: SimTransition[];
}

/** The breaker transitions recorded as span events (their times are virtual, like everything). */
class Transitions implements SpanProcessor {
  readonly list: SimTransition[] = [];
  constructor(readonly t0: () => number) {}
  onStart(_span: Span, _context: Context): void {}
  onEnd(span: ReadableSpan): void {
    for (const event of span.events) {
      if (event.name !== 'anthropic.circuit_breaker.transition') continue;
      const [s, ns] = event.time;
      this.list.push({
        t: s * 1000 + ns / 1e6 - performance.timeOrigin - this.t0(),
        key: String(event.attributes?.['anthropic.circuit_breaker.key']),
        to: String(event.attributes?.['anthropic.circuit_breaker.to']),
      });
    }
  }
  async forceFlush(): Promise<void> {}
  async shutdown(): Promise<void> {}
}

function describe(error: unknown): string {
  const own = claudeOtelErrorOf(error);
  if (own !== undefined) return String(own.type);
  const e = error as { status?: unknown } | null;
  if (typeof e?.status === 'number') return String(e.status);
  return error instanceof Error
    ? error.name === 'Error'
      ? error.constructor.name
      : error.name
    : String(error);
}

/** Runs one scenario with one variant, on its own virtual time. */
export async function simulate(
  scenario: SimScenario,
  variant: SimVariant,
  config: SimConfig,
): Promise<SimRun> {
  const vt = new VirtualTime();
  vt.install(config.seed * 7919 + 17);
  try {
    return await vt.run(() => runIn(vt, scenario, variant, config));
  } finally {
    vt.uninstall();
  }
}

async function runIn(
  vt: VirtualTime,
  scenario: SimScenario,
  variant: SimVariant,
  config: SimConfig,
): Promise<SimRun> {
  let start = 0;
  const t0 = () => start;
  const api = fakeApi(scenario, config, vt, t0);
  const events = new Transitions(t0);
  const tracerProvider = new TracerProvider({ spanProcessors: [events] });
  const primary = 'http://primary.sim';
  const ours = variant === 'ours' || variant === 'ours-old' || variant === 'ours-resume';
  const options: ClaudeFetchOptions = ours
    ? {
        fetch: api.fetch,
        tracerProvider,
        retry: true,
        breaker: variant === 'ours-old' ? { openMs: 30_000, openBackoffMultiplier: 2, hold: false } : true,
        timeouts: { connectMs: 30_000, firstChunkMs: 30_000, idleMs: 20_000 },
        ...(scenario.regions && {
          regions: {
            list: [
              { name: 'primary', baseURL: primary },
              { name: 'secondary', baseURL: 'http://secondary.sim' },
            ],
            probe: { intervalMs: 5_000, timeoutMs: 10_000 },
          },
        }),
        ...(scenario.fallbackModels && { fallback: { models: scenario.fallbackModels } }),
        ...(variant === 'ours-resume' && { resume: true }),
        clock: vt.clock(1),
        random: seededRandom(config.seed),
      }
    : { fetch: api.fetch, tracerProvider };
  const claudeFetch = createClaudeFetch(options);
  let stack: CallPolicy | undefined;
  if (variant === 'cockatiel') {
    const c = cockatielStack(1, `primary|${REQUEST_MODEL}`);
    c.policy.onTransition((tr) =>
      events.list.push({ t: tr.at - performance.timeOrigin - start, key: tr.key, to: tr.to }),
    );
    stack = c.policy;
  }
  const client = new Anthropic({
    apiKey: 'sim-key',
    baseURL: primary,
    fetch: claudeFetch,
    ...(stack && { maxRetries: 0 }),
  });
  const call = async (index: number, signal?: AbortSignal): Promise<{ text?: string }> => {
    const options = signal && { signal };
    const params = {
      model: REQUEST_MODEL,
      max_tokens: 64,
      messages: [
        { role: 'user' as const, content: `[bench#${index}] Summarise the plot of Hamlet in one sentence.` },
      ],
    };
    if (scenario.stream === 'final-message') {
      const message = await client.messages.stream(params, options).finalMessage();
      return { text: message.content.map((b) => (b.type === 'text' ? b.text : '')).join('') };
    }
    if (scenario.stream === 'events') {
      const stream = await client.messages.create({ ...params, stream: true }, options);
      for await (const _event of stream) {
        // consume every event
      }
      return {};
    }
    await client.messages.create(params, options);
    return {};
  };
  const requests: SimRequest[] = [];
  let free = config.concurrency;
  const queue: Array<() => void> = [];
  const running: Promise<void>[] = [];
  start = vt.now;
  for (let index = 0; index < config.requests; index++) {
    const due = start + (index * config.intervalMs) / config.timeScale;
    if (due > vt.now) await new Promise((resolve) => setTimeout(resolve, due - vt.now));
    if (free > 0) free--;
    else await new Promise<void>((resolve) => queue.push(resolve));
    // Faults and floors go by the schedule (the same for every variant); a request waiting for a
    // slot is sent later.
    const issuedAt = (index * config.intervalMs) / config.timeScale;
    const run = stack ? stack.execute((signal) => call(index, signal)) : call(index);
    running.push(
      run
        .then(
          ({ text }) => {
            requests.push({
              index,
              issuedAt,
              ok: true,
              error: undefined,
              mismatch: scenario.text !== undefined && text !== scenario.text,
            });
          },
          (error: unknown) => {
            requests.push({ index, issuedAt, ok: false, error: describe(error), mismatch: false });
          },
        )
        .finally(() => {
          const next = queue.shift();
          if (next) next();
          else free++;
        }),
    );
  }
  await Promise.all(running);
  claudeFetch.shutdown();
  await tracerProvider.forceFlush();
  await tracerProvider.shutdown();
  requests.sort((a, b) => a.index - b.index);
  events.list.sort((a, b) => a.t - b.t);
  return { scenario, variant, config, requests, arrivals: api.arrivals, transitions: events.list };
}

// ---------------------------------------------------------------------------------------------
// Measures.

/** The watched breaker: the request model's, on the primary. */
export const watched = (key: string): boolean =>
  key.endsWith(`|${REQUEST_MODEL}`) && !key.startsWith('secondary|');

export interface Measures {
  success: number;
  requests: number;
  attempts: number;
  /** Attempts the scenario's floor allows (see {@link floorOf}). */
  floor: number;
  /** Breaker phases: from ours' breaker first opening to the window's end (the same for every variant). */
  open: OpenPhase | undefined;
  /** Attempts that arrived at the API during `open`. */
  openAttempts: number;
  /** Virtual real ms from the window's end to the watched breaker closing; undefined: never opened; NaN: not by the end. */
  closedAfterMs: number | undefined;
  mismatches: number;
  failures: Map<string, number>;
}

/**
 * The sends any design must make: each request that can succeed, its fewest attempts (once; twice
 * for a 429 with retry-after or a broken stream; more for steady 529s), plus the requests in flight
 * when a fault phase starts (`concurrency`: nobody can know before they answer).
 */
export function floorOf(run: SimRun): number {
  let floor = 0;
  for (const r of run.requests) floor += run.scenario.need(r.index, r.issuedAt);
  if (run.scenario.window !== undefined) floor += run.config.concurrency;
  return floor;
}

/** The stretch of a fault window after the watched breaker first opened. */
export interface OpenPhase {
  from: number;
  to: number;
  /** Requests scheduled in it. */
  requests: number;
}

/** The part of the fault window once `run`'s watched breaker had first opened. */
export function openPhaseOf(run: SimRun): OpenPhase | undefined {
  const w = run.scenario.window;
  if (!run.scenario.breakerPhase || w === undefined) return undefined;
  const opened = run.transitions.find((t) => watched(t.key) && t.to === 'open' && t.t >= w.start);
  if (opened === undefined || opened.t >= w.end) return undefined;
  const requests = run.requests.filter((r) => r.issuedAt >= opened.t && r.issuedAt < w.end).length;
  return { from: opened.t, to: w.end, requests };
}

export function measure(run: SimRun, open: OpenPhase | undefined): Measures {
  const w = run.scenario.window;
  const transitions = run.transitions.filter((t) => watched(t.key));
  let closedAfterMs: number | undefined;
  if (w !== undefined && transitions.some((t) => t.to === 'open')) {
    const before = transitions.filter((t) => t.t <= w.end).at(-1);
    if (before === undefined || before.to === 'closed') closedAfterMs = 0;
    else {
      const closed = transitions.find((t) => t.t > w.end && t.to === 'closed');
      closedAfterMs = closed === undefined ? Number.NaN : closed.t - w.end;
    }
  }
  const failures = new Map<string, number>();
  for (const r of run.requests)
    if (!r.ok) failures.set(r.error ?? '?', (failures.get(r.error ?? '?') ?? 0) + 1);
  return {
    success: run.requests.filter((r) => r.ok).length,
    requests: run.requests.length,
    attempts: run.arrivals.length,
    floor: floorOf(run),
    open,
    // Every attempt sent to the dead API while ours' breaker was open, whichever request it was.
    openAttempts:
      open === undefined ? 0 : run.arrivals.filter((a) => a.t >= open.from && a.t < open.to).length,
    closedAfterMs,
    mismatches: run.requests.filter((r) => r.mismatch).length,
    failures,
  };
}

/** Requests `base` served that `other` did not. */
export function lost(base: SimRun, other: SimRun): number {
  const ok = new Set(other.requests.filter((r) => r.ok).map((r) => r.index));
  return base.requests.filter((r) => r.ok && !ok.has(r.index)).length;
}

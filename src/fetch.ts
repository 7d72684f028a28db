/**
 * `createClaudeFetch`: a `fetch` for `new Anthropic({ fetch })` that runs each call through the
 * pipeline (policies around one instrumented attempt) and records the operation's metrics.
 */

import { type Attributes, context, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import {
  type AttemptEnv,
  type AttemptHandle,
  type AttemptPlan,
  type AttemptResult,
  sendAttempt,
  suppressTracing,
} from './attempt.js';
import { isEventStream, rebuild } from './body.js';
import { CLAUDE_FETCH_OPTIONS, checkOptions } from './config.js';
import type { ClaudeFetchOptions } from './options.js';
import { compose, decide, type Operation, type Policy } from './pipeline.js';
import type { BreakerRegistry } from './policies/breaker.js';
import { breakerPolicy, createBreakers } from './policies/breaker-policy.js';
import { TokenBucketRetryBudget } from './policies/budget.js';
import { cachePolicy } from './policies/cache-policy.js';
import { systemClock } from './policies/clock.js';
import { ClaudeTimeoutError } from './policies/errors.js';
import { ModelFallback } from './policies/fallback.js';
import { fallbackPolicy } from './policies/fallback-policy.js';
import { fleetBreakerPolicy } from './policies/fleet-breaker.js';
import { regionPolicy, watchRegionHealth } from './policies/region-policy.js';
import { RegionProber, RegionRouter } from './policies/regions.js';
import { retryPolicy } from './policies/retry.js';
import { SharedRetryBudget } from './policies/shared-budget.js';
import { throttlePolicy } from './policies/throttle-policy.js';
import { ERROR_BODY_DEFAULTS, errorTypeOfException, timeoutKind } from './recorder.js';
import { redactText } from './redact.js';
import { type ClaudeRequest, readRequest, redactUrl, requestInit } from './request.js';
import { resumableStream, StreamInterruptedError } from './sse/resume.js';
import { fleetResponseStore } from './store/cache.js';
import { resolveFleet } from './store/fleet.js';
import { regionFromHost } from './telemetry/headers.js';
import { Telemetry } from './telemetry/instruments.js';
import { A, EVENTS, SPANS } from './telemetry/names.js';
import { hrTimeAt, rememberBase, timeBaseOf } from './telemetry/time.js';
import { totalInput } from './usage.js';

/**
 * The fetch signature the SDK calls, plus `shutdown()`: stops the region health probes (if any) and
 * refuses the requests waiting for a circuit breaker (`circuit_open`, nothing sent).
 */
export type ClaudeFetch = ((input: string | URL | Request, init?: RequestInit) => Promise<Response>) & {
  /** Stops the region health probes (if any); the fetch keeps working without them. */
  shutdown(): void;
};

/** The credentials of a request, kept in memory for the health probes (never recorded). */
function authHeaders(headers: HeadersInit | undefined): Headers | undefined {
  const all = new Headers(headers);
  const out = new Headers();
  for (const name of ['x-api-key', 'authorization', 'anthropic-version']) {
    const value = all.get(name);
    if (value !== null) out.set(name, value);
  }
  return out;
}

/** One health probe: `GET {baseURL}{path}`, up when anything below 500 answers. */
async function probeRegion(
  telemetry: Telemetry,
  baseFetch: () => typeof globalThis.fetch,
  baseURL: string,
  name: string,
  path: string,
  auth: Headers | undefined,
  signal: AbortSignal,
): Promise<boolean> {
  const url = new URL(path.replace(/^\//, ''), baseURL.endsWith('/') ? baseURL : `${baseURL}/`);
  const span = telemetry.safely('probe_span', () =>
    telemetry.tracer.startSpan(SPANS.PROBE.name, {
      kind: SpanKind.CLIENT,
      attributes: {
        [A.ANTHROPIC_PROBE]: true,
        [A.ANTHROPIC_REGION]: name,
        [A.HTTP_REQUEST_METHOD]: 'GET',
        [A.URL_FULL]: redactUrl(url),
        [A.SERVER_ADDRESS]: url.hostname,
      },
    }),
  );
  try {
    const ctx = suppressTracing(context.active());
    const response = await context.with(ctx, () => baseFetch()(url.href, { headers: auth, signal }));
    await response.body?.cancel().catch(() => undefined);
    span?.setAttribute(A.HTTP_RESPONSE_STATUS_CODE, response.status);
    const up = response.status < 500;
    if (!up) span?.setStatus({ code: SpanStatusCode.ERROR, message: String(response.status) });
    return up;
  } catch (error) {
    span?.setStatus({
      code: SpanStatusCode.ERROR,
      message: redactText(error instanceof Error ? error.message : String(error)),
    });
    return false;
  } finally {
    span?.end();
  }
}

const DEFAULT_CONTENT_LENGTH = 16_384;

function contentLimit(option: ClaudeFetchOptions['captureContent']): number | undefined {
  if (option === undefined || option === false) return undefined;
  if (option === true) return DEFAULT_CONTENT_LENGTH;
  const max = option.maxLength ?? DEFAULT_CONTENT_LENGTH;
  if (!Number.isInteger(max) || max < 1) {
    throw new TypeError(`captureContent.maxLength must be a positive integer, got ${String(max)}`);
  }
  return max;
}

function recordOperation(
  telemetry: Telemetry,
  req: ClaudeRequest,
  startedAt: number,
  result: AttemptResult,
): void {
  const { plan } = result;
  const instruments = telemetry.instruments;
  const attributes: Attributes = {
    [A.GEN_AI_PROVIDER_NAME]: 'anthropic',
    [A.GEN_AI_OPERATION_NAME]: req.operation,
    [A.SERVER_ADDRESS]: plan.url.hostname,
    [A.ANTHROPIC_REGION]: plan.region,
  };
  if (plan.url.port) attributes[A.SERVER_PORT] = Number(plan.url.port);
  if (plan.model !== undefined) attributes[A.GEN_AI_REQUEST_MODEL] = plan.model;
  if (result.facts.model !== undefined) attributes[A.GEN_AI_RESPONSE_MODEL] = result.facts.model;
  const durationS = (result.startedAt - startedAt) / 1000 + result.durationS;
  if (result.errorType !== undefined) {
    instruments.operationDuration.record(durationS, { ...attributes, [A.ERROR_TYPE]: result.errorType });
    return;
  }
  instruments.operationDuration.record(durationS, attributes);
  if (result.timeToFirstChunkS !== undefined) {
    instruments.timeToFirstChunk.record(
      (result.startedAt - startedAt) / 1000 + result.timeToFirstChunkS,
      attributes,
    );
  }
  const usage = result.facts.usage;
  if (usage !== undefined && result.outcome === 'ok') {
    instruments.tokenUsage.record(totalInput(usage), { ...attributes, [A.GEN_AI_TOKEN_TYPE]: 'input' });
    instruments.tokenUsage.record(usage.output, { ...attributes, [A.GEN_AI_TOKEN_TYPE]: 'output' });
    if (usage.cacheRead > 0) {
      instruments.cacheTokens.add(usage.cacheRead, { ...attributes, [A.GEN_AI_TOKEN_TYPE]: 'cache_read' });
    }
    if (usage.cacheWrite > 0) {
      instruments.cacheTokens.add(usage.cacheWrite, { ...attributes, [A.GEN_AI_TOKEN_TYPE]: 'cache_write' });
    }
  }
}

/** `value` when it is a positive number of milliseconds (or unset), else a `TypeError`. */
function nonNegative(name: string, value: number | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new TypeError(`${name} must be a positive number of milliseconds, got ${String(value)}`);
  }
  return value;
}

/** `value` when it is a positive integer (or unset), else a `TypeError`. */
function positiveInteger(name: string, value: number | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!Number.isInteger(value) || value < 1) {
    throw new TypeError(`${name} must be a positive integer, got ${String(value)}`);
  }
  return value;
}

function propagationOption(value: ClaudeFetchOptions['propagation']): boolean | 'auto' {
  if (value === undefined) return 'auto';
  if (value !== true && value !== false && value !== 'auto') {
    throw new TypeError(`options.propagation must be true, false or 'auto', got ${String(value)}`);
  }
  return value;
}

/** The operation's end with the stream's: the result of its last attempt, as the stream ended. */
function endWith(
  finish: Finish,
  done: Promise<AttemptResult>,
  kind: 'complete' | 'error' | 'cancelled',
  error?: unknown,
): void {
  // The stream the caller reads ends now (its last attempt has ended already, or ends with it).
  const at = performance.now();
  void done.then(
    (result) => {
      const endedAt = Math.max(at, result.endedAt ?? 0);
      if (kind === 'complete') {
        finish({ ...result, errorType: undefined, outcome: 'ok' }, undefined, endedAt);
      } else if (kind === 'error') {
        const reason = error instanceof StreamInterruptedError ? error.reason : result.errorType;
        finish({ ...result, errorType: reason ?? 'stream_error', outcome: 'error' }, undefined, endedAt);
      } else {
        finish({ ...result, outcome: 'cancelled' }, undefined, endedAt);
      }
    },
    () => finish(undefined, undefined, at),
  );
}

/** Ends an operation: with its last attempt's result, the error that ended it, when (perf ms). */
type Finish = (result: AttemptResult | undefined, error?: unknown, at?: number) => void;

/** What ends an operation whose resumable stream was dropped before its end. */
interface DroppedStream {
  readonly finish: Finish;
  /** The last attempt's `done` (not the handle: it holds the response, hence the body). */
  done: Promise<AttemptResult>;
}

/** A resumable stream dropped before its end still ends its operation (span and metrics). */
const droppedStreams = new FinalizationRegistry<DroppedStream>((dropped) =>
  endWith(dropped.finish, dropped.done, 'cancelled'),
);

/**
 * The resumable stream of an operation. Kept out of `createClaudeFetch`'s call scope on purpose:
 * the callbacks its attempts register (on `done`) live in that scope, so the last attempt's handle
 * (and through it the body) must not: a dropped stream is then collected, and its spans end.
 */
function resumeOperation(
  streamed: ReadableStream<Uint8Array>,
  json: Record<string, unknown>,
  first: AttemptHandle,
  ctx: {
    maxResumptions: number;
    maxBufferedChars: number;
    req: ClaudeRequest;
    plan: AttemptPlan;
    op: Operation;
    telemetry: Telemetry;
    send: (plan: AttemptPlan) => Promise<AttemptHandle>;
    finish: Finish;
  },
): ReadableStream<Uint8Array> {
  const { req, plan, op, telemetry, send } = ctx;
  let previous = first.spanContext;
  const dropped: DroppedStream = { finish: ctx.finish, done: first.done };
  const token = {};
  const stream = resumableStream(streamed, json, {
    maxResumptions: ctx.maxResumptions,
    maxBufferedChars: ctx.maxBufferedChars,
    errorTypeOf: (error) => errorTypeOfException(error, req.signal),
    signal: req.signal,
    resume: async (body, n) => {
      const next = await send({ ...plan, body, previous, continuation: true });
      previous = next.spanContext;
      dropped.done = next.done;
      const continued = next.ok && isEventStream(next.response) ? next.response.body : null;
      if (continued !== null) return { ok: true, body: continued };
      if (next.ok) void next.response.body?.cancel().catch(() => undefined);
      return { ok: false, reason: next.errorType ?? `resume_${n}_failed` };
    },
    onDecision: (outcome, reason, at) => {
      telemetry.safely('resume_metrics', () =>
        telemetry.instruments.resumptions.add(1, {
          [A.ANTHROPIC_RESUME_OUTCOME]: outcome,
          [A.ANTHROPIC_RESUME_REASON]: reason,
        }),
      );
      decide(
        op,
        EVENTS.STREAM_RESUMPTION.name,
        {
          [A.ANTHROPIC_RESUME_OUTCOME]: outcome,
          [A.ANTHROPIC_RESUME_REASON]: reason,
        },
        at,
      );
    },
    onEnd: (kind, error) => {
      droppedStreams.unregister(token);
      endWith(dropped.finish, dropped.done, kind, error);
    },
  });
  droppedStreams.register(stream, dropped, token);
  return stream;
}

/**
 * Creates the instrumented fetch. Pass it to the SDK: `new Anthropic({ fetch: createClaudeFetch() })`.
 *
 * Each HTTP attempt becomes a CLIENT span (a child of the active span, so of the SDK's own call span
 * when the SDK traces) and is counted in the metrics; see the telemetry reference (docs/telemetry.md).
 * The resilience policies (`retry`, `breaker`, `timeouts`, `regions`, `fallback`, `cache`, `resume`,
 * `throttle`, `store`) are off until their option is set. The returned function never adds a failure
 * of its own: what telemetry throws is caught and counted, and the caller receives exactly what the
 * wrapped fetch returned or threw (or, with a policy on, the answer that policy chose).
 *
 * @param options Every option is optional; see {@link ClaudeFetchOptions}.
 * @returns The fetch for `new Anthropic({ fetch })`; call its `shutdown()` when done with it (it
 *   stops the region health probes, if any).
 * @throws ClaudeOtelOptionsError (a `TypeError`) when an option is invalid, naming its path, the value
 *   and what was expected, and for an unknown key the closest known one (at creation, never per request).
 *
 * @example
 * ```ts
 * import Anthropic from '@anthropic-ai/sdk';
 * import { createClaudeFetch } from 'claude-otel-middleware';
 *
 * const client = new Anthropic({ fetch: createClaudeFetch({ retry: true, breaker: true }) });
 * ```
 */
export function createClaudeFetch(options: ClaudeFetchOptions = {}): ClaudeFetch {
  checkOptions(CLAUDE_FETCH_OPTIONS, options);
  const telemetry = new Telemetry(options.tracerProvider, options.meterProvider, {
    ...options.logging,
    logger: options.logger,
    loggerProvider: options.loggerProvider,
    clock: options.clock,
  });
  for (const name of ['fetch', 'requestHook', 'responseHook', 'ignoreRequest'] as const) {
    const value = options[name];
    if (value !== undefined && typeof value !== 'function') {
      throw new TypeError(`options.${name} must be a function, got ${typeof value}`);
    }
  }
  if (options.region !== undefined && (typeof options.region !== 'string' || options.region === '')) {
    throw new TypeError('options.region must be a non-empty string');
  }
  const clock = options.clock ?? systemClock;
  const random = options.random ?? Math.random;
  const fleet = resolveFleet(options.store, telemetry, clock, options.logger);
  const timeouts = options.timeouts ?? {};
  const totalMs = nonNegative('timeouts.totalMs', timeouts.totalMs);
  const userFetch = options.fetch;
  const baseFetch = (): typeof globalThis.fetch => userFetch ?? globalThis.fetch;
  const env: AttemptEnv = {
    telemetry,
    baseFetch,
    suppressInnerHttpSpans: options.suppressInnerHttpSpans ?? true,
    captureContent: contentLimit(options.captureContent),
    requestHook: options.requestHook,
    responseHook: options.responseHook,
    timeouts: {
      connectMs: nonNegative('timeouts.connectMs', timeouts.connectMs),
      firstChunkMs: nonNegative('timeouts.firstChunkMs', timeouts.firstChunkMs),
      idleMs: nonNegative('timeouts.idleMs', timeouts.idleMs),
    },
    clock,
    errorBody: {
      maxBytes:
        positiveInteger('errorBody.maxBytes', options.errorBody?.maxBytes) ?? ERROR_BODY_DEFAULTS.maxBytes,
      maxWaitMs:
        nonNegative('errorBody.maxWaitMs', options.errorBody?.maxWaitMs) ?? ERROR_BODY_DEFAULTS.maxWaitMs,
      clock,
    },
    propagation: propagationOption(options.propagation),
  };
  // Policies, outermost first: the cache around model fallbacks around retries around region
  // failover around the breaker around each attempt.
  const policies: Policy[] = [];
  const cache = options.cache === true ? {} : options.cache || undefined;
  if (cache !== undefined) {
    const shared = fleet !== undefined && cache.store === undefined;
    const store = shared ? fleetResponseStore(fleet.guard, clock, cache.ttlMs ?? 600_000) : cache.store;
    policies.push(cachePolicy({ ...cache, store }, clock));
  }
  if (options.fallback !== undefined)
    policies.push(fallbackPolicy(new ModelFallback(options.fallback, clock)));
  const retry = options.retry === true ? {} : options.retry || undefined;
  if (retry !== undefined) {
    const budget =
      retry.budget === false
        ? undefined
        : fleet !== undefined
          ? new SharedRetryBudget(fleet.guard, fleet.budgetName, retry.budget)
          : new TokenBucketRetryBudget(retry.budget);
    policies.push(retryPolicy(retry, budget));
  }
  const regions = Array.isArray(options.regions) ? { list: options.regions } : options.regions;
  let lastAuth: Headers | undefined;
  let prober: RegionProber | undefined;
  if (regions !== undefined) {
    const router = new RegionRouter(regions.list, regions, clock, random);
    watchRegionHealth(router, telemetry);
    policies.push(regionPolicy(router));
    const probe = regions.probe === true ? {} : regions.probe || undefined;
    if (probe !== undefined) {
      const path = probe.path ?? '/v1/models';
      prober = new RegionProber(
        router,
        (region, signal) =>
          probeRegion(telemetry, baseFetch, region.baseURL, region.name, path, lastAuth, signal),
        probe,
        clock,
        random,
      );
      prober.start();
    }
  }
  const throttle = options.throttle === true ? {} : options.throttle || undefined;
  if (throttle !== undefined) {
    policies.push(throttlePolicy(throttle, fleet && { guard: fleet.guard, syncMs: fleet.syncMs }));
  }
  const breaker = options.breaker === true ? {} : options.breaker || undefined;
  let breakers: BreakerRegistry | undefined;
  if (breaker !== undefined) {
    const registry = createBreakers(breaker, clock, telemetry);
    breakers = registry;
    policies.push(
      fleet === undefined
        ? breakerPolicy(breaker, registry)
        : fleetBreakerPolicy(breaker, registry, fleet, clock, telemetry),
    );
  }
  const resume = options.resume === true ? {} : options.resume || undefined;
  const maxResumptions = resume?.maxResumptions ?? 2;
  if (!Number.isInteger(maxResumptions) || maxResumptions < 1) {
    throw new TypeError(
      `resume.maxResumptions must be an integer ≥ 1, got ${String(resume?.maxResumptions)}`,
    );
  }
  const maxBufferedChars = resume?.maxBufferedChars ?? 1_000_000;
  if (!Number.isInteger(maxBufferedChars) || maxBufferedChars < 1) {
    throw new TypeError(
      `resume.maxBufferedChars must be an integer ≥ 1, got ${String(resume?.maxBufferedChars)}`,
    );
  }
  const withOperationSpan = policies.length > 0 || totalMs !== undefined || resume !== undefined;
  const fixedRegion = options.region;
  const ignore = options.ignoreRequest;

  const claudeFetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    let req: ClaudeRequest;
    try {
      req = readRequest(input, init);
      // Not an HTTP request (the SDK probes its fetch with `data:` URLs): not ours to record.
      const web = req.url.protocol === 'https:' || req.url.protocol === 'http:';
      if (!web || ignore?.(req)) return baseFetch()(input, init);
    } catch (error) {
      telemetry.failed('read_request', error);
      return baseFetch()(input, init);
    }
    // A `Request`: its body is read once (each attempt resends it) and its options kept.
    if (req.asRequest) req = readRequest(input, await requestInit(input as Request, init));
    if (prober !== undefined) lastAuth = authHeaders(req.headers);
    const startedAt = performance.now();
    const plan: AttemptPlan = {
      url: req.url,
      body: req.body,
      resendCount: req.sdkRetryCount,
      region: fixedRegion ?? regionFromHost(req.url.hostname),
      model: req.model,
    };
    let parent = context.active();
    if (!withOperationSpan) {
      // Instrumentation only: the attempt is the operation.
      const handle = await sendAttempt(env, req, plan, parent);
      handle.done.then(
        (result) =>
          telemetry.safely('operation_metrics', () => recordOperation(telemetry, req, startedAt, result)),
        () => undefined,
      );
      if (!handle.ok) throw handle.error;
      return handle.response;
    }
    // The operation: its span (on its parent's time base, so it never ends after the SDK's call
    // span), its deadline, its policies.
    const timeBase = timeBaseOf(parent);
    const span = telemetry.safely('start_span', () =>
      telemetry.tracer.startSpan(
        `${req.operation}${req.model !== undefined ? ` ${req.model}` : ''}`,
        {
          kind: SpanKind.INTERNAL,
          attributes: {
            [A.GEN_AI_PROVIDER_NAME]: 'anthropic',
            [A.GEN_AI_OPERATION_NAME]: req.operation,
            ...(req.model !== undefined ? { [A.GEN_AI_REQUEST_MODEL]: req.model } : {}),
          },
          startTime: hrTimeAt(timeBase, startedAt),
        },
        parent,
      ),
    );
    if (span !== undefined) {
      rememberBase(span, timeBase);
      parent = trace.setSpan(parent, span);
    }
    const deadline = new AbortController();
    const deadlineTimer =
      totalMs === undefined
        ? undefined
        : clock.setTimer(() => deadline.abort(new ClaudeTimeoutError('total', totalMs)), totalMs);
    const signal = req.signal ? AbortSignal.any([req.signal, deadline.signal]) : deadline.signal;
    const op: Operation = {
      request: req,
      span,
      telemetry,
      clock,
      random,
      signal,
      deadlineAt: totalMs === undefined ? Number.POSITIVE_INFINITY : clock.now() + totalMs,
      retrying: retry !== undefined,
      attempts: 0,
      timeBase,
    };
    const send = compose(op, policies, async (p) => {
      op.attempts++;
      const handle = await sendAttempt(env, req, { ...p, signal }, parent);
      // A timeout of ours is a decision too: record it on the operation as well as on the attempt.
      handle.done.then(
        (result) => {
          if (result.endedAt !== undefined) op.lastEndedAt = Math.max(op.lastEndedAt ?? 0, result.endedAt);
          const kind = timeoutKind(result.errorType);
          if (kind !== undefined) decide(op, EVENTS.TIMEOUT.name, { [A.ANTHROPIC_TIMEOUT_KIND]: kind });
        },
        () => undefined,
      );
      return handle;
    });
    /**
     * Ends the operation, stamped when it ended (`at`, default the last attempt's end, else now):
     * no earlier than its attempts, and before the SDK's call span (which ends a few microtasks
     * after the body it read did).
     */
    const finish = (result: AttemptResult | undefined, error?: unknown, at?: number): void => {
      const endedAt = Math.max(at ?? result?.endedAt ?? performance.now(), op.lastEndedAt ?? 0);
      deadlineTimer?.cancel();
      if (result !== undefined) {
        telemetry.safely('operation_metrics', () => recordOperation(telemetry, req, startedAt, result));
      }
      if (span === undefined) return;
      telemetry.safely('end_span', () => {
        try {
          span.setAttribute(A.ANTHROPIC_OPERATION_ATTEMPTS, op.attempts);
          const errorType = result?.errorType ?? (error !== undefined ? 'aborted' : undefined);
          if (errorType !== undefined) span.setAttribute(A.ERROR_TYPE, errorType);
          if (result?.outcome === 'error') span.setStatus({ code: SpanStatusCode.ERROR, message: errorType });
          if (result?.facts.model !== undefined)
            span.setAttribute(A.GEN_AI_RESPONSE_MODEL, result.facts.model);
        } finally {
          span.end(hrTimeAt(timeBase, endedAt));
        }
      });
    };
    let handle: AttemptHandle;
    try {
      handle = await send(plan);
    } catch (error) {
      // A caller's abort while a policy waited.
      finish(undefined, error);
      throw error;
    }
    const response = handle.ok ? handle.response : undefined;
    const json = req.json;
    // Only Messages streams are resumed (another stream, e.g. Text Completions, passes through).
    const streamed =
      resume !== undefined &&
      req.operation === 'chat' &&
      response !== undefined &&
      json !== undefined &&
      req.stream &&
      isEventStream(response)
        ? response.body
        : null;
    if (streamed === null || response === undefined || json === undefined) {
      handle.done.then(
        (result) => finish(result),
        () => finish(undefined),
      );
      if (!handle.ok) throw handle.error;
      return handle.response;
    }
    // A broken stream is continued through the same pipeline; the operation ends with the stream.
    const stream = resumeOperation(streamed, json, handle, {
      maxResumptions,
      maxBufferedChars,
      req,
      plan,
      op,
      telemetry,
      send,
      finish,
    });
    return rebuild(response, stream);
  };
  return Object.assign(claudeFetch, {
    shutdown(): void {
      prober?.stop();
      // Requests waiting for a breaker are refused (circuit_open), not left waiting.
      breakers?.close();
      telemetry.log.flush();
    },
  });
}

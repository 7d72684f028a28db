/**
 * One HTTP attempt with its CLIENT span: start the span, inject the trace context, call the wrapped
 * fetch, record the response headers, and hand the body to the right observer (`body.ts`,
 * `sse/recorder.ts`), which ends the span when the body is over. Nothing here changes what the caller
 * receives: the same status, headers and body bytes, at the same pace.
 */
import {
  type Attributes,
  type Context,
  context,
  createContextKey,
  INVALID_SPAN_CONTEXT,
  propagation,
  SpanKind,
  trace,
} from '@opentelemetry/api';
import { bufferResponse, isBufferable, passThrough, rebuild, tapResponse } from './body.js';
import { ClaudeTimeoutError, type TimeoutKind } from './policies/errors.js';
import type { Timer } from './policies/types.js';
import {
  type AttemptEnv,
  type AttemptHandle,
  type AttemptInfo,
  type AttemptPlan,
  AttemptRecorder,
  errorTypeOfException,
  truncate,
} from './recorder.js';
import { redactText, requestSecrets } from './redact.js';
import { type ClaudeRequest, headerValue, redactUrl } from './request.js';
import { observeStream } from './sse/recorder.js';
import { parseRateLimits, parseRetryAfter, parseShouldRetry, pickHeaders } from './telemetry/headers.js';
import { A, RATELIMIT_FIELDS, RATELIMIT_RESOURCES } from './telemetry/names.js';
import { hrTimeAt, timeBaseOf } from './telemetry/time.js';

export type { AttemptEnv, AttemptHandle, AttemptPlan, AttemptResult } from './recorder.js';

/** The key `@opentelemetry/core`'s `suppressTracing` sets; HTTP instrumentations honour it. */
const SUPPRESS_TRACING_KEY = createContextKey('OpenTelemetry SDK Context Key SUPPRESS_TRACING');

/** `ctx` with tracing suppressed (what `@opentelemetry/core`'s `suppressTracing` does). */
export function suppressTracing(ctx: Context): Context {
  return ctx.setValue(SUPPRESS_TRACING_KEY, true);
}

/** Collects what a propagator writes, names in lower case (replacing, as `Headers#set` does). */
const recordSetter = {
  set(carrier: Map<string, string>, key: string, value: string): void {
    carrier.set(key.toLowerCase(), value);
  },
};

/** The header of ours that caps our retries for one request (removed before sending). */
export const MAX_RETRIES_HEADER = 'x-claude-otel-max-retries';

/** The first SDK version that propagates the trace context itself, and can be told not to. */
const SDK_PROPAGATING = [0, 134] as const;

/** Whether the request comes from an SDK that decides on propagation itself (≥ 0.134). */
function sdkDecidesPropagation(headers: HeadersInit | undefined): boolean {
  if (headerValue(headers, 'x-stainless-lang') !== 'js') return false;
  const version = /^(\d+)\.(\d+)/.exec(headerValue(headers, 'x-stainless-package-version') ?? '');
  if (version === null) return false;
  const major = Number(version[1]);
  const minor = Number(version[2]);
  return major > SDK_PROPAGATING[0] || (major === SDK_PROPAGATING[0] && minor >= SDK_PROPAGATING[1]);
}

/**
 * Whether to inject the attempt's trace context. `'auto'`: an SDK that propagates by itself (≥ 0.134)
 * is followed — inject (replacing its context by the attempt span's) only when its request carries
 * one of the propagator's headers, so `openTelemetry: false`, `{ propagation: false }` and
 * `ANTHROPIC_OPEN_TELEMETRY(_PROPAGATION)=false` are honoured; any other caller gets the global
 * propagator's headers.
 */
function shouldInject(mode: boolean | 'auto', headers: HeadersInit | undefined): boolean {
  if (mode !== 'auto') return mode;
  if (!sdkDecidesPropagation(headers)) return true;
  for (const name of [...propagation.fields(), 'traceparent']) {
    if (headerValue(headers, name.toLowerCase()) !== null) return true;
  }
  return false;
}

/**
 * The headers of one attempt: what the caller passed, in the same shape (a `Headers` stays a
 * `Headers`, a record a record, an array an array; the very object when nothing changes), with
 * `changes` applied (a value sets, `null` removes). The caller's object is never mutated.
 */
export function withHeaderChanges(
  headers: HeadersInit | undefined,
  changes: ReadonlyMap<string, string | null>,
): HeadersInit | undefined {
  if (changes.size === 0) return headers;
  if (headers instanceof Headers) {
    const copy = new Headers(headers);
    for (const [name, value] of changes) {
      if (value === null) copy.delete(name);
      else copy.set(name, value);
    }
    return copy;
  }
  if (Array.isArray(headers)) {
    const copy: [string, string][] = [];
    for (const entry of headers as [string, string][]) {
      if (!changes.has(String(entry[0]).toLowerCase())) copy.push([entry[0], entry[1]]);
    }
    for (const [name, value] of changes) if (value !== null) copy.push([name, value]);
    return copy;
  }
  const copy: Record<string, string> = {};
  for (const [name, value] of Object.entries((headers ?? {}) as Record<string, string>)) {
    if (!changes.has(name.toLowerCase())) copy[name] = value;
  }
  for (const [name, value] of changes) if (value !== null) copy[name] = value;
  return copy;
}

/**
 * What an attempt changes in the request's headers: the trace context of the attempt span (see
 * {@link shouldInject}), the attempt number in `x-stainless-retry-count` when our retries resend,
 * and our own per-request header removed.
 */
function attemptHeaders(
  env: AttemptEnv,
  req: ClaudeRequest,
  plan: AttemptPlan,
  spanContext: Context,
  inject: boolean,
): HeadersInit | undefined {
  const headers = req.headers;
  const changes = new Map<string, string | null>();
  if (inject && shouldInject(env.propagation, headers)) {
    env.telemetry.safely('inject', () => propagation.inject(spanContext, changes, recordSetter));
  }
  if (plan.resendCount !== req.sdkRetryCount && headerValue(headers, 'x-stainless-retry-count') !== null) {
    changes.set('x-stainless-retry-count', String(plan.resendCount));
  }
  if (headerValue(headers, MAX_RETRIES_HEADER) !== null) changes.set(MAX_RETRIES_HEADER, null);
  return withHeaderChanges(headers, changes);
}

function startAttempt(
  env: AttemptEnv,
  req: ClaudeRequest,
  plan: AttemptPlan,
  parent: Context,
): AttemptRecorder {
  const startedAt = performance.now();
  // On the parent's time base, so the attempt is never stamped after the span it belongs to.
  const base = timeBaseOf(parent);
  const attributes: Attributes = {
    [A.HTTP_REQUEST_METHOD]: req.method,
    [A.URL_FULL]: redactUrl(plan.url),
    [A.SERVER_ADDRESS]: plan.url.hostname,
    [A.SERVER_PORT]: plan.url.port ? Number(plan.url.port) : plan.url.protocol === 'http:' ? 80 : 443,
    [A.HTTP_REQUEST_RESEND_COUNT]: plan.resendCount,
    [A.GEN_AI_PROVIDER_NAME]: 'anthropic',
    [A.GEN_AI_OPERATION_NAME]: req.operation,
    [A.ANTHROPIC_REGION]: plan.region,
  };
  if (plan.model !== undefined) attributes[A.GEN_AI_REQUEST_MODEL] = plan.model;
  if (plan.continuation === true) {
    attributes[A.ANTHROPIC_STREAM_CONTINUATION] = true;
    if (plan.previous !== undefined) attributes[A.ANTHROPIC_STREAM_CONTINUES] = plan.previous.spanId;
  }
  if (req.maxTokens !== undefined) attributes[A.GEN_AI_REQUEST_MAX_TOKENS] = req.maxTokens;
  if (req.json !== undefined) attributes[A.GEN_AI_REQUEST_STREAM] = req.stream;
  if (env.captureContent !== undefined && req.json !== undefined) {
    const max = env.captureContent;
    const json = req.json;
    env.telemetry.safely('capture_input', () => {
      attributes[A.GEN_AI_INPUT_MESSAGES] = truncate(
        JSON.stringify({ system: json.system, messages: json.messages }),
        max,
      );
    });
  }
  const span =
    env.telemetry.safely('start_span', () =>
      env.telemetry.tracer.startSpan(
        `${req.method} ${plan.url.pathname}`,
        {
          kind: SpanKind.CLIENT,
          attributes,
          links: plan.previous !== undefined ? [{ context: plan.previous }] : undefined,
          startTime: hrTimeAt(base, startedAt),
        },
        parent,
      ),
    ) ?? trace.wrapSpanContext(trace.getSpanContext(parent) ?? INVALID_SPAN_CONTEXT);
  const metricAttributes: Attributes = {
    [A.GEN_AI_OPERATION_NAME]: req.operation,
    [A.ANTHROPIC_REGION]: plan.region,
  };
  if (plan.model !== undefined) metricAttributes[A.GEN_AI_REQUEST_MODEL] = plan.model;
  const secrets = requestSecrets(plan.url, (name) => headerValue(req.headers, name));
  return new AttemptRecorder(env, plan, span, startedAt, metricAttributes, secrets, base);
}

/** `anthropic.ratelimit.{resource}.{field}` attribute names, built once. */
const RATELIMIT_KEYS = RATELIMIT_RESOURCES.map((resource) => ({
  resource,
  fields: RATELIMIT_FIELDS.map((field) => ({ field, key: `anthropic.ratelimit.${resource}.${field}` })),
}));

function recordResponseHeaders(rec: AttemptRecorder, response: Response): void {
  const headers = pickHeaders(response.headers);
  const attributes: Attributes = { [A.HTTP_RESPONSE_STATUS_CODE]: response.status };
  const requestId = headers.get('request-id');
  if (requestId !== null && requestId.length <= 128) {
    // A server (or a proxy) may echo what it was sent, the API key included.
    const redacted = redactText(requestId, rec.secrets);
    attributes[A.ANTHROPIC_REQUEST_ID] = redacted;
    rec.requestId = redacted;
  }
  const now = Date.now();
  const retryAfter = parseRetryAfter(headers, now);
  if (retryAfter !== undefined) attributes[A.ANTHROPIC_RETRY_AFTER] = retryAfter;
  rec.retryAfterS = retryAfter;
  const shouldRetry = parseShouldRetry(headers);
  if (shouldRetry !== undefined) attributes[A.ANTHROPIC_SHOULD_RETRY] = shouldRetry;
  const limits = parseRateLimits(headers, now);
  const region = rec.plan.region;
  for (const { resource, fields } of RATELIMIT_KEYS) {
    const state = limits[resource];
    if (state === undefined) continue;
    for (const { field, key } of fields) {
      const value = state[field];
      if (value !== undefined) attributes[key] = value;
    }
    if (state.remaining !== undefined) rec.env.telemetry.recordHeadroom(resource, region, state.remaining);
  }
  rec.span.setAttributes(attributes);
}

/** Arms the attempt's timeouts on an abort controller of its own. */
function armTimeouts(env: AttemptEnv, rec: AttemptRecorder, outer: AbortSignal | undefined) {
  const { connectMs, firstChunkMs, idleMs } = env.timeouts;
  if (connectMs === undefined && firstChunkMs === undefined && idleMs === undefined) {
    return { signal: outer, headersArrived() {}, chunk() {}, reading() {}, streaming() {} };
  }
  const controller = new AbortController();
  const signal = outer ? AbortSignal.any([outer, controller.signal]) : controller.signal;
  let timer: Timer | undefined;
  const arm = (kind: TimeoutKind, ms: number | undefined): void => {
    timer?.cancel();
    timer =
      ms === undefined
        ? undefined
        : env.clock.setTimer(() => controller.abort(new ClaudeTimeoutError(kind, ms)), ms);
  };
  arm('connect', connectMs);
  rec.addCleanup(() => timer?.cancel());
  let started = false;
  return {
    signal,
    headersArrived: () => arm('connect', undefined),
    /**
     * A streamed body starts: the first chunk must come within `firstChunkMs`, or, when that is
     * unset, within `idleMs` (else a stream that never starts would wait forever: the SDK's own
     * timeout ends with the headers).
     */
    streaming: () => (firstChunkMs !== undefined ? arm('first_chunk', firstChunkMs) : arm('idle', idleMs)),
    /**
     * A chunk arrived: the consumer has it, and is busy until it reads again (back-pressure is not
     * a stall): no timer runs until then.
     */
    chunk: () => {
      started = true;
      arm('idle', undefined);
    },
    /**
     * The consumer waits for the next chunk: it must arrive within `idleMs`. (Before the first
     * chunk, the first-chunk timer armed with the headers runs on.)
     */
    reading: () => {
      if (started) arm('idle', idleMs);
    },
  };
}

/**
 * Sends one attempt. Never throws: a failure of fetch comes back as `{ ok: false, error }`, with
 * the span already ended. On success the span ends when the body does (`done`).
 */
export async function sendAttempt(
  env: AttemptEnv,
  req: ClaudeRequest,
  plan: AttemptPlan,
  parent: Context,
): Promise<AttemptHandle> {
  const rec = startAttempt(env, req, plan, parent);
  const telemetry = env.telemetry;
  const span = rec.span;
  const info: AttemptInfo = { request: req, resendCount: plan.resendCount, region: plan.region };
  const spanContext = trace.setSpan(parent, span);
  const attemptSpan = trace.isSpanContextValid(span.spanContext()) ? span.spanContext() : undefined;
  const headers = attemptHeaders(env, req, plan, spanContext, attemptSpan !== undefined);
  if (env.requestHook) {
    const hook = env.requestHook;
    telemetry.safely('request_hook', () => hook(span, info));
  }
  const timeouts = armTimeouts(env, rec, plan.signal ?? req.signal);
  const init: RequestInit = { ...req.init, method: req.method, headers, body: plan.body };
  if (timeouts.signal) init.signal = timeouts.signal;
  const fetchContext = env.suppressInnerHttpSpans ? suppressTracing(spanContext) : spanContext;
  let response: Response;
  try {
    const fetchImpl = env.baseFetch();
    response = await context.with(fetchContext, () =>
      req.asRequest ? fetchImpl(new Request(plan.url.href, init)) : fetchImpl(plan.url.href, init),
    );
  } catch (error) {
    rec.errorType = errorTypeOfException(error, timeouts.signal);
    rec.end(rec.errorType === 'aborted' ? 'cancelled' : 'error', error);
    return {
      ok: false,
      error,
      done: rec.done,
      errorType: rec.errorType,
      spanContext: attemptSpan,
      region: plan.region,
    };
  }
  timeouts.headersArrived();
  rec.statusCode = response.status;
  telemetry.safely('response_headers', () => recordResponseHeaders(rec, response));
  if (env.responseHook) {
    const hook = env.responseHook;
    telemetry.safely('response_hook', () => hook(span, response, info));
  }
  const body = response.body;
  const handle = (handed: Response): AttemptHandle => ({
    ok: true,
    response: handed,
    done: rec.done,
    errorType: rec.errorType,
    spanContext: attemptSpan,
    region: plan.region,
  });
  if (body === null) {
    if (response.status >= 400) rec.errorType = String(response.status);
    rec.end(rec.errorType !== undefined ? 'error' : 'ok');
    return handle(response);
  }
  const type = response.headers.get('content-type') ?? '';
  const isJson = type.includes('json');
  const isSse = type.includes('text/event-stream');
  // A message answered in a shape the consumer cannot read (an HTML page or plain text with a 200):
  // the SDK hands it over as a string, or fails on it, without an error status.
  if (response.status < 300 && req.operation === 'chat' && req.json !== undefined) {
    if (req.stream ? !isSse : !isJson) rec.anomaly('unexpected_content_type');
  }
  if (response.status < 300 && isSse) {
    timeouts.streaming();
    const observed = observeStream(rec, req, body, timeouts);
    // Observed in place: the consumer gets the original response; else one around the wrapper.
    return handle(observed === body ? response : rebuild(response, observed));
  }
  if (response.status < 400) return handle(tapResponse(rec, req, response, isJson));
  if (isBufferable(response)) {
    return handle(await bufferResponse(rec, req, response, body, isJson, env.errorBody));
  }
  rec.errorType = String(response.status);
  return handle(passThrough(rec, req, response, body));
}

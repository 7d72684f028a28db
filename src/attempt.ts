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
import type { AttemptInfo } from './options.js';
import {
  type AttemptEnv,
  type AttemptHandle,
  type AttemptPlan,
  AttemptRecorder,
  errorTypeOfException,
  truncate,
} from './recorder.js';
import { type ClaudeRequest, redactUrl } from './request.js';
import { observeStream } from './sse/recorder.js';
import { parseRateLimits, parseRetryAfter, parseShouldRetry } from './telemetry/headers.js';
import { A, RATELIMIT_FIELDS, RATELIMIT_RESOURCES } from './telemetry/names.js';

export type { AttemptEnv, AttemptHandle, AttemptPlan, AttemptResult } from './recorder.js';

/** The key `@opentelemetry/core`'s `suppressTracing` sets; HTTP instrumentations honour it. */
const SUPPRESS_TRACING_KEY = createContextKey('OpenTelemetry SDK Context Key SUPPRESS_TRACING');

const headerSetter = {
  set(carrier: Headers, key: string, value: string): void {
    carrier.set(key, value);
  },
};

function startAttempt(
  env: AttemptEnv,
  req: ClaudeRequest,
  plan: AttemptPlan,
  parent: Context,
): AttemptRecorder {
  const startedAt = performance.now();
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
        { kind: SpanKind.CLIENT, attributes },
        parent,
      ),
    ) ?? trace.wrapSpanContext(trace.getSpanContext(parent) ?? INVALID_SPAN_CONTEXT);
  const metricAttributes: Attributes = {
    [A.GEN_AI_OPERATION_NAME]: req.operation,
    [A.ANTHROPIC_REGION]: plan.region,
  };
  if (plan.model !== undefined) metricAttributes[A.GEN_AI_REQUEST_MODEL] = plan.model;
  return new AttemptRecorder(env, plan, span, startedAt, metricAttributes);
}

/** `anthropic.ratelimit.{resource}.{field}` attribute names, built once. */
const RATELIMIT_KEYS = RATELIMIT_RESOURCES.map((resource) => ({
  resource,
  fields: RATELIMIT_FIELDS.map((field) => ({ field, key: `anthropic.ratelimit.${resource}.${field}` })),
}));

function recordResponseHeaders(rec: AttemptRecorder, response: Response): void {
  const headers = response.headers;
  const attributes: Attributes = { [A.HTTP_RESPONSE_STATUS_CODE]: response.status };
  const requestId = headers.get('request-id');
  if (requestId !== null && requestId.length <= 128) attributes[A.ANTHROPIC_REQUEST_ID] = requestId;
  const now = Date.now();
  const retryAfter = parseRetryAfter(headers, now);
  if (retryAfter !== undefined) attributes[A.ANTHROPIC_RETRY_AFTER] = retryAfter;
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
  const { telemetry, span } = { telemetry: env.telemetry, span: rec.span };
  const info: AttemptInfo = { request: req, resendCount: plan.resendCount, region: plan.region };
  const spanContext = trace.setSpan(parent, span);
  let headers = req.headers;
  if (trace.isSpanContextValid(span.spanContext())) {
    // The attempt span's context replaces the call span's `traceparent` the SDK put there.
    const target = new Headers(req.headers);
    telemetry.safely('inject', () => propagation.inject(spanContext, target, headerSetter));
    headers = target;
  }
  if (env.requestHook) {
    const hook = env.requestHook;
    telemetry.safely('request_hook', () => hook(span, info));
  }
  const init: RequestInit = { ...req.init, method: req.method, headers, body: plan.body };
  if (req.signal) init.signal = req.signal;
  const fetchContext = env.suppressInnerHttpSpans
    ? spanContext.setValue(SUPPRESS_TRACING_KEY, true)
    : spanContext;
  let response: Response;
  try {
    const fetchImpl = env.baseFetch();
    response = await context.with(fetchContext, () => fetchImpl(plan.url.href, init));
  } catch (error) {
    rec.errorType = errorTypeOfException(error, req.signal);
    rec.end(rec.errorType === 'aborted' ? 'cancelled' : 'error', error);
    return { ok: false, error, done: rec.done };
  }
  rec.statusCode = response.status;
  telemetry.safely('response_headers', () => recordResponseHeaders(rec, response));
  if (env.responseHook) {
    const hook = env.responseHook;
    telemetry.safely('response_hook', () => hook(span, response, info));
  }
  const body = response.body;
  if (body === null) {
    if (response.status >= 400) rec.errorType = String(response.status);
    rec.end(rec.errorType !== undefined ? 'error' : 'ok');
    return { ok: true, response, done: rec.done };
  }
  const type = response.headers.get('content-type') ?? '';
  const isJson = type.includes('json');
  let handed: Response;
  if (response.status < 300 && type.includes('text/event-stream')) {
    const observed = observeStream(rec, req, body);
    // Observed in place: the consumer gets the original response; else one around the wrapper.
    handed = observed === body ? response : rebuild(response, observed);
  } else if (response.status < 400) {
    handed = tapResponse(rec, req, response, isJson);
  } else if (isBufferable(response)) {
    handed = await bufferResponse(rec, req, response, body, isJson);
  } else {
    if (response.status >= 400) rec.errorType = String(response.status);
    handed = passThrough(rec, req, response, body);
  }
  return { ok: true, response: handed, done: rec.done };
}

/**
 * One HTTP attempt with its CLIENT span: start the span, inject the trace context, call the wrapped
 * fetch, record the response headers, and observe the body until it has been read, cancelled or
 * failed, then end the span and record the attempt's metrics. Nothing here changes what the caller
 * receives: the same status, headers and body bytes, at the same pace.
 */
import {
  type Attributes,
  type Context,
  context,
  createContextKey,
  INVALID_SPAN_CONTEXT,
  propagation,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
} from '@opentelemetry/api';
import type { AttemptInfo } from './options.js';
import type { ClaudeRequest } from './request.js';
import { redactUrl } from './request.js';
import { type BodyEnd, observeBody } from './sse/observer.js';
import { SseParser } from './sse/parser.js';
import { parseRateLimits, parseRetryAfter, parseShouldRetry } from './telemetry/headers.js';
import type { Telemetry } from './telemetry/instruments.js';
import { A, EVENTS, RATELIMIT_FIELDS, RATELIMIT_RESOURCES } from './telemetry/names.js';
import { errorTypeOf, type MessageFacts, readMessage, readMessageDelta, totalInput } from './usage.js';

/** What a policy may choose for one attempt. */
export interface AttemptPlan {
  /** Where to send it (a region may rewrite the origin). */
  readonly url: URL;
  /** The body to send (a fallback may rewrite the model). */
  readonly body: RequestInit['body'];
  /** `http.request.resend_count`. */
  readonly resendCount: number;
  /** `anthropic.region`. */
  readonly region: string;
  /** The model sent, for `gen_ai.request.model`. */
  readonly model: string | undefined;
}

/** How an attempt ended, known once its body has ended. */
export interface AttemptResult {
  /** The plan the attempt was sent with. */
  readonly plan: AttemptPlan;
  readonly statusCode: number | undefined;
  /** Set when the attempt failed. */
  readonly errorType: string | undefined;
  readonly facts: MessageFacts;
  /** performance.now() at the attempt's start. */
  readonly startedAt: number;
  readonly durationS: number;
  /** Streams: seconds from the attempt's start to the first content delta. */
  readonly timeToFirstChunkS: number | undefined;
  readonly outcome: 'ok' | 'error' | 'cancelled';
}

/** A sent attempt: its response (or the error fetch threw), and when it is over. */
export type AttemptHandle =
  | { readonly ok: true; readonly response: Response; readonly done: Promise<AttemptResult> }
  | { readonly ok: false; readonly error: unknown; readonly done: Promise<AttemptResult> };

/** Everything an attempt needs from its `createClaudeFetch` instance. */
export interface AttemptEnv {
  readonly telemetry: Telemetry;
  readonly baseFetch: () => typeof globalThis.fetch;
  readonly suppressInnerHttpSpans: boolean;
  readonly captureContent: number | undefined;
  readonly requestHook: ((span: Span, info: AttemptInfo) => void) | undefined;
  readonly responseHook: ((span: Span, response: Response, info: AttemptInfo) => void) | undefined;
}

/** The key `@opentelemetry/core`'s `suppressTracing` sets; HTTP instrumentations honour it. */
const SUPPRESS_TRACING_KEY = createContextKey('OpenTelemetry SDK Context Key SUPPRESS_TRACING');

/** Non-streamed bodies up to this size are read before the response is handed over. */
const MAX_BUFFERED_BODY = 16 * 1024 * 1024;

const headerSetter = {
  set(carrier: Headers, key: string, value: string): void {
    carrier.set(key, value);
  },
};

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}…`;
}

/** The stable `error.type` of an exception thrown by fetch or by a body read. */
export function errorTypeOfException(error: unknown, signal: AbortSignal | undefined): string {
  if (signal?.aborted) return 'aborted';
  const seen = new Set<unknown>();
  let current: unknown = error;
  while (typeof current === 'object' && current !== null && !seen.has(current)) {
    seen.add(current);
    const { name, code } = current as { name?: unknown; code?: unknown };
    if (name === 'AbortError') return 'aborted';
    if (name === 'TimeoutError' || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') {
      return 'timeout';
    }
    if (code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'ETIMEDOUT') return 'timeout';
    current = (current as { cause?: unknown }).cause;
  }
  return 'connection_error';
}

function toError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

/** Mutable state of one attempt, ended exactly once. */
class AttemptRecorder {
  readonly facts: MessageFacts = {};
  statusCode: number | undefined;
  errorType: string | undefined;
  timeToFirstChunkS: number | undefined;
  private ended = false;
  private resolve!: (result: AttemptResult) => void;
  readonly done = new Promise<AttemptResult>((resolve) => {
    this.resolve = resolve;
  });

  constructor(
    readonly env: AttemptEnv,
    readonly plan: AttemptPlan,
    readonly span: Span,
    readonly startedAt: number,
    readonly metricAttributes: Attributes,
  ) {}

  /** Ends the attempt: final attributes, span status, span end, metrics. Idempotent. */
  end(outcome: 'ok' | 'error' | 'cancelled', error?: unknown, extra?: Attributes): void {
    if (this.ended) return;
    this.ended = true;
    const durationS = (performance.now() - this.startedAt) / 1000;
    const { telemetry } = this.env;
    const { span, facts } = this;
    telemetry.safely('end_span', () => {
      try {
        const attributes: Attributes = { ...extra };
        if (facts.id !== undefined) attributes[A.GEN_AI_RESPONSE_ID] = facts.id;
        if (facts.model !== undefined) attributes[A.GEN_AI_RESPONSE_MODEL] = facts.model;
        if (facts.stopReason !== undefined) {
          attributes[A.ANTHROPIC_STOP_REASON] = facts.stopReason;
          attributes[A.GEN_AI_RESPONSE_FINISH_REASONS] = [facts.stopReason];
        }
        const usage = facts.usage;
        if (usage !== undefined) {
          attributes[A.GEN_AI_USAGE_INPUT_TOKENS] = totalInput(usage);
          attributes[A.GEN_AI_USAGE_OUTPUT_TOKENS] = usage.output;
          attributes[A.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] = usage.cacheRead;
          attributes[A.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS] = usage.cacheWrite;
        }
        if (this.timeToFirstChunkS !== undefined) {
          attributes[A.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] = this.timeToFirstChunkS;
        }
        if (this.errorType !== undefined) attributes[A.ERROR_TYPE] = this.errorType;
        span.setAttributes(attributes);
        if (error !== undefined) span.recordException(toError(error));
        if (outcome === 'error') {
          span.setStatus({
            code: SpanStatusCode.ERROR,
            message: error !== undefined ? toError(error).message : this.errorType,
          });
        }
      } finally {
        span.end();
      }
    });
    telemetry.safely('attempt_metrics', () => {
      const attributes: Attributes = { ...this.metricAttributes };
      if (this.statusCode !== undefined) attributes[A.HTTP_RESPONSE_STATUS_CODE] = this.statusCode;
      if (this.errorType !== undefined) attributes[A.ERROR_TYPE] = this.errorType;
      const instruments = telemetry.instruments;
      instruments.attempts.add(1, attributes);
      instruments.attemptDuration.record(durationS, attributes);
    });
    this.resolve({
      plan: this.plan,
      statusCode: this.statusCode,
      errorType: this.errorType,
      facts: this.facts,
      startedAt: this.startedAt,
      durationS,
      timeToFirstChunkS: this.timeToFirstChunkS,
      outcome,
    });
  }

  anomaly(kind: string): void {
    this.env.telemetry.safely('anomaly', () =>
      this.span.addEvent(EVENTS.RESPONSE_ANOMALY.name, { [A.ANTHROPIC_ANOMALY_KIND]: kind }),
    );
  }
}

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
  const region = rec.metricAttributes[A.ANTHROPIC_REGION];
  const gauge = rec.env.telemetry.instruments.ratelimitRemaining;
  for (const resource of RATELIMIT_RESOURCES) {
    const state = limits[resource];
    if (state === undefined) continue;
    for (const field of RATELIMIT_FIELDS) {
      const value = state[field];
      if (value !== undefined) attributes[`anthropic.ratelimit.${resource}.${field}`] = value;
    }
    if (state.remaining !== undefined) {
      gauge.record(state.remaining, {
        [A.ANTHROPIC_RATELIMIT_RESOURCE]: resource,
        [A.ANTHROPIC_REGION]: region,
      });
    }
  }
  rec.span.setAttributes(attributes);
}

/** Events whose data the stream recorder parses. */
const PARSED_EVENTS = new Set(['message_start', 'message_delta', 'error']);

/** Observes an SSE body: usage, ids, time to first chunk, `event: error`, truncation. */
function recordStream(
  rec: AttemptRecorder,
  req: ClaudeRequest,
  response: Response,
  body: ReadableStream<Uint8Array>,
): Response {
  const { telemetry } = rec.env;
  const capture = rec.env.captureContent;
  let text = '';
  let sawStop = false;
  let streamError: string | undefined;
  const wantData =
    capture === undefined
      ? (name: string) => PARSED_EVENTS.has(name)
      : (name: string) => PARSED_EVENTS.has(name) || name === 'content_block_delta';
  const parse = (data: string | undefined): unknown => {
    if (data === undefined) return undefined;
    try {
      return JSON.parse(data);
    } catch {
      rec.anomaly('invalid_sse_json');
      return undefined;
    }
  };
  const parser = new SseParser((name, data) => {
    switch (name) {
      case 'content_block_delta':
        if (rec.timeToFirstChunkS === undefined) {
          rec.timeToFirstChunkS = (performance.now() - rec.startedAt) / 1000;
        }
        if (capture !== undefined && text.length < capture && data !== undefined) {
          const delta = (parse(data) as { delta?: { text?: unknown } } | undefined)?.delta;
          if (typeof delta?.text === 'string') text += delta.text;
        }
        break;
      case 'message_start':
        readMessage(rec.facts, (parse(data) as { message?: unknown } | undefined)?.message);
        break;
      case 'message_delta':
        readMessageDelta(rec.facts, parse(data));
        break;
      case 'message_stop':
        sawStop = true;
        break;
      case 'error': {
        streamError = errorTypeOf(parse(data)) ?? 'stream_error';
        rec.span.addEvent(EVENTS.STREAM_ERROR.name, { [A.ERROR_TYPE]: streamError });
        break;
      }
    }
  }, wantData);
  const isMessages = req.operation === 'chat';
  const observed = observeBody(body, req.signal, {
    onChunk(chunk) {
      telemetry.safely('sse_parse', () => parser.push(chunk));
    },
    onEnd(end: BodyEnd) {
      const extra: Attributes = { [A.ANTHROPIC_STREAM_EVENTS]: parser.eventCount };
      if (capture !== undefined && text.length > 0) {
        extra[A.GEN_AI_OUTPUT_MESSAGES] = truncate(JSON.stringify([{ type: 'text', text }]), capture);
      }
      if (end.kind === 'complete') {
        const leftover = telemetry.safely('sse_end', () => parser.end()) ?? false;
        if (streamError === undefined && !sawStop && isMessages) {
          rec.anomaly(leftover ? 'truncated_event' : 'missing_message_stop');
          rec.errorType = 'stream_truncated';
        }
      }
      if (streamError !== undefined) rec.errorType = streamError;
      let outcome: 'ok' | 'error' | 'cancelled';
      let error: unknown;
      if (rec.errorType !== undefined) {
        outcome = 'error';
        if (end.kind === 'error') error = end.error;
      } else if (end.kind === 'error') {
        rec.errorType = errorTypeOfException(end.error, req.signal);
        outcome = 'error';
        error = end.error;
      } else if ((end.kind === 'cancelled' || end.kind === 'abandoned') && !sawStop) {
        outcome = 'cancelled';
      } else {
        outcome = 'ok';
      }
      extra[A.ANTHROPIC_STREAM_OUTCOME] =
        end.kind === 'complete'
          ? outcome === 'ok'
            ? 'completed'
            : 'error'
          : end.kind === 'error'
            ? 'error'
            : end.kind;
      rec.end(outcome, error, extra);
    },
  });
  return rebuild(response, observed);
}

/** Observes a body whose content is not parsed (too large or not textual): the span ends with it. */
function recordPassthrough(
  rec: AttemptRecorder,
  req: ClaudeRequest,
  response: Response,
  body: ReadableStream<Uint8Array>,
): Response {
  const observed = observeBody(body, req.signal, {
    onChunk() {},
    onEnd(end) {
      if (end.kind === 'error') {
        rec.errorType ??= errorTypeOfException(end.error, req.signal);
        rec.end('error', end.error);
      } else {
        rec.end(rec.errorType !== undefined ? 'error' : end.kind === 'complete' ? 'ok' : 'cancelled');
      }
    },
  });
  return rebuild(response, observed);
}

/** A response with the same status, headers and URL and another body. */
function rebuild(response: Response, body: ReadableStream<Uint8Array> | Uint8Array | null): Response {
  const copy = new Response(body as BodyInit | null, {
    status: response.status,
    statusText: response.statusText,
    headers: response.headers,
  });
  if (response.url) Object.defineProperty(copy, 'url', { value: response.url });
  return copy;
}

/** A body that yields `bytes` and then fails with `error`, as the original did. */
function failingBody(bytes: Uint8Array, error: unknown): ReadableStream<Uint8Array> {
  let sent = false;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (!sent && bytes.byteLength > 0) {
        sent = true;
        controller.enqueue(bytes);
        return;
      }
      controller.error(error);
    },
  });
}

async function readAll(body: ReadableStream<Uint8Array>): Promise<{ bytes: Uint8Array; error?: unknown }> {
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.byteLength;
    }
  } catch (error) {
    return { bytes: concat(chunks, size), error };
  }
  return { bytes: concat(chunks, size) };
}

function concat(chunks: Uint8Array[], size: number): Uint8Array {
  if (chunks.length === 1 && chunks[0] !== undefined) return chunks[0];
  const out = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

const decoder = new TextDecoder();

/**
 * Reads a non-streamed body whole (it is small: a Message, an error or a proxy's page), records
 * what it says, ends the span and hands the caller a response with the same bytes. A body that
 * fails midway is handed over failing the same way after the same bytes.
 */
async function recordBuffered(
  rec: AttemptRecorder,
  req: ClaudeRequest,
  response: Response,
  body: ReadableStream<Uint8Array>,
  isJson: boolean,
): Promise<Response> {
  const { bytes, error } = await readAll(body);
  if (error !== undefined) {
    rec.errorType ??= errorTypeOfException(error, req.signal);
    rec.end(rec.errorType === 'aborted' ? 'cancelled' : 'error', error);
    return rebuild(response, failingBody(bytes, error));
  }
  let parsed: unknown;
  let parsedOk = false;
  if (isJson && bytes.byteLength > 0) {
    try {
      parsed = JSON.parse(decoder.decode(bytes));
      parsedOk = true;
    } catch {
      rec.anomaly('invalid_json');
    }
  }
  rec.env.telemetry.safely('read_body', () => {
    if (response.status >= 400) {
      rec.errorType = errorTypeOf(parsed) ?? String(response.status);
    } else if (response.status < 300 && isJson && !parsedOk) {
      rec.errorType = 'invalid_response';
    } else if (parsedOk && req.operation === 'chat') {
      readMessage(rec.facts, parsed);
    }
  });
  const extra: Attributes = {};
  const capture = rec.env.captureContent;
  if (capture !== undefined && parsedOk && response.status < 300 && req.operation === 'chat') {
    rec.env.telemetry.safely('capture_output', () => {
      const content = (parsed as { content?: unknown }).content;
      if (content !== undefined) extra[A.GEN_AI_OUTPUT_MESSAGES] = truncate(JSON.stringify(content), capture);
    });
  }
  rec.end(rec.errorType !== undefined ? 'error' : 'ok', undefined, extra);
  return rebuild(response, bytes.byteLength > 0 ? bytes : null);
}

function isBufferable(response: Response): boolean {
  const status = response.status;
  if (status < 200 || status > 599 || status === 204 || status === 205 || status === 304) return false;
  const length = response.headers.get('content-length');
  if (length !== null && Number(length) > MAX_BUFFERED_BODY) return false;
  const type = response.headers.get('content-type') ?? '';
  return type === '' || type.includes('json') || type.startsWith('text/');
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
    headers = new Headers(req.headers);
    const target = headers;
    telemetry.safely('inject', () => propagation.inject(spanContext, target, headerSetter));
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
  let wrapped: Response;
  if (response.status < 300 && type.includes('text/event-stream')) {
    wrapped = recordStream(rec, req, response, body);
  } else if (isBufferable(response)) {
    wrapped = await recordBuffered(rec, req, response, body, type.includes('json'));
  } else {
    if (response.status >= 400) rec.errorType = String(response.status);
    wrapped = recordPassthrough(rec, req, response, body);
  }
  return { ok: true, response: wrapped, done: rec.done };
}

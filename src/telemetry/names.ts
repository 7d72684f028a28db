/**
 * The single declaration of every telemetry name this library emits: span names, span attributes,
 * span events and metrics. Code refers to these constants only; the README's telemetry reference is
 * generated from this file (`npm run docs:telemetry`) and a test keeps the two equal.
 *
 * Names follow the OpenTelemetry HTTP and GenAI semantic conventions where one exists; the
 * library's own names live under `anthropic.*`.
 */

/** The instrumentation scope name used for the tracer and the meter. */
export const INSTRUMENTATION_SCOPE = 'claude-otel-middleware';

/** Value type of an attribute, as documented. */
export type AttributeType = 'string' | 'int' | 'double' | 'boolean' | 'string[]';

/** Where a name comes from. */
export type Origin = 'semconv-http' | 'semconv-genai' | 'semconv-general' | 'library';

/** One attribute's declaration. */
export interface AttributeSpec {
  /** The attribute name as emitted, e.g. `http.response.status_code`. */
  readonly name: string;
  /** Its value type. */
  readonly type: AttributeType;
  /** Where the name comes from. */
  readonly origin: Origin;
  /** What it records. */
  readonly brief: string;
}

function attr(name: string, type: AttributeType, origin: Origin, brief: string): AttributeSpec {
  return { name, type, origin, brief };
}

/** Every attribute, on spans and/or metrics. */
export const ATTRIBUTES = {
  HTTP_REQUEST_METHOD: attr('http.request.method', 'string', 'semconv-http', 'HTTP method of the attempt.'),
  HTTP_RESPONSE_STATUS_CODE: attr(
    'http.response.status_code',
    'int',
    'semconv-http',
    'HTTP status of the response, when one arrived.',
  ),
  HTTP_REQUEST_RESEND_COUNT: attr(
    'http.request.resend_count',
    'int',
    'semconv-http',
    "Ordinal of the resend: 0 for the first attempt (from the SDK's `X-Stainless-Retry-Count`).",
  ),
  URL_FULL: attr(
    'url.full',
    'string',
    'semconv-http',
    'Full URL of the attempt; user info and credential-like query values are replaced by `REDACTED`.',
  ),
  SERVER_ADDRESS: attr('server.address', 'string', 'semconv-http', 'Host the attempt was sent to.'),
  SERVER_PORT: attr('server.port', 'int', 'semconv-http', 'Port the attempt was sent to.'),
  ERROR_TYPE: attr(
    'error.type',
    'string',
    'semconv-general',
    "On failures: the API's error type (e.g. `overloaded_error`), else `connection_error`, `timeout`, `aborted`, `invalid_response`, `stream_truncated`, or the status code.",
  ),
  GEN_AI_PROVIDER_NAME: attr('gen_ai.provider.name', 'string', 'semconv-genai', 'Always `anthropic`.'),
  GEN_AI_OPERATION_NAME: attr(
    'gen_ai.operation.name',
    'string',
    'semconv-genai',
    '`chat` for `/v1/messages`, `count_tokens`, `list_models`, `batches`, else the last path segment.',
  ),
  GEN_AI_REQUEST_MODEL: attr(
    'gen_ai.request.model',
    'string',
    'semconv-genai',
    'Model sent in the request body.',
  ),
  GEN_AI_REQUEST_MAX_TOKENS: attr(
    'gen_ai.request.max_tokens',
    'int',
    'semconv-genai',
    '`max_tokens` sent in the request body.',
  ),
  GEN_AI_REQUEST_STREAM: attr(
    'gen_ai.request.stream',
    'boolean',
    'semconv-genai',
    'Whether the request asked for a streamed (SSE) response.',
  ),
  GEN_AI_RESPONSE_MODEL: attr('gen_ai.response.model', 'string', 'semconv-genai', 'Model that answered.'),
  GEN_AI_RESPONSE_ID: attr('gen_ai.response.id', 'string', 'semconv-genai', 'Message id (`msg_…`).'),
  GEN_AI_RESPONSE_FINISH_REASONS: attr(
    'gen_ai.response.finish_reasons',
    'string[]',
    'semconv-genai',
    'Stop reason of the message, as a one-element array.',
  ),
  GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK: attr(
    'gen_ai.response.time_to_first_chunk',
    'double',
    'semconv-genai',
    'Streams: seconds from the start of the attempt to the first `content_block_delta` event.',
  ),
  GEN_AI_USAGE_INPUT_TOKENS: attr(
    'gen_ai.usage.input_tokens',
    'int',
    'semconv-genai',
    'Input tokens including cache reads and cache writes (`input_tokens + cache_read_input_tokens + cache_creation_input_tokens`).',
  ),
  GEN_AI_USAGE_OUTPUT_TOKENS: attr('gen_ai.usage.output_tokens', 'int', 'semconv-genai', 'Output tokens.'),
  GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: attr(
    'gen_ai.usage.cache_read.input_tokens',
    'int',
    'semconv-genai',
    'Input tokens read from the prompt cache.',
  ),
  GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS: attr(
    'gen_ai.usage.cache_write.input_tokens',
    'int',
    'semconv-genai',
    'Input tokens written to the prompt cache.',
  ),
  GEN_AI_TOKEN_TYPE: attr(
    'gen_ai.token.type',
    'string',
    'semconv-genai',
    '`input` or `output` (on `gen_ai.client.token.usage`).',
  ),
  GEN_AI_INPUT_MESSAGES: attr(
    'gen_ai.input.messages',
    'string',
    'semconv-genai',
    'Opt-in (`captureContent`): the request `system` and `messages` as JSON, truncated to `maxContentBytes`.',
  ),
  GEN_AI_OUTPUT_MESSAGES: attr(
    'gen_ai.output.messages',
    'string',
    'semconv-genai',
    "Opt-in (`captureContent`): the response's content blocks as JSON, truncated to `maxContentBytes`.",
  ),
  ANTHROPIC_REQUEST_ID: attr(
    'anthropic.request.id',
    'string',
    'library',
    'The `request-id` response header.',
  ),
  ANTHROPIC_REGION: attr(
    'anthropic.region',
    'string',
    'library',
    "The route's region name; else derived from the host (Bedrock/Vertex region, `global`), else the host.",
  ),
  ANTHROPIC_RETRY_AFTER: attr(
    'anthropic.retry_after',
    'double',
    'library',
    'Seconds the server asked to wait, from `retry-after-ms` or `retry-after` (seconds or HTTP date).',
  ),
  ANTHROPIC_SHOULD_RETRY: attr(
    'anthropic.should_retry',
    'boolean',
    'library',
    'The `x-should-retry` response header, when present.',
  ),
  ANTHROPIC_STOP_REASON: attr(
    'anthropic.message.stop_reason',
    'string',
    'library',
    'Stop reason of the message.',
  ),
  ANTHROPIC_STREAM_EVENTS: attr(
    'anthropic.stream.events',
    'int',
    'library',
    'Streams: number of SSE events the consumer was handed (pings included).',
  ),
  ANTHROPIC_STREAM_BYTES: attr(
    'anthropic.stream.bytes',
    'int',
    'library',
    'Streams: bytes of the body the consumer was handed (on a broken stream, how far it got).',
  ),
  ANTHROPIC_STREAM_OUTCOME: attr(
    'anthropic.stream.outcome',
    'string',
    'library',
    'Streams: `completed` (read through `message_stop`), `cancelled` (consumer cancelled, broke out or aborted before it), `error` or `abandoned` (garbage-collected unread).',
  ),
  ANTHROPIC_RATELIMIT_RESOURCE: attr(
    'anthropic.ratelimit.resource',
    'string',
    'library',
    '`requests`, `tokens`, `input_tokens` or `output_tokens` (on `anthropic.client.ratelimit.remaining`).',
  ),
  ANTHROPIC_ANOMALY_KIND: attr(
    'anthropic.anomaly.kind',
    'string',
    'library',
    'On `anthropic.response.anomaly` events: `invalid_json`, `invalid_sse_json`, `missing_message_stop`, `truncated_event`, `unexpected_content_type` (a 2xx message whose content type is not JSON, or not SSE for a stream).',
  ),
  ANTHROPIC_INSTRUMENTATION_STEP: attr(
    'anthropic.instrumentation.step',
    'string',
    'library',
    'On `anthropic.client.instrumentation.errors`: the telemetry step that threw.',
  ),
  ANTHROPIC_OPERATION_ATTEMPTS: attr(
    'anthropic.operation.attempts',
    'int',
    'library',
    'On the operation span: HTTP attempts the operation made.',
  ),
  ANTHROPIC_RETRY_ATTEMPT: attr(
    'anthropic.retry.attempt',
    'int',
    'library',
    'On retry events: the ordinal of the attempt about to be made (1 = first retry).',
  ),
  ANTHROPIC_RETRY_DELAY: attr(
    'anthropic.retry.delay',
    'double',
    'library',
    'On retry events: seconds waited.',
  ),
  ANTHROPIC_RETRY_SOURCE: attr(
    'anthropic.retry.source',
    'string',
    'library',
    'Where a retry delay came from: `retry_after` (the server) or `backoff` (exponential backoff with jitter).',
  ),
  ANTHROPIC_RETRY_REASON: attr(
    'anthropic.retry.reason',
    'string',
    'library',
    'On `anthropic.retry.given_up`: `max_attempts`, `retry_budget_exhausted`, `deadline` or `retry_after_exceeds_deadline`.',
  ),
  ANTHROPIC_BREAKER_KEY: attr(
    'anthropic.circuit_breaker.key',
    'string',
    'library',
    'The circuit breaker: by default `{region}|{model}`.',
  ),
  ANTHROPIC_BREAKER_STATE: attr(
    'anthropic.circuit_breaker.state',
    'string',
    'library',
    '`closed`, `open` or `half_open` (on events); the gauge uses 0, 1 (half open), 2 (open).',
  ),
  ANTHROPIC_BREAKER_FROM: attr(
    'anthropic.circuit_breaker.from',
    'string',
    'library',
    'State before a transition.',
  ),
  ANTHROPIC_BREAKER_TO: attr(
    'anthropic.circuit_breaker.to',
    'string',
    'library',
    'State after a transition.',
  ),
  ANTHROPIC_BREAKER_WAIT_OUTCOME: attr(
    'anthropic.circuit_breaker.wait.outcome',
    'string',
    'library',
    'How a wait for an open (or fully probed half-open) breaker ended: `admitted` (it closed), `probe` (the request carried the probe), `refused` (the probe sent meanwhile failed), `timeout` (`hold.maxWaitMs` passed), `deadline` (the operation deadline), `aborted` (the caller) or `closed` (shut down).',
  ),
  ANTHROPIC_BREAKER_WAITED: attr(
    'anthropic.circuit_breaker.waited',
    'double',
    'library',
    'Seconds the request waited for the breaker (on `anthropic.circuit_breaker.wait`).',
  ),
  ANTHROPIC_TIMEOUT_KIND: attr(
    'anthropic.timeout.kind',
    'string',
    'library',
    '`connect` (until response headers), `first_chunk`, `idle` (between chunks) or `total` (the operation deadline).',
  ),
  ANTHROPIC_FALLBACK_KIND: attr(
    'anthropic.fallback.kind',
    'string',
    'library',
    '`region` (failover to another endpoint), `model` (the next model of the chain) or `cache` (a cached response served).',
  ),
  ANTHROPIC_FALLBACK_FROM: attr(
    'anthropic.fallback.from',
    'string',
    'library',
    'The region or model given up (for `cache`: the model).',
  ),
  ANTHROPIC_FALLBACK_TO: attr(
    'anthropic.fallback.to',
    'string',
    'library',
    'The region or model used instead (`cache` for the cache).',
  ),
  ANTHROPIC_FALLBACK_REASON: attr(
    'anthropic.fallback.reason',
    'string',
    'library',
    'The `error.type` that caused it (`circuit_open` when a breaker rerouted it, `unhealthy` when health did).',
  ),
  ANTHROPIC_REGION_HEALTH: attr(
    'anthropic.region.health',
    'string',
    'library',
    '`healthy` or `unhealthy` (on health events; the gauge uses 1 and 0).',
  ),
  ANTHROPIC_CACHE_RESULT: attr(
    'anthropic.cache.result',
    'string',
    'library',
    '`hit` or `miss` (on `anthropic.client.cache.lookups`).',
  ),
  ANTHROPIC_CACHE_HIT: attr(
    'anthropic.cache.hit',
    'boolean',
    'library',
    'On the operation span: the answer came from the response cache (the response also carries `x-claude-otel-cache: hit`).',
  ),
  ANTHROPIC_RESUME_OUTCOME: attr(
    'anthropic.stream.resume.outcome',
    'string',
    'library',
    '`resumed` (a continuation was spliced in), `failed` (the continuation request failed) or `not_resumable`.',
  ),
  ANTHROPIC_RESUME_REASON: attr(
    'anthropic.stream.resume.reason',
    'string',
    'library',
    'Why the stream broke (`connection_error`, `overloaded_error`, `idle_timeout`, `stream_truncated`), or for `not_resumable` why it could not be continued (`inside_tool_use`, `thinking_block`, `several_text_blocks`, `resumptions_spent`, …).',
  ),
  ANTHROPIC_STREAM_CONTINUATION: attr(
    'anthropic.stream.continuation',
    'boolean',
    'library',
    'On an attempt span: `true` when the attempt continues a broken stream (the resumption request); absent on first attempts and retries. The span also links to the attempt it continues.',
  ),
  ANTHROPIC_STREAM_CONTINUES: attr(
    'anthropic.stream.continues',
    'string',
    'library',
    'On a continuation attempt: the span id of the attempt whose broken stream it continues.',
  ),
  ANTHROPIC_PROBE: attr(
    'anthropic.probe',
    'boolean',
    'library',
    'On health-probe spans: true (probes are not user traffic).',
  ),
  ANTHROPIC_THROTTLE_RESOURCE: attr(
    'anthropic.throttle.resource',
    'string',
    'library',
    'The rate-limit resource the throttle waited for: `requests`, `tokens`, `input_tokens`, `output_tokens`, or `retry_after` (a 429 told the fleet to wait).',
  ),
  ANTHROPIC_THROTTLE_OUTCOME: attr(
    'anthropic.throttle.outcome',
    'string',
    'library',
    '`waited` (the request was held, then sent), `rejected` (the wait would pass `maxWaitMs` or the deadline) or `probe` (it would be rejected, but nothing was heard from the server for 5 s: sent anyway to refresh the model).',
  ),
  ANTHROPIC_STORE_OPERATION: attr(
    'anthropic.store.operation',
    'string',
    'library',
    'Fleet store calls: `breaker`, `budget`, `headroom`, `cache`, or `probe` (the health check of a degraded shard) (on `anthropic.client.store.errors`).',
  ),
} as const satisfies Record<string, AttributeSpec>;

/**
 * The `anthropic-ratelimit-{resource}-{limit,remaining,reset}` headers recorded on attempt spans as
 * `anthropic.ratelimit.{resource}.{limit,remaining,reset}`: limit and remaining as integers, reset
 * as seconds from the response until the window resets (a double).
 */
export const RATELIMIT_RESOURCES = ['requests', 'tokens', 'input_tokens', 'output_tokens'] as const;
export type RateLimitResource = (typeof RATELIMIT_RESOURCES)[number];
export const RATELIMIT_FIELDS = ['limit', 'remaining', 'reset'] as const;
/** Span attribute pattern for the rate-limit headers (documented once, built per resource). */
export const RATELIMIT_ATTRIBUTE_PATTERN = 'anthropic.ratelimit.{resource}.{limit|remaining|reset}';

/** Attribute names by key, for the hot path. */
export const A: { readonly [K in keyof typeof ATTRIBUTES]: string } = Object.fromEntries(
  Object.entries(ATTRIBUTES).map(([k, v]) => [k, v.name]),
) as { readonly [K in keyof typeof ATTRIBUTES]: string };

/** One span's declaration. */
export interface SpanSpec {
  readonly name: string;
  readonly kind: 'CLIENT' | 'INTERNAL';
  readonly brief: string;
}

/** Every span this library starts (`name` is a pattern for the attempt and operation spans). */
export const SPANS = {
  PROBE: {
    name: 'anthropic.region.probe',
    kind: 'CLIENT',
    brief:
      'An active health probe of a region (`anthropic.probe` = true); not user traffic and not counted in `anthropic.client.attempts`.',
  },
  OPERATION: {
    name: '{gen_ai.operation.name} {gen_ai.request.model}',
    kind: 'INTERNAL',
    brief:
      'With a retry, breaker or timeout policy configured: one call of the fetch (all its attempts and waits), e.g. `chat claude-sonnet-4-6`; holds the policy decisions as events and is the parent of the attempt spans.',
  },
  ATTEMPT: {
    name: '{http.request.method} {url.path}',
    kind: 'CLIENT',
    brief:
      "One HTTP attempt, e.g. `POST /v1/messages`; a child of the active span (the SDK's `anthropic.messages.create` call span when the SDK traces). Ends when the response body has been read, cancelled or failed.",
  },
} as const satisfies Record<string, SpanSpec>;

/** One span event's declaration. */
export interface EventSpec {
  readonly name: string;
  readonly brief: string;
  readonly attributes: readonly string[];
}

/** Every span event, on the attempt or the operation span. */
export const EVENTS = {
  STREAM_ERROR: {
    name: 'anthropic.stream.error',
    brief: 'The stream carried an SSE `event: error` after the 200 response.',
    attributes: [ATTRIBUTES.ERROR_TYPE.name],
  },
  RESPONSE_ANOMALY: {
    name: 'anthropic.response.anomaly',
    brief: 'The response was malformed in a way the consumer may or may not notice (recorded, never thrown).',
    attributes: [ATTRIBUTES.ANTHROPIC_ANOMALY_KIND.name],
  },
  RETRY_SCHEDULED: {
    name: 'anthropic.retry.scheduled',
    brief: 'A failed attempt will be retried after a delay.',
    attributes: [
      ATTRIBUTES.ANTHROPIC_RETRY_ATTEMPT.name,
      ATTRIBUTES.ANTHROPIC_RETRY_DELAY.name,
      ATTRIBUTES.ANTHROPIC_RETRY_SOURCE.name,
      ATTRIBUTES.ERROR_TYPE.name,
    ],
  },
  RETRY_GIVEN_UP: {
    name: 'anthropic.retry.given_up',
    brief:
      'A retryable failure is not retried: attempts, retry budget or deadline spent, or the server asked to wait past the deadline.',
    attributes: [
      ATTRIBUTES.ERROR_TYPE.name,
      ATTRIBUTES.ANTHROPIC_RETRY_REASON.name,
      ATTRIBUTES.ANTHROPIC_RETRY_DELAY.name,
    ],
  },
  BREAKER_TRANSITION: {
    name: 'anthropic.circuit_breaker.transition',
    brief: 'A circuit breaker changed state because of this operation.',
    attributes: [
      ATTRIBUTES.ANTHROPIC_BREAKER_KEY.name,
      ATTRIBUTES.ANTHROPIC_BREAKER_FROM.name,
      ATTRIBUTES.ANTHROPIC_BREAKER_TO.name,
    ],
  },
  BREAKER_REJECTED: {
    name: 'anthropic.circuit_breaker.rejected',
    brief: 'An open (or fully probed half-open) circuit breaker rejected the attempt without sending it.',
    attributes: [ATTRIBUTES.ANTHROPIC_BREAKER_KEY.name, ATTRIBUTES.ANTHROPIC_BREAKER_STATE.name],
  },
  BREAKER_WAIT: {
    name: 'anthropic.circuit_breaker.wait',
    brief:
      "The request's first attempt waited for an open (or fully probed half-open) circuit breaker's decision instead of being refused at once; recorded when the wait ended, with how.",
    attributes: [
      ATTRIBUTES.ANTHROPIC_BREAKER_KEY.name,
      ATTRIBUTES.ANTHROPIC_BREAKER_STATE.name,
      ATTRIBUTES.ANTHROPIC_BREAKER_WAIT_OUTCOME.name,
      ATTRIBUTES.ANTHROPIC_BREAKER_WAITED.name,
    ],
  },
  FALLBACK: {
    name: 'anthropic.fallback',
    brief: 'The operation moved to another region or model, or was answered from the cache.',
    attributes: [
      ATTRIBUTES.ANTHROPIC_FALLBACK_KIND.name,
      ATTRIBUTES.ANTHROPIC_FALLBACK_FROM.name,
      ATTRIBUTES.ANTHROPIC_FALLBACK_TO.name,
      ATTRIBUTES.ANTHROPIC_FALLBACK_REASON.name,
    ],
  },
  STREAM_RESUMPTION: {
    name: 'anthropic.stream.resumption',
    brief: 'A broken stream was continued, or could not be.',
    attributes: [ATTRIBUTES.ANTHROPIC_RESUME_OUTCOME.name, ATTRIBUTES.ANTHROPIC_RESUME_REASON.name],
  },
  REGION_HEALTH: {
    name: 'anthropic.region.health_change',
    brief: 'A region changed health because of this operation.',
    attributes: [ATTRIBUTES.ANTHROPIC_REGION.name, ATTRIBUTES.ANTHROPIC_REGION_HEALTH.name],
  },
  THROTTLE: {
    name: 'anthropic.throttle',
    brief:
      'The proactive throttle held the attempt (`anthropic.retry.delay` = seconds held) or rejected it, because the rate-limit headroom would not cover it.',
    attributes: [
      ATTRIBUTES.ANTHROPIC_THROTTLE_RESOURCE.name,
      ATTRIBUTES.ANTHROPIC_THROTTLE_OUTCOME.name,
      ATTRIBUTES.ANTHROPIC_RETRY_DELAY.name,
    ],
  },
  TIMEOUT: {
    name: 'anthropic.timeout',
    brief: 'A timeout of ours fired.',
    attributes: [ATTRIBUTES.ANTHROPIC_TIMEOUT_KIND.name],
  },
} as const satisfies Record<string, EventSpec>;

/** One metric's declaration. */
export interface MetricSpec {
  readonly name: string;
  readonly instrument: 'histogram' | 'counter' | 'gauge';
  readonly unit: string;
  readonly origin: Origin;
  readonly brief: string;
  readonly attributes: readonly string[];
  /** Explicit bucket boundaries advised to the SDK (histograms only). */
  readonly buckets?: readonly number[];
}

/** 0.01 s doubling to 81.92 s (GenAI semconv). */
export const DURATION_BUCKETS = Array.from({ length: 14 }, (_, i) => Number((0.01 * 2 ** i).toFixed(2)));
/** 1, 4, 16 … 67108864 (GenAI semconv). */
export const TOKEN_BUCKETS = Array.from({ length: 14 }, (_, i) => 4 ** i);

const OPERATION_ATTRIBUTES = [
  ATTRIBUTES.GEN_AI_PROVIDER_NAME.name,
  ATTRIBUTES.GEN_AI_OPERATION_NAME.name,
  ATTRIBUTES.GEN_AI_REQUEST_MODEL.name,
  ATTRIBUTES.GEN_AI_RESPONSE_MODEL.name,
  ATTRIBUTES.SERVER_ADDRESS.name,
  ATTRIBUTES.SERVER_PORT.name,
  ATTRIBUTES.ANTHROPIC_REGION.name,
] as const;

const ATTEMPT_ATTRIBUTES = [
  ATTRIBUTES.GEN_AI_OPERATION_NAME.name,
  ATTRIBUTES.GEN_AI_REQUEST_MODEL.name,
  ATTRIBUTES.ANTHROPIC_REGION.name,
  ATTRIBUTES.HTTP_RESPONSE_STATUS_CODE.name,
  ATTRIBUTES.ERROR_TYPE.name,
] as const;

/** Every metric instrument, with its unit, attributes and histogram buckets. */
export const METRICS = {
  OPERATION_DURATION: {
    name: 'gen_ai.client.operation.duration',
    instrument: 'histogram',
    unit: 's',
    origin: 'semconv-genai',
    brief: 'Duration of one operation (one call of the fetch, all its attempts, until the body was read).',
    attributes: [...OPERATION_ATTRIBUTES, ATTRIBUTES.ERROR_TYPE.name],
    buckets: DURATION_BUCKETS,
  },
  TOKEN_USAGE: {
    name: 'gen_ai.client.token.usage',
    instrument: 'histogram',
    unit: '{token}',
    origin: 'semconv-genai',
    brief: 'Tokens per successful operation, by `gen_ai.token.type` (input includes cache reads and writes).',
    attributes: [...OPERATION_ATTRIBUTES, ATTRIBUTES.GEN_AI_TOKEN_TYPE.name],
    buckets: TOKEN_BUCKETS,
  },
  TIME_TO_FIRST_CHUNK: {
    name: 'gen_ai.client.operation.time_to_first_chunk',
    instrument: 'histogram',
    unit: 's',
    origin: 'semconv-genai',
    brief: 'Streams: seconds from the start of the operation to the first `content_block_delta`.',
    attributes: OPERATION_ATTRIBUTES,
    buckets: DURATION_BUCKETS,
  },
  CACHE_TOKENS: {
    name: 'anthropic.client.cache.tokens',
    instrument: 'counter',
    unit: '{token}',
    origin: 'library',
    brief:
      'Prompt-cache tokens of successful operations, by `gen_ai.token.type` = `cache_read` or `cache_write`.',
    attributes: [...OPERATION_ATTRIBUTES, ATTRIBUTES.GEN_AI_TOKEN_TYPE.name],
  },
  ATTEMPTS: {
    name: 'anthropic.client.attempts',
    instrument: 'counter',
    unit: '{attempt}',
    origin: 'library',
    brief: 'Every HTTP attempt, counted when it ends; `error.type` is set on failed attempts.',
    attributes: ATTEMPT_ATTRIBUTES,
  },
  ATTEMPT_DURATION: {
    name: 'anthropic.client.attempt.duration',
    instrument: 'histogram',
    unit: 's',
    origin: 'library',
    brief: 'Duration of one HTTP attempt, from sending to the end of its body.',
    attributes: ATTEMPT_ATTRIBUTES,
    buckets: DURATION_BUCKETS,
  },
  RATELIMIT_REMAINING: {
    name: 'anthropic.client.ratelimit.remaining',
    instrument: 'gauge',
    unit: '{unit}',
    origin: 'library',
    brief: 'Last `anthropic-ratelimit-*-remaining` value seen, by resource and region.',
    attributes: [ATTRIBUTES.ANTHROPIC_RATELIMIT_RESOURCE.name, ATTRIBUTES.ANTHROPIC_REGION.name],
  },
  INSTRUMENTATION_ERRORS: {
    name: 'anthropic.client.instrumentation.errors',
    instrument: 'counter',
    unit: '{error}',
    origin: 'library',
    brief:
      'Exceptions thrown by telemetry code (hooks, exporters, this library) that were caught; the request went on.',
    attributes: [ATTRIBUTES.ANTHROPIC_INSTRUMENTATION_STEP.name],
  },
  RETRIES: {
    name: 'anthropic.client.retries',
    instrument: 'counter',
    unit: '{retry}',
    origin: 'library',
    brief: 'Retries scheduled by the retry policy, by the `error.type` that caused them.',
    attributes: [
      ATTRIBUTES.ERROR_TYPE.name,
      ATTRIBUTES.GEN_AI_REQUEST_MODEL.name,
      ATTRIBUTES.ANTHROPIC_REGION.name,
    ],
  },
  RETRY_DELAY: {
    name: 'anthropic.client.retry.delay',
    instrument: 'histogram',
    unit: 's',
    origin: 'library',
    brief: 'Delay before each retry, by source (`retry_after` or `backoff`).',
    attributes: [ATTRIBUTES.ANTHROPIC_RETRY_SOURCE.name, ATTRIBUTES.ERROR_TYPE.name],
    buckets: DURATION_BUCKETS,
  },
  RETRY_BUDGET_EXHAUSTED: {
    name: 'anthropic.client.retry_budget.exhausted',
    instrument: 'counter',
    unit: '{retry}',
    origin: 'library',
    brief:
      'Retries refused because the client-wide retry budget was spent (the failure was returned at once).',
    attributes: [ATTRIBUTES.ERROR_TYPE.name],
  },
  BREAKER_TRANSITIONS: {
    name: 'anthropic.client.circuit_breaker.transitions',
    instrument: 'counter',
    unit: '{transition}',
    origin: 'library',
    brief: 'Circuit breaker state changes.',
    attributes: [
      ATTRIBUTES.ANTHROPIC_BREAKER_KEY.name,
      ATTRIBUTES.ANTHROPIC_BREAKER_FROM.name,
      ATTRIBUTES.ANTHROPIC_BREAKER_TO.name,
    ],
  },
  BREAKER_STATE: {
    name: 'anthropic.client.circuit_breaker.state',
    instrument: 'gauge',
    unit: '{state}',
    origin: 'library',
    brief: 'Current state per breaker: 0 closed, 1 half open, 2 open.',
    attributes: [ATTRIBUTES.ANTHROPIC_BREAKER_KEY.name],
  },
  BREAKER_REJECTIONS: {
    name: 'anthropic.client.circuit_breaker.rejections',
    instrument: 'counter',
    unit: '{attempt}',
    origin: 'library',
    brief: 'Attempts rejected by a circuit breaker without being sent.',
    attributes: [ATTRIBUTES.ANTHROPIC_BREAKER_KEY.name],
  },
  BREAKER_WAIT_DURATION: {
    name: 'anthropic.client.circuit_breaker.wait.duration',
    instrument: 'histogram',
    unit: 's',
    origin: 'library',
    brief:
      "How long requests waited for an open (or fully probed half-open) circuit breaker's decision, by how the wait ended.",
    attributes: [ATTRIBUTES.ANTHROPIC_BREAKER_KEY.name, ATTRIBUTES.ANTHROPIC_BREAKER_WAIT_OUTCOME.name],
    buckets: DURATION_BUCKETS,
  },
  FALLBACKS: {
    name: 'anthropic.client.fallbacks',
    instrument: 'counter',
    unit: '{fallback}',
    origin: 'library',
    brief: 'Failovers to another region, fallbacks to another model, and answers served from the cache.',
    attributes: [
      ATTRIBUTES.ANTHROPIC_FALLBACK_KIND.name,
      ATTRIBUTES.ANTHROPIC_FALLBACK_FROM.name,
      ATTRIBUTES.ANTHROPIC_FALLBACK_TO.name,
      ATTRIBUTES.ANTHROPIC_FALLBACK_REASON.name,
    ],
  },
  REGION_HEALTH: {
    name: 'anthropic.client.region.health',
    instrument: 'gauge',
    unit: '{state}',
    origin: 'library',
    brief: 'Health per region: 1 healthy, 0 unhealthy.',
    attributes: [ATTRIBUTES.ANTHROPIC_REGION.name],
  },
  RESUMPTIONS: {
    name: 'anthropic.client.stream.resumptions',
    instrument: 'counter',
    unit: '{resumption}',
    origin: 'library',
    brief: 'Broken streams, by what became of them: resumed, failed, or not resumable (and why).',
    attributes: [ATTRIBUTES.ANTHROPIC_RESUME_OUTCOME.name, ATTRIBUTES.ANTHROPIC_RESUME_REASON.name],
  },
  CACHE_LOOKUPS: {
    name: 'anthropic.client.cache.lookups',
    instrument: 'counter',
    unit: '{lookup}',
    origin: 'library',
    brief: 'Response-cache lookups made after everything else failed, by result.',
    attributes: [ATTRIBUTES.ANTHROPIC_CACHE_RESULT.name],
  },
  TIMEOUTS: {
    name: 'anthropic.client.timeouts',
    instrument: 'counter',
    unit: '{timeout}',
    origin: 'library',
    brief: 'Timeouts of ours that fired, by kind.',
    attributes: [ATTRIBUTES.ANTHROPIC_TIMEOUT_KIND.name],
  },
  THROTTLE_WAITS: {
    name: 'anthropic.client.throttle.waits',
    instrument: 'counter',
    unit: '{request}',
    origin: 'library',
    brief:
      'Requests the proactive throttle held (or rejected) because the rate-limit headroom would not cover them.',
    attributes: [
      ATTRIBUTES.ANTHROPIC_THROTTLE_RESOURCE.name,
      ATTRIBUTES.ANTHROPIC_THROTTLE_OUTCOME.name,
      ATTRIBUTES.ANTHROPIC_REGION.name,
    ],
  },
  THROTTLE_DELAY: {
    name: 'anthropic.client.throttle.delay',
    instrument: 'histogram',
    unit: 's',
    origin: 'library',
    brief: 'How long the proactive throttle held a request before sending it.',
    attributes: [ATTRIBUTES.ANTHROPIC_THROTTLE_RESOURCE.name, ATTRIBUTES.ANTHROPIC_REGION.name],
    buckets: DURATION_BUCKETS,
  },
  STORE_ERRORS: {
    name: 'anthropic.client.store.errors',
    instrument: 'counter',
    unit: '{error}',
    origin: 'library',
    brief:
      'Fleet store calls that failed (`error.type` `store_error`) or timed out (`timeout`: a wait of `store.timeoutMs`, at most one per process per shard outage); the policies went on with local state (no request failed).',
    attributes: [ATTRIBUTES.ANTHROPIC_STORE_OPERATION.name, ATTRIBUTES.ERROR_TYPE.name],
  },
  STORE_STATE: {
    name: 'anthropic.client.store.state',
    instrument: 'gauge',
    unit: '{state}',
    origin: 'library',
    brief:
      'Fleet store: 1 while shared state is in use, 0 while degraded to local state (a Redis Cluster: while any of its masters is).',
    attributes: [],
  },
} as const satisfies Record<string, MetricSpec>;

/** Severity of a log event (pino's level names; OTLP severity DEBUG, INFO, WARN, ERROR). */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** A log field that is not a span or metric attribute. */
export interface LogFieldSpec {
  readonly name: string;
  readonly type: AttributeType;
  readonly brief: string;
}

/** Fields of log events that are not span or metric attributes (those keep their attribute names). */
export const LOG_FIELDS = {
  EVENT: {
    name: 'event',
    type: 'string',
    brief: "Every event: its stable name (the OTLP record's `eventName`).",
  },
  TRACE_ID: {
    name: 'trace_id',
    type: 'string',
    brief:
      "Every event tied to a span: the trace id (32 hex digits) of that span (on OTLP records, the record's trace context).",
  },
  SPAN_ID: {
    name: 'span_id',
    type: 'string',
    brief:
      'Every event tied to a span: the id (16 hex digits) of the attempt or operation span the event belongs to.',
  },
  EXCEPTION_TYPE: {
    name: 'exception.type',
    type: 'string',
    brief: 'Failures with an exception: its class name (`TypeError`, `ClaudeTimeoutError`, …).',
  },
  EXCEPTION_MESSAGE: {
    name: 'exception.message',
    type: 'string',
    brief:
      "Failures with an exception: its message and its causes' (`…; cause: …`), secrets replaced by `[REDACTED]`, and without `logging.content` also quoted text and any text of the request replaced (see [Logs](logs.md)).",
  },
  ATTEMPT_DURATION: {
    name: 'anthropic.attempt.duration',
    type: 'double',
    brief: 'Seconds from sending the attempt to the end of its body.',
  },
  SUPPRESSED_EVENT: {
    name: 'anthropic.log.suppressed_event',
    type: 'string',
    brief: 'On `anthropic.log.suppressed`: the event that was rate-limited.',
  },
  SUPPRESSED: {
    name: 'anthropic.log.suppressed',
    type: 'int',
    brief: 'On `anthropic.log.suppressed`: how many of those events were dropped since the last summary.',
  },
  STORE_KIND: {
    name: 'anthropic.store.kind',
    type: 'string',
    brief: 'Fleet store events: the kind of store (`redis`, `memory`).',
  },
  STORE_SHARD: {
    name: 'anthropic.store.shard',
    type: 'string',
    brief:
      'Fleet store events of a sharded store: the shard the event is about (a Redis Cluster master, `host:port`); absent for a single store.',
  },
} as const satisfies Record<string, LogFieldSpec>;

/** One log event's declaration. */
export interface LogEventSpec {
  readonly name: string;
  readonly level: LogLevel;
  /** The span whose `trace_id`/`span_id` the event carries. */
  readonly span: 'attempt' | 'operation' | 'none';
  /** The log line's message (pino `msg`, OTLP body). */
  readonly message: string;
  readonly brief: string;
  /** Fields besides `event`, `trace_id` and `span_id`. */
  readonly fields: readonly string[];
}

/** Fields every operation-level log event carries besides those of its span event. */
const OPERATION_LOG_FIELDS = [ATTRIBUTES.GEN_AI_OPERATION_NAME.name, ATTRIBUTES.GEN_AI_REQUEST_MODEL.name];

const ATTEMPT_LOG_FIELDS = [
  ATTRIBUTES.GEN_AI_OPERATION_NAME.name,
  ATTRIBUTES.GEN_AI_REQUEST_MODEL.name,
  ATTRIBUTES.ANTHROPIC_REGION.name,
  ATTRIBUTES.HTTP_REQUEST_RESEND_COUNT.name,
  ATTRIBUTES.HTTP_RESPONSE_STATUS_CODE.name,
  ATTRIBUTES.ANTHROPIC_REQUEST_ID.name,
  LOG_FIELDS.ATTEMPT_DURATION.name,
];

/**
 * The structured log events (option `logger`, and OTLP log records). Decisions reuse the name and
 * attributes of their span event on the operation span; attempts have events of their own.
 */
export const LOG_EVENTS = {
  ATTEMPT_FAILED: {
    name: 'anthropic.attempt.failed',
    level: 'warn',
    span: 'attempt',
    message: 'Claude API attempt failed',
    brief: 'An HTTP attempt failed (error status, error event in a stream, connection error, timeout).',
    fields: [
      ...ATTEMPT_LOG_FIELDS,
      ATTRIBUTES.ERROR_TYPE.name,
      ATTRIBUTES.ANTHROPIC_RETRY_AFTER.name,
      LOG_FIELDS.EXCEPTION_TYPE.name,
      LOG_FIELDS.EXCEPTION_MESSAGE.name,
    ],
  },
  ATTEMPT_SUCCEEDED: {
    name: 'anthropic.attempt.succeeded',
    level: 'debug',
    span: 'attempt',
    message: 'Claude API attempt succeeded',
    brief: 'An HTTP attempt succeeded (logged when its body has been read).',
    fields: [
      ...ATTEMPT_LOG_FIELDS,
      ATTRIBUTES.GEN_AI_RESPONSE_MODEL.name,
      ATTRIBUTES.GEN_AI_USAGE_INPUT_TOKENS.name,
      ATTRIBUTES.GEN_AI_USAGE_OUTPUT_TOKENS.name,
      ATTRIBUTES.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS.name,
      ATTRIBUTES.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS.name,
    ],
  },
  TIMEOUT: {
    name: EVENTS.TIMEOUT.name,
    level: 'warn',
    span: 'attempt',
    message: 'Claude API timeout fired',
    brief: EVENTS.TIMEOUT.brief,
    fields: [
      ...EVENTS.TIMEOUT.attributes,
      ATTRIBUTES.GEN_AI_REQUEST_MODEL.name,
      ATTRIBUTES.ANTHROPIC_REGION.name,
      ATTRIBUTES.HTTP_REQUEST_RESEND_COUNT.name,
    ],
  },
  RETRY_SCHEDULED: {
    name: EVENTS.RETRY_SCHEDULED.name,
    level: 'info',
    span: 'operation',
    message: 'Claude API retry scheduled',
    brief: EVENTS.RETRY_SCHEDULED.brief,
    fields: [...EVENTS.RETRY_SCHEDULED.attributes, ...OPERATION_LOG_FIELDS],
  },
  RETRY_GIVEN_UP: {
    name: EVENTS.RETRY_GIVEN_UP.name,
    level: 'warn',
    span: 'operation',
    message: 'Claude API retries given up',
    brief: `${EVENTS.RETRY_GIVEN_UP.brief} \`anthropic.retry.reason\` = \`retry_budget_exhausted\` is the budget.`,
    fields: [...EVENTS.RETRY_GIVEN_UP.attributes, ...OPERATION_LOG_FIELDS],
  },
  BREAKER_TRANSITION: {
    name: EVENTS.BREAKER_TRANSITION.name,
    level: 'warn',
    span: 'operation',
    message: 'Claude API circuit breaker changed state',
    brief: EVENTS.BREAKER_TRANSITION.brief,
    fields: [...EVENTS.BREAKER_TRANSITION.attributes, ...OPERATION_LOG_FIELDS],
  },
  BREAKER_REJECTED: {
    name: EVENTS.BREAKER_REJECTED.name,
    level: 'warn',
    span: 'operation',
    message: 'Claude API attempt rejected by an open circuit breaker',
    brief: EVENTS.BREAKER_REJECTED.brief,
    fields: [...EVENTS.BREAKER_REJECTED.attributes, ...OPERATION_LOG_FIELDS],
  },
  BREAKER_WAIT: {
    name: EVENTS.BREAKER_WAIT.name,
    level: 'info',
    span: 'operation',
    message: 'Claude API request waited for a circuit breaker',
    brief: EVENTS.BREAKER_WAIT.brief,
    fields: [...EVENTS.BREAKER_WAIT.attributes, ...OPERATION_LOG_FIELDS],
  },
  FALLBACK: {
    name: EVENTS.FALLBACK.name,
    level: 'warn',
    span: 'operation',
    message: 'Claude API fallback',
    brief: `${EVENTS.FALLBACK.brief} \`anthropic.fallback.kind\`: \`region\` (failover), \`model\`, \`cache\` (cache served).`,
    fields: [...EVENTS.FALLBACK.attributes, ...OPERATION_LOG_FIELDS],
  },
  REGION_HEALTH: {
    name: EVENTS.REGION_HEALTH.name,
    level: 'warn',
    span: 'operation',
    message: 'Claude API region health changed',
    brief: EVENTS.REGION_HEALTH.brief,
    fields: [...EVENTS.REGION_HEALTH.attributes, ...OPERATION_LOG_FIELDS],
  },
  STREAM_RESUMPTION: {
    name: EVENTS.STREAM_RESUMPTION.name,
    level: 'warn',
    span: 'operation',
    message: 'Claude API stream broke',
    brief: `${EVENTS.STREAM_RESUMPTION.brief} \`anthropic.stream.resume.outcome\`: \`resumed\`, or given up (\`failed\`, \`not_resumable\`).`,
    fields: [...EVENTS.STREAM_RESUMPTION.attributes, ...OPERATION_LOG_FIELDS],
  },
  THROTTLE: {
    name: EVENTS.THROTTLE.name,
    level: 'warn',
    span: 'operation',
    message: 'Claude API request throttled',
    brief: `${EVENTS.THROTTLE.brief} \`anthropic.throttle.outcome\`: \`waited\` or \`rejected\`.`,
    fields: [...EVENTS.THROTTLE.attributes, ...OPERATION_LOG_FIELDS],
  },
  SUPPRESSED: {
    name: 'anthropic.log.suppressed',
    level: 'warn',
    span: 'none',
    message: 'Claude API log events suppressed',
    brief:
      'Summary of the events of one name dropped by the log rate limit (at most one per event name per `summaryIntervalMs`).',
    fields: [LOG_FIELDS.SUPPRESSED_EVENT.name, LOG_FIELDS.SUPPRESSED.name],
  },
  STORE_DEGRADED: {
    name: 'anthropic.store.degraded',
    level: 'warn',
    span: 'none',
    message: 'Fleet store unavailable: using local state until it answers again',
    brief:
      'The fleet store (or one shard of it) failed or was slow; the policies go on with local state for its keys (logged once per outage of each shard, at most once a minute).',
    fields: [
      LOG_FIELDS.STORE_KIND.name,
      LOG_FIELDS.STORE_SHARD.name,
      ATTRIBUTES.ANTHROPIC_STORE_OPERATION.name,
      LOG_FIELDS.EXCEPTION_MESSAGE.name,
    ],
  },
  STORE_RECOVERED: {
    name: 'anthropic.store.recovered',
    level: 'info',
    span: 'none',
    message: 'Fleet store is back: shared state in use',
    brief:
      'The fleet store (or the shard of `anthropic.store.shard`) answers again after an outage that was logged.',
    fields: [LOG_FIELDS.STORE_KIND.name, LOG_FIELDS.STORE_SHARD.name],
  },
} as const satisfies Record<string, LogEventSpec>;

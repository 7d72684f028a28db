/**
 * The state of one attempt and the one place where its span ends: final attributes, status,
 * `span.end()` and the attempt metrics, exactly once, however the attempt ended.
 */
import {
  type Attributes,
  type HrTime,
  type Span,
  type SpanContext,
  SpanStatusCode,
} from '@opentelemetry/api';
import { ClaudeTimeoutError } from './policies/errors.js';
import type { Clock } from './policies/types.js';
import { redactError, redactText } from './redact.js';
import type { ClaudeRequest } from './request.js';
import type { Telemetry } from './telemetry/instruments.js';
import { A, EVENTS } from './telemetry/names.js';
import { hrTimeAt } from './telemetry/time.js';
import { type MessageFacts, totalInput } from './usage.js';

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
  /**
   * Aborts the attempt: the caller's signal combined with the operation's deadline. Default: the
   * caller's signal.
   */
  readonly signal?: AbortSignal | undefined;
  /** The attempt this one retries: the span is linked to it. */
  readonly previous?: SpanContext | undefined;
  /** The attempt continues `previous`'s broken stream (a resumption request). */
  readonly continuation?: boolean | undefined;
  /**
   * Another region or fallback model can take the request if this attempt is refused: an open
   * breaker refuses it at once instead of holding it.
   */
  readonly alternative?: boolean | undefined;
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
  /** performance.now() when the attempt ended (unset for an answer a policy gave). */
  readonly endedAt?: number | undefined;
  readonly durationS: number;
  /** Streams: seconds from the attempt's start to the first content delta. */
  readonly timeToFirstChunkS: number | undefined;
  readonly outcome: 'ok' | 'error' | 'cancelled';
}

/** A sent attempt: its response (or the error fetch threw), and when it is over. */
export type AttemptHandle = (
  | { readonly ok: true; readonly response: Response }
  | { readonly ok: false; readonly error: unknown }
) & {
  readonly done: Promise<AttemptResult>;
  /** `error.type` known when the handle is returned (from the status, an error body, the exception). */
  readonly errorType: string | undefined;
  /** The attempt span's context (undefined for an answer a policy gave without sending). */
  readonly spanContext: SpanContext | undefined;
  /** The `anthropic.region` the attempt went to (a region policy may have chosen it). */
  readonly region?: string | undefined;
};

/** Attempt timeouts (all optional, in ms). */
export interface AttemptTimeouts {
  readonly connectMs: number | undefined;
  readonly firstChunkMs: number | undefined;
  readonly idleMs: number | undefined;
}

/** How much of an error body is read before the response is handed over (option `errorBody`). */
export interface ErrorBodyLimits {
  readonly maxBytes: number;
  readonly maxWaitMs: number;
  readonly clock: Clock;
}

/** The defaults of the `errorBody` option: 64 KiB and 1 s. */
export const ERROR_BODY_DEFAULTS = Object.freeze({ maxBytes: 64 * 1024, maxWaitMs: 1_000 });

/** What a hook (`requestHook`, `responseHook`) learns of an attempt; made here, by the attempt. */
export interface AttemptInfo {
  /** The request as read once from the fetch call. */
  readonly request: ClaudeRequest;
  /** `http.request.resend_count` of this attempt. */
  readonly resendCount: number;
  /** `anthropic.region` of this attempt. */
  readonly region: string;
}

/** Everything an attempt needs from its `createClaudeFetch` instance. */
export interface AttemptEnv {
  readonly telemetry: Telemetry;
  readonly baseFetch: () => typeof globalThis.fetch;
  readonly suppressInnerHttpSpans: boolean;
  readonly captureContent: number | undefined;
  readonly requestHook: ((span: Span, info: AttemptInfo) => void) | undefined;
  readonly responseHook: ((span: Span, response: Response, info: AttemptInfo) => void) | undefined;
  readonly timeouts: AttemptTimeouts;
  readonly clock: Clock;
  readonly errorBody: ErrorBodyLimits;
  /** `options.propagation`: inject the attempt's trace context always, never, or as the SDK does. */
  readonly propagation: boolean | 'auto';
}

export function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}…`;
}

/**
 * The stable `error.type` of an exception thrown by fetch or by a body read: our own timeouts by
 * kind, the caller's abort as `aborted`, undici's timeouts as `timeout`, else `connection_error`.
 */
export function errorTypeOfException(error: unknown, signal: AbortSignal | undefined): string {
  if (error instanceof ClaudeTimeoutError) return error.errorType;
  if (signal?.aborted) {
    return signal.reason instanceof ClaudeTimeoutError ? signal.reason.errorType : 'aborted';
  }
  const seen = new Set<unknown>();
  let current: unknown = error;
  while (typeof current === 'object' && current !== null && !seen.has(current)) {
    seen.add(current);
    if (current instanceof ClaudeTimeoutError) return current.errorType;
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

/** The kind of one of our timeouts (`idle` for `idle_timeout`), else undefined. */
export function timeoutKind(errorType: string | undefined): string | undefined {
  return errorType?.endsWith('_timeout') && errorType !== 'request_timeout'
    ? errorType.slice(0, -'_timeout'.length)
    : undefined;
}

export function toError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

/** Mutable state of one attempt, ended exactly once. */
export class AttemptRecorder {
  readonly facts: MessageFacts = {};
  statusCode: number | undefined;
  errorType: string | undefined;
  timeToFirstChunkS: number | undefined;
  /** Captured output (content capture only), recorded as `gen_ai.output.messages`. */
  output: string | undefined;
  /** The `request-id` response header, for the log events. */
  requestId: string | undefined;
  /** Seconds the server asked to wait, for the log events. */
  retryAfterS: number | undefined;
  private readonly cleanups: (() => void)[] = [];
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
    /** The request's credentials, redacted from every string recorded (see `redact.ts`). */
    readonly secrets: readonly string[] = [],
    /** The span's time base (`telemetry/time.ts`): its end is stamped on it. */
    readonly timeBase: number | undefined = undefined,
  ) {}

  /** Runs `fn` once when the attempt ends (timers, registrations). */
  addCleanup(fn: () => void): void {
    if (this.ended) fn();
    else this.cleanups.push(fn);
  }

  /** Ends the attempt: final attributes, span status, span end, metrics. Idempotent. */
  end(outcome: 'ok' | 'error' | 'cancelled', error?: unknown, extra?: Attributes): void {
    if (this.ended) return;
    this.ended = true;
    this.redactFacts();
    const endedAt = performance.now();
    const durationS = (endedAt - this.startedAt) / 1000;
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
        if (this.output !== undefined) attributes[A.GEN_AI_OUTPUT_MESSAGES] = this.output;
        span.setAttributes(attributes);
        const at = this.timeBase !== undefined ? hrTimeAt(this.timeBase, endedAt) : undefined;
        const timeout = timeoutKind(this.errorType);
        if (timeout !== undefined)
          span.addEvent(EVENTS.TIMEOUT.name, { [A.ANTHROPIC_TIMEOUT_KIND]: timeout }, at);
        // The runtime's error text may hold the URL with its credentials, or what a server echoed.
        const recorded = error !== undefined ? redactError(error, this.secrets) : undefined;
        if (recorded !== undefined) span.recordException(recorded, at);
        if (outcome === 'error') {
          span.setStatus({
            code: SpanStatusCode.ERROR,
            message: recorded !== undefined ? recorded.message : this.errorType,
          });
        }
      } finally {
        span.end(this.timeBase !== undefined ? hrTimeAt(this.timeBase, endedAt) : undefined);
      }
    });
    telemetry.safely('attempt_metrics', () => {
      const attributes: Attributes = { ...this.metricAttributes };
      if (this.statusCode !== undefined) attributes[A.HTTP_RESPONSE_STATUS_CODE] = this.statusCode;
      if (this.errorType !== undefined) attributes[A.ERROR_TYPE] = this.errorType;
      const instruments = telemetry.instruments;
      instruments.attempts.add(1, attributes);
      instruments.attemptDuration.record(durationS, attributes);
      const timeout = timeoutKind(this.errorType);
      if (timeout !== undefined) instruments.timeouts.add(1, { [A.ANTHROPIC_TIMEOUT_KIND]: timeout });
    });
    telemetry.safely('attempt_log', () =>
      telemetry.log.attempt({
        span,
        outcome,
        operation: this.metricAttributes[A.GEN_AI_OPERATION_NAME] as string | undefined,
        model: this.plan.model,
        region: this.plan.region,
        resendCount: this.plan.resendCount,
        statusCode: this.statusCode,
        errorType: this.errorType,
        requestId: this.requestId,
        retryAfterS: this.retryAfterS,
        durationS,
        responseModel: facts.model,
        usage: facts.usage,
        timeout: timeoutKind(this.errorType),
        error: error !== undefined ? redactError(error, this.secrets) : undefined,
        requestBody: this.plan.body,
      }),
    );
    for (const cleanup of this.cleanups) telemetry.safely('on_end', cleanup);
    this.resolve({
      plan: this.plan,
      statusCode: this.statusCode,
      errorType: this.errorType,
      facts: this.facts,
      startedAt: this.startedAt,
      endedAt,
      durationS,
      timeToFirstChunkS: this.timeToFirstChunkS,
      outcome,
    });
  }

  /**
   * What the response said, without the request's credentials (a server may echo them in the
   * message's id or model, or its error type): recorded on the span, the metrics and the logs.
   */
  private redactFacts(): void {
    const secrets = this.secrets;
    if (secrets.length === 0) return;
    const facts = this.facts;
    if (facts.id !== undefined) facts.id = redactText(facts.id, secrets);
    if (facts.model !== undefined) facts.model = redactText(facts.model, secrets);
    if (facts.stopReason !== undefined) facts.stopReason = redactText(facts.stopReason, secrets);
    const type = this.errorType;
    if (type !== undefined && redactText(type, secrets) !== type) {
      this.errorType = this.statusCode !== undefined ? String(this.statusCode) : 'invalid_response';
    }
  }

  /** Now, on the span's time base (for its events), or undefined to let the SDK stamp it. */
  now(): HrTime | undefined {
    return this.timeBase !== undefined ? hrTimeAt(this.timeBase, performance.now()) : undefined;
  }

  anomaly(kind: string): void {
    this.env.telemetry.safely('anomaly', () =>
      this.span.addEvent(EVENTS.RESPONSE_ANOMALY.name, { [A.ANTHROPIC_ANOMALY_KIND]: kind }, this.now()),
    );
  }
}

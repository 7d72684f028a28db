/**
 * Structured log events: one line per decision and outcome that matters in operations (attempt
 * failed or succeeded, retry scheduled or given up, breaker transitions, failover, fallback, cache
 * served, stream resumed or given up, timeouts), declared in `LOG_EVENTS` (names.ts) and written
 *
 * - to the application's pino logger (option `logger`; typed structurally, pino is not imported),
 *   as `logger[level]({ event, trace_id, span_id, ...fields }, message)`;
 * - as OpenTelemetry log records through the Logs API of `@opentelemetry/api` ≥ 1.10 (a no-op
 *   until a LoggerProvider is registered; absent in older api versions), in the context of the
 *   span the event belongs to, so the records carry its trace and span ids.
 *
 * Every field is a bounded value (error types, regions, models, counts) except the exception
 * message, which is scrubbed: secrets always, content unless `logging.content` opts in. Events at
 * `info` and above pass a token bucket per event name; what it drops is counted and summarized.
 */
import * as otel from '@opentelemetry/api';
import {
  type AttributeValue,
  type LoggerProvider,
  type Logger as OtelLogger,
  ROOT_CONTEXT,
  type Span,
  trace,
} from '@opentelemetry/api';
import { systemClock } from '../policies/clock.js';
import type { Clock, Timer } from '../policies/types.js';
import { redactText } from '../redact.js';
import type { Usage } from '../usage.js';
import { VERSION } from '../version.js';
import {
  A,
  INSTRUMENTATION_SCOPE,
  LOG_EVENTS,
  LOG_FIELDS,
  type LogEventSpec,
  type LogLevel,
} from './names.js';

/**
 * The logger the events are written to: pino's, or anything with the same four methods (called as
 * `logger.warn({ event, trace_id, span_id, …fields }, message)`).
 */
export interface Logger {
  /** Logs `obj` (the event's fields) with `msg` at `debug`. */
  debug(obj: Record<string, unknown>, msg?: string): void;
  /** Logs at `info`. */
  info(obj: Record<string, unknown>, msg?: string): void;
  /** Logs at `warn`. */
  warn(obj: Record<string, unknown>, msg?: string): void;
  /** Logs at `error`. */
  error(obj: Record<string, unknown>, msg?: string): void;
  /** When present (pino has it), events of a disabled level are not even built. */
  isLevelEnabled?(level: string): boolean;
}

/** The log noise bound: a token bucket per event name for the events at `info` and above. */
export interface LogRateLimitOptions {
  /** Events of one name that may be written at once. Default `20`. */
  burst?: number;
  /** Events of one name written per second once the burst is spent. Default `1`. */
  perSecond?: number;
  /**
   * A dropped event starts a timer: when it fires, one `anthropic.log.suppressed` event per name
   * says how many were dropped. So at most one summary per name per interval. Default `10_000` ms.
   */
  summaryIntervalMs?: number;
}

/** Settings of the log events (option `logging`). */
export interface LoggingOptions {
  /**
   * Let prompt and output text reach the logs. Default `false`: exception messages are written
   * with quoted text replaced by `"[omitted]"`, and omitted whole when they contain any text of the
   * request. API keys, `authorization`, bearer tokens and cookies are replaced by `[REDACTED]`
   * whatever this says.
   */
  content?: boolean;
  /**
   * Bound on log noise (see {@link LogRateLimitOptions}). `false`: every event is written.
   * Default: 20 at once, then 1 per second, per event name, with a summary of what was dropped.
   */
  rateLimit?: LogRateLimitOptions | false;
}

/** What {@link EventLog} is built from. */
export interface EventLogConfig extends LoggingOptions {
  logger?: Logger | undefined;
  /** Default: the global provider (looked up again when it changes). `false`: no OTLP records. */
  loggerProvider?: LoggerProvider | false | undefined;
  clock?: Clock | undefined;
  /** Reports a failure of a sink (the event is lost, the request goes on). */
  onError?: ((step: string, error: unknown) => void) | undefined;
}

/** Values of the fields of one event (undefined ones are left out). */
export type LogFields = Record<string, string | number | boolean | undefined>;

/** OTLP severity numbers (SeverityNumber of the Logs API, spelled out for api versions without it). */
const SEVERITY: Record<LogLevel, { number: number; text: string }> = {
  debug: { number: 5, text: 'DEBUG' },
  info: { number: 9, text: 'INFO' },
  warn: { number: 13, text: 'WARN' },
  error: { number: 17, text: 'ERROR' },
};

/** The Logs API, when this version of `@opentelemetry/api` has one (1.10 and later). */
const logsApi = (otel as { logs?: typeof otel.logs }).logs;

const MAX_STRING = 1024;

/** `text` with API keys, tokens, authorization values, cookies and URL credentials replaced. */
export function redactSecrets(text: string): string {
  return redactText(text);
}

const QUOTED = /"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|`(?:[^`\\]|\\.)*`/g;

/** Keys whose values are structure (roles, block types, ids), not text of the prompt. */
const STRUCTURE_KEYS = new Set(['role', 'type', 'media_type', 'id', 'tool_use_id', 'name', 'cache_control']);

/** String leaves of the request's `system` and `messages` (the prompt), at most 200. */
function promptTexts(body: unknown): string[] {
  if (typeof body !== 'string') return [];
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return [];
  }
  if (typeof json !== 'object' || json === null) return [];
  const out: string[] = [];
  const walk = (value: unknown, depth: number): void => {
    if (out.length >= 200 || depth > 8) return;
    if (typeof value === 'string') {
      if (value.trim().length >= 6) out.push(value);
    } else if (Array.isArray(value)) {
      for (const item of value) walk(item, depth + 1);
    } else if (typeof value === 'object' && value !== null) {
      for (const [key, item] of Object.entries(value)) if (!STRUCTURE_KEYS.has(key)) walk(item, depth + 1);
    }
  };
  const { system, messages } = json as { system?: unknown; messages?: unknown };
  walk(system, 0);
  walk(messages, 0);
  return out;
}

const WINDOW = 12;

/**
 * Whether `message` shares a run of 12 characters (or a whole shorter text) with one of `texts`:
 * an error message that quotes the prompt, even cut or from the middle, is caught.
 */
function holdsContent(message: string, texts: readonly string[]): boolean {
  if (texts.length === 0) return false;
  const windows = new Set<string>();
  for (let i = 0; i + WINDOW <= message.length; i++) windows.add(message.slice(i, i + WINDOW));
  let budget = 1_000_000;
  for (const text of texts) {
    const t = text.trim();
    if (t.length < WINDOW) {
      if (message.includes(t)) return true;
      continue;
    }
    for (let i = 0; i + WINDOW <= t.length && budget > 0; i++, budget--) {
      if (windows.has(t.slice(i, i + WINDOW))) return true;
    }
  }
  return false;
}

/**
 * The log form of an error: its class name, and its message with its causes' (`…; cause: …`),
 * secrets redacted; unless `content` is allowed, quoted text is replaced by `"[omitted]"` and the
 * message is omitted whole when it holds text of the request (`requestBody`).
 */
export function describeError(
  error: unknown,
  options: { content: boolean; requestBody?: unknown },
): { type: string; message: string } {
  const type =
    error instanceof Error
      ? error.name || error.constructor.name
      : error === null
        ? 'null'
        : typeof error === 'object'
          ? 'object'
          : typeof error;
  const parts: string[] = [];
  const seen = new Set<unknown>();
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current !== undefined && !seen.has(current); depth++) {
    seen.add(current);
    if (current instanceof Error) {
      const code = (current as { code?: unknown }).code;
      const head = depth === 0 ? '' : `${current.name}: `;
      parts.push(`${head}${current.message}${typeof code === 'string' ? ` [${code}]` : ''}`);
      current = (current as { cause?: unknown }).cause;
    } else {
      // Not an Error: a string says something, an object's fields may be anything.
      parts.push(typeof current === 'string' ? current : `(${typeof current})`);
      break;
    }
  }
  let message = redactSecrets(parts.join('; cause: '));
  if (!options.content) {
    if (holdsContent(message, promptTexts(options.requestBody))) {
      message = '[omitted: it contained text of the request]';
    } else {
      message = message.replace(QUOTED, (q) => `${q[0]}[omitted]${q[0]}`);
    }
  }
  return { type, message: truncate(message) };
}

function truncate(text: string): string {
  return text.length <= MAX_STRING ? text : `${text.slice(0, MAX_STRING)}…`;
}

/** A token bucket per event name, counting what it drops. */
class RateLimiter {
  readonly #burst: number;
  readonly #perMs: number;
  readonly #intervalMs: number;
  readonly #buckets = new Map<string, { tokens: number; at: number }>();
  readonly #dropped = new Map<string, number>();
  #timer: Timer | undefined;

  constructor(
    options: LogRateLimitOptions,
    private readonly clock: Clock,
    private readonly summarize: (dropped: Map<string, number>) => void,
  ) {
    const { burst = 20, perSecond = 1, summaryIntervalMs = 10_000 } = options;
    if (!Number.isFinite(burst) || burst < 1) {
      throw new TypeError(`logging.rateLimit.burst must be a number ≥ 1, got ${String(burst)}`);
    }
    if (!Number.isFinite(perSecond) || perSecond <= 0) {
      throw new TypeError(`logging.rateLimit.perSecond must be a positive number, got ${String(perSecond)}`);
    }
    if (!Number.isFinite(summaryIntervalMs) || summaryIntervalMs <= 0) {
      throw new TypeError(
        `logging.rateLimit.summaryIntervalMs must be a positive number, got ${String(summaryIntervalMs)}`,
      );
    }
    this.#burst = burst;
    this.#perMs = perSecond / 1000;
    this.#intervalMs = summaryIntervalMs;
  }

  /** Takes a token for `name`; false (and counted) when there is none. */
  take(name: string): boolean {
    const now = this.clock.now();
    let bucket = this.#buckets.get(name);
    if (bucket === undefined) {
      bucket = { tokens: this.#burst, at: now };
      this.#buckets.set(name, bucket);
    }
    bucket.tokens = Math.min(this.#burst, bucket.tokens + Math.max(0, now - bucket.at) * this.#perMs);
    bucket.at = now;
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return true;
    }
    this.#dropped.set(name, (this.#dropped.get(name) ?? 0) + 1);
    this.#timer ??= this.clock.setTimer(() => {
      this.#timer = undefined;
      this.flush();
    }, this.#intervalMs);
    return false;
  }

  /** Reports what was dropped so far, now. */
  flush(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
    if (this.#dropped.size === 0) return;
    const dropped = new Map(this.#dropped);
    this.#dropped.clear();
    this.summarize(dropped);
  }
}

/** Operation log events by the name of their span event. */
const OPERATION_EVENTS = new Map<string, LogEventSpec>(
  Object.values(LOG_EVENTS)
    .filter((spec: LogEventSpec) => spec.span === 'operation')
    .map((spec) => [spec.name, spec]),
);

/** What an attempt's log events are made of (see {@link EventLog.attempt}). */
export interface AttemptLogFacts {
  readonly span: Span;
  readonly outcome: 'ok' | 'error' | 'cancelled';
  readonly operation: string | undefined;
  readonly model: string | undefined;
  readonly region: string;
  readonly resendCount: number;
  readonly statusCode: number | undefined;
  readonly errorType: string | undefined;
  readonly requestId: string | undefined;
  readonly retryAfterS: number | undefined;
  readonly durationS: number;
  readonly responseModel: string | undefined;
  readonly usage: Usage | undefined;
  /** The timeout kind, when one of ours ended the attempt. */
  readonly timeout: string | undefined;
  readonly error: unknown;
  /** The request body sent, to keep its text out of exception messages. */
  readonly requestBody: unknown;
}

/** The log events of one `createClaudeFetch` instance: its sinks, its scrubbing, its noise bound. */
export class EventLog {
  readonly #logger: Logger | undefined;
  readonly #provider: LoggerProvider | false | undefined;
  readonly #content: boolean;
  readonly #limiter: RateLimiter | undefined;
  readonly #onError: (step: string, error: unknown) => void;
  #cachedProvider: LoggerProvider | undefined;
  #otelLogger: OtelLogger | undefined;

  /** @throws TypeError when `logger` lacks a method or a rate limit is invalid. */
  constructor(config: EventLogConfig = {}) {
    const logger = config.logger;
    if (logger !== undefined) {
      for (const level of ['debug', 'info', 'warn', 'error'] as const) {
        if (typeof (logger as Partial<Logger> | null)?.[level] !== 'function') {
          throw new TypeError(`options.logger must have a ${level}(obj, msg) method (a pino logger)`);
        }
      }
    }
    this.#logger = logger;
    this.#provider = config.loggerProvider;
    this.#content = config.content === true;
    this.#onError = config.onError ?? (() => undefined);
    this.#limiter =
      config.rateLimit === false
        ? undefined
        : new RateLimiter(config.rateLimit ?? {}, config.clock ?? systemClock, (dropped) =>
            this.#summarize(dropped),
          );
  }

  /** Writes the summaries of what the rate limit dropped so far (e.g. at shutdown). */
  flush(): void {
    this.#limiter?.flush();
  }

  /** The OTel logger, from the configured or the current global provider. */
  #otel(): OtelLogger | undefined {
    if (this.#provider === false) return undefined;
    const provider = this.#provider ?? logsApi?.getLoggerProvider();
    if (provider === undefined) return undefined;
    if (provider !== this.#cachedProvider || this.#otelLogger === undefined) {
      this.#otelLogger = provider.getLogger(INSTRUMENTATION_SCOPE, VERSION);
      this.#cachedProvider = provider;
    }
    return this.#otelLogger;
  }

  /**
   * Writes one event, `build` called only when a sink takes it and the rate limit lets it through.
   * `span`: the span the event belongs to (its ids go into the line and the record's context).
   */
  emit(spec: LogEventSpec, span: Span | undefined, build: () => LogFields): void {
    this.#write(spec, span, spec.level !== 'debug', build);
  }

  #write(spec: LogEventSpec, span: Span | undefined, limited: boolean, build: () => LogFields): void {
    const level = spec.level;
    const severity = SEVERITY[level];
    const logger = this.#logger;
    let toPino = false;
    if (logger !== undefined) {
      try {
        toPino = logger.isLevelEnabled?.(level) ?? true;
      } catch (error) {
        this.#onError('log', error);
      }
    }
    let otelLogger: OtelLogger | undefined;
    try {
      otelLogger = this.#otel();
      // Asked without the span's context (cheap, and the SDK checks a trace-based config on emit).
      if (
        otelLogger !== undefined &&
        typeof otelLogger.enabled === 'function' &&
        !otelLogger.enabled({ severityNumber: severity.number, eventName: spec.name })
      ) {
        otelLogger = undefined;
      }
    } catch (error) {
      otelLogger = undefined;
      this.#onError('log_otlp', error);
    }
    if (!toPino && otelLogger === undefined) return;
    if (limited && this.#limiter !== undefined && !this.#limiter.take(spec.name)) return;
    const fields: Record<string, string | number | boolean> = {};
    for (const [key, value] of Object.entries(build())) {
      if (value === undefined) continue;
      fields[key] = typeof value === 'string' ? truncate(redactSecrets(value)) : value;
    }
    if (toPino && logger !== undefined) {
      try {
        const line: Record<string, unknown> = { [LOG_FIELDS.EVENT.name]: spec.name };
        const sc = span?.spanContext();
        if (sc !== undefined && trace.isSpanContextValid(sc)) {
          line[LOG_FIELDS.TRACE_ID.name] = sc.traceId;
          line[LOG_FIELDS.SPAN_ID.name] = sc.spanId;
        }
        Object.assign(line, fields);
        logger[level](line, spec.message);
      } catch (error) {
        this.#onError('log', error);
      }
    }
    if (otelLogger !== undefined) {
      try {
        const attributes: Record<string, AttributeValue> = { [LOG_FIELDS.EVENT.name]: spec.name, ...fields };
        otelLogger.emit({
          eventName: spec.name,
          severityNumber: severity.number,
          severityText: severity.text,
          body: spec.message,
          attributes,
          context: span !== undefined ? trace.setSpan(ROOT_CONTEXT, span) : ROOT_CONTEXT,
        });
      } catch (error) {
        this.#onError('log_otlp', error);
      }
    }
  }

  /**
   * Logs a decision recorded as the span event `name` on the operation span (does nothing for a
   * span event that is not an operation log event).
   */
  decision(
    name: string,
    attributes: Readonly<Record<string, unknown>>,
    span: Span | undefined,
    operation: { readonly operation: string; readonly model: string | undefined },
  ): void {
    const spec = OPERATION_EVENTS.get(name);
    if (spec === undefined) return;
    this.emit(spec, span, () => {
      const fields: LogFields = {
        [A.GEN_AI_OPERATION_NAME]: operation.operation,
        [A.GEN_AI_REQUEST_MODEL]: operation.model,
      };
      for (const key of spec.fields) {
        const value = attributes[key];
        if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') {
          fields[key] = value;
        }
      }
      return fields;
    });
  }

  /** Logs how an attempt ended: failed (warn), succeeded (debug), and the timeout that ended it. */
  attempt(facts: AttemptLogFacts): void {
    if (facts.outcome === 'cancelled') return;
    const common = (): LogFields => ({
      [A.GEN_AI_OPERATION_NAME]: facts.operation,
      [A.GEN_AI_REQUEST_MODEL]: facts.model,
      [A.ANTHROPIC_REGION]: facts.region,
      [A.HTTP_REQUEST_RESEND_COUNT]: facts.resendCount,
      [A.HTTP_RESPONSE_STATUS_CODE]: facts.statusCode,
      [A.ANTHROPIC_REQUEST_ID]: facts.requestId,
      [LOG_FIELDS.ATTEMPT_DURATION.name]: facts.durationS,
    });
    if (facts.outcome === 'ok') {
      this.emit(LOG_EVENTS.ATTEMPT_SUCCEEDED, facts.span, () => {
        const usage = facts.usage;
        return {
          ...common(),
          [A.GEN_AI_RESPONSE_MODEL]: facts.responseModel,
          [A.GEN_AI_USAGE_INPUT_TOKENS]:
            usage !== undefined ? usage.input + usage.cacheRead + usage.cacheWrite : undefined,
          [A.GEN_AI_USAGE_OUTPUT_TOKENS]: usage?.output,
          [A.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS]: usage?.cacheRead,
          [A.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS]: usage?.cacheWrite,
        };
      });
      return;
    }
    if (facts.timeout !== undefined) {
      const kind = facts.timeout;
      this.emit(LOG_EVENTS.TIMEOUT, facts.span, () => ({
        [A.ANTHROPIC_TIMEOUT_KIND]: kind,
        [A.GEN_AI_REQUEST_MODEL]: facts.model,
        [A.ANTHROPIC_REGION]: facts.region,
        [A.HTTP_REQUEST_RESEND_COUNT]: facts.resendCount,
      }));
    }
    this.emit(LOG_EVENTS.ATTEMPT_FAILED, facts.span, () => {
      const fields: LogFields = {
        ...common(),
        [A.ERROR_TYPE]: facts.errorType,
        [A.ANTHROPIC_RETRY_AFTER]: facts.retryAfterS,
      };
      if (facts.error !== undefined) {
        const described = describeError(facts.error, {
          content: this.#content,
          requestBody: facts.requestBody,
        });
        fields[LOG_FIELDS.EXCEPTION_TYPE.name] = described.type;
        fields[LOG_FIELDS.EXCEPTION_MESSAGE.name] = described.message;
      }
      return fields;
    });
  }

  #summarize(dropped: Map<string, number>): void {
    // Never rate-limited itself: the limiter's timer makes it one per name per interval.
    for (const [name, count] of dropped) {
      this.#write(LOG_EVENTS.SUPPRESSED, undefined, false, () => ({
        [LOG_FIELDS.SUPPRESSED_EVENT.name]: name,
        [LOG_FIELDS.SUPPRESSED.name]: count,
      }));
    }
  }
}

/**
 * Options of {@link createClaudeFetch}. Every option is optional; the defaults record spans and
 * metrics through the global OpenTelemetry providers and record no content.
 */
import type { LoggerProvider, MeterProvider, Span, TracerProvider } from '@opentelemetry/api';
import type { BreakerPolicyOptions } from './policies/breaker-policy.js';
import type { RetryBudgetOptions } from './policies/budget.js';
import type { CacheOptions } from './policies/cache.js';
import type { FallbackOptions } from './policies/fallback.js';
import type { ProbeOptions, RegionConfig, RegionHealthOptions } from './policies/regions.js';
import type { RetryOptions } from './policies/retry.js';
import type { ThrottleOptions } from './policies/throttle.js';
import type { Clock, Random } from './policies/types.js';
import type { AttemptInfo } from './recorder.js';
import type { ClaudeRequest } from './request.js';
import type { FleetOptions } from './store/fleet.js';
import type { FleetStore } from './store/types.js';
import type { Logger, LoggingOptions } from './telemetry/logging.js';

/** Retry settings: {@link RetryOptions} plus the client-wide budget. */
export interface RetryPolicyOptions extends RetryOptions {
  /**
   * The client-wide retry budget (a token bucket in the manner of gRPC retry throttling): each
   * retryable failure costs a token, each success refunds `tokenRatio`, and retries are allowed only
   * while more than half the tokens are left, so retries stay near ≤ 10 % of requests in steady
   * state and fail fast during an outage. Default: on, 100 tokens, ratio 0.1. `false`: unlimited.
   */
  budget?: RetryBudgetOptions | false;
}

/** Regions to fail over between, with their health settings. */
export interface RegionsOptions extends RegionHealthOptions {
  /** The endpoints, e.g. `[{ name: 'primary', baseURL: 'https://api.anthropic.com' }, …]`. */
  list: RegionConfig[];
  /**
   * Active health probes: `GET {baseURL}{path}` (default `/v1/models`) every `intervalMs` (30 s,
   * ±20 % jitter) with a timeout (5 s), sent with the API key of the latest request (held in memory,
   * never recorded). A region counts as up when the probe gets any answer below 500. Probes are
   * traced as `anthropic.region.probe` spans and are not counted as user traffic. Default: off.
   */
  probe?:
    | (ProbeOptions & {
        /**
         * The path probed on each region's `baseURL` (its base path kept).
         * @default '/v1/models'
         */
        path?: string;
      })
    | boolean;
}

/** Stream recovery settings (option `resume`). */
export interface ResumeOptions {
  /**
   * Continuations per stream; a break after the last one fails the stream.
   * @default 2
   */
  maxResumptions?: number;
  /**
   * The longest message kept for the prefill, in characters; a longer one is not resumed.
   * @default 1_000_000
   */
  maxBufferedChars?: number;
}

/** Timeouts, in ms; each unset one is off. */
export interface TimeoutOptions {
  /**
   * From sending an attempt to its response headers (connect included). Retryable.
   * @default off
   */
  connectMs?: number;
  /**
   * Streams: from the response headers to the first chunk of the body.
   * @default off (`idleMs` when set)
   */
  firstChunkMs?: number;
  /**
   * Streams: the longest gap between two chunks of the body arriving (the SDK has none), counted
   * while the consumer waits for the next one — time it spends not reading (back-pressure) is not
   * a stall; also the longest wait for the first chunk when `firstChunkMs` is unset.
   * @default off
   */
  idleMs?: number;
  /**
   * The whole operation: every attempt and every wait, until the body ends. Not retried.
   * @default off
   */
  totalMs?: number;
}

/** Bounds of the read of an error body (`errorBody`). */
export interface ErrorBodyOptions {
  /** Most bytes read before the response is handed over. Default `65_536`. */
  maxBytes?: number;
  /** Longest wait for them, in ms (of `clock`). Default `1_000`. */
  maxWaitMs?: number;
}

/** Content capture settings. */
export interface CaptureContentOptions {
  /**
   * Longest recorded value, in UTF-16 code units, of `gen_ai.input.messages` and
   * `gen_ai.output.messages`; longer values are cut and end in `…`. Default `16384`.
   */
  maxLength?: number;
}

/**
 * Options of {@link createClaudeFetch}. Every option is optional; the defaults record spans and
 * metrics through the global OpenTelemetry providers, record no content and run no resilience
 * policy (each policy is off until its option is set, `true` for its defaults).
 */
export interface ClaudeFetchOptions {
  /**
   * The fetch to wrap. Default: `globalThis.fetch`, looked up on each call (so a fetch installed or
   * instrumented later is used).
   */
  fetch?: typeof globalThis.fetch;
  /**
   * Tracer provider for the attempt spans. Default: the global provider (`trace.getTracerProvider()`),
   * which follows an SDK registered after the fetch was created.
   */
  tracerProvider?: TracerProvider;
  /**
   * Meter provider for the metrics. Default: the global provider, looked up again when it changes,
   * so an SDK registered after the fetch was created is used.
   */
  meterProvider?: MeterProvider;
  /**
   * A pino logger (or anything with pino's `debug/info/warn/error(obj, msg)`) for one structured
   * event per decision and outcome: attempt failed (`warn`) or succeeded (`debug`, with duration
   * and tokens), retry scheduled or given up, breaker transitions, failover, fallback, cache served,
   * stream resumed or given up, timeouts. Each carries `event`, `trace_id` and `span_id`; see the
   * Logs page (docs/logs.md). Never holds API keys, cookies, or (without `logging.content`) prompt or
   * output text. Default: none (the events still go to OpenTelemetry logs, see `loggerProvider`).
   */
  logger?: Logger;
  /**
   * Logger provider for the same events as OpenTelemetry log records (with the trace and span ids
   * of their span). Default: the global provider of `@opentelemetry/api` ≥ 1.10 (a no-op until an
   * SDK registers one, e.g. `claude-otel-middleware/register`). `false`: no log records.
   * @default the global logger provider
   */
  loggerProvider?: LoggerProvider | false;
  /**
   * Content opt-in and noise bound of the log events. Default: no content; per event name, 20
   * events at once then 1 per second (events at `info` and above), the rest counted and reported
   * every 10 s by an `anthropic.log.suppressed` event.
   */
  logging?: LoggingOptions;
  /**
   * The value of `anthropic.region` for every attempt. Default: derived from the host (Bedrock or
   * Vertex region, `global` for Vertex's global endpoint), else the host name.
   */
  region?: string;
  /**
   * Record prompts and outputs (`gen_ai.input.messages`, `gen_ai.output.messages`). Default `false`:
   * content may hold personal data and is opt-in. API keys, `authorization` and cookies are never
   * recorded, whatever this says.
   */
  captureContent?: boolean | CaptureContentOptions;
  /**
   * Run the wrapped fetch with tracing suppressed in its context, so an HTTP instrumentation of the
   * application (`@opentelemetry/instrumentation-undici`) does not add a second span per attempt. The
   * trace context headers are still injected, by this library, from the attempt span. Default `true`.
   */
  suppressInnerHttpSpans?: boolean;
  /**
   * Whether each attempt sends its span's trace context (the global propagator's headers, e.g.
   * `traceparent`). `'auto'` (default) follows the application's choice: with an SDK that propagates
   * by itself (`@anthropic-ai/sdk` ≥ 0.134, told by its `x-stainless-*` headers) the context is sent
   * only when the SDK sent one — so `openTelemetry: false`, `openTelemetry: { propagation: false }`
   * and `ANTHROPIC_OPEN_TELEMETRY(_PROPAGATION)=false` also stop ours — and replaces the SDK's with
   * the attempt span's; any other caller gets it whenever a propagator is registered. `true`: always;
   * `false`: never (the SDK's own context, if any, goes through untouched). Default `'auto'`.
   */
  propagation?: boolean | 'auto';
  /**
   * Called when an attempt span starts, before the request is sent: add attributes of your own.
   * What it throws is caught and counted; the request goes on.
   * @default none
   */
  requestHook?: (span: Span, info: AttemptInfo) => void;
  /**
   * Called when an attempt's response headers arrive (before its body is read). What it throws is
   * caught and counted; the request goes on.
   * @default none
   */
  responseHook?: (span: Span, response: Response, info: AttemptInfo) => void;
  /**
   * Return `true` to pass a request to the wrapped fetch untouched: no span, no metrics.
   * Default: every request is instrumented.
   */
  ignoreRequest?: (request: ClaudeRequest) => boolean;
  /**
   * Our retries: transient failures (408, 409, 429, 5xx, 529, connection errors, our timeouts) are
   * retried with exponential backoff and full jitter (or the server's `retry-after`), within
   * `maxAttempts` (3), the retry budget and `timeouts.totalMs`. The SDK is told not to retry on top
   * (`x-should-retry: false`), so an SDK call makes at most `maxAttempts` HTTP attempts. `true` for
   * the defaults. Default: off (only the SDK's own retries).
   */
  retry?: RetryPolicyOptions | boolean;
  /**
   * Circuit breakers per `{region}|{model}`: failure rate ≥ 50 % over the last 20 attempts (at least
   * 10) opens for 5 s (constant; `openBackoffMultiplier` to grow it on repeated trips), then one
   * probe decides. While open, a request's first attempt waits for the decision (`hold`: at most
   * 10 s and never past `timeouts.totalMs`; none when another region or fallback model can take
   * it); retries, and everything once `hold: false`, are answered at once with a `circuit_open`
   * error (status 503). `true` for the defaults. Default: off.
   */
  breaker?: BreakerPolicyOptions | boolean;
  /**
   * Multi-region failover: each attempt goes to the healthiest region by priority (its URL rewritten
   * to the region's `baseURL`); a region whose breaker is open is skipped at once, one that failed
   * goes to the back for the next attempt; failback to the preferred region once it has been
   * healthy for `failbackAfterMs` (30 s). Refuses Bedrock hosts (their SigV4 signature covers the
   * host). Default: off (the SDK's `baseURL` only).
   */
  regions?: RegionConfig[] | RegionsOptions;
  /**
   * Model fallback chain: when the request's model fails after its retries with a triggering error
   * (overload, server errors, an open breaker, connection errors, timeouts — never the caller's
   * 4xx), the next model of `models` is tried, its name written into the body. `stickyMs` keeps using
   * the fallback for a while. Default: off.
   */
  fallback?: FallbackOptions;
  /**
   * Cached responses: successful non-streamed messages are kept (in memory, LRU with TTL, 10 min,
   * 1000 entries, by default) under a hash of the request body, and served — replayed as SSE for a
   * streamed request — only when everything else failed. Marked by `x-claude-otel-cache: hit`.
   * `true` for the defaults. Default: off.
   */
  cache?: CacheOptions | boolean;
  /**
   * Recovery of broken streams: a streamed message that breaks after its 200 (dropped connection,
   * `event: error`, idle timeout) is continued with the text so far as an assistant-turn prefill,
   * the continuation spliced into the same stream, at most `maxResumptions` (2) times; what cannot
   * be resumed errors the stream with a `StreamInterruptedError` carrying the partial output.
   * The text so far is kept for the prefill up to `maxBufferedChars` (1 000 000 characters, far
   * above any `max_tokens`); past it the text is dropped, memory stays bounded and a break is not
   * resumed (`not_resumable:too_long`). `true` for the defaults. Default: off.
   */
  resume?: ResumeOptions | boolean;
  /**
   * Proactive throttling: a model of the rate-limit headroom per region and model, learnt from the
   * `anthropic-ratelimit-*` headers of every response (and a 429's `retry-after`); a request the
   * headroom would not cover waits for it (at most `maxWaitMs`, 30 s, and never past
   * `timeouts.totalMs`) or is answered at once with a `throttled` error (429, not retried), instead
   * of being sent to earn a 429. `true` for the defaults. Default: off.
   */
  throttle?: ThrottleOptions | boolean;
  /**
   * Fleet mode: the breakers, the retry budget, the rate-limit headroom and the response cache are
   * shared through this store (`RedisFleetStore` from `claude-otel-middleware/redis`, or a
   * `MemoryFleetStore`), so many processes act as one client. Policies stay local on the hot path
   * and sync in the background; if the store fails or is slow (`timeoutMs`, 100 ms), they fall back
   * to local state until it answers again. Default: none (state per fetch instance).
   */
  store?: FleetStore | FleetOptions;
  /** Timeouts. Default: none of ours (the SDK's own 10-minute timeout still applies). */
  timeouts?: TimeoutOptions;
  /**
   * How much of an error response's body (status ≥ 400) is read for its `error.type` before the
   * response is handed to the caller, whatever `content-length` says. The caller then gets those
   * bytes followed by the rest of the body as it comes, so a stalled or endless error body delays
   * neither the SDK's retry (it cancels the body) nor costs memory. Default: 64 KiB, 1 s.
   */
  errorBody?: ErrorBodyOptions;
  /** The clock of the policies (tests drive time through it). Default: the real clock. */
  clock?: Clock;
  /** The random source of the jitter. Default: `Math.random`. */
  random?: Random;
}

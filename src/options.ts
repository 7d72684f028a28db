/**
 * Options of {@link createClaudeFetch}. Every option is optional; the defaults record spans and
 * metrics through the global OpenTelemetry providers and record no content.
 */
import type { MeterProvider, Span, TracerProvider } from '@opentelemetry/api';
import type { ClaudeRequest } from './request.js';

/** What a hook learns of an attempt. */
export interface AttemptInfo {
  /** The request as read once from the fetch call. */
  readonly request: ClaudeRequest;
  /** `http.request.resend_count` of this attempt. */
  readonly resendCount: number;
  /** `anthropic.region` of this attempt. */
  readonly region: string;
}

/** Content capture settings. */
export interface CaptureContentOptions {
  /**
   * Longest recorded value, in UTF-16 code units, of `gen_ai.input.messages` and
   * `gen_ai.output.messages`; longer values are cut and end in `…`. Default `16384`.
   */
  maxLength?: number;
}

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
   * Called when an attempt span starts, before the request is sent: add attributes of your own.
   * What it throws is caught and counted; the request goes on.
   */
  requestHook?: (span: Span, info: AttemptInfo) => void;
  /**
   * Called when an attempt's response headers arrive (before its body is read). What it throws is
   * caught and counted; the request goes on.
   */
  responseHook?: (span: Span, response: Response, info: AttemptInfo) => void;
  /**
   * Return `true` to pass a request to the wrapped fetch untouched: no span, no metrics.
   * Default: every request is instrumented.
   */
  ignoreRequest?: (request: ClaudeRequest) => boolean;
}

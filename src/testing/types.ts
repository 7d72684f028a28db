/**
 * Types of the fake Claude API (`claude-otel-middleware/testing`).
 *
 * Terms: a *fault* is what the fake does to one request instead of (or on top of) answering it
 * normally. A fault is chosen per request by, in order: `faultFor` (a function), the scripted
 * sequence (`script`, consumed one entry per matching request), then the seeded random schedule
 * (`random`). A request that gets no fault is answered normally.
 */

import type { ModelInfo } from './content.js';

/** What the fake does to one request. All fields are optional and combine. */
export interface Fault {
  /**
   * Answer with this HTTP status and an Anthropic error body
   * `{"type":"error","error":{"type":…,"message":…},"request_id":…}`.
   * The error type defaults from the status (429 → `rate_limit_error`, 529 → `overloaded_error`, …).
   */
  status?: number;
  /** Error type in the body; default derived from `status`. */
  errorType?: string;
  /** Error message in the body; default a short text naming the type. */
  message?: string;
  /**
   * Shape of the error body (with `status`) or of the success body (without it):
   * `json` (default), `html` (an nginx-like HTML page, `text/html`), `empty` (no body),
   * `truncated-json` (valid headers, the JSON cut in half, connection closed cleanly).
   */
  body?: 'json' | 'html' | 'empty' | 'truncated-json';
  /** Extra response headers, e.g. `{ 'retry-after': '2' }`, `{ 'x-should-retry': 'false' }`. */
  headers?: Record<string, string>;
  /** Wait this long before sending the response headers (ms). */
  delayHeadersMs?: number;
  /** Streams only: wait this long after the headers before the first event (ms). */
  delayFirstEventMs?: number;
  /** Streams only: after `afterEvents` events, pause `ms` before the next one. */
  stall?: {
    /** Events sent before the pause. */
    afterEvents: number;
    /** Length of the pause, in ms. */
    ms: number;
  };
  /**
   * Streams only: destroy the connection after `afterEvents` complete events, either on an event
   * boundary (default), in the middle of the next event, or inside a multi-byte UTF-8 character
   * of the next event's text.
   */
  drop?: {
    /** Complete events sent before the drop. */
    afterEvents: number;
    /** Where the connection breaks. Default `boundary`. */
    at?: 'boundary' | 'mid-event' | 'mid-utf8';
  };
  /** Streams only: after `afterEvents` events send `event: error` with this error type and end. */
  sseError?: {
    /** Events sent before the error event. */
    afterEvents: number;
    /** `error.type` of the event. Default `overloaded_error`. */
    errorType?: string;
    /** `error.message` of the event. Default a short text naming the type. */
    message?: string;
  };
  /**
   * Replaces the whole answer with these exact bytes (for fuzzing clients): the status (default 200),
   * the headers as `[name, value]` pairs sent as given (duplicates and odd values included; no
   * `request-id` or other header is added), the body chunks written in order, then the `end`:
   * `finish` (default) ends the response, `destroy` cuts the connection, `hang` leaves it open
   * until the client goes away or the fake closes. The other fields of the fault are ignored.
   */
  raw?: RawResponse;
  /**
   * Answer normally but end the message with this `stop_reason` (and no `tool_use` block):
   * `pause_turn`, `refusal` (with `stop_details: { type: 'refusal', category: null, explanation:
   * null }`), `model_context_window_exceeded`, … The text is the usual one.
   */
  stopReason?: 'pause_turn' | 'refusal' | 'model_context_window_exceeded' | 'end_turn' | 'max_tokens';
}

/** A response written byte for byte (see {@link Fault.raw}). */
export interface RawResponse {
  /** Default 200. */
  status?: number;
  /** Sent as given, duplicates included. Default: none. */
  headers?: Array<[string, string]>;
  /** Body chunks (a string is written as UTF-8). Default: no body. */
  chunks?: Array<string | Uint8Array>;
  /** How the answer ends. Default `finish`. */
  end?: 'finish' | 'destroy' | 'hang';
}

/** A request as the fake received it. */
export interface RecordedRequest {
  /** Zero-based order of arrival at this instance. */
  index: number;
  /** HTTP method, e.g. `POST`. */
  method: string;
  /** Path without the query, e.g. `/v1/messages`. */
  path: string;
  /** Query string without `?` ('' when none). */
  query: string;
  /** Request headers, names lower-cased. */
  headers: Record<string, string>;
  /** The parsed JSON body, or `undefined` (no body / not JSON). */
  body: unknown;
  /** The fault applied, if any. */
  fault: Fault | undefined;
  /** The `request-id` the fake answered with. */
  requestId: string;
}

/** Options of {@link startFakeClaude}. */
export interface FakeClaudeOptions {
  /** Interface to listen on. Default `127.0.0.1` (loopback only). */
  host?: string;
  /** Port. Default `0` (an ephemeral free port). */
  port?: number;
  /** A name for this instance (e.g. a region), echoed in the `x-fake-region` response header. */
  name?: string;
  /** Seed for the random schedule and generated content. Default `1`. */
  seed?: number;
  /** Per-request fault hook; return `undefined` for normal handling. Runs first. */
  faultFor?: (request: RecordedRequest) => Fault | undefined;
  /** Scripted faults, consumed in order by requests to `scriptPaths`; `null` means "no fault". */
  script?: Array<Fault | null>;
  /** Paths that consume `script` and `random` faults. Default `['/v1/messages']`. */
  scriptPaths?: string[];
  /** Random faults: each request gets one of `faults` (uniformly) with probability `rate`. */
  random?: {
    /** Probability (0–1) that a request gets a fault. */
    rate: number;
    /** The faults drawn from. */
    faults: Fault[];
  };
  /** The assistant's text, or a function of the request. Default: a short generated sentence. */
  text?: string | ((request: RecordedRequest) => string);
  /**
   * Streams: emit the text as `repeat` deltas of `text` each (generated lazily with backpressure,
   * so a 200 MB stream costs no memory). Default: the text split into word-sized deltas.
   */
  repeat?: number;
  /** Insert a `ping` event every this many events (default 5; 0 = only the one after message_start). */
  pingEvery?: number;
  /**
   * Rate-limit headers on every response (`anthropic-ratelimit-*`), counted over a fixed window of
   * `windowMs` (default 60 000). With `enforce: true`, a `/v1/messages` request that the window's
   * requests or input tokens (body bytes / 4) cannot cover gets a 429 `rate_limit_error` with
   * `retry-after` (whole seconds until the window resets) instead of being answered (unless its
   * fault already answers with an error; a fault's delays still apply). Default: generous limits,
   * not enforced.
   */
  rateLimit?:
    | {
        /** Requests per window (`anthropic-ratelimit-requests-*`). */
        requests?: number;
        /** Tokens per window (`anthropic-ratelimit-tokens-*`). */
        tokens?: number;
        /** Input tokens per window (`anthropic-ratelimit-input-tokens-*`). */
        inputTokens?: number;
        /** Output tokens per window (`anthropic-ratelimit-output-tokens-*`). */
        outputTokens?: number;
        /** Window length, in ms. Default 60 000. */
        windowMs?: number;
        /** Answer 429 when the window cannot cover a request. Default `false`. */
        enforce?: boolean;
      }
    | false;
  /**
   * Models added to the built-in catalogue (an id, or the fields that differ from an active model's
   * defaults): accepted by the Messages API and listed by `GET /v1/models`. A request naming a
   * model outside the catalogue (and its aliases) gets `404 not_found_error`, as from the API.
   */
  models?: Array<
    | string
    | (Partial<ModelInfo> & {
        /** The model id. */
        id: string;
      })
  >;
  /** When set, requests must carry this key (`x-api-key` or `Authorization: Bearer`) or get 401. */
  apiKey?: string;
}

/** A running fake. */
export interface FakeClaude {
  /** Base URL, e.g. `http://127.0.0.1:41234` (pass as the SDK's `baseURL`). */
  readonly url: string;
  /** The port it listens on. */
  readonly port: number;
  /** Its name (option `name`), e.g. a region's. */
  readonly name: string;
  /** Every request received, in order. */
  readonly requests: readonly RecordedRequest[];
  /** Replace the scripted faults (and reset the script position). */
  setScript(script: Array<Fault | null>): void;
  /**
   * Forget recorded requests, clear the script, restart the random schedule and forget the prompt-cache
   * and rate-limit state: what follows behaves as a fresh instance.
   */
  reset(): void;
  /** Stop listening and destroy open connections. */
  close(): Promise<void>;
}

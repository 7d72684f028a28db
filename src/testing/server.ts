/**
 * The fake Claude API: a loopback HTTP server speaking the Messages, Token Counting and Models
 * endpoints, with scripted, hooked or seeded-random faults.
 */

import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import {
  createServer,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { Socket } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import {
  customModel,
  defaultErrorMessage,
  errorBody,
  errorTypeForStatus,
  estimateTokens,
  generateText,
  hasCacheControl,
  htmlPage,
  isObject,
  type JsonObject,
  MODEL_ALIASES,
  MODELS,
  type ModelInfo,
  reasonPhrase,
  toolInputFor,
} from './content.js';
import { derivedId, derivedUuid, hashSeed, mulberry32, type Rng } from './rng.js';
import { midUtf8Offset, type StreamPlan, sseFrame, streamFrames } from './sse.js';
import type { FakeClaude, FakeClaudeOptions, Fault, RawResponse, RecordedRequest } from './types.js';

/** Request bodies above this size get `413 request_too_large`. */
const MAX_BODY_BYTES = 32 * 1024 * 1024;

/** Default rate limits (per minute) announced in the `anthropic-ratelimit-*` headers. */
const DEFAULT_LIMITS = { requests: 4_000, inputTokens: 2_000_000, outputTokens: 400_000 } as const;

const WINDOW_MS = 60_000;

/** The smallest `thinking.budget_tokens` the API accepts. */
const MIN_THINKING_BUDGET = 1024;

function noop(): void {}

/** RFC 3339 without fractional seconds, as the API writes it. */
function rfc3339(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Per-minute counters behind the `anthropic-ratelimit-*` headers. */
export class RateLimiter {
  readonly #limits: { requests: number; tokens: number; inputTokens: number; outputTokens: number };
  #windowStart = Number.NEGATIVE_INFINITY;
  #requests = 0;
  #input = 0;
  #output = 0;
  readonly #windowMs: number;
  readonly #enforce: boolean;

  constructor(options: NonNullable<Exclude<FakeClaudeOptions['rateLimit'], false>>) {
    this.#windowMs = options.windowMs ?? WINDOW_MS;
    this.#enforce = options.enforce ?? false;
    const inputTokens = options.inputTokens ?? DEFAULT_LIMITS.inputTokens;
    const outputTokens = options.outputTokens ?? DEFAULT_LIMITS.outputTokens;
    this.#limits = {
      requests: options.requests ?? DEFAULT_LIMITS.requests,
      tokens: options.tokens ?? inputTokens + outputTokens,
      inputTokens,
      outputTokens,
    };
  }

  reset(): void {
    this.#windowStart = Number.NEGATIVE_INFINITY;
    this.#requests = 0;
    this.#input = 0;
    this.#output = 0;
  }

  /** With `enforce`: the 429 for a request of `inputTokens` the window cannot cover, else undefined. */
  reject(inputTokens: number): Fault | undefined {
    if (!this.#enforce) return undefined;
    const now = Date.now();
    if (now - this.#windowStart >= this.#windowMs) return undefined;
    const l = this.#limits;
    if (this.#requests + 1 <= l.requests && this.#input + inputTokens <= l.inputTokens) return undefined;
    const seconds = Math.max(1, Math.ceil((this.#windowStart + this.#windowMs - now) / 1000));
    return { status: 429, headers: { 'retry-after': String(seconds) } };
  }

  /** Counts one response using these tokens and returns the headers describing what is left. */
  headers(inputTokens: number, outputTokens: number, rateLimited: boolean): Record<string, string> {
    const now = Date.now();
    if (now - this.#windowStart >= this.#windowMs) {
      this.#windowStart = now;
      this.#requests = 0;
      this.#input = 0;
      this.#output = 0;
    }
    this.#requests++;
    this.#input += inputTokens;
    this.#output += outputTokens;
    const reset = rfc3339(this.#windowStart + this.#windowMs);
    const left = (limit: number, used: number): string => String(rateLimited ? 0 : Math.max(0, limit - used));
    const l = this.#limits;
    return {
      'anthropic-ratelimit-requests-limit': String(l.requests),
      'anthropic-ratelimit-requests-remaining': left(l.requests, this.#requests),
      'anthropic-ratelimit-requests-reset': reset,
      'anthropic-ratelimit-tokens-limit': String(l.tokens),
      'anthropic-ratelimit-tokens-remaining': left(l.tokens, this.#input + this.#output),
      'anthropic-ratelimit-tokens-reset': reset,
      'anthropic-ratelimit-input-tokens-limit': String(l.inputTokens),
      'anthropic-ratelimit-input-tokens-remaining': left(l.inputTokens, this.#input),
      'anthropic-ratelimit-input-tokens-reset': reset,
      'anthropic-ratelimit-output-tokens-limit': String(l.outputTokens),
      'anthropic-ratelimit-output-tokens-remaining': left(l.outputTokens, this.#output),
      'anthropic-ratelimit-output-tokens-reset': reset,
    };
  }
}

/** One request being answered. */
interface Exchange {
  res: ServerResponse;
  record: RecordedRequest;
  fault: Fault | undefined;
  /** Aborted when the client goes away or the fake closes. */
  signal: AbortSignal;
  /** Byte length of the raw request body. */
  bodyBytes: number;
  /** Per-instance serial of this request (ids and generated text derive from it). */
  serial: number;
}

interface InputUsage {
  input_tokens: number;
  cache_creation_input_tokens: number;
  cache_read_input_tokens: number;
  cache_creation: { ephemeral_5m_input_tokens: number; ephemeral_1h_input_tokens: number };
}

/** Whether any `cache_control` in `value` asks for the one-hour TTL. */
function hasHourTtl(value: unknown): boolean {
  if (Array.isArray(value)) return value.some(hasHourTtl);
  if (!isObject(value)) return false;
  for (const [key, inner] of Object.entries(value)) {
    if (key === 'cache_control' && isObject(inner) && inner.ttl === '1h') return true;
    if (hasHourTtl(inner)) return true;
  }
  return false;
}

/** Waits `ms`; resolves `false` instead when `signal` aborts first (the timer is cleared). */
async function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  try {
    await delay(ms, undefined, { signal });
    return true;
  } catch {
    return false;
  }
}

/** Reads the whole request body; `undefined` when the client went away. */
function readBody(req: IncomingMessage): Promise<Buffer | 'too-large' | undefined> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
    });
    req.on('end', () => resolve(size > MAX_BODY_BYTES ? 'too-large' : Buffer.concat(chunks)));
    req.on('error', () => resolve(undefined));
    req.on('close', () => resolve(undefined));
  });
}

/**
 * Starts a fake Claude API on loopback.
 *
 * Endpoints: `POST /v1/messages` (JSON, or SSE with `"stream": true`),
 * `POST /v1/messages/count_tokens`, `GET /v1/models`, `GET /v1/models/:id`. Anything else is
 * `404 not_found_error`; with `apiKey` set, a request without that key (`x-api-key` or
 * `Authorization: Bearer`) is `401 authentication_error`. Order of checks: fault status, then auth,
 * then routing, then validation.
 *
 * Validation answers as the API does (`400 invalid_request_error` with the API's message): bad
 * JSON, a missing `model`/`messages`/`max_tokens`, `max_tokens` not an integer, below 1 or above
 * the model's `max_tokens`, empty `messages`, a role other than `user`/`assistant` (`system`
 * included), a `thinking.budget_tokens` below 1024 or not below `max_tokens`, thinking with a
 * forced `tool_choice`, a `tool_choice` naming no tool of `tools`; a model outside the catalogue
 * (see `models`; aliases such as `claude-haiku-4-5` resolve; a `retired` model counts as unknown)
 * is `404 not_found_error`. `count_tokens` checks the same but `max_tokens`.
 *
 * Every response carries `request-id` (`req_` + 24 characters, unique per instance and request,
 * as are message and tool-use ids; generated content is reproducible from the seed),
 * `content-type`, `anthropic-organization-id`, `x-fake-region` and (unless `rateLimit: false`)
 * the `anthropic-ratelimit-*` headers over a one-minute window. A 429 carries `retry-after: 1`
 * unless its fault sets one.
 *
 * Usage: input tokens ≈ request body bytes / 4. When the request holds a `cache_control` object,
 * the prefix (model, tools, system and every message but the last, or all messages when the last
 * one itself holds `cache_control`) counts ≈ its JSON bytes / 4 as `cache_creation_input_tokens`
 * the first time this instance sees it and as `cache_read_input_tokens` afterwards; the rest of
 * the estimate stays in `input_tokens`. Output tokens ≈ text length / 4 (plus
 * the tool input's JSON length / 4, plus the thinking text's). `usage` also holds `cache_creation`
 * (by TTL: `ephemeral_1h_input_tokens` when a `cache_control` asks for `ttl: "1h"`),
 * `service_tier: "standard"` and `inference_geo` (the request's, else `"not_available"`);
 * a stream's `message_delta.usage` repeats the input and cache counts with the final
 * `output_tokens`; `stop_details` is `null` but for a refusal.
 *
 * Request semantics: with `tools` the answer ends with a `tool_use` block (`stop_reason:
 * "tool_use"`) for the first tool (`tool_choice` `auto`/`any`) or the named one (`tool`; `any` and
 * `tool` have no text block), none with `tool_choice: none` or when the last message carries a
 * `tool_result` (so an agent loop ends); the text stops before the first of `stop_sequences` it
 * contains (`stop_reason: "stop_sequence"`); an answer longer than `max_tokens` is cut there
 * (`stop_reason: "max_tokens"`, `output_tokens` = `max_tokens`; `repeat` streams are exempt);
 * `thinking` `enabled`/`adaptive` puts a signed `thinking` block first (`thinking_delta`s and a
 * `signature_delta` when streamed). A fault's `stopReason` scripts `pause_turn`, `refusal`, …
 *
 * Fault details:
 * - `body: 'truncated-json'` sends the first half of the JSON bytes with a `content-length` that
 *   matches that half and `connection: close`: the HTTP exchange completes cleanly and the client
 *   sees invalid JSON (a `SyntaxError` when parsing), not a connection error. On a stream request
 *   `html` and `truncated-json` answer with the (non-stream) message body in that shape; `empty`
 *   sends the SSE headers and no event.
 * - `drop` ends the connection abruptly (no terminating chunk): the client sees a network error
 *   while reading the body. `at: 'mid-utf8'` cuts inside the first multi-byte character of the
 *   first event, from event `afterEvents + 1` on, that contains one (the default text always
 *   does); without any such event it cuts the last event in half.
 * - `drop`/`sseError` with `afterEvents` at or beyond the number of events apply after the last one.
 * - `repeat` applies to streams only; a non-stream answer holds the text once.
 * - A fault `status` below 400 only replaces the status code of the normal answer.
 * - `raw` replaces everything (checks, headers, body) with the bytes it gives; `end: 'hang'` never
 *   finishes the answer.
 *
 * `reset()` forgets recorded requests, clears the script, restarts the random schedule, forgets the
 * prompt-cache memory and the rate-limit counters, so that what follows is as reproducible as a fresh
 * instance (request ids keep counting).
 *
 * @param options See {@link FakeClaudeOptions}. Defaults: host `127.0.0.1`, port `0`,
 *   name `fake`, seed `1`, scriptPaths `['/v1/messages']`, pingEvery `5`, generous rate limits.
 * @returns The running fake; call `close()` when done.
 */
export async function startFakeClaude(options: FakeClaudeOptions = {}): Promise<FakeClaude> {
  const host = options.host ?? '127.0.0.1';
  const seed = options.seed ?? 1;
  const name = options.name ?? 'fake';
  const scriptPaths = options.scriptPaths ?? ['/v1/messages'];
  const pingEvery = options.pingEvery ?? 5;
  const organizationId = derivedUuid(seed, 'organization');
  // Ids (request, message, tool use) are unique per instance, as the API's are; content is seeded.
  const instance = randomBytes(8).toString('hex');
  const catalogue: ModelInfo[] = [...MODELS, ...(options.models ?? []).map(customModel)];
  /** The catalogue entry a request's `model` names (an alias resolves to its dated id). */
  const findModel = (id: string): ModelInfo | undefined => {
    const canonical = MODEL_ALIASES[id] ?? id;
    return catalogue.find((m) => m.id === canonical);
  };
  const limiter = options.rateLimit === false ? undefined : new RateLimiter(options.rateLimit ?? {});

  const requests: RecordedRequest[] = [];
  let script: Array<Fault | null> = [...(options.script ?? [])];
  let scriptPosition = 0;
  const newScheduleRng = (): Rng => mulberry32(hashSeed(seed, 'schedule'));
  let scheduleRng = newScheduleRng();
  let serial = 0;
  const cachedPrefixes = new Set<string>();
  const sockets = new Set<Socket>();
  const shutdown = new AbortController();

  function chooseFault(record: RecordedRequest): Fault | undefined {
    const hooked = options.faultFor?.(record);
    if (hooked) return hooked;
    if (!scriptPaths.includes(record.path)) return undefined;
    if (scriptPosition < script.length) {
      const entry = script[scriptPosition++];
      return entry ?? undefined;
    }
    const random = options.random;
    if (random && random.rate > 0 && random.faults.length > 0 && scheduleRng() < random.rate) {
      return random.faults[Math.floor(scheduleRng() * random.faults.length)];
    }
    return undefined;
  }

  function authorized(headers: Record<string, string>): boolean {
    if (options.apiKey === undefined) return true;
    if (headers['x-api-key'] === options.apiKey) return true;
    const match = /^bearer\s+(.+)$/i.exec(headers.authorization ?? '');
    return match?.[1]?.trim() === options.apiKey;
  }

  function commonHeaders(
    ex: Exchange,
    status: number,
    contentType: string,
    tokens: { input: number; output: number } = { input: 0, output: 0 },
  ): OutgoingHttpHeaders {
    return {
      'request-id': ex.record.requestId,
      'content-type': contentType,
      'anthropic-organization-id': organizationId,
      'x-fake-region': name,
      ...limiter?.headers(tokens.input, tokens.output, status === 429),
    };
  }

  function writeHead(ex: Exchange, status: number, headers: OutgoingHttpHeaders): boolean {
    const { res } = ex;
    if (res.headersSent || res.destroyed || ex.signal.aborted) return false;
    res.writeHead(status, reasonPhrase(status), { ...headers, ...ex.fault?.headers });
    return true;
  }

  /** 200, or the fault's status when it is below 400. */
  function successStatus(ex: Exchange): number {
    const status = ex.fault?.status;
    return status !== undefined && status < 400 ? status : 200;
  }

  /** Sends a JSON payload in the shape the fault asks for (`json` by default). */
  function respond(
    ex: Exchange,
    status: number,
    payload: JsonObject,
    tokens?: { input: number; output: number },
    more: OutgoingHttpHeaders = {},
  ): void {
    const shape = ex.fault?.body ?? 'json';
    let contentType = 'application/json';
    let bytes: Buffer;
    const extra: OutgoingHttpHeaders = { ...more };
    switch (shape) {
      case 'html':
        contentType = 'text/html';
        bytes = Buffer.from(htmlPage(status), 'utf8');
        break;
      case 'empty':
        contentType = status >= 400 ? 'text/plain; charset=utf-8' : 'application/json';
        bytes = Buffer.alloc(0);
        break;
      case 'truncated-json': {
        const full = Buffer.from(JSON.stringify(payload), 'utf8');
        bytes = full.subarray(0, Math.floor(full.length / 2));
        extra.connection = 'close';
        break;
      }
      default:
        bytes = Buffer.from(JSON.stringify(payload), 'utf8');
    }
    const headers = {
      ...commonHeaders(ex, status, contentType, tokens),
      ...extra,
      'content-length': bytes.length,
    };
    if (writeHead(ex, status, headers)) ex.res.end(bytes);
  }

  /** Writes a `raw` fault's status, headers and chunks as given, then ends as it says. */
  async function respondRaw(ex: Exchange, raw: RawResponse): Promise<void> {
    const { res, signal } = ex;
    if (res.headersSent || res.destroyed || signal.aborted) return;
    const flat: string[] = [];
    for (const [key, value] of raw.headers ?? []) flat.push(key, value);
    const status = raw.status ?? 200;
    res.writeHead(status, reasonPhrase(status), flat);
    res.flushHeaders();
    for (const chunk of raw.chunks ?? []) {
      if (signal.aborted || res.destroyed) return;
      if (!writeChunk(res, typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk)) {
        try {
          await once(res, 'drain', { signal });
        } catch {
          return;
        }
      }
    }
    const end = raw.end ?? 'finish';
    if (end === 'finish') res.end();
    else if (end === 'destroy') dropConnection(res);
    // `hang`: left open; the client's abort or `close()` destroys it.
  }

  function respondError(ex: Exchange, status: number, errorType?: string, message?: string): void {
    const type = errorType ?? errorTypeForStatus(status);
    // Every real 429 says when to come back; a fault's own `retry-after` wins.
    const given = Object.keys(ex.fault?.headers ?? {}).some((key) => key.toLowerCase() === 'retry-after');
    const more: OutgoingHttpHeaders = status === 429 && !given ? { 'retry-after': '1' } : {};
    const payload = errorBody(type, message ?? defaultErrorMessage(type), ex.record.requestId);
    respond(ex, status, payload, undefined, more);
  }

  /** Writes the frames, applying the fault's stall / sseError / drop, honouring backpressure. */
  async function pump(ex: Exchange, frames: Iterator<Buffer>): Promise<void> {
    const { res, signal, fault } = ex;
    const stall = fault?.stall;
    const sseError = fault?.sseError;
    const drop = fault?.drop;
    let written = 0;
    let seekingUtf8 = false;
    const sendSseError = (): void => {
      if (!sseError) return;
      const type = sseError.errorType ?? 'overloaded_error';
      const message = sseError.message ?? defaultErrorMessage(type);
      res.end(sseFrame('error', errorBody(type, message, ex.record.requestId)));
    };
    let current = frames.next();
    while (!current.done) {
      if (signal.aborted || res.destroyed) return;
      const frame = current.value;
      const following = frames.next();
      if (stall && written === stall.afterEvents && !(await sleep(stall.ms, signal))) return;
      if (sseError && written === sseError.afterEvents) return sendSseError();
      if (drop && (written === drop.afterEvents || seekingUtf8)) {
        const at = drop.at ?? 'boundary';
        if (at === 'boundary') return dropConnection(res);
        if (at === 'mid-event') return dropConnection(res, frame.subarray(0, Math.floor(frame.length / 2)));
        const cut = midUtf8Offset(frame);
        if (cut > 0) return dropConnection(res, frame.subarray(0, cut));
        if (following.done) return dropConnection(res, frame.subarray(0, Math.floor(frame.length / 2)));
        seekingUtf8 = true;
      }
      if (!writeChunk(res, frame)) {
        try {
          await once(res, 'drain', { signal });
        } catch {
          return;
        }
      }
      written++;
      current = following;
    }
    if (signal.aborted || res.destroyed) return;
    if (stall && written === stall.afterEvents && !(await sleep(stall.ms, signal))) return;
    if (sseError && sseError.afterEvents >= written) return sendSseError();
    if (drop && drop.afterEvents >= written) return dropConnection(res);
    res.end();
  }

  function inputUsage(ex: Exchange, body: JsonObject, messages: unknown[]): InputUsage {
    const total = estimateTokens(ex.bodyBytes);
    if (!hasCacheControl(body)) {
      return {
        input_tokens: total,
        cache_creation_input_tokens: 0,
        cache_read_input_tokens: 0,
        cache_creation: { ephemeral_5m_input_tokens: 0, ephemeral_1h_input_tokens: 0 },
      };
    }
    const last = messages.at(-1);
    const prefix = last === undefined || hasCacheControl(last) ? messages : messages.slice(0, -1);
    const prefixJson = JSON.stringify([body.model, body.tools ?? null, body.system ?? null, prefix]);
    const key = createHash('sha256').update(prefixJson).digest('hex');
    const seen = cachedPrefixes.has(key);
    cachedPrefixes.add(key);
    const cached = Math.min(total, estimateTokens(Buffer.byteLength(prefixJson)));
    const created = seen ? 0 : cached;
    const hour = hasHourTtl(body);
    return {
      input_tokens: total - cached,
      cache_creation_input_tokens: created,
      cache_read_input_tokens: seen ? cached : 0,
      cache_creation: {
        ephemeral_5m_input_tokens: hour ? 0 : created,
        ephemeral_1h_input_tokens: hour ? created : 0,
      },
    };
  }

  /** Sends the API's `400 invalid_request_error` with `message`; returns `undefined`. */
  function invalid(ex: Exchange, message: string): undefined {
    respondError(ex, 400, 'invalid_request_error', message);
    return undefined;
  }

  /**
   * The body as a JSON object that passes the API's checks, with its catalogue model; or the
   * error already sent (`undefined`). `create`: the Messages API (needs `max_tokens`), else
   * token counting.
   */
  function validated(
    ex: Exchange,
    badJson: boolean,
    create: boolean,
  ): { body: JsonObject; model: ModelInfo } | undefined {
    const body = ex.record.body;
    if (badJson || !isObject(body)) return invalid(ex, 'The request body is not valid JSON.');
    for (const field of create ? ['model', 'messages', 'max_tokens'] : ['model', 'messages']) {
      if (body[field] === undefined || body[field] === null) return invalid(ex, `${field}: Field required`);
    }
    const maxTokens = body.max_tokens;
    if (create && (typeof maxTokens !== 'number' || !Number.isInteger(maxTokens))) {
      return invalid(ex, 'max_tokens: Input should be a valid integer');
    }
    if (create && (maxTokens as number) < 1) {
      return invalid(ex, 'max_tokens: Input should be greater than or equal to 1');
    }
    if (typeof body.model !== 'string') return invalid(ex, 'model: Input should be a valid string');
    if (!Array.isArray(body.messages)) return invalid(ex, 'messages: Input should be a valid list');
    if (body.messages.length === 0) return invalid(ex, 'messages: at least one message is required');
    for (const [i, message] of body.messages.entries()) {
      const role = isObject(message) ? message.role : undefined;
      if (role === 'system') {
        return invalid(
          ex,
          'messages: Unexpected role "system". The Messages API accepts a top-level `system` parameter, not "system" as an input message role.',
        );
      }
      if (role !== 'user' && role !== 'assistant') {
        return invalid(ex, `messages.${i}.role: Input should be 'user' or 'assistant'`);
      }
    }
    const thinking = body.thinking;
    if (thinking !== undefined && thinking !== null) {
      const type = isObject(thinking) ? thinking.type : undefined;
      if (type !== 'enabled' && type !== 'disabled' && type !== 'adaptive') {
        return invalid(ex, "thinking.type: Input should be 'enabled', 'disabled' or 'adaptive'");
      }
      if (type === 'enabled') {
        const budget = (thinking as JsonObject).budget_tokens;
        if (budget === undefined) return invalid(ex, 'thinking.enabled.budget_tokens: Field required');
        if (typeof budget !== 'number' || !Number.isInteger(budget)) {
          return invalid(ex, 'thinking.enabled.budget_tokens: Input should be a valid integer');
        }
        if (budget < MIN_THINKING_BUDGET) {
          return invalid(
            ex,
            `thinking.enabled.budget_tokens: Input should be greater than or equal to ${MIN_THINKING_BUDGET}`,
          );
        }
        if (create && budget >= (maxTokens as number)) {
          return invalid(
            ex,
            '`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking#max-tokens-and-context-window-size',
          );
        }
      }
      const choice = isObject(body.tool_choice) ? body.tool_choice.type : undefined;
      if (type !== 'disabled' && (choice === 'any' || choice === 'tool')) {
        return invalid(ex, 'Thinking may not be enabled when tool_choice forces tool use.');
      }
    }
    const choice = body.tool_choice;
    if (isObject(choice) && choice.type === 'tool') {
      const tools = Array.isArray(body.tools) ? body.tools : [];
      if (!tools.some((tool) => isObject(tool) && tool.name === choice.name)) {
        return invalid(ex, `tool_choice: tool '${String(choice.name)}' not found in 'tools'`);
      }
    }
    const model = findModel(body.model);
    if (model === undefined || model.lifecycle === 'retired') {
      respondError(ex, 404, 'not_found_error', `model: ${body.model}`);
      return undefined;
    }
    if (create && model.max_tokens !== null && (maxTokens as number) > model.max_tokens) {
      return invalid(
        ex,
        `max_tokens: ${maxTokens} > ${model.max_tokens}, which is the maximum allowed number of output tokens for ${model.id}`,
      );
    }
    return { body, model };
  }

  /** The text of a final assistant turn (a prefill), if the messages end with one. */
  function prefillOf(messages: unknown[]): string | undefined {
    const last = messages[messages.length - 1];
    if (!isObject(last) || last.role !== 'assistant') return undefined;
    if (typeof last.content === 'string') return last.content;
    if (!Array.isArray(last.content)) return undefined;
    let text = '';
    for (const block of last.content)
      if (isObject(block) && typeof block.text === 'string') text += block.text;
    return text;
  }

  /** Whether the last message is a user turn that answers a tool call (`tool_result`). */
  function endsWithToolResult(messages: unknown[]): boolean {
    const last = messages[messages.length - 1];
    if (!isObject(last) || last.role !== 'user' || !Array.isArray(last.content)) return false;
    return last.content.some((block) => isObject(block) && block.type === 'tool_result');
  }

  /** The tool the answer calls, by `tool_choice` (`auto` by default), or none. */
  function toolFor(body: JsonObject, messages: unknown[]): unknown {
    const tools = Array.isArray(body.tools) && body.tools.length > 0 ? body.tools : undefined;
    if (!tools) return undefined;
    const choice = isObject(body.tool_choice) ? body.tool_choice : { type: 'auto' };
    if (choice.type === 'none') return undefined;
    if (choice.type === 'tool') return tools.find((tool) => isObject(tool) && tool.name === choice.name);
    if (choice.type === 'any') return tools[0];
    // `auto`: the model calls the first tool, and answers in text once it has a tool's result.
    return endsWithToolResult(messages) ? undefined : tools[0];
  }

  /** The first of `stopSequences` in `text`: where it starts and which it is. */
  function firstStop(text: string, stopSequences: unknown): { at: number; sequence: string } | undefined {
    if (!Array.isArray(stopSequences)) return undefined;
    let found: { at: number; sequence: string } | undefined;
    for (const sequence of stopSequences) {
      if (typeof sequence !== 'string' || sequence.length === 0) continue;
      const at = text.indexOf(sequence);
      if (at >= 0 && (found === undefined || at < found.at)) found = { at, sequence };
    }
    return found;
  }

  async function handleMessages(ex: Exchange, body: JsonObject): Promise<void> {
    const messages = Array.isArray(body.messages) ? body.messages : [];
    const usage = inputUsage(ex, body, messages);
    const totalInput = usage.input_tokens + usage.cache_creation_input_tokens + usage.cache_read_input_tokens;
    const fullText =
      typeof options.text === 'function'
        ? options.text(ex.record)
        : (options.text ?? generateText(mulberry32(hashSeed(seed, ex.serial, 'text'))));
    // A final assistant turn is a prefill: the answer continues it, as the real API does.
    const prefill = prefillOf(messages);
    if (prefill !== undefined && /\s$/.test(prefill)) {
      respondError(
        ex,
        400,
        'invalid_request_error',
        'final assistant content cannot end with trailing whitespace',
      );
      return;
    }
    const stream = body.stream === true;
    const repeat = stream ? options.repeat : undefined;
    const maxTokens = body.max_tokens as number;
    const thinkingType = isObject(body.thinking) ? body.thinking.type : undefined;
    const thinking =
      thinkingType === 'enabled' || thinkingType === 'adaptive'
        ? {
            text: `Thinking it over: ${generateText(mulberry32(hashSeed(seed, ex.serial, 'thinking')))}`,
            signature: `${derivedId(seed, ex.serial, `${instance}:signature`, 88)}==`,
          }
        : undefined;
    const thinkingTokens = thinking ? estimateTokens(thinking.text.length) : 0;
    let text =
      prefill !== undefined && fullText.startsWith(prefill) ? fullText.slice(prefill.length) : fullText;
    const chosenTool = toolFor(body, messages);
    const forced = isObject(body.tool_choice) && ['any', 'tool'].includes(String(body.tool_choice.type));
    let tool =
      chosenTool !== undefined
        ? {
            id: `toolu_${derivedId(seed, ex.serial, `${instance}:tool`)}`,
            name: isObject(chosenTool) && typeof chosenTool.name === 'string' ? chosenTool.name : 'tool',
            input: toolInputFor(chosenTool),
          }
        : undefined;
    let stopReason: string = tool ? 'tool_use' : 'end_turn';
    let stopSequence: string | null = null;
    // A forced tool call has no text before it.
    const withText = !(tool && forced);
    const stop = withText ? firstStop(text, body.stop_sequences) : undefined;
    if (stop) {
      text = text.slice(0, stop.at);
      stopReason = 'stop_sequence';
      stopSequence = stop.sequence;
      tool = undefined;
    }
    const textTokens = withText ? estimateTokens(text.length * (repeat ?? 1)) : 0;
    const toolTokens = tool ? estimateTokens(JSON.stringify(tool.input).length) : 0;
    let outputTokens = thinkingTokens + textTokens + toolTokens;
    // `max_tokens` cuts the answer (thinking counts too); a `repeat` stream is exempt (it is for size).
    if (repeat === undefined && outputTokens > maxTokens) {
      const room = Math.max(0, maxTokens - thinkingTokens);
      const points = Array.from(text);
      text = points.slice(0, Math.min(points.length, room * 4)).join('');
      tool = undefined;
      stopReason = 'max_tokens';
      stopSequence = null;
      outputTokens = maxTokens;
    }
    const scripted = ex.fault?.stopReason;
    if (scripted !== undefined) {
      stopReason = scripted;
      stopSequence = null;
      tool = undefined;
    }
    const stopDetails =
      stopReason === 'refusal' ? { type: 'refusal', category: null, explanation: null } : null;
    const id = `msg_${derivedId(seed, ex.serial, `${instance}:message`)}`;
    const model = body.model;
    const status = successStatus(ex);
    const tokens = { input: totalInput, output: outputTokens };
    const shape = ex.fault?.body ?? 'json';
    // Keys the SDKs type as always present (nullable) are sent, `null` when there is nothing to say.
    const outputDetails = thinking ? { thinking_tokens: Math.min(thinkingTokens, outputTokens) } : null;
    const fullUsage = {
      ...usage,
      output_tokens: outputTokens,
      service_tier: 'standard',
      inference_geo: typeof body.inference_geo === 'string' ? body.inference_geo : 'not_available',
      output_tokens_details: outputDetails,
      server_tool_use: null,
      speed: 'standard',
    };

    if (!stream || shape === 'html' || shape === 'truncated-json') {
      const content: JsonObject[] = [];
      if (thinking)
        content.push({ type: 'thinking', thinking: thinking.text, signature: thinking.signature });
      if (withText) content.push({ type: 'text', text, citations: null });
      if (tool) content.push({ type: 'tool_use', ...tool, caller: { type: 'direct' } });
      respond(
        ex,
        status,
        {
          id,
          type: 'message',
          role: 'assistant',
          model,
          content,
          stop_reason: stopReason,
          stop_sequence: stopSequence,
          stop_details: stopDetails,
          container: null,
          diagnostics: null,
          usage: fullUsage,
        },
        tokens,
      );
      return;
    }

    const headers = {
      ...commonHeaders(ex, status, 'text/event-stream; charset=utf-8', tokens),
      'cache-control': 'no-cache',
    };
    if (!writeHead(ex, status, headers)) return;
    ex.res.flushHeaders();
    if (shape === 'empty') {
      ex.res.end();
      return;
    }
    const delayFirst = ex.fault?.delayFirstEventMs;
    if (delayFirst !== undefined && delayFirst > 0 && !(await sleep(delayFirst, ex.signal))) return;
    const plan: StreamPlan = {
      startMessage: {
        id,
        type: 'message',
        role: 'assistant',
        model,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        stop_details: null,
        container: null,
        diagnostics: null,
        usage: { ...fullUsage, output_tokens: 1, output_tokens_details: null },
      },
      thinking,
      text: withText ? text : undefined,
      repeat,
      tool,
      delta: {
        stop_reason: stopReason,
        stop_sequence: stopSequence,
        stop_details: stopDetails,
        container: null,
      },
      usage: {
        input_tokens: usage.input_tokens,
        cache_creation_input_tokens: usage.cache_creation_input_tokens,
        cache_read_input_tokens: usage.cache_read_input_tokens,
        output_tokens: outputTokens,
        output_tokens_details: outputDetails,
        server_tool_use: null,
      },
      pingEvery,
    };
    await pump(ex, streamFrames(plan));
  }

  /**
   * `GET /v1/models` (newest first; `active` and `deprecated` unless `lifecycle` asks otherwise;
   * paged by `limit` (default 20, 1–1000), `after_id`, `before_id`) and `GET /v1/models/{id}`.
   */
  function handleModels(ex: Exchange, path: string, query: URLSearchParams): void {
    if (path === '/v1/models') {
      // `lifecycle=a,b`, `lifecycle=a&lifecycle=b` or the SDKs' `lifecycle[]=a`.
      const stages = [...query.getAll('lifecycle'), ...query.getAll('lifecycle[]')].flatMap((v) =>
        v.split(','),
      );
      const wanted = stages.length > 0 ? stages : ['active', 'deprecated'];
      const listed = catalogue.filter((m) => wanted.includes(m.lifecycle));
      const rawLimit = query.get('limit');
      const limit = rawLimit === null ? 20 : Number(rawLimit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
        invalid(ex, 'limit: Input should be greater than or equal to 1 and less than or equal to 1000');
        return;
      }
      const afterId = query.get('after_id');
      const beforeId = query.get('before_id');
      let page: ModelInfo[];
      let hasMore: boolean;
      if (beforeId !== null) {
        const end = listed.findIndex((m) => m.id === beforeId);
        const upTo = Math.max(end, 0);
        page = listed.slice(Math.max(0, upTo - limit), upTo);
        hasMore = upTo - limit > 0;
      } else {
        const after = afterId === null ? -1 : listed.findIndex((m) => m.id === afterId);
        const from = afterId !== null && after < 0 ? listed.length : after + 1;
        page = listed.slice(from, from + limit);
        hasMore = from + limit < listed.length;
      }
      respond(ex, successStatus(ex), {
        data: page,
        has_more: hasMore,
        first_id: page[0]?.id ?? null,
        last_id: page.at(-1)?.id ?? null,
      });
      return;
    }
    let id: string;
    try {
      id = decodeURIComponent(path.slice('/v1/models/'.length));
    } catch {
      id = '';
    }
    const model = findModel(id);
    if (model) respond(ex, successStatus(ex), { ...model });
    else respondError(ex, 404, 'not_found_error', `model: ${id}`);
  }

  async function handle(
    req: IncomingMessage,
    res: ServerResponse,
    requestSerial: number,
    requestId: string,
  ): Promise<void> {
    const gone = new AbortController();
    // Aborting creates a DOMException: only do it for a client that left before the answer ended.
    res.on('close', () => {
      if (!res.writableFinished) gone.abort();
    });
    const signal = AbortSignal.any([gone.signal, shutdown.signal]);
    const url = new URL(req.url ?? '/', 'http://fake.invalid');
    const raw = await readBody(req);
    if (raw === undefined || signal.aborted) return;

    let body: unknown;
    let badJson = false;
    if (raw !== 'too-large' && raw.length > 0) {
      try {
        body = JSON.parse(raw.toString('utf8'));
      } catch {
        badJson = true;
      }
    }
    const headers: Record<string, string> = {};
    for (const [key, value] of Object.entries(req.headers)) {
      if (value !== undefined) headers[key.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
    }
    const record: RecordedRequest = {
      index: requests.length,
      method: req.method ?? 'GET',
      path: url.pathname,
      query: url.search.slice(1),
      headers,
      body,
      fault: undefined,
      requestId,
    };
    requests.push(record);
    const chosen = chooseFault(record);
    // An enforced rate limit answers 429 unless a fault already answers with an error.
    const limited =
      url.pathname === '/v1/messages' && !((chosen?.status ?? 0) >= 400)
        ? limiter?.reject(estimateTokens(raw === 'too-large' ? 0 : raw.length))
        : undefined;
    const fault = limited !== undefined ? { ...chosen, ...limited } : chosen;
    record.fault = fault;
    const ex: Exchange = {
      res,
      record,
      fault,
      signal,
      bodyBytes: raw === 'too-large' ? MAX_BODY_BYTES : raw.length,
      serial: requestSerial,
    };

    if (fault?.raw !== undefined) return respondRaw(ex, fault.raw);
    const delayHeaders = fault?.delayHeadersMs;
    if (delayHeaders !== undefined && delayHeaders > 0 && !(await sleep(delayHeaders, signal))) return;
    if (fault?.status !== undefined && fault.status >= 400) {
      return respondError(ex, fault.status, fault.errorType, fault.message);
    }
    if (!authorized(headers)) return respondError(ex, 401, 'authentication_error', 'invalid x-api-key');
    if (raw === 'too-large') return respondError(ex, 413, 'request_too_large');

    const { pathname: path } = url;
    const method = record.method;
    if (method === 'POST' && path === '/v1/messages') {
      const valid = validated(ex, badJson, true);
      if (valid) await handleMessages(ex, valid.body);
      return;
    }
    if (method === 'POST' && path === '/v1/messages/count_tokens') {
      const valid = validated(ex, badJson, false);
      if (valid) respond(ex, successStatus(ex), { input_tokens: estimateTokens(ex.bodyBytes) });
      return;
    }
    if (method === 'GET' && (path === '/v1/models' || /^\/v1\/models\/[^/]+$/.test(path))) {
      return handleModels(ex, path, url.searchParams);
    }
    respondError(ex, 404, 'not_found_error', `Not found: ${method} ${path}`);
  }

  const server = createServer((req, res) => {
    req.on('error', noop);
    res.on('error', noop);
    const requestSerial = serial++;
    const requestId = `req_${derivedId(seed, requestSerial, `${instance}:request`)}`;
    handle(req, res, requestSerial, requestId).catch(() => {
      // A bug in the fake or a throwing `faultFor`/`text` hook: answer 500, never crash.
      if (!res.headersSent && !res.destroyed) {
        const body = JSON.stringify(errorBody('api_error', 'Internal server error (fake)', requestId));
        res.writeHead(500, {
          'request-id': requestId,
          'content-type': 'application/json',
          'anthropic-organization-id': organizationId,
          'x-fake-region': name,
        });
        res.end(body);
      } else {
        res.destroy();
      }
    });
  });
  const { port, url } = await listen(server, sockets, host, options.port);

  let closing: Promise<void> | undefined;
  return {
    url,
    port,
    name,
    get requests(): readonly RecordedRequest[] {
      return requests;
    },
    setScript(next: Array<Fault | null>): void {
      script = [...next];
      scriptPosition = 0;
    },
    reset(): void {
      requests.length = 0;
      script = [];
      scriptPosition = 0;
      scheduleRng = newScheduleRng();
      cachedPrefixes.clear();
      limiter?.reset();
    },
    close(): Promise<void> {
      closing ??= new Promise<void>((resolve) => {
        shutdown.abort();
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

/** Per response, settles when the last chunk written with {@link writeChunk} has reached the socket. */
const lastWrite = new WeakMap<ServerResponse, Promise<void>>();

/** `res.write(chunk)`, remembering when it is handed to the socket (for {@link dropConnection}). */
export function writeChunk(res: ServerResponse, chunk: Uint8Array): boolean {
  let flushed: () => void = noop;
  lastWrite.set(
    res,
    new Promise<void>((resolve) => {
      flushed = resolve;
    }),
  );
  // The callback runs once the bytes are written to the socket, or with the error that stopped it.
  return res.write(chunk, () => flushed());
}

/**
 * Ends the connection abruptly after writing `partial` (if any): once everything written so far
 * has been handed to the socket, the socket is destroyed without the terminating chunk, so the
 * client's body read fails after the bytes before the cut. (Destroying or ending the socket right
 * after `res.write` loses those bytes on newer Node releases, which hold chunked writes in the
 * response until the next tick.)
 */
export function dropConnection(res: ServerResponse, partial?: Uint8Array): void {
  if (partial && partial.length > 0) writeChunk(res, partial);
  const written = lastWrite.get(res) ?? Promise.resolve();
  void written.then(() => {
    const socket = res.socket;
    if (socket) socket.destroy();
    else res.destroy();
  });
}

/**
 * Starts `server` on `host:port` (0: any free port), keeping its open sockets in `sockets` (so that
 * close can destroy them) and ignoring socket and client errors; rejects when it cannot listen.
 */
export async function listen(
  server: Server,
  sockets: Set<Socket>,
  host: string,
  port = 0,
): Promise<{ port: number; url: string }> {
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('error', noop);
    socket.on('close', () => sockets.delete(socket));
  });
  server.on('clientError', (_error, socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', noop);
  const address = server.address();
  const bound = typeof address === 'object' && address !== null ? address.port : port;
  return { port: bound, url: `http://${host.includes(':') ? `[${host}]` : host}:${bound}` };
}

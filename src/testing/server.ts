/**
 * The fake Claude API: a loopback HTTP server speaking the Messages, Token Counting and Models
 * endpoints, with scripted, hooked or seeded-random faults.
 */

import { createHash } from 'node:crypto';
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
  defaultErrorMessage,
  errorBody,
  errorTypeForStatus,
  estimateTokens,
  generateText,
  hasCacheControl,
  htmlPage,
  isObject,
  type JsonObject,
  MODELS,
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

function noop(): void {}

/** RFC 3339 without fractional seconds, as the API writes it. */
function rfc3339(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Per-minute counters behind the `anthropic-ratelimit-*` headers. */
class RateLimiter {
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
 * `404 not_found_error`; a bad JSON body or a missing required field is `400 invalid_request_error`;
 * with `apiKey` set, a request without that key (`x-api-key` or `Authorization: Bearer`) is
 * `401 authentication_error`. Order of checks: fault status, then auth, then routing, then validation.
 *
 * Every response carries `request-id` (`req_` + 24 characters, derived from the seed and the
 * request's serial), `content-type`, `anthropic-organization-id`, `x-fake-region` and (unless
 * `rateLimit: false`) the `anthropic-ratelimit-*` headers over a one-minute window.
 *
 * Usage: input tokens ≈ request body bytes / 4. When the request holds a `cache_control` object,
 * the prefix (model, tools, system and every message but the last, or all messages when the last
 * one itself holds `cache_control`) counts ≈ its JSON bytes / 4 as `cache_creation_input_tokens`
 * the first time this instance sees it and as `cache_read_input_tokens` afterwards; the rest of
 * the estimate stays in `input_tokens`. Output tokens ≈ text length / 4 (plus
 * the tool input's JSON length / 4). With a non-empty `tools` array the answer ends with a
 * `tool_use` block for the first tool and `stop_reason: "tool_use"`.
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
  ): void {
    const shape = ex.fault?.body ?? 'json';
    let contentType = 'application/json';
    let bytes: Buffer;
    const extra: OutgoingHttpHeaders = {};
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
      if (!res.write(typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk)) {
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
    respond(ex, status, errorBody(type, message ?? defaultErrorMessage(type), ex.record.requestId));
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
      if (!res.write(frame)) {
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
      return { input_tokens: total, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 };
    }
    const last = messages.at(-1);
    const prefix = last === undefined || hasCacheControl(last) ? messages : messages.slice(0, -1);
    const prefixJson = JSON.stringify([body.model, body.tools ?? null, body.system ?? null, prefix]);
    const key = createHash('sha256').update(prefixJson).digest('hex');
    const seen = cachedPrefixes.has(key);
    cachedPrefixes.add(key);
    const cached = Math.min(total, estimateTokens(Buffer.byteLength(prefixJson)));
    return {
      input_tokens: total - cached,
      cache_creation_input_tokens: seen ? 0 : cached,
      cache_read_input_tokens: seen ? cached : 0,
    };
  }

  /** The body as a JSON object with the required fields, or a 400 already sent (`undefined`). */
  function validated(ex: Exchange, badJson: boolean, required: string[]): JsonObject | undefined {
    const body = ex.record.body;
    if (badJson || !isObject(body)) {
      respondError(ex, 400, 'invalid_request_error', 'The request body is not valid JSON.');
      return undefined;
    }
    for (const field of required) {
      if (body[field] === undefined || body[field] === null) {
        respondError(ex, 400, 'invalid_request_error', `${field}: Field required`);
        return undefined;
      }
    }
    if (!Array.isArray(body.messages)) {
      respondError(ex, 400, 'invalid_request_error', 'messages: Input should be a valid list');
      return undefined;
    }
    return body;
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
    const text =
      prefill !== undefined && fullText.startsWith(prefill) ? fullText.slice(prefill.length) : fullText;
    const tools = Array.isArray(body.tools) && body.tools.length > 0 ? body.tools : undefined;
    const firstTool: unknown = tools?.[0];
    const tool = tools
      ? {
          id: `toolu_${derivedId(seed, ex.serial, 'tool')}`,
          name: isObject(firstTool) && typeof firstTool.name === 'string' ? firstTool.name : 'tool',
          input: toolInputFor(firstTool),
        }
      : undefined;
    const stopReason = tool ? 'tool_use' : 'end_turn';
    const id = `msg_${derivedId(seed, ex.serial, 'message')}`;
    const model = body.model;
    const stream = body.stream === true;
    const repeat = stream ? options.repeat : undefined;
    const toolTokens = tool ? estimateTokens(JSON.stringify(tool.input).length) : 0;
    const outputTokens = estimateTokens(text.length * (repeat ?? 1)) + toolTokens;
    const status = successStatus(ex);
    const tokens = { input: totalInput, output: outputTokens };
    const shape = ex.fault?.body ?? 'json';

    if (!stream || shape === 'html' || shape === 'truncated-json') {
      const content: JsonObject[] = [{ type: 'text', text }];
      if (tool) content.push({ type: 'tool_use', ...tool });
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
          stop_sequence: null,
          usage: { ...usage, output_tokens: outputTokens },
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
        usage: { ...usage, output_tokens: 1 },
      },
      text,
      repeat,
      tool,
      stopReason,
      outputTokens,
      pingEvery,
    };
    await pump(ex, streamFrames(plan));
  }

  function handleModels(ex: Exchange, path: string): void {
    if (path === '/v1/models') {
      respond(ex, successStatus(ex), {
        data: MODELS,
        has_more: false,
        first_id: MODELS[0]?.id ?? null,
        last_id: MODELS.at(-1)?.id ?? null,
      });
      return;
    }
    let id: string;
    try {
      id = decodeURIComponent(path.slice('/v1/models/'.length));
    } catch {
      id = '';
    }
    const model = MODELS.find((m) => m.id === id);
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
      const valid = validated(ex, badJson, ['model', 'messages', 'max_tokens']);
      if (valid) await handleMessages(ex, valid);
      return;
    }
    if (method === 'POST' && path === '/v1/messages/count_tokens') {
      const valid = validated(ex, badJson, ['model', 'messages']);
      if (valid) respond(ex, successStatus(ex), { input_tokens: estimateTokens(ex.bodyBytes) });
      return;
    }
    if (method === 'GET' && (path === '/v1/models' || /^\/v1\/models\/[^/]+$/.test(path))) {
      return handleModels(ex, path);
    }
    respondError(ex, 404, 'not_found_error', `Not found: ${method} ${path}`);
  }

  const server = createServer((req, res) => {
    req.on('error', noop);
    res.on('error', noop);
    const requestSerial = serial++;
    const requestId = `req_${derivedId(seed, requestSerial, 'request')}`;
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

/**
 * Ends the connection abruptly after writing `partial` (if any): everything written so far is
 * flushed, then the socket is closed without the terminating chunk, so the client's body read fails.
 */
function dropConnection(res: ServerResponse, partial?: Buffer): void {
  const socket = res.socket;
  if (partial && partial.length > 0) res.write(partial);
  if (!socket) {
    res.destroy();
    return;
  }
  // `end()` uncorks and flushes what `res` wrote (Node corks chunked writes until next tick).
  socket.once('finish', () => socket.destroy());
  socket.end();
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

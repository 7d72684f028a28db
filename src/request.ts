/**
 * What the library reads from a request, once, before any attempt: method, URL, path, headers, the
 * JSON body (model, stream, max_tokens) and the SDK's attempt number.
 */

/** The request as the pipeline sees it. Fields are read-only; attempts copy what they change. */
export interface ClaudeRequest {
  /** The request URL. Shared between requests to the same URL: never mutate it. */
  readonly url: URL;
  /** HTTP method, upper case. */
  readonly method: string;
  /** URL path, e.g. `/v1/messages`. */
  readonly path: string;
  /** Request headers as given (never mutated: each attempt sends its own copy). */
  readonly headers: HeadersInit | undefined;
  /** The body as given to fetch (a string for the SDK's JSON requests). */
  readonly body: RequestInit['body'];
  /** The parsed JSON body when it is a JSON object given as a string, else `undefined`. */
  readonly json: Record<string, unknown> | undefined;
  /** `model` of the JSON body, when there is one. */
  readonly model: string | undefined;
  /** `max_tokens` of the JSON body, when there is one. */
  readonly maxTokens: number | undefined;
  /** Whether the JSON body asks for a stream (`stream: true`). */
  readonly stream: boolean;
  /** `gen_ai.operation.name` for this path. */
  readonly operation: string;
  /** The SDK's `X-Stainless-Retry-Count`, else 0. */
  readonly sdkRetryCount: number;
  /** The caller's abort signal, if any. */
  readonly signal: AbortSignal | undefined;
  /** The rest of `init` (duplex, redirect, …), passed through unchanged. */
  readonly init: RequestInit;
  /**
   * Our retries' cap for this request, from the request header `x-claude-otel-max-retries` (removed
   * before sending), else `undefined`.
   */
  readonly maxRetries: number | undefined;
  /** The call was `fetch(request: Request)`: each attempt hands the wrapped fetch a `Request` too. */
  readonly asRequest: boolean;
}

/** Bodies larger than this are not parsed (their model and stream flag are then unknown). */
const MAX_PARSED_BODY = 64 * 1024 * 1024;

/** `gen_ai.operation.name` by path. */
export function operationName(path: string): string {
  if (path.endsWith('/messages')) return 'chat';
  if (path.endsWith('/messages/count_tokens')) return 'count_tokens';
  // Vertex AI names the model and the action in the path: `…/models/{model}:streamRawPredict`.
  const vertex = /\/models\/([^/]+):(?:stream)?rawPredict$/i.exec(path);
  if (vertex) return vertex[1] === 'count-tokens' ? 'count_tokens' : 'chat';
  if (/\/models(\/[^/]+)?$/.test(path)) return 'list_models';
  if (path.includes('/messages/batches')) return 'batches';
  const last = path.split('/').filter(Boolean).pop();
  return last ?? 'unknown';
}

function parseJsonObject(body: RequestInit['body']): Record<string, unknown> | undefined {
  if (typeof body !== 'string' || body.length > MAX_PARSED_BODY) return undefined;
  const first = body.charCodeAt(0);
  if (first !== 123 /* { */ && first !== 32 && first !== 10 && first !== 13 && first !== 9) return undefined;
  try {
    const value: unknown = JSON.parse(body);
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/** One header of a `HeadersInit`, without copying it (the name in lower case). */
export function headerValue(headers: HeadersInit | undefined, name: string): string | null {
  if (headers === undefined) return null;
  if (headers instanceof Headers) return headers.get(name);
  if (Array.isArray(headers)) {
    for (const [key, value] of headers)
      if (key !== undefined && key.toLowerCase() === name) return value ?? null;
    return null;
  }
  const record = headers as Record<string, string | undefined>;
  const direct = record[name];
  if (direct !== undefined) return direct;
  for (const key of Object.keys(record)) if (key.toLowerCase() === name) return record[key] ?? null;
  return null;
}

/** Parsed URLs of recent request strings: a client sends to a handful of URLs, and parsing costs. */
const urlCache = new Map<string, URL>();

function toUrl(input: string | URL | Request): URL {
  if (typeof input === 'string') {
    let url = urlCache.get(input);
    if (url === undefined) {
      url = new URL(input);
      if (urlCache.size >= 256) urlCache.clear();
      urlCache.set(input, url);
    }
    return url;
  }
  if (input instanceof URL) return input;
  return new URL(input.url);
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * The options of a `Request` as a `RequestInit` (its body read whole, once: every attempt resends
 * it), `init`'s own options over them, as `fetch(request, init)` does. A body that is valid UTF-8
 * becomes the same text (encoded back to the same bytes), so a JSON body is read like the SDK's.
 */
export async function requestInit(request: Request, init: RequestInit | undefined): Promise<RequestInit> {
  const own: RequestInit = {
    method: request.method,
    headers: request.headers,
    redirect: request.redirect,
    credentials: request.credentials,
    cache: request.cache,
    referrer: request.referrer,
    referrerPolicy: request.referrerPolicy,
    integrity: request.integrity,
    keepalive: request.keepalive,
    signal: request.signal,
  };
  if (init?.body === undefined && request.body !== null) {
    const bytes = new Uint8Array(await request.arrayBuffer());
    let text: string | undefined;
    try {
      text = utf8.decode(bytes);
    } catch {
      text = undefined;
    }
    own.body = text ?? bytes;
  }
  return { ...own, ...init };
}

/**
 * Reads a `fetch(input, init)` call (for a `Request`, `init` is {@link requestInit}'s). Throws only
 * when the URL cannot be parsed, in which case the caller hands the call to the underlying fetch
 * untouched.
 */
export function readRequest(input: string | URL | Request, init: RequestInit | undefined): ClaudeRequest {
  const url = toUrl(input);
  const isRequest = typeof input === 'object' && !(input instanceof URL);
  const method = (init?.method ?? (isRequest ? input.method : 'GET')).toUpperCase();
  // As in fetch itself, `init.headers` replaces a Request's headers as a whole.
  const headers = init?.headers ?? (isRequest ? input.headers : undefined);
  const body = init?.body;
  const json = parseJsonObject(body);
  const maxRetriesHeader = headerValue(headers, 'x-claude-otel-max-retries');
  const maxRetries =
    maxRetriesHeader !== null && /^\s*\d+\s*$/.test(maxRetriesHeader) ? Number(maxRetriesHeader) : undefined;
  const model = typeof json?.model === 'string' ? json.model : undefined;
  const maxTokens = typeof json?.max_tokens === 'number' ? json.max_tokens : undefined;
  const retryHeader = headerValue(headers, 'x-stainless-retry-count');
  const parsedRetry = retryHeader === null ? 0 : Number.parseInt(retryHeader, 10);
  return {
    url,
    method,
    path: url.pathname,
    headers,
    body,
    json,
    model,
    maxTokens,
    stream: json?.stream === true,
    operation: operationName(url.pathname),
    sdkRetryCount: Number.isFinite(parsedRetry) && parsedRetry >= 0 ? parsedRetry : 0,
    signal: init?.signal ?? (isRequest ? input.signal : undefined),
    init: init ?? {},
    maxRetries,
    asRequest: isRequest,
  };
}

export { redactUrl } from './redact.js';

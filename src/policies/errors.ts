/**
 * How a policy's own failures reach the application.
 *
 * The SDK retries whatever `fetch` throws (connection errors, timeouts), so a thrown error would let
 * the SDK multiply our attempts by its own. A failure that a policy decided on (the breaker is open,
 * the retry budget or the deadline is spent, our retries of a connection error or a timeout ran out)
 * is therefore answered like a gateway would: an HTTP error response with an Anthropic error body
 * whose `error.type` names the failure, `x-should-retry` telling the SDK whether to retry, and the
 * header `x-claude-otel-error`. The SDK raises it as an `APIError` (status 502, 503 or 504) that
 * {@link claudeOtelErrorOf} recognises. A timeout that fires after the response reached the consumer
 * (first chunk, idle) errors the stream with a {@link ClaudeTimeoutError} instead.
 */

import { buildableStatus, withBody } from '../response.js';

/** Header set on every response a policy produced. */
export const POLICY_ERROR_HEADER = 'x-claude-otel-error';

/** Which timeout fired. */
export type TimeoutKind = 'connect' | 'first_chunk' | 'idle' | 'total';

/** Error types of the failures a policy produces (the `error.type` of their spans and bodies). */
export type PolicyErrorType =
  | 'circuit_open'
  | 'retry_after_exceeds_deadline'
  | 'throttled'
  | 'connection_error'
  | 'timeout'
  | `${TimeoutKind}_timeout`;

/** A timeout of ours fired. Used as the abort reason of the attempt, so the body fails with it. */
export class ClaudeTimeoutError extends Error {
  /** Always `ClaudeTimeoutError`. */
  override readonly name = 'ClaudeTimeoutError';
  /** `connect_timeout`, `first_chunk_timeout`, `idle_timeout` or `total_timeout`. */
  readonly errorType: `${TimeoutKind}_timeout`;
  constructor(
    /** Which timeout fired. */
    readonly kind: TimeoutKind,
    /** The limit that was exceeded, in ms. */
    readonly timeoutMs: number,
  ) {
    super(`claude-otel-middleware: ${kind.replace('_', ' ')} timeout after ${timeoutMs} ms`);
    this.errorType = `${kind}_timeout`;
  }
}

/** What {@link claudeOtelErrorOf} tells of a failure of ours. */
export interface ClaudeOtelErrorInfo {
  /**
   * The failure: a policy's error type (`circuit_open`, `connection_error`, `throttled`, …), a
   * timeout's (`idle_timeout`, …), or `stream_interrupted` for a `StreamInterruptedError`.
   */
  type: PolicyErrorType | 'stream_interrupted' | string;
  /** For `circuit_open` and `retry_after_exceeds_deadline`: how long until a retry may succeed. */
  retryAfterMs: number | undefined;
  /**
   * The error of ours that was found, wherever the SDK put it (`ClaudeTimeoutError`,
   * `StreamInterruptedError` with its `partial` output); `undefined` for a policy's response.
   */
  error?: Error | undefined;
}

const STATUS: Record<string, number> = {
  circuit_open: 503,
  connection_error: 502,
};

/**
 * The response answering the SDK for a failure a policy decided on. `retryable` sets
 * `x-should-retry` (false when our own retries are on, so the SDK adds none).
 */
export function policyResponse(
  type: PolicyErrorType,
  message: string,
  options: { retryable: boolean; retryAfterMs?: number; status?: number; requestId?: string },
): Response {
  const headers = new Headers({
    'content-type': 'application/json',
    'x-should-retry': String(options.retryable),
    [POLICY_ERROR_HEADER]: type,
  });
  if (options.retryAfterMs !== undefined) {
    const ms = Math.max(0, Math.ceil(options.retryAfterMs));
    headers.set('retry-after-ms', String(ms));
    headers.set('retry-after', String(Math.ceil(ms / 1000)));
  }
  if (options.requestId) headers.set('request-id', options.requestId);
  const body = JSON.stringify({
    type: 'error',
    error: { type, message },
    request_id: options.requestId ?? null,
  });
  return new Response(body, { status: buildableStatus(options.status, STATUS[type] ?? 504), headers });
}

/** Returns `response` with `x-should-retry` set (and the other headers and body unchanged). */
export function withShouldRetry(
  response: Response,
  retry: boolean,
  extra?: Record<string, string>,
): Response {
  const headers = new Headers(response.headers);
  headers.set('x-should-retry', String(retry));
  for (const [k, v] of Object.entries(extra ?? {})) headers.set(k, v);
  return withBody(response, response.body, headers);
}

function headerOf(headers: unknown, name: string): string | undefined {
  if (headers instanceof Headers) return headers.get(name) ?? undefined;
  if (typeof headers === 'object' && headers !== null) {
    const value = (headers as Record<string, unknown>)[name];
    return typeof value === 'string' ? value : undefined;
  }
  return undefined;
}

/**
 * Recognises a failure of this library however it reaches the application: an SDK `APIError`
 * raised from a policy's response (the header `x-claude-otel-error`), such a `Response` itself, a
 * {@link ClaudeTimeoutError} or a `StreamInterruptedError` — thrown as they are, or wrapped by the
 * SDK (`AnthropicError` or `APIConnectionError` with ours in `cause`, at any depth). Our errors are
 * told by their `name` and fields too, so a second copy of this package is recognised. Returns
 * `undefined` for anything else (the API's own errors included).
 */
export function claudeOtelErrorOf(error: unknown): ClaudeOtelErrorInfo | undefined {
  const seen = new Set<unknown>();
  let current: unknown = error;
  while (typeof current === 'object' && current !== null && !seen.has(current) && seen.size < 16) {
    seen.add(current);
    const found = ownError(current);
    if (found !== undefined) return found;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

function ownError(value: object): ClaudeOtelErrorInfo | undefined {
  const { name, errorType, reason } = value as { name?: unknown; errorType?: unknown; reason?: unknown };
  if (
    value instanceof ClaudeTimeoutError ||
    (name === 'ClaudeTimeoutError' && typeof errorType === 'string')
  ) {
    return { type: String(errorType), retryAfterMs: undefined, error: value as Error };
  }
  if (name === 'StreamInterruptedError' && typeof reason === 'string') {
    return { type: 'stream_interrupted', retryAfterMs: undefined, error: value as Error };
  }
  const headers = value instanceof Response ? value.headers : (value as { headers?: unknown }).headers;
  const type = headerOf(headers, POLICY_ERROR_HEADER);
  if (type === undefined) return undefined;
  const ms = Number(headerOf(headers, 'retry-after-ms'));
  return { type, retryAfterMs: Number.isFinite(ms) ? ms : undefined };
}

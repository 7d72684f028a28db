/**
 * Content of the fake Claude API: generated text, token estimates, tool inputs, error bodies,
 * HTML proxy pages and the model catalogue.
 */

import { STATUS_CODES } from 'node:http';
import type { Rng } from './rng.js';

/** A JSON object (string keys). */
export type JsonObject = Record<string, unknown>;

/** Whether `value` is a plain JSON object (not an array, not null). */
export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const WORDS = [
  'the',
  'fake',
  'model',
  'answers',
  'with',
  'a',
  'short',
  'deterministic',
  'sentence',
  'about',
  'tokens',
  'streams',
  'and',
  'latency',
  'spans',
  'metrics',
  'retries',
  'quietly',
  'over',
  'loopback',
];

/**
 * The default assistant text: a short sentence chosen by `rng`. It always contains multi-byte
 * UTF-8 characters (`café`, 2 bytes for `é`; and an emoji, 4 bytes) so that a stream can be cut
 * inside a character.
 * @param rng The random source (derived from the seed and the request serial).
 */
export function generateText(rng: Rng): string {
  const count = 6 + Math.floor(rng() * 6);
  const words: string[] = [];
  for (let i = 0; i < count; i++) words.push(WORDS[Math.floor(rng() * WORDS.length)] ?? 'fake');
  words.splice(1 + Math.floor(rng() * (words.length - 1)), 0, 'café');
  const sentence = words.join(' ');
  return `${sentence.charAt(0).toUpperCase()}${sentence.slice(1)} ☕🙂.`;
}

/**
 * Splits text into word-sized pieces (each word with its trailing whitespace) whose
 * concatenation is exactly `text`.
 */
export function splitWords(text: string): string[] {
  return text.match(/\s+|\S+\s*/gu) ?? [];
}

/**
 * Splits a string into pieces of at most `size` code points (never inside a surrogate pair).
 * @param text The string (e.g. a tool input's JSON).
 * @param size Code points per piece. Default 12.
 */
export function splitCodePoints(text: string, size = 12): string[] {
  const points = Array.from(text);
  const pieces: string[] = [];
  for (let i = 0; i < points.length; i += size) pieces.push(points.slice(i, i + size).join(''));
  return pieces;
}

/** A token estimate of `n` characters or bytes: `ceil(n / 4)`, at least 1. */
export function estimateTokens(n: number): number {
  return Math.max(1, Math.ceil(n / 4));
}

/** Whether `value` holds a `cache_control` object anywhere (any depth). */
export function hasCacheControl(value: unknown): boolean {
  if (Array.isArray(value)) return value.some(hasCacheControl);
  if (!isObject(value)) return false;
  for (const [key, inner] of Object.entries(value)) {
    if (key === 'cache_control' && isObject(inner)) return true;
    if (hasCacheControl(inner)) return true;
  }
  return false;
}

/**
 * A small tool input matching the tool's `input_schema` where it is simple: one value per
 * top-level property (at most 3), by JSON type. Without properties: `{ "query": "café" }`.
 * @param tool The first entry of the request's `tools`.
 */
export function toolInputFor(tool: unknown): JsonObject {
  const schema = isObject(tool) ? tool.input_schema : undefined;
  const properties = isObject(schema) ? schema.properties : undefined;
  if (!isObject(properties) || Object.keys(properties).length === 0) return { query: 'café' };
  const input: JsonObject = {};
  for (const [name, spec] of Object.entries(properties).slice(0, 3)) {
    const prop = isObject(spec) ? spec : {};
    if (Array.isArray(prop.enum) && prop.enum.length > 0) {
      input[name] = prop.enum[0];
      continue;
    }
    switch (prop.type) {
      case 'number':
      case 'integer':
        input[name] = 42;
        break;
      case 'boolean':
        input[name] = true;
        break;
      case 'array':
        input[name] = [];
        break;
      case 'object':
        input[name] = {};
        break;
      default:
        input[name] = name === 'location' || name === 'city' ? 'Paris, France' : 'café';
    }
  }
  return input;
}

const ERROR_TYPES: Readonly<Record<number, string>> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  402: 'billing_error',
  403: 'permission_error',
  404: 'not_found_error',
  413: 'request_too_large',
  429: 'rate_limit_error',
  500: 'api_error',
  504: 'timeout_error',
  529: 'overloaded_error',
};

/**
 * The Anthropic error type for an HTTP status: the documented mapping, `api_error` for other
 * 5xx and `invalid_request_error` for other 4xx.
 */
export function errorTypeForStatus(status: number): string {
  return ERROR_TYPES[status] ?? (status >= 500 ? 'api_error' : 'invalid_request_error');
}

const ERROR_MESSAGES: Readonly<Record<string, string>> = {
  invalid_request_error: 'Invalid request',
  authentication_error: 'invalid x-api-key',
  billing_error: 'Your credit balance is too low to access the Anthropic API',
  permission_error: 'Your API key does not have permission to use the specified resource',
  not_found_error: 'Not found',
  request_too_large: 'Request exceeds the maximum allowed number of bytes',
  rate_limit_error: 'Number of request tokens has exceeded your per-minute rate limit',
  api_error: 'Internal server error',
  timeout_error: 'Request timed out',
  overloaded_error: 'Overloaded',
};

/** A short default message for an error type. */
export function defaultErrorMessage(errorType: string): string {
  return ERROR_MESSAGES[errorType] ?? `Fake ${errorType}`;
}

/** The Anthropic error body `{"type":"error","error":{type,message},"request_id":…}`. */
export function errorBody(errorType: string, message: string, requestId: string): JsonObject {
  return { type: 'error', error: { type: errorType, message }, request_id: requestId };
}

/** The reason phrase of an HTTP status (`Overloaded` for 529). */
export function reasonPhrase(status: number): string {
  return STATUS_CODES[status] ?? (status === 529 ? 'Overloaded' : 'Unknown');
}

/** An nginx-like HTML page for `status`, as a proxy in front of the API would answer. */
export function htmlPage(status: number): string {
  const title = `${status} ${reasonPhrase(status)}`;
  return (
    `<html>\r\n<head><title>${title}</title></head>\r\n<body>\r\n` +
    `<center><h1>${title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n`
  );
}

/** One entry of `GET /v1/models`. */
export interface ModelInfo {
  type: 'model';
  id: string;
  display_name: string;
  created_at: string;
}

/** The fake's model catalogue, newest first (as the real list is ordered); dates are illustrative. */
export const MODELS: readonly ModelInfo[] = [
  {
    type: 'model',
    id: 'claude-sonnet-4-6',
    display_name: 'Claude Sonnet 4.6',
    created_at: '2026-02-17T00:00:00Z',
  },
  {
    type: 'model',
    id: 'claude-opus-4-6',
    display_name: 'Claude Opus 4.6',
    created_at: '2026-02-05T00:00:00Z',
  },
  {
    type: 'model',
    id: 'claude-opus-4-5-20251101',
    display_name: 'Claude Opus 4.5',
    created_at: '2025-11-24T00:00:00Z',
  },
  {
    type: 'model',
    id: 'claude-haiku-4-5-20251001',
    display_name: 'Claude Haiku 4.5',
    created_at: '2025-10-15T00:00:00Z',
  },
];

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

/** `{ supported }` of a model capability. */
export interface CapabilitySupport {
  /** Whether the model supports it. */
  supported: boolean;
}

/** The `capabilities` object of a {@link ModelInfo} (every key present, as the API sends it). */
export interface ModelCapabilities {
  /** The Message Batches API. */
  batch: CapabilitySupport;
  /** Citations. */
  citations: CapabilitySupport;
  /** The code execution tool. */
  code_execution: CapabilitySupport;
  /** Context management, with its strategies. */
  context_management: CapabilitySupport & {
    /** Clearing thinking blocks. */
    clear_thinking_20251015: CapabilitySupport | null;
    /** Clearing tool uses. */
    clear_tool_uses_20250919: CapabilitySupport | null;
    /** Compaction. */
    compact_20260112: CapabilitySupport | null;
  };
  /** The `effort` parameter, by level. */
  effort: CapabilitySupport & {
    /** `low` effort. */
    low: CapabilitySupport;
    /** `medium` effort. */
    medium: CapabilitySupport;
    /** `high` effort. */
    high: CapabilitySupport;
    /** `max` effort. */
    max: CapabilitySupport;
    /** `xhigh` effort. */
    xhigh: CapabilitySupport | null;
  };
  /** Image input. */
  image_input: CapabilitySupport;
  /** PDF input. */
  pdf_input: CapabilitySupport;
  /** Server tools, by tool. */
  server_tools: CapabilitySupport & {
    /** The code execution tool. */
    code_execution: CapabilitySupport;
    /** The web search tool. */
    web_search: CapabilitySupport;
  };
  /** Structured outputs. */
  structured_outputs: CapabilitySupport;
  /** Extended thinking, by type. */
  thinking: CapabilitySupport & {
    /** The thinking types. */
    types: {
      /** Adaptive thinking. */
      adaptive: CapabilitySupport;
      /** Thinking between tool calls. */
      between_tools: CapabilitySupport;
      /** Thinking off. */
      disabled: CapabilitySupport;
      /** Thinking on, with a budget. */
      enabled: CapabilitySupport;
    };
  };
}

/** One entry of `GET /v1/models` (every field the official SDKs type as required). */
export interface ModelInfo {
  /** Always `model`. */
  type: 'model';
  /** The model id, e.g. `claude-sonnet-4-6`. */
  id: string;
  /** The human-readable name. */
  display_name: string;
  /** RFC 3339. */
  created_at: string;
  /** Where the model is in its lifecycle. */
  lifecycle: 'active' | 'deprecated' | 'retired';
  /** RFC 3339; `null` while `active`. */
  deprecated_at: string | null;
  /** RFC 3339; `null` while `active`. */
  retires_at: string | null;
  /** The model family. */
  line: 'haiku' | 'sonnet' | 'opus' | null;
  /** The context window, in tokens. */
  max_input_tokens: number | null;
  /** The largest `max_tokens` a request may ask for. */
  max_tokens: number | null;
  /** What the model supports. */
  capabilities: ModelCapabilities | null;
}

const yes = (supported = true): CapabilitySupport => ({ supported });

/** The capabilities of a model of this generation (`adaptive`: adaptive thinking and `max` effort). */
function capabilities(adaptive: boolean): ModelCapabilities {
  return {
    batch: yes(),
    citations: yes(),
    code_execution: yes(),
    context_management: {
      supported: true,
      clear_thinking_20251015: yes(),
      clear_tool_uses_20250919: yes(),
      compact_20260112: adaptive ? yes() : null,
    },
    effort: {
      supported: adaptive,
      low: yes(adaptive),
      medium: yes(adaptive),
      high: yes(adaptive),
      max: yes(adaptive),
      xhigh: null,
    },
    image_input: yes(),
    pdf_input: yes(),
    server_tools: { supported: true, code_execution: yes(), web_search: yes() },
    structured_outputs: yes(),
    thinking: {
      supported: true,
      types: { adaptive: yes(adaptive), between_tools: yes(false), disabled: yes(), enabled: yes() },
    },
  };
}

function model(
  id: string,
  display_name: string,
  created_at: string,
  line: ModelInfo['line'],
  max_tokens: number,
  adaptive: boolean,
  lifecycle: Pick<ModelInfo, 'lifecycle' | 'deprecated_at' | 'retires_at'> = {
    lifecycle: 'active',
    deprecated_at: null,
    retires_at: null,
  },
): ModelInfo {
  return {
    type: 'model',
    id,
    display_name,
    created_at,
    ...lifecycle,
    line,
    max_input_tokens: 200_000,
    max_tokens,
    capabilities: capabilities(adaptive),
  };
}

/**
 * The fake's model catalogue, newest first (as the real list is ordered); dates and limits are
 * illustrative. The last two are `deprecated` and `retired` (listed only when asked for with
 * `?lifecycle=`; a request naming the retired one gets 404).
 */
export const MODELS: readonly ModelInfo[] = [
  model('claude-sonnet-4-6', 'Claude Sonnet 4.6', '2026-02-17T00:00:00Z', 'sonnet', 64_000, true),
  model('claude-opus-4-6', 'Claude Opus 4.6', '2026-02-05T00:00:00Z', 'opus', 128_000, true),
  model('claude-opus-4-5-20251101', 'Claude Opus 4.5', '2025-11-24T00:00:00Z', 'opus', 64_000, false),
  model('claude-haiku-4-5-20251001', 'Claude Haiku 4.5', '2025-10-15T00:00:00Z', 'haiku', 64_000, false),
  model('claude-sonnet-4-5-20250929', 'Claude Sonnet 4.5', '2025-09-29T00:00:00Z', 'sonnet', 64_000, false),
  model('claude-opus-4-1-20250805', 'Claude Opus 4.1', '2025-08-05T00:00:00Z', 'opus', 32_000, false, {
    lifecycle: 'deprecated',
    deprecated_at: '2026-01-05T00:00:00Z',
    retires_at: '2026-08-05T00:00:00Z',
  }),
  model('claude-3-7-sonnet-20250219', 'Claude Sonnet 3.7', '2025-02-24T00:00:00Z', 'sonnet', 64_000, false, {
    lifecycle: 'retired',
    deprecated_at: '2025-10-28T00:00:00Z',
    retires_at: '2026-02-19T00:00:00Z',
  }),
];

/** Aliases the Messages API resolves (`claude-sonnet-4-5` → its dated id). */
export const MODEL_ALIASES: Readonly<Record<string, string>> = {
  'claude-opus-4-5': 'claude-opus-4-5-20251101',
  'claude-haiku-4-5': 'claude-haiku-4-5-20251001',
  'claude-sonnet-4-5': 'claude-sonnet-4-5-20250929',
  'claude-opus-4-1': 'claude-opus-4-1-20250805',
};

/**
 * A catalogue entry for a model id the user added with the `models` option: an active model with
 * the current generation's limits and capabilities.
 */
export function customModel(entry: string | (Partial<ModelInfo> & { id: string })): ModelInfo {
  const base = model(
    typeof entry === 'string' ? entry : entry.id,
    typeof entry === 'string' ? entry : entry.id,
    '2026-01-01T00:00:00Z',
    null,
    64_000,
    true,
  );
  return typeof entry === 'string' ? base : { ...base, ...entry };
}

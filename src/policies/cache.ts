/**
 * Cached responses, the last resort: successful non-streamed messages are stored under a
 * canonical hash of their request body, and served when everything else failed (retries,
 * failover, model fallbacks). Terms:
 *
 * - an *entry* ({@link CachedMessage}) is a success as received: status, the `content-type`
 *   header (ids such as `request-id` are dropped: they belong to another request) and the Message
 *   JSON;
 * - the *key* of a request is {@link canonicalKey} of its body by default: equal for bodies that
 *   differ only in key order, `stream` or `metadata`;
 * - a *store* ({@link ResponseStore}) holds entries: {@link MemoryStore} in memory (LRU with a TTL
 *   and bounds on entries and bytes), or the user's own (Redis…), sync or async;
 * - a served entry is marked by `x-claude-otel-cache: hit` and its age in
 *   `x-claude-otel-cache-age`; a streamed request gets the message replayed as a valid SSE stream
 *   ({@link cachedStream}) that the SDK accumulates into the same message.
 *
 * Times (`storedAt`, `now`) are milliseconds of the policies' clock; a store shared across
 * processes needs an epoch clock (`Date.now()`) for them to compare.
 */
import { createHash } from 'node:crypto';
import type { Clock } from './types.js';

/** A stored success. */
export interface CachedMessage {
  /** The HTTP status (a 2xx). */
  status: number;
  /** The headers kept: only `content-type` (the rest are dropped). */
  headers: Record<string, string>;
  /** The Message JSON, as received. */
  body: string;
  /** When it was stored, in milliseconds of the clock. */
  storedAt: number;
}

/**
 * Where entries are kept. Both methods may be sync or async; errors they throw or reject with are
 * the caller's to contain (a failing store must not fail a request).
 */
export interface ResponseStore {
  /** The entry under `key`, if any (it may be older than the TTL: the caller checks). */
  get(key: string): Promise<CachedMessage | undefined> | CachedMessage | undefined;
  /** Stores `value` under `key`, replacing any entry there. */
  set(key: string, value: CachedMessage): Promise<void> | void;
}

/** Options of the cache. */
export interface CacheOptions {
  /** Where entries are kept. Default: in memory (LRU with a TTL) with `ttlMs` and `maxEntries`. */
  store?: ResponseStore;
  /** How long an entry may be served, in milliseconds. Default 600 000 (10 minutes). */
  ttlMs?: number;
  /** The most entries the default in-memory store keeps (least recently used go). Default 1000. */
  maxEntries?: number;
  /** Bodies larger than this many bytes are not stored. Default 1 048 576 (1 MiB). */
  maxEntryBytes?: number;
  /**
   * The key of a request body, or `undefined` to neither store nor serve it. Default: a hash of the
   * body's canonical JSON (equal for bodies that differ only in key order). It must not depend on
   * credentials (they are headers, not the body).
   */
  key?: (body: Record<string, unknown>) => string | undefined;
}

/** The defaults of {@link CacheOptions}, and of {@link MemoryStoreOptions.maxBytes}. */
export const CACHE_DEFAULTS = Object.freeze({
  ttlMs: 600_000,
  maxEntries: 1000,
  maxEntryBytes: 1024 * 1024,
  /** The total bytes a {@link MemoryStore} keeps by default: 64 MiB. */
  maxBytes: 64 * 1024 * 1024,
});

/** The header marking a served entry: `x-claude-otel-cache: hit`. */
export const CACHE_HEADER = 'x-claude-otel-cache';
/** The header holding a served entry's age in whole seconds. */
export const CACHE_AGE_HEADER = 'x-claude-otel-cache-age';

/** Options of {@link MemoryStore}. */
export interface MemoryStoreOptions {
  /** An entry older than this (by its `storedAt`), in milliseconds, is gone. > 0; may be `Infinity`. */
  ttlMs: number;
  /** The most entries kept; the least recently used go first. A positive integer. */
  maxEntries: number;
  /**
   * The most bytes kept in all (UTF-8 bytes of key, header names and values, and body); the least
   * recently used go first, and an entry larger than this is not stored. Default 64 MiB.
   */
  maxBytes?: number;
}

interface Slot {
  readonly value: CachedMessage;
  readonly bytes: number;
}

function positive(name: string, value: unknown, integer: boolean): number {
  if (
    typeof value !== 'number' ||
    Number.isNaN(value) ||
    value <= 0 ||
    (integer && !Number.isInteger(value))
  ) {
    throw new TypeError(`${name} must be a positive ${integer ? 'integer' : 'number'}, got ${String(value)}`);
  }
  return value;
}

function sizeOf(key: string, value: CachedMessage): number {
  let bytes = Buffer.byteLength(key) + Buffer.byteLength(value.body);
  for (const [name, header] of Object.entries(value.headers)) {
    bytes += Buffer.byteLength(name) + Buffer.byteLength(header);
  }
  return bytes;
}

/**
 * An in-memory {@link ResponseStore}: least recently used first out, bounded in entries and total
 * bytes, with entries expiring `ttlMs` after their `storedAt` (dropped when next read). Reads and
 * writes are O(1) (a `Map` in recency order), eviction O(1) per entry evicted.
 */
export class MemoryStore implements ResponseStore {
  readonly #ttlMs: number;
  readonly #maxEntries: number;
  readonly #maxBytes: number;
  readonly #clock: Clock;
  /** Least recently used first. */
  readonly #slots = new Map<string, Slot>();
  #bytes = 0;

  /**
   * @param options Validated: a `TypeError` for a `ttlMs`, `maxEntries` or `maxBytes` that is not
   *   positive (`maxEntries` an integer).
   * @param clock Tells the age of entries.
   */
  constructor(options: MemoryStoreOptions, clock: Clock) {
    this.#ttlMs = positive('cache.ttlMs', options.ttlMs, false);
    this.#maxEntries = positive('cache.maxEntries', options.maxEntries, true);
    this.#maxBytes = positive('cache.maxBytes', options.maxBytes ?? CACHE_DEFAULTS.maxBytes, false);
    this.#clock = clock;
  }

  /** The entries held (expired ones included until read or evicted). */
  get size(): number {
    return this.#slots.size;
  }

  /** The bytes held, as counted against `maxBytes`. */
  get bytes(): number {
    return this.#bytes;
  }

  /** The entry under `key` unless expired (then it is dropped); a hit becomes the most recent. */
  get(key: string): CachedMessage | undefined {
    const slot = this.#slots.get(key);
    if (slot === undefined) return undefined;
    this.#slots.delete(key);
    if (this.#clock.now() - slot.value.storedAt > this.#ttlMs) {
      this.#bytes -= slot.bytes;
      return undefined;
    }
    this.#slots.set(key, slot);
    return slot.value;
  }

  /**
   * Stores a (frozen) copy of `value` as the most recent entry, then evicts the least recently
   * used until within `maxEntries` and `maxBytes`. An entry larger than `maxBytes` is not stored,
   * and the one it would replace is dropped.
   */
  set(key: string, value: CachedMessage): void {
    this.#drop(key);
    const copy: CachedMessage = Object.freeze({ ...value, headers: Object.freeze({ ...value.headers }) });
    const bytes = sizeOf(key, copy);
    if (bytes > this.#maxBytes) return;
    this.#slots.set(key, { value: copy, bytes });
    this.#bytes += bytes;
    while (this.#slots.size > this.#maxEntries || this.#bytes > this.#maxBytes) {
      const oldest = this.#slots.keys().next();
      if (oldest.done) break;
      this.#drop(oldest.value);
    }
  }

  #drop(key: string): void {
    const slot = this.#slots.get(key);
    if (slot === undefined) return;
    this.#slots.delete(key);
    this.#bytes -= slot.bytes;
  }
}

/** The canonical JSON of a value: object keys sorted (by UTF-16 code units), recursively. */
function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map((item) => canonicalJson(item)).join(',')}]`;
  const record = value as Record<string, unknown>;
  const parts: string[] = [];
  for (const key of Object.keys(record).sort()) {
    const item = record[key];
    if (item === undefined || typeof item === 'function' || typeof item === 'symbol') continue;
    parts.push(`${JSON.stringify(key)}:${canonicalJson(item)}`);
  }
  return `{${parts.join(',')}}`;
}

/** Top-level fields that do not change the answer. */
const IGNORED_FIELDS = new Set(['stream', 'metadata']);

/**
 * The default cache key of a request body: the SHA-256 (hex) of its canonical JSON, with object
 * keys sorted recursively and the top-level `stream` and `metadata` left out, so bodies that differ
 * only in key order, in streaming or in `metadata.user_id` share their entry. Everything else counts
 * (model, messages, system, tools, temperature…). Credentials are headers, never part of it.
 */
export function canonicalKey(body: Record<string, unknown>): string {
  const kept: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(body)) {
    if (!IGNORED_FIELDS.has(key)) kept[key] = value;
  }
  return createHash('sha256').update(canonicalJson(kept)).digest('hex');
}

/**
 * The headers to store with an entry: only `content-type` (default `application/json`). Request
 * ids, rate-limit and organization headers describe the original response, not a replay.
 */
export function storedHeaders(headers: Headers | Record<string, string>): Record<string, string> {
  let type: string | undefined;
  if (headers instanceof Headers) {
    type = headers.get('content-type') ?? undefined;
  } else {
    for (const [name, value] of Object.entries(headers)) {
      if (name.toLowerCase() === 'content-type') type = value;
    }
  }
  return { 'content-type': type ?? 'application/json' };
}

function cacheHeaders(entry: CachedMessage, now: number, contentType: string): Headers {
  const age = Math.max(0, Math.floor((now - entry.storedAt) / 1000));
  return new Headers({
    'content-type': contentType,
    [CACHE_HEADER]: 'hit',
    [CACHE_AGE_HEADER]: String(Number.isFinite(age) ? age : 0),
  });
}

/**
 * The response for a non-streamed request served from the cache: the stored Message JSON as is,
 * with the stored `content-type` (other stored headers are ignored), `x-claude-otel-cache: hit`
 * and `x-claude-otel-cache-age: <whole seconds since storedAt>`. The status is the stored one when
 * it is a 2xx, else 200.
 */
export function cachedResponse(entry: CachedMessage, now: number): Response {
  if (completeMessage(entry.body) === undefined) {
    throw new TypeError('the cached body is not a complete Message: it is not served');
  }
  const contentType = storedHeaders(entry.headers ?? {})['content-type'] ?? 'application/json';
  const status =
    Number.isInteger(entry.status) && entry.status >= 200 && entry.status < 300 ? entry.status : 200;
  return new Response(entry.body, { status, headers: cacheHeaders(entry, now, contentType) });
}

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/**
 * The Message a body holds when it is the JSON of a *complete* Message — `type: "message"`, an
 * assistant `role`, an `id`, a `content` array and a `stop_reason` — else `undefined`. Only such a
 * body is stored, and a stored entry is checked again before it is served (a store may hand back
 * anything).
 */
export function completeMessage(body: unknown): Json | undefined {
  if (typeof body !== 'string') return undefined;
  let message: unknown;
  try {
    message = JSON.parse(body);
  } catch {
    return undefined;
  }
  if (
    !isObject(message) ||
    message.type !== 'message' ||
    message.role !== 'assistant' ||
    typeof message.id !== 'string' ||
    !Array.isArray(message.content) ||
    typeof message.stop_reason !== 'string'
  ) {
    return undefined;
  }
  return message;
}

/** Whether `entry` may be served: a 2xx with a JSON content type and a complete Message body. */
export function isServable(entry: unknown): entry is CachedMessage {
  if (!isObject(entry)) return false;
  const status = entry.status;
  if (typeof status !== 'number' || status < 200 || status > 299) return false;
  const headers = isObject(entry.headers) ? (entry.headers as Record<string, string>) : {};
  const type = storedHeaders(headers)['content-type'] ?? '';
  if (typeof type !== 'string' || !type.includes('json')) return false;
  if (typeof entry.storedAt !== 'number' || Number.isNaN(entry.storedAt)) return false;
  return completeMessage(entry.body) !== undefined;
}

/** Characters of text per delta: a long text replays as a few deltas, not one per word. */
const DELTA_CHARS = 1024;

/** `text` in pieces of at most {@link DELTA_CHARS} UTF-16 units, never splitting a surrogate pair. */
function* pieces(text: string): Generator<string> {
  let start = 0;
  while (start < text.length) {
    let end = Math.min(start + DELTA_CHARS, text.length);
    const last = text.charCodeAt(end - 1);
    if (end < text.length && last >= 0xd800 && last <= 0xdbff) end--;
    yield text.slice(start, end);
    start = end;
  }
}

/** One SSE event: its name and its data (the `type` field repeats the name, as the API does). */
type SseEvent = readonly [string, Json];

function delta(index: number, payload: Json): SseEvent {
  return ['content_block_delta', { type: 'content_block_delta', index, delta: payload }];
}

/** The events of one content block: start, deltas that rebuild it, stop. */
function* blockEvents(block: unknown, index: number): Generator<SseEvent> {
  const start = (content_block: unknown): SseEvent => [
    'content_block_start',
    { type: 'content_block_start', index, content_block },
  ];
  if (isObject(block) && block.type === 'text' && typeof block.text === 'string') {
    const citations = Array.isArray(block.citations) ? block.citations : undefined;
    yield start({ ...block, text: '', ...(citations !== undefined ? { citations: [] } : {}) });
    for (const citation of citations ?? []) yield delta(index, { type: 'citations_delta', citation });
    for (const text of pieces(block.text)) yield delta(index, { type: 'text_delta', text });
  } else if (isObject(block) && (block.type === 'tool_use' || block.type === 'server_tool_use')) {
    yield start({ ...block, input: {} });
    const json = JSON.stringify(block.input ?? {});
    for (const partial_json of pieces(json)) yield delta(index, { type: 'input_json_delta', partial_json });
  } else if (isObject(block) && block.type === 'thinking' && typeof block.thinking === 'string') {
    yield start({ ...block, thinking: '', signature: '' });
    for (const thinking of pieces(block.thinking)) yield delta(index, { type: 'thinking_delta', thinking });
    const signature = typeof block.signature === 'string' ? block.signature : '';
    yield delta(index, { type: 'signature_delta', signature });
  } else {
    // redacted_thinking, server tool results…: whole in their start, as the API sends them.
    yield start(block);
  }
  yield ['content_block_stop', { type: 'content_block_stop', index }];
}

/** The SSE events of a streamed `message`, in the API's order (see {@link cachedStream}). */
function* messageEvents(message: Json, content: readonly unknown[]): Generator<SseEvent> {
  const usage = isObject(message.usage) ? message.usage : {};
  const startMessage: Json = {
    ...message,
    content: [],
    stop_reason: null,
    stop_sequence: null,
    usage: { ...usage, output_tokens: 1 },
  };
  if ('stop_details' in message) startMessage.stop_details = null;
  yield ['message_start', { type: 'message_start', message: startMessage }];
  for (let index = 0; index < content.length; index++) yield* blockEvents(content[index], index);
  const finalDelta: Json = {
    stop_reason: message.stop_reason ?? null,
    stop_sequence: message.stop_sequence ?? null,
  };
  if ('stop_details' in message) finalDelta.stop_details = message.stop_details;
  if (message.container != null) finalDelta.container = message.container;
  const finalUsage = {
    ...usage,
    output_tokens: typeof usage.output_tokens === 'number' ? usage.output_tokens : 0,
  };
  yield ['message_delta', { type: 'message_delta', delta: finalDelta, usage: finalUsage }];
  yield ['message_stop', { type: 'message_stop' }];
}

/**
 * The response for a streamed request served from the cache: the stored Message replayed as a
 * valid SSE stream (`content-type: text/event-stream`, status 200, with the cache headers of
 * {@link cachedResponse}), framed `event: <name>\ndata: <json>\n\n`, one frame per chunk:
 *
 * 1. `message_start`: the message with `content: []`, `stop_reason` / `stop_sequence` `null`, and
 *    its usage (input and cache tokens) with `output_tokens: 1`;
 * 2. per content block, `content_block_start` (the block emptied), `content_block_delta`s that
 *    rebuild it (`text_delta` for text, plus a `citations_delta` per citation; `input_json_delta`
 *    with the input's JSON as `partial_json` for `tool_use` / `server_tool_use`; `thinking_delta`
 *    and one `signature_delta` for thinking; none for other blocks, which start whole), then
 *    `content_block_stop`; long strings are cut into deltas of at most 1024 UTF-16 units;
 * 3. `message_delta` with `stop_reason`, `stop_sequence` and the final usage (`output_tokens`);
 * 4. `message_stop`.
 *
 * @throws TypeError when the stored body is not the JSON of a complete Message (see
 *   {@link completeMessage}), so a corrupt entry is never replayed.
 */
export function cachedStream(entry: CachedMessage, now: number): Response {
  const message = completeMessage(entry.body);
  if (message === undefined || !Array.isArray(message.content)) {
    throw new TypeError('the cached body is not a Message: it cannot be replayed as a stream');
  }
  const events = messageEvents(message, message.content);
  const encoder = new TextEncoder();
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      const next = events.next();
      if (next.done) {
        controller.close();
        return;
      }
      const [name, data] = next.value;
      controller.enqueue(encoder.encode(`event: ${name}\ndata: ${JSON.stringify(data)}\n\n`));
    },
    cancel() {
      events.return(undefined);
    },
  });
  const headers = cacheHeaders(entry, now, 'text/event-stream');
  headers.set('cache-control', 'no-cache');
  return new Response(body, { status: 200, headers });
}

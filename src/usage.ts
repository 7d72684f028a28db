/**
 * What a response says about the message: id, model, stop reason and token usage, read from a
 * non-streamed body or accumulated from a stream's `message_start` and `message_delta` events.
 */
import { redactText } from './redact.js';

/** Token usage as the API reports it. */
export interface Usage {
  input: number;
  output: number;
  cacheRead: number;
  cacheWrite: number;
}

/** What is known of the message so far. */
export interface MessageFacts {
  id?: string;
  model?: string;
  stopReason?: string;
  usage?: Usage;
}

/**
 * A token count, or `undefined` for what is none: not a number, negative, or beyond 2⁵³ − 1 (no
 * response holds that many tokens; `1.7e308` would make the sums `Infinity`).
 */
function count(value: unknown): number | undefined {
  return typeof value === 'number' && value >= 0 && value <= Number.MAX_SAFE_INTEGER
    ? Math.trunc(value)
    : undefined;
}

/** The longest id, model or stop reason recorded from a response. */
const MAX_SERVER_STRING = 256;

/** A string a response gave (id, model, stop reason), as recorded: bounded and redacted. */
function serverString(value: string): string {
  return redactText(value.length > MAX_SERVER_STRING ? `${value.slice(0, MAX_SERVER_STRING)}…` : value);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

/**
 * Merges an API `usage` object into `facts.usage`. Fields that are present replace the old values
 * (the API's counts are cumulative), absent ones keep them.
 */
export function mergeUsage(facts: MessageFacts, raw: unknown): void {
  if (!isObject(raw)) return;
  const usage = facts.usage ?? { input: 0, output: 0, cacheRead: 0, cacheWrite: 0 };
  usage.input = count(raw.input_tokens) ?? usage.input;
  usage.output = count(raw.output_tokens) ?? usage.output;
  usage.cacheRead = count(raw.cache_read_input_tokens) ?? usage.cacheRead;
  usage.cacheWrite = count(raw.cache_creation_input_tokens) ?? usage.cacheWrite;
  facts.usage = usage;
}

/** Reads a Message object (a non-streamed body, or `message_start.message`). */
export function readMessage(facts: MessageFacts, message: unknown): void {
  if (!isObject(message)) return;
  if (typeof message.id === 'string') facts.id = serverString(message.id);
  if (typeof message.model === 'string') facts.model = serverString(message.model);
  if (typeof message.stop_reason === 'string') facts.stopReason = serverString(message.stop_reason);
  mergeUsage(facts, message.usage);
}

/** Reads a `message_delta` event's data. */
export function readMessageDelta(facts: MessageFacts, event: unknown): void {
  if (!isObject(event)) return;
  if (isObject(event.delta) && typeof event.delta.stop_reason === 'string') {
    facts.stopReason = serverString(event.delta.stop_reason);
  }
  mergeUsage(facts, event.usage);
}

/** The error type of an Anthropic error body `{"type":"error","error":{"type":…}}`, if it is one. */
export function errorTypeOf(body: unknown): string | undefined {
  if (!isObject(body) || !isObject(body.error)) return undefined;
  const type = body.error.type;
  // A type that holds a secret (a server echoing what it was sent) is no type.
  return typeof type === 'string' && type.length > 0 && type.length <= 64 && redactText(type) === type
    ? type
    : undefined;
}

/** Total input tokens for telemetry: input + cache reads + cache writes (GenAI semconv for Anthropic). */
export function totalInput(usage: Usage): number {
  // Bounded like each count, so that every number recorded is finite and exact.
  return Math.min(usage.input + usage.cacheRead + usage.cacheWrite, Number.MAX_SAFE_INTEGER);
}

/**
 * Server-sent events of the fake Claude API: frame encoding and the lazy event sequence of a
 * streamed message.
 */

import { type JsonObject, splitCodePoints, splitWords } from './content.js';

/** Encodes one SSE frame: `event: <name>\ndata: <json>\n\n`. */
export function sseFrame(event: string, data: unknown): Buffer {
  return Buffer.from(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`, 'utf8');
}

const PING = sseFrame('ping', { type: 'ping' });

/** What a streamed message is made of. */
export interface StreamPlan {
  /** The `message` of `message_start` (empty content, usage with `output_tokens: 1`). */
  startMessage: JsonObject;
  /** A `thinking` block before the text (`thinking_delta`s, then one `signature_delta`). */
  thinking?: { text: string; signature: string };
  /** The assistant's text; `undefined`: no text block (a forced tool call). */
  text: string | undefined;
  /** Emit `repeat` text deltas each holding all of `text`; default: word-sized deltas. */
  repeat?: number;
  /** A `tool_use` block after the text. */
  tool?: { id: string; name: string; input: JsonObject };
  /** `delta` of `message_delta` (`stop_reason`, `stop_sequence`, `stop_details`). */
  delta: JsonObject;
  /** `usage` of `message_delta` (cumulative: input and cache counts, `output_tokens`). */
  usage: JsonObject;
  /** A ping every this many events after the first one; 0: only the one after `message_start`. */
  pingEvery: number;
}

function* textDeltas(index: number, text: string, repeat: number | undefined): Generator<Buffer> {
  const delta = (piece: string): Buffer =>
    sseFrame('content_block_delta', {
      type: 'content_block_delta',
      index,
      delta: { type: 'text_delta', text: piece },
    });
  if (repeat !== undefined) {
    // One encoded frame, written `repeat` times: a huge stream costs no memory.
    const frame = delta(text);
    for (let i = 0; i < repeat; i++) yield frame;
    return;
  }
  for (const piece of splitWords(text)) yield delta(piece);
}

function* baseEvents(plan: StreamPlan): Generator<Buffer> {
  yield sseFrame('message_start', { type: 'message_start', message: plan.startMessage });
  let index = 0;
  if (plan.thinking) {
    yield sseFrame('content_block_start', {
      type: 'content_block_start',
      index,
      content_block: { type: 'thinking', thinking: '', signature: '' },
    });
    for (const piece of splitWords(plan.thinking.text)) {
      yield sseFrame('content_block_delta', {
        type: 'content_block_delta',
        index,
        delta: { type: 'thinking_delta', thinking: piece },
      });
    }
    yield sseFrame('content_block_delta', {
      type: 'content_block_delta',
      index,
      delta: { type: 'signature_delta', signature: plan.thinking.signature },
    });
    yield sseFrame('content_block_stop', { type: 'content_block_stop', index });
    index++;
  }
  if (plan.text !== undefined) {
    yield sseFrame('content_block_start', {
      type: 'content_block_start',
      index,
      content_block: { type: 'text', text: '', citations: null },
    });
    yield* textDeltas(index, plan.text, plan.repeat);
    yield sseFrame('content_block_stop', { type: 'content_block_stop', index });
    index++;
  }
  if (plan.tool) {
    const { id, name, input } = plan.tool;
    yield sseFrame('content_block_start', {
      type: 'content_block_start',
      index,
      content_block: { type: 'tool_use', id, name, input: {}, caller: { type: 'direct' } },
    });
    // The real API starts a tool input with an empty partial_json.
    for (const partial of ['', ...splitCodePoints(JSON.stringify(input))]) {
      yield sseFrame('content_block_delta', {
        type: 'content_block_delta',
        index,
        delta: { type: 'input_json_delta', partial_json: partial },
      });
    }
    yield sseFrame('content_block_stop', { type: 'content_block_stop', index });
  }
  yield sseFrame('message_delta', { type: 'message_delta', delta: plan.delta, usage: plan.usage });
  yield sseFrame('message_stop', { type: 'message_stop' });
}

/**
 * The frames of a streamed message, generated lazily: `message_start`, `ping`, the optional
 * `thinking` block, the text block, the optional `tool_use` block, `message_delta`, `message_stop`; a `ping` after every
 * `pingEvery` events (never after `message_stop`).
 */
export function* streamFrames(plan: StreamPlan): Generator<Buffer> {
  const events = baseEvents(plan);
  const first = events.next();
  if (first.done) return;
  yield first.value;
  yield PING;
  let sincePing = 0;
  let current = events.next();
  while (!current.done) {
    yield current.value;
    const next = events.next();
    sincePing++;
    if (plan.pingEvery > 0 && sincePing >= plan.pingEvery && !next.done) {
      yield PING;
      sincePing = 0;
    }
    current = next;
  }
}

/**
 * The byte offset inside the first multi-byte UTF-8 character of `frame` (just after its lead
 * byte), or -1 when the frame is pure ASCII.
 */
export function midUtf8Offset(frame: Buffer): number {
  for (let i = 0; i < frame.length; i++) {
    const byte = frame[i] ?? 0;
    if ((byte & 0xc0) === 0xc0) return i + 1;
  }
  return -1;
}

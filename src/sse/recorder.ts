/**
 * Observes a streamed (SSE) body for its attempt: message id and model, usage, time to first chunk,
 * `event: error`, truncation, and how the consumer ended it. The consumer sees the same chunks at
 * the same pace; the span ends when the body does.
 */
import type { Attributes } from '@opentelemetry/api';
import { type AttemptRecorder, errorTypeOfException, truncate } from '../recorder.js';
import type { ClaudeRequest } from '../request.js';
import { A, EVENTS } from '../telemetry/names.js';
import { errorTypeOf, readMessage, readMessageDelta } from '../usage.js';
import { type BodyEnd, observeBody } from './observer.js';
import { SseParser } from './parser.js';

/**
 * The reason a reader cancels a body with once it has read the message through `message_stop`
 * (what follows does not matter): the attempt is then `completed`, not `cancelled`.
 */
export const MESSAGE_COMPLETE: unique symbol = Symbol('claude-otel-middleware: message complete');

/**
 * The longest SSE line the observer holds, in bytes: a longer one (a 30 MB `data:` line) is dropped
 * as it arrives instead of being held whole next to the consumer's copy (the event still counts).
 */
export const MAX_OBSERVED_LINE = 1024 * 1024;

const PARSED_EVENTS = new Set(['message_start', 'message_delta', 'message_stop', 'error']);

/** Observes an SSE body: usage, ids, time to first chunk, `event: error`, truncation. */
export function observeStream(
  rec: AttemptRecorder,
  req: ClaudeRequest,
  body: ReadableStream<Uint8Array>,
  timing: { chunk(): void; reading(): void } = { chunk() {}, reading() {} },
): ReadableStream<Uint8Array> {
  const onChunk = timing.chunk;
  const { telemetry } = rec.env;
  const capture = rec.env.captureContent;
  let text = '';
  let sawStop = false;
  let bytes = 0;
  let streamError: string | undefined;
  const wantData =
    capture === undefined
      ? (name: string) => PARSED_EVENTS.has(name)
      : (name: string) => PARSED_EVENTS.has(name) || name === 'content_block_delta';
  const parse = (data: string | undefined): unknown => {
    if (data === undefined) return undefined;
    try {
      return JSON.parse(data);
    } catch {
      rec.anomaly('invalid_sse_json');
      return undefined;
    }
  };
  const parser = new SseParser(
    (name, data) => {
      switch (name) {
        case 'content_block_delta':
          if (rec.timeToFirstChunkS === undefined) {
            rec.timeToFirstChunkS = (performance.now() - rec.startedAt) / 1000;
          }
          if (capture !== undefined && text.length < capture && data !== undefined) {
            const delta = (parse(data) as { delta?: { text?: unknown } } | undefined)?.delta;
            if (typeof delta?.text === 'string') text += delta.text;
          }
          break;
        case 'message_start':
          readMessage(rec.facts, (parse(data) as { message?: unknown } | undefined)?.message);
          break;
        case 'message_delta':
          readMessageDelta(rec.facts, parse(data));
          break;
        case 'message_stop':
          // Only a `message_stop` the SDK can read ends the message.
          if ((parse(data) as { type?: unknown } | undefined)?.type === 'message_stop') sawStop = true;
          break;
        case 'error': {
          streamError = errorTypeOf(parse(data)) ?? 'stream_error';
          rec.span.addEvent(EVENTS.STREAM_ERROR.name, { [A.ERROR_TYPE]: streamError }, rec.now());
          break;
        }
      }
    },
    wantData,
    MAX_OBSERVED_LINE,
  );
  const isMessages = req.operation === 'chat';
  return observeBody(body, req.signal, {
    onRead: timing.reading,
    onChunk(chunk) {
      onChunk();
      bytes += chunk.byteLength;
      // `telemetry.safely` without a closure per chunk.
      try {
        parser.push(chunk);
      } catch (error) {
        telemetry.failed('sse_parse', error);
      }
    },
    onEnd(end: BodyEnd) {
      const extra: Attributes = {
        [A.ANTHROPIC_STREAM_EVENTS]: parser.eventCount,
        [A.ANTHROPIC_STREAM_BYTES]: bytes,
      };
      if (capture !== undefined && text.length > 0) {
        extra[A.GEN_AI_OUTPUT_MESSAGES] = truncate(JSON.stringify([{ type: 'text', text }]), capture);
      }
      if (end.kind === 'complete') {
        const leftover = telemetry.safely('sse_end', () => parser.end()) ?? false;
        if (streamError === undefined && !sawStop && isMessages) {
          rec.anomaly(leftover ? 'truncated_event' : 'missing_message_stop');
          rec.errorType = 'stream_truncated';
        }
      }
      if (streamError !== undefined) rec.errorType = streamError;
      let outcome: 'ok' | 'error' | 'cancelled';
      let error: unknown;
      if (rec.errorType !== undefined) {
        outcome = 'error';
        if (end.kind === 'error') error = end.error;
      } else if (end.kind === 'error') {
        rec.errorType = errorTypeOfException(end.error, req.signal);
        outcome = 'error';
        error = end.error;
      } else if ((end.kind === 'cancelled' || end.kind === 'abandoned') && !sawStop) {
        outcome = 'cancelled';
      } else {
        outcome = 'ok';
      }
      // The stream resumer cancels the rest of a body after `message_stop` (with MESSAGE_COMPLETE):
      // that message was read to its end.
      extra[A.ANTHROPIC_STREAM_OUTCOME] =
        end.kind === 'complete'
          ? outcome === 'ok'
            ? 'completed'
            : 'error'
          : end.kind === 'error'
            ? 'error'
            : end.kind === 'cancelled' && end.reason === MESSAGE_COMPLETE && sawStop && outcome === 'ok'
              ? 'completed'
              : end.kind;
      rec.end(outcome, error, extra);
    },
  });
}

/** Observes a body whose content is not parsed (too large or not textual): the span ends with it. */

/**
 * Recovery of broken streams. A streamed message can fail after its 200: the connection drops, the
 * server sends `event: error`, or it stalls past the idle timeout. The consumer already has part of
 * the answer, so a plain retry would repeat it. Instead:
 *
 * - the stream is handed to the consumer one *complete* event at a time (a cut in the middle of an
 *   event or of a UTF-8 character never reaches it), while a checkpoint keeps what the message holds
 *   so far (id, content blocks, usage, stop reason);
 * - when the stream breaks and the checkpoint can be continued, a continuation request is sent
 *   through the same pipeline (retries, breaker, regions, fallbacks): the original request with the
 *   text so far appended as an assistant-turn prefill. Its events are spliced in: its
 *   `message_start` is dropped, its first text block continues the open one (same index, not
 *   restarted), later blocks are renumbered after the last one, and its `message_delta` reports
 *   the output tokens of both parts (tokens before the cut + the continuation's), with the
 *   continuation's stop reason. The SDK's `MessageStream` sees one coherent message;
 * - what cannot be resumed (a cut inside a `tool_use` block's JSON, any thinking block, several
 *   text blocks, extended thinking requested, no text yet, or resumptions spent) errors the stream
 *   with a {@link StreamInterruptedError} that carries the partial output.
 */
import { concatBytes } from '../bytes.js';
import { errorTypeOf } from '../usage.js';
import { SseParser } from './parser.js';
import { MESSAGE_COMPLETE } from './recorder.js';

/** What the consumer had received when a stream broke. */
export interface PartialOutput {
  /** The message id, when `message_start` arrived. */
  readonly messageId: string | undefined;
  /** The text of the text blocks so far. */
  readonly text: string;
  /** Output tokens reported so far (the last `message_delta`, else `message_start`'s). */
  readonly outputTokens: number;
  /** Events handed to the consumer. */
  readonly events: number;
}

/** A stream broke and could not be resumed. */
export class StreamInterruptedError extends Error {
  /** Always `StreamInterruptedError`. */
  override readonly name = 'StreamInterruptedError';
  constructor(
    /** Why it broke (`connection_error`, `overloaded_error`, `idle_timeout`, …). */
    readonly reason: string,
    /** Why it was not resumed (`not_resumable:<why>`, `resumptions_spent`, `continuation_failed`). */
    readonly notResumed: string,
    /** What the consumer had received before the break. */
    readonly partial: PartialOutput,
    options?: { cause?: unknown },
  ) {
    super(
      `claude-otel-middleware: the stream broke (${reason}) after ${partial.events} events and was not resumed (${notResumed})`,
      options,
    );
  }
}

interface Block {
  type: string;
  text: string;
  open: boolean;
}

/** The state of the message as the consumer has seen it. */
class Checkpoint {
  messageId: string | undefined;
  started = false;
  stopped = false;
  outputTokens = 0;
  events = 0;
  readonly blocks: Block[] = [];
  /** Continuation splicing: index of the continuation's first block in the consumer's message. */
  offset = 0;
  /** The continuation's block 0 continues the consumer's open text block. */
  continuing = false;
  /** Output tokens of the parts before the current continuation. */
  tokensBefore = 0;
  /** The current continuation is spliced into a message the consumer already started. */
  spliced = false;
  /** The stop reason, once a `message_delta` gave it: the message is complete but for `message_stop`. */
  stopReason: string | undefined;
  /** Characters of text kept for a continuation's prefill. */
  chars = 0;
  /** More text than `maxBufferedChars` arrived: the text is no longer kept and cannot be resumed. */
  overflowed = false;

  constructor(readonly maxBufferedChars: number) {}

  /** Keeps `text` for a continuation, until the cap: then drops all kept text (memory stays bounded). */
  append(block: Block, text: string): void {
    if (this.overflowed) return;
    this.chars += text.length;
    if (this.chars > this.maxBufferedChars) {
      this.overflowed = true;
      for (const b of this.blocks) b.text = '';
      return;
    }
    block.text += text;
  }

  partial(): PartialOutput {
    return {
      messageId: this.messageId,
      text: this.blocks.map((b) => (b.type === 'text' ? b.text : '')).join(''),
      outputTokens: this.outputTokens,
      events: this.events,
    };
  }

  /** Why the message cannot be continued, or undefined when it can. */
  notResumable(thinkingRequested: boolean): string | undefined {
    if (this.stopped) return 'complete';
    if (this.overflowed) return 'too_long';
    if (thinkingRequested && this.blocks.length > 0) return 'thinking_requested';
    if (this.blocks.some((b) => b.type !== 'text')) {
      const open = this.blocks.find((b) => b.open);
      return open?.type === 'tool_use'
        ? 'inside_tool_use'
        : `${this.blocks.find((b) => b.type !== 'text')?.type}_block`;
    }
    if (this.blocks.length > 1) return 'several_text_blocks';
    return undefined;
  }
}

const encoder = new TextEncoder();

/**
 * An event larger than this (bytes held of it) is not held whole: from there on the stream passes
 * through untouched and is no longer resumed.
 */
export const MAX_EVENT_BYTES = 8 * 1024 * 1024;

/** A stream whose first event has not come within this many bytes is passed through untouched. */
const MAX_UNDECIDED_BYTES = 1024 * 1024;

function isAbortError(error: unknown): boolean {
  return (error as { name?: unknown } | null)?.name === 'AbortError';
}

function abortError(signal: AbortSignal | undefined): unknown {
  const reason: unknown = signal?.reason;
  return isAbortError(reason) ? reason : new DOMException('This operation was aborted', 'AbortError');
}

function frame(name: string, data: string): Uint8Array {
  return encoder.encode(`event: ${name}\ndata: ${data}\n\n`);
}

/** One continuation: a new streamed response, or why there is none. */
export type Continue = (
  body: string,
  attempt: number,
) => Promise<{ ok: true; body: ReadableStream<Uint8Array> } | { ok: false; reason: string }>;

/** Reports each resumption decision (for metrics and span events). */
/** A resumption decision; `at` (a `performance.now()` reading) is when the stream broke. */
export type ResumeListener = (
  outcome: 'resumed' | 'failed' | 'not_resumable',
  reason: string,
  at?: number,
) => void;

/**
 * Returns the stream the consumer reads instead of `first`: complete events only, and broken
 * streams continued through `resume` up to `maxResumptions` times.
 */
export function resumableStream(
  first: ReadableStream<Uint8Array>,
  requestBody: Record<string, unknown>,
  options: {
    maxResumptions: number;
    /** Text kept for a continuation's prefill, in characters; a longer message is not resumed. */
    maxBufferedChars: number;
    resume: Continue;
    onDecision: ResumeListener;
    /** The `error.type` of an exception that broke an attempt. */
    errorTypeOf: (error: unknown) => string;
    /** Called once when the consumer's stream ends: completed, failed (with the error) or cancelled. */
    onEnd: (kind: 'complete' | 'error' | 'cancelled', error?: unknown) => void;
    /**
     * The caller's signal: once it aborted, a break is the abort (handed over as the read's error,
     * as without us) and nothing more is sent.
     */
    signal?: AbortSignal | undefined;
  },
): ReadableStream<Uint8Array> {
  const checkpoint = new Checkpoint(options.maxBufferedChars);
  const thinkingRequested =
    typeof requestBody.thinking === 'object' &&
    requestBody.thinking !== null &&
    (requestBody.thinking as { type?: unknown }).type === 'enabled';
  let reader = first.getReader();
  let resumptions = 0;
  let pending: Uint8Array[] = [];
  let brokenBy: string | undefined;
  let failure: unknown;
  /** Continuation text blocks not handed over yet (no text so far), by index. */
  const deferred = new Map<number, Uint8Array>();

  const onEvent = (name: string, data: string | undefined): void => {
    if (mode === 'passthrough' || brokenBy !== undefined) return;
    if (mode === 'undecided') {
      if (name !== 'message_start') {
        mode = 'passthrough';
        return;
      }
      mode = 'messages';
    }
    let value: Record<string, unknown> | undefined;
    try {
      value = data === undefined ? undefined : (JSON.parse(data) as Record<string, unknown>);
    } catch {
      value = undefined;
    }
    // Before the consumer saw `message_start`, a continuation is simply the whole answer.
    const splicing = resumptions > 0 && checkpoint.spliced;
    switch (name) {
      case 'message_start': {
        if (splicing) return; // the consumer has its message already
        checkpoint.started = true;
        const message = value?.message as { id?: unknown; usage?: { output_tokens?: unknown } } | undefined;
        if (typeof message?.id === 'string') checkpoint.messageId = message.id;
        if (typeof message?.usage?.output_tokens === 'number')
          checkpoint.outputTokens = message.usage.output_tokens;
        break;
      }
      case 'content_block_start': {
        const index = typeof value?.index === 'number' ? value.index : 0;
        const type = String((value?.content_block as { type?: unknown } | undefined)?.type ?? 'unknown');
        if (splicing && index === 0 && checkpoint.continuing && type === 'text') return; // continues the open block
        const mapped = splicing ? index + checkpoint.offset : index;
        checkpoint.blocks[mapped] = { type, text: '', open: true };
        if (splicing && value !== undefined) {
          const start = frame(name, JSON.stringify({ ...value, index: mapped }));
          // A new text block of a continuation is handed over only once it has text: after a
          // complete prefill the API may answer with an empty one.
          if (type === 'text') deferred.set(mapped, start);
          else {
            pending.push(start);
            checkpoint.events++;
          }
          return;
        }
        break;
      }
      case 'content_block_delta': {
        const index = typeof value?.index === 'number' ? value.index : 0;
        const mapped = splicing ? index + checkpoint.offset : index;
        const delta = value?.delta as { type?: unknown; text?: unknown } | undefined;
        const block = checkpoint.blocks[mapped];
        if (block !== undefined && typeof delta?.text === 'string') checkpoint.append(block, delta.text);
        if (splicing && value !== undefined) {
          if (deferred.has(mapped)) {
            if (typeof delta?.text === 'string' && delta.text === '') return;
            pending.push(deferred.get(mapped) as Uint8Array);
            deferred.delete(mapped);
            checkpoint.events++;
          }
          pending.push(frame(name, JSON.stringify({ ...value, index: mapped })));
          checkpoint.events++;
          return;
        }
        break;
      }
      case 'content_block_stop': {
        const index = typeof value?.index === 'number' ? value.index : 0;
        const mapped = splicing ? index + checkpoint.offset : index;
        const block = checkpoint.blocks[mapped];
        if (block !== undefined) block.open = false;
        if (deferred.delete(mapped)) {
          // An empty text block of a continuation: never shown, and not part of the message.
          checkpoint.blocks.length = mapped;
          checkpoint.offset -= 1;
          return;
        }
        if (splicing && value !== undefined) {
          pending.push(frame(name, JSON.stringify({ ...value, index: mapped })));
          checkpoint.events++;
          return;
        }
        break;
      }
      case 'message_delta': {
        const delta = value?.delta as { stop_reason?: unknown } | undefined;
        if (typeof delta?.stop_reason === 'string') checkpoint.stopReason = delta.stop_reason;
        const usage = value?.usage as { output_tokens?: unknown } | undefined;
        if (typeof usage?.output_tokens === 'number') {
          checkpoint.outputTokens = checkpoint.tokensBefore + usage.output_tokens;
          if (splicing && value !== undefined) {
            pending.push(
              frame(
                name,
                JSON.stringify({ ...value, usage: { ...usage, output_tokens: checkpoint.outputTokens } }),
              ),
            );
            checkpoint.events++;
            return;
          }
        }
        break;
      }
      case 'message_stop':
        checkpoint.stopped = true;
        break;
      case 'error':
        // A failure after the 200: handled as a break, not handed over (after the stop it no longer
        // matters).
        if (!checkpoint.stopped) brokenBy = errorTypeOf(value) ?? 'stream_error';
        return;
    }
    pending.push(frame(name, data ?? ''));
    checkpoint.events++;
  };
  let parser = new SseParser(onEvent);
  const aborted = (): boolean => options.signal?.aborted === true;
  const setMessages = (): void => {
    mode = 'messages';
    raw = [];
  };
  /**
   * Until the first event: `undecided` (its bytes are kept in `raw`); `messages` once it is
   * `message_start`; else `passthrough`, the body handed over untouched.
   */
  let mode: 'undecided' | 'messages' | 'passthrough' = 'undecided';
  let raw: Uint8Array[] = [];
  let rawBytes = 0;

  /** Decides what to do about a break; returns true when the stream goes on. */
  const recover = async (reason: string): Promise<boolean> => {
    // An abort is final: no decision, no continuation.
    if (aborted()) return false;
    if (checkpoint.stopReason !== undefined && !checkpoint.stopped) {
      // Only `message_stop` was missing: the message is whole, finish it.
      options.onDecision('resumed', `${reason}:after_stop_reason`);
      pending.push(frame('message_stop', '{"type":"message_stop"}'));
      checkpoint.events++;
      checkpoint.stopped = true;
      brokenBy = undefined;
      failure = undefined;
      return true;
    }
    const why = checkpoint.notResumable(thinkingRequested);
    if (why !== undefined) {
      options.onDecision('not_resumable', why);
      failure = new StreamInterruptedError(reason, `not_resumable:${why}`, checkpoint.partial(), {
        cause: failure,
      });
      return false;
    }
    if (resumptions >= options.maxResumptions) {
      options.onDecision('not_resumable', 'resumptions_spent');
      failure = new StreamInterruptedError(reason, 'resumptions_spent', checkpoint.partial(), {
        cause: failure,
      });
      return false;
    }
    resumptions++;
    const open = checkpoint.blocks[checkpoint.blocks.length - 1];
    // The API refuses a prefill that ends in whitespace: send it trimmed, and drop the same
    // whitespace from the start of the continuation, which the consumer already has. With no text
    // yet, the continuation is the original request again.
    const prefill = open?.text.trimEnd() ?? '';
    const already = open === undefined ? '' : open.text.slice(prefill.length);
    const messages = Array.isArray(requestBody.messages) ? requestBody.messages : [];
    const body = JSON.stringify(
      prefill === ''
        ? requestBody
        : { ...requestBody, messages: [...messages, { role: 'assistant', content: prefill }] },
    );
    const brokeAt = performance.now();
    const next = await options.resume(body, resumptions);
    if (aborted()) {
      if (next.ok) void next.body.cancel().catch(() => undefined);
      return false;
    }
    if (!next.ok) {
      options.onDecision('failed', reason, brokeAt);
      failure = new StreamInterruptedError(
        reason,
        `continuation_failed:${next.reason}`,
        checkpoint.partial(),
        {
          cause: failure,
        },
      );
      return false;
    }
    options.onDecision('resumed', reason, brokeAt);
    checkpoint.spliced = checkpoint.started;
    checkpoint.continuing = open?.open === true;
    checkpoint.offset = open?.open === true ? checkpoint.blocks.length - 1 : checkpoint.blocks.length;
    // Tokens generated before the cut: what the API reported, or, when it reported nothing yet (its
    // count comes with `message_delta`), an estimate from the text delivered (4 characters a token).
    checkpoint.tokensBefore = Math.max(checkpoint.outputTokens, Math.ceil((open?.text.length ?? 0) / 4));
    brokenBy = undefined;
    failure = undefined;
    let skip = already;
    parser = new SseParser((name, data) => {
      // Drop, from the continuation's first text, the whitespace the consumer already has.
      if (skip !== '' && name === 'content_block_delta' && data !== undefined) {
        try {
          const value = JSON.parse(data) as { index?: number; delta?: { text?: unknown } };
          if (value.index === 0 && typeof value.delta?.text === 'string') {
            let text = value.delta.text;
            while (skip !== '' && text !== '' && text[0] === skip[0]) {
              text = text.slice(1);
              skip = skip.slice(1);
            }
            skip = text === '' ? skip : '';
            if (text === '') return;
            onEvent(name, JSON.stringify({ ...value, delta: { ...value.delta, text } }));
            return;
          }
        } catch {
          // handled by onEvent
        }
      }
      onEvent(name, data);
    });
    reader = next.body.getReader();
    return true;
  };

  let ended = false;
  const end = (kind: 'complete' | 'error' | 'cancelled', error?: unknown): void => {
    if (ended) return;
    ended = true;
    options.onEnd(kind, error);
  };
  const fail = (controller: ReadableStreamDefaultController<Uint8Array>): void => {
    if (aborted()) {
      // The caller's abort: handed over as the read's error (or the signal's), as without us.
      const error = isAbortError(failure) ? failure : abortError(options.signal);
      controller.error(error);
      end('cancelled');
      return;
    }
    controller.error(failure);
    end('error', failure);
  };
  /** Pass-through mode: what was read so far, then the rest of the body as it comes. */
  const passOn = async (controller: ReadableStreamDefaultController<Uint8Array>): Promise<void> => {
    if (raw.length > 0) {
      const out = concatBytes(raw);
      raw = [];
      controller.enqueue(out);
      return;
    }
    let result: ReadableStreamReadResult<Uint8Array>;
    try {
      result = await reader.read();
    } catch (readError) {
      controller.error(readError);
      end(aborted() ? 'cancelled' : 'error', readError);
      return;
    }
    if (result.done) {
      controller.close();
      end('complete');
      return;
    }
    controller.enqueue(result.value);
  };
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        if (mode === 'passthrough') {
          await passOn(controller);
          return;
        }
        for (;;) {
          if (pending.length > 0) {
            const out = concatBytes(pending);
            pending = [];
            controller.enqueue(out);
            return;
          }
          if (checkpoint.stopped && brokenBy === undefined) {
            // The message is complete: what follows the stop does not matter.
            await reader.cancel(MESSAGE_COMPLETE).catch(() => undefined);
            controller.close();
            end('complete');
            return;
          }
          let result: ReadableStreamReadResult<Uint8Array>;
          try {
            result = await reader.read();
          } catch (error) {
            failure = error;
            // Broken before its first event: nothing was handed over, so it is recovered as a
            // message stream (the continuation is the whole answer).
            if (mode === 'undecided') setMessages();
            if (await recover(options.errorTypeOf(error))) continue;
            fail(controller);
            return;
          }
          if (result.done) {
            parser.end();
            if (mode === 'undecided') setMessages();
            if (checkpoint.stopped && brokenBy === undefined) continue;
            const reason = brokenBy ?? 'stream_truncated';
            if (await recover(reason)) continue;
            fail(controller);
            return;
          }
          if (mode === 'undecided') {
            raw.push(result.value);
            rawBytes += result.value.byteLength;
          }
          parser.push(result.value);
          if (mode === 'undecided' && rawBytes > MAX_UNDECIDED_BYTES) mode = 'passthrough';
          // (Not within a continuation: its events are renumbered, so its bytes cannot go on as they are.)
          if (mode === 'messages' && resumptions === 0 && parser.heldBytes > MAX_EVENT_BYTES) {
            // An event too large to hold (a 30 MB data line): the complete events so far, then this
            // one as it stands, then the rest of the body untouched. Not resumed from here on.
            options.onDecision('not_resumable', 'event_too_large');
            pending.push(parser.takePartial());
            mode = 'passthrough';
            raw = [];
            const out = concatBytes(pending);
            pending = [];
            controller.enqueue(out);
            return;
          }
          if (mode === 'passthrough') {
            // The first event is not `message_start` (a Text Completions stream, another API): the
            // bytes go on untouched, and nothing is resumed.
            pending = [];
            await passOn(controller);
            return;
          }
          if (mode === 'undecided') continue;
          if (raw.length > 0) raw = [];
          if (brokenBy !== undefined) {
            // `event: error`: stop reading this attempt and recover.
            await reader.cancel().catch(() => undefined);
            const reason = brokenBy;
            if (pending.length > 0) {
              const out = concatBytes(pending);
              pending = [];
              controller.enqueue(out);
            }
            if (await recover(reason)) continue;
            fail(controller);
            return;
          }
        }
      },
      cancel(reason) {
        end('cancelled');
        return reader.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
}

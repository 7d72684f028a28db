/**
 * A huge SSE line (a 30 MB `data:` line) is not held whole by the attempt's observer: what the
 * parser keeps of an unfinished line is bounded by our own limit (item 18 of issue 15), the event
 * still counts, the events after it are read, and the consumer gets every byte.
 */
import { describe, expect, it } from 'vitest';
import { createClaudeFetch } from '../../src/fetch.js';
import { SseParser } from '../../src/sse/parser.js';
import { MAX_OBSERVED_LINE } from '../../src/sse/recorder.js';
import { MAX_EVENT_BYTES } from '../../src/sse/resume.js';

const encoder = new TextEncoder();
const HUGE = 30 * 1024 * 1024;
const PIECE = 64 * 1024;

/** `event: content_block_delta` whose data line is `HUGE` bytes, cut in PIECE-byte chunks, then `tail`. */
function* hugeEvent(tail: string, eol = '\n'): Generator<Uint8Array> {
  yield encoder.encode(
    `event: content_block_delta${eol}data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"`,
  );
  const piece = new Uint8Array(PIECE).fill(120);
  for (let sent = 0; sent < HUGE; sent += PIECE) yield piece;
  yield encoder.encode(`"}}${eol}${eol}${tail}`);
}

describe('a 30 MB SSE data line', () => {
  for (const eol of ['\n', '\r\n']) {
    it(`the parser holds at most its line limit (plus a chunk) ${JSON.stringify(eol)}`, () => {
      const events: Array<[string, string | undefined]> = [];
      const parser = new SseParser(
        (name, data) => events.push([name, data]),
        (name) => name !== 'content_block_delta',
        MAX_OBSERVED_LINE,
      );
      let held = 0;
      for (const chunk of hugeEvent(
        `event: message_stop${eol}data: {"type":"message_stop"}${eol}${eol}`,
        eol,
      )) {
        parser.push(chunk);
        held = Math.max(held, parser.heldBytes);
      }
      expect(held).toBeLessThanOrEqual(MAX_OBSERVED_LINE + PIECE);
      expect(events).toEqual([
        ['content_block_delta', undefined],
        ['message_stop', '{"type":"message_stop"}'],
      ]);
    });
  }

  it('through the fetch: the consumer gets every byte', async () => {
    let total = 0;
    const inner = async (): Promise<Response> => {
      const chunks = hugeEvent('event: message_stop\ndata: {"type":"message_stop"}\n\n');
      const body = new ReadableStream<Uint8Array>(
        {
          pull(controller) {
            const next = chunks.next();
            if (next.done) controller.close();
            else {
              total += next.value.byteLength;
              controller.enqueue(next.value);
            }
          },
        },
        { highWaterMark: 0 },
      );
      return new Response(body, { headers: { 'content-type': 'text/event-stream' } });
    };
    const f = createClaudeFetch({ fetch: inner as typeof fetch });
    const response = await f('https://api.anthropic.com/v1/messages', {
      method: 'POST',
      body: JSON.stringify({ model: 'claude-sonnet-4-6', max_tokens: 1, stream: true, messages: [] }),
    });
    let received = 0;
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>)
      received += chunk.byteLength;
    expect(received).toBe(total);
    expect(received).toBeGreaterThan(HUGE);
  });
});

describe('a 30 MB SSE data line with resume on', () => {
  it('is not held whole: the stream passes through from that event on, byte for byte', async () => {
    const start =
      'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_01long","type":"message","role":"assistant","model":"claude-sonnet-4-6","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":5,"output_tokens":1}}}\n\n' +
      'event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}\n\n';
    const end =
      'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n' +
      'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":9}}\n\n' +
      'event: message_stop\ndata: {"type":"message_stop"}\n\n';
    let pulled = 0;
    let delivered = 0;
    let held = 0;
    const sent: Uint8Array[] = [];
    const inner = async (): Promise<Response> => {
      const chunks = (function* () {
        yield encoder.encode(start);
        yield* hugeEvent(end);
      })();
      const body = new ReadableStream<Uint8Array>(
        {
          pull(controller) {
            const next = chunks.next();
            if (next.done) controller.close();
            else {
              // What sits between the network and the consumer, each time we read more.
              held = Math.max(held, pulled - delivered);
              pulled += next.value.byteLength;
              sent.push(next.value);
              controller.enqueue(next.value);
            }
          },
        },
        { highWaterMark: 0 },
      );
      return new Response(body, { headers: { 'content-type': 'text/event-stream' } });
    };
    const f = createClaudeFetch({ fetch: inner as typeof fetch, resume: true });
    const response = await f('https://api.anthropic.com/v1/messages', {
      method: 'POST',
      body: JSON.stringify({ model: 'claude-sonnet-4-6', max_tokens: 1, stream: true, messages: [] }),
    });
    const received: Uint8Array[] = [];
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      received.push(chunk);
      delivered += chunk.byteLength;
    }
    expect(held).toBeLessThanOrEqual(MAX_EVENT_BYTES + 2 * PIECE);
    expect(Buffer.concat(received).equals(Buffer.concat(sent))).toBe(true);
  });
});

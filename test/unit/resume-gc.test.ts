/**
 * With `resume` on, a streamed response dropped without being read to its end: every span (the
 * attempt's and the operation's) still ends, and the body is collectable — nothing (no closure over
 * the last attempt's handle) keeps it alive. Runs with `--expose-gc` (the `gc` project).
 */
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { describe, expect, it } from 'vitest';
import { type ClaudeFetch, createClaudeFetch } from '../../src/fetch.js';

const gc = globalThis.gc;
const encoder = new TextEncoder();

const START =
  'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_01gc","type":"message","role":"assistant","model":"claude-sonnet-4-6","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":5,"output_tokens":1}}}\n\n' +
  'event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}\n\n' +
  'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}\n\n';

async function collect(done: () => boolean, rounds = 40): Promise<void> {
  for (let i = 0; i < rounds && !done(); i++) {
    gc!();
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** The inner bodies handed out, weakly. */
const bodies: WeakRef<ReadableStream<Uint8Array>>[] = [];

function setup(): { f: ClaudeFetch; exporter: InMemorySpanExporter } {
  const exporter = new InMemorySpanExporter();
  const tracerProvider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
  const inner = async (): Promise<Response> => {
    // Three events, then a stall that never ends (the server keeps the connection open).
    let sent = false;
    const body = new ReadableStream<Uint8Array>(
      {
        pull(controller) {
          if (!sent) {
            sent = true;
            controller.enqueue(encoder.encode(START));
          }
          return new Promise<void>(() => undefined);
        },
      },
      { highWaterMark: 0 },
    );
    bodies.push(new WeakRef(body));
    return new Response(body, { headers: { 'content-type': 'text/event-stream' } });
  };
  const f = createClaudeFetch({ fetch: inner as typeof fetch, tracerProvider, resume: true });
  return { f, exporter };
}

function streamed(f: ClaudeFetch): Promise<Response> {
  return f('https://api.anthropic.com/v1/messages', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'claude-sonnet-4-6', max_tokens: 16, stream: true, messages: [] }),
  });
}

// Each drop happens in a frame of its own, so that no local of the test keeps the response.
async function dropUnread(f: ClaudeFetch): Promise<void> {
  await streamed(f);
}
async function dropAfterOneRead(f: ClaudeFetch): Promise<void> {
  const reader = (await streamed(f)).body!.getReader();
  await reader.read();
}

describe('resume: a stream dropped before its end (item 5)', () => {
  it('runs with the garbage collector exposed', () => {
    expect(typeof gc).toBe('function');
  });

  for (const [name, drop] of [
    ['never read', dropUnread],
    ['read in part', dropAfterOneRead],
  ] as const) {
    it(`${name}: every span ends and the body is collected`, async () => {
      const { f, exporter } = setup();
      bodies.length = 0;
      await drop(f);
      const ended = (): boolean => exporter.getFinishedSpans().length >= 2;
      await collect(() => ended() && bodies.every((b) => b.deref() === undefined));
      const spans = exporter.getFinishedSpans();
      expect(spans.map((s) => s.name).sort()).toEqual(['POST /v1/messages', 'chat claude-sonnet-4-6']);
      expect(bodies).toHaveLength(1);
      expect(bodies[0]?.deref()).toBeUndefined();
    });
  }
});

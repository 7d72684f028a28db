import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SseParser, type WantData } from '../../src/sse/parser.js';

type Dispatched = [name: string, data: string | undefined];

const ANTHROPIC_EVENTS = [
  'message_start',
  'content_block_start',
  'content_block_delta',
  'content_block_stop',
  'message_delta',
  'message_stop',
  'ping',
  'error',
] as const;
/** Event names a `wantData` may keep: the Anthropic ones and the default `message`. */
const ALL_NAMES = [...ANTHROPIC_EVENTS, 'message'] as const;

const encoder = new TextEncoder();

interface Outcome {
  events: Dispatched[];
  leftover: boolean;
  eventCount: number;
}

/** Feeds `chunks` to a fresh parser, then ends it. */
function runChunks(chunks: readonly Uint8Array[], wantData?: WantData): Outcome {
  const events: Dispatched[] = [];
  const parser = new SseParser((name, data) => events.push([name, data]), wantData);
  for (const chunk of chunks) parser.push(chunk);
  const leftover = parser.end();
  return { events, leftover, eventCount: parser.eventCount };
}

/** Splits `bytes` at the given offsets (sorted here; duplicates make empty chunks). */
function splitAt(bytes: Uint8Array, points: readonly number[]): Uint8Array[] {
  const sorted = [...points].map((p) => Math.min(Math.max(p, 0), bytes.length)).sort((a, b) => a - b);
  const chunks: Uint8Array[] = [];
  let start = 0;
  for (const p of sorted) {
    chunks.push(bytes.slice(start, p));
    start = p;
  }
  chunks.push(bytes.slice(start));
  return chunks;
}

/** A chunking strategy, applied to the encoded stream once its length is known. */
type Chunking =
  | { kind: 'points'; fractions: number[] }
  | { kind: 'bytes' }
  | { kind: 'afterCR' }
  | { kind: 'fixed'; size: number };

const chunkingArb: fc.Arbitrary<Chunking> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('points' as const),
      fractions: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 40 }),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'bytes' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'afterCR' as const }) },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('fixed' as const), size: fc.integer({ min: 1, max: 7 }) }),
  },
);

function chunk(bytes: Uint8Array, how: Chunking): Uint8Array[] {
  switch (how.kind) {
    case 'points':
      return splitAt(
        bytes,
        how.fractions.map((f) => Math.floor(f * (bytes.length + 1))),
      );
    case 'bytes':
      return splitAt(
        bytes,
        Array.from({ length: bytes.length }, (_, i) => i),
      );
    case 'afterCR': {
      // Every `\r` ends a chunk, with an empty chunk after it: `\r` and `\n` always arrive apart.
      const points: number[] = [];
      bytes.forEach((b, i) => {
        if (b === 13) points.push(i + 1, i + 1);
      });
      return splitAt(bytes, points);
    }
    case 'fixed': {
      const points: number[] = [];
      for (let i = how.size; i < bytes.length; i += how.size) points.push(i);
      return splitAt(bytes, points);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Generators for valid streams and the events they must produce.

/** Text of a line: any code points (multi-byte included) but no line ends. */
const lineChar = fc.oneof(
  { weight: 6, arbitrary: fc.string({ unit: 'binary', maxLength: 1 }) },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      'é',
      'ß',
      '€',
      '中',
      '文',
      '字',
      '日本',
      '한',
      '😀',
      '👩‍👩‍👧',
      '🇫🇷',
      '\uFEFF',
      ':',
      ' ',
      '\t',
      '{',
      '"',
    ),
  },
);
const lineText = fc.array(lineChar, { maxLength: 12 }).map((parts) => parts.join('').replace(/[\r\n]/g, ''));

/** One `data` field line and the value it carries. */
const dataLine: fc.Arbitrary<{ line: string; value: string }> = fc.oneof(
  lineText.map((v) => ({ line: `data: ${v}`, value: v })),
  lineText.filter((v) => !v.startsWith(' ')).map((v) => ({ line: `data:${v}`, value: v })),
  fc.constant({ line: 'data', value: '' }),
  fc.constant({ line: 'data:', value: '' }),
);

/** Lines that do not contribute to the event (comments, id, retry, unknown fields). */
const ignoredLine: fc.Arbitrary<string> = fc.oneof(
  lineText.map((t) => `:${t}`),
  lineText.map((t) => `: ${t}`),
  lineText.map((t) => `id: ${t}`),
  fc.nat({ max: 100_000 }).map((n) => `retry: ${n}`),
  fc.constantFrom('id', 'retry', 'foo: bar', 'Data: x', 'events: x', 'dat: x', 'eventt: y'),
);

interface GenEvent {
  /** The lines of the event, without the blank line that dispatches it. */
  lines: string[];
  name: string;
  data: string;
}

const eventArb: fc.Arbitrary<GenEvent> = fc
  .record({
    name: fc.option(fc.constantFrom(...ANTHROPIC_EVENTS), { nil: undefined }),
    data: fc.array(dataLine, { maxLength: 4 }),
    ignored: fc.array(fc.tuple(fc.nat(), ignoredLine), { maxLength: 3 }),
    eventAt: fc.nat(),
    nameStyle: fc.constantFrom('event: ', 'event:'),
  })
  .filter((r) => r.name !== undefined || r.data.length > 0)
  .map((r) => {
    const lines = r.data.map((d) => d.line);
    // At most one `event:` line, anywhere among the data lines.
    if (r.name !== undefined) lines.splice(r.eventAt % (lines.length + 1), 0, `${r.nameStyle}${r.name}`);
    for (const [at, line] of r.ignored) lines.splice(at % (lines.length + 1), 0, line);
    return { lines, name: r.name ?? 'message', data: r.data.map((d) => d.value).join('\n') };
  });

/** Blocks that dispatch nothing: only ignorable lines (or nothing) before a blank line. */
const noEventArb: fc.Arbitrary<string[]> = fc.array(ignoredLine, { maxLength: 3 });

type Block = { kind: 'event'; event: GenEvent } | { kind: 'none'; lines: string[] };

/** The end of a stream: nothing, complete lines of an undispatched event, or a cut line. */
type Tail =
  | { kind: 'none' }
  | { kind: 'ignored'; lines: string[] }
  | { kind: 'partial'; lines: string[]; cut: string };

const tailArb: fc.Arbitrary<Tail> = fc.oneof(
  fc.constant({ kind: 'none' as const }),
  fc.record({
    kind: fc.constant('ignored' as const),
    lines: fc.array(ignoredLine, { minLength: 1, maxLength: 2 }),
  }),
  // An event without its blank line (its lines end; the dispatching blank line never comes).
  eventArb.map((e) => ({ kind: 'partial' as const, lines: e.lines, cut: '' })),
  // A line cut before its end (any non-empty text; may even be a comment).
  fc
    .tuple(
      fc.array(ignoredLine, { maxLength: 2 }),
      fc.oneof(
        lineText,
        ignoredLine,
        dataLine.map((d) => d.line),
      ),
    )
    // A BOM that opens the stream is not content (the decoder drops it), so a cut that is nothing
    // but a BOM may leave nothing over.
    .filter(([, cut]) => cut.length > 0 && !cut.startsWith('\uFEFF'))
    .map(([lines, cut]) => ({ kind: 'partial' as const, lines, cut })),
);

type Eol = '\n' | '\r\n' | '\r';
const eolArb = fc.constantFrom<Eol>('\n', '\r\n', '\r');

interface GenStream {
  text: string;
  expected: { name: string; data: string }[];
  leftover: boolean;
}

/**
 * Joins lines with line ends picked per line from `eols` (cycled). A line ending in `\r` followed
 * by an empty line ending in `\n` would read as one `\r\n`: that empty line then ends in `\r`.
 */
function joinLines(lines: readonly string[], eols: readonly Eol[]): string {
  let out = '';
  let previous: Eol | undefined;
  lines.forEach((line, i) => {
    let eol = eols[i % eols.length] ?? '\n';
    if (previous === '\r' && line === '' && eol === '\n') eol = '\r';
    out += line + eol;
    previous = eol;
  });
  return out;
}

const streamArb: fc.Arbitrary<GenStream> = fc
  .record({
    blocks: fc.array(
      fc.oneof(
        { weight: 5, arbitrary: eventArb.map((event): Block => ({ kind: 'event', event })) },
        { weight: 1, arbitrary: noEventArb.map((lines): Block => ({ kind: 'none', lines })) },
      ),
      { maxLength: 8 },
    ),
    tail: tailArb,
    bom: fc.boolean(),
    eols: fc.oneof(
      eolArb.map((e) => [e]),
      fc.array(eolArb, { minLength: 1, maxLength: 10 }),
    ),
  })
  .map(({ blocks, tail, bom, eols }) => {
    const lines: string[] = [];
    const expected: { name: string; data: string }[] = [];
    for (const block of blocks) {
      if (block.kind === 'event') {
        lines.push(...block.event.lines, '');
        expected.push({ name: block.event.name, data: block.event.data });
      } else {
        lines.push(...block.lines, '');
      }
    }
    let leftover = false;
    if (tail.kind !== 'none') lines.push(...tail.lines);
    if (tail.kind === 'partial') leftover = true;
    let text = joinLines(lines, eols);
    if (tail.kind === 'partial') text += tail.cut;
    return { text: (bom ? '\uFEFF' : '') + text, expected, leftover };
  });

const wantArb: fc.Arbitrary<{ names: string[] | undefined }> = fc.record({
  names: fc.option(fc.subarray([...ALL_NAMES]), { nil: undefined }),
});

function expectedEvents(stream: GenStream, names: readonly string[] | undefined): Dispatched[] {
  return stream.expected.map(({ name, data }) => [
    name,
    names === undefined || names.includes(name) ? data : undefined,
  ]);
}

// ---------------------------------------------------------------------------------------------

describe('SseParser: properties of valid streams', () => {
  it('any chunking of a valid stream gives the expected events, as one chunk does', () => {
    fc.assert(
      fc.property(streamArb, wantArb, chunkingArb, (stream, { names }, how) => {
        const want = names === undefined ? undefined : (name: string) => names.includes(name);
        const bytes = encoder.encode(stream.text);
        const whole = runChunks([bytes], want);
        const chunked = runChunks(chunk(bytes, how), want);
        const expected = expectedEvents(stream, names);
        expect(whole.events).toEqual(expected);
        expect(chunked.events).toEqual(whole.events);
        expect(whole.eventCount).toBe(expected.length);
        expect(chunked.eventCount).toBe(expected.length);
        expect(whole.leftover).toBe(stream.leftover);
        expect(chunked.leftover).toBe(stream.leftover);
      }),
      { numRuns: 400 },
    );
  });

  it('gives the same events when fed as decoded text in one piece', () => {
    fc.assert(
      fc.property(streamArb, (stream) => {
        const events: Dispatched[] = [];
        const parser = new SseParser((name, data) => events.push([name, data]));
        // The decoder drops the stream's BOM; `pushText` takes text that is already decoded.
        parser.pushText(stream.text.replace(/^\uFEFF/, ''));
        expect(parser.end()).toBe(stream.leftover);
        expect(events).toEqual(expectedEvents(stream, undefined));
      }),
      { numRuns: 200 },
    );
  });

  it('every byte-level chunking of a fixed stream with all line ends, a BOM and 4-byte chars agrees', () => {
    const text =
      '\uFEFFevent: message_start\r\ndata: {"t":"😀中文"}\r\n\r\n' +
      ': ping 🎉\rid: 7\rretry: 10\revent: content_block_delta\rdata: a€\rdata: b\r\r' +
      'data: 👩‍👩‍👧\n\n' +
      'event: message_stop\r\n\n' +
      'event: ping\r\r\n';
    const expected: Dispatched[] = [
      ['message_start', '{"t":"😀中文"}'],
      ['content_block_delta', 'a€\nb'],
      ['message', '👩‍👩‍👧'],
      ['message_stop', ''],
      // `\r` ends `event: ping`, then `\r\n` is the blank line that dispatches it.
      ['ping', ''],
    ];
    const bytes = encoder.encode(text);
    expect(runChunks([bytes]).events).toEqual(expected);
    for (let i = 0; i <= bytes.length; i++) {
      for (let j = i; j <= bytes.length; j += 3) {
        const out = runChunks(splitAt(bytes, [i, j]));
        expect(out.events).toEqual(expected);
        expect(out.leftover).toBe(false);
      }
    }
  });
});

describe('SseParser: SSE rules', () => {
  function parseText(text: string, wantData?: WantData): Outcome {
    return runChunks([encoder.encode(text)], wantData);
  }

  it('names events `message` by default and dispatches an event without data with empty data', () => {
    expect(parseText('data: x\n\nevent: ping\n\n').events).toEqual([
      ['message', 'x'],
      ['ping', ''],
    ]);
  });

  it('joins several data lines with \\n and drops exactly one space after the colon', () => {
    expect(parseText('data: a\ndata:b\ndata:  c \ndata\ndata:\n\n').events).toEqual([
      ['message', 'a\nb\n c \n\n'],
    ]);
  });

  it('keeps colons inside values', () => {
    expect(parseText('event: error\ndata: {"a":"b:c"}\n\n').events).toEqual([['error', '{"a":"b:c"}']]);
  });

  it('ignores comments, id, retry and unknown or differently-cased fields', () => {
    const out = parseText(': hi\nid: 1\nretry: 5\nData: x\nEVENT: y\nfoo\n\n:only a comment\n\n');
    expect(out.events).toEqual([]);
    expect(out.eventCount).toBe(0);
    expect(out.leftover).toBe(false);
  });

  it('a blank line without a pending event dispatches nothing', () => {
    expect(parseText('\n\n\r\n\r\r').events).toEqual([]);
  });

  it('the last `event:` line of an event wins', () => {
    expect(parseText('event: a\ndata: 1\nevent: b\ndata: 2\n\n').events).toEqual([['b', '1\n2']]);
  });

  it('treats lone CRs as line ends', () => {
    expect(parseText('event: message_delta\rdata: a\rdata: b\r\rdata: c\r\r').events).toEqual([
      ['message_delta', 'a\nb'],
      ['message', 'c'],
    ]);
  });

  it('a CRLF split across chunks is one line end, also with empty chunks in between', () => {
    const parts = ['data: x\r', '', '\ndata: y\r', '', '', '\n\r', '', '\n'];
    const out = runChunks(parts.map((p) => encoder.encode(p)));
    expect(out.events).toEqual([['message', 'x\ny']]);
    expect(out.leftover).toBe(false);
  });

  it('a multi-byte character split across chunks is decoded once whole', () => {
    const bytes = encoder.encode('data: 😀\n\n');
    // The emoji is bytes 6..9.
    const out = runChunks(splitAt(bytes, [7, 8, 9]));
    expect(out.events).toEqual([['message', '😀']]);
  });

  it('ignores a BOM at the start of the stream, even split across chunks', () => {
    const bytes = encoder.encode('\uFEFFevent: ping\n\n');
    expect(runChunks(splitAt(bytes, [1, 2])).events).toEqual([['ping', '']]);
    expect(runChunks([bytes]).events).toEqual([['ping', '']]);
  });
});

describe('SseParser: wantData', () => {
  it('drops the data of unwanted events but still dispatches and counts them', () => {
    const seen: string[] = [];
    const events: Dispatched[] = [];
    const parser = new SseParser(
      (name, data) => events.push([name, data]),
      (name) => {
        seen.push(name);
        return name === 'message_start';
      },
    );
    parser.push(
      encoder.encode(
        'event: message_start\ndata: {"a":1}\n\nevent: content_block_delta\ndata: x\ndata: y\n\nevent: ping\n\n',
      ),
    );
    expect(parser.end()).toBe(false);
    expect(events).toEqual([
      ['message_start', '{"a":1}'],
      ['content_block_delta', undefined],
      ['ping', undefined],
    ]);
    expect(parser.eventCount).toBe(3);
    expect(seen).toContain('content_block_delta');
  });

  it('asks about `message` for events without a name', () => {
    const none = runChunks([encoder.encode('data: x\n\n')], () => false);
    expect(none.events).toEqual([['message', undefined]]);
    const all = runChunks([encoder.encode('data: x\n\n')], (name) => name === 'message');
    expect(all.events).toEqual([['message', 'x']]);
  });

  it('an `event:` line after the data lines decides for the whole event', () => {
    const want = (name: string) => name === 'error';
    expect(runChunks([encoder.encode('data: 1\nevent: ping\ndata: 2\n\n')], want).events).toEqual([
      ['ping', undefined],
    ]);
    expect(runChunks([encoder.encode('data: 1\nevent: error\ndata: 2\n\n')], want).events).toEqual([
      ['error', '1\n2'],
    ]);
  });
});

describe('SseParser: eventCount and end()', () => {
  it('counts dispatched events across pushes', () => {
    const parser = new SseParser(() => {});
    expect(parser.eventCount).toBe(0);
    parser.push(encoder.encode('data: 1\n\ndata: 2\n'));
    expect(parser.eventCount).toBe(1);
    parser.push(encoder.encode('\n'));
    expect(parser.eventCount).toBe(2);
    expect(parser.end()).toBe(false);
    expect(parser.eventCount).toBe(2);
  });

  it.each([
    ['', false],
    ['data: x\n\n', false],
    ['data: x\r\n\r\n', false],
    ['data: x\r\r', false],
    [': comment\n', false],
    ['id: 3\nretry: 1\n', false],
    ['data: x\n', true],
    ['event: ping\n', true],
    ['data: x\n\ndata: y', true],
    ['data: x\n\n: comm', true],
    ['data', true],
    ['event: message_stop\r', true],
  ])('end() after %j is %s', (text, leftover) => {
    const out = runChunks([encoder.encode(text)]);
    expect(out.leftover).toBe(leftover);
  });

  it('an incomplete multi-byte character at the very end is a leftover', () => {
    const bytes = encoder.encode('data: x\n\ndata: 😀');
    expect(runChunks([bytes.slice(0, bytes.length - 2)]).leftover).toBe(true);
    expect(runChunks([encoder.encode('data: x\n\n'), new Uint8Array([0xf0, 0x9f])]).leftover).toBe(true);
  });

  it('does not dispatch the incomplete event when ending', () => {
    const out = runChunks([encoder.encode('event: message_stop\ndata: {}\n')]);
    expect(out.events).toEqual([]);
    expect(out.eventCount).toBe(0);
    expect(out.leftover).toBe(true);
  });

  it("lets the listener's exceptions propagate", () => {
    const parser = new SseParser(() => {
      throw new Error('boom');
    });
    expect(() => parser.push(encoder.encode('data: x\n\n'))).toThrow('boom');
  });
});

describe('SseParser: malformed input', () => {
  /** Bytes that make SSE and UTF-8 edge cases likely. */
  const nastyBytes = fc
    .array(
      fc.oneof(
        fc.constantFrom(
          ...[
            'data:',
            'data: ',
            'event:',
            'event: ping',
            ':',
            ' ',
            '\r',
            '\n',
            '\r\n',
            'x',
            'data',
            'id:',
            '😀',
            '中',
            '\uFEFF',
          ].map((s) => [...encoder.encode(s)]),
          [0xef, 0xbb],
          [0xf0, 0x9f],
          [0xe4],
          [0x80],
          [0xff],
          [0xc0, 0x80],
          [0xed, 0xa0, 0x80],
          [0xf4, 0x90, 0x80, 0x80],
          [0],
        ),
        fc.uint8Array({ maxLength: 8 }).map((a) => [...a]),
      ),
      { maxLength: 60 },
    )
    .map((parts) => Uint8Array.from(parts.flat()));

  it('never throws on arbitrary bytes and is independent of the chunking', () => {
    fc.assert(
      fc.property(fc.oneof(nastyBytes, fc.uint8Array({ maxLength: 300 })), chunkingArb, (bytes, how) => {
        const whole = runChunks([bytes]);
        const chunked = runChunks(chunk(bytes, how));
        expect(chunked).toEqual(whole);
        expect(whole.eventCount).toBe(whole.events.length);
        for (const [name, data] of whole.events) {
          expect(typeof name).toBe('string');
          expect(typeof data).toBe('string');
        }
      }),
      { numRuns: 500 },
    );
  });

  it('never throws on arbitrary decoded text', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: 'binary' }), { maxLength: 10 }), (texts) => {
        const parser = new SseParser(() => {});
        for (const t of texts) parser.pushText(t);
        expect(typeof parser.end()).toBe('boolean');
      }),
      { numRuns: 300 },
    );
  });

  it('replaces invalid UTF-8 with U+FFFD instead of failing', () => {
    const bytes = Uint8Array.from([...encoder.encode('data: a'), 0xff, 0xc0, ...encoder.encode('b\n\n')]);
    expect(runChunks([bytes]).events).toEqual([['message', 'a\uFFFD\uFFFDb']]);
  });

  it('reads events without blank lines between them as one event', () => {
    const out = runChunks([encoder.encode('event: a\ndata: 1\nevent: b\ndata: 2\n')]);
    expect(out.events).toEqual([]);
    expect(out.leftover).toBe(true);
  });

  it('handles a huge line fed in many chunks', () => {
    const big = 'x'.repeat(4 * 1024 * 1024);
    const bytes = encoder.encode(`data: ${big}\n\n`);
    const chunks: Uint8Array[] = [];
    for (let i = 0; i < bytes.length; i += 65_536) chunks.push(bytes.subarray(i, i + 65_536));
    const out = runChunks(chunks);
    expect(out.events).toHaveLength(1);
    expect(out.events[0]?.[1]).toHaveLength(big.length);
  });

  it('handles a huge chunk of lines without colons (linear, not quadratic)', () => {
    const lines = 300_000;
    const out = runChunks([encoder.encode(`${'x\n'.repeat(lines)}data: done\n\n`)]);
    expect(out.events).toEqual([['message', 'done']]);
  });
});

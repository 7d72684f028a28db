/**
 * An incremental Server-Sent Events parser that works on raw bytes as they arrive, in any chunking.
 *
 * It follows the SSE framing rules (lines end in `\n`, `\r\n` or `\r`; a blank line dispatches the
 * event; `:` starts a comment; one space after the field's colon is dropped; several `data:` lines
 * join with `\n`) and dispatches an event when it has an `event:` or a `data:` field, as the
 * Anthropic SDK does. Bytes are decoded as UTF-8 in streaming mode, so a multi-byte character split
 * across chunks is decoded once whole.
 *
 * To stay cheap on long streams, the data of an event is only kept when `wantData(eventName)` says
 * so (the observer needs the JSON of `message_start`, `message_delta` and `error`, not of every
 * `content_block_delta`). An event whose data is not kept is dispatched with `data` = `undefined`.
 */
import { concatBytes } from '../bytes.js';
export type SseListener = (event: string, data: string | undefined) => void;

/** Decides whether the data of an event with this name is kept. */
export type WantData = (event: string) => boolean;

const keepAll: WantData = () => true;

// Most frequent first.
const KNOWN_EVENTS = [
  'content_block_delta',
  'ping',
  'message_start',
  'content_block_start',
  'content_block_stop',
  'message_delta',
  'message_stop',
  'ping',
  'error',
].map((name) => ({ name, bytes: new TextEncoder().encode(name) }));

const lineDecoder = new TextDecoder('utf-8', { ignoreBOM: true, fatal: false });
const textEncoder = new TextEncoder();

/**
 * `indexOf` for the `\r` check of whole chunks: Node's `Buffer#indexOf` (memchr) scans a 64 KB
 * chunk some 20 times faster than `Uint8Array#indexOf`, and accepts any `Uint8Array`.
 */
const scan: (this: Uint8Array, value: number) => number =
  (globalThis as { Buffer?: { prototype: { indexOf: (this: Uint8Array, value: number) => number } } }).Buffer
    ?.prototype.indexOf ?? Uint8Array.prototype.indexOf;

/** The frame most events of a stream have: `event: content_block_delta\ndata: {…}\n\n`. */
const DELTA = 'content_block_delta';
const DELTA_LINE = new TextEncoder().encode(`event: ${DELTA}`);
const DATA_PREFIX = new TextEncoder().encode('data: ');

/** The text of `buf[s, e)`, with the Anthropic event names returned as constants (no allocation). */
function nameOf(buf: Uint8Array, s: number, e: number): string {
  const length = e - s;
  for (const known of KNOWN_EVENTS) {
    const bytes = known.bytes;
    if (bytes.length !== length) continue;
    let i = 0;
    while (i < length && buf[s + i] === bytes[i]) i++;
    if (i === length) return known.name;
  }
  return lineDecoder.decode(buf.subarray(s, e));
}

export class SseParser {
  private readonly decoder = new TextDecoder('utf-8', { ignoreBOM: false, fatal: false });
  /**
   * Byte mode: while no `\r` has been seen, lines are cut on raw bytes and only the lines whose
   * content is needed (event names, kept data) are decoded. The first `\r` switches to text mode
   * for the rest of the stream.
   */
  private textMode = false;
  /** Byte mode: the chunks (or their tails) after the last complete line, joined when it ends. */
  private pendingBytes: Uint8Array[] = [];
  /** Text after the last complete line. */
  private pending = '';
  /** The previous chunk ended in `\r`: a leading `\n` in the next one belongs to it. */
  private endedWithCR = false;
  private event: string | undefined;
  private data: string[] = [];
  private hasData = false;
  private keep = true;
  /** Events dispatched so far. */
  eventCount = 0;
  /** Byte mode: bytes in `pendingBytes`. */
  private pendingSize = 0;
  /** A line longer than `maxLineBytes` is being dropped until its end. */
  private skipLine = false;
  /** The current event's data was dropped (a line too long): it is dispatched without data. */
  private dataDropped = false;

  /**
   * @param maxLineBytes The longest line kept (about, in bytes): the rest of a longer one is
   *   dropped as it arrives, so memory stays bounded whatever the server sends (a `data:` line
   *   dropped so still makes its event dispatch, without data). Default: no limit.
   */
  constructor(
    private readonly listener: SseListener,
    private readonly wantData: WantData = keepAll,
    private readonly maxLineBytes: number = Number.POSITIVE_INFINITY,
  ) {}

  /** Data of the current event kept so far (UTF-16 units or bytes). */
  private dataSize = 0;

  /** Bytes (or characters) held of an unfinished line and of the current event's data. */
  get heldBytes(): number {
    return this.pendingSize + this.pending.length + this.dataSize;
  }

  /**
   * Hands over what is held of the event under way as SSE text that reproduces it (its `event:`
   * line, its complete `data:` lines, the start of the line being read, with no line end), and
   * forgets it: the bytes that follow continue that text. For a reader that stops parsing midway
   * and passes the rest of the stream through.
   */
  takePartial(): Uint8Array {
    let head = '';
    if (this.event !== undefined) head += `event: ${this.event}\n`;
    for (const line of this.data) head += `data: ${line}\n`;
    // Byte mode: the line under way as received; text mode: as decoded (a character whose bytes
    // are split across this point is the decoder's and comes out as U+FFFD).
    const out = concatBytes([
      textEncoder.encode(head),
      ...this.pendingBytes,
      textEncoder.encode(this.pending),
    ]);
    this.pendingBytes = [];
    this.pendingSize = 0;
    this.pending = '';
    this.resetEvent();
    return out;
  }

  /** The line being read is too long: remember its field, drop it until its end. */
  private dropLine(start: string): void {
    const colon = start.indexOf(':');
    const field = colon === -1 ? start : start.slice(0, colon);
    if (field === 'data' || field === '\uFEFFdata') {
      this.hasData = true;
      this.dataDropped = true;
    } else if (field === 'event') {
      this.event = 'unknown';
      this.keep = false;
    }
    this.pendingBytes = [];
    this.pendingSize = 0;
    this.pending = '';
    this.skipLine = true;
  }

  /** Feed the next chunk of bytes. Never throws for malformed input; the listener's throws propagate. */
  push(chunk: Uint8Array): void {
    if (this.skipLine && !this.textMode) {
      if (scan.call(chunk, 13) !== -1) {
        this.textMode = true;
      } else {
        const end = chunk.indexOf(10);
        if (end === -1) return;
        this.skipLine = false;
        this.push(chunk.subarray(end + 1));
        return;
      }
    }
    if (this.textMode) {
      this.pushText(this.decoder.decode(chunk, { stream: true }));
      return;
    }
    if (scan.call(chunk, 13) !== -1) {
      // Hand what is pending to the text parser, which handles `\r` and `\r\n` across chunks.
      this.textMode = true;
      this.pendingBytes.push(chunk);
      const pending = concatBytes(this.pendingBytes);
      this.pendingBytes = [];
      this.pendingSize = 0;
      this.pushText(this.decoder.decode(pending, { stream: true }));
      return;
    }
    let start = 0;
    if (this.pendingBytes.length > 0) {
      const end = chunk.indexOf(10);
      if (end === -1) {
        if (chunk.byteLength > 0) this.holdBytes(chunk);
        return;
      }
      this.pendingBytes.push(chunk.subarray(0, end));
      const line = concatBytes(this.pendingBytes);
      this.pendingBytes = [];
      this.pendingSize = 0;
      this.byteLine(line, 0, line.byteLength);
      start = end + 1;
    }
    const n = chunk.byteLength;
    while (start < n) {
      if (this.event === undefined && !this.hasData) {
        const next = this.deltaEvent(chunk, start);
        if (next !== -1) {
          start = next;
          continue;
        }
      }
      const end = chunk.indexOf(10, start);
      if (end === -1) break;
      this.byteLine(chunk, start, end);
      start = end + 1;
    }
    if (start < n) this.holdBytes(chunk.subarray(start));
  }

  /** Keeps the start of an unfinished line, or drops the line once it is too long. */
  private holdBytes(bytes: Uint8Array): void {
    this.pendingBytes.push(bytes);
    this.pendingSize += bytes.byteLength;
    if (this.pendingSize > this.maxLineBytes) {
      const head = concatBytes(this.pendingBytes).subarray(0, 16);
      this.dropLine(lineDecoder.decode(head));
    }
  }

  /**
   * The fast path of the canonical Anthropic frame `event: content_block_delta\ndata: …\n\n`, whole in
   * `buf` from `start`, between events: dispatched as the line parser would, without cutting and
   * inspecting its lines one by one. Returns where the next event starts, or -1 (nothing consumed)
   * when the bytes there are not that whole frame.
   */
  private deltaEvent(buf: Uint8Array, start: number): number {
    const lineEnd = start + DELTA_LINE.length;
    const dataStart = lineEnd + 1 + DATA_PREFIX.length;
    if (dataStart > buf.byteLength || buf[lineEnd] !== 10) return -1;
    for (let i = 0; i < DELTA_LINE.length; i++) if (buf[start + i] !== DELTA_LINE[i]) return -1;
    for (let i = 0; i < DATA_PREFIX.length; i++) if (buf[lineEnd + 1 + i] !== DATA_PREFIX[i]) return -1;
    const dataEnd = buf.indexOf(10, dataStart);
    if (dataEnd === -1 || buf[dataEnd + 1] !== 10) return -1;
    const keep = this.wantData(DELTA);
    const data = keep ? lineDecoder.decode(buf.subarray(dataStart, dataEnd)) : undefined;
    this.eventCount++;
    this.listener(DELTA, data);
    return dataEnd + 2;
  }

  private byteLine(buf: Uint8Array, start: number, end: number): void {
    let s = start;
    // A BOM at the start of a line is ignored (the decoder drops one at the start of the stream).
    if (end - s >= 3 && buf[s] === 0xef && buf[s + 1] === 0xbb && buf[s + 2] === 0xbf) s += 3;
    if (s === end) {
      this.dispatch();
      return;
    }
    let fieldEnd = s;
    while (fieldEnd < end && buf[fieldEnd] !== 58) fieldEnd++;
    if (fieldEnd === s) return; // comment line (or empty field name)
    let valueStart = fieldEnd === end ? end : fieldEnd + 1;
    if (valueStart < end && buf[valueStart] === 32) valueStart++;
    const len = fieldEnd - s;
    if (
      len === 5 &&
      buf[s] === 101 &&
      buf[s + 1] === 118 &&
      buf[s + 2] === 101 &&
      buf[s + 3] === 110 &&
      buf[s + 4] === 116
    ) {
      this.event = nameOf(buf, valueStart, end);
      this.keep = this.wantData(this.event);
    } else if (len === 4 && buf[s] === 100 && buf[s + 1] === 97 && buf[s + 2] === 116 && buf[s + 3] === 97) {
      this.hasData = true;
      if (this.keep) {
        this.data.push(lineDecoder.decode(buf.subarray(valueStart, end)));
        this.dataSize += end - valueStart;
      }
    }
  }

  /** Feed already decoded text (used by tests and by `push`). */
  pushText(decoded: string): void {
    let text = decoded;
    if (this.skipLine) {
      // The rest of a line too long: dropped up to its end.
      let i = 0;
      while (i < text.length && text.charCodeAt(i) !== 10 && text.charCodeAt(i) !== 13) i++;
      if (i === text.length) return;
      this.skipLine = false;
      if (text.charCodeAt(i) === 13) {
        if (i + 1 === text.length) this.endedWithCR = true;
        else if (text.charCodeAt(i + 1) === 10) i++;
      }
      text = text.slice(i + 1);
      if (text.length === 0) return;
    }
    // An empty piece (an empty chunk, or bytes of a character not yet complete) says nothing about
    // a `\n` after a trailing `\r`: keep `endedWithCR` for the next piece.
    if (text.length === 0) return;
    if (this.endedWithCR) {
      this.endedWithCR = false;
      if (text.charCodeAt(0) === 10) text = text.slice(1);
    }
    if (text.length === 0) return;
    if (text.indexOf('\n') === -1 && text.indexOf('\r') === -1) {
      // No line ends: just remember it (V8 concatenates lazily, so long lines stay linear).
      this.pending += text;
      if (this.pending.length > this.maxLineBytes) this.dropLine(this.pending.slice(0, 16));
      return;
    }
    if (this.pending.length > 0) text = this.pending + text;
    let start = 0;
    const n = text.length;
    if (text.indexOf('\r') === -1) {
      let end = text.indexOf('\n', start);
      while (end !== -1) {
        this.line(text, start, end);
        start = end + 1;
        end = text.indexOf('\n', start);
      }
    } else {
      for (let i = 0; i < n; i++) {
        const c = text.charCodeAt(i);
        if (c === 10 || c === 13) {
          this.line(text, start, i);
          if (c === 13) {
            if (i + 1 < n) {
              if (text.charCodeAt(i + 1) === 10) i++;
            } else {
              this.endedWithCR = true;
            }
          }
          start = i + 1;
        }
      }
    }
    this.pending = start < n ? text.slice(start) : '';
  }

  /**
   * The input has ended. Returns true when bytes of an incomplete event were left over (a stream cut
   * inside an event); per the SSE rules, such an event is not dispatched.
   */
  end(): boolean {
    const pendingBytes = concatBytes(this.pendingBytes.length > 0 ? this.pendingBytes : [new Uint8Array(0)]);
    this.pendingBytes = [];
    this.pendingSize = 0;
    this.pushText(this.decoder.decode(pendingBytes));
    this.skipLine = false;
    const leftover = this.pending.length > 0 || this.event !== undefined || this.hasData;
    this.pending = '';
    this.resetEvent();
    return leftover;
  }

  private resetEvent(): void {
    this.event = undefined;
    this.dataDropped = false;
    if (this.data.length > 0) this.data = [];
    this.dataSize = 0;
    this.hasData = false;
    this.keep = true;
  }

  private dispatch(): void {
    if (this.event === undefined && !this.hasData) return;
    const name = this.event ?? 'message';
    // Without an `event:` line, `keep` was never decided: ask about the default name.
    const keep = (this.event === undefined ? this.wantData(name) : this.keep) && !this.dataDropped;
    const data = keep
      ? this.data.length === 1
        ? (this.data[0] as string)
        : this.data.join('\n')
      : undefined;
    this.resetEvent();
    this.eventCount++;
    this.listener(name, data);
  }

  private line(text: string, start: number, end: number): void {
    if (start === end) {
      this.dispatch();
      return;
    }
    let s = start;
    // A BOM at the start of a line is ignored (as the SDK does).
    if (text.charCodeAt(s) === 0xfeff) s++;
    // Look for the colon within this line only: searching the rest of the text would make a chunk
    // of many colon-less lines quadratic.
    let fieldEnd = s;
    while (fieldEnd < end && text.charCodeAt(fieldEnd) !== 58) fieldEnd++;
    if (fieldEnd === s) return; // comment line (or empty field name)
    let valueStart = fieldEnd === end ? end : fieldEnd + 1;
    if (valueStart < end && text.charCodeAt(valueStart) === 32) valueStart++;
    const len = fieldEnd - s;
    if (len === 5 && text.startsWith('event', s)) {
      this.event = text.slice(valueStart, end);
      this.keep = this.wantData(this.event);
    } else if (len === 4 && text.startsWith('data', s)) {
      this.hasData = true;
      if (this.keep) {
        this.data.push(text.slice(valueStart, end));
        this.dataSize += end - valueStart;
      }
    }
    // `id`, `retry` and unknown fields are ignored.
  }
}

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
export type SseListener = (event: string, data: string | undefined) => void;

/** Decides whether the data of an event with this name is kept. */
export type WantData = (event: string) => boolean;

const keepAll: WantData = () => true;

export class SseParser {
  private readonly decoder = new TextDecoder('utf-8', { ignoreBOM: false, fatal: false });
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

  constructor(
    private readonly listener: SseListener,
    private readonly wantData: WantData = keepAll,
  ) {}

  /** Feed the next chunk of bytes. Never throws for malformed input; the listener's throws propagate. */
  push(chunk: Uint8Array): void {
    this.pushText(this.decoder.decode(chunk, { stream: true }));
  }

  /** Feed already decoded text (used by tests and by `push`). */
  pushText(decoded: string): void {
    let text = decoded;
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
    this.pushText(this.decoder.decode());
    const leftover = this.pending.length > 0 || this.event !== undefined || this.hasData;
    this.pending = '';
    this.resetEvent();
    return leftover;
  }

  private resetEvent(): void {
    this.event = undefined;
    this.data = [];
    this.hasData = false;
    this.keep = true;
  }

  private line(text: string, start: number, end: number): void {
    if (start === end) {
      if (this.event === undefined && !this.hasData) return;
      const name = this.event ?? 'message';
      // Without an `event:` line, `keep` was never decided: ask about the default name.
      const keep = this.event === undefined ? this.wantData(name) : this.keep;
      const data = keep ? this.data.join('\n') : undefined;
      this.resetEvent();
      this.eventCount++;
      this.listener(name, data);
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
      if (this.keep) this.data.push(text.slice(valueStart, end));
    }
    // `id`, `retry` and unknown fields are ignored.
  }
}

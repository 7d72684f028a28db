/**
 * How an attempt learns what its response body said, and when the body is over, without changing
 * what the consumer receives.
 *
 * - Successful non-streamed responses are *tapped*: the response object handed to the consumer is
 *   the original one, whose body readers (`json()`, `text()`, `arrayBuffer()`, `bytes()`, `blob()`,
 *   `formData()` and `body`) are shadowed by own properties that call the originals and record the
 *   result. No copy, no second parse: the SDK's `response.json()` value is the one we read usage from.
 * - Error responses (status ≥ 400) are *buffered*: read whole (they are small: an error body or a
 *   proxy's page) so that the span carries the API's `error.type` even when the SDK cancels the body
 *   before retrying, then handed over as a new response with the same bytes.
 * - Streams are observed chunk by chunk (`sse/recorder.ts`) behind a new response with the same
 *   status and headers.
 */
import { type AttemptRecorder, errorTypeOfException, truncate } from './recorder.js';
import type { ClaudeRequest } from './request.js';
import { type BodyEnd, observeBody } from './sse/observer.js';
import { errorTypeOf, readMessage } from './usage.js';

/** Error bodies up to this size are read before the response is handed over. */
const MAX_BUFFERED_BODY = 16 * 1024 * 1024;
/** Successful JSON bodies read through `body` are parsed for usage up to this size. */
const MAX_OBSERVED_JSON = 16 * 1024 * 1024;

const decoder = new TextDecoder();

/** Tapped responses that nobody read still end their span when collected. */
const abandoned = new FinalizationRegistry<AttemptRecorder>((rec) => rec.end('cancelled'));

/** A response with the same status, headers and URL and another body. */
export function rebuild(response: Response, body: ReadableStream<Uint8Array> | Uint8Array | null): Response {
  const copy = new Response(body as BodyInit | null, {
    status: response.status,
    statusText: response.statusText,
    headers: response.headers,
  });
  if (response.url) Object.defineProperty(copy, 'url', { value: response.url });
  return copy;
}

function findGetter(target: object, name: string): ((this: unknown) => unknown) | undefined {
  let proto: object | null = Object.getPrototypeOf(target);
  while (proto !== null) {
    const descriptor = Object.getOwnPropertyDescriptor(proto, name);
    if (descriptor) return descriptor.get;
    proto = Object.getPrototypeOf(proto);
  }
  return undefined;
}

/** Records what a successful non-streamed body said, from its parsed value. */
function recordValue(rec: AttemptRecorder, req: ClaudeRequest, value: unknown): void {
  if (req.operation !== 'chat') return;
  readMessage(rec.facts, value);
  const capture = rec.env.captureContent;
  if (capture !== undefined && typeof value === 'object' && value !== null) {
    const content = (value as { content?: unknown }).content;
    if (content !== undefined) rec.output = truncate(JSON.stringify(content), capture);
  }
}

/** Records a successful non-streamed body from its text. */
function recordText(rec: AttemptRecorder, req: ClaudeRequest, text: string, isJson: boolean): void {
  if (!isJson || req.operation !== 'chat') return;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    rec.anomaly('invalid_json');
    rec.errorType = 'invalid_response';
    return;
  }
  recordValue(rec, req, value);
}

function failBody(rec: AttemptRecorder, req: ClaudeRequest, error: unknown): void {
  if (error instanceof SyntaxError) {
    rec.anomaly('invalid_json');
    rec.errorType = 'invalid_response';
    rec.end('error', error);
    return;
  }
  rec.errorType ??= errorTypeOfException(error, req.signal);
  rec.end(rec.errorType === 'aborted' ? 'cancelled' : 'error', error);
}

/** The body readers of a response prototype (undici's, or another fetch's). */
interface Readers {
  json(this: Response): Promise<unknown>;
  text(this: Response): Promise<string>;
  arrayBuffer(this: Response): Promise<ArrayBuffer>;
  bytes: ((this: Response) => Promise<Uint8Array<ArrayBuffer>>) | undefined;
  blob(this: Response): Promise<Blob>;
  formData(this: Response): Promise<FormData>;
  body(this: Response): ReadableStream<Uint8Array> | null;
}

const readersByPrototype = new WeakMap<object, Readers | null>();

function readersOf(response: Response): Readers | null {
  const proto: object | null = Object.getPrototypeOf(response);
  if (proto === null) return null;
  let readers = readersByPrototype.get(proto);
  if (readers === undefined) {
    const body = findGetter(response, 'body');
    const r = response as Response & { bytes?: () => Promise<Uint8Array<ArrayBuffer>> };
    readers =
      body === undefined || typeof r.json !== 'function'
        ? null
        : {
            json: r.json,
            text: r.text,
            arrayBuffer: r.arrayBuffer,
            bytes: r.bytes,
            blob: r.blob,
            formData: r.formData,
            body: body as (this: Response) => ReadableStream<Uint8Array> | null,
          };
    readersByPrototype.set(proto, readers);
  }
  return readers;
}

/** What a tapped response records into. */
interface Tap {
  readonly rec: AttemptRecorder;
  readonly req: ClaudeRequest;
  readonly isJson: boolean;
  readonly readers: Readers;
  observed: ReadableStream<Uint8Array> | null | undefined;
}

const taps = new WeakMap<object, Tap>();

function tapOf(self: unknown): Tap {
  const tap = taps.get(self as object);
  if (tap === undefined) throw new TypeError('Illegal invocation');
  return tap;
}

function settle<T>(tap: Tap, promise: Promise<T>, record: (tap: Tap, value: T) => void): Promise<T> {
  const { rec, req } = tap;
  return promise.then(
    (value) => {
      rec.env.telemetry.safely('read_body', () => record(tap, value));
      rec.end(rec.errorType !== undefined ? 'error' : 'ok');
      return value;
    },
    (error: unknown) => {
      failBody(rec, req, error);
      throw error;
    },
  );
}

const fromValue = (tap: Tap, value: unknown): void => recordValue(tap.rec, tap.req, value);
const fromText = (tap: Tap, text: string): void => recordText(tap.rec, tap.req, text, tap.isJson);
const fromBytes = (tap: Tap, bytes: ArrayBuffer | Uint8Array): void => {
  if (tap.isJson && tap.req.operation === 'chat') recordText(tap.rec, tap.req, decoder.decode(bytes), true);
};
const nothing = (): void => {};

/** The shadowing readers: shared functions that find their response's tap (no closure per response). */
const tapped = {
  json(this: Response): Promise<unknown> {
    const tap = tapOf(this);
    return settle(tap, tap.readers.json.call(this), fromValue);
  },
  text(this: Response): Promise<string> {
    const tap = tapOf(this);
    return settle(tap, tap.readers.text.call(this), fromText);
  },
  arrayBuffer(this: Response): Promise<ArrayBuffer> {
    const tap = tapOf(this);
    return settle(tap, tap.readers.arrayBuffer.call(this), fromBytes);
  },
  bytes(this: Response): Promise<Uint8Array<ArrayBuffer>> {
    const tap = tapOf(this);
    const bytes = tap.readers.bytes;
    if (bytes === undefined) return Promise.reject(new TypeError('bytes() is not supported'));
    return settle(tap, bytes.call(this), fromBytes);
  },
  blob(this: Response): Promise<Blob> {
    const tap = tapOf(this);
    return settle(tap, tap.readers.blob.call(this), nothing);
  },
  formData(this: Response): Promise<FormData> {
    const tap = tapOf(this);
    return settle(tap, tap.readers.formData.call(this), nothing);
  },
};

const tappedBody: PropertyDescriptor = {
  configurable: true,
  get(this: Response): ReadableStream<Uint8Array> | null {
    const tap = tapOf(this);
    if (tap.observed !== undefined) return tap.observed;
    const body = tap.readers.body.call(this);
    tap.observed = body === null ? null : observeJsonBody(tap.rec, tap.req, body, tap.isJson);
    if (body === null) tap.rec.end('ok');
    return tap.observed;
  },
};

/**
 * Shadows the body readers of a successful non-streamed response with own properties that call the
 * originals and record the result. Returns false when the response cannot be tapped (a frozen or
 * unusual object), in which case the caller buffers it instead.
 */
export function tapResponse(
  rec: AttemptRecorder,
  req: ClaudeRequest,
  response: Response,
  isJson: boolean,
): boolean {
  const readers = readersOf(response);
  if (readers === null || !Object.isExtensible(response)) return false;
  try {
    Object.defineProperty(response, 'body', tappedBody);
    const target = response as Response & Record<keyof typeof tapped, unknown>;
    target.json = tapped.json;
    target.text = tapped.text;
    target.arrayBuffer = tapped.arrayBuffer;
    target.blob = tapped.blob;
    target.formData = tapped.formData;
    if (readers.bytes !== undefined) target.bytes = tapped.bytes;
  } catch {
    return false;
  }
  taps.set(response, { rec, req, isJson, readers, observed: undefined });
  abandoned.register(response, rec, rec);
  rec.onEnd = () => abandoned.unregister(rec);
  return true;
}

/** A successful body read through `body`: passed through, its JSON parsed at the end for usage. */
function observeJsonBody(
  rec: AttemptRecorder,
  req: ClaudeRequest,
  body: ReadableStream<Uint8Array>,
  isJson: boolean,
): ReadableStream<Uint8Array> {
  const keep = isJson && req.operation === 'chat';
  const chunks: Uint8Array[] = [];
  let size = 0;
  return observeBody(body, req.signal, {
    onChunk(chunk) {
      if (!keep || size > MAX_OBSERVED_JSON) return;
      chunks.push(chunk);
      size += chunk.byteLength;
    },
    onEnd(end: BodyEnd) {
      if (end.kind === 'error') {
        failBody(rec, req, end.error);
        return;
      }
      if (end.kind === 'complete' && keep && size <= MAX_OBSERVED_JSON) {
        rec.env.telemetry.safely('read_body', () =>
          recordText(rec, req, decoder.decode(concat(chunks, size)), true),
        );
      }
      rec.end(rec.errorType !== undefined ? 'error' : end.kind === 'complete' ? 'ok' : 'cancelled');
    },
  });
}

function concat(chunks: Uint8Array[], size: number): Uint8Array {
  if (chunks.length === 1 && chunks[0] !== undefined) return chunks[0];
  const out = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

async function readAll(body: ReadableStream<Uint8Array>): Promise<{ bytes: Uint8Array; error?: unknown }> {
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.byteLength;
    }
  } catch (error) {
    return { bytes: concat(chunks, size), error };
  }
  return { bytes: concat(chunks, size) };
}

/** A body that yields `bytes` and then fails with `error`, as the original did. */
function failingBody(bytes: Uint8Array, error: unknown): ReadableStream<Uint8Array> {
  let sent = false;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (!sent && bytes.byteLength > 0) {
        sent = true;
        controller.enqueue(bytes);
        return;
      }
      controller.error(error);
    },
  });
}

/** Whether a response can be rebuilt from buffered bytes. */
export function isBufferable(response: Response): boolean {
  const status = response.status;
  if (status < 200 || status > 599 || status === 204 || status === 205 || status === 304) return false;
  const length = response.headers.get('content-length');
  if (length !== null && Number(length) > MAX_BUFFERED_BODY) return false;
  const type = response.headers.get('content-type') ?? '';
  return type === '' || type.includes('json') || type.startsWith('text/');
}

/**
 * Reads a body whole, records what it says (the API's error type for errors, usage for a message),
 * ends the span and returns a response with the same bytes. A body that fails midway is handed over
 * failing the same way after the same bytes.
 */
export async function bufferResponse(
  rec: AttemptRecorder,
  req: ClaudeRequest,
  response: Response,
  body: ReadableStream<Uint8Array>,
  isJson: boolean,
): Promise<Response> {
  const { bytes, error } = await readAll(body);
  if (error !== undefined) {
    rec.errorType ??= errorTypeOfException(error, req.signal);
    rec.end(rec.errorType === 'aborted' ? 'cancelled' : 'error', error);
    return rebuild(response, failingBody(bytes, error));
  }
  rec.env.telemetry.safely('read_body', () => {
    const text = bytes.byteLength > 0 ? decoder.decode(bytes) : '';
    if (response.status >= 400) {
      let parsed: unknown;
      try {
        parsed = isJson && text ? JSON.parse(text) : undefined;
      } catch {
        rec.anomaly('invalid_json');
      }
      rec.errorType = errorTypeOf(parsed) ?? String(response.status);
    } else if (isJson) {
      if (text === '') {
        rec.anomaly('invalid_json');
        rec.errorType = 'invalid_response';
      } else {
        recordText(rec, req, text, true);
      }
    }
  });
  rec.end(rec.errorType !== undefined ? 'error' : 'ok');
  return rebuild(response, bytes.byteLength > 0 ? bytes : null);
}

/** A body that is neither parsed nor buffered (large, binary): the span ends with it. */
export function passThrough(
  rec: AttemptRecorder,
  req: ClaudeRequest,
  response: Response,
  body: ReadableStream<Uint8Array>,
): Response {
  const observed = observeBody(body, req.signal, {
    onChunk() {},
    onEnd(end) {
      if (end.kind === 'error') {
        failBody(rec, req, end.error);
      } else {
        rec.end(rec.errorType !== undefined ? 'error' : end.kind === 'complete' ? 'ok' : 'cancelled');
      }
    },
  });
  return rebuild(response, observed);
}

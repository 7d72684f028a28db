/**
 * How an attempt learns what its response body said, and when the body is over, without changing
 * what the consumer receives.
 *
 * - Successful non-streamed responses are *tapped*: the consumer gets a proxy of the original
 *   response whose body readers (`json()`, `text()`, `arrayBuffer()`, `bytes()`, `blob()`,
 *   `formData()` and `body`) call the originals and record the result. No copy, no second parse: the
 *   SDK's `response.json()` value is the one usage is read from, and the original is never modified
 *   (own properties or a new prototype on undici's responses cost far more than a proxy).
 * - Error responses (status ≥ 400) are *buffered*: read (at most 64 KiB, waiting at most 1 s by
 *   default: an error body is small, a stalled or endless one must not hold the caller) so that the
 *   span carries the API's `error.type` even when the SDK cancels the body before retrying, then
 *   handed over as a new response with the same bytes (and the rest of the body, if any, after them).
 * - Streams are observed chunk by chunk (`sse/recorder.ts`) behind a new response with the same
 *   status and headers.
 */
import { concatBytes } from './bytes.js';
import { type AttemptRecorder, type ErrorBodyLimits, errorTypeOfException, truncate } from './recorder.js';
import type { ClaudeRequest } from './request.js';
import { withBody } from './response.js';
import { type BodyEnd, observeBody } from './sse/observer.js';
import { errorTypeOf, readMessage } from './usage.js';

/** Successful JSON bodies read through `body` are parsed for usage up to this size. */
const MAX_OBSERVED_JSON = 16 * 1024 * 1024;

const decoder = new TextDecoder();

/**
 * Tapped responses that nobody read still end their span when collected. Once a read has started
 * (a body reader was called, or `body` was taken), the read ends the span: the consumer may drop the
 * response and keep only the read or the stream (`observeBody` ends a stream dropped unread).
 */
const abandoned = new FinalizationRegistry<AttemptRecorder>((rec) => rec.end('cancelled'));

/** A successful streamed (SSE) response with a body. */
export function isEventStream(response: Response): boolean {
  return (
    response.status >= 200 &&
    response.status < 300 &&
    response.body !== null &&
    (response.headers.get('content-type') ?? '').includes('text/event-stream')
  );
}

/**
 * A response with the same status, headers and URL and another body (any status the server sent,
 * even one `new Response()` refuses: see `response.ts`).
 */
export function rebuild(response: Response, body: ReadableStream<Uint8Array> | Uint8Array | null): Response {
  return withBody(response, body);
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

/** What a tapped response records into. */
interface Tap {
  readonly rec: AttemptRecorder;
  readonly req: ClaudeRequest;
  readonly isJson: boolean;
  observed: ReadableStream<Uint8Array> | null | undefined;
  /** The body `observed` was made from. */
  source: ReadableStream<Uint8Array> | null | undefined;
  /**
   * Set when a body reader (`json()`, …) reads the observed body: that reader records from its
   * result and ends the span, so the observer neither keeps the chunks nor parses them a second
   * time. (A separate object: the observer must not hold the tap, which holds the body.)
   */
  readonly reader: { reading: boolean };
}

const taps = new WeakMap<object, Tap>();

function settle<T>(
  tap: Tap,
  promise: Promise<T>,
  record: (tap: Tap, value: T) => void | Promise<void>,
): Promise<T> {
  const { rec, req } = tap;
  const { telemetry } = rec.env;
  const finish = (value: T): T => {
    rec.end(rec.errorType !== undefined ? 'error' : 'ok');
    return value;
  };
  return promise.then(
    (value) => {
      const recorded = telemetry.safely('read_body', () => record(tap, value));
      if (!(recorded instanceof Promise)) return finish(value);
      // A blob is read (in memory) before it is handed over, so that the span ends with its usage.
      return recorded.then(
        () => finish(value),
        (error: unknown) => {
          telemetry.failed('read_body', error);
          return finish(value);
        },
      );
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
const fromBlob = (tap: Tap, blob: Blob): Promise<void> | undefined =>
  tap.isJson && tap.req.operation === 'chat'
    ? blob.arrayBuffer().then((bytes) => fromBytes(tap, bytes))
    : undefined;
const nothing = (): void => {};

type Reader = (this: Response) => Promise<unknown>;
type Record_ = (tap: Tap, value: unknown) => void | Promise<void>;
/** The body readers, and what each records from its result. */
const READERS = new Map<string, Record_>([
  ['json', fromValue],
  ['text', fromText as Record_],
  ['arrayBuffer', fromBytes as Record_],
  ['bytes', fromBytes as Record_],
  ['blob', fromBlob as Record_],
  ['formData', nothing],
]);

function tappedBody(target: Response, tap: Tap): ReadableStream<Uint8Array> | null {
  const body = target.body as ReadableStream<Uint8Array> | null;
  if (tap.observed === undefined) {
    abandoned.unregister(tap.rec);
    tap.source = body;
    tap.observed = body === null ? null : observeJsonBody(tap.rec, tap.req, body, tap.isJson, tap.reader);
    if (body === null) tap.rec.end('ok');
  } else if (body !== tap.source) {
    // `clone()` replaced the body by a branch of the observed one (its `tee()` goes through the observer).
    return body;
  }
  return tap.observed;
}

/**
 * The proxy handler of tapped responses: body readers record what they read, everything else is the
 * original's (methods bound to it, so brand checks pass). The original response is never modified.
 */
const handler: ProxyHandler<Response> = {
  get(target, prop) {
    const tap = taps.get(target);
    if (tap !== undefined && typeof prop === 'string') {
      if (prop === 'body') return tappedBody(target, tap);
      const record = READERS.get(prop);
      if (record !== undefined) {
        const read = Reflect.get(target, prop, target) as unknown;
        if (typeof read === 'function') {
          return () => {
            // An unusable body: the original rejects without reading, and the read under way (if
            // any) ends the span.
            if (target.bodyUsed || target.body?.locked === true) return (read as Reader).call(target);
            abandoned.unregister(tap.rec);
            // `body` was taken but not read (the SDK does so before `json()`): the reader reads it.
            if (tap.observed != null) tap.reader.reading = true;
            return settle(tap, (read as Reader).call(target), record);
          };
        }
      }
    }
    const value = Reflect.get(target, prop, target) as unknown;
    return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
  },
};

/**
 * Makes the body readers of a successful non-streamed response record what they read: the caller
 * gets a proxy of the response whose `json()`, `text()`, `arrayBuffer()`, `bytes()`, `blob()`,
 * `formData()` and `body` call the originals and record the result; status, headers and every other
 * property are the original's.
 */
export function tapResponse(
  rec: AttemptRecorder,
  req: ClaudeRequest,
  response: Response,
  isJson: boolean,
): Response {
  taps.set(response, {
    rec,
    req,
    isJson,
    observed: undefined,
    source: undefined,
    reader: { reading: false },
  });
  const proxy = new Proxy(response, handler);
  abandoned.register(proxy, rec, rec);
  rec.addCleanup(() => abandoned.unregister(rec));
  return proxy;
}

/**
 * A successful body read through `body`: passed through, its JSON parsed at the end for usage
 * (unless a body reader reads it: that one records and ends the span).
 */
function observeJsonBody(
  rec: AttemptRecorder,
  req: ClaudeRequest,
  body: ReadableStream<Uint8Array>,
  isJson: boolean,
  reader: { readonly reading: boolean },
): ReadableStream<Uint8Array> {
  const keep = isJson && req.operation === 'chat';
  const chunks: Uint8Array[] = [];
  let size = 0;
  return observeBody(body, req.signal, {
    onChunk(chunk) {
      if (!keep || reader.reading || size > MAX_OBSERVED_JSON) return;
      chunks.push(chunk);
      size += chunk.byteLength;
    },
    onEnd(end: BodyEnd) {
      if (end.kind === 'error') {
        failBody(rec, req, end.error);
        return;
      }
      if (end.kind === 'complete' && reader.reading) return;
      if (end.kind === 'complete' && keep && size <= MAX_OBSERVED_JSON) {
        rec.env.telemetry.safely('read_body', () =>
          recordText(rec, req, decoder.decode(concatBytes(chunks)), true),
        );
      }
      rec.end(rec.errorType !== undefined ? 'error' : end.kind === 'complete' ? 'ok' : 'cancelled');
    },
    released: () => reader.reading,
  });
}

interface BoundedRead {
  readonly bytes: Uint8Array;
  /** The body ended within the bounds (or failed: `error`). */
  readonly whole: boolean;
  readonly error?: unknown;
  /** When not whole: the reader of the rest, and the read under way when time ran out. */
  readonly reader?: ReadableStreamDefaultReader<Uint8Array>;
  readonly pending?: Promise<ReadableStreamReadResult<Uint8Array>>;
}

/**
 * Reads a body until it ends, `maxBytes` arrived, or `maxWaitMs` passed — whichever comes first —
 * so that an error body that stalls or never ends costs neither the caller's time nor memory.
 */
async function readBounded(body: ReadableStream<Uint8Array>, limits: ErrorBodyLimits): Promise<BoundedRead> {
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  let expire!: (value: 'expired') => void;
  const expired = new Promise<'expired'>((resolve) => {
    expire = resolve;
  });
  const timer = limits.clock.setTimer(() => expire('expired'), limits.maxWaitMs);
  try {
    while (size < limits.maxBytes) {
      const read = reader.read();
      const result = await Promise.race([read, expired]);
      if (result === 'expired') {
        // The rest's reader awaits it; until then, its failure is nobody's.
        read.catch(() => undefined);
        return { bytes: concatBytes(chunks), whole: false, reader, pending: read };
      }
      if (result.done) return { bytes: concatBytes(chunks), whole: true };
      chunks.push(result.value);
      size += result.value.byteLength;
    }
    return { bytes: concatBytes(chunks), whole: false, reader };
  } catch (error) {
    return { bytes: concatBytes(chunks), whole: true, error };
  } finally {
    timer.cancel();
  }
}

/** A body that yields `head`, then the rest of the original (the read under way first), as it comes. */
function continuedBody(
  head: Uint8Array,
  reader: ReadableStreamDefaultReader<Uint8Array>,
  pending: Promise<ReadableStreamReadResult<Uint8Array>> | undefined,
): ReadableStream<Uint8Array> {
  let first: Uint8Array | undefined = head.byteLength > 0 ? head : undefined;
  let next = pending;
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        if (first !== undefined) {
          controller.enqueue(first);
          first = undefined;
          return;
        }
        const read = next ?? reader.read();
        next = undefined;
        const result = await read;
        if (result.done) controller.close();
        else controller.enqueue(result.value);
      },
      cancel(reason) {
        return reader.cancel(reason).catch(() => undefined);
      },
    },
    { highWaterMark: 0 },
  );
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
  const type = response.headers.get('content-type') ?? '';
  return type === '' || type.includes('json') || type.startsWith('text/');
}

/**
 * Reads an error body — at most `limits.maxBytes`, waiting at most `limits.maxWaitMs` (whatever
 * `content-length` says) — records the API's error type from it, ends the span and returns a
 * response with the same bytes: what was read, then the rest of the original body as it comes
 * (the SDK cancels it when it retries, as it would have without us). A body that fails midway is
 * handed over failing the same way after the same bytes.
 */
export async function bufferResponse(
  rec: AttemptRecorder,
  req: ClaudeRequest,
  response: Response,
  body: ReadableStream<Uint8Array>,
  isJson: boolean,
  limits: ErrorBodyLimits,
): Promise<Response> {
  const read = await readBounded(body, limits);
  const { bytes, error } = read;
  if (error !== undefined) {
    rec.errorType ??= errorTypeOfException(error, req.signal);
    rec.end(rec.errorType === 'aborted' ? 'cancelled' : 'error', error);
    return rebuild(response, failingBody(bytes, error));
  }
  rec.env.telemetry.safely('read_body', () => {
    const text = bytes.byteLength > 0 ? decoder.decode(bytes) : '';
    let parsed: unknown;
    try {
      parsed = isJson && text ? JSON.parse(text) : undefined;
    } catch {
      // A cut body (the bounds) is not an anomaly of the server's.
      if (read.whole) rec.anomaly('invalid_json');
    }
    rec.errorType = errorTypeOf(parsed) ?? String(response.status);
  });
  rec.end('error');
  if (!read.whole && read.reader !== undefined) {
    return rebuild(response, continuedBody(bytes, read.reader, read.pending));
  }
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

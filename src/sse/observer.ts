/**
 * Observes a response body so that its consumer reads it exactly as before (same chunks, same
 * backpressure, nothing buffered ahead) while an observer sees each chunk and learns, exactly once,
 * how the body ended: read to the end, cancelled by the consumer (a `break` out of the SDK's stream
 * cancels or aborts), failed (connection dropped), or abandoned (garbage-collected unread).
 *
 * A native `ReadableStream` is observed *in place*: its readers' `read()` and `cancel()`, its
 * `cancel()`, `getReader()`, `values()` and async iterator are shadowed on the instance, so a chunk
 * costs one promise callback more, not a second stream (piping and `tee()` go through a wrapper
 * stream). Any other stream is wrapped in a new one.
 */

/** How a body ended. */
export type BodyEnd =
  | { kind: 'complete' }
  | { kind: 'cancelled'; reason: unknown }
  | { kind: 'error'; error: unknown }
  | { kind: 'abandoned' };

/** Sees the chunks of a body and its end. */
export interface BodyObserver {
  /** Called with each chunk before the consumer gets it. */
  onChunk(chunk: Uint8Array): void;
  /**
   * Called when the consumer asks for the next chunk (a read starts): from then until `onChunk`,
   * the consumer waits for the network. Between a chunk and the next read, it is busy (back-pressure).
   */
  onRead?(): void;
  /** Called once, when the body ended in any way. */
  onEnd(end: BodyEnd): void;
  /**
   * Asked when a reader is taken: true when someone else reports how the body ends (a body reader
   * such as `json()` that records its result). The observer is then released without `onEnd`, and
   * the reader is the native one (no per-read wrapping).
   */
  released?(): boolean;
}

/** Ends an observer once; the abort listener and the GC hook are released with it. */
class EndOnce {
  ended = false;
  cleanup: () => void = () => {};
  constructor(private readonly observer: BodyObserver) {}
  end(end: BodyEnd): void {
    if (this.ended) return;
    this.ended = true;
    this.cleanup();
    this.observer.onEnd(end);
  }
  /** Stops observing without reporting an end (someone else reports it). */
  release(): void {
    if (this.ended) return;
    this.ended = true;
    this.cleanup();
  }
}

/** Bodies that were dropped without being read to the end still end their observer. */
const abandoned = new FinalizationRegistry<EndOnce>((once) => once.end({ kind: 'abandoned' }));

const proto = ReadableStream.prototype;
type Reader = ReadableStreamDefaultReader<Uint8Array>;
type ReadResult = ReadableStreamReadResult<Uint8Array>;

/**
 * Returns a stream to hand to the consumer in place of `body` (the same instance when it can be
 * observed in place), calling `observer` as the consumer reads. `signal` is the request's abort
 * signal: when it aborts before the end (the SDK aborts the request when its consumer breaks out of
 * a stream), the observer ends with `cancelled`.
 */
export function observeBody(
  body: ReadableStream<Uint8Array>,
  signal: AbortSignal | undefined | null,
  observer: BodyObserver,
): ReadableStream<Uint8Array> {
  const once = new EndOnce(observer);
  const failed = (error: unknown): BodyEnd =>
    signal?.aborted ? { kind: 'cancelled', reason: signal.reason } : { kind: 'error', error };
  const stream =
    body instanceof ReadableStream && Object.isExtensible(body) && !body.locked
      ? tapInPlace(body, once, observer, failed)
      : wrap(body, once, observer, failed);
  const onAbort = (): void => {
    once.end({ kind: 'cancelled', reason: signal?.reason });
  };
  const token = {};
  once.cleanup = () => {
    signal?.removeEventListener('abort', onAbort);
    abandoned.unregister(token);
  };
  if (signal) {
    if (signal.aborted) queueMicrotask(onAbort);
    else signal.addEventListener('abort', onAbort, { once: true });
  }
  abandoned.register(stream, once, token);
  return stream;
}

/** Shadows the reading methods of a native stream instance. */
function tapInPlace(
  body: ReadableStream<Uint8Array>,
  once: EndOnce,
  observer: BodyObserver,
  failed: (error: unknown) => BodyEnd,
): ReadableStream<Uint8Array> {
  const onResult = (result: ReadResult): ReadResult => {
    if (result.done) once.end({ kind: 'complete' });
    else if (!once.ended) observer.onChunk(result.value);
    return result;
  };
  const onError = (error: unknown): never => {
    once.end(failed(error));
    throw error;
  };
  const observeReader = (reader: Reader): Reader => {
    const read = reader.read;
    const cancel = reader.cancel;
    const target = reader as Reader & { read: Reader['read']; cancel: Reader['cancel'] };
    target.read = function (this: Reader, ...args: []) {
      if (!once.ended) observer.onRead?.();
      return read.apply(this, args).then(onResult, onError);
    };
    target.cancel = function (this: Reader, reason?: unknown) {
      once.end({ kind: 'cancelled', reason });
      return cancel.call(this, reason);
    };
    return reader;
  };
  let wrapper: ReadableStream<Uint8Array> | undefined;
  const viaWrapper = (): ReadableStream<Uint8Array> => {
    wrapper ??= wrap(body, once, observer, failed, proto.getReader.call(body) as Reader);
    return wrapper;
  };
  // Own properties on the instance shadow the prototype's methods.
  const target = body as unknown as Record<string | symbol, unknown>;
  target.getReader = function (this: ReadableStream<Uint8Array>, options?: { mode?: 'byob' }) {
    const reader = proto.getReader.call(this, options as undefined) as Reader;
    if (!once.ended && observer.released?.() === true) {
      once.release();
      return reader;
    }
    return observeReader(reader);
  };
  target.cancel = function (this: ReadableStream<Uint8Array>, reason?: unknown) {
    once.end({ kind: 'cancelled', reason });
    return proto.cancel.call(this, reason);
  };
  target.values = function (this: ReadableStream<Uint8Array>, options?: { preventCancel?: boolean }) {
    return iterate(observeReader(proto.getReader.call(this) as Reader), options?.preventCancel === true);
  };
  target[Symbol.asyncIterator] = target.values;
  target.pipeTo = (destination: WritableStream<Uint8Array>, options?: StreamPipeOptions) =>
    viaWrapper().pipeTo(destination, options);
  target.pipeThrough = <T>(
    transform: ReadableWritablePair<T, Uint8Array>,
    options?: StreamPipeOptions,
  ): ReadableStream<T> => viaWrapper().pipeThrough(transform, options);
  target.tee = () => viaWrapper().tee();
  return body;
}

/** The async iterator of a stream, over an observed reader, with the native semantics. */
async function* iterate(reader: Reader, preventCancel: boolean): AsyncGenerator<Uint8Array, undefined> {
  let finished = false;
  try {
    for (;;) {
      const result = await reader.read();
      if (result.done) {
        finished = true;
        return undefined;
      }
      yield result.value;
    }
  } catch (error) {
    finished = true;
    throw error;
  } finally {
    if (!finished && !preventCancel) await reader.cancel();
    reader.releaseLock();
  }
}

/** A new stream that pulls one chunk from `body` per read of the consumer (no read-ahead). */
function wrap(
  body: ReadableStream<Uint8Array>,
  once: EndOnce,
  observer: BodyObserver,
  failed: (error: unknown) => BodyEnd,
  acquired?: Reader,
): ReadableStream<Uint8Array> {
  // The source is locked only when the consumer first reads or cancels: touching the stream alone
  // must leave the original usable.
  let reader: Reader | undefined = acquired;
  const source = (): Reader => {
    reader ??= body.getReader();
    return reader;
  };
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        let result: ReadResult;
        try {
          if (!once.ended) observer.onRead?.();
          result = await source().read();
        } catch (error) {
          once.end(failed(error));
          controller.error(error);
          return;
        }
        if (result.done) {
          once.end({ kind: 'complete' });
          controller.close();
          return;
        }
        if (!once.ended) observer.onChunk(result.value);
        controller.enqueue(result.value);
      },
      cancel(reason) {
        once.end({ kind: 'cancelled', reason });
        return (reader ?? body).cancel(reason).catch(() => undefined);
      },
    },
    { highWaterMark: 0 },
  );
}

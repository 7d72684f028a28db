/**
 * Wraps a response body so that its consumer reads it exactly as before (same chunks, same
 * backpressure, nothing buffered ahead) while an observer sees each chunk and learns, exactly once,
 * how the body ended: read to the end, cancelled by the consumer (a `break` out of the SDK's stream
 * cancels or aborts), failed (connection dropped), or abandoned (garbage-collected unread).
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
  /** Called once, when the body ended in any way. */
  onEnd(end: BodyEnd): void;
}

/** Ends an observer once; the abort listener and the GC hook are released with it. */
class EndOnce {
  ended = false;
  constructor(
    private readonly observer: BodyObserver,
    private readonly cleanup: () => void,
  ) {}
  end(end: BodyEnd): void {
    if (this.ended) return;
    this.ended = true;
    this.cleanup();
    this.observer.onEnd(end);
  }
}

/** Bodies that were dropped without being read to the end still end their observer. */
const abandoned = new FinalizationRegistry<EndOnce>((once) => once.end({ kind: 'abandoned' }));

/**
 * Returns a stream that yields the chunks of `body` one read at a time, calling `observer` as it
 * goes. `signal` is the request's abort signal: when it aborts before the end (the SDK aborts the
 * request when its consumer breaks out of a stream), the observer ends with `cancelled`.
 *
 * The observer's own exceptions must be caught by the observer: this function lets them propagate
 * only as far as the catch in `safeObserver`.
 */
export function observeBody(
  body: ReadableStream<Uint8Array>,
  signal: AbortSignal | undefined | null,
  observer: BodyObserver,
): ReadableStream<Uint8Array> {
  // The source is locked only when the consumer first reads or cancels: touching `body` alone must
  // leave the original usable (a consumer may look at `response.body` and then call `json()`).
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  const source = (): ReadableStreamDefaultReader<Uint8Array> => {
    reader ??= body.getReader();
    return reader;
  };
  const onAbort = (): void => {
    once.end({ kind: 'cancelled', reason: signal?.reason });
  };
  const unregisterToken = {};
  const once = new EndOnce(observer, () => {
    signal?.removeEventListener('abort', onAbort);
    abandoned.unregister(unregisterToken);
  });
  if (signal) {
    if (signal.aborted) {
      queueMicrotask(onAbort);
    } else {
      signal.addEventListener('abort', onAbort, { once: true });
    }
  }
  const stream = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        let result: ReadableStreamReadResult<Uint8Array>;
        try {
          result = await source().read();
        } catch (error) {
          once.end(signal?.aborted ? { kind: 'cancelled', reason: signal.reason } : { kind: 'error', error });
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
  abandoned.register(stream, once, unregisterToken);
  return stream;
}

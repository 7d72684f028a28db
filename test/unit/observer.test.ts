import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type BodyEnd, type BodyObserver, observeBody } from '../../src/sse/observer.js';

/** Records what an observer sees. */
function recorder(): BodyObserver & { chunks: Uint8Array[]; ends: BodyEnd[] } {
  const chunks: Uint8Array[] = [];
  const ends: BodyEnd[] = [];
  return {
    chunks,
    ends,
    onChunk(chunk) {
      chunks.push(chunk);
    },
    onEnd(end) {
      ends.push(end);
    },
  };
}

const bytes = (...values: number[]): Uint8Array => Uint8Array.from(values);

/** A source that yields `chunks` one per pull, counting pulls and recording its cancel reason. */
function countingSource(chunks: readonly Uint8Array[]): {
  stream: ReadableStream<Uint8Array>;
  pulls: () => number;
  cancelled: () => { reason: unknown } | undefined;
} {
  let pulls = 0;
  let cancelled: { reason: unknown } | undefined;
  const stream = new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        const chunk = chunks[pulls];
        pulls++;
        if (chunk === undefined) controller.close();
        else controller.enqueue(chunk);
      },
      cancel(reason) {
        cancelled = { reason };
      },
    },
    { highWaterMark: 0 },
  );
  return { stream, pulls: () => pulls, cancelled: () => cancelled };
}

/** Lets pending promise jobs and stream pulls run (one macrotask turn; no timer). */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** The stream as an async iterable (the DOM lib types in use do not declare it). */
const iterate = (stream: ReadableStream<Uint8Array>): AsyncIterable<Uint8Array> =>
  stream as unknown as AsyncIterable<Uint8Array>;

async function readAll(stream: ReadableStream<Uint8Array>): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for await (const chunk of iterate(stream)) out.push(chunk);
  return out;
}

describe('observeBody: pass-through', () => {
  it('passes the chunks through identically and in order, and ends once with complete', async () => {
    const chunks = [bytes(1, 2, 3), bytes(), bytes(4), new TextEncoder().encode('data: 😀\n\n')];
    const obs = recorder();
    const out = await readAll(observeBody(countingSource(chunks).stream, undefined, obs));
    expect(out).toHaveLength(chunks.length);
    expect(obs.chunks).toHaveLength(chunks.length);
    for (let i = 0; i < chunks.length; i++) {
      // The very same objects, not copies.
      expect(out[i]).toBe(chunks[i]);
      expect(obs.chunks[i]).toBe(chunks[i]);
    }
    expect(obs.ends).toEqual([{ kind: 'complete' }]);
  });

  it('sees each chunk before the consumer gets it', async () => {
    const obs = recorder();
    const reader = observeBody(countingSource([bytes(1), bytes(2)]).stream, undefined, obs).getReader();
    const first = await reader.read();
    expect(first.value).toEqual(bytes(1));
    expect(obs.chunks).toEqual([bytes(1)]);
    const second = await reader.read();
    expect(second.value).toEqual(bytes(2));
    expect(obs.chunks).toEqual([bytes(1), bytes(2)]);
    expect(obs.ends).toEqual([]);
    expect((await reader.read()).done).toBe(true);
    expect(obs.ends).toEqual([{ kind: 'complete' }]);
  });

  it('ends an empty body with complete', async () => {
    const obs = recorder();
    expect(await readAll(observeBody(countingSource([]).stream, null, obs))).toEqual([]);
    expect(obs.chunks).toEqual([]);
    expect(obs.ends).toEqual([{ kind: 'complete' }]);
  });

  it('works as the body of a Response', async () => {
    const obs = recorder();
    const source = countingSource([new TextEncoder().encode('héllo '), new TextEncoder().encode('wörld')]);
    const text = await new Response(observeBody(source.stream, undefined, obs)).text();
    expect(text).toBe('héllo wörld');
    expect(obs.ends).toEqual([{ kind: 'complete' }]);
  });

  it('passes any sequence of chunks through unchanged', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.uint8Array({ maxLength: 16 }), { maxLength: 12 }), async (chunks) => {
        const obs = recorder();
        const out = await readAll(observeBody(countingSource(chunks).stream, undefined, obs));
        expect(out).toEqual(chunks);
        expect(obs.chunks).toEqual(chunks);
        expect(obs.ends).toEqual([{ kind: 'complete' }]);
      }),
      { numRuns: 50 },
    );
  });
});

describe('observeBody: no read-ahead', () => {
  it('pulls nothing before the first read and one chunk per read', async () => {
    const source = countingSource([bytes(1), bytes(2), bytes(3)]);
    const obs = recorder();
    const reader = observeBody(source.stream, undefined, obs).getReader();
    await settle();
    expect(source.pulls()).toBe(0);
    expect(obs.chunks).toHaveLength(0);
    for (let i = 1; i <= 3; i++) {
      await reader.read();
      await settle();
      expect(source.pulls()).toBe(i);
      expect(obs.chunks).toHaveLength(i);
    }
    expect(obs.ends).toEqual([]);
    expect((await reader.read()).done).toBe(true);
    expect(source.pulls()).toBe(4);
    expect(obs.ends).toEqual([{ kind: 'complete' }]);
  });

  it('does not buffer ahead of a slow consumer of an eager source', async () => {
    // A source with all its chunks ready at once: only the consumer's reads take them from it.
    const obs = recorder();
    const source = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < 5; i++) controller.enqueue(bytes(i));
        controller.close();
      },
    });
    const reader = observeBody(source, undefined, obs).getReader();
    await settle();
    expect(obs.chunks).toHaveLength(0);
    for (let i = 1; i <= 5; i++) {
      expect((await reader.read()).value).toEqual(bytes(i - 1));
      await settle();
      expect(obs.chunks).toHaveLength(i);
    }
    expect(obs.ends).toEqual([]);
    expect((await reader.read()).done).toBe(true);
    expect(obs.ends).toEqual([{ kind: 'complete' }]);
  });
});

describe('observeBody: cancel by the consumer', () => {
  it('ends with cancelled and cancels the source with the same reason', async () => {
    const source = countingSource([bytes(1), bytes(2), bytes(3)]);
    const obs = recorder();
    const reader = observeBody(source.stream, undefined, obs).getReader();
    await reader.read();
    const reason = new Error('consumer is done');
    await reader.cancel(reason);
    expect(obs.ends).toEqual([{ kind: 'cancelled', reason }]);
    expect(source.cancelled()).toEqual({ reason });
    expect(obs.chunks).toEqual([bytes(1)]);
  });

  it('ends with cancelled when a for-await loop breaks', async () => {
    const source = countingSource([bytes(1), bytes(2), bytes(3)]);
    const obs = recorder();
    for await (const chunk of iterate(observeBody(source.stream, undefined, obs))) {
      expect(chunk).toEqual(bytes(1));
      break;
    }
    expect(obs.ends).toHaveLength(1);
    expect(obs.ends[0]?.kind).toBe('cancelled');
    expect(source.cancelled()).toBeDefined();
  });

  it('ends with cancelled when the source rejects its cancel, which the consumer sees as without it', async () => {
    const obs = recorder();
    const source = new ReadableStream<Uint8Array>({
      cancel() {
        throw new Error('cannot cancel');
      },
    });
    const stream = observeBody(source, undefined, obs);
    await expect(stream.cancel('why')).rejects.toThrow('cannot cancel');
    expect(obs.ends).toEqual([{ kind: 'cancelled', reason: 'why' }]);
  });

  it('does not end again after completing', async () => {
    const obs = recorder();
    const stream = observeBody(countingSource([bytes(1)]).stream, undefined, obs);
    await readAll(stream);
    await stream.cancel('late').catch(() => undefined);
    expect(obs.ends).toEqual([{ kind: 'complete' }]);
  });
});

describe('observeBody: abort signal', () => {
  it('ends with cancelled and the reason when the signal aborts mid-way, once', async () => {
    const controller = new AbortController();
    const source = countingSource([bytes(1), bytes(2), bytes(3)]);
    const obs = recorder();
    const reader = observeBody(source.stream, controller.signal, obs).getReader();
    await reader.read();
    const reason = new Error('aborted by the SDK');
    controller.abort(reason);
    expect(obs.ends).toEqual([{ kind: 'cancelled', reason }]);
    // The body may still be read; the observer neither sees more chunks nor ends again.
    expect((await reader.read()).value).toEqual(bytes(2));
    expect((await reader.read()).value).toEqual(bytes(3));
    expect((await reader.read()).done).toBe(true);
    expect(obs.chunks).toEqual([bytes(1)]);
    expect(obs.ends).toEqual([{ kind: 'cancelled', reason }]);
  });

  it('ends with cancelled when the signal was aborted before', async () => {
    const signal = AbortSignal.abort('gone');
    const obs = recorder();
    const stream = observeBody(countingSource([bytes(1)]).stream, signal, obs);
    await settle();
    expect(obs.ends).toEqual([{ kind: 'cancelled', reason: 'gone' }]);
    expect(await readAll(stream)).toEqual([bytes(1)]);
    expect(obs.chunks).toEqual([]);
    expect(obs.ends).toHaveLength(1);
  });

  it('ends with cancelled, not error, when the source fails after an abort', async () => {
    const controller = new AbortController();
    let sourceController!: ReadableStreamDefaultController<Uint8Array>;
    const source = new ReadableStream<Uint8Array>(
      {
        start(c) {
          sourceController = c;
        },
      },
      { highWaterMark: 0 },
    );
    const obs = recorder();
    const reader = observeBody(source, controller.signal, obs).getReader();
    const read = reader.read();
    const reason = new DOMException('This operation was aborted', 'AbortError');
    controller.abort(reason);
    sourceController.error(reason);
    await expect(read).rejects.toBe(reason);
    expect(obs.ends).toEqual([{ kind: 'cancelled', reason }]);
  });

  it('does not end when the signal aborts after the end', async () => {
    const controller = new AbortController();
    const obs = recorder();
    await readAll(observeBody(countingSource([bytes(1)]).stream, controller.signal, obs));
    controller.abort();
    expect(obs.ends).toEqual([{ kind: 'complete' }]);
  });
});

describe('observeBody: source errors', () => {
  it('ends with error and gives the consumer the same error', async () => {
    const failure = new TypeError('terminated');
    let pulls = 0;
    const source = new ReadableStream<Uint8Array>(
      {
        pull(controller) {
          pulls++;
          if (pulls === 1) controller.enqueue(bytes(1));
          else controller.error(failure);
        },
      },
      { highWaterMark: 0 },
    );
    const obs = recorder();
    const reader = observeBody(source, new AbortController().signal, obs).getReader();
    expect((await reader.read()).value).toEqual(bytes(1));
    await expect(reader.read()).rejects.toBe(failure);
    expect(obs.ends).toEqual([{ kind: 'error', error: failure }]);
    expect(obs.chunks).toEqual([bytes(1)]);
    // The wrapper stays errored with the same error.
    await expect(reader.read()).rejects.toBe(failure);
    expect(obs.ends).toHaveLength(1);
  });

  it('ends with error when the source fails before any chunk', async () => {
    const failure = new Error('socket hang up');
    const source = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.error(failure);
      },
    });
    const obs = recorder();
    await expect(readAll(observeBody(source, undefined, obs))).rejects.toBe(failure);
    expect(obs.ends).toEqual([{ kind: 'error', error: failure }]);
  });
});

describe.each([
  ['in place', (s: ReadableStream<Uint8Array>) => s],
  ['through a wrapper', (s: ReadableStream<Uint8Array>) => Object.preventExtensions(s)],
])('observeBody %s', (mode, prepare) => {
  it('observes a native stream in place, any other through a new stream', () => {
    const source = prepare(countingSource([bytes(1)]).stream);
    const observed = observeBody(source, undefined, recorder());
    expect(observed === source).toBe(mode === 'in place');
  });

  it('ends with complete after piping to a writable', async () => {
    const obs = recorder();
    const written: Uint8Array[] = [];
    const stream = observeBody(prepare(countingSource([bytes(1), bytes(2)]).stream), undefined, obs);
    await stream.pipeTo(new WritableStream({ write: (chunk) => void written.push(chunk) }));
    expect(written).toEqual([bytes(1), bytes(2)]);
    expect(obs.chunks).toEqual([bytes(1), bytes(2)]);
    expect(obs.ends).toEqual([{ kind: 'complete' }]);
  });

  it('observes each chunk once when the stream is teed', async () => {
    const obs = recorder();
    const stream = observeBody(prepare(countingSource([bytes(1), bytes(2)]).stream), undefined, obs);
    const [a, b] = stream.tee();
    const [ra, rb] = await Promise.all([readAll(a), readAll(b)]);
    expect(ra).toEqual([bytes(1), bytes(2)]);
    expect(rb).toEqual([bytes(1), bytes(2)]);
    expect(obs.chunks).toEqual([bytes(1), bytes(2)]);
    expect(obs.ends).toEqual([{ kind: 'complete' }]);
  });

  it('keeps the stream open when an iteration with preventCancel stops early', async () => {
    const source = countingSource([bytes(1), bytes(2), bytes(3)]);
    const obs = recorder();
    const stream = observeBody(prepare(source.stream), undefined, obs);
    const values = (
      stream as unknown as { values(o: { preventCancel: boolean }): AsyncIterable<Uint8Array> }
    ).values({
      preventCancel: true,
    });
    for await (const chunk of values) {
      expect(chunk).toEqual(bytes(1));
      break;
    }
    expect(source.cancelled()).toBeUndefined();
    expect(obs.ends).toEqual([]);
    expect(await readAll(stream)).toEqual([bytes(2), bytes(3)]);
    expect(obs.ends).toEqual([{ kind: 'complete' }]);
  });

  it('ends with cancelled and cancels the source when reader.cancel() is called', async () => {
    const source = countingSource([bytes(1), bytes(2)]);
    const obs = recorder();
    const reader = observeBody(prepare(source.stream), undefined, obs).getReader();
    await reader.read();
    await reader.cancel('enough');
    expect(obs.ends).toEqual([{ kind: 'cancelled', reason: 'enough' }]);
    expect(source.cancelled()).toEqual({ reason: 'enough' });
  });
});

/**
 * A manual {@link Clock} for tests: time moves only when the test calls `advance` or
 * `advanceAsync`, which fire the timers and resolve the sleeps that came due, in order of due time
 * (then of scheduling).
 *
 * A delay ≤ 0 needs no time to pass: `sleep` resolves at once and `setTimer` fires on a microtask
 * (unless cancelled first), so code that waits for zero never hangs for want of an `advance`.
 */
import type { Clock, Timer } from '../../src/policies/types.js';

interface Scheduled {
  readonly due: number;
  readonly seq: number;
  readonly fire: () => void;
  readonly kind: 'sleep' | 'timer';
}

export class FakeClock implements Clock {
  #now: number;
  #seq = 0;
  #scheduled: Scheduled[] = [];

  constructor(startMs = 0) {
    this.#now = startMs;
  }

  now(): number {
    return this.#now;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (!(ms > 0)) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        this.#remove(entry);
        reject(signal?.reason);
      };
      const entry = this.#schedule(
        ms,
        () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        'sleep',
      );
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  setTimer(fn: () => void, ms: number): Timer {
    if (!(ms > 0)) {
      let cancelled = false;
      queueMicrotask(() => {
        if (!cancelled) fn();
      });
      return {
        cancel: () => {
          cancelled = true;
        },
      };
    }
    const entry = this.#schedule(ms, fn, 'timer');
    return { cancel: () => this.#remove(entry) };
  }

  /** Sleeps and timers waiting for time to pass. */
  get pending(): number {
    return this.#scheduled.length;
  }

  /** When the next sleep or timer (or only the next of one kind) is due, if any. */
  nextDue(kind?: 'sleep' | 'timer'): number | undefined {
    let best: Scheduled | undefined;
    for (const entry of this.#scheduled) {
      if (kind !== undefined && entry.kind !== kind) continue;
      if (best === undefined || entry.due < best.due || (entry.due === best.due && entry.seq < best.seq))
        best = entry;
    }
    return best?.due;
  }

  /**
   * Moves time forward by `ms` and fires everything due by then, synchronously. Promise
   * continuations of the resolved sleeps run afterwards and see the final time; a sleep they start
   * waits for the next advance. Use {@link advanceAsync} to let them run at their due time.
   */
  advance(ms: number): void {
    const target = this.#target(ms);
    for (let entry = this.#next(target); entry !== undefined; entry = this.#next(target)) {
      this.#remove(entry);
      this.#now = entry.due;
      entry.fire();
    }
    this.#now = target;
  }

  /**
   * Moves time forward by `ms` one due sleep or timer at a time, letting promise continuations run
   * (at the due time) before the next, so sleeps and timers they start within `ms` fire too.
   */
  async advanceAsync(ms: number): Promise<void> {
    const target = this.#target(ms);
    await flush();
    for (let entry = this.#next(target); entry !== undefined; entry = this.#next(target)) {
      this.#remove(entry);
      this.#now = entry.due;
      entry.fire();
      await flush();
    }
    this.#now = target;
    await flush();
  }

  #target(ms: number): number {
    if (!(ms >= 0) || !Number.isFinite(ms)) throw new RangeError(`advance by a finite ms ≥ 0, got ${ms}`);
    return this.#now + ms;
  }

  #schedule(ms: number, fire: () => void, kind: 'sleep' | 'timer'): Scheduled {
    const entry = { due: this.#now + ms, seq: this.#seq++, fire, kind };
    this.#scheduled.push(entry);
    return entry;
  }

  #remove(entry: Scheduled): void {
    const i = this.#scheduled.indexOf(entry);
    if (i >= 0) this.#scheduled.splice(i, 1);
  }

  /** The earliest entry due by `limit`. */
  #next(limit: number): Scheduled | undefined {
    let best: Scheduled | undefined;
    for (const entry of this.#scheduled) {
      if (entry.due > limit) continue;
      if (best === undefined || entry.due < best.due || (entry.due === best.due && entry.seq < best.seq)) {
        best = entry;
      }
    }
    return best;
  }
}

/** Lets pending promise continuations (and the microtasks they queue) run. */
function flush(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Awaits `promise`, moving `clock` to the next due sleep (or, without `kind`, sleep or timer)
 * whenever nothing else is happening, so every wait lasts exactly what the code asked for and no
 * test sleeps for real. Throws when the promise has not settled after `maxTurns` event-loop turns.
 */
export async function drive<T>(
  clock: FakeClock,
  promise: Promise<T>,
  options: { kind?: 'sleep' | 'timer'; maxTurns?: number } = {},
): Promise<T> {
  let settled = false;
  promise.then(
    () => {
      settled = true;
    },
    () => {
      settled = true;
    },
  );
  const maxTurns = options.maxTurns ?? 1_000_000;
  for (let i = 0; !settled; i++) {
    if (i > maxTurns) throw new Error('drive: the promise never settled');
    await flush();
    const due = clock.nextDue(options.kind);
    if (due !== undefined && !settled) clock.advance(Math.max(0, due - clock.now()));
  }
  return promise;
}

/**
 * Moves `clock` by `ms` once a timer is armed (e.g. the idle timer, which runs only while the
 * consumer waits for the next chunk): call it from a consumer's event handler, where nothing waits
 * yet. Gives up after `maxTurns` event-loop turns without a timer.
 */
export async function advanceWhenArmed(clock: FakeClock, ms: number, maxTurns = 10_000): Promise<void> {
  for (let i = 0; i < maxTurns && clock.nextDue('timer') === undefined; i++) await flush();
  clock.advance(ms);
}

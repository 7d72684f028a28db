/**
 * Virtual time for the resilience simulator: while installed, `setTimeout`/`setInterval` (and their
 * `clear…`), `Date.now`, `performance.now` and `Math.random` are replaced, so the real SDK's own
 * backoff sleeps and request timeouts, cockatiel's timers and clock, OpenTelemetry's timestamps and
 * our policies' injected clock all run on one virtual clock, advanced by {@link VirtualTime.run}
 * only when nothing else can happen (every promise continuation has run). Nothing waits for real
 * time and, everything being in process and seeded, the same inputs give the same run.
 *
 * `run` fires due timers one at a time, in order of due time then of scheduling, and drains the
 * microtask queue (one real `setImmediate` turn, twice before time moves) between two.
 */
import type { Clock, Timer } from '../../src/policies/types.js';

interface Entry {
  due: number;
  seq: number;
  fn: () => void;
  cancelled: boolean;
  /** `setInterval`'s period. */
  every: number | undefined;
}

/** What `setTimeout` returns here: enough of Node's `Timeout` for the code that calls it. */
class VirtualTimeout {
  constructor(readonly entry: Entry) {}
  ref(): this {
    return this;
  }
  unref(): this {
    return this;
  }
  hasRef(): boolean {
    return false;
  }
  [Symbol.toPrimitive](): number {
    return this.entry.seq;
  }
}

/** mulberry32: the seeded `Math.random` of a run. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const realSetImmediate = globalThis.setImmediate;
const turn = (): Promise<void> => new Promise((resolve) => realSetImmediate(resolve));

export class VirtualTime {
  /** Virtual ms since the start. */
  now = 0;
  #seq = 0;
  /** Sorted by (due, seq). */
  readonly #queue: Entry[] = [];
  readonly #byId = new Map<number, Entry>();
  #restore: (() => void) | undefined;
  /** Timers fired so far. */
  events = 0;

  /** `setTimeout` on the virtual clock. */
  schedule(fn: () => void, ms: number, every?: number): Entry {
    const entry: Entry = {
      due: this.now + Math.max(0, Number.isFinite(ms) ? ms : 0),
      seq: this.#seq++,
      fn,
      cancelled: false,
      every,
    };
    // Binary search for the insertion point (after every entry due no later).
    let lo = 0;
    let hi = this.#queue.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const m = this.#queue[mid] as Entry;
      if (m.due < entry.due || (m.due === entry.due && m.seq < entry.seq)) lo = mid + 1;
      else hi = mid;
    }
    this.#queue.splice(lo, 0, entry);
    this.#byId.set(entry.seq, entry);
    return entry;
  }

  cancel(entry: Entry | undefined): void {
    if (entry === undefined) return;
    entry.cancelled = true;
    this.#byId.delete(entry.seq);
  }

  /**
   * A {@link Clock} for our policies on this virtual time, running `1 / scale` times faster (the
   * benchmark's 100× policy clock at 0.01): `now()` is virtual ms / scale, a sleep of `ms` takes
   * `ms · scale` virtual ms.
   */
  clock(scale: number): Clock {
    return {
      now: () => this.now / scale,
      sleep: (ms: number, signal?: AbortSignal): Promise<void> =>
        new Promise<void>((resolve, reject) => {
          if (signal?.aborted) {
            reject(signal.reason);
            return;
          }
          const onAbort = (): void => {
            this.cancel(entry);
            reject(signal?.reason);
          };
          const entry = this.schedule(() => {
            signal?.removeEventListener('abort', onAbort);
            resolve();
          }, Math.max(0, ms) * scale);
          signal?.addEventListener('abort', onAbort, { once: true });
        }),
      setTimer: (fn: () => void, ms: number): Timer => {
        const entry = this.schedule(fn, Math.max(0, ms) * scale);
        return { cancel: () => this.cancel(entry) };
      },
    };
  }

  /** Replaces the global timers, clocks and `Math.random` (seeded); `uninstall` restores them. */
  install(seed: number): void {
    if (this.#restore !== undefined) throw new Error('virtual time already installed');
    const g = globalThis as unknown as Record<string, unknown>;
    const saved = {
      setTimeout: g.setTimeout,
      clearTimeout: g.clearTimeout,
      setInterval: g.setInterval,
      clearInterval: g.clearInterval,
      dateNow: Date.now,
      perfNow: performance.now,
      random: Math.random,
    };
    // Date.now() = timeOrigin + virtual ms, so that OpenTelemetry's timestamps (anchored on
    // Date.now, moved by performance.now) and performance.timeOrigin + performance.now() agree.
    const epoch = performance.timeOrigin;
    const entryOf = (handle: unknown): Entry | undefined => {
      if (handle instanceof VirtualTimeout) return handle.entry;
      if (typeof handle === 'number') return this.#byId.get(handle);
      return undefined;
    };
    g.setTimeout = (fn: (...args: unknown[]) => void, ms?: number, ...args: unknown[]) =>
      new VirtualTimeout(this.schedule(() => fn(...args), ms ?? 0));
    g.clearTimeout = (handle: unknown) => this.cancel(entryOf(handle));
    g.setInterval = (fn: (...args: unknown[]) => void, ms?: number, ...args: unknown[]) =>
      new VirtualTimeout(this.schedule(() => fn(...args), ms ?? 0, Math.max(1, ms ?? 0)));
    g.clearInterval = g.clearTimeout;
    Date.now = () => epoch + Math.floor(this.now);
    performance.now = () => this.now;
    Math.random = mulberry32(seed);
    this.#restore = () => {
      Object.assign(g, {
        setTimeout: saved.setTimeout,
        clearTimeout: saved.clearTimeout,
        setInterval: saved.setInterval,
        clearInterval: saved.clearInterval,
      });
      Date.now = saved.dateNow;
      performance.now = saved.perfNow;
      Math.random = saved.random;
    };
  }

  uninstall(): void {
    this.#restore?.();
    this.#restore = undefined;
  }

  /**
   * Runs `main` to its end, firing the virtual timers as it waits. Throws when `main` waits for
   * something that is not a virtual timer (real I/O) or fires more than `maxEvents` timers.
   */
  async run<T>(main: () => Promise<T>, maxEvents = 50_000_000): Promise<T> {
    let done = false;
    const promise = main().finally(() => {
      done = true;
    });
    promise.catch(() => undefined);
    while (!done) {
      await turn();
      if (done) break;
      let next = this.#queue[0];
      while (next?.cancelled) {
        this.#queue.shift();
        next = this.#queue[0];
      }
      if (next === undefined) {
        // One more turn before deciding that nothing will ever happen.
        await turn();
        if (done) break;
        if (this.#queue.length === 0) throw new Error('simulation stalled: nothing scheduled, main not done');
        continue;
      }
      if (next.due > this.now) {
        // Time moves only once everything due now has run.
        await turn();
        if (done) break;
        if (this.#queue[0] !== next) continue;
      }
      this.#queue.shift();
      this.#byId.delete(next.seq);
      this.now = Math.max(this.now, next.due);
      if (++this.events > maxEvents) throw new Error(`simulation exceeded ${maxEvents} timer events`);
      if (next.every !== undefined) {
        const again = this.schedule(next.fn, next.every, next.every);
        // Keep the interval's handle valid: same id.
        this.#byId.delete(again.seq);
        again.seq = next.seq;
        this.#byId.set(next.seq, again);
      }
      next.fn();
    }
    return promise;
  }
}

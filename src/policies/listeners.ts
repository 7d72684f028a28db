/** A tiny ordered event emitter shared by the policies' state machines. */

/**
 * Listeners called in order of subscription. Events raised by a listener are queued and delivered
 * after the current one reached every listener, so all listeners see the same order. A listener that
 * throws does not keep the others from running; the first error is rethrown once the queue is empty.
 */
export class Listeners<A extends unknown[]> {
  readonly #listeners = new Set<{ fn: (...args: A) => void }>();
  readonly #queue: A[] = [];
  #emitting = false;

  add(fn: (...args: A) => void): () => void {
    const entry = { fn };
    this.#listeners.add(entry);
    return () => {
      this.#listeners.delete(entry);
    };
  }

  emit(...args: A): void {
    this.#queue.push(args);
    if (this.#emitting) return;
    this.#emitting = true;
    let failed = false;
    let error: unknown;
    try {
      for (let event = this.#queue.shift(); event !== undefined; event = this.#queue.shift()) {
        for (const entry of [...this.#listeners]) {
          try {
            entry.fn(...event);
          } catch (e) {
            if (!failed) {
              failed = true;
              error = e;
            }
          }
        }
      }
    } finally {
      this.#emitting = false;
    }
    if (failed) throw error;
  }
}

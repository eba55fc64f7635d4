// Where signals and worker exits wait for the arbiter's loop: handlers push,
// the loop sleeps in wait() until something arrives or the tick elapses.

export class EventQueue<T> {
  #items: T[] = [];
  #wake: (() => void) | undefined;

  push(item: T): void {
    this.#items.push(item);
    this.#wake?.();
  }

  /** Resolves when an item is queued or after `ms`. */
  wait(ms: number): Promise<void> {
    if (this.#items.length) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#wake = done;
    });
  }

  /** Whether an item `matches` is queued. */
  has(matches: (item: T) => boolean): boolean {
    return this.#items.some(matches);
  }

  /** Takes every queued item. */
  drain(): T[] {
    return this.#items.splice(0);
  }

  /** Takes the oldest item; what a throwing handler did not reach stays queued. */
  take(): T | undefined {
    return this.#items.shift();
  }
}

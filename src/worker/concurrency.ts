// Caps how many requests a worker runs at once (sync: 1, async:
// worker_connections). Requests beyond the cap wait in order instead of being
// refused: behind a proxy a short wait beats a 503, and nothing is lost.

import type { FetchHandler } from "../http/types.ts";

/**
 * Whether the answer `result` to `request` opened something that keeps its place until it ends (a
 * WebSocket on a native server): then what settles when it ends, else undefined.
 */
export type Lasting = (request: Request, result: unknown) => Promise<unknown> | undefined;

/** One cap shared by every handler it wraps. */
export class ConcurrencyLimit {
  readonly #max: number;
  readonly #held: ((ms: number) => void) | undefined;
  #running = 0;
  readonly #waiting: (() => void)[] = [];

  /**
   * `held`, when given, hears how long each request held its place (ms, from taking it to the
   * app's answer): what a request waiting behind it waited for.
   */
  constructor(max: number, held?: (ms: number) => void) {
    this.#max = max;
    this.#held = held;
  }

  // The place passes straight from the finishing request to the next waiter.
  #free = (): void => {
    const next = this.#waiting.shift();
    if (next) next();
    else this.#running--;
  };

  // Methods, not closures made per request: the worker bundle's --keep-names wraps each named
  // closure as it is made (docs/architecture.md, "Where the microseconds go").
  #done(since: number): void {
    if (this.#held) this.#held(performance.now() - since);
    this.#free();
  }

  #answered(request: Request, result: unknown, since: number, lasting: Lasting | undefined): void {
    const until = lasting?.(request, result);
    if (until === undefined) return this.#done(since);
    // A session's end: rare enough for a closure.
    const done = () => this.#done(since);
    until.then(done, done);
  }

  /** `handler` within the cap; `lasting` keeps a request's place past its answer. */
  wrap(handler: FetchHandler, lasting?: Lasting): FetchHandler {
    // Not async: a Response returned synchronously keeps the servers' fast paths.
    const run: FetchHandler = (request, info) => {
      const since = this.#held ? performance.now() : 0;
      let result;
      try {
        result = handler(request, info);
      } catch (error) {
        this.#done(since);
        throw error;
      }
      if (result instanceof Response) {
        this.#answered(request, result, since, lasting);
        return result;
      }
      return Promise.resolve(result).then((value) => {
        this.#answered(request, value, since, lasting);
        return value;
      }, (error) => {
        this.#done(since);
        throw error;
      });
    };
    return (request, info) => {
      if (this.#running < this.#max) {
        this.#running++;
        return run(request, info);
      }
      return new Promise<void>((resolve) => this.#waiting.push(resolve)).then(() =>
        run(request, info)
      );
    };
  }
}

/**
 * `held`, when given, hears how long each request held its place (ms, from taking it to the app's
 * answer): what a request waiting behind it waited for.
 */
export function limitConcurrency(
  handler: FetchHandler,
  max: number,
  held?: (ms: number) => void,
): FetchHandler {
  return new ConcurrencyLimit(max, held).wrap(handler);
}

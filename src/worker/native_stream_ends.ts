// --reuse-port: the response streams a native server is still sending. The server says nothing of
// them, so a stream the app answered with stays in the worker's in-flight table until the tap that
// reads it (bodyErrorsLogged) sees its end: a quick stop and a cut at the graceful timeout then
// name it, with or without an access log. A body the runtime holds whole is never tracked: the
// per-request cost for it is a test of a count, and a WeakMap look-up while streams are under way
// (InflightWatch.wrapAlone).

/** The streams of one native listener under way, each told to whoever waits for its end. */
export class StreamEnds {
  // Per stream under way: what its end calls (null until someone waits for it).
  readonly #waiting = new WeakMap<Response, (() => void) | null>();
  #open = 0;

  /** How many of the streams started are still being sent. */
  get size(): number {
    return this.#open;
  }

  /** `response`'s body is a stream the server reads from now on; ended() says when it is done. */
  started(response: Response): void {
    this.#waiting.set(response, null);
    this.#open++;
  }

  /** `response`'s stream ended, failed or was cancelled (once). */
  ended(response: Response): void {
    if (!this.#waiting.has(response)) return;
    const then = this.#waiting.get(response);
    this.#waiting.delete(response);
    this.#open--;
    then?.();
  }

  /** Whether `response` (whatever the app answered) is one whose stream is still being sent. */
  underWay(response: unknown): response is Response {
    // No look-up while no stream is being sent; a WeakMap has no primitive, no `instanceof`.
    return this.#open > 0 && this.#waiting.has(response as Response);
  }

  /** Calls `then` when `response`'s stream, one underWay(), ends. */
  whenEnded(response: Response, then: () => void): void {
    if (this.#waiting.has(response)) this.#waiting.set(response, then);
  }
}

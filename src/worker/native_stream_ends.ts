// --reuse-port: the response streams a native server is still sending. The server says nothing of
// them, so a stream the app answered with stays in the worker's in-flight table until the tap that
// reads it (bodyErrorsLogged) sees its end: a quick stop and a cut at the graceful timeout then
// name it, with or without an access log, and cut it off (cutAll), as the shared socket destroys
// the connection of a response under way: the server takes no byte after its access line was
// written. A body the runtime holds whole is never tracked: the per-request cost for it is a test
// of a count, and a look-up while streams are under way (InflightWatch.wrapAlone).

/**
 * One stream under way: what its end calls (null until someone waits), what cuts it off, and
 * who hears the body bytes the server took so far (its head went out with the first).
 */
export interface Sending {
  then: (() => void) | null;
  cut: () => void;
  bytes: number;
  onBytes: ((bytes: number) => void) | null;
}

/** The streams of one native listener under way, each told to whoever waits for its end. */
export class StreamEnds {
  // Held from its start to its end only: the server holds the Response meanwhile anyway.
  readonly #sending = new Map<Response, Sending>();

  /** How many of the streams started are still being sent. */
  get size(): number {
    return this.#sending.size;
  }

  /**
   * `response`'s body is a stream the server reads from now on; ended() says when it is done,
   * `cut` ends it at once (its tap's cutter). The tap adds each chunk's bytes to what this
   * returns, and tells its `onBytes`.
   */
  started(response: Response, cut: () => void): Sending {
    const sending: Sending = { then: null, cut, bytes: 0, onBytes: null };
    this.#sending.set(response, sending);
    return sending;
  }

  /** `response`'s stream ended, failed or was cancelled (once). */
  ended(response: Response): void {
    const sending = this.#sending.get(response);
    if (sending === undefined) return;
    this.#sending.delete(response);
    sending.then?.();
  }

  /** Whether `response` (whatever the app answered) is one whose stream is still being sent. */
  underWay(response: unknown): response is Response {
    // No look-up while no stream is being sent.
    return this.#sending.size > 0 && this.#sending.has(response as Response);
  }

  /**
   * Calls `then` when `response`'s stream, one underWay(), ends, and `onBytes` with the body
   * bytes the server took so far at each chunk.
   */
  whenEnded(response: Response, then: () => void, onBytes?: (bytes: number) => void): void {
    const sending = this.#sending.get(response);
    if (sending === undefined) return;
    sending.then = then;
    if (onBytes !== undefined) {
      sending.onBytes = onBytes;
      if (sending.bytes > 0) onBytes(sending.bytes);
    }
  }

  /** Cuts off every stream still being sent (each is ended() as it is). */
  cutAll(): void {
    for (const sending of [...this.#sending.values()]) sending.cut();
  }
}

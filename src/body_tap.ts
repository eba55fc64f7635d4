// A response whose body stream is read through a tap, for the native servers (--reuse-port),
// which say nothing of what they send: the tap hears each chunk as the server reads it, the
// stream's end (it ended, failed, or was cancelled because the client left), and a failure,
// which it may replace with an error of its own. The bytes for the access log, Bun's idle timer
// after the last byte and the log of a stream failing midway are all learnt this way. A request
// body is read through the same tap as the app reads it (native_body_read.ts).

/** What a tap is told; every part optional. */
export interface BodyTap {
  /**
   * A chunk the reader takes. A throw refuses it: the reader's read fails with what was thrown,
   * the source is cancelled with it and `end` is told.
   */
  chunk?(value: Uint8Array | string): void;
  /** The stream ended, failed or was cancelled: told once, before the server sees its end. */
  end?(): void;
  /** The stream failed: what the server's read fails with instead (default: the error). */
  failed?(error: unknown): unknown;
  /** Header fields the tapped Response leaves out (lower-case names). */
  without?: readonly string[];
  /**
   * Handed, at once, what cuts the stream off (a worker's quick stop, or its graceful timeout):
   * the server takes no more bytes, the source is cancelled and `end` is told (if it was not
   * yet) at once, and the server's read fails with `reason` a turn later.
   */
  cutter?(cut: (reason: unknown) => void): void;
}

/**
 * `response.body`, its headers read first: Bun fills a Blob's type (a typed Blob's, a file's) into
 * `response.headers` when they are first read, and not once the body was (they stay empty).
 */
export function bodyOf(response: Response): ReadableStream<Uint8Array> | null {
  void response.headers;
  return response.body;
}

/** `response` (whose `body` is a stream) with that stream read through `tap`. */
export function tapBody(response: Response, tap: BodyTap): Response {
  // Read before the body (bodyOf).
  let headers = response.headers;
  if (tap.without !== undefined) {
    headers = new Headers(headers);
    for (const name of tap.without) headers.delete(name);
  }
  return new Response(tapStream(response.body!, tap), {
    status: response.status,
    statusText: response.statusText,
    headers,
  });
}

/** What a second layer may add to a stream's tap (joinTap). */
export type JoinedTap = Pick<BodyTap, "chunk" | "failed">;

// The streams tapStream made, each with what joins a tap to its own (false once begun or joined).
const joinable = new WeakMap<ReadableStream<Uint8Array>, (more: JoinedTap) => boolean>();

/**
 * Adds `tap` to the tap `stream` is read through, if tapStream made it, no read has begun and no
 * tap was joined yet: a second layer (native_body_read.ts, on Deno's stop-wait tap, deno.ts) hears
 * the same chunks without a second tap and a second copy of the request. Its `chunk` is told after
 * the first tap's, its `failed` given what the first one's gave. False: not joined.
 */
export function joinTap(stream: ReadableStream<Uint8Array>, tap: JoinedTap): boolean {
  return joinable.get(stream)?.(tap) ?? false;
}

/** `source` read through `tap` (its `without` does not apply to a stream). */
export function tapStream(
  source: ReadableStream<Uint8Array>,
  tap: BodyTap,
): ReadableStream<Uint8Array> {
  const reader = source.getReader();
  let ended = false;
  let cutOff = false;
  let begun = false;
  let joined: JoinedTap | undefined;
  let stream!: ReadableStreamDefaultController<Uint8Array>;
  const end = () => {
    if (ended) return;
    ended = true;
    // A tap's own failure must not cut the reply nor keep a cancel from the source; the taps
    // log what they need themselves.
    try {
      tap.end?.();
    } catch {
      // Nothing to add: see above.
    }
  };
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      stream = controller;
    },
    async pull(controller) {
      begun = true;
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch (error) {
        end();
        if (cutOff) return;
        const failure = tap.failed ? tap.failed(error) : error;
        throw joined?.failed ? joined.failed(failure) : failure;
      }
      // Cut off meanwhile: the server's read has failed already, this chunk goes nowhere.
      if (cutOff) return;
      if (chunk.done) {
        end();
        return controller.close();
      }
      try {
        tap.chunk?.(chunk.value);
        joined?.chunk?.(chunk.value);
      } catch (refusal) {
        end();
        reader.cancel(refusal).catch(() => {});
        throw refusal;
      }
      controller.enqueue(chunk.value);
    },
    cancel(reason) {
      begun = true;
      end();
      return reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
  joinable.set(body, (more) => {
    if (begun || cutOff || joined !== undefined) return false;
    joined = more;
    return true;
  });
  tap.cutter?.((reason) => {
    if (cutOff) return;
    cutOff = true;
    end();
    reader.cancel(reason).catch(() => {});
    // A turn later: the chunk the server took last goes out first (Bun.serve dropped it, one time
    // in a few under load); no chunk passes meanwhile.
    setTimeout(() => stream.error(reason), 0);
  });
  return body;
}

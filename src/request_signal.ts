// Deno's Request reads its own signal through an accessor keyed by a symbol of its own (as do its
// `signal` getter, `clone()` and `new Request(request)`, and so `fetch(request)`). A subclass whose
// `signal` is not the native one routes that accessor to its getter, so those read its signal too.
// Bun's read `signal` itself: there, no such symbol, nothing done.
//
// A copy of a request with another body (a tapped one) made by `new Request(request, { body })`
// reads the source's signal through that accessor at once, and Deno.serve (2.9.6) then warns about
// its "legacy" abort as if the app had: withBody() copies it so its signal is read only when asked.

const NativeRequest = globalThis.Request;

// The accessor, where the runtime has one (Deno).
const INTERNAL_SIGNAL = Object.getOwnPropertySymbols(NativeRequest.prototype).find((key) =>
  key.description === "signal" &&
  typeof Object.getOwnPropertyDescriptor(NativeRequest.prototype, key)?.get === "function"
);

/** Routes Deno's internal signal accessor of `subclass`'s instances to their `signal` getter. */
export function routeOwnSignal(subclass: { prototype: globalThis.Request }): void {
  if (INTERNAL_SIGNAL === undefined) return;
  Object.defineProperty(subclass.prototype, INTERNAL_SIGNAL, {
    get(this: globalThis.Request): AbortSignal {
      return this.signal;
    },
    configurable: true,
  });
}

/**
 * `source` with `body` instead of its own, its signal the source's, read only when asked. Not for
 * a method the constructor refuses (TRACE, TRACK, CONNECT) or rewrites (a lowercase "post").
 */
// Named as the global is, so `request.constructor.name` is "Request" as the native servers' is.
class Request extends NativeRequest {
  #source: globalThis.Request;

  constructor(source: globalThis.Request, body: ReadableStream<Uint8Array>) {
    super(source.url, {
      method: source.method,
      headers: source.headers,
      body,
      duplex: "half",
    } as RequestInit);
    this.#source = source;
  }

  override get signal(): AbortSignal {
    return this.#source.signal;
  }
}

// Its `clone()` and `new Request(request)` read ours too.
routeOwnSignal(Request);

export { Request as SignalLazyRequest };

// Methods the Request constructor refuses (TRACE, TRACK, CONNECT) or rewrites (a lowercase "post"
// as "POST", where the native servers keep it as sent).
const REWRITTEN = new Set(["DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT"]);
const REFUSED = new Set(["CONNECT", "TRACE", "TRACK"]);

/** Whether a Request of `method` can be copied as it is (SignalLazyRequest, `new Request`). */
export function copyable(method: string): boolean {
  const upper = method.toUpperCase();
  return !REFUSED.has(upper) && (upper === method || !REWRITTEN.has(upper));
}

/**
 * `request` with `body` instead of its own, as `new Request(request, { body })` makes it, its
 * signal the request's: read only when asked where that copy would read it at once (Deno).
 */
export function withBody(
  request: globalThis.Request,
  body: ReadableStream<Uint8Array>,
): globalThis.Request {
  const lazy = INTERNAL_SIGNAL !== undefined && copyable(request.method);
  // Bun's copy of a subclass would not follow the source's signal in its clone(): the plain copy.
  if (lazy) return new Request(request, body);
  return new NativeRequest(request, { body, duplex: "half" } as RequestInit);
}

// The request Deno.serve made, with its body read through a tap (runtime/deno.ts waits, at a
// stop, for the bodies under way). `new Request(request, { body })` would read the source's signal,
// and Deno.serve (2.9.6) then warns about its "legacy" abort as if the app had: this one reads it
// only when something reads `signal`.

const NativeRequest = globalThis.Request;

// Named as the global is, so `request.constructor.name` is "Request" as Deno.serve's is.
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

// Deno's Request reads its own signal through an accessor keyed by a symbol of its own (its
// `clone()` and `new Request(request)` do, as in http/app_request.ts): routed to ours too.
const internal = Object.getOwnPropertySymbols(NativeRequest.prototype).find((key) =>
  key.description === "signal" &&
  typeof Object.getOwnPropertyDescriptor(NativeRequest.prototype, key)?.get === "function"
);
if (internal !== undefined) {
  Object.defineProperty(Request.prototype, internal, {
    get(this: Request): AbortSignal {
      return this.signal;
    },
    configurable: true,
  });
}

export { Request as TappedRequest };

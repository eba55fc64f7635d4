// The request Deno.serve made, with its body read through a tap (runtime/deno.ts waits, at a
// stop, for the bodies under way). `new Request(request, { body })` would read the source's signal,
// and Deno.serve (2.9.6) then warns about its "legacy" abort as if the app had: this one reads it
// only when something reads `signal`.

import { routeOwnSignal } from "../request_signal.ts";

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

// Its `clone()` and `new Request(request)` read ours too.
routeOwnSignal(Request);

export { Request as TappedRequest };

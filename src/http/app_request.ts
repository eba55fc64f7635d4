// The Request appserve's HTTP layer hands the app: its `signal` aborts when the client goes away
// (or the server cuts the connection), as the requests of Deno.serve and Bun.serve do. The
// AbortController is made only when something reads `signal`: a request whose app never does costs
// about what a plain Request costs (docs/architecture.md, "HTTP on the shared socket").

import { routeOwnSignal } from "../request_signal.ts";

const NativeRequest = globalThis.Request;

/** The AbortError a request's signal aborts with, and an abandoned response stream is cancelled with. */
export function abortError(message: string): DOMException {
  return new DOMException(message, "AbortError");
}

/** Aborts `request`'s signal with an AbortError saying `message`: now, or when it is first read. */
export let abortRequestSignal: (request: globalThis.Request, message: string) => void;

// Named as the global is, so `request.constructor.name` is "Request" as under the native servers.
class Request extends NativeRequest {
  #controller: AbortController | null = null;
  /** Why the signal aborts, once that is decided ("" until then). */
  #abortMessage = "";

  static {
    abortRequestSignal = (request, message) => {
      if (!(#abortMessage in request) || request.#abortMessage !== "") return;
      request.#abortMessage = message;
      request.#controller?.abort(abortError(message));
    };
  }

  override get signal(): AbortSignal {
    let controller = this.#controller;
    if (controller === null) {
      controller = this.#controller = new AbortController();
      if (this.#abortMessage !== "") controller.abort(abortError(this.#abortMessage));
    }
    return controller.signal;
  }

  // The native clone follows the native signal, which never aborts.
  override clone(): globalThis.Request {
    return new NativeRequest(super.clone(), { signal: this.signal });
  }
}

// Its `clone()` and `new Request(request)` read ours too.
routeOwnSignal(Request);

export { Request as AppRequest };

// The answer to a request the app failed (a throw, a rejection, no Response), made where the
// request hooks need it, so post_request sees the response that goes out, and by the native
// servers of --reuse-port: the app's fault is logged at ERROR and answered 500; a body the client
// broke is the client's, answered 400 without the app's stack.

import { tapBody } from "../body_tap.ts";
import type { FailureAnswer } from "../hooks.ts";
import { BODY_CUT, isClientBodyError } from "../http/body.ts";
import { statusReply, statusText } from "../http/status_reply.ts";
import type { Logger } from "../log/logger.ts";
import type { FetchHandler } from "../http/types.ts";
import type { Runtime } from "../runtime/types.ts";
import { appErrorResponder } from "./app_error.ts";

// The runtime knows the error of a body read whose client left; an app may have wrapped it.
function nativeBodyCut(error: unknown, request: Request, runtime: Runtime): boolean {
  if (request.body === null) return false;
  return runtime.bodyCut(error) ||
    (error instanceof Error && error.cause !== undefined && runtime.bodyCut(error.cause));
}

// The native servers say no length the access log could read: the replies made here declare
// theirs, so the access line gives the bytes appserve's own layer gives.
function declared(response: Response, text: string): Response {
  response.headers.set("content-length", String(new TextEncoder().encode(text).length));
  return response;
}

// The client's fault, answered and logged as appserve's own layer does (connection.ts).
function clientCut(log: Logger, hostname: string): Response {
  log.warning(`Invalid request from ip=${hostname}: ${BODY_CUT} (400)`);
  return declared(statusReply(400, BODY_CUT), statusText(400, BODY_CUT));
}

/**
 * Under --reuse-port: an app that answers a body read its client broke with a 500 of its own
 * (Hono's onError) is logged as the client's fault too, as a thrown read is. The native servers
 * say nothing of the read itself, so the app reads the body through a tap that marks a read
 * that failed: the signs are a 500 after such a read and the client gone (its request's signal
 * aborted). A body read whole and a client that left later keep the app's 500. For Bun workers
 * only: Deno.serve (2.9.6) leaves the signal alone when the client leaves mid-body (such a 500
 * stays the app's), and a request made from its own reads its signal, which it then warns about.
 * Not an async function, for the reason guardedNative() is not.
 */
export function clientLeftMidBody(handler: FetchHandler, log: Logger): FetchHandler {
  const judged = (
    response: Response,
    request: Request,
    readFailed: boolean,
    hostname: string,
  ): Response => {
    if (!(response instanceof Response) || response.status !== 500) return response;
    if (!readFailed || !request.signal.aborted) return response;
    response.body?.cancel().catch(() => {});
    return clientCut(log, hostname);
  };
  return (request, info) => {
    // Asked first: an upgraded request's body can no longer be asked for (Deno).
    if (request.body === null) return handler(request, info);
    // Read now: Deno's info is gone once the request has been answered.
    const hostname = info.remoteAddr.hostname;
    let readFailed = false;
    const body = tapBody(new Response(request.body), {
      failed(error) {
        readFailed = true;
        return error;
      },
    }).body;
    // Its signal is the request's own: the app still sees the client leave.
    const tapped = new Request(request, { body, duplex: "half" } as RequestInit);
    const result = handler(tapped, info);
    if (result instanceof Response) return result;
    return Promise.resolve(result).then((response) =>
      judged(response, request, readFailed, hostname)
    );
  };
}

/** How this worker answers a failed request, on the shared socket and the native servers alike. */
export function failureAnswer(log: Logger, runtime: Runtime): FailureAnswer {
  const onError = appErrorResponder(log, runtime.explainAppError);
  return (error, request, info) => {
    // appserve's own layer logged the fault and answers it with its refusal, whatever comes here.
    if (isClientBodyError(error)) return statusReply(400, (error as Error).message);
    if (!nativeBodyCut(error, request, runtime)) {
      return declared(onError(error, request), statusText(500));
    }
    return clientCut(log, info.remoteAddr.hostname);
  };
}

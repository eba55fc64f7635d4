// What the native servers of --reuse-port mode answer and log when the app fails, as appserve's
// own layer does (src/http/exchange.ts): a throw, a rejection or no Response is logged at ERROR
// and answered 500; a failure on a body the client broke (it left before sending it all) is the
// client's, answered 400 and logged as a WARNING, without the app's stack.

import { notAResponse, statusReply, statusText } from "../http/status_reply.ts";
import type { FetchHandler, ServeInfo } from "../http/types.ts";
import type { Logger } from "../log/logger.ts";
import type { Runtime } from "../runtime/types.ts";
import { appErrorResponder } from "./app_error.ts";

// The words of appserve's own layer for the same fault (src/http/connection.ts).
const BODY_CUT = "client closed the connection before the request body was complete";

// The runtime knows the error of a body read whose client left; an app may have wrapped it.
function bodyCut(error: unknown, request: Request, runtime: Runtime): boolean {
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

/**
 * Wraps `handler` so every failure is answered and logged as the shared socket does. Not an
 * async function: a Response returned synchronously keeps Deno.serve's fast path.
 */
export function guardedNative(handler: FetchHandler, log: Logger, runtime: Runtime): FetchHandler {
  const onError = appErrorResponder(log, runtime.explainAppError);
  const fail = (error: unknown, request: Request, info: ServeInfo): Response => {
    if (!bodyCut(error, request, runtime)) {
      return declared(onError(error, request), statusText(500));
    }
    log.warning(`Invalid request from ip=${info.remoteAddr.hostname}: ${BODY_CUT} (400)`);
    return declared(statusReply(400, BODY_CUT), statusText(400, BODY_CUT));
  };
  const check = (response: unknown, request: Request, info: ServeInfo): Response => {
    if (response instanceof Response) return response;
    // After Bun's server.upgrade() the native server ignores what fetch returns (often nothing).
    if (response === undefined && request.headers.has("upgrade")) return response as never;
    return fail(notAResponse(response), request, info);
  };
  return (request, info) => {
    try {
      const result = handler(request, info);
      if (result instanceof Response) return result;
      return Promise.resolve(result).then(
        (r) => check(r, request, info),
        (error) => fail(error, request, info),
      );
    } catch (error) {
      return fail(error, request, info);
    }
  };
}

// The answer to a request the app failed (a throw, a rejection, no Response), made where the
// request hooks need it, so post_request sees the response that goes out, and by the native
// servers of --reuse-port: the app's fault is logged at ERROR and answered 500; a body the client
// broke is the client's, answered 400 without the app's stack.

import type { FailureAnswer } from "../hooks.ts";
import { BODY_CUT, isClientBodyError } from "../http/body.ts";
import { statusReply, statusText } from "../http/status_reply.ts";
import type { Logger } from "../log/logger.ts";
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

/** How this worker answers a failed request, on the shared socket and the native servers alike. */
export function failureAnswer(log: Logger, runtime: Runtime): FailureAnswer {
  const onError = appErrorResponder(log, runtime.explainAppError);
  return (error, request, info) => {
    // appserve's own layer logged the fault and answers it with its refusal, whatever comes here.
    if (isClientBodyError(error)) return statusReply(400, (error as Error).message);
    if (!nativeBodyCut(error, request, runtime)) {
      return declared(onError(error, request), statusText(500));
    }
    log.warning(`Invalid request from ip=${info.remoteAddr.hostname}: ${BODY_CUT} (400)`);
    return declared(statusReply(400, BODY_CUT), statusText(400, BODY_CUT));
  };
}

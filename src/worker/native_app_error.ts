// What the native servers of --reuse-port mode answer and log when the app fails, as appserve's
// own layer does (src/http/exchange.ts): a throw, a rejection or no Response is logged at ERROR
// and answered 500; a failure on a body the client broke (it left before sending it all) is the
// client's, answered 400 and logged as a WARNING, without the app's stack (failure_answer.ts).

import { notAResponse } from "../http/status_reply.ts";
import type { FetchHandler, ServeInfo } from "../http/types.ts";
import type { Logger } from "../log/logger.ts";
import type { Runtime } from "../runtime/types.ts";
import { failureAnswer } from "./failure_answer.ts";

/**
 * Wraps `handler` so every failure is answered and logged as the shared socket does. Not an
 * async function: a Response returned synchronously keeps Deno.serve's fast path.
 */
export function guardedNative(handler: FetchHandler, log: Logger, runtime: Runtime): FetchHandler {
  const fail = failureAnswer(log, runtime);
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

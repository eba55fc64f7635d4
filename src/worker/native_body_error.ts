// A response body that fails after its head went out, under --reuse-port: logged as the shared
// socket logs it (bodyErrorLogger: ERROR, the request line, the app's stack), and the stream
// then fails with a BodyErrorLogged, which the native server takes as the cut it is and leaves
// unsaid (Deno.serve would print the app's error raw, outside the log format).

import { bodyOf, tapBody } from "../body_tap.ts";
import { spentBodyError } from "../spent_body.ts";
import type { FetchHandler, ServeInfo } from "../http/types.ts";
import type { Logger } from "../log/logger.ts";
import { BodyErrorLogged, type Runtime } from "../runtime/types.ts";
import { bodyErrorLogger } from "./app_error.ts";
import { failureAnswer } from "./failure_answer.ts";
import { type BodyFacts, chunkBytes } from "./native_body_bytes.ts";
import type { Sending, StreamEnds } from "./native_stream_ends.ts";

// A body the runtime holds whole (a string, bytes, a file), told before `body` is read: reading
// it turns such a body into a stream.
function notStream(response: Response, facts: BodyFacts): boolean {
  return facts.staticBody(response) !== null || facts.knownLength(response) >= 0;
}

// What a body fetch() decoded loses: its encoding and length are the upstream's, not its own.
const DECODED_DROPS = ["content-encoding", "content-length"] as const;

// Statuses whose responses carry no body, whatever the app gives (RFC 9110 6.4.1).
const BODILESS = new Set([101, 204, 205, 304]);

/**
 * Wraps `handler` so a failing response stream is logged once, through `log`; each stream it
 * reads is told to `ends` as it starts and ends.
 */
export function bodyErrorsLogged(
  handler: FetchHandler,
  log: Logger,
  runtime: Runtime,
  ends?: StreamEnds,
): FetchHandler {
  const logError = bodyErrorLogger(log);
  const fail = failureAnswer(log, runtime);
  const watched = (response: Response, request: Request, info: ServeInfo): Response => {
    // A body that is no stream cannot fail. A Content-Length proves nothing: `fetch(upstream)`
    // declares one for a stream.
    if (!(response instanceof Response) || notStream(response, runtime)) return response;
    // A HEAD's body is not sent: untouched (`body` not read), the server still knows the length
    // of what it is made of (Bun.serve: a Blob's, a fetch()'s) for the head.
    if (request.method === "HEAD") return response;
    // A decoded one keeps its mark only on its own Response: the tapped one goes without the
    // upstream's encoding and length, as Deno.serve sends a decoded body (and the shared socket).
    const decoded = runtime.decodedBody(response);
    const body = bodyOf(response);
    if (body === null) return response;
    // Sent before (a cached Response): the natives' 500, logged as the app's failure in one line,
    // not a locked stream's TypeError printed raw with appserve's stack and no access line.
    if (response.bodyUsed || body.locked) return fail(spentBodyError(), request, info);
    let cut: (reason: unknown) => void = () => {};
    let sending: Sending | undefined;
    const tapped: Response = tapBody(response, {
      failed(error) {
        logError(error, request);
        return new BodyErrorLogged();
      },
      end: ends && (() => ends.ended(tapped)),
      chunk: ends && ((value) => {
        if (sending === undefined) return;
        sending.bytes += chunkBytes(value);
        sending.onBytes?.(sending.bytes);
      }),
      without: decoded ? DECODED_DROPS : undefined,
      cutter: (c) => cut = c,
    });
    // A bodiless status's stream is not sent: nothing may wait for its end. One cut off fails
    // as a logged one does: the native server ends the reply without a word.
    if (!BODILESS.has(response.status)) {
      sending = ends?.started(tapped, () => cut(new BodyErrorLogged()));
    }
    return tapped;
  };
  // Not an async function, for the reason guardedNative() is not.
  return (request, info) => {
    const result = handler(request, info);
    return result instanceof Response
      ? watched(result, request, info)
      : Promise.resolve(result).then((response) => watched(response, request, info));
  };
}

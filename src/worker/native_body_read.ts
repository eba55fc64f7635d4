// A request body under --reuse-port, read by the app through one tap for what the native servers
// do not do or tell: limit_request_body (they have no such knob: a declared length over the
// limit is refused before the app runs; a streamed body is counted as the app reads it and the
// app's answer is replaced by 413 once it grows past the limit), and, where a judge is given,
// whether the app's read of it failed (clientLeftMidBody). One copy of the Request at most; none
// where the body is read through a tap already (Deno's stop-wait): this one joins it (joinTap).

import { type JoinedTap, joinTap, tapStream } from "../body_tap.ts";
import { withBody } from "../request_signal.ts";
import { bodyTooLargeReason, statusReply } from "../http/status_reply.ts";
import type { FetchHandler } from "../http/types.ts";

class BodyTooLarge extends TypeError {}

/**
 * What becomes of the app's answer to a request whose body it read through the tap:
 * `readFailed`, a read of the body failed (not for the limit); `hostname`, the client's, read
 * before the app ran.
 */
export type ReadJudge = (
  response: Response,
  request: Request,
  readFailed: boolean,
  hostname: string,
) => Response;

/**
 * Wraps `handler` so bodies above `limit` bytes (0 = unlimited) get 413, `warn` logging each, and
 * its answers to requests with a body go through `judge`, if given. Not an async function, for
 * the reason guardedNative() is not.
 */
export function readBody(
  handler: FetchHandler,
  { limit, warn, judge }: {
    limit: number;
    warn: (message: string) => void;
    judge?: ReadJudge;
  },
): FetchHandler {
  if (limit <= 0 && judge === undefined) return handler;
  const reason = bodyTooLargeReason(limit);
  const message = `${reason} (413)`;
  const tooLarge = () => statusReply(413, reason);
  return (request, info) => {
    // Asked first: an upgraded request's body can no longer be asked for (Deno).
    if (request.body === null) return handler(request, info);
    const declared = Number(request.headers.get("content-length") ?? -1);
    if (limit > 0 && declared > limit) {
      warn(message);
      return tooLarge();
    }
    const counting = limit > 0 && declared < 0;
    if (!counting && judge === undefined) return handler(request, info);
    // Read now: Deno's info is gone once the request has been answered.
    const hostname = info.remoteAddr.hostname;
    let seen = 0;
    let over = false;
    let readFailed = false;
    const tap: JoinedTap = {
      chunk: counting
        ? (chunk) => {
          seen += (chunk as Uint8Array).byteLength;
          if (seen <= limit) return;
          over = true;
          throw new BodyTooLarge("request body exceeds limit_request_body");
        }
        : undefined,
      failed(error) {
        readFailed = true;
        return error;
      },
    };
    // A body read through a tap already (Deno's stop-wait, runtime/deno.ts) takes this one too:
    // the request goes on as it is. Otherwise a copy, its signal the request's own: the app still
    // sees the client leave.
    const tapped = joinTap(request.body, tap)
      ? request
      : withBody(request, tapStream(request.body, tap));
    const answered = (response: Response): Response => {
      if (over) {
        response.body?.cancel().catch(() => {});
        warn(message);
        return tooLarge();
      }
      return judge ? judge(response, request, readFailed, hostname) : response;
    };
    const result = handler(tapped, info);
    // A read takes a turn: an answer given at once came before any.
    if (result instanceof Response) return result;
    return Promise.resolve(result).then(answered, (error) => {
      if (!over) throw error;
      warn(message);
      return tooLarge();
    });
  };
}

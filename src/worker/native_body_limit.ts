// limit_request_body for the native servers of --reuse-port mode, which have no such knob: a
// declared length over the limit is refused before the app runs; a streamed body is counted as
// the app reads it and the app's answer is replaced by 413 once it grows past the limit.

import { bodyTooLargeReason, statusReply } from "../http/status_reply.ts";
import type { FetchHandler } from "../http/types.ts";

class BodyTooLarge extends TypeError {}

/** Wraps `handler` so bodies above `limit` bytes (0 = unlimited) get 413; `warn` logs each. */
export function limitBody(
  handler: FetchHandler,
  limit: number,
  warn: (message: string) => void,
): FetchHandler {
  if (limit <= 0) return handler;
  const reason = bodyTooLargeReason(limit);
  const message = `${reason} (413)`;
  const tooLarge = () => statusReply(413, reason);
  return async (request, info) => {
    if (request.body === null) return handler(request, info);
    const declared = Number(request.headers.get("content-length") ?? -1);
    if (declared > limit) {
      warn(message);
      return tooLarge();
    }
    if (declared >= 0) return handler(request, info);
    let seen = 0;
    let over = false;
    const counted = request.body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          seen += chunk.byteLength;
          if (seen > limit) {
            over = true;
            throw new BodyTooLarge("request body exceeds limit_request_body");
          }
          controller.enqueue(chunk);
        },
      }),
    );
    const init = { body: counted, duplex: "half" } as RequestInit;
    let response: Response;
    try {
      response = await handler(new Request(request, init), info);
    } catch (error) {
      if (!over) throw error;
      response = tooLarge();
    }
    if (!over) return response;
    response.body?.cancel().catch(() => {});
    warn(message);
    return tooLarge();
  };
}

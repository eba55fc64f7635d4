// What a worker does when the app throws: log the request line and the stack
// at ERROR, answer 500 (or, once the response is under way, cut it), keep serving.

import type { Logger } from "../log/logger.ts";

const BODY = "Internal Server Error";

function requestLine(request: Request): string {
  const url = new URL(request.url);
  return `${request.method} ${url.pathname}${url.search}`;
}

export function appErrorResponder(log: Logger): (error: unknown, request: Request) => Response {
  return (error, request) => {
    log.exception(`Error handling request ${requestLine(request)}`, error);
    return new Response(BODY, { status: 500, headers: { "content-type": "text/plain" } });
  };
}

/** Logs a response body that failed after its head was sent (the client got a cut reply). */
export function bodyErrorLogger(log: Logger): (error: unknown, request: Request) => void {
  return (error, request) =>
    log.exception(
      `Error in the response body of ${requestLine(request)}; the reply was cut off`,
      error,
    );
}

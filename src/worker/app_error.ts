// What a worker does when the app throws: log the request line and the stack
// at ERROR, answer 500, keep serving.

import type { Logger } from "../log/logger.ts";

const BODY = "Internal Server Error";

export function appErrorResponder(log: Logger): (error: unknown, request: Request) => Response {
  return (error, request) => {
    const url = new URL(request.url);
    log.exception(`Error handling request ${request.method} ${url.pathname}${url.search}`, error);
    return new Response(BODY, { status: 500, headers: { "content-type": "text/plain" } });
  };
}

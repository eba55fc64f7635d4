// --request-timeout: an app that has not returned its Response in time gets a 504 sent for it,
// and its slot (the sync worker's only one, a gthread thread's) is free again, while the app's
// own promise runs on unseen. --timeout is different: it catches a worker whose event loop
// stopped, which no timer inside that worker could.

import { statusReply } from "../http/status_reply.ts";
import type { FetchHandler } from "../http/types.ts";
import type { Logger } from "../log/logger.ts";

function noop(): void {}

/** `handler`, answering 504 for a request the app has not answered after `seconds` (0: never). */
export function withRequestTimeout(
  handler: FetchHandler,
  seconds: number,
  log: Logger,
): FetchHandler {
  if (seconds <= 0) return handler;
  return (request, info) => {
    const result = handler(request, info);
    if (result instanceof Response) return result;
    return new Promise<Response>((resolve, reject) => {
      let late = false;
      const timer = setTimeout(() => {
        late = true;
        const url = new URL(request.url);
        log.error(
          `Request timed out after ${seconds}s (request_timeout): ` +
            `${request.method} ${url.pathname}${url.search}`,
        );
        resolve(statusReply(504, `the app did not answer within ${seconds}s`));
      }, seconds * 1000);
      Promise.resolve(result).then((response) => {
        clearTimeout(timer);
        if (!late) return resolve(response);
        // Nobody will read it: let the app's stream know.
        if (response instanceof Response && response.body && !response.body.locked) {
          response.body.cancel().catch(noop);
        }
      }, (error) => {
        clearTimeout(timer);
        if (!late) reject(error);
      });
    });
  };
}

// What a worker does when the app throws: log the request line and the stack
// at ERROR, answer 500 (or, once the response is under way, cut it), keep serving.

import { appErrorReply } from "../http/status_reply.ts";
import type { Logger } from "../log/logger.ts";

function requestLine(request: Request): string {
  // A native server may hand on a url that does not parse (Bun: a Host with a space in it); the
  // error being reported must not be lost to a second one.
  let target = request.url;
  try {
    const url = new URL(target);
    target = url.pathname + url.search;
  } catch { /* the url as it came */ }
  return `${request.method} ${target}`;
}

/**
 * The 500 answer to a throw. `explain` may give the error as one line instead of its stack
 * (Runtime.explainAppError: under Bun, code that needs Deno); it runs only on errors.
 */
export function appErrorResponder(
  log: Logger,
  explain?: (error: unknown) => string | undefined,
): (error: unknown, request: Request) => Response {
  return (error, request) => {
    logAppError(log, `Error handling request ${requestLine(request)}`, error, explain);
    return appErrorReply();
  };
}

/** An error of the app's code at ERROR: `headline`, then its stack (or `explain`'s one line). */
export function logAppError(
  log: Logger,
  headline: string,
  error: unknown,
  explain?: (error: unknown) => string | undefined,
): void {
  const why = explain?.(error);
  if (why !== undefined) log.error(`${headline}: ${why}`);
  else log.exception(headline, error);
}

/** Logs a response body that failed after its head was sent (the client got a cut reply). */
export function bodyErrorLogger(log: Logger): (error: unknown, request: Request) => void {
  return (error, request) =>
    log.exception(
      `Error in the response body of ${requestLine(request)}; the reply was cut off`,
      error,
    );
}

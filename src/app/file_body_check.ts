// A response whose file body cannot be sent (Bun: a Bun.file() of a missing file, a directory) is
// answered as Bun.serve answers it: as a throw from the app, which the app's `error` (Bun.serve's
// shape, load_app.ts) answers when it has one, and the worker otherwise logs at ERROR and answers
// 500, on the shared socket and with --reuse-port alike. Found before the head goes out, where it
// can still be answered: the shared socket would only learn of it as it opened the file, and
// Bun.serve's `error` option knows no request to log it against.

import type { FetchHandler } from "../fetch_handler.ts";

/** Why a response's file body cannot be sent, or null (Runtime.fileFailure). */
export type FileFailure = (response: Response) => Error | null;

/** `handler`, throwing (rejecting with) the error of a response whose file body cannot be sent. */
export function fileBodiesChecked(handler: FetchHandler, failure: FileFailure): FetchHandler {
  const checked = (response: unknown): unknown => {
    const error = response instanceof Response ? failure(response) : null;
    if (error !== null) throw error;
    return response;
  };
  // Not an async function: a Response returned synchronously keeps the servers' fast paths.
  return ((request, info) => {
    const result = handler(request, info);
    return result instanceof Response ? checked(result) : Promise.resolve(result).then(checked);
  }) as FetchHandler;
}

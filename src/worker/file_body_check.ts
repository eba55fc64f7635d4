// A response whose file body cannot be sent (Bun: a Bun.file() of a missing file, a directory) is
// answered as Bun.serve answers it: by the app's `error` when it has one, else as a throw from
// the app (logged at ERROR with the error, answered 500), on the shared socket and with
// --reuse-port alike. Found before the head goes out, where it can still be answered: the
// shared socket would only learn of it as it opened the file, and Bun.serve's `error` option
// knows no request to log it against.

import { appErrorOption, type ErrorAnswer } from "../app/app_error_option.ts";
import type { FetchHandler } from "../http/types.ts";
import type { Runtime } from "../runtime/types.ts";

/** `handler` with its responses' file bodies checked (Runtime.fileFailure); as it is without. */
export function fileBodiesChecked(
  handler: FetchHandler,
  runtime: Pick<Runtime, "fileFailure">,
  answer: ErrorAnswer | undefined,
): FetchHandler {
  const failure = runtime.fileFailure;
  if (failure === undefined) return handler;
  const checked = (response: Response): Response | Promise<Response> => {
    const error = response instanceof Response ? failure(response) : null;
    if (error === null) return response;
    if (answer === undefined) throw error;
    return answer(error);
  };
  // Not an async function: a Response returned synchronously keeps the servers' fast paths.
  return (request, info) => {
    const result = handler(request, info);
    return result instanceof Response ? checked(result) : Promise.resolve(result).then(checked);
  };
}

/** `app`, loaded from `appModule`, with its file bodies checked and answered by its own `error`. */
export async function withFileBodyCheck(
  app: FetchHandler,
  runtime: Pick<Runtime, "fileFailure">,
  appModule: string,
  cwd: string,
): Promise<FetchHandler> {
  if (runtime.fileFailure === undefined) return app;
  return fileBodiesChecked(app, runtime, await appErrorOption(appModule, cwd));
}

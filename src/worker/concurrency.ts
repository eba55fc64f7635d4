// Caps how many requests a worker runs at once (sync: 1, async:
// worker_connections). Requests beyond the cap wait in order instead of being
// refused: behind a proxy a short wait beats a 503, and nothing is lost.

import type { FetchHandler } from "../http/types.ts";

/**
 * `held`, when given, hears how long each request held its place (ms, from taking it to the app's
 * answer): what a request waiting behind it waited for.
 */
export function limitConcurrency(
  handler: FetchHandler,
  max: number,
  held?: (ms: number) => void,
): FetchHandler {
  let running = 0;
  const waiting: (() => void)[] = [];
  const free = () => {
    const next = waiting.shift();
    if (next) next();
    else running--;
  };
  // Not async: a Response returned synchronously keeps the servers' fast paths.
  const run: FetchHandler = (request, info) => {
    const since = held ? performance.now() : 0;
    const release = held
      ? () => {
        held(performance.now() - since);
        free();
      }
      : free;
    let result;
    try {
      result = handler(request, info);
    } catch (error) {
      release();
      throw error;
    }
    if (result instanceof Response) {
      release();
      return result;
    }
    return Promise.resolve(result).finally(release);
  };
  return (request, info) => {
    if (running < max) {
      running++;
      return run(request, info);
    }
    // The slot passes straight from the finishing request to the next waiter.
    return new Promise<void>((resolve) => waiting.push(resolve)).then(() => run(request, info));
  };
}

// A graceful stop with a deadline: what a server still has open when the
// deadline passes is closed (or left) then, so a stuck client cannot hold a
// draining worker past graceful_timeout.

import type { HttpServer } from "../http/server.ts";

/** Waits for `done`, at most `ms`; calls `onLate` when the wait ran out. */
export function withDeadline(done: Promise<void>, ms: number, onLate: () => void): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      onLate();
      resolve();
    }, ms);
  });
  return Promise.race([done, late]).finally(() => clearTimeout(timer));
}

/**
 * Graceful close of a server; what is still open after `ms` is closed at once, `beforeCut` called
 * first (while the requests it cuts off are still in flight). Resolves once the 504s of the
 * requests cut off before their answer began went out (HttpServer.closeNow), before the exit.
 */
export async function closeWithin(
  server: HttpServer,
  ms: number,
  beforeCut?: () => void,
): Promise<void> {
  let cut: Promise<void> | undefined;
  await withDeadline(server.close(), ms, () => {
    beforeCut?.();
    cut = server.closeNow();
  });
  await cut;
}

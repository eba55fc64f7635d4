// What a worker says when its runtime's own server (--reuse-port) stops accepting by itself:
// Deno.serve closes its listener for good after an accept error such as EMFILE
// (docs/architecture.md, "Accepting"). Said as the shortage it is, not as the app's failure.

import { fdLimit, openFds } from "../net/fd_usage.ts";

/**
 * The ERROR line for `label` (Deno.serve) that stopped accepting at `where` (host:port) with
 * `error`: the worker is replaced next.
 */
export function nativeStoppedText(error: unknown, where: string, label: string): string {
  const message = error instanceof Error ? error.message : String(error);
  // EMFILE (24) and ENFILE (23), as Deno's accept loop words them.
  const cause = /too many open files|\(os error 2[34]\)/i.test(message)
    ? `too many open files (${Math.min(openFds(), fdLimit())} open, ulimit -n ${fdLimit()})`
    : message;
  return `Cannot accept connections: ${cause}; ${label} at ${where} does not accept again ` +
    "after that, so this worker is replaced";
}

// An error the app's code throws outside any request and nobody catches (a throw in a timer
// callback, a promise rejection nobody handles) ends the worker process, or the gthread thread,
// as it ends any program; `fatal` says it through appserve's logger first, instead of the
// runtime's own report on stderr (Bun's code frame; Deno's in colour, which --capture-output
// carried into the error log as it was).
//
// node:process's events are the ones both runtimes fire for both kinds, in a process and in a
// Web Worker thread alike (measured, Bun 1.4.4 and Deno 2.9): Bun fires no global "error" or
// "unhandledrejection" in its main thread, and in a thread only "error", for both kinds, which
// preventDefault() does not stop. A listener keeps the runtime from ending the process itself.

import process from "node:process";

/** Hands `fatal` the first uncaught error, with what it was; `fatal` must end the process. */
export function onUncaught(fatal: (what: string, error: unknown) => void): void {
  let seen = false;
  const handle = (what: string) => (error: unknown) => {
    // One is said: what fails while the process ends adds nothing.
    if (seen) return;
    seen = true;
    fatal(what, error);
  };
  process.on("uncaughtException", handle("Uncaught exception"));
  process.on("unhandledRejection", handle("Unhandled promise rejection"));
}

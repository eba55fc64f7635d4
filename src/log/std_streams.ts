// stdout and stderr as log destinations. A write whose reader is gone (EPIPE)
// or whose disk is full fails, on both runtimes, as an 'error' event of the
// node stream after write() returned (Bun may also throw from write()); with
// no listener that event ends the process, or a gthread thread. So each stream
// gets one listener per process or thread, here, and a stream that failed
// once drops whatever is written to it afterwards: a reader that went does not
// come back, and a Deno stream that threw (a full disk) completes no later write,
// so what is written to it would pile up in memory.

import process from "node:process";

export type StdStream = "stdout" | "stderr";

const failures = new Map<StdStream, Error | undefined>();

function guard(name: StdStream): void {
  if (failures.has(name)) return;
  failures.set(name, undefined);
  process[name].on("error", (error: Error) => {
    failures.set(name, failures.get(name) ?? error);
  });
}

/** Keeps a failed write to stdout or stderr from ending this process (or thread). */
export function guardStdStreams(): void {
  guard("stdout");
  guard("stderr");
}

/**
 * Writes `chunk` to the stream unless a write to it failed before; `failed` hears of this
 * write's failure (after this returns, or before when the runtime throws).
 */
export function writeStd(
  name: StdStream,
  chunk: string | Uint8Array,
  failed?: (error: Error) => void,
): void {
  guard(name);
  const before = failures.get(name);
  if (before) {
    // Failed on someone else's write (the app's own, say): this writer hears of it too.
    failed?.(before);
    return;
  }
  try {
    process[name].write(chunk, (error) => {
      if (!error) return;
      failures.set(name, failures.get(name) ?? error);
      failed?.(error);
    });
  } catch (error) {
    failures.set(name, failures.get(name) ?? error as Error);
    failed?.(error as Error);
  }
}

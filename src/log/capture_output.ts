// --capture-output, as gunicorn does it: stdout and stderr (fds 1 and 2) become
// the error log file, so whatever the app prints lands there. Done in the
// master (workers inherit the fds) and again by everyone on USR1.

import { closeSync, openSync } from "node:fs";
import type { Libc } from "../runtime/types.ts";

/** True when output is captured: the option is on and the error log is a file. */
export function capturesOutput(config: { capture_output: boolean; errorlog: string }): boolean {
  return config.capture_output && config.errorlog !== "-" && config.errorlog !== "";
}

/** Points fds 1 and 2 at `path` (appended to). */
export function captureOutput(libc: Libc, path: string): void {
  const fd = openSync(path, "a");
  try {
    for (const target of [1, 2]) {
      if (libc.dup2(fd, target) < 0) {
        throw new Error(`dup2 onto fd ${target}: ${libc.strerror(libc.errno())}`);
      }
    }
  } finally {
    closeSync(fd);
  }
}

// --capture-output, as gunicorn does it: stdout and stderr (fds 1 and 2) become
// the error log file, so whatever the app prints lands there. Done in the
// master (workers inherit the fds) and again by everyone on USR1.

import { closeSync, openSync } from "node:fs";
import type { Config } from "../config/settings.ts";
import type { Libc } from "../runtime/types.ts";
import type { Logger } from "./logger.ts";
import { errorRoute } from "./logging_table.ts";

/** When output is captured (the option is on, this role's error log is a file): that file. */
export function captureTarget(config: Config, role: "master" | "worker"): string | undefined {
  const file = errorRoute(config, role).file;
  return config.capture_output && file !== "-" && file !== "" ? file : undefined;
}

/**
 * Points fds 1 and 2 at this role's error log file when --capture-output is on.
 * A failure (the folder vanished before a USR1) is logged; output stays where it was.
 */
export function captureOutput(
  libc: Libc,
  config: Config,
  role: "master" | "worker",
  log: Logger,
): void {
  const path = captureTarget(config, role);
  if (!path) return;
  let fd = -1;
  try {
    fd = openSync(path, "a");
    for (const target of [1, 2]) {
      if (libc.dup2(fd, target) < 0) {
        throw new Error(`dup2 onto fd ${target}: ${libc.strerror(libc.errno())}`);
      }
    }
  } catch (error) {
    log.error(`Cannot capture output into "${path}": ${(error as Error).message}`);
  } finally {
    if (fd >= 0) closeSync(fd);
  }
}

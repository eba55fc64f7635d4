// --capture-output, as gunicorn does it: stdout and stderr (fds 1 and 2) become
// the error log file, so whatever the app prints lands there. Done in the
// master (workers inherit the fds) and again by everyone on USR1.

import { closeSync, openSync, readdirSync, statSync } from "node:fs";
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
    const before = [fileOf(1), fileOf(2)];
    fd = openSync(path, "a");
    const now = fileOf(fd);
    // The runtime's own copies of fds 1 and 2, dup'd when it started (Bun's and Deno's
    // stdout and stderr streams write through them), still point at the file the process
    // started with: after logrotate moved it, they kept it (deleted, its disk space too) open
    // for the life of the worker, and Bun's process.stdout wrote into it.
    const copies = [];
    for (const name of readdirSync("/proc/self/fd")) {
      const other = Number(name);
      const file = other > 2 && other !== fd ? fileOf(other) : undefined;
      if (file && file !== now && before.includes(file)) copies.push(other);
    }
    for (const target of [1, 2, ...copies]) {
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

// The regular file `fd` is open on (device and inode), or undefined: only a file rotated away is
// looked for, never the pipe or terminal the process started with.
function fileOf(fd: number): string | undefined {
  try {
    const stat = statSync(`/proc/self/fd/${fd}`);
    return stat.isFile() ? `${stat.dev}:${stat.ino}` : undefined;
  } catch {
    return undefined;
  }
}

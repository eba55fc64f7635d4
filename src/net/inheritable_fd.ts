// Lends a close-on-exec fd to one spawn: the master's metrics listener to a USR2 child, the
// scoreboard's memfd to a worker. Both stay close-on-exec otherwise, so that no other child
// (a worker, an app's subprocess) holds them.

import type { Libc } from "../runtime/types.ts";
import { F_SETFD, FD_CLOEXEC } from "./socket_constants.ts";

/**
 * Runs `spawn` with `fd` inheritable (the child inherits it at its number), then makes it
 * close-on-exec again: spawn() starts the process before it returns, and no other child is
 * started meanwhile (one thread).
 */
export function inheritableDuring<T>(libc: Libc, fd: number | undefined, spawn: () => T): T {
  if (fd === undefined) return spawn();
  libc.fcntl(fd, F_SETFD, 0);
  try {
    return spawn();
  } finally {
    libc.fcntl(fd, F_SETFD, FD_CLOEXEC);
  }
}

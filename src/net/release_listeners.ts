// A worker that stops for good lets go of its copies of the shared listening sockets. Once every
// process has (the master closes its own before it signals a stop), the kernel refuses new
// connections at once, so a client or nginx tries elsewhere, instead of waiting in a backlog that
// nobody accepts from until the graceful timeout and being reset then. On a reload or a recycle
// the master and the new workers still hold them: clients see nothing.

import type { Libc } from "../runtime/types.ts";
import { AF_INET, F_SETFD, FD_CLOEXEC, SOCK_CLOEXEC, SOCK_DGRAM } from "./socket_constants.ts";

/**
 * Drops this process's reference to each listening socket in `fds`. Each number stays taken, by a
 * socket that cannot listen, so that an accept gate not closed yet (a gthread thread's, closing
 * on its own loop) never duplicates another file that came to have the number.
 */
export function releaseListeners(libc: Libc, fds: number[]): void {
  for (const fd of fds) {
    const placeholder = libc.socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (placeholder >= 0 && libc.dup2(placeholder, fd) >= 0) {
      libc.fcntl(fd, F_SETFD, FD_CLOEXEC);
    } else {
      libc.close(fd);
    }
    if (placeholder >= 0) libc.close(placeholder);
  }
}

// `deno serve`'s `export default { fetch, onListen }`: Deno calls onListen once its server
// listens, with the address (each process under --parallel). A worker calls it the same way once
// its listeners accept, once per listener, and logs what it throws as the app's error.

import type { WorkerBoot } from "../ipc/messages.ts";
import type { Logger } from "../log/logger.ts";
import { socketName } from "../net/sockaddr.ts";
import { AF_INET, AF_INET6, AF_UNIX } from "../net/socket_constants.ts";
import type { ListenAddr } from "../fetch_handler.ts";
import type { Libc } from "../runtime/types.ts";
import { logAppError } from "./app_error.ts";

/** The addresses Deno would pass: `{ transport: "tcp", hostname, port }` or unix's `path`. */
export function listenAddrs(libc: Libc, boot: Pick<WorkerBoot, "listeners" | "reusePort">) {
  const addrs: ListenAddr[] = [];
  for (const { fd } of boot.listeners) {
    const name = socketName(libc, fd);
    if (name.family === AF_INET || name.family === AF_INET6) {
      addrs.push({ transport: "tcp", hostname: name.host, port: name.port });
    } else if (name.family === AF_UNIX) {
      addrs.push({ transport: "unix", path: name.path });
    }
  }
  for (const { host, port } of boot.reusePort) {
    addrs.push({ transport: "tcp", hostname: host, port });
  }
  return addrs;
}

/**
 * Calls `onListen` with each address, as Deno calls it: without waiting on what it returns (one
 * that never settles holds back no later address). A throw or a rejection is logged, the worker
 * goes on.
 */
export function callOnListen(
  onListen: (addr: ListenAddr) => unknown,
  addrs: ListenAddr[],
  log: Logger,
  explain?: (error: unknown) => string | undefined,
): void {
  const failed = (error: unknown) =>
    logAppError(log, "Error in the app's onListen", error, explain);
  for (const addr of addrs) {
    try {
      const returned = onListen(addr);
      if (returned instanceof Promise) returned.catch(failed);
    } catch (error) {
      failed(error);
    }
  }
}

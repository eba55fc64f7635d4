// The connections the metrics server accepted, so that its close() answers the scrapes they carry
// before the process exits: after a USR2 the old master shares its listener with the new one, and
// a scrape it accepted just before its exit would otherwise be reset instead of answered.

import type { IncomingMessage, ServerResponse } from "node:http";
import type { Socket } from "node:net";

/** How long close() waits for an accepted connection's request and answer (a scrape takes ms). */
export const DRAIN_MS = 2000;

export class OpenScrapes {
  /** Each open connection: whether it has been answered and awaits no other request now. */
  readonly #idle = new Map<Socket, boolean>();
  #closing = false;
  #drained: (() => void) | undefined;

  /** A connection the server accepted. */
  track(socket: Socket): void {
    this.#idle.set(socket, false);
    // Ended on this side ("finish": its answer is with the kernel) or closed: done.
    const done = () => {
      if (!this.#idle.delete(socket)) return;
      if (this.#idle.size === 0) this.#drained?.();
    };
    socket.once("finish", done);
    socket.once("close", done);
  }

  /** A request on a tracked connection; once closing, its answer closes the connection. */
  request(request: IncomingMessage, response: ServerResponse): void {
    const socket = request.socket;
    if (!this.#idle.has(socket)) return;
    this.#idle.set(socket, false);
    if (this.#closing) response.setHeader("connection", "close");
    response.once("finish", () => {
      if (!this.#idle.has(socket)) return;
      this.#idle.set(socket, true);
      if (this.#closing) socket.end();
    });
  }

  /**
   * Ends the idle keep-alive connections, then waits up to `ms` for the others to be answered (the
   * accept stopped before); what is left then is dropped.
   */
  async drain(ms = DRAIN_MS): Promise<void> {
    this.#closing = true;
    for (const [socket, idle] of this.#idle) if (idle) socket.end();
    if (this.#idle.size === 0) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    await new Promise<void>((resolve) => {
      this.#drained = resolve;
      timer = setTimeout(resolve, ms);
    });
    clearTimeout(timer);
    for (const socket of this.#idle.keys()) socket.destroy();
  }
}

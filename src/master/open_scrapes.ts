// The connections the metrics server accepted, so that its close() answers the scrapes they carry
// before the process exits: after a USR2 the old master shares its listener with the new one, and
// a scrape it accepted just before its exit would otherwise be reset instead of answered. One
// that sent nothing within SILENT_MS carries no scrape: it is closed then, and delays no more.

import type { IncomingMessage, ServerResponse } from "node:http";
import type { Socket } from "node:net";

/** How long close() waits for an accepted connection's request and answer (a scrape takes ms). */
export const DRAIN_MS = 2000;

/** How long close() waits for a connection accepted with nothing read yet to send its request. */
const SILENT_MS = 200;

/** A connection's state: no request yet, a request being answered, or answered and kept alive. */
type State = "new" | "busy" | "idle";

export class OpenScrapes {
  readonly #open = new Map<Socket, State>();
  #closing = false;
  #drained: (() => void) | undefined;

  /** A connection the server accepted. */
  track(socket: Socket): void {
    this.#open.set(socket, "new");
    // Ended on this side ("finish": its answer is with the kernel) or closed: done.
    const done = () => {
      if (!this.#open.delete(socket)) return;
      if (this.#open.size === 0) this.#drained?.();
    };
    socket.once("finish", done);
    socket.once("close", done);
  }

  /** A request on a tracked connection; once closing, its answer closes the connection. */
  request(request: IncomingMessage, response: ServerResponse): void {
    const socket = request.socket;
    if (!this.#open.has(socket)) return;
    this.#open.set(socket, "busy");
    if (this.#closing) response.setHeader("connection", "close");
    response.once("finish", () => {
      if (!this.#open.has(socket)) return;
      this.#open.set(socket, "idle");
      if (this.#closing) socket.end();
    });
  }

  /**
   * Ends the idle keep-alive connections, and after SILENT_MS those that sent nothing; waits up
   * to `ms` for the others (a request read, or begun) to be answered (the accept stopped before);
   * what is left then is dropped. Returns how many scrapes were cut so (for the master's line).
   */
  async drain(ms = DRAIN_MS): Promise<number> {
    this.#closing = true;
    const silent = (state: State, socket: Socket) => state === "new" && socket.bytesRead === 0;
    for (const [socket, state] of this.#open) if (state === "idle") socket.end();
    // One accepted just now may have its request on the way: it gets SILENT_MS to send it (a
    // probe every 10 ms through a USR2 hand-over was otherwise hung up on now and then).
    const endSilent = setTimeout(() => {
      for (const [socket, state] of this.#open) if (silent(state, socket)) socket.end();
    }, Math.min(SILENT_MS, ms));
    let timer: ReturnType<typeof setTimeout> | undefined;
    if (this.#open.size > 0) {
      await new Promise<void>((resolve) => {
        this.#drained = resolve;
        timer = setTimeout(resolve, ms);
      });
    }
    clearTimeout(timer);
    clearTimeout(endSilent);
    let cut = 0;
    for (const [socket, state] of this.#open) {
      if (state === "busy" || (state === "new" && socket.bytesRead > 0)) cut++;
      socket.destroy();
    }
    return cut;
  }
}

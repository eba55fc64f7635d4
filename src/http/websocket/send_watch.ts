// Whether the client of one WebSocket on appserve's layer stopped reading: judged by progress, not
// by the size of what waits. An app may queue far more than the limit in one synchronous loop
// (nothing can go out before the loop ends) and a client that reads takes it all, as it does from
// Deno.serve and Bun.serve; only a queue over the limit on which the socket wrote nothing for
// STALL_MS is a stalled reader (docs/websockets.md, "The send queue").

import type { Socket } from "node:net";
import { clearInterval, setInterval } from "node:timers";

/** How long a socket over the limit may write nothing before its reader counts as stalled. */
export const STALL_MS = 5000;
const TICK_MS = 1000;

/** A send queue's judge, as a socket of either shape asks it before each send. */
export interface SendGate {
  /** False once the reader stalled: the message is not queued. */
  admit(): boolean;
}

export class SendWatch implements SendGate {
  readonly #socket: Socket;
  readonly #queued: () => number;
  readonly #limit: number;
  readonly #onStall: () => void;
  /** bytesWritten when the session began: the 101 before it is not the session's. */
  readonly #base: number;
  #written = 0;
  #mark = 0;
  #quietMs = 0;
  #timer: ReturnType<typeof setInterval> | null = null;
  #stalled = false;

  /**
   * `queued` is what waits unsent (the socket's bufferedAmount); `onStall` is called once the
   * queue was over `limit` and nothing went out for STALL_MS.
   */
  constructor(socket: Socket, queued: () => number, limit: number, onStall: () => void) {
    this.#socket = socket;
    this.#queued = queued;
    this.#limit = limit;
    this.#onStall = onStall;
    this.#base = socket.bytesWritten;
  }

  /** Bytes of the session the socket has written (what the client could have got). */
  get written(): number {
    // bytesWritten counts what is queued too; writableLength is what is not written yet.
    const now = this.#socket.bytesWritten - this.#socket.writableLength - this.#base;
    if (now > this.#written) this.#written = now;
    return this.#written;
  }

  get stalled(): boolean {
    return this.#stalled;
  }

  admit(): boolean {
    if (this.#stalled) return false;
    if (this.#timer === null && this.#queued() > this.#limit) this.#arm();
    return true;
  }

  /** The session ended: no more watching. */
  stop(): void {
    void this.written;
    this.#disarm();
  }

  #arm(): void {
    this.#mark = this.written;
    this.#quietMs = 0;
    // The node:net socket hands all it buffered to one writev once the write under way is done,
    // which completes only when the whole backlog is out: a client reading at a steady pace would
    // show no progress for its length. Chunk by chunk, each write done is seen.
    (this.#socket as { _writev: unknown })._writev = null;
    this.#timer = setInterval(() => this.#tick(), TICK_MS);
    this.#timer.unref();
  }

  #disarm(): void {
    if (this.#timer === null) return;
    clearInterval(this.#timer);
    this.#timer = null;
    delete (this.#socket as { _writev?: unknown })._writev;
  }

  #tick(): void {
    const written = this.written;
    if (written > this.#mark || this.#queued() <= this.#limit) {
      this.#mark = written;
      this.#quietMs = 0;
      this.#stalled = false;
      if (this.#queued() <= this.#limit) this.#disarm();
      return;
    }
    this.#quietMs += TICK_MS;
    if (this.#quietMs < STALL_MS || this.#stalled) return;
    this.#stalled = true;
    this.#onStall();
  }
}

// Whether the client of one WebSocket on appserve's layer stopped reading: judged by progress, not
// by the size of what waits. An app may queue far more than the limit in one synchronous loop
// (nothing can go out before the loop ends) and a client that reads takes it all, as it does from
// Deno.serve and Bun.serve; only a queue over the limit on which the socket wrote nothing for
// STALL_MS is a stalled reader (docs/websockets.md, "The send queue").

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
  readonly #written: () => number;
  readonly #queued: () => number;
  readonly #limit: number;
  readonly #onStall: () => void;
  #mark = 0;
  #quietMs = 0;
  #timer: ReturnType<typeof setInterval> | null = null;
  #stalled = false;

  /**
   * `written` is what the socket has written of the session (SentBytes, whose writes of a backlog
   * complete a batch at a time); `queued` is what waits unsent (the socket's bufferedAmount);
   * `onStall` is called once the queue was over `limit` and nothing went out for STALL_MS.
   */
  constructor(written: () => number, queued: () => number, limit: number, onStall: () => void) {
    this.#written = written;
    this.#queued = queued;
    this.#limit = limit;
    this.#onStall = onStall;
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
    this.#disarm();
  }

  #arm(): void {
    this.#mark = this.#written();
    this.#quietMs = 0;
    this.#timer = setInterval(() => this.#tick(), TICK_MS);
    this.#timer.unref();
  }

  #disarm(): void {
    if (this.#timer === null) return;
    clearInterval(this.#timer);
    this.#timer = null;
  }

  #tick(): void {
    const written = this.#written();
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

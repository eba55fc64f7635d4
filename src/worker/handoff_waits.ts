// gthread: connections handed to a thread (src/worker/thread_board.ts) that find no room there.
// They wait as bare fds, never as sockets, until a place frees on this thread (Admission.wait) or
// on a sibling, which the thread's tick hands them on to. A socket made of an fd could not move on
// safely: Bun's reads at once, even paused, and what it read would be lost with it (a parked
// WebSocket handshake was never answered: docs/architecture.md, "gthread").

import type { Admission } from "../net/admission.ts";
import type { SlotWriter } from "./thread_slots.ts";

/** A connection handed to this thread: its fd, the listener it came in on, whether unix. */
export interface Handoff {
  fd: number;
  listener: number;
  unix: boolean;
}

/** Where a waiting connection is shown to the process, which answers it if the thread hangs. */
type Shown = Pick<SlotWriter, "waiting" | "unwait">;

export class HandoffWaits {
  readonly #admission: Pick<Admission, "room" | "wait">;
  readonly #serve: (handoff: Handoff) => void;
  readonly #shown: Shown;
  readonly #failed: (handoff: Handoff, error: unknown) => void;
  /** Each waiting connection: what cancels its wait, and its entry in the slots. */
  readonly #waiting = new Map<Handoff, { cancel: () => void; tag: number }>();

  /**
   * `serve` makes a handed connection this thread's (it says opened() to the admission); `shown`
   * shows the waiting ones to the process, which answers them if this thread hangs; `failed`
   * hears of one `serve` threw on once a place freed (past adoptSocket: a socket owns the fd).
   */
  constructor(
    admission: Pick<Admission, "room" | "wait">,
    serve: (handoff: Handoff) => void,
    shown: Shown,
    failed: (handoff: Handoff, error: unknown) => void,
  ) {
    this.#admission = admission;
    this.#serve = serve;
    this.#shown = shown;
    this.#failed = failed;
  }

  /** Serves a handed connection now if it fits (or `now`: the thread drains), else it waits. */
  take(handoff: Handoff, now = false): void {
    if (now || this.#admission.room) return this.#serve(handoff);
    const tag = this.#shown.waiting(handoff.fd);
    const cancel = this.#admission.wait(() => {
      this.#waiting.delete(handoff);
      // Not one the process answered meanwhile (it gave up on this thread).
      if (this.#shown.unwait(tag)) this.#serve(handoff);
    }, (error) => this.#failed(handoff, error));
    this.#waiting.set(handoff, { cancel, tag });
  }

  /** Connections waiting here. */
  get size(): number {
    return this.#waiting.size;
  }

  /**
   * Hands waiting connections on, in order, while `where` names a sibling with room (and counts
   * the connection as on its way there), through `send`; `back` uncounts it there when the
   * process answered it meanwhile.
   */
  handOn(
    where: () => number,
    send: (handoff: Handoff, to: number) => void,
    back: (to: number) => void,
  ): void {
    for (const [handoff, { cancel, tag }] of this.#waiting) {
      const to = where();
      if (to < 0) return;
      cancel();
      this.#waiting.delete(handoff);
      if (this.#shown.unwait(tag)) send(handoff, to);
      else back(to);
    }
  }

  /** Takes every waiting connection out, for `each` (the thread drains or ends). */
  release(each: (handoff: Handoff) => void): void {
    const waiting = [...this.#waiting];
    this.#waiting.clear();
    for (const [handoff, { cancel, tag }] of waiting) {
      cancel();
      if (this.#shown.unwait(tag)) each(handoff);
    }
  }
}

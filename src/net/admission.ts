// How many connections a worker takes: at most `max` at once (gunicorn's worker_connections;
// sync: one), and no more than its share next to its siblings' (balance.ts). One per worker
// process, shared by all of its listeners, whose gates it holds and releases.

import type { AcceptGate } from "./accept_gate.ts";

/** This worker's connections against its siblings' (src/worker/balance.ts). */
export interface ConnectionShare {
  /** Tells the siblings how many connections this worker has; `accepting` false: none more. */
  publish(open: number, accepting: boolean): void;
  /**
   * How many of `open` connections are more than this worker's share (0: none), when the
   * siblings are about to get `incoming` more than they have said.
   */
  excess(open: number, incoming: number): number;
  /** Whether some live sibling that accepts has fewer than `open` connections. */
  someoneHasFewer(open: number): boolean;
}

/** What a gate must do for the admission: stop accepting for a reason, and start again. */
export type Holdable = Pick<AcceptGate, "hold" | "release">;

// Once over its share, a worker stops accepting for at least this long: the holds cost a
// listen each, so they must not follow every connection that comes and goes.
const SHARE_HOLD_MS = 10;
// A connection shed here reaches a sibling this long after it closed, at most (the client
// reconnects, the sibling's loop accepts): until then the sibling's count does not show it.
const SETTLE_MS = 50;

export class Admission {
  readonly #max: number;
  readonly #share: ConnectionShare | undefined;
  readonly #gates = new Set<Holdable>();
  #open = 0;
  #full = false;
  #over = false;
  /** Connections still to close after their responses while over the share. */
  #shed = 0;
  /** Connections told to close (shed) that have not closed yet: no longer this worker's. */
  #leaving = 0;
  /** Shed connections closed in this round of shedding, not yet seen at a sibling, maybe. */
  #moved = 0;
  /** When the last shed connection closed. */
  #movedAt = -Infinity;
  #stopped = false;
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(max: number, share?: ConnectionShare) {
    this.#max = max;
    this.#share = share;
    share?.publish(0, true);
  }

  /**
   * Whether the connection whose response is going out should close to move elsewhere.
   * Keep-alive connections stay where they landed, and a burst may land on one worker (Deno
   * accepts a whole one before a hold takes effect), so a worker over its share closes half of
   * its excess after their responses; clients reopen them on a sibling while it holds. The
   * caller passes `true` to closed() for a connection this said yes to.
   */
  shed(): boolean {
    if (this.#shed <= 0) return false;
    this.#shed--;
    // It is a sibling's from now on: counting it here until it closes would shed it twice,
    // and siblings would see more here than will stay.
    this.#leaving++;
    this.#publish();
    return true;
  }

  /** Connections open now. */
  get open(): number {
    return this.#open;
  }

  /** A gate of this worker: held and released with the others. */
  add(gate: Holdable): void {
    this.#gates.add(gate);
    if (this.#full) gate.hold("full");
    if (this.#over) gate.hold("share");
  }

  opened(): void {
    this.#open++;
    this.#update();
  }

  /** A connection closed; `shed`: shed() told it to. */
  closed(shed = false): void {
    this.#open--;
    if (shed) {
      this.#leaving--;
      this.#moved++;
      this.#movedAt = Date.now();
    }
    this.#update();
  }

  /** The count, when the owner counts for itself (gthread reads its threads' counters). */
  recount(open: number): void {
    if (open === this.#open) return;
    this.#open = open;
    this.#update();
  }

  /**
   * Publishes the count again and looks at the share anew (the heartbeat, the server's tick):
   * counts drift while no connection opens or closes (a sibling's fall shows nowhere else), and
   * siblings must see this worker is alive.
   */
  beat(): void {
    this.#update();
  }

  /** The worker accepts no more (it drains): siblings stop counting on it. */
  stop(): void {
    this.#stopped = true;
    this.#shed = 0;
    clearTimeout(this.#timer);
    this.#share?.publish(this.#open, false);
  }

  /** Connections that stay here: those told to close are already a sibling's. */
  #staying(): number {
    return this.#open - this.#leaving;
  }

  #publish(): void {
    if (this.#stopped) return;
    this.#share?.publish(this.#staying(), this.#open < this.#max);
  }

  /** Shed connections that may not show at a sibling yet: leaving, or closed just now. */
  #incoming(): number {
    if (this.#moved > 0 && Date.now() - this.#movedAt >= SETTLE_MS) this.#moved = 0;
    return this.#leaving + this.#moved;
  }

  #update(): void {
    if (this.#stopped) return;
    const open = this.#open;
    const full = open >= this.#max;
    this.#share?.publish(this.#staying(), !full);
    if (full !== this.#full) {
      this.#full = full;
      for (const gate of this.#gates) full ? gate.hold("full") : gate.release("full");
    }
    if (this.#share === undefined) return;
    const excess = this.#share.excess(this.#staying(), this.#incoming());
    if (this.#over) {
      // More of a burst arrived, or a sibling's count caught up: what is still to shed is
      // the excess now (those already told to close are not counted in it).
      this.#shed = excess;
    } else if (excess > 0) {
      this.#over = true;
      this.#shed = excess;
      for (const gate of this.#gates) gate.hold("share");
      this.#recheck();
    }
  }

  #recheck(): void {
    this.#timer = setTimeout(() => {
      if (this.#stopped) return;
      const share = this.#share!;
      const staying = this.#staying();
      const excess = share.excess(staying, this.#incoming());
      // Those shed and on their way to a sibling would come back here if this worker accepted
      // now, unless a sibling has fewer anyway.
      const settling = this.#leaving > 0 || this.#moved > 0;
      if (excess > 0 || (settling && share.someoneHasFewer(staying))) {
        this.#shed = excess;
        return this.#recheck();
      }
      this.#over = false;
      this.#shed = 0;
      this.#moved = 0;
      for (const gate of this.#gates) gate.release("share");
    }, SHARE_HOLD_MS);
  }
}

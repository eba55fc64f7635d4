// How many connections a worker takes: at most `max` at once (gunicorn's worker_connections;
// sync: one), and no more than its share next to its siblings' (balance.ts). One per worker
// process, shared by all of its listeners, whose gates it holds and releases.

import type { AcceptGate } from "./accept_gate.ts";

/** This worker's connections against its siblings' (src/worker/balance.ts). */
export interface ConnectionShare {
  /** Tells the siblings how many connections this worker has; `accepting` false: none more. */
  publish(open: number, accepting: boolean): void;
  /** How many of `open` connections are more than this worker's share (0: none). */
  excess(open: number): number;
}

// Once over its share, a worker stops accepting for at least this long: the holds cost a
// listen each, so they must not follow every connection that comes and goes.
const SHARE_HOLD_MS = 10;

export class Admission {
  readonly #max: number;
  readonly #share: ConnectionShare | undefined;
  readonly #gates = new Set<AcceptGate>();
  #open = 0;
  #full = false;
  #over = false;
  /** Connections still to close after their responses while over the share. */
  #shed = 0;
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
   * its excess after their responses; clients reopen them on a sibling while it holds.
   */
  shed(): boolean {
    if (this.#shed <= 0) return false;
    this.#shed--;
    return true;
  }

  /** Connections open now. */
  get open(): number {
    return this.#open;
  }

  /** A gate of this worker: held and released with the others. */
  add(gate: AcceptGate): void {
    this.#gates.add(gate);
    if (this.#full) gate.hold("full");
    if (this.#over) gate.hold("share");
  }

  opened(): void {
    this.#open++;
    this.#update();
  }

  closed(count = 1): void {
    this.#open -= count;
    this.#update();
  }

  /** The count, when the owner counts for itself (gthread reads its threads' counters). */
  recount(open: number): void {
    if (open === this.#open) return;
    this.#open = open;
    this.#update();
  }

  /**
   * Publishes the count again and looks at the share anew (the worker's heartbeat): counts
   * drift while no connection opens or closes, and siblings must see this worker is alive.
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

  #update(): void {
    if (this.#stopped) return;
    const open = this.#open;
    const full = open >= this.#max;
    this.#share?.publish(open, !full);
    if (full !== this.#full) {
      this.#full = full;
      for (const gate of this.#gates) full ? gate.hold("full") : gate.release("full");
    }
    if (this.#over || this.#share === undefined) return;
    const excess = this.#share.excess(open);
    if (excess > 0) {
      this.#over = true;
      this.#shed = excess;
      for (const gate of this.#gates) gate.hold("share");
      this.#recheck();
    }
  }

  #recheck(): void {
    this.#timer = setTimeout(() => {
      if (this.#stopped) return;
      const excess = this.#share!.excess(this.#open);
      if (excess > 0) {
        // Those already shed have reached a sibling by now (one round trip): shed anew.
        this.#shed = excess;
        return this.#recheck();
      }
      this.#over = false;
      this.#shed = 0;
      for (const gate of this.#gates) gate.release("share");
    }, SHARE_HOLD_MS);
  }
}

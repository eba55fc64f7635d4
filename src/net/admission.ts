// How many connections a worker takes: at most `max` at once (gunicorn's worker_connections;
// sync: one), and no more than its share next to its siblings' (balance.ts). One per worker
// process, shared by all of its listeners, whose gates it holds and releases.

import type { AcceptGate } from "./accept_gate.ts";

/**
 * This worker's kept-alive connections against its siblings' (src/worker/balance.ts). Only
 * connections that stayed open after a response count: one that closes after its response
 * leaves by itself, and holding the gates for those (behind nginx without upstream keepalive,
 * every connection) left workers idle while requests waited.
 */
export interface ConnectionShare {
  /**
   * Tells the siblings how many kept-alive connections this worker has (`share`), how many it
   * has open in all, and whether it takes more (`accepting`).
   */
  publish(share: number, open: number, accepting: boolean): void;
  /**
   * How many of `kept` kept-alive connections are more than this worker's share (0: none),
   * when the siblings are about to get `incoming` more than they have said; `open`: all of its
   * connections.
   */
  excess(kept: number, incoming: number, open: number): number;
  /**
   * Whether some live sibling that accepts, and is clearly less busy than this worker's `open`
   * connections, has fewer than `kept` kept-alive connections.
   */
  someoneHasFewer(kept: number, open: number): boolean;
}

/**
 * What a gate must do for the admission: stop accepting for a reason, and start again; and hear
 * that a connection closed (a gate held for fds may start again then).
 */
export type Holdable = Pick<AcceptGate, "hold" | "release"> & Partial<Pick<AcceptGate, "freed">>;

// Once over its share, a worker stops accepting for at least this long: the holds cost a
// listen each, so they must not follow every connection that comes and goes.
const SHARE_HOLD_MS = 10;
// A connection shed here reaches a sibling this long after it closed, at most (the client
// reconnects, the sibling's loop accepts): until then the sibling's count does not show it.
const SETTLE_MS = 50;

export class Admission {
  readonly #max: number;
  readonly #share: ConnectionShare | undefined;
  readonly #crowded: (() => boolean) | undefined;
  readonly #gates = new Set<Holdable>();
  #open = 0;
  /** Open connections that stayed after a response (persisted()): those the share counts. */
  #kept = 0;
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
  /** Held for the share by another (holdForShare()). */
  #heldOutside = false;
  /** stop() was said: every gate holds for good. */
  #stopped = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** Connections accepted past the limit, waiting for one to close (wait()), in order. */
  readonly #waiting: { admit: () => void; failed: (error: unknown) => void }[] = [];
  #admitting = false;

  /**
   * `crowded`: whether connections elsewhere fill the limit already (a gthread thread's siblings
   * may hold more than their parts, after a burst): full then too, until it says otherwise.
   */
  constructor(max: number, share?: ConnectionShare, crowded?: () => boolean) {
    this.#max = max;
    this.#crowded = crowded;
    // A gthread thread's part of worker_connections may be none.
    this.#full = max <= 0;
    this.#share = share;
    share?.publish(0, 0, true);
  }

  /**
   * Whether the connection whose response is going out should close to move elsewhere.
   * Keep-alive connections stay where they landed, and a burst may land on one worker (Deno
   * accepts a whole one before a hold takes effect), so a worker over its share closes half of
   * its excess after their responses; clients reopen them on a sibling while it holds. Asked
   * only for kept-alive connections (persisted()); the caller passes `true` to closed() for a
   * connection this said yes to.
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

  /** Whether one more connection fits now: within the limit, and not crowded out elsewhere. */
  get room(): boolean {
    return this.#open < this.#max && !(this.#crowded?.() ?? false);
  }

  /**
   * Has a connection accepted past the limit wait: `admit` is called, in order, once one fits
   * (it must then say opened()). A gate holds a tick after the limit is reached, and the runtimes
   * accept a whole burst in that tick, so this is where a burst's surplus waits rather than
   * being served (gunicorn's async workers never take one past worker_connections). Returns
   * what takes it out of the queue (its client left). `failed` hears an error `admit` threw: it
   * runs inside another connection's closed() or beat(), which must go on.
   */
  wait(admit: () => void, failed: (error: unknown) => void): () => void {
    const entry = { admit, failed };
    this.#waiting.push(entry);
    return () => {
      const at = this.#waiting.indexOf(entry);
      if (at >= 0) this.#waiting.splice(at, 1);
    };
  }

  /** Connections waiting in wait(). */
  get waiting(): number {
    return this.#waiting.length;
  }

  // Before the gates hear of the room: a waiting connection takes it, and they stay held.
  #admitWaiting(): void {
    if (this.#admitting) return;
    this.#admitting = true;
    try {
      while (this.#waiting.length > 0 && this.room) {
        const entry = this.#waiting.shift()!;
        try {
          entry.admit();
        } catch (error) {
          entry.failed(error);
        }
      }
    } finally {
      this.#admitting = false;
    }
  }

  /** A gate of this worker: held and released with the others. */
  add(gate: Holdable): void {
    this.#gates.add(gate);
    if (this.#full) gate.hold("full");
    if (this.#over || this.#heldOutside || this.#stopped) gate.hold("share");
  }

  /**
   * Holds (or releases) every gate for the share on another's word: gthread's threads accept
   * for a worker process that keeps the share next to its siblings.
   */
  holdForShare(held: boolean): void {
    // Stopped, the gates hold for good: no word on the share releases them.
    if (held === this.#heldOutside || this.#stopped) return;
    this.#heldOutside = held;
    if (this.#over) return;
    for (const gate of this.#gates) held ? gate.hold("share") : gate.release("share");
  }

  opened(): void {
    this.#open++;
    this.#update();
  }

  /**
   * An open connection stayed after a response, became a WebSocket, or has had one exchange under
   * way for a while (a stream, a long poll): it counts for the share.
   */
  persisted(): void {
    this.#kept++;
    this.#update();
  }

  /** A connection closed; `shed`: shed() told it to; `kept`: persisted() was said of it. */
  closed(shed = false, kept = false): void {
    this.#open--;
    if (kept) this.#kept--;
    if (shed) {
      this.#leaving--;
      this.#moved++;
      this.#movedAt = Date.now();
    }
    this.#admitWaiting();
    this.#update();
    for (const gate of this.#gates) gate.freed?.();
  }

  /**
   * The count, when the owner counts for itself (gthread sums its threads'): `open` connections,
   * `kept` of them kept alive.
   */
  recount(open: number, kept = open): void {
    if (open === this.#open && kept === this.#kept) return;
    this.#open = open;
    this.#kept = kept;
    this.#update();
    this.#admitWaiting();
  }

  /**
   * Publishes the count again and looks at the share anew (the heartbeat, the server's tick):
   * counts drift while no connection opens or closes (a sibling's fall shows nowhere else), and
   * siblings must see this worker is alive.
   */
  beat(): void {
    this.#admitWaiting();
    this.#update();
  }

  /**
   * The worker accepts no more, for good (it drains, or stops quickly): every gate holds (on the
   * loop's next turn: AcceptGate.hold), and nothing releases it again (neither the share, nor room
   * that frees, nor holdForShare()); siblings stop counting on it.
   */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#shed = 0;
    clearTimeout(this.#timer);
    this.#share?.publish(this.#staying(), this.#open, false);
    // Held as for the share, whose release (#recheck, holdForShare) a stopped admission never
    // gives; already held so when over the share or held outside.
    if (this.#over || this.#heldOutside) return;
    for (const gate of this.#gates) gate.hold("share");
  }

  /** Kept-alive connections that stay here: those told to close are already a sibling's. */
  #staying(): number {
    return this.#kept - this.#leaving;
  }

  #publish(): void {
    if (this.#stopped) return;
    this.#share?.publish(this.#staying(), this.#open, this.#open < this.#max);
  }

  /** Shed connections that may not show at a sibling yet: leaving, or closed just now. */
  #incoming(): number {
    if (this.#moved > 0 && Date.now() - this.#movedAt >= SETTLE_MS) this.#moved = 0;
    return this.#leaving + this.#moved;
  }

  #update(): void {
    if (this.#stopped) return;
    const open = this.#open;
    this.#share?.publish(this.#staying(), open, open < this.#max);
    // After publishing: `crowded` may count this one's connections too.
    const full = open >= this.#max || (this.#crowded?.() ?? false);
    if (full !== this.#full) {
      this.#full = full;
      for (const gate of this.#gates) full ? gate.hold("full") : gate.release("full");
    }
    if (this.#share === undefined) return;
    const excess = this.#share.excess(this.#staying(), this.#incoming(), open);
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
      const excess = share.excess(staying, this.#incoming(), this.#open);
      // Those shed and on their way to a sibling would come back here if this worker accepted
      // now, unless a sibling has fewer anyway.
      const settling = this.#leaving > 0 || this.#moved > 0;
      if (excess > 0 || (settling && share.someoneHasFewer(staying, this.#open))) {
        this.#shed = excess;
        return this.#recheck();
      }
      this.#over = false;
      this.#shed = 0;
      this.#moved = 0;
      if (this.#heldOutside) return;
      for (const gate of this.#gates) gate.release("share");
    }, SHARE_HOLD_MS);
  }
}

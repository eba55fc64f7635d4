// How gthread's threads share out connections. Each thread accepts on the worker's listeners
// itself (a hand-off through the process for every connection cost more than serving it under
// Connection: close: docs/architecture.md, "gthread"). The kernel gives a burst to whichever
// thread wakes first, and a thread serves one request at a time: so each thread writes here how
// many of its connections are pending (new, or with an exchange under way: what a newcomer would
// wait behind; one between exchanges, kept alive or closing, waits for nothing; new includes one
// still in its TLS handshake, which its HTTP layer has not seen yet), and one that
// accepts a connection while a sibling has clearly fewer hands it over (as an fd, through the
// process) instead of queueing it behind its own. Each thread also has its part of
// worker_connections, so the parts add up to the limit.

/**
 * Per thread: open connections, kept-alive ones (what the worker's share counts:
 * src/net/admission.ts), pending ones, connections on their way to it, whether it takes any,
 * those it keeps unread for want of room (each an fd of the process all the same), and open ones
 * its HTTP layer has not seen yet (a TLS handshake under way).
 */
const OPEN = 0;
const KEPT = 1;
const PENDING = 2;
const INCOMING = 3;
const TAKING = 4;
const TOOK = 5;
const SERVED = 6;
const WAITING = 7;
const UNSEEN = 8;
const FIELDS = 9;

// A hand-over costs the two threads and the process wake-ups of up to about 0.1 ms each
// (docs/architecture.md, "gthread"): a connection moves only when it would wait clearly longer
// where it was accepted than where it goes.
const WAIT_WORTH_HANDOVER_US = 1000;

export class ThreadBoard {
  readonly buffer: SharedArrayBuffer;
  readonly #a: Int32Array;
  readonly #threads: number;
  readonly #max: number;
  readonly #exact = new Map<number, number>();
  /** The process's: when the last fd shortage was said (ms since the epoch; 0: never). */
  readonly #warned: BigInt64Array;

  /** A board for `threads` threads of a worker with `max` connections (worker_connections). */
  constructor(threads: number, max: number, buffer?: SharedArrayBuffer) {
    const fields = Math.ceil((threads * FIELDS) / 2) * 2;
    this.buffer = buffer ?? new SharedArrayBuffer(fields * 4 + 8);
    this.#a = new Int32Array(this.buffer, 0, threads * FIELDS);
    this.#warned = new BigInt64Array(this.buffer, fields * 4, 1);
    this.#threads = threads;
    this.#max = max;
  }

  /** The connections thread `index` may hold at once: its part of the worker's. */
  limit(index: number): number {
    const part = Math.floor(this.#max / this.#threads);
    return part + (index < this.#max % this.#threads ? 1 : 0);
  }

  /** Thread `index` has `open` connections open, `kept` of them kept alive after a response. */
  setOpen(index: number, open: number, kept = 0): void {
    Atomics.store(this.#a, index * FIELDS + OPEN, open);
    Atomics.store(this.#a, index * FIELDS + KEPT, kept);
  }

  /** Thread `index` keeps `waiting` connections unread until it has room (Admission.wait). */
  setWaiting(index: number, waiting: number): void {
    Atomics.store(this.#a, index * FIELDS + WAITING, waiting);
  }

  /** The process's fds the threads' connections hold: open, on their way, or waiting. */
  fds(): number {
    let sum = this.total();
    for (let i = 0; i < this.#threads; i++) sum += Atomics.load(this.#a, i * FIELDS + WAITING);
    return sum;
  }

  /** Thread `index` has `pending` connections new or with an exchange under way. */
  setPending(index: number, pending: number): void {
    Atomics.store(this.#a, index * FIELDS + PENDING, pending);
  }

  /**
   * Thread `index` has `unseen` open connections its HTTP layer has not seen yet (accepted, their
   * TLS handshake's first bytes not read): new, so pending too, though its slots do not count them.
   */
  setUnseen(index: number, unseen: number): void {
    Atomics.store(this.#a, index * FIELDS + UNSEEN, unseen);
  }

  /** Connections of thread `index` new or with an exchange under way, seen or not yet. */
  #pending(index: number): number {
    const at = index * FIELDS;
    return Atomics.load(this.#a, at + PENDING) + Atomics.load(this.#a, at + UNSEEN);
  }

  /** How long a request lately held thread `index`'s app, in µs; 0 while not known. */
  #took(index: number): number {
    return Atomics.load(this.#a, index * FIELDS + TOOK);
  }

  /** A request held thread `index`'s app for `ms` (what one waiting behind it waits for). */
  took(index: number, ms: number): void {
    this.#average(index * FIELDS + TOOK, ms * 1000);
  }

  /** Connections of thread `index` lately carry `exchanges` exchanges each. */
  served(index: number, exchanges: number): void {
    this.#average(index * FIELDS + SERVED, exchanges);
  }

  // A moving average, kept exact by the one thread that writes it (a whole number rounded at each
  // step would stick within a few of its first value) and shown to the others in whole numbers
  // from 1 (0 means not known yet) to what an Int32 holds (35 minutes in µs).
  #average(at: number, value: number): void {
    const was = this.#exact.get(at);
    const now = was === undefined ? value : was + (value - was) / 8;
    this.#exact.set(at, now);
    Atomics.store(this.#a, at, Math.min(0x7fffffff, Math.max(1, Math.round(now))));
  }

  /** Thread `index` accepts (true), or stops (false: it drains, its connections still count). */
  setTaking(index: number, taking: boolean): void {
    Atomics.store(this.#a, index * FIELDS + TAKING, taking ? 1 : 0);
  }

  /** Whether thread `index` accepts (its listeners are open). */
  taking(index: number): boolean {
    return Atomics.load(this.#a, index * FIELDS + TAKING) === 1;
  }

  /** Thread `index` is gone, with its connections; a replacement starts from nothing. */
  gone(index: number): void {
    for (let f = 0; f < FIELDS; f++) Atomics.store(this.#a, index * FIELDS + f, 0);
  }

  /** A connection handed to thread `index` arrived there (it counts it as open now). */
  arrived(index: number): void {
    const at = index * FIELDS + INCOMING;
    // Never below 0 (gone() may have cleared it meanwhile), and never losing a sibling's add.
    for (let was = Atomics.load(this.#a, at); was > 0; was = Atomics.load(this.#a, at)) {
      if (Atomics.compareExchange(this.#a, at, was, was - 1) === was) return;
    }
  }

  /** Connections on their way to thread `index` (handed to it, not yet arrived). */
  incoming(index: number): number {
    return Atomics.load(this.#a, index * FIELDS + INCOMING);
  }

  /** Open connections of thread `index`, with those on their way to it. */
  load(index: number): number {
    const at = index * FIELDS;
    return Atomics.load(this.#a, at + OPEN) + Atomics.load(this.#a, at + INCOMING);
  }

  /** Pending connections of thread `index`, with those on their way to it. */
  queue(index: number): number {
    return this.#pending(index) + Atomics.load(this.#a, index * FIELDS + INCOMING);
  }

  /**
   * Whether a thread may say the process is out of fds now (`now`, in ms): at most once every
   * `everyMs` of all the threads, which run out together.
   */
  claimWarning(now: number, everyMs: number): boolean {
    const last = Atomics.load(this.#warned, 0);
    if (last !== 0n && now - Number(last) < everyMs) return false;
    return Atomics.compareExchange(this.#warned, 0, last, BigInt(Math.floor(now))) === last;
  }

  /** Open connections of every thread, with those on their way. */
  total(): number {
    let sum = 0;
    for (let i = 0; i < this.#threads; i++) sum += this.load(i);
    return sum;
  }

  /** Kept-alive connections of every thread. */
  kept(): number {
    let sum = 0;
    for (let i = 0; i < this.#threads; i++) sum += Atomics.load(this.#a, i * FIELDS + KEPT);
    return sum;
  }

  /**
   * Thread `me` just accepted a connection (not counted yet): the sibling it should go to, which
   * is counted as having it from now on, or -1 to keep it. A sibling takes it when it has clearly
   * fewer pending than `me` would have (two fewer, or a quarter fewer of many) and room within
   * its part, and either is not at work (nothing pending but what is on its way) or would save
   * the connection waits worth a hand-over: from how long requests hold each thread's app and how
   * many exchanges a connection carries, once known (a kept-alive connection waits behind the
   * thread it is on again and again). Any sibling with room does when `me` is at its part.
   */
  divert(me: number): number {
    const mine = this.queue(me) + 1;
    const atPart = this.load(me) >= this.limit(me);
    const took = this.#took(me);
    const served = Atomics.load(this.#a, me * FIELDS + SERVED);
    let best = -1;
    // At its part already (a burst accepted before its gate held): any sibling with room.
    let fewest = atPart ? Infinity : mine - Math.max(2, Math.ceil(mine / 4)) + 1;
    for (let i = 0; i < this.#threads; i++) {
      if (i === me || !this.taking(i)) continue;
      const queue = this.queue(i);
      if (queue >= fewest || this.load(i) >= this.limit(i)) continue;
      // The wait saved on each of the exchanges a connection here carries lately. A sibling
      // that is not at work takes it whatever the averages say: they tell the past, and a burst
      // of slow requests after quick ones spreads as the quarter rule spreads it (what is on its
      // way there does not count until it arrives). One not known yet counts as long.
      const idle = this.#pending(i) === 0;
      const saved = idle || took === 0 || served === 0
        ? Infinity
        : ((mine - 1) * took - queue * (this.#took(i) || took)) * served;
      if (atPart || saved >= WAIT_WORTH_HANDOVER_US) {
        best = i;
        fewest = queue;
      }
    }
    return this.#reserve(best);
  }

  /**
   * Where a connection whose thread is gone goes: the taking thread with the fewest pending,
   * within its part if any has room, or -1.
   */
  fewest(): number {
    let best = -1;
    for (let i = 0; i < this.#threads; i++) {
      if (!this.taking(i)) continue;
      const room = this.load(i) < this.limit(i);
      const bestRoom = best >= 0 && this.load(best) < this.limit(best);
      if (
        best < 0 || (room && !bestRoom) || (room === bestRoom && this.queue(i) < this.queue(best))
      ) {
        best = i;
      }
    }
    return this.#reserve(best);
  }

  /**
   * Counts a connection as on its way to thread `index` (none for -1); returns `index`, or -1 when
   * that thread stopped taking meanwhile. Counted first, checked after: a thread that drains
   * stops taking first and reads what is on its way after (workers/thread_entry.ts), so one of
   * the two sees the other.
   */
  #reserve(index: number): number {
    if (index < 0) return -1;
    Atomics.add(this.#a, index * FIELDS + INCOMING, 1);
    if (this.taking(index)) return index;
    this.arrived(index);
    return -1;
  }
}

// What a gthread thread shows the worker process without a message: one
// SharedArrayBuffer per thread with a heartbeat, its open WebSockets and one
// entry per connection (its fd, and whether and since when the app has a
// request of it). A message has to wake the other side, which costs too much
// to do on every request (docs/architecture.md, "Worker classes"); these
// stores cost next to nothing, so they can be made on every request.
//
// The process reads them on its heartbeat. When a thread hangs, the process
// claims the requests the thread has not begun answering (compare-and-swap, so
// exactly one side answers each) and writes their replies itself. Connections
// the process hands to a thread are taken the same way: the thread's adoption
// and the process's seal of a thread it gave up on are one compare-and-swap; so are the
// connections the thread's server keeps unread for want of room (parked), which the process
// answers for a hung thread.

import type { Socket } from "node:net";
import type { FetchHandler } from "../fetch_handler.ts";
import type { ExchangeWatch } from "../http/types.ts";
import {
  emptyStatusReply,
  rawStatusReply,
  statusReply,
  statusReplyBodyBytes,
} from "../http/status_reply.ts";
import type { Libc } from "../runtime/types.ts";

const TICK = 0;
const WEBSOCKETS = 1;
const ADOPTED = 2;
const HEADER = 3;
// state, fd, start, the in-flight table entry that names the request, whether the app has it (1)
// or it waits for the thread's app behind another request (0), since when the app has it, and
// whether it is a HEAD (METHOD_*)
const FIELDS = 7;
/** Connections a thread can have watched at once; more are served, unwatched. */
export const ENTRIES = 256;

const FREE = 0;
const IDLE = 1;
const RUNNING = 2;
const ANSWERING = 3;
const CLAIMED = 4;
// A connection handed to the thread that waits there for room, as a bare fd (handoff_waits.ts);
// then the process's once it claimed it from a thread it gave up on.
const WAITING = 5;
const WAITING_CLAIMED = 6;
// A connection the thread's own server accepted and keeps unread for want of room (parked, a
// socket of the thread's); then the process's to answer once it claimed it from a thread it gave
// up on, and answered once it is done with the fd (which the thread's socket still owns).
const PARKED = 7;
const PARKED_CLAIMED = 8;
const PARKED_ANSWERED = 9;
// What the slot knows of its request's method, all a reply for it needs: the process answers a
// request past the thread's in-flight entries too, which names no method (a HEAD must get no
// body). Not known yet from started() until the handler has the request (queued()).
const METHOD_UNKNOWN = 0;
const METHOD_HEAD = 1;
const METHOD_OTHER = 2;
/** How long a thread waits for the process to finish answering a parked connection it claimed. */
const PARKED_ANSWER_WAIT_MS = 1000;

/**
 * ADOPTED once the process gave up on the thread: it takes no handed connection more. Never a
 * connection's number (ThreadHandle.nextHandoff() skips it).
 */
export const SEALED = -0x80000000;

/** A fresh slot area for one thread. */
export function newSlots(): SharedArrayBuffer {
  return new SharedArrayBuffer((HEADER + ENTRIES * FIELDS) * 4);
}

/** Milliseconds since `origin`, the pool's start (fits an Int32 for 24 days). */
function since(origin: number): number {
  return Date.now() - origin;
}

/** What a connection handed to a thread would wait behind there (ThreadBoard keeps it). */
export interface LoadReport {
  /**
   * How many watched connections are new or have an exchange under way, with the open
   * WebSockets, each time that changes.
   */
  pending(count: number): void;
  /**
   * Exchanges per connection opened, over the last tick (only when there were exchanges): what a
   * new connection carries, long-lived kept-alive ones included (few open, many exchanges).
   */
  served(exchanges: number): void;
  /**
   * How many connections the thread's HTTP layer has told of (opened, not closed yet), each time
   * that changes, watched or not (past the entries): the thread's other open ones are new ones it
   * has not seen yet (a TLS handshake under way).
   */
  connections?(count: number): void;
}

/** The thread's side: the ExchangeWatch its HTTP servers report to. */
export class SlotWriter implements ExchangeWatch {
  readonly #a: Int32Array;
  readonly #origin: number;
  readonly #fdOf: (socket: Socket) => number;
  /** Per entry: its connection is new or has an exchange under way (not between exchanges). */
  readonly #pending = new Uint8Array(ENTRIES);
  // Connections opened and exchanges started since the last tick.
  #opened = 0;
  #exchanges = 0;
  #pendingCount = 0;
  #websockets = 0;
  /** Connections opened() and not closed() yet, watched or not. */
  #connections = 0;
  readonly #load: LoadReport | undefined;
  /** The connection whose request is being handed to queued() (started() then the handler). */
  #current = -1;
  /** Per entry: its requests so far, so a request that waits marks only its own entry. */
  readonly #serial = new Uint32Array(ENTRIES);
  /** Requests waiting for the app (queued() to inApp()): their entry and its serial then. */
  readonly #waiting = new WeakMap<Request, { tag: number; serial: number }>();
  /** The fd shown for each socket (Deno's is a duplicate: one per socket, not one per look). */
  readonly #fds = new WeakMap<Socket, number>();

  /** `load` hears what a connection handed to this thread would wait behind (LoadReport). */
  constructor(
    buffer: SharedArrayBuffer,
    origin: number,
    fdOf: (socket: Socket) => number,
    load?: LoadReport,
  ) {
    this.#a = new Int32Array(buffer);
    this.#origin = origin;
    this.#fdOf = fdOf;
    this.#load = load;
  }

  #setPending(tag: number, pending: 0 | 1): void {
    const i = (tag - HEADER) / FIELDS;
    if (this.#pending[i] === pending) return;
    this.#pending[i] = pending;
    this.#pendingCount += pending ? 1 : -1;
    this.#load?.pending(this.#pendingCount + this.#websockets);
  }

  /** The thread's event loop still turns. */
  tick(): void {
    Atomics.store(this.#a, TICK, since(this.#origin));
    if (this.#exchanges > 0) this.#load?.served(this.#exchanges / Math.max(1, this.#opened));
    this.#opened = this.#exchanges = 0;
  }

  #shownFd(socket: Socket): number {
    let fd = this.#fds.get(socket);
    if (fd === undefined) {
      fd = this.#fdOf(socket);
      if (fd >= 0) this.#fds.set(socket, fd);
    }
    return fd;
  }

  opened(socket: Socket): number {
    this.#opened++;
    const tag = this.#watch(socket);
    // After it counts as pending: a sibling never sees the thread with one new connection fewer.
    this.#load?.connections?.(++this.#connections);
    return tag;
  }

  // `socket` shown in the first free entry, pending: the entry, or -1 when none is free.
  #watch(socket: Socket): number {
    const a = this.#a;
    for (let i = 0; i < ENTRIES; i++) {
      const at = HEADER + i * FIELDS;
      if (a[at] !== FREE) continue;
      a[at + 1] = this.#shownFd(socket);
      Atomics.store(a, at, IDLE);
      this.#setPending(at, 1);
      return at;
    }
    return -1;
  }

  /**
   * `entry`: the in-flight table entry that names the request (InflightWatch), -1 for none. Its
   * protocol is the table's.
   */
  started(tag: number, _http10 = false, entry = -1): void {
    this.#exchanges++;
    this.#current = tag;
    if (tag < 0) return;
    this.#setPending(tag, 1);
    this.#a[tag + 2] = since(this.#origin);
    this.#a[tag + 3] = entry;
    this.#a[tag + 4] = 0;
    this.#a[tag + 6] = METHOD_UNKNOWN;
    this.#serial[(tag - HEADER) / FIELDS]++;
    Atomics.store(this.#a, tag, RUNNING);
  }

  /**
   * `handler`, the queue in front of the thread's app (limitConcurrency): notes each request's
   * connection as it joins the queue, for inApp().
   */
  queued(handler: FetchHandler): FetchHandler {
    return (request, info) => {
      const tag = this.#current;
      this.#current = -1;
      // Atomic: the process may claim the request while the thread runs on (SlotReader.claimAll).
      if (tag >= 0) {
        Atomics.store(this.#a, tag + 6, request.method === "HEAD" ? METHOD_HEAD : METHOD_OTHER);
      }
      // The process gave up on this thread (its app hangs) and claimed what was in flight: a
      // request that comes after (its loop still turns: a parked connection served at the drain)
      // would wait behind the hung one until the graceful timeout. The process seals before it
      // claims, so each request is either claimed there or refused here.
      if (this.sealed) return statusReply(503);
      if (tag >= 0) {
        this.#waiting.set(request, { tag, serial: this.#serial[(tag - HEADER) / FIELDS] });
      }
      return handler(request, info);
    };
  }

  /**
   * `handler`, the app behind the queue: marks the request's entry as the app's once the queue
   * lets it in. Who answers a request the thread cannot (Claimed.inApp) tells the one the app
   * was running from those that had not reached it.
   */
  inApp(handler: FetchHandler): FetchHandler {
    return (request, info) => {
      const waited = this.#waiting.get(request);
      if (waited !== undefined) {
        this.#waiting.delete(request);
        const { tag, serial } = waited;
        // Not when its connection went and the entry serves another's request meanwhile.
        if (this.#serial[(tag - HEADER) / FIELDS] === serial) {
          this.#a[tag + 5] = since(this.#origin);
          Atomics.store(this.#a, tag + 4, 1);
        }
      }
      return handler(request, info);
    };
  }

  answering(tag: number): boolean {
    if (tag < 0) return true;
    const was = Atomics.compareExchange(this.#a, tag, RUNNING, ANSWERING);
    return was !== CLAIMED;
  }

  finished(tag: number): void {
    if (tag < 0) return;
    this.#setPending(tag, 0);
    // RUNNING too: a request whose client left is finished without being answered.
    if (Atomics.compareExchange(this.#a, tag, ANSWERING, IDLE) === RUNNING) {
      Atomics.compareExchange(this.#a, tag, RUNNING, IDLE);
    }
  }

  /**
   * Takes the process's connection number `n` (handed over by a sibling, in order): true when it
   * is this thread's from now on, said before it is adopted, so the process never closes an fd
   * this thread owns; false when the process gave up on this thread (SlotReader.seal()), and
   * answers the connection itself.
   */
  adopting(n: number): boolean {
    const was = Atomics.load(this.#a, ADOPTED);
    return was !== SEALED && Atomics.compareExchange(this.#a, ADOPTED, was, n) === was;
  }

  /**
   * A handed connection (`fd`, adopted) waits on this thread for room: the entry it waits in, for
   * unwait(), or -1 when none is free (then it is not watched).
   */
  waiting(fd: number): number {
    return this.#show(fd, WAITING);
  }

  // `fd` shown in the first free entry, in `state`: the entry, or -1 when none is free.
  #show(fd: number, state: number): number {
    const a = this.#a;
    for (let i = 0; i < ENTRIES; i++) {
      const at = HEADER + i * FIELDS;
      if (a[at] !== FREE) continue;
      a[at + 1] = fd;
      Atomics.store(a, at, state);
      return at;
    }
    return -1;
  }

  /**
   * The connection waiting in `tag` leaves the wait (served, handed on, drained): true when it
   * is still this thread's, false when the process claimed it (it answered and closed it).
   */
  unwait(tag: number): boolean {
    if (tag < 0) return true;
    // A claimed entry stays taken: the process may still be reading its fd.
    return Atomics.compareExchange(this.#a, tag, WAITING, FREE) === WAITING;
  }

  /**
   * A connection this thread's server accepted waits unread for room (parked): the entry it waits
   * in, for unparked(), or -1 when it is not shown (no entry free, no fd to show). If the thread
   * hangs, the process answers it (SlotReader.claimParked()).
   */
  parked(socket: Socket): number {
    const fd = this.#shownFd(socket);
    return fd < 0 ? -1 : this.#show(fd, PARKED);
  }

  /**
   * The connection parked in `tag` leaves parking (admitted, handed on, closing, gone): true when
   * it is still this thread's; false when the process claimed it and answered it (503, shut
   * down): the caller closes its socket then, which it still owns. Waits for the process to be
   * done with the fd first: a close before could free the fd's number for another connection
   * while the process still writes on it.
   */
  unparked(tag: number): boolean {
    if (tag < 0) return true;
    const a = this.#a;
    const was = Atomics.compareExchange(a, tag, PARKED, FREE);
    if (was === PARKED) return true;
    if (was === PARKED_CLAIMED) Atomics.wait(a, tag, PARKED_CLAIMED, PARKED_ANSWER_WAIT_MS);
    // Still claimed (the process never got to the end): the entry stays taken, as a claimed one.
    Atomics.compareExchange(a, tag, PARKED_ANSWERED, FREE);
    return false;
  }

  /** Whether the process gave up on this thread (SlotReader.seal()). */
  get sealed(): boolean {
    return Atomics.load(this.#a, ADOPTED) === SEALED;
  }

  /** The thread's open WebSockets now (each keeps a place in the thread's load). */
  websockets(open: number): void {
    Atomics.store(this.#a, WEBSOCKETS, open);
    this.#websockets = open;
    this.#load?.pending(this.#pendingCount + open);
  }

  closed(tag: number): void {
    this.#load?.connections?.(--this.#connections);
    if (tag < 0) return;
    this.#setPending(tag, 0);
    this.#a[tag + 1] = -1;
    Atomics.store(this.#a, tag, FREE);
  }
}

/** A request the process took over from a hung or crashed thread. */
export interface Claimed {
  fd: number;
  /** How long the app has had it, in ms. */
  age: number;
  /** The thread's in-flight table entry that names it, -1 for none (src/ipc/inflight.ts). */
  entry: number;
  /** The app has it; else it waited for the app behind another request (SlotWriter.inApp). */
  inApp: boolean;
  /**
   * Whether it is a HEAD, whose answer is the head alone (answerClaimed); null when not known:
   * claimed between the HTTP layer's start and its thread's handler (a few statements, raced by
   * a claim from the process while the thread runs on). Then the answer has an empty body
   * (content-length: 0): whole for a HEAD and for any other method alike, where the head alone
   * with the body's length would be a body cut short, and the body a HEAD's next response.
   */
  head: boolean | null;
}

/** The worker process's side. */
export class SlotReader {
  readonly #a: Int32Array;
  readonly #origin: number;
  /** The last connection the thread took before seal(). */
  #sealed = 0;

  constructor(buffer: SharedArrayBuffer, origin: number) {
    this.#a = new Int32Array(buffer);
    this.#origin = origin;
    Atomics.store(this.#a, TICK, since(origin));
  }

  /** The number of the last connection handed to the thread that it took (SlotWriter.adopting). */
  get adopted(): number {
    const adopted = Atomics.load(this.#a, ADOPTED);
    return adopted === SEALED ? this.#sealed : adopted;
  }

  /**
   * The thread takes no handed connection from now on (the process gave up on it, or ends it):
   * returns the number of the last one it took. Those after it are the caller's to answer.
   */
  seal(): number {
    for (;;) {
      const was = Atomics.load(this.#a, ADOPTED);
      if (was === SEALED) return this.#sealed;
      if (Atomics.compareExchange(this.#a, ADOPTED, was, SEALED) === was) return this.#sealed = was;
    }
  }

  /** The thread's open WebSockets. */
  get websockets(): number {
    return Atomics.load(this.#a, WEBSOCKETS);
  }

  /** Milliseconds since the thread's event loop last turned. */
  silence(): number {
    return since(this.#origin) - Atomics.load(this.#a, TICK);
  }

  /**
   * How long in ms the app has held the request it holds longest without answering, 0 if none.
   * Counted from when the app got it: a request waiting behind another for the thread's app is
   * not held by it (the thread is busy, not stuck).
   */
  heldInApp(): number {
    const now = since(this.#origin);
    let held = 0;
    for (let i = 0; i < ENTRIES; i++) {
      const at = HEADER + i * FIELDS;
      if (Atomics.load(this.#a, at) === RUNNING && Atomics.load(this.#a, at + 4) === 1) {
        held = Math.max(held, now - this.#a[at + 5]);
      }
    }
    return held;
  }

  /** Takes every request the thread has not begun answering: the caller answers them now. */
  claimAll(): Claimed[] {
    const now = since(this.#origin);
    const claimed: Claimed[] = [];
    for (let i = 0; i < ENTRIES; i++) {
      const at = HEADER + i * FIELDS;
      if (Atomics.compareExchange(this.#a, at, RUNNING, CLAIMED) === RUNNING) {
        claimed.push({
          fd: this.#a[at + 1],
          age: now - this.#a[at + 2],
          entry: this.#a[at + 3],
          inApp: this.#a[at + 4] === 1,
          head: headOf(Atomics.load(this.#a, at + 6)),
        });
      }
    }
    return claimed;
  }

  /**
   * Takes the handed connections that wait on the thread for room (SlotWriter.waiting()): their
   * fds, for the caller to answer and close. Seal first: a thread that adopts one after that
   * sees the seal and answers it itself.
   */
  claimWaiting(): number[] {
    const fds: number[] = [];
    for (let i = 0; i < ENTRIES; i++) {
      const at = HEADER + i * FIELDS;
      if (Atomics.compareExchange(this.#a, at, WAITING, WAITING_CLAIMED) === WAITING) {
        fds.push(this.#a[at + 1]);
      }
    }
    return fds;
  }

  /**
   * Takes the connections the thread keeps parked (SlotWriter.parked()): `answer` gets each one's
   * fd, to answer and shut down but not close (the thread's socket owns it, and closes it once
   * its loop turns again: SlotWriter.unparked()).
   */
  claimParked(answer: (fd: number) => void): void {
    const a = this.#a;
    for (let i = 0; i < ENTRIES; i++) {
      const at = HEADER + i * FIELDS;
      if (Atomics.compareExchange(a, at, PARKED, PARKED_CLAIMED) !== PARKED) continue;
      try {
        answer(a[at + 1]);
      } finally {
        Atomics.store(a, at, PARKED_ANSWERED);
        Atomics.notify(a, at);
      }
    }
  }

  /**
   * The thread's side, at a drain's deadline: takes every request it has not begun answering, to
   * answer it with the 504 of a cut-off (Connection.cut; the process claims none of them after
   * this), and returns the in-flight entries of those the process claimed before, which it
   * answered and logged already.
   */
  cutOff(): Set<number> {
    const elsewhere = new Set<number>();
    for (let i = 0; i < ENTRIES; i++) {
      const at = HEADER + i * FIELDS;
      if (Atomics.compareExchange(this.#a, at, RUNNING, ANSWERING) === CLAIMED) {
        elsewhere.add(this.#a[at + 3]);
      }
    }
    return elsewhere;
  }
}

/** Claimed.head of a slot's METHOD_*. */
function headOf(method: number): boolean | null {
  return method === METHOD_UNKNOWN ? null : method === METHOD_HEAD;
}

/** Whether connection number `n` comes after number `last` (both wrap around as Int32s). */
export function after(n: number, last: number): boolean {
  return ((n - last) | 0) > 0;
}

const SHUT_RDWR = 2;

/** The status a claimed request is answered with. */
export type ClaimStatus = 500 | 503 | 504;

/**
 * Writes a plain reply on a claimed request's connection and shuts it down. The
 * fd must still be open: claimed while its thread hangs, or by the thread itself.
 * On a TLS connection (`tls`) it is only shut down: its TLS session lives in the
 * thread, and plain bytes there are garbage to the client. `head`: the request is a HEAD, which
 * gets the head alone; null: its method is not known (Claimed.head), and the reply's body is
 * empty. Returns the body bytes written.
 */
export function answerClaimed(
  libc: Libc,
  fd: number,
  status: ClaimStatus,
  tls = false,
  head: boolean | null = false,
): number {
  if (tls) {
    libc.shutdown(fd, SHUT_RDWR);
    return 0;
  }
  const text = head === null ? emptyStatusReply(status) : rawStatusReply(status, undefined, head);
  const reply = new TextEncoder().encode(text);
  const written = libc.write(fd, reply);
  libc.shutdown(fd, SHUT_RDWR);
  // Its access line's body bytes: those of the reply's body that went out.
  const body = head === false ? statusReplyBodyBytes(status) : 0;
  return Math.max(0, Math.min(body, written - (reply.length - body)));
}

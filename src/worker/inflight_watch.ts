// Keeps a worker's (or a gthread thread's) requests in flight in its shared in-flight table
// (src/ipc/inflight.ts), so that WORKER TIMEOUT and THREAD TIMEOUT can name them while this
// event loop is stuck and cannot speak. The HTTP layer says when an exchange starts and ends
// (ExchangeWatch); the handler wrapper adds what the request is, right after the start.

import type { Socket } from "node:net";
import type { FetchHandler, ServeInfo } from "../fetch_handler.ts";
import type { ExchangeWatch } from "../http/types.ts";
import type { InflightFields, InflightRequest, InflightTable } from "../ipc/inflight.ts";
import { clientOf } from "../ipc/inflight_report.ts";
import type { UnreadConnection } from "../ipc/quick_stop_report.ts";
import { cutOffReplyBodyBytes } from "../http/status_reply.ts";
import type { StreamEnds } from "./native_stream_ends.ts";

/**
 * Date.now() read once per CLOCK_MS by a timer, not per request: a start time this coarse is
 * enough for "for 2.0 s", and a request's start is read while that request's own code has not
 * run yet, so a loop it blocks has not stopped the clock before.
 */
const CLOCK_MS = 50;
class CoarseClock {
  now = Date.now();
  #timer: ReturnType<typeof setInterval> | undefined;
  constructor() {
    this.#timer = setInterval(() => (this.now = Date.now()), CLOCK_MS);
    // Deno.unrefTimer and Bun's timer.unref(): never keep a worker alive for this.
    (this.#timer as unknown as { unref?: () => void }).unref?.();
  }
}

// Per connection tag: whether its exchange holds an entry, is only counted, or neither.
const IDLE = 0;
const NAMED = 1;
const COUNTED = 2;

export interface InflightWatchOptions {
  /**
   * Writes the access lines waiting for their batch; returns whether there were any. Called
   * before the app gets a request, until it wrote lines once in this turn of the event loop:
   * app code that blocks the loop then loses none of the lines of requests that finished before
   * it (the batch's timer would never fire). Under load that is one write per turn. For gthread
   * threads: a worker process keeps its waiting lines in its scoreboard slot instead
   * (Logger.shareAccessLines), where the master finds them.
   */
  flush?: () => boolean;
  /**
   * Another watch told of everything too (a gthread thread's slots); its tags are kept here. Its
   * `started` also hears which table entry names the request (-1: none, only counted).
   */
  inner?: InnerWatch;
  /** What each entry keeps of its request besides its line (src/ipc/inflight_fields.ts). */
  fields?: InflightFields;
}

/** An ExchangeWatch told at each start which entry of the table names the request. */
export interface InnerWatch extends ExchangeWatch {
  started(tag: number, http10?: boolean, entry?: number): void;
}

/** The ExchangeWatch and handler wrapper that keep `table` up to date. */
export class InflightWatch implements ExchangeWatch {
  readonly #table: InflightTable;
  readonly #flush: (() => boolean) | undefined;
  readonly #inner: InnerWatch | undefined;
  readonly #innerTag: number[] = [];
  readonly #free: number[] = [];
  readonly #state: number[] = [];
  /** Per tag: the table entry its exchange holds (state NAMED), else -1. */
  readonly #entryOf: number[] = [];
  /**
   * Per tag: 1 while a cut at the graceful timeout would answer its request with the 504
   * (Connection.cut: an HTTP-layer exchange whose answer has not begun; NativeCutOff: one the app
   * has not answered), else 0. Its bytes are worked out at the cut, not per request.
   */
  readonly #unanswered: number[] = [];
  /**
   * The table's entries no exchange holds, the lowest last. An entry is taken per exchange, not
   * per connection: with more connections than entries, a request is only counted when as many
   * are in flight, not whenever its connection came late (and the counted path allocates).
   */
  readonly #freeEntries: number[];
  /**
   * The requests past the table's entries, only counted there: kept here, so that a worker that
   * cuts them off at its graceful timeout (it can still speak) logs each of them too.
   */
  readonly #overflow = new Map<number, InflightRequest>();
  /** Those of them whose access line is written already (logged()), no exchange's any more. */
  readonly #loggedOverflow: InflightRequest[] = [];
  /** wrapAlone's tags whose response stream is still being sent. */
  readonly #streams = new Set<number>();
  #next = 0;
  /** Connections parked (without an inner watch), by the tag parked() gave them. */
  readonly #parked = new Map<number, UnreadConnection>();
  #nextParked = 0;
  /** The connection whose request the app is being handed (started() then the handler). */
  #current = -1;
  /** Whether that request is HTTP/1.0. */
  #http10 = false;
  /** Whether entries keep request headers (the handler then reads them). */
  readonly #headers: boolean;
  #flushedThisTurn = false;
  readonly #clock = new CoarseClock();
  readonly #newTurn = () => {
    this.#flushedThisTurn = false;
  };

  /** The table it keeps up to date (a gthread worker's threads write in regions of it). */
  get table(): InflightTable {
    return this.#table;
  }

  constructor(table: InflightTable, options: InflightWatchOptions = {}) {
    this.#table = table;
    // Its entries (a gthread thread's region of its worker's table: some of them).
    this.#freeEntries = Array.from(
      { length: table.end - table.first },
      (_, i) => table.end - 1 - i,
    );
    this.#flush = options.flush;
    this.#inner = options.inner;
    this.#headers = (options.fields?.headers.length ?? 0) > 0 || options.fields?.user === true;
    table.clear(options.fields);
  }

  opened(socket: Socket): number {
    const tag = this.#take();
    if (this.#inner) this.#innerTag[tag] = this.#inner.opened(socket);
    return tag;
  }

  started(tag: number, http10 = false): void {
    this.#flushOnce();
    this.#end(tag);
    const entry = this.#hold(tag);
    // The entry is named as the handler gets the request, right after (wrap()).
    this.#inner?.started(this.#innerTag[tag], http10, entry);
    this.#current = tag;
    this.#http10 = http10;
  }

  answering(tag: number): boolean {
    this.#unanswered[tag] = 0;
    return this.#inner ? this.#inner.answering(this.#innerTag[tag]) : true;
  }

  finished(tag: number): void {
    this.#end(tag);
    this.#inner?.finished(this.#innerTag[tag]);
  }

  /**
   * A quick stop ended tag's response under way, and its exchange wrote its access line: its
   * entry stays, marked (InflightRequest.logged), for the quick stop to name it, and is no
   * longer the tag's, so that neither the exchange's end nor the connection's close frees it (the
   * process is ending).
   */
  logged(tag: number): void {
    const state = this.#state[tag];
    if (state === NAMED) this.#table.logged(this.#entryOf[tag]);
    else if (state === COUNTED) {
      const request = this.#overflow.get(tag);
      this.#overflow.delete(tag);
      if (request !== undefined) this.#loggedOverflow.push({ ...request, logged: true });
    }
    this.#state[tag] = IDLE;
    this.#entryOf[tag] = -1;
    this.#unanswered[tag] = 0;
  }

  /**
   * tag's response streams (ExchangeWatch.sent): its entry says what went out of it. One only
   * counted has no entry to say it in.
   */
  sent(tag: number, bytes: number, status?: number): void {
    if (this.#state[tag] !== NAMED) return;
    if (status === undefined) this.#table.sentBytes(this.#entryOf[tag], bytes);
    else this.#table.sent(this.#entryOf[tag], status, bytes);
  }

  /**
   * A quick stop: the streams wrapAlone's requests are still sending had their access lines
   * written (as the native server took them: countedBody), each logged() as above.
   */
  streamsLogged(): void {
    for (const tag of this.#streams) this.logged(tag);
    this.#streams.clear();
  }

  closed(tag: number): void {
    this.#end(tag);
    this.#inner?.closed(this.#innerTag[tag]);
    this.#free.push(tag);
  }

  // A parked connection has no exchange to name: the inner watch shows it (a gthread thread's
  // process answers it), or this keeps where it came from for a quick stop to name (unread()).
  parked(socket: Socket): number {
    if (this.#inner) return this.#inner.parked?.(socket) ?? -1;
    const tag = this.#nextParked++;
    const client = socket.remoteAddress === undefined ? "unix" : clientOf({
      transport: "tcp",
      hostname: socket.remoteAddress,
      port: socket.remotePort ?? 0,
    });
    this.#parked.set(tag, { client, since: this.#clock.now });
    return tag;
  }

  unparked(tag: number): boolean {
    if (this.#inner) return this.#inner.unparked?.(tag) ?? true;
    this.#parked.delete(tag);
    return true;
  }

  /** The connections accepted and waiting unread for room (parked), oldest first. */
  unread(): UnreadConnection[] {
    return [...this.#parked.values()];
  }

  /** `handler`, which names each request in the table before the app gets it. */
  wrap(handler: FetchHandler): FetchHandler {
    return (request, info) => {
      const tag = this.#current;
      if (tag >= 0) {
        this.#current = -1;
        this.#unanswered[tag] = 1;
        if (this.#state[tag] === NAMED) this.#name(tag, request, info, this.#http10);
        else this.#keep(tag, request, info, this.#http10);
      }
      return handler(request, info);
    };
  }

  /**
   * `handler` for a server that tells nothing of its exchanges (the runtime's own, in reuse-port
   * mode): each request holds an entry from when the app gets it until it has answered, or, for
   * a stream `streams` tracks, until the stream ended.
   */
  wrapAlone(handler: FetchHandler, streams?: StreamEnds): FetchHandler {
    return (request, info) => {
      this.#flushOnce();
      const tag = this.#take();
      // Until the app answers, a cut answers it (NativeCutOff, src/worker/native_cut_off.ts).
      this.#unanswered[tag] = 1;
      // The runtime's own server: its access lines say HTTP/1.1 too (src/worker/async.ts).
      if (this.#hold(tag) >= 0) this.#name(tag, request, info, false);
      else this.#keep(tag, request, info, false);
      let result;
      try {
        result = handler(request, info);
      } catch (error) {
        this.#release(tag);
        throw error;
      }
      // A Response, or nothing after Bun's server.upgrade(): answered already.
      if (!(result instanceof Promise)) {
        this.#answered(tag, result, streams);
        return result;
      }
      // A side chain: the server awaits the app's own promise, one reaction later is not its.
      const done = (response?: unknown) => this.#answered(tag, response, streams);
      result.then(done, done);
      return result;
    };
  }

  // wrapAlone's request `tag` answered (`response`: undefined when it failed): a stream being
  // sent keeps its entry until its end, as answered (a cut sends it no 504), with what went out
  // of it (its head with the first chunk: a death then logs what its client got); the rest end
  // now. A body that is no stream costs one look-up here.
  #answered(tag: number, response: unknown, streams: StreamEnds | undefined): void {
    if (streams !== undefined && streams.underWay(response)) {
      this.#unanswered[tag] = 0;
      this.#streams.add(tag);
      const entry = this.#entryOf[tag];
      const status = response.status;
      streams.whenEnded(
        response,
        () => {
          this.#streams.delete(tag);
          this.#release(tag);
        },
        entry < 0 ? undefined : (bytes) => {
          // Once a quick stop logged it, the entry is no longer the tag's.
          if (this.#entryOf[tag] === entry) this.#table.sent(entry, status, bytes);
        },
      );
    } else this.#release(tag);
  }

  #name(tag: number, request: Request, info: ServeInfo, http10: boolean): void {
    const remote = info.remoteAddr;
    const unix = remote.transport === "unix";
    this.#table.request(
      this.#entryOf[tag],
      request.method,
      request.url,
      unix ? "unix" : remote.hostname,
      unix ? -1 : remote.port,
      this.#clock.now,
      this.#headers ? request.headers : undefined,
      http10,
    );
  }

  /**
   * The body bytes of the 504 that a cut at the graceful timeout writes for `request`, one of the
   * table's or of overflow(), for its access line: -1 for one whose answer began (it is ended
   * mid-body, and its connection logs what went out: Connection.cut).
   */
  cutOffBytes(request: InflightRequest): number {
    for (let tag = 0; tag < this.#next; tag++) {
      const state = this.#state[tag];
      const its = state === NAMED
        ? request.entry >= 0 && this.#entryOf[tag] === request.entry
        : state === COUNTED && this.#overflow.get(tag) === request;
      if (its) {
        return this.#unanswered[tag] === 1 ? cutOffReplyBodyBytes(request.method === "HEAD") : -1;
      }
    }
    return 0;
  }

  /** The requests in flight that the table only counts (its `more`), oldest first. */
  overflow(): InflightRequest[] {
    return [...this.#overflow.values(), ...this.#loggedOverflow].sort((a, b) => a.start - b.start);
  }

  #keep(tag: number, request: Request, info: ServeInfo, http10: boolean): void {
    const url = new URL(request.url);
    this.#overflow.set(tag, {
      method: request.method,
      target: url.pathname + url.search,
      client: clientOf(info.remoteAddr),
      start: this.#clock.now,
      entry: -1,
      request,
      protocol: http10 ? "HTTP/1.0" : "HTTP/1.1",
    });
  }

  #flushOnce(): void {
    if (this.#flush !== undefined && !this.#flushedThisTurn && this.#flush()) {
      this.#flushedThisTurn = true;
      setImmediate(this.#newTurn);
    }
  }

  // wrapAlone's end of a request: closed() without the inner watch, which saw no exchange.
  #release(tag: number): void {
    this.#end(tag);
    this.#free.push(tag);
  }

  #take(): number {
    const tag = this.#free.length ? this.#free.pop()! : this.#next++;
    this.#state[tag] = IDLE;
    this.#unanswered[tag] = 0;
    this.#entryOf[tag] = -1;
    return tag;
  }

  // A free entry for tag's exchange (NAMED, written by #name()), or none: it is only counted.
  #hold(tag: number): number {
    const entry = this.#freeEntries.length ? this.#freeEntries.pop()! : -1;
    this.#entryOf[tag] = entry;
    if (entry >= 0) this.#state[tag] = NAMED;
    else {
      this.#state[tag] = COUNTED;
      this.#table.overflow(1);
    }
    return entry;
  }

  #end(tag: number): void {
    const state = this.#state[tag];
    if (state === NAMED) {
      const entry = this.#entryOf[tag];
      this.#table.free(entry);
      this.#freeEntries.push(entry);
      this.#entryOf[tag] = -1;
    } else if (state === COUNTED) {
      this.#table.overflow(-1);
      this.#overflow.delete(tag);
    }
    this.#state[tag] = IDLE;
    this.#unanswered[tag] = 0;
  }
}

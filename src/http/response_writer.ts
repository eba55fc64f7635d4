// Serialises a Web `Response` onto a node:net socket as HTTP/1.1: one write for bodies that fit in
// the first read, chunked (or raw, if the app or the runtime fixed a length) streaming with
// backpressure otherwise.

import { Buffer } from "node:buffer";
import type { Socket } from "node:net";
import { setImmediate } from "node:timers";
import { spentBodyError } from "../spent_body.ts";
import { abortError } from "./app_request.ts";
import { statusLine } from "./status_reply.ts";
import type { HttpOptions } from "./types.ts";

/** Request flags for `ResponseWriter.write`. */
export const F_HEAD = 1;
export const F_HTTP10 = 2;
export const F_KEEP_ALIVE = 4;

/**
 * How a response ended. `keep`: fully written, the connection may carry another request; `close`:
 * written (or the peer is gone), the connection must close; `unsent`: the body failed before any
 * byte went out (`ResponseWriter.error`), so another reply may still be sent; `cut`: the body
 * failed after the head went out (`ResponseWriter.error`) and the socket was destroyed.
 */
export type Outcome = "keep" | "close" | "unsent" | "cut";

const SERVER_LINE = "server: appserve\r\n";
const KEEP_LINE = "connection: keep-alive\r\n";
const CLOSE_LINE = "connection: close\r\n";
const CHUNKED_LINE = "transfer-encoding: chunked\r\n";
const LAST_CHUNK = Buffer.from("0\r\n\r\n", "latin1");
// Below this, a chunk is copied next to its framing so it leaves in one write.
const COPY_CHUNK_MAX = 16 * 1024;

// Process-wide on purpose: one clock second is the same for every connection and server.
let dateLine = `date: ${new Date().toUTCString()}\r\n`;

/** Refreshes the cached Date header; the server calls it from its once-a-tick timer. */
export function refreshDate(now: number): void {
  dateLine = `date: ${new Date(now).toUTCString()}\r\n`;
}

const encoder = new TextEncoder();

/** Encodes a head and a text body (UTF-8, as a Response encodes it) into one buffer. */
function encodeHeadText(head: string, text: string): Buffer {
  const hl = head.length;
  const out = Buffer.allocUnsafe(hl + Buffer.byteLength(text, "utf8"));
  const r = encoder.encodeInto(head, out);
  if (r.read !== hl || r.written !== hl) out.write(head, 0, hl, "latin1");
  encoder.encodeInto(text, out.subarray(hl));
  return out;
}

/** Encodes a head (latin1, as header values are byte strings) followed by an optional body. */
export function encodeHead(head: string, body: Uint8Array | null): Buffer {
  const hl = head.length;
  const out = Buffer.allocUnsafe(body === null ? hl : hl + body.length);
  // encodeInto is the fast encoder in both runtimes; it is exact as long as the head is ASCII.
  const r = encoder.encodeInto(head, out);
  if (r.read !== hl || r.written !== hl) out.write(head, 0, hl, "latin1");
  if (body !== null) out.set(body, hl);
  return out;
}

/**
 * The app's header fields as the head's text, minus the ones the writer owns (framing, connection
 * management), noting what it must add. One per writer, reset for each response: the walk's
 * state lives here, and `collect` is bound once.
 */
class HeaderWalk {
  text = "";
  sawDate = false;
  sawServer = false;
  sawCookie = false;
  sawType = false;
  /** The app's Content-Type, when sawType. */
  type = "";
  sawDisposition = false;
  appClose = false;
  appLength = "";
  /** The app's Content-Encoding, kept out of `text`: dropped for a body fetch() decoded. */
  appEncoding = "";
  /** No field of the app's went into `text`. */
  plain = true;

  reset(first: string): void {
    this.text = first;
    this.plain = true;
    this.sawDate =
      this.sawServer =
      this.sawCookie =
      this.sawType =
      this.sawDisposition =
      this.appClose =
        false;
    this.appLength = this.appEncoding = "";
  }

  /** What `Headers.forEach` calls for each field. */
  readonly collect: (value: string, name: string) => void;

  constructor() {
    // Made here, not as an arrow field: the worker bundle's --keep-names names an arrow field
    // with Object.defineProperty for each writer (docs/architecture.md).
    this.collect = (value, name) => {
      switch (name.length) {
        case 4:
          if (name === "date") this.sawDate = true;
          break;
        case 6:
          if (name === "server") this.sawServer = true;
          break;
        case 10:
          if (name === "set-cookie") {
            this.sawCookie = true;
            return;
          }
          if (name === "connection") {
            // Connection management is ours; an app asking to close is honoured.
            if (/(?:^|,)\s*close\s*(?:,|$)/i.test(value)) this.appClose = true;
            return;
          }
          if (name === "keep-alive") return;
          break;
        case 12:
          if (name === "content-type") {
            this.sawType = true;
            this.type = value;
          }
          break;
        case 14:
          if (name === "content-length") {
            this.appLength = value;
            return;
          }
          break;
        case 16:
          if (name === "content-encoding") {
            this.appEncoding = value;
            this.plain = false;
            return;
          }
          break;
        case 17:
          if (name === "transfer-encoding") return; // framing is ours too
          break;
        case 19:
          if (name === "content-disposition") this.sawDisposition = true;
          break;
      }
      this.text += name + ": " + value + "\r\n";
      this.plain = false;
    };
  }
}

/** What the writer takes of HttpOptions. */
export type WriterOptions = Pick<
  HttpOptions,
  "staticBody" | "impliedType" | "knownLength" | "decodedBody" | "streamLength" | "fileBody"
>;

const DIGITS_RE = /^[0-9]{1,15}$/;
const NON_ASCII_RE = /[\u0080-\uffff]/;

function toBytes(v: unknown): Uint8Array {
  if (v instanceof Uint8Array) return v;
  if (ArrayBuffer.isView(v)) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  if (v instanceof ArrayBuffer) return new Uint8Array(v);
  if (typeof v === "string") return encoder.encode(v);
  throw new TypeError(`response body chunk is ${typeof v}, not a Uint8Array`);
}

function ignore(): void {}

function discardBody(body: ReadableStream | null): void {
  if (body === null || body.locked) return;
  body.cancel().catch(ignore);
}

const NOT_YET = Symbol("not yet");
type ReadResult = ReadableStreamReadResult<Uint8Array>;

// Resolves after a few microtask turns: a body that is already complete settles its second read
// within them (Deno: 1 turn, Bun: 2, measured), one still being produced does not.
function fewTurns(): Promise<typeof NOT_YET> {
  return Promise.resolve().then().then().then(() => NOT_YET);
}

function nextTurn(): Promise<typeof NOT_YET> {
  return new Promise((resolve) => setImmediate(resolve, NOT_YET));
}

function uncork(socket: Socket): void {
  socket.uncork();
}

/**
 * Writes the responses of one connection, one at a time. The connection owns the socket; the
 * writer owns the body being read (`abort` cancels it when the peer goes) and the wait for
 * 'drain'. The outcome goes to `done`, at once or once the body was read.
 */
export class ResponseWriter {
  /** Body bytes written for the current response (for the access log). */
  bodyBytes = 0;
  // The head's fields the writer decides, as sent for the current response (for the access
  // log): set as the head goes out, read only when a format asks for them.
  /** The content-length sent, -1: none. */
  sentLength = -1;
  /** The content-type the writer added (one the runtime keeps out of the headers), else null. */
  sentType: string | null = null;
  /** The body went out chunked. */
  sentChunked = false;
  /** Why the last response ended `unsent` or `cut`. */
  error: unknown = undefined;
  /**
   * A stream body's head waits for its first chunk: nothing of the response went out yet, so a
   * cut at the graceful timeout can still answer its 504 (Connection.cut).
   */
  headPending = false;
  readonly #socket: Socket;
  readonly #staticBody: ((response: Response) => string | Uint8Array | null) | undefined;
  readonly #impliedType: ((response: Response) => string | null) | undefined;
  readonly #knownLength: ((response: Response) => number) | undefined;
  readonly #decodedBody: ((response: Response) => boolean) | undefined;
  readonly #fileBody: WriterOptions["fileBody"];
  readonly #declaredLength: boolean;
  #lastType = "";
  #lastTypeAscii = true;
  readonly #walk = new HeaderWalk();
  #reader: ReadableStreamDefaultReader<Uint8Array> | null = null;
  #drainResolve: (() => void) | null = null;
  #aborted = false;
  /** The message of the AbortError a body stream under way is cancelled with once the peer is gone. */
  #abortMessage = "";
  /** Hears what of a stream went out (ExchangeWatch.sent), if anyone does. */
  readonly #progress: ((bytes: number, status?: number) => void) | undefined;
  /** The status of the current response. */
  #status = 0;

  /**
   * `options`: HttpOptions.staticBody, the body without its stream when the runtime has it, the
   * type a body implies (impliedType) and the length it has (knownLength). `progress` hears the
   * head and body bytes of a stream as they go out (a call per chunk; not after abort()).
   */
  constructor(
    socket: Socket,
    options: WriterOptions = {},
    progress?: (bytes: number, status?: number) => void,
  ) {
    this.#socket = socket;
    this.#progress = progress;
    this.#staticBody = options.staticBody;
    this.#impliedType = options.impliedType;
    this.#knownLength = options.knownLength;
    this.#decodedBody = options.decodedBody;
    this.#fileBody = options.fileBody;
    this.#declaredLength = options.streamLength !== "actual";
  }

  // Whether an implied type is ASCII; the runtime's few types are asked about once each.
  #ascii(type: string): boolean {
    if (type !== this.#lastType) {
      this.#lastType = type;
      this.#lastTypeAscii = !NON_ASCII_RE.test(type);
    }
    return this.#lastTypeAscii;
  }

  /** Nothing of the current response went out (yet): the access log's record of it is empty. */
  forget(): void {
    this.bodyBytes = 0;
    this.sentLength = -1;
    this.sentType = null;
    this.sentChunked = false;
  }

  /**
   * The peer is gone: stop reading the body under way (its stream is cancelled with an AbortError
   * of `message`, as the native servers cancel it with an error), wake a wait for 'drain'.
   */
  abort(message: string): void {
    this.#aborted = true;
    this.#abortMessage = message;
    const r = this.#reader;
    if (r !== null) {
      this.#reader = null;
      r.cancel(this.#abortReason()).catch(ignore);
    }
    this.drained();
  }

  // Made only for a stream to cancel: every closed connection aborts its writer, and a
  // DOMException (its stack captured) costs a few µs.
  #abortReason(): DOMException {
    return abortError(this.#abortMessage);
  }

  /** Resolves on 'drain' (the connection calls `drained`), or once the peer is gone. */
  waitDrain(): Promise<void> {
    if (this.#aborted) return Promise.resolve();
    return new Promise<void>((resolve) => {
      this.#drainResolve = resolve;
    });
  }

  /** The socket's 'drain'. */
  drained(): void {
    const r = this.#drainResolve;
    if (r !== null) {
      this.#drainResolve = null;
      r();
    }
  }

  /**
   * Writes `response` with the request's F_* `flags`. Returns the outcome when it is known at
   * once; otherwise null, and `done` gets it once the body was read. Never throws.
   */
  write(response: Response, flags: number, done: (outcome: Outcome) => void): Outcome | null {
    this.bodyBytes = 0;
    this.sentLength = -1;
    this.sentType = null;
    this.sentChunked = false;
    this.error = undefined;
    const status = this.#status = response.status;
    if (status < 200) {
      // Only Response.error() gets here (the constructor refuses 1xx): a network error, not a reply.
      this.error = new TypeError("app handler returned Response.error()");
      return "unsent";
    }
    // Asked before anything reads `response.body`, which would turn the static body into a stream.
    const whole = this.#staticBody?.(response) ?? null;
    const headers = response.headers;
    const walk = this.#walk;
    walk.reset(statusLine(status));
    headers.forEach(walk.collect);
    let head = walk.text;
    if (walk.sawCookie) {
      const cookies = headers.getSetCookie();
      for (let i = 0; i < cookies.length; i++) head += "set-cookie: " + cookies[i] + "\r\n";
    }
    if (!walk.sawDate) head += dateLine;

    if (!walk.sawServer) head += SERVER_LINE;
    let appLength = walk.appLength;
    if (walk.appEncoding !== "") {
      // A body fetch() decoded: its encoding and length headers are the upstream's, not true of
      // the bytes sent (Deno.serve drops both; Bun.serve keeps the encoding, a corrupt reply).
      if (this.#decodedBody?.(response) === true) appLength = "";
      else head += "content-encoding: " + walk.appEncoding + "\r\n";
    }
    let fixedLength = appLength !== "" && DIGITS_RE.test(appLength) ? +appLength : -1;
    const keep = (flags & F_KEEP_ALIVE) !== 0 && !walk.appClose;

    if (status === 204 || status === 304 || (flags & F_HEAD) !== 0) {
      // No body on the wire. HEAD and 304 keep the length the app declared (that of the GET);
      // HEAD also the length of a body known without its stream, as Deno.serve and Bun.serve.
      // Such a body (a Blob, a file) is left unread, as Bun.serve leaves it: the same Response
      // can still answer a GET. A stream is cancelled (both natives do), its source not left
      // waiting.
      const known = whole === null ? this.#knownLength?.(response) ?? -1 : -1;
      const body = whole === null && known < 0 ? response.body : null;
      if (status !== 204) {
        if (fixedLength < 0 && status !== 304) {
          fixedLength = whole !== null
            ? (typeof whole === "string" ? Buffer.byteLength(whole, "utf8") : whole.length)
            : known >= 0
            ? known
            : body === null
            ? 0
            : -1;
        }
        if (fixedLength >= 0) {
          head += "content-length: " + fixedLength + "\r\n";
          this.sentLength = fixedLength;
        }
      }
      discardBody(body);
      this.#socket.write(encodeHead(head + (keep ? KEEP_LINE : CLOSE_LINE) + "\r\n", null));
      return keep ? "keep" : "close";
    }
    const body = whole === null ? response.body : null;

    if (body !== null && response.bodyUsed) {
      // A Response answered before (a HEAD's body is cancelled unsent): Deno.serve and Bun.serve
      // refuse it with a 500, where its spent stream would have gone out as an empty 200. (A HEAD
      // of it is answered above, as Bun.serve does; Deno.serve refuses that too.)
      this.error = spentBodyError();
      return "unsent";
    }

    // A type the runtime keeps out of the headers, where its server would write it (not for
    // HEAD, 204 and 304 above, as Bun.serve).
    const type = walk.sawType ? null : this.#impliedType?.(response) ?? null;

    if (whole !== null) {
      // The same bytes and framing the stream would have given in one chunk, without the stream.
      const text = typeof whole === "string";
      let typeAscii = true;
      if (type !== null) {
        head += "content-type: " + type + "\r\n";
        typeAscii = this.#ascii(type);
        this.sentType = type;
      }
      const length = text ? Buffer.byteLength(whole, "utf8") : whole.length;
      head += (keep ? KEEP_LINE : CLOSE_LINE) + "content-length: " + length + "\r\n\r\n";
      if (length > COPY_CHUNK_MAX) {
        // As below: a large body is not copied next to its head.
        this.#socket.write(encodeHead(head, null));
        this.#socket.write(text ? Buffer.from(whole, "utf8") : whole);
      } else if (!text) this.#socket.write(encodeHead(head, whole));
      else {
        // One string, encoded as it is written, when the head is ASCII (then its UTF-8 is its
        // bytes): only the app's fields and the implied type can bring a Latin-1 byte into it.
        const ascii = (walk.plain && !walk.sawCookie && typeAscii) ||
          !NON_ASCII_RE.test(head);
        if (ascii) this.#socket.write(head + whole, "utf8");
        else this.#socket.write(encodeHeadText(head, whole));
      }
      this.bodyBytes = this.sentLength = length;
      return keep ? "keep" : "close";
    }

    if (body === null) {
      head += (keep ? KEEP_LINE : CLOSE_LINE) + "content-length: 0\r\n\r\n";
      this.#socket.write(encodeHead(head, null));
      this.sentLength = 0;
      return keep ? "keep" : "close";
    }

    if (type !== null) {
      head += "content-type: " + type + "\r\n";
      // Taken back if the body fails before the head goes out (#writeBody).
      this.sentType = type;
    }
    // An app's length on a stream: Bun.serve ignores it (chunks, or the length read at once).
    if (fixedLength >= 0 && !this.#declaredLength) fixedLength = -1;
    // A length the runtime knows (large bytes', a file's): sent raw, not chunked, as its server.
    if (fixedLength < 0) fixedLength = this.#knownLength?.(response) ?? -1;
    // The fields the runtime's server adds for a file (Bun.serve's Content-Disposition), asked
    // only of a body with a known length (a file's, an empty one's included).
    if (fixedLength >= 0 && !walk.sawDisposition && this.#fileBody !== undefined) {
      head += this.#fileBody(response)?.fields(walk.sawType ? walk.type : type ?? "") ?? "";
    }
    // The promise is dropped on purpose: the outcome goes to `done`, which saves a promise
    // reaction per response, and #writeBody never rejects.
    this.headPending = true;
    void this.#writeBody(body, head, keep, fixedLength, (flags & F_HTTP10) !== 0, done);
    return null;
  }

  async #writeBody(
    body: ReadableStream<Uint8Array>,
    head: string,
    keep: boolean,
    fixedLength: number,
    http10: boolean,
    done: (outcome: Outcome) => void,
  ): Promise<void> {
    let reader: ReadableStreamDefaultReader<Uint8Array>;
    let first: Uint8Array;
    let second: Uint8Array | null = null;
    let p2: Promise<ReadResult> | null = null;
    // `done` is called outside the try: it goes on to the next pipelined request, whose
    // failures must not be mistaken for this body's.
    let outcome: Outcome | null = null;
    try {
      reader = body.getReader();
      this.#reader = reader;
      // Both reads are queued at once: for a body that is already complete they settle together.
      const p1 = reader.read();
      p2 = reader.read();
      const r1 = await p1;
      if (this.#aborted) {
        // Cut off (or the peer gone) while the first chunk was awaited: no head goes out now.
        p2.catch(ignore);
        this.#reader = null;
        reader.cancel(this.#abortReason()).catch(ignore);
        this.forget();
        outcome = "close";
      } else if (r1.done) {
        this.#reader = null;
        // A declared length the empty body falls short of: sent, then the connection closes.
        const length = fixedLength > 0 ? fixedLength : 0;
        if (length > 0) keep = false;
        head += (keep ? KEEP_LINE : CLOSE_LINE) + "content-length: " + length + "\r\n\r\n";
        this.#socket.write(encodeHead(head, null));
        this.sentLength = length;
        outcome = keep ? "keep" : "close";
      } else {
        first = toBytes(r1.value);
        // A body that is already complete has its second read settled within a few microtask
        // turns; one still being produced (server-sent events) must not have its first chunk
        // held back. Waiting for the next event-loop turn instead cost Bun a setImmediate per
        // response.
        let r2: ReadResult | typeof NOT_YET = await Promise.race([p2, fewTurns()]);
        // A body of another kind may settle a little later: give it until the next turn.
        if (r2 === NOT_YET) r2 = await Promise.race([p2, nextTurn()]);
        if (r2 === NOT_YET) {
          // The first chunk goes out now; the second read is awaited by the slow path.
        } else if (r2.done) {
          this.#reader = null;
          if (this.#aborted) {
            this.forget();
            outcome = "close";
          } else {
            let length = first.length;
            if (fixedLength >= 0 && fixedLength !== length) {
              // A declared length that is not the body's: the body is cut to it, or falls short
              // of it and the connection closes (Deno.serve).
              if (length > fixedLength) first = first.subarray(0, fixedLength);
              else keep = false;
              length = fixedLength;
            }
            head += (keep ? KEEP_LINE : CLOSE_LINE) + "content-length: " + length + "\r\n\r\n";
            if (first.length <= COPY_CHUNK_MAX) this.#socket.write(encodeHead(head, first));
            else {
              // A large body is not copied next to its head: a slow client would hold the copy.
              // Two writes, not a corked pair (see writeChunk for Deno's partial writev).
              this.#socket.write(encodeHead(head, null));
              this.#socket.write(first);
            }
            this.bodyBytes = first.length;
            this.sentLength = length;
            outcome = keep ? "keep" : "close";
          }
        } else second = toBytes(r2.value);
      }
    } catch (err) {
      // The second read fails with the first; it is handled here, in the same microtask drain.
      p2?.catch(ignore);
      this.#reader = null;
      this.error = err;
      this.forget();
      outcome = "unsent";
    }
    this.headPending = false;
    if (outcome === null && this.#aborted) {
      // As above, gone while the second read was awaited.
      this.#reader = null;
      reader!.cancel(this.#abortReason()).catch(ignore);
      this.forget();
      outcome = "close";
    }
    if (outcome === null) {
      outcome = await this.#stream(
        reader!,
        head,
        keep,
        fixedLength,
        http10,
        first!,
        second,
        p2!,
      );
    }
    done(outcome);
  }

  // The slow path: a body that did not end after its first chunk.
  async #stream(
    reader: ReadableStreamDefaultReader<Uint8Array>,
    head: string,
    keep: boolean,
    fixedLength: number,
    http10: boolean,
    first: Uint8Array,
    second: Uint8Array | null,
    pending: Promise<ReadResult>,
  ): Promise<Outcome> {
    const socket = this.#socket;
    // An HTTP/1.0 client cannot decode chunked: send raw and mark the end by closing.
    if (fixedLength < 0 && http10) keep = false;
    const chunked = fixedLength < 0 && !http10;
    head += keep ? KEEP_LINE : CLOSE_LINE;
    head += chunked
      ? CHUNKED_LINE
      : fixedLength >= 0
      ? "content-length: " + fixedLength + "\r\n"
      : "";
    head += "\r\n";
    this.sentLength = fixedLength;
    this.sentChunked = chunked;
    // A declared length (the app's, under "declared"; the runtime's) bounds the body: the
    // chunk that reaches it is cut to it and the rest of the stream is not read.
    const limit = fixedLength;
    let full = false;
    let sent = 0;
    let ok = true;
    let next: Promise<ReadResult> | null = null;
    try {
      socket.cork();
      socket.write(encodeHead(head, null));
      let chunk = first;
      if (limit >= 0 && chunk.length >= limit) {
        chunk = chunk.subarray(0, limit);
        full = true;
      }
      sent = chunk.length;
      // Both chunks go out whatever the first write says: false asks to wait before writing
      // more, and the wait comes next (a TLS socket says it for any large chunk).
      ok = writeChunk(socket, chunk, chunked);
      if (second !== null && !full) {
        chunk = second;
        if (limit >= 0 && sent + chunk.length >= limit) {
          chunk = chunk.subarray(0, limit - sent);
          full = true;
        }
        sent += chunk.length;
        ok = writeChunk(socket, chunk, chunked) && ok;
      }
      this.bodyBytes = sent;
      socket.uncork();
      this.#progress?.(sent, this.#status);
      // The second read is still in flight when the first chunk was sent on its own.
      next = second === null ? pending : null;
      while (!full) {
        if (!ok || socket.writableNeedDrain) await this.waitDrain();
        if (this.#aborted) break;
        const r = await (next ?? reader.read());
        next = null;
        if (r.done) break;
        chunk = toBytes(r.value);
        if (limit >= 0 && sent + chunk.length >= limit) {
          chunk = chunk.subarray(0, limit - sent);
          full = true;
        }
        sent += chunk.length;
        this.bodyBytes = sent;
        ok = writeChunk(socket, chunk, chunked);
        // Gone meanwhile: the connection's tag may be another's now.
        if (!this.#aborted) this.#progress?.(sent);
      }
    } catch (error) {
      // Mid-body there is no way to report an error in HTTP/1.1 but to cut the connection.
      this.error = error;
      this.#reader = null;
      reader.cancel().catch(ignore);
      socket.destroy();
      return "cut";
    }
    this.#reader = null;
    if (this.#aborted) {
      reader.cancel(this.#abortReason()).catch(ignore);
      return "close";
    }
    if (full) {
      // The declared length went out whole: the response is complete. A stream that ends there
      // is read to its end (not cancelled under its producer); one with more is cancelled.
      (next ?? reader.read()).then((r) => {
        if (!r.done) reader.cancel().catch(ignore);
      }, ignore);
    } else if (limit >= 0 && sent !== limit) {
      // Fewer bytes than declared: the client sees the connection close short of the length.
      return "close";
    }
    if (chunked) socket.write(LAST_CHUNK);
    return keep ? "keep" : "close";
  }
}

function writeChunk(socket: Socket, chunk: Uint8Array, chunked: boolean): boolean {
  const n = chunk.length;
  // A zero-length chunk would end a chunked body early.
  if (n === 0) return true;
  if (n > COPY_CHUNK_MAX) {
    // A large chunk never joins a corked batch: when Deno's node:net writev() is only partly
    // accepted by the kernel, it drops the batch's later buffers (a 1 GiB streamed echo lost
    // whole chunks). Flush what is batched, then send the chunk and its framing in one write.
    while (socket.writableCorked > 0) socket.uncork();
    return socket.write(chunked ? framed(chunk, Buffer.allocUnsafeSlow) : chunk);
  }
  // Small chunks a stream yields within one event-loop turn leave in one writev instead of one
  // write each (about twice the throughput of small-chunk streams); the turn's end flushes them.
  if (socket.writableCorked === 0) {
    socket.cork();
    setImmediate(uncork, socket);
  }
  return socket.write(chunked ? framed(chunk, Buffer.allocUnsafe) : chunk);
}

// One chunk of a chunked body, size line and CRLF included, in one buffer: one write.
function framed(chunk: Uint8Array, alloc: (size: number) => Buffer): Buffer {
  const size = chunk.length.toString(16) + "\r\n";
  const out = alloc(size.length + chunk.length + 2);
  out.write(size, 0, "latin1");
  out.set(chunk, size.length);
  out[out.length - 2] = 13;
  out[out.length - 1] = 10;
  return out;
}

// A request body as a Web ReadableStream fed from the socket: the app pulls, the socket pauses when
// the app falls behind, and Content-Length or chunked framing is decoded strictly on the way.

import { TCHAR } from "./parser.ts";

/** What a body needs from its connection. */
export interface BodySink {
  /** The stream's queue is full: stop reading the socket. */
  bodyPause(): void;
  /** The app wants more: read the socket again. */
  bodyResume(): void;
  /** The app started reading a body sent with `Expect: 100-continue`. */
  sendContinue(): void;
}

// How much decoded body is queued for the app before the socket is paused.
const QUEUE_BYTES = 64 * 1024;
// Caps on the parts of chunked framing we skip, so they cannot be used to stream garbage forever.
const MAX_CHUNK_LINE = 4096;
const MAX_TRAILERS = 16 * 1024;
// 2^53 in hex is 14 digits; more would lose precision. Leading zeros do not count (RFC 9112 allows
// any number of them; the line cap bounds them).
const MAX_SIZE_DIGITS = 13;

// Chunked decoder states.
const C_SIZE = 0; // hex digits of a chunk size
const C_SIZE_WS = 1; // whitespace after the digits, which only a ";" may follow
const C_EXT = 2; // a chunk extension, ignored up to CR
const C_SIZE_LF = 3; // LF after the chunk-size line
const C_DATA = 4; // chunk data
const C_DATA_CR = 5; // CR after chunk data
const C_DATA_LF = 6; // LF after chunk data
const C_TRAILER = 7; // start of a trailer line (or the final CRLF)
const C_TRAILER_NAME = 8; // a trailer field's name, up to its colon
const C_TRAILER_VALUE = 9; // a trailer field's value, up to CR
const C_TRAILER_LF = 10; // LF ending a trailer line
const C_END_LF = 11; // LF of the final CRLF

// Fields that must not come as trailers (RFC 9110 §6.5.1): framing, routing, connection control,
// request modifiers, authentication and content format, which only mean something before the
// content. Trailers never reach a fetch app, but a proxy in front may merge them into the header
// section, so a request carrying one is refused (400) as gunicorn refuses it.
const FORBIDDEN_TRAILERS = new Set([
  "transfer-encoding",
  "content-length",
  "trailer",
  "te",
  "host",
  "connection",
  "keep-alive",
  "proxy-connection",
  "upgrade",
  "expect",
  "max-forwards",
  "cache-control",
  "pragma",
  "range",
  "authorization",
  "proxy-authorization",
  "cookie",
  "set-cookie",
  "content-type",
  "content-encoding",
  "content-range",
]);
// Longer names cannot be in the set: past this their letters are not kept.
const MAX_FORBIDDEN_NAME = 19;

// The chunk is optional in some runtimes' typings (bun-types) of QueuingStrategySize.
function byteSize(chunk?: Uint8Array): number {
  return chunk === undefined ? 0 : chunk.byteLength;
}

// A strategy with no queue, so pull() means a reader is actually waiting (needed for 100-continue).
const PULL_ONLY: QueuingStrategy<Uint8Array> = { highWaterMark: 0, size: byteSize };
const QUEUED: QueuingStrategy<Uint8Array> = { highWaterMark: QUEUE_BYTES, size: byteSize };

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  const l = c | 0x20;
  if (l >= 97 && l <= 102) return l - 87;
  return -1;
}

/**
 * One request body. `feed` takes bytes off the wire and returns how many belong to this body; the
 * rest is the next pipelined request. After the response the connection may switch the body to
 * discarding (`abandon`) to skip what the app left unread.
 */
export class RequestBody implements UnderlyingDefaultSource<Uint8Array> {
  readonly stream: ReadableStream<Uint8Array>;
  /** Every byte of the body has been taken off the wire. */
  done = false;
  /** The framing was invalid or the connection died: the connection cannot be reused. */
  failed = false;
  /** Body bytes taken off the wire so far (decoded). */
  received = 0;
  /** The body grew past limit_request_body (feed then returned -1). */
  tooLarge = false;
  /** Bytes still to come for a Content-Length body (-1 for chunked). */
  remaining: number;
  /** Why the chunked framing was refused, once feed returned -1 (a one-line message). */
  reason = "";
  private discarding = false;
  private continuePending: boolean;
  // pull() ran while a chunk was being enqueued: a read is still waiting (see deliver).
  private pulled = false;
  private controller: ReadableStreamDefaultController<Uint8Array> | null = null;
  private readonly sink: BodySink;
  private readonly chunked: boolean;
  private cstate = C_SIZE;
  private csize = 0;
  private cdigits = 0;
  private cline = 0;
  private trailers = 0;
  // The lower-cased name of the trailer field being read (its first MAX_FORBIDDEN_NAME + 1 chars).
  private tname = "";
  // Decoded bytes allowed (limit_request_body); Infinity when unlimited.
  private readonly limit: number;

  constructor(
    sink: BodySink,
    contentLength: number,
    chunked: boolean,
    expectContinue: boolean,
    limit = 0,
  ) {
    this.sink = sink;
    this.limit = limit > 0 ? limit : Infinity;
    this.chunked = chunked;
    this.remaining = chunked ? -1 : contentLength;
    this.continuePending = expectContinue;
    this.stream = new ReadableStream<Uint8Array>(this, expectContinue ? PULL_ONLY : QUEUED);
  }

  /** Whether the app has asked for the body of a 100-continue request (so the client sent it). */
  get continueSent(): boolean {
    return !this.continuePending;
  }

  start(controller: ReadableStreamDefaultController<Uint8Array>): void {
    this.controller = controller;
  }

  pull(): void {
    if (this.continuePending) {
      this.continuePending = false;
      if (this.received === 0 && !this.done) this.sink.sendContinue();
    }
    this.pulled = true;
    this.sink.bodyResume();
  }

  cancel(): void {
    // The app does not want the rest; keep framing it off the wire so the connection stays usable.
    this.discarding = true;
    this.controller = null;
    this.sink.bodyResume();
  }

  /** Stop delivering to the app; remaining bytes are consumed and dropped. */
  abandon(): void {
    if (this.discarding) return;
    this.discarding = true;
    const c = this.controller;
    this.controller = null;
    if (c !== null && !this.done) {
      try {
        c.error(clientError("request body abandoned: the response was already sent"));
      } catch { /* already closed */ }
    }
    this.sink.bodyResume();
  }

  /** The connection ended or broke before the body was complete: the app's read fails so. */
  fail(message: string): void {
    if (this.done || this.failed) return;
    this.failed = true;
    const c = this.controller;
    this.controller = null;
    if (c !== null) {
      try {
        c.error(clientError(message));
      } catch { /* already errored */ }
    }
  }

  /** Consumes body bytes from `buf`; returns how many were used, or -1 if the framing is invalid. */
  feed(buf: Uint8Array): number {
    if (this.done || this.failed) return 0;
    if (!this.chunked) {
      const n = buf.length <= this.remaining ? buf.length : this.remaining;
      this.remaining -= n;
      this.deliver(buf, 0, n);
      if (this.remaining === 0) this.finish();
      return n;
    }
    const used = this.feedChunked(buf);
    if (used < 0) {
      this.fail(this.tooLarge ? "request body exceeds limit_request_body" : this.reason);
    }
    return used;
  }

  // Records why the framing is refused; returns feed's -1.
  private refuse(reason: string): number {
    this.reason = "malformed chunked body: " + reason;
    return -1;
  }

  private deliver(buf: Uint8Array, from: number, to: number): void {
    if (to <= from) return;
    this.received += to - from;
    const c = this.controller;
    if (c === null) return;
    this.pulled = false;
    // A copy, as a plain Uint8Array (not the runtime's Buffer subclass): the app may hold the
    // chunk (or hand it back to the writer) past later socket reads, so it must not share the
    // runtime's read memory.
    c.enqueue(new Uint8Array(buf.subarray(from, to)));
    // A chunk handed straight to a waiting read while another read waits (the response writer
    // queues two) has enqueue() call pull() at once; a pull-only stream's desiredSize is still 0
    // then, and pausing on it would leave that read waiting for bytes the socket no longer reads.
    if (!this.pulled && (c.desiredSize ?? 0) <= 0) this.sink.bodyPause();
  }

  private finish(): void {
    this.done = true;
    const c = this.controller;
    this.controller = null;
    if (c !== null && !this.discarding) {
      try {
        c.close();
      } catch { /* cancelled meanwhile */ }
    }
  }

  private feedChunked(buf: Uint8Array): number {
    const n = buf.length;
    let i = 0;
    let state = this.cstate;
    while (i < n) {
      const c = buf[i];
      switch (state) {
        case C_SIZE: {
          if (++this.cline > MAX_CHUNK_LINE) return this.refuse("chunk-size line too long");
          const h = hexValue(c);
          if (h >= 0) {
            if ((this.csize > 0 || h > 0) && ++this.cdigits > MAX_SIZE_DIGITS) {
              return this.refuse("chunk size too large");
            }
            this.csize = this.csize * 16 + h;
            i++;
          } else {
            // cline counts this byte: 1 means the line has no digit before it.
            if (this.cline === 1) return this.refuse("invalid chunk size");
            if (c === 13) state = C_SIZE_LF;
            else if (c === 59 /* ; */) state = C_EXT;
            else if (c === 32 || c === 9) state = C_SIZE_WS;
            else return this.refuse("invalid chunk size");
            i++;
          }
          break;
        }
        case C_SIZE_WS:
          // RFC 9112 §7.1.1 allows whitespace (BWS) only before a chunk extension, as gunicorn
          // reads it: "5 ;x" is a size and an extension, "5 " before CRLF is not a size.
          if (++this.cline > MAX_CHUNK_LINE) return this.refuse("chunk-size line too long");
          if (c === 59) state = C_EXT;
          else if (c !== 32 && c !== 9) return this.refuse("whitespace after chunk size");
          i++;
          break;
        case C_EXT:
          // Extensions are ignored, but not allowed to carry control bytes or run on forever.
          if (c === 13) state = C_SIZE_LF;
          else if ((c < 32 && c !== 9) || c === 127) {
            return this.refuse("control character in chunk extension");
          }
          if (++this.cline > MAX_CHUNK_LINE) return this.refuse("chunk-size line too long");
          i++;
          break;
        case C_SIZE_LF:
          if (c !== 10) return this.refuse("chunk-size line not ended by CRLF");
          i++;
          this.cdigits = 0;
          this.cline = 0;
          if (this.csize === 0) state = C_TRAILER;
          else if (this.received + this.csize > this.limit) {
            // Refused as soon as the chunk announces it, before its data arrives.
            this.tooLarge = true;
            return -1;
          } else state = C_DATA;
          break;
        case C_DATA: {
          const take = n - i < this.csize ? n - i : this.csize;

          this.deliver(buf, i, i + take);
          i += take;
          this.csize -= take;
          if (this.csize === 0) state = C_DATA_CR;
          break;
        }
        case C_DATA_CR:
          if (c !== 13) return this.refuse("chunk data longer than its size");
          state = C_DATA_LF;
          i++;
          break;
        case C_DATA_LF:
          if (c !== 10) return this.refuse("chunk data not ended by CRLF");
          state = C_SIZE;
          i++;
          break;
        case C_TRAILER:
          if (++this.trailers > MAX_TRAILERS) return this.refuse("trailer section too large");
          if (c === 13) state = C_END_LF;
          else if (c === 32 || c === 9) return this.refuse("obsolete line folding in trailers");
          else if (c < 128 && TCHAR[c] === 1) {
            this.tname = String.fromCharCode(c | (c >= 65 && c <= 90 ? 0x20 : 0));
            state = C_TRAILER_NAME;
          } else return this.refuse("invalid trailer field name");
          i++;
          break;
        case C_TRAILER_NAME:
          if (++this.trailers > MAX_TRAILERS) return this.refuse("trailer section too large");
          if (c === 58 /* : */) {
            if (FORBIDDEN_TRAILERS.has(this.tname)) {
              return this.refuse(`"${this.tname}" is not allowed as a trailer field`);
            }
            state = C_TRAILER_VALUE;
          } else if (c < 128 && TCHAR[c] === 1) {
            if (this.tname.length <= MAX_FORBIDDEN_NAME) {
              this.tname += String.fromCharCode(c | (c >= 65 && c <= 90 ? 0x20 : 0));
            }
          } else return this.refuse("invalid trailer field name");
          i++;
          break;
        case C_TRAILER_VALUE:
          if (++this.trailers > MAX_TRAILERS) return this.refuse("trailer section too large");
          if (c === 13) state = C_TRAILER_LF;
          else if ((c < 32 && c !== 9) || c === 127) {
            return this.refuse("invalid character in trailer field value");
          }
          i++;
          break;
        case C_TRAILER_LF:
          if (c !== 10) return this.refuse("trailer line not ended by CRLF");
          state = C_TRAILER;
          i++;
          break;
        case C_END_LF:
          if (c !== 10) return this.refuse("chunked body not ended by CRLF");
          this.cstate = state;
          this.finish();
          return i + 1;
      }
    }
    this.cstate = state;
    return n;
  }
}

/** Why a body read fails when the client went before sending the whole body (FIN or RST). */
export const BODY_CUT = "client closed the connection before the request body was complete";

/**
 * The error a body read fails with when the client broke the body: it carries no frames, since
 * none of them is the app's (an app that prints it, as Hono's default onError does, shows one
 * line instead of appserve's code; Bun prints the source lines of the frame that made an error).
 */
function clientError(message: string): TypeError {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    const error = new TypeError(message);
    // Hidden from an app that prints the error: it must read as the TypeError it is.
    Object.defineProperty(error, CLIENT_FAULT, { value: true });
    return error;
  } finally {
    Error.stackTraceLimit = limit;
  }
}

// Marks the errors clientError() makes; a worker tells the client's fault from the app's by it.
const CLIENT_FAULT = Symbol("appserve.clientBodyError");

/** Whether a body read failed because the client broke the body (the error may be a cause). */
export function isClientBodyError(error: unknown): boolean {
  const marked = (e: unknown) =>
    typeof e === "object" && e !== null && (e as Record<symbol, unknown>)[CLIENT_FAULT] === true;
  return marked(error) || (error instanceof Error && marked(error.cause));
}

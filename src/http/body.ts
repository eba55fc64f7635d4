// A request body as a Web ReadableStream fed from the socket: the app pulls, the socket pauses when
// the app falls behind, and Content-Length or chunked framing is decoded strictly on the way.

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
// 2^53 in hex is 14 digits; more would lose precision.
const MAX_SIZE_DIGITS = 13;

// Chunked decoder states.
const C_SIZE = 0; // hex digits of a chunk size
const C_SIZE_WS = 1; // whitespace after the digits, before ";" or CR
const C_EXT = 2; // a chunk extension, ignored up to CR
const C_SIZE_LF = 3; // LF after the chunk-size line
const C_DATA = 4; // chunk data
const C_DATA_CR = 5; // CR after chunk data
const C_DATA_LF = 6; // LF after chunk data
const C_TRAILER = 7; // start of a trailer line (or the final CRLF)
const C_TRAILER_LINE = 8; // inside a trailer line, ignored up to CR
const C_TRAILER_LF = 9; // LF ending a trailer line
const C_END_LF = 10; // LF of the final CRLF

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
  private discarding = false;
  private continuePending: boolean;
  private controller: ReadableStreamDefaultController<Uint8Array> | null = null;
  private readonly sink: BodySink;
  private readonly chunked: boolean;
  private cstate = C_SIZE;
  private csize = 0;
  private cdigits = 0;
  private cline = 0;
  private trailers = 0;
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
        c.error(new TypeError("request body abandoned: the response was already sent"));
      } catch { /* already closed */ }
    }
    this.sink.bodyResume();
  }

  /** The connection ended or broke before the body was complete. */
  fail(error: Error): void {
    if (this.done || this.failed) return;
    this.failed = true;
    const c = this.controller;
    this.controller = null;
    if (c !== null) {
      try {
        c.error(error);
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
      this.fail(
        new TypeError(
          this.tooLarge
            ? "request body exceeds limit_request_body"
            : "malformed chunked request body",
        ),
      );
    }
    return used;
  }

  private deliver(buf: Uint8Array, from: number, to: number): void {
    if (to <= from) return;
    this.received += to - from;
    const c = this.controller;
    if (c === null) return;
    // A copy, as a plain Uint8Array (not the runtime's Buffer subclass): the app may hold the
    // chunk (or hand it back to the writer) past later socket reads, so it must not share the
    // runtime's read memory.
    c.enqueue(new Uint8Array(buf.subarray(from, to)));
    if ((c.desiredSize ?? 0) <= 0) this.sink.bodyPause();
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
          const h = hexValue(c);
          if (h >= 0) {
            if (++this.cdigits > MAX_SIZE_DIGITS) return -1;
            this.csize = this.csize * 16 + h;
            i++;
          } else {
            if (this.cdigits === 0) return -1;
            if (c === 13) state = C_SIZE_LF;
            else if (c === 59 /* ; */) state = C_EXT;
            else if (c === 32 || c === 9) state = C_SIZE_WS;
            else return -1;
            i++;
          }
          break;
        }
        case C_SIZE_WS:
          if (c === 59) state = C_EXT;
          else if (c === 13) state = C_SIZE_LF;
          else if (c !== 32 && c !== 9) return -1;
          i++;
          break;
        case C_EXT:
          // Extensions are ignored, but not allowed to carry control bytes or run on forever.
          if (c === 13) state = C_SIZE_LF;
          else if ((c < 32 && c !== 9) || c === 127) return -1;
          if (++this.cline > MAX_CHUNK_LINE) return -1;
          i++;
          break;
        case C_SIZE_LF:
          if (c !== 10) return -1;
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
          if (c !== 13) return -1;
          state = C_DATA_LF;
          i++;
          break;
        case C_DATA_LF:
          if (c !== 10) return -1;
          state = C_SIZE;
          i++;
          break;
        case C_TRAILER:
          if (c === 13) state = C_END_LF;
          else if (c === 10 || c === 0) return -1;
          else state = C_TRAILER_LINE;
          if (++this.trailers > MAX_TRAILERS) return -1;
          i++;
          break;
        case C_TRAILER_LINE:
          if (c === 13) state = C_TRAILER_LF;
          else if (c === 10 || c === 0) return -1;
          if (++this.trailers > MAX_TRAILERS) return -1;
          i++;
          break;
        case C_TRAILER_LF:
          if (c !== 10) return -1;
          state = C_TRAILER;
          i++;
          break;
        case C_END_LF:
          if (c !== 10) return -1;
          this.cstate = state;
          this.finish();
          return i + 1;
      }
    }
    this.cstate = state;
    return n;
  }
}

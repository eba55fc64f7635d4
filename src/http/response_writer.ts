// Serialises a Web `Response` onto a node:net socket as HTTP/1.1: one write for bodies that fit in
// the first read, chunked (or raw, if the app fixed a length) streaming with backpressure otherwise.

import { Buffer } from "node:buffer";
import type { Socket } from "node:net";
import { setImmediate } from "node:timers";
import { reasonPhrase } from "./status_reply.ts";

/** The connection as the writer sees it. */
export interface ResponseTarget {
  readonly socket: Socket;
  /** Set once the peer is gone: stop producing. */
  readonly closed: boolean;
  /** The body reader in use, so the connection can cancel it when the peer disconnects. */
  reader: ReadableStreamDefaultReader<Uint8Array> | null;
  /** Why the body failed before anything was written (see `UNSENT`). */
  failure: unknown;
  /** Resolves on 'drain', or when the socket closes. */
  waitDrain(): Promise<void>;
  /** Receives the result of a write that returned PENDING. */
  writeDone(result: number): void;
  /** The body failed after the head was written: the reply is cut off. */
  bodyFailed(error: unknown): void;
  /** Body bytes written for the current response (for the access log). */
  bodyBytes: number;
}

/** Request flags for `writeResponse`. */
export const F_HEAD = 1;
export const F_HTTP10 = 2;
export const F_KEEP_ALIVE = 4;

/** Results of `writeResponse`. */
export const KEEP = 0;
export const CLOSE = 1;
/** The body failed before any byte was written (`target.failure`); the caller may send another. */
export const UNSENT = 2;
/** The body is being read: the result comes later through `target.writeDone`. */
export const PENDING = 3;

// Status lines are built once; the hot path only indexes this table.
const STATUS_LINES: string[] = [];
for (let s = 100; s < 600; s++) STATUS_LINES[s] = `HTTP/1.1 ${s} ${reasonPhrase(s)}\r\n`;

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

// State of one header walk. Reused: the walk is synchronous, so calls cannot interleave.
let acc = "";
let sawDate = false;
let sawServer = false;
let sawCookie = false;
let appClose = false;
let appLength = "";

function collect(value: string, name: string): void {
  switch (name.length) {
    case 4:
      if (name === "date") sawDate = true;
      break;
    case 6:
      if (name === "server") sawServer = true;
      break;
    case 10:
      if (name === "set-cookie") {
        sawCookie = true;
        return;
      }
      if (name === "connection") {
        // Connection management is ours; an app asking to close is honoured.
        if (/(?:^|,)\s*close\s*(?:,|$)/i.test(value)) appClose = true;
        return;
      }
      if (name === "keep-alive") return;
      break;
    case 14:
      if (name === "content-length") {
        appLength = value;
        return;
      }
      break;
    case 17:
      if (name === "transfer-encoding") return; // framing is ours too
      break;
  }
  acc += name + ": " + value + "\r\n";
}

const DIGITS_RE = /^[0-9]{1,15}$/;

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

/**
 * Writes `response`. Returns KEEP (the connection may serve another request), CLOSE or UNSENT when
 * done at once, or PENDING when the body must be read first; the outcome then goes to
 * `t.writeDone`. Never throws: a body that breaks after the head was sent destroys the socket.
 */
export function writeResponse(t: ResponseTarget, response: Response, flags: number): number {
  t.bodyBytes = 0;
  const status = response.status;
  if (status < 200) {
    // Only Response.error() gets here (the constructor refuses 1xx): a network error, not a reply.
    t.failure = new TypeError("app handler returned Response.error()");
    return UNSENT;
  }
  const headers = response.headers;
  acc = status >= 100 && status < 600 ? STATUS_LINES[status] : `HTTP/1.1 ${status} Unknown\r\n`;
  sawDate =
    sawServer =
    sawCookie =
    appClose =
      false;
  appLength = "";
  headers.forEach(collect);
  let head = acc;
  if (sawCookie) {
    const cookies = headers.getSetCookie();
    for (let i = 0; i < cookies.length; i++) head += "set-cookie: " + cookies[i] + "\r\n";
  }
  if (!sawDate) head += dateLine;
  if (!sawServer) head += SERVER_LINE;
  const fixedLength = appLength !== "" && DIGITS_RE.test(appLength) ? +appLength : -1;
  const keep = (flags & F_KEEP_ALIVE) !== 0 && !appClose;
  const body = response.body;

  if (status === 204 || status === 304 || (flags & F_HEAD) !== 0) {
    // No body on the wire. HEAD and 304 keep the length the app declared (that of the GET).
    if (status !== 204) {
      if (fixedLength >= 0) head += "content-length: " + fixedLength + "\r\n";
      else if (body === null && status !== 304) head += "content-length: 0\r\n";
    }
    discardBody(body);
    t.socket.write(encodeHead(head + (keep ? KEEP_LINE : CLOSE_LINE) + "\r\n", null));
    return keep ? KEEP : CLOSE;
  }

  if (body === null) {
    head += (keep ? KEEP_LINE : CLOSE_LINE) + "content-length: 0\r\n\r\n";
    t.socket.write(encodeHead(head, null));
    return keep ? KEEP : CLOSE;
  }

  // The returned promise is dropped on purpose: completion is reported through writeDone, which
  // saves a promise reaction per response, and writeBody never rejects.
  void writeBody(t, body, head, keep, fixedLength, (flags & F_HTTP10) !== 0);
  return PENDING;
}

async function writeBody(
  t: ResponseTarget,
  body: ReadableStream<Uint8Array>,
  head: string,
  keep: boolean,
  fixedLength: number,
  http10: boolean,
): Promise<void> {
  let reader: ReadableStreamDefaultReader<Uint8Array>;
  let first: Uint8Array;
  let second: Uint8Array | null = null;
  let p2: Promise<ReadableStreamReadResult<Uint8Array>> | null = null;
  // writeDone is called outside the try: it goes on to the next pipelined request, whose
  // failures must not be mistaken for this body's.
  let result = -1;
  try {
    reader = body.getReader();
    t.reader = reader;
    // Both reads are queued at once: for a body that is already complete they settle together.
    const p1 = reader.read();
    p2 = reader.read();
    const r1 = await p1;
    if (r1.done) {
      t.reader = null;
      head += (keep ? KEEP_LINE : CLOSE_LINE) + "content-length: 0\r\n\r\n";
      t.socket.write(encodeHead(head, null));
      result = keep ? KEEP : CLOSE;
    } else {
      first = toBytes(r1.value);
      // A body that is already complete has its second read settled by now; one that is
      // still being produced (server-sent events) must not have its first chunk held back.
      let r2 = await Promise.race([p2, NOT_YET]);
      // Some bodies (Bun's) settle a few microtasks later: give them until the next turn.
      if (r2 === NOT_YET_RESULT) r2 = await Promise.race([p2, nextTurn()]);
      if (r2 === NOT_YET_RESULT) {
        // The first chunk goes out now; the second read is awaited by the slow path.
      } else if (r2.done) {
        t.reader = null;
        if (t.closed) result = CLOSE;
        else {
          head += (keep ? KEEP_LINE : CLOSE_LINE) + "content-length: " + first.length + "\r\n\r\n";
          if (first.length <= COPY_CHUNK_MAX) t.socket.write(encodeHead(head, first));
          else {
            // A large body is not copied next to its head: a slow client would hold the copy.
            // Two writes, not a corked pair (see writeChunk for Deno's partial writev).
            t.socket.write(encodeHead(head, null));
            t.socket.write(first);
          }
          t.bodyBytes = first.length;
          result = keep ? KEEP : CLOSE;
        }
      } else second = toBytes(r2.value);
    }
  } catch (err) {
    // The second read fails with the first; it is handled here, in the same microtask drain.
    p2?.catch(ignore);
    t.reader = null;
    t.failure = err;
    result = UNSENT;
  }
  if (result === -1) {
    result = await stream(t, reader!, head, keep, fixedLength, http10, first!, second, p2!);
  }
  t.writeDone(result);
}

// The slow path: a body that did not end after its first chunk.
async function stream(
  t: ResponseTarget,
  reader: ReadableStreamDefaultReader<Uint8Array>,
  head: string,
  keep: boolean,
  fixedLength: number,
  http10: boolean,
  first: Uint8Array,
  second: Uint8Array | null,
  pending: Promise<ReadableStreamReadResult<Uint8Array>>,
): Promise<number> {
  const socket = t.socket;
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
  let sent = 0;
  let ok = true;
  try {
    socket.cork();
    socket.write(encodeHead(head, null));
    sent += first.length + (second?.length ?? 0);
    t.bodyBytes = sent;
    ok = writeChunk(socket, first, chunked) &&
      (second === null || writeChunk(socket, second, chunked));
    socket.uncork();
    // The second read is still in flight when the first chunk was sent on its own.
    let next: Promise<ReadableStreamReadResult<Uint8Array>> | null = second === null
      ? pending
      : null;
    for (;;) {
      if (fixedLength >= 0 && sent > fixedLength) {
        throw new RangeError("body exceeds content-length");
      }
      if (!ok || socket.writableNeedDrain) await t.waitDrain();
      if (t.closed) break;
      const r = await (next ?? reader.read());
      next = null;
      if (r.done) break;
      const chunk = toBytes(r.value);
      sent += chunk.length;
      t.bodyBytes = sent;
      if (fixedLength >= 0 && sent > fixedLength) {
        throw new RangeError("body exceeds content-length");
      }
      ok = writeChunk(socket, chunk, chunked);
    }
  } catch (error) {
    // Mid-body there is no way to report an error in HTTP/1.1 but to cut the connection.
    t.bodyFailed(error);
    t.reader = null;
    reader.cancel().catch(ignore);
    socket.destroy();
    return CLOSE;
  }
  t.reader = null;
  if (t.closed) {
    reader.cancel().catch(ignore);
    return CLOSE;
  }
  if (fixedLength >= 0 && sent !== fixedLength) {
    // Fewer bytes than declared: the framing is broken, the client must see a cut.
    socket.destroy();
    return CLOSE;
  }
  if (chunked) socket.write(LAST_CHUNK);
  return keep ? KEEP : CLOSE;
}

const NOT_YET_RESULT = Symbol("not yet");
const NOT_YET: Promise<typeof NOT_YET_RESULT> = Promise.resolve(NOT_YET_RESULT);

function nextTurn(): Promise<typeof NOT_YET_RESULT> {
  return new Promise((resolve) => setImmediate(resolve, NOT_YET_RESULT));
}

function uncork(socket: Socket): void {
  socket.uncork();
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

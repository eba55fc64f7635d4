// The requests a worker (or a gthread thread) has in flight, kept in memory it shares with
// whoever must name them when its event loop is stuck: the master reads a worker's table from
// the scoreboard (WORKER TIMEOUT, and the access line of a killed request), the gthread process
// a thread's (THREAD TIMEOUT). Plain bytes, so no JavaScript has to run on the stuck side.

/** Requests named per table; more in flight are only counted. */
export const INFLIGHT_ENTRIES = 32;
const ENTRY_BYTES = 256;
const HEADER_BYTES = 64;
/** Bytes of one table. */
export const INFLIGHT_BYTES = HEADER_BYTES + INFLIGHT_ENTRIES * ENTRY_BYTES;

// Header: int32 requests in flight without an entry (overflow).
const OVERFLOW = 0;
// Entry: float64 start (ms since the epoch, 0 = free; written last, cleared first, so a reader
// never takes a half-written entry for a whole one), then byte lengths (the target's uint16
// little-endian) and the bytes.
const START = 0;
const METHOD_LEN = 8;
const CLIENT_LEN = 9;
const TARGET_LEN = 10; // uint16
const METHOD_AT = 16;
const METHOD_MAX = 16;
const CLIENT_AT = 32;
const CLIENT_MAX = 56;
const TARGET_AT = 88;
const TARGET_MAX = ENTRY_BYTES - TARGET_AT;

/** One request in flight, as a reader sees it. */
export interface InflightRequest {
  method: string;
  /** The request target as received, cut to the bytes an entry holds. */
  target: string;
  /** `host:port`, `[v6]:port` or `unix`; `-` when not known. */
  client: string;
  /** When the app was given the request, ms since the epoch. */
  start: number;
  /** Its entry in the table. */
  entry: number;
  /**
   * Its request line is not known (method and target are `-`): one past the table's entries,
   * whose head its hung thread read. Its access line says `"- - -"`, claiming no protocol.
   */
  lineUnknown?: boolean;
  /** The request itself, where the process that holds it writes the line (all its headers). */
  request?: Request;
}

const decoder = new TextDecoder();

/** A table of requests in flight over `memory` (INFLIGHT_BYTES, shared or not). */
export class InflightTable {
  readonly #bytes: Uint8Array;
  readonly #view: DataView;
  readonly #f64: Float64Array;
  // What each entry's bytes hold besides its start (free() leaves them): a request that matches
  // the entry's last one in a field (the same method, client host and port, URL) skips writing
  // it. Only this object writes the bytes, from clear() on.
  #methods: (string | undefined)[] = [];
  #hosts: (string | undefined)[] = [];
  #ports: number[] = [];
  #urls: (string | undefined)[] = [];

  constructor(memory: Uint8Array) {
    if (memory.length < INFLIGHT_BYTES) throw new RangeError("in-flight table too small");
    this.#bytes = memory;
    this.#view = new DataView(memory.buffer, memory.byteOffset, INFLIGHT_BYTES);
    // Starts are 8-byte aligned (the table starts aligned): a Float64Array store is one write.
    this.#f64 = new Float64Array(memory.buffer, memory.byteOffset, INFLIGHT_BYTES / 8);
  }

  /** Empties the table (its owner, before use). */
  clear(): void {
    this.#bytes.fill(0, 0, INFLIGHT_BYTES);
    this.#methods = [];
    this.#hosts = [];
    this.#ports = [];
    this.#urls = [];
  }

  /** Writes entry `index` (0 ≤ index < INFLIGHT_ENTRIES): the request and its start. */
  put(index: number, method: string, target: string, client: string, start: number): void {
    const at = HEADER_BYTES + index * ENTRY_BYTES;
    this.#f64[at / 8] = 0;
    this.#methods[index] = this.#hosts[index] = this.#urls[index] = undefined;
    const bytes = this.#bytes;
    bytes[at + METHOD_LEN] = ascii(bytes, at + METHOD_AT, method, 0, METHOD_MAX);
    bytes[at + CLIENT_LEN] = writeClient(bytes, at + CLIENT_AT, client, -1);
    writeTarget(bytes, at, target, 0);
    this.#f64[at / 8] = start;
  }

  /**
   * put() for the hot path, without building strings: the target is `url`'s path and query
   * (a Request's url is absolute), the client `host`, then `:port` unless `port` < 0 (an IPv6
   * host is bracketed).
   */
  request(
    index: number,
    method: string,
    url: string,
    host: string,
    port: number,
    start: number,
  ): void {
    const at = HEADER_BYTES + index * ENTRY_BYTES;
    const f64 = at / 8;
    this.#f64[f64] = 0;
    const bytes = this.#bytes;
    if (method !== this.#methods[index]) {
      this.#methods[index] = method;
      bytes[at + METHOD_LEN] = ascii(bytes, at + METHOD_AT, method, 0, METHOD_MAX);
    }
    if (host !== this.#hosts[index] || port !== this.#ports[index]) {
      this.#hosts[index] = host;
      this.#ports[index] = port;
      bytes[at + CLIENT_LEN] = writeClient(bytes, at + CLIENT_AT, host, port);
    }
    if (url !== this.#urls[index]) {
      this.#urls[index] = url;
      const path = url.indexOf("/", url.indexOf("//") + 2);
      writeTarget(bytes, at, path < 0 ? "/" : url, path < 0 ? 0 : path);
    }
    this.#f64[f64] = start;
  }

  /** Frees entry `index`. */
  free(index: number): void {
    this.#f64[(HEADER_BYTES + index * ENTRY_BYTES) / 8] = 0;
  }

  /** Counts a request in flight without an entry (`by` = 1) or one of those ending (-1). */
  overflow(by: number): void {
    this.#view.setInt32(OVERFLOW, this.#view.getInt32(OVERFLOW, true) + by, true);
  }

  /** The requests named in the table, oldest first, and how many more are in flight. */
  read(): { requests: InflightRequest[]; more: number } {
    const requests: InflightRequest[] = [];
    for (let i = 0; i < INFLIGHT_ENTRIES; i++) {
      const request = this.at(i);
      if (request !== undefined) requests.push(request);
    }
    requests.sort((a, b) => a.start - b.start);
    return { requests, more: Math.max(0, this.#view.getInt32(OVERFLOW, true)) };
  }

  /** The request entry `index` names, if any (an index out of the table names none). */
  at(index: number): InflightRequest | undefined {
    if (!(index >= 0 && index < INFLIGHT_ENTRIES)) return undefined;
    const at = HEADER_BYTES + index * ENTRY_BYTES;
    const start = this.#f64[(at + START) / 8];
    if (!(start > 0)) return undefined;
    const bytes = this.#bytes;
    const text = (from: number, length: number) =>
      decoder.decode(bytes.subarray(at + from, at + from + length));
    return {
      method: text(METHOD_AT, bytes[at + METHOD_LEN]),
      client: text(CLIENT_AT, bytes[at + CLIENT_LEN]) || "-",
      target: text(TARGET_AT, this.#view.getUint16(at + TARGET_LEN, true)),
      start,
      entry: index,
    };
  }
}

// `host`, then `:port` unless port < 0 (an IPv6 host bracketed); returns the bytes written.
function writeClient(bytes: Uint8Array, at: number, host: string, port: number): number {
  let c = at;
  const v6 = port >= 0 && host.indexOf(":") >= 0;
  if (v6) bytes[c++] = 0x5b;
  c += ascii(bytes, c, host, 0, CLIENT_MAX - 8);
  if (v6) bytes[c++] = 0x5d;
  if (port >= 0) {
    bytes[c++] = 0x3a;
    const digits = port < 10 ? 1 : port < 100 ? 2 : port < 1000 ? 3 : port < 10000 ? 4 : 5;
    for (let d = digits - 1, p = port; d >= 0; d--, p = Math.floor(p / 10)) {
      bytes[c + d] = 0x30 + (p % 10);
    }
    c += digits;
  }
  return c - at;
}

// An entry's target: `text` from `from` on, cut to what the entry holds.
function writeTarget(bytes: Uint8Array, at: number, text: string, from: number): void {
  const length = ascii(bytes, at + TARGET_AT, text, from, TARGET_MAX);
  bytes[at + TARGET_LEN] = length & 0xff;
  bytes[at + TARGET_LEN + 1] = length >> 8;
}

// Request lines are ASCII (the parser refuses anything else but obs-text, rare); a unit above
// 0x7e is written as "?" rather than paying for an encoder on every request.
function ascii(bytes: Uint8Array, at: number, text: string, from: number, max: number): number {
  const n = text.length - from < max ? text.length - from : max;
  for (let i = 0; i < n; i++) {
    const code = text.charCodeAt(from + i);
    bytes[at + i] = code < 0x20 || code > 0x7e ? 0x3f : code;
  }
  return n;
}

/** How a request in flight reads in a log line: `GET /path?q… from 1.2.3.4:5 for 2.1 s`. */
export function describeInflight(request: InflightRequest, now: number, queryMax = 64): string {
  const q = request.target.indexOf("?");
  const target = q >= 0 && request.target.length - q - 1 > queryMax
    ? `${request.target.slice(0, q + 1 + queryMax)}…`
    : request.target;
  const seconds = Math.max(0, (now - request.start) / 1000).toFixed(1);
  return `${request.method} ${target} from ${request.client} for ${seconds} s`;
}

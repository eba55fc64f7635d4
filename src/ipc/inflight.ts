// The requests a worker (or a gthread thread) has in flight, kept in memory it shares with
// whoever must name them when its event loop is stuck: the master reads a worker's table from
// the scoreboard (WORKER TIMEOUT, and the access line of a killed request), the gthread process
// a thread's (THREAD TIMEOUT). Plain bytes, so no JavaScript has to run on the stuck side.
// Besides the request line an entry keeps what the access-log format shows of the request
// (InflightFields), so that the access line written for it reads as the app's would have.
// A gthread worker's threads each write a share of their worker's table (region()), so that the
// master reads theirs as it reads any worker's.

import { basicAuthUser } from "../log/access_format.ts";

/** Requests named per table; more in flight are only counted. */
export const INFLIGHT_ENTRIES = 32;
/** Shares (region()) a table can be split into: one entry at least each. */
export const INFLIGHT_REGIONS = INFLIGHT_ENTRIES;
// The request line's part of an entry, then the part for the format's fields (FIELDS_AT).
const LINE_BYTES = 256;
const FIELDS_BYTES = 512;
// Then what its response sent so far (sent()): float64 body bytes.
const SENT_BYTES = 8;
const SENT_BYTES_AT = LINE_BYTES + FIELDS_BYTES;
const ENTRY_BYTES = SENT_BYTES_AT + SENT_BYTES;
const HEADER_BYTES = 512;
/** Bytes of one table. */
export const INFLIGHT_BYTES = HEADER_BYTES + INFLIGHT_ENTRIES * ENTRY_BYTES;

// Header: int32 requests in flight without an entry (overflow); then what the entries' fields
// are, written by the owner at clear() so that a reader needs no access-log format of its own
// (the master's may be a reload newer than the worker's): uint8 flags (KEEP_*), uint8 values
// per entry, uint16 length of the header names, and the names, "\n" between them; last, an
// int32 overflow per region, each written by that region's owner alone (no two threads ever
// add to one count).
const OVERFLOW = 0;
const FLAGS = 4;
const VALUES = 5;
const NAMES_LEN = 6;
const NAMES_AT = 8;
const REGION_OVERFLOW = HEADER_BYTES - 4 * INFLIGHT_REGIONS;
const NAMES_MAX = REGION_OVERFLOW - NAMES_AT;
const KEEP_PROTOCOL = 1;
const KEEP_USER = 2;
// At most this many values per entry, so that each has a useful share of FIELDS_BYTES.
const VALUES_MAX = 12;
// Entry fields part: uint8 protocol (PROTOCOLS; 0 = not kept), uint8 logged (1: the request's
// access line is written already, InflightTable.logged()), then the values
// (the headers in order, then the user), each in an equal share of the part: uint16 length
// (ABSENT: no such header), then its bytes. A longer value is cut to its share (with the
// default format's referer and user agent, 253 bytes each; a User-Agent rarely needs more,
// and the access line must not cost the hot path more than one copy of a few hundred bytes).
const PROTOCOL = LINE_BYTES;
const LOGGED = LINE_BYTES + 1;
const VALUES_AT = LINE_BYTES + 2;
const ABSENT = 0xffff;
const PROTOCOLS = ["", "HTTP/1.0", "HTTP/1.1"] as const;

/**
 * What an entry keeps of a request besides its line, for its access line (the request-side atoms
 * of the access-log format: src/ipc/inflight_fields.ts).
 */
export interface InflightFields {
  /** Request headers, lower-case (`%(f)s` referer, `%(a)s` user-agent, `%({name}i)s`). */
  headers: readonly string[];
  /** The Basic-auth user from Authorization (`%(u)s`). */
  user: boolean;
  /** Whether HTTP/1.0 or HTTP/1.1 (`%(r)s`, `%(H)s`). */
  protocol: boolean;
}

/** No field kept: the access log is off, or its format shows nothing of the request's. */
export const NO_INFLIGHT_FIELDS: InflightFields = { headers: [], user: false, protocol: false };
// Entry: float64 start (ms since the epoch, 0 = free; written last, cleared first, so a reader
// never takes a half-written entry for a whole one), then byte lengths (the target's uint16
// little-endian) and the bytes.
const START = 0;
const METHOD_LEN = 8;
const CLIENT_LEN = 9;
const TARGET_LEN = 10; // uint16
// uint16 status of the response whose head went out (sent()); 0 while none did.
const SENT_STATUS = 12;
const METHOD_AT = 16;
const METHOD_MAX = 16;
const CLIENT_AT = 32;
const CLIENT_MAX = 56;
const TARGET_AT = 88;
const TARGET_MAX = LINE_BYTES - TARGET_AT;

/**
 * Where a gthread thread's region of its worker's table is (src/worker/thread_inflight.ts): the
 * table's address in the process's memory, the region and how many.
 */
export interface InflightShare {
  address: number;
  region: number;
  regions: number;
}

/** One request in flight, as a reader sees it. */
export interface InflightRequest {
  method: string;
  /** The request target as received, cut to the bytes an entry holds. */
  target: string;
  /** `host:port`, `[v6]:port` or `unix`; `-` when not known. */
  client: string;
  /** When the app was given the request, ms since the epoch. */
  start: number;
  /** What the table keeps of its protocol (InflightFields.protocol), if it does. */
  protocol?: "HTTP/1.0" | "HTTP/1.1";
  /** The kept headers it came with (cut to their share of the entry), lower-case names. */
  headers?: [string, string][];
  /** Its Basic-auth user, when kept and it sent one. */
  user?: string;
  /** Its entry in the table. */
  entry: number;
  /**
   * Its request line is not known (method and target are `-`): one past the table's entries,
   * whose head its hung thread read. Its access line says `"- - -"`, claiming no protocol.
   */
  lineUnknown?: boolean;
  /**
   * Its access line (and count) is written already: its response, under way, was ended at a quick
   * stop and logged as its client got it. It is named, but gets no line from the table.
   */
  logged?: boolean;
  /** The request itself, where the process that holds it writes the line (all its headers). */
  request?: Request;
  /**
   * What its client got so far, when its response's head went out (InflightTable.sent()): the
   * status and the body bytes. A worker that dies under it leaves its line to say that.
   */
  sent?: { status: number; bytes: number };
}

const decoder = new TextDecoder();

/**
 * A table of requests in flight over `memory` (INFLIGHT_BYTES, shared or not), or one region of
 * it (region()): entries `first` to `end` (excluded), which that region's owner alone writes.
 */
export class InflightTable {
  /** The first entry of the table's that this object writes and reads. */
  readonly first: number;
  /** One past its last entry. */
  readonly end: number;
  /** The header's byte of its overflow count: the table's own, or its region's. */
  readonly #overflowAt: number;
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
  // The fields the owner keeps (clear()): header names, the user, the protocol; values per entry
  // and the bytes of each one's share. Each entry's last values, as above (per entry, per value;
  // the user's by the Authorization it came from).
  #names: readonly string[] = [];
  #user = false;
  #protocol = false;
  #values = 0;
  #share = 0;
  #last: (string | null | undefined)[] = [];
  #auths: (string | null | undefined)[] = [];

  constructor(memory: Uint8Array, region = -1, regions = 0) {
    if (memory.length < INFLIGHT_BYTES) throw new RangeError("in-flight table too small");
    if (region < 0) {
      this.first = 0;
      this.end = INFLIGHT_ENTRIES;
      this.#overflowAt = OVERFLOW;
    } else {
      if (!(region < regions && regions <= INFLIGHT_REGIONS)) {
        throw new RangeError(`no in-flight region ${region} of ${regions}`);
      }
      this.first = Math.floor((region * INFLIGHT_ENTRIES) / regions);
      this.end = Math.floor(((region + 1) * INFLIGHT_ENTRIES) / regions);
      this.#overflowAt = REGION_OVERFLOW + 4 * region;
    }
    this.#bytes = memory;
    this.#view = new DataView(memory.buffer, memory.byteOffset, INFLIGHT_BYTES);
    // Starts are 8-byte aligned (the table starts aligned): a Float64Array store is one write.
    this.#f64 = new Float64Array(memory.buffer, memory.byteOffset, INFLIGHT_BYTES / 8);
  }

  /**
   * Share `region` of `regions` of this table (a gthread thread's of its worker's): its entries
   * and its overflow count. read() of the whole table names every region's requests and counts
   * their overflow.
   */
  region(region: number, regions: number): InflightTable {
    return new InflightTable(this.#bytes, region, regions);
  }

  /** The bytes of the whole table (a region's too), whose address a thread is given. */
  get memory(): Uint8Array {
    return this.#bytes;
  }

  /**
   * Empties the table (its owner, before use); its entries keep `fields` of each request from
   * then on. Header names past VALUES_MAX values or NAMES_MAX bytes are left out (their atoms
   * read `-` in the lines written from the table). A region empties its own entries and count:
   * the header is the whole table's owner's (the worker process, with the threads' `fields`).
   */
  clear(fields: InflightFields = NO_INFLIGHT_FIELDS): void {
    const bytes = this.#bytes;
    const whole = this.#overflowAt === OVERFLOW;
    if (whole) bytes.fill(0, 0, INFLIGHT_BYTES);
    else {
      bytes.fill(0, HEADER_BYTES + this.first * ENTRY_BYTES, HEADER_BYTES + this.end * ENTRY_BYTES);
      this.#view.setInt32(this.#overflowAt, 0, true);
    }
    this.#methods = [];
    this.#hosts = [];
    this.#ports = [];
    this.#urls = [];
    this.#last = [];
    this.#auths = [];
    const names: string[] = [];
    let length = 0;
    for (const name of fields.headers) {
      const add = (names.length ? 1 : 0) + name.length;
      if (names.length + (fields.user ? 1 : 0) === VALUES_MAX || length + add > NAMES_MAX) break;
      if (whole && names.length) bytes[NAMES_AT + length] = 0x0a;
      if (whole) ascii(bytes, NAMES_AT + length + add - name.length, name, 0, name.length);
      names.push(name);
      length += add;
    }
    this.#names = names;
    this.#user = fields.user;
    this.#protocol = fields.protocol;
    this.#values = names.length + (fields.user ? 1 : 0);
    this.#share = this.#values ? Math.floor((FIELDS_BYTES - 2) / this.#values) : 0;
    if (!whole) return;
    bytes[FLAGS] = (fields.protocol ? KEEP_PROTOCOL : 0) | (fields.user ? KEEP_USER : 0);
    bytes[VALUES] = this.#values;
    bytes[NAMES_LEN] = length & 0xff;
    bytes[NAMES_LEN + 1] = length >> 8;
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
    // No fields: what request() left there is not this request's.
    bytes[at + PROTOCOL] = 0;
    bytes[at + LOGGED] = 0;
    this.#view.setUint16(at + SENT_STATUS, 0, true);
    this.#auths[index] = undefined;
    for (let i = 0, v = at + VALUES_AT; i < this.#values; i++, v += this.#share) {
      this.#last[index * this.#values + i] = undefined;
      this.#value(v, null);
    }
    this.#f64[at / 8] = start;
  }

  /**
   * put() for the hot path, without building strings: the target is `url`'s path and query
   * (a Request's url is absolute), the client `host`, then `:port` unless `port` < 0 (an IPv6
   * host is bracketed); the fields clear() named from `headers` and `http10`.
   */
  request(
    index: number,
    method: string,
    url: string,
    host: string,
    port: number,
    start: number,
    headers?: Headers,
    http10 = false,
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
    if (this.#protocol) bytes[at + PROTOCOL] = http10 ? 1 : 2;
    bytes[at + LOGGED] = 0;
    bytes[at + SENT_STATUS] = bytes[at + SENT_STATUS + 1] = 0;
    if (this.#values !== 0 && headers !== undefined) this.#fields(at, index, headers);
    this.#f64[f64] = start;
  }

  // The values of entry `index` (at `at`), each rewritten only when it differs from its last.
  #fields(at: number, index: number, headers: Headers): void {
    const names = this.#names;
    const last = this.#last;
    const base = index * this.#values;
    let v = at + VALUES_AT;
    for (let i = 0; i < names.length; i++, v += this.#share) {
      const value = headers.get(names[i]);
      if (value !== last[base + i]) {
        last[base + i] = value;
        this.#value(v, value);
      }
    }
    if (this.#user) {
      const auth = headers.get("authorization");
      if (auth !== this.#auths[index]) {
        this.#auths[index] = auth;
        this.#value(v, auth === null ? null : basicAuthUser(auth));
      }
    }
  }

  // One value at `v`: its length (ABSENT for null), then its bytes, cut to its share.
  #value(v: number, value: string | null): void {
    const bytes = this.#bytes;
    const length = value === null ? ABSENT : ascii(bytes, v + 2, value, 0, this.#share - 2);
    bytes[v] = length & 0xff;
    bytes[v + 1] = length >> 8;
  }

  /**
   * Entry `index`'s request has its access line already (InflightRequest.logged): it stays named
   * until the entry is written again or freed.
   */
  logged(index: number): void {
    this.#bytes[HEADER_BYTES + index * ENTRY_BYTES + LOGGED] = 1;
  }

  /**
   * Entry `index`'s response went out with `status` and `bytes` of its body so far (a stream
   * under way): a worker that dies now leaves its access line to say what its client got.
   */
  sent(index: number, status: number, bytes: number): void {
    this.sentBytes(index, bytes);
    this.#view.setUint16(HEADER_BYTES + index * ENTRY_BYTES + SENT_STATUS, status, true);
  }

  /** sent() again, the status unchanged: `bytes` of the body so far (one store). */
  sentBytes(index: number, bytes: number): void {
    this.#f64[(HEADER_BYTES + index * ENTRY_BYTES + SENT_BYTES_AT) / 8] = bytes;
  }

  /** Frees entry `index`. */
  free(index: number): void {
    this.#f64[(HEADER_BYTES + index * ENTRY_BYTES) / 8] = 0;
  }

  /** Counts a request in flight without an entry (`by` = 1) or one of those ending (-1). */
  overflow(by: number): void {
    const at = this.#overflowAt;
    this.#view.setInt32(at, this.#view.getInt32(at, true) + by, true);
  }

  /**
   * The requests named in the table (a region: in its entries), oldest first, and how many more
   * are in flight (the whole table's: its regions' too).
   */
  read(): { requests: InflightRequest[]; more: number } {
    const requests: InflightRequest[] = [];
    for (let i = this.first; i < this.end; i++) {
      const request = this.at(i);
      if (request !== undefined) requests.push(request);
    }
    requests.sort((a, b) => a.start - b.start);
    let more = Math.max(0, this.#view.getInt32(this.#overflowAt, true));
    if (this.#overflowAt === OVERFLOW) {
      for (let r = 0; r < INFLIGHT_REGIONS; r++) {
        more += Math.max(0, this.#view.getInt32(REGION_OVERFLOW + 4 * r, true));
      }
    }
    return { requests, more };
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
    const request: InflightRequest = {
      method: text(METHOD_AT, bytes[at + METHOD_LEN]),
      client: text(CLIENT_AT, bytes[at + CLIENT_LEN]) || "-",
      target: text(TARGET_AT, this.#view.getUint16(at + TARGET_LEN, true)),
      start,
      entry: index,
    };
    if (bytes[at + LOGGED] === 1) request.logged = true;
    const status = this.#view.getUint16(at + SENT_STATUS, true);
    if (status > 0) {
      request.sent = { status, bytes: this.#f64[(at + SENT_BYTES_AT) / 8] };
    }
    const flags = bytes[FLAGS];
    const protocol = PROTOCOLS[bytes[at + PROTOCOL]];
    if (flags & KEEP_PROTOCOL && protocol) request.protocol = protocol;
    const values = Math.min(bytes[VALUES], VALUES_MAX);
    if (values === 0) return request;
    const namesLength = Math.min(this.#view.getUint16(NAMES_LEN, true), NAMES_MAX);
    const names = namesLength
      ? decoder.decode(bytes.subarray(NAMES_AT, NAMES_AT + namesLength)).split("\n")
      : [];
    const share = Math.floor((FIELDS_BYTES - 2) / values);
    const value = (i: number) => {
      const length = this.#view.getUint16(at + VALUES_AT + i * share, true);
      return length === ABSENT
        ? null
        : text(VALUES_AT + i * share + 2, Math.min(length, share - 2));
    };
    request.headers = [];
    for (let i = 0; i < names.length && i < values; i++) {
      const header = value(i);
      if (header !== null) request.headers.push([names[i], header]);
    }
    const user = flags & KEEP_USER && names.length < values ? value(names.length) : null;
    if (user !== null && user !== "-") request.user = user;
    return request;
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

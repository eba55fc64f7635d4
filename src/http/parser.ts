// Incremental HTTP/1.1 request-head parser: appserve owns its wire layer (node:net on an inherited
// fd), so this is where gunicorn's limits and the RFC 9112 framing rules are enforced.

import type { Buffer } from "node:buffer";
import { type HttpOptions, ParseError } from "./types.ts";

// Defined in types.ts so proxy_protocol.ts and forwarded.ts can throw it without the parser.
export { ParseError } from "./types.ts";

/** The parsed request head, in wire order and wire case. */
export interface RequestHead {
  method: string;
  /** Request target as sent (bytes >= 0x80 percent-encoded). */
  target: string;
  /**
   * The target in origin-form, what request.url is built from: `target` itself, except for an
   * absolute-form target (its path and query; its authority is in `host`) and `*`.
   */
  path: string;
  /** Minor version: 0 for HTTP/1.0, 1 for HTTP/1.1. */
  minor: 0 | 1;
  /**
   * `[name, value]` pairs in wire order, names as sent, values with OWS trimmed. Names with `_`
   * are left out unless header_map is "dangerous"; an absolute-form target's authority replaces
   * the Host value.
   */
  headers: [string, string][];
  /** The authority of an absolute-form target, else the single Host value; null when neither. */
  host: string | null;
  /** Declared Content-Length, or -1 when there is none. */
  contentLength: number;
  /** Transfer-Encoding is exactly `chunked`. */
  chunked: boolean;
  /** Whether the client allows the connection to be reused after this request. */
  keepAlive: boolean;
  /** `Expect: 100-continue` on an HTTP/1.1 request. */
  expectContinue: boolean;
  /**
   * A WebSocket upgrade: `Connection` has the `upgrade` token and `Upgrade` names `websocket`
   * (both case-insensitive), on a GET. The app may upgrade it (src/http/websocket/hub.ts).
   */
  upgrade: boolean;
}

export type HeadLimits = Pick<
  HttpOptions,
  "limitRequestLine" | "limitRequestFields" | "limitRequestFieldSize" | "headerMap"
>;

// header_map: what becomes of a field whose name holds `_`. CGI-style gateways (a WSGI environ,
// PHP) give `_` and `-` one name, so X_Forwarded_For could pass for X-Forwarded-For behind one.
const MAP_DROP = 0;
const MAP_REFUSE = 1;
const MAP_DANGEROUS = 2;

// gunicorn clamps limit_request_fields to this; with 0 it means "as many as gunicorn allows".
const MAX_HEADERS = 32768;
// A client may precede a request with a few empty lines (RFC 9112 §2.2); an endless stream of them is abuse.
const MAX_LEADING_EMPTY_LINES = 8;
// "Unlimited" (0) line or field sizes still get a cap on the buffered head, as in gunicorn
// (whose max_buffer_headers uses its default field size when limit_request_field_size is 0).
const DEFAULT_FIELD_SIZE = 8190;
const UNLIMITED_LINE_CAP = 1024 * 1024;

const LF = 10;
const CR = 13;

/** tchar from RFC 9110 §5.6.2, as a lookup table so token checks are one load per byte. */
export const TCHAR = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") {
  TCHAR[c.charCodeAt(0)] = 1;
}

// Checks s[from, to) in place: slicing first and scanning the slice costs more (JSC in particular
// materialises the substring on the first charCodeAt).
function isToken(s: string, from: number, to: number): boolean {
  if (to <= from) return false;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    // Letters make up nearly every real method and header name: test them before the table.
    if ((c | 0x20) >= 97 && (c | 0x20) <= 122) continue;
    if (c > 127 || TCHAR[c] === 0) return false;
  }
  return true;
}

// gunicorn's default method rule (its permit_unconventional_http_method off): a token of 3 to 20
// characters without lower-case letters or "#". Registered methods are upper case, and lower-case
// spellings are where runtimes read a method differently (Fetch upper-cases "get", Bun's Request
// "patch"), so none reaches an app to be read two ways.
function isMethod(s: string, to: number): boolean {
  if (to < 3 || to > 20) return false;
  for (let i = 0; i < to; i++) {
    const c = s.charCodeAt(i);
    if (c >= 65 && c <= 90) continue;
    if (c > 127 || TCHAR[c] === 0 || c === 35 || (c >= 97 && c <= 122)) return false;
  }
  return true;
}

/**
 * Finds the end of a request head across reads, enforcing the line and field limits while the head
 * is still incomplete so a client cannot make us buffer past them. It records every line end, which
 * `parseHead` reuses instead of scanning again.
 */
export class HeadScanner {
  /** Offset of the request line (leading empty lines skipped). */
  start = 0;
  /** Offsets of each LF that ends a line of the head, request line first, blank line last. */
  readonly ends: number[] = [];
  private pos = 0;
  private lineStart = 0;
  private skipped = 0;
  private readonly lineLimit: number;
  private readonly fieldLimit: number;
  private readonly fieldSizeLimit: number;
  /** Most bytes a head may span (request line, fields, CRLFs). */
  private readonly maxHead: number;
  /** header_map as one of the MAP_* codes, for parseHead. */
  readonly headerMap: number;

  constructor(limits: HeadLimits) {
    const map = limits.headerMap ?? "drop";
    this.headerMap = map === "refuse" ? MAP_REFUSE : map === "dangerous" ? MAP_DANGEROUS : MAP_DROP;
    this.lineLimit = limits.limitRequestLine > 0 ? limits.limitRequestLine : 0;
    const f = limits.limitRequestFields;
    this.fieldLimit = f > 0 && f < MAX_HEADERS ? f : MAX_HEADERS;
    this.fieldSizeLimit = limits.limitRequestFieldSize > 0 ? limits.limitRequestFieldSize : 0;
    this.maxHead = (this.lineLimit || UNLIMITED_LINE_CAP) + 2 +
      this.fieldLimit * ((this.fieldSizeLimit || DEFAULT_FIELD_SIZE) + 2) + 2;
  }

  reset(): void {
    this.start = 0;
    this.pos = 0;
    this.lineStart = 0;
    this.skipped = 0;
    this.ends.length = 0;
  }

  /**
   * Scans `buf` (which only ever grows between calls until `reset`) and returns the offset just past
   * the blank line ending the head, or -1 if more bytes are needed. Throws ParseError on a limit.
   */
  scan(buf: Uint8Array): number {
    const ends = this.ends;
    let i = this.pos;
    let lineStart = this.lineStart;
    for (;;) {
      const lf = buf.indexOf(LF, i);
      if (lf === -1) {
        this.pos = buf.length;
        this.lineStart = lineStart;
        this.checkPartial(buf.length - lineStart);
        if (buf.length - this.start > this.maxHead) this.overflow();
        return -1;
      }
      if (lf - this.start >= this.maxHead) this.overflow();
      // A bare LF still ends a line here so limits and the end of the head are found;
      // parseHead rejects it.
      const len = lf > lineStart && buf[lf - 1] === CR ? lf - lineStart - 1 : lf - lineStart;
      const line = ends.length;
      if (len === 0) {
        if (line === 0) {
          if (++this.skipped > MAX_LEADING_EMPTY_LINES) {
            throw new ParseError(400, "too many empty lines before the request line");
          }
          lineStart = i = this.start = lf + 1;
          continue;
        }
        ends.push(lf);
        this.pos = this.lineStart = lf + 1;
        return lf + 1;
      }
      if (line === 0) {
        if (this.lineLimit > 0 && len > this.lineLimit) {
          throw new ParseError(414, "request line too long");
        }
      } else {
        // gunicorn counts the CRLF in a field's size, but not in the request line's.
        if (line > this.fieldLimit) throw new ParseError(431, "too many header fields");
        if (this.fieldSizeLimit > 0 && len + 2 > this.fieldSizeLimit) {
          throw new ParseError(431, "header field too long");
        }
      }
      ends.push(lf);
      lineStart = i = lf + 1;
    }
  }

  private overflow(): never {
    if (this.ends.length === 0) throw new ParseError(414, "request line too long");
    throw new ParseError(431, "request head too large");
  }

  // An unterminated line already over its limit will never become valid: refuse it now.
  private checkPartial(len: number): void {
    if (len <= 1) return;
    if (this.ends.length === 0) {
      if (this.lineLimit > 0 && len - 1 > this.lineLimit) {
        throw new ParseError(414, "request line too long");
      }
    } else {
      if (this.ends.length > this.fieldLimit) throw new ParseError(431, "too many header fields");
      if (this.fieldSizeLimit > 0 && len + 1 > this.fieldSizeLimit) {
        throw new ParseError(431, "header field too long");
      }
    }
  }
}

// Header-value bytes: VCHAR, SP, HTAB and obs-text; everything else is a control byte.
function badValueChar(s: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if ((c < 32 && c !== 9) || c === 127) return true;
  }
  return false;
}

// Allowed in a Host value; anything else (notably / ? # @ \) could steer the URL we build.
const HOST_CHAR = new Uint8Array(128);
for (
  const c of "-._~!$&'()*+,;=:[]%0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
) {
  HOST_CHAR[c.charCodeAt(0)] = 1;
}

function validHost(s: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (c > 127 || HOST_CHAR[c] === 0) return false;
  }
  return true;
}

// Case-insensitive comparison of s[from, from + lower.length) with a lowercase name made of
// letters and '-', done in place: lowercasing a fresh substring costs more than the whole check.
function equalsLower(s: string, from: number, lower: string): boolean {
  for (let i = 0; i < lower.length; i++) {
    if ((s.charCodeAt(from + i) | 0x20) !== lower.charCodeAt(i)) return false;
  }
  return true;
}
const HTTP_VERSION_RE = /^HTTP\/[0-9]\.[0-9]$/;
const ABSOLUTE_FORM_RE = /^https?:\/\//i;
const HIGH_BYTE_RE = /[\x80-\xff]/g;

function percentEncodeByte(c: string): string {
  return "%" + c.charCodeAt(0).toString(16).toUpperCase();
}

function hasToken(list: string, token: string): boolean {
  // A single bare value is by far the usual case; only a list needs splitting.
  if (list.length === token.length) return equalsLower(list, 0, token);
  if (list.indexOf(",") === -1) return list.trim().toLowerCase() === token;
  const parts = list.toLowerCase().split(",");
  for (let i = 0; i < parts.length; i++) if (parts[i].trim() === token) return true;
  return false;
}

/** Parses the head the scanner just delimited (`buf[scanner.start, end)`). Throws ParseError. */
export function parseHead(buf: Buffer, scanner: HeadScanner, end: number): RequestHead {
  const base = scanner.start;
  const ends = scanner.ends;
  // One latin1 decode of the whole head; everything below is string slicing on it.
  const s = buf.toString("latin1", base, end);

  // ---- request line
  let le = ends[0] - base;
  if (le === 0 || s.charCodeAt(le - 1) !== CR) throw new ParseError(400, "bare LF in request head");
  le--;
  const sp1 = s.indexOf(" ");
  if (sp1 <= 0 || sp1 >= le) throw new ParseError(400, "invalid request line");
  const sp2 = s.indexOf(" ", sp1 + 1);
  if (sp2 === -1 || sp2 >= le || sp2 === sp1 + 1) throw new ParseError(400, "invalid request line");
  if (!isMethod(s, sp1)) throw new ParseError(400, "invalid method");
  const method = s.slice(0, sp1);
  // Compared in place, like names below; only an unusual version is sliced out.
  const v = sp2 + 1;
  const d = le - v === 8 && s.startsWith("HTTP/1.", v) ? s.charCodeAt(v + 7) : -1;
  let minor: 0 | 1;
  if (d === 49 /* 1 */) minor = 1;
  else if (d === 48 /* 0 */) minor = 0;
  else if (HTTP_VERSION_RE.test(s.slice(v, le))) {
    throw new ParseError(505, "unsupported HTTP version");
  } else throw new ParseError(400, "invalid HTTP version");
  let high = false;
  for (let i = sp1 + 1; i < sp2; i++) {
    const c = s.charCodeAt(i);
    if (c <= 32 || c === 127) throw new ParseError(400, "invalid character in request target");
    if (c > 127) high = true;
  }
  let target = s.slice(sp1 + 1, sp2);
  // Raw UTF-8 in a path would be re-encoded char by char by the URL parser; keep the bytes instead.
  if (high) target = target.replace(HIGH_BYTE_RE, percentEncodeByte);
  let path = target;
  let authority: string | null = null;
  if (s.charCodeAt(sp1 + 1) !== 47 /* / */) {
    const scheme = ABSOLUTE_FORM_RE.exec(target);
    if (scheme !== null) {
      // RFC 9112 §3.2.2: the authority stands in for Host. The scheme is the client's claim and
      // decides nothing: request.url takes the connection's (or a trusted proxy's) scheme.
      const from = scheme[0].length;
      let to = from;
      while (to < target.length && target.charCodeAt(to) !== 47 && target.charCodeAt(to) !== 63) {
        to++;
      }
      // Empty (RFC 9110 §4.2.1) or with userinfo, `\` and such (validHost refuses `@`).
      if (to === from || !validHost(target, from, to)) {
        throw new ParseError(400, "invalid authority in request target");
      }
      authority = target.slice(from, to);
      path = to === target.length
        ? "/"
        : target.charCodeAt(to) === 63
        ? "/" + target.slice(to)
        : target.slice(to);
    } else if (target !== "*" || method !== "OPTIONS") {
      throw new ParseError(400, "invalid request target");
    }
  }
  const m0 = s.charCodeAt(0);
  if (
    (m0 === 67 /* C */ || m0 === 84 /* T */) &&
    (method === "CONNECT" || method === "TRACE" || method === "TRACK")
  ) {
    // Fetch forbids these methods in a Request (Deno throws, Bun does not): refuse them alike.
    throw new ParseError(501, "method not implemented");
  }

  // ---- header fields
  const headers: [string, string][] = [];
  const headerMap = scanner.headerMap;
  let host: string | null = null;
  let hostAt = -1;
  let cookieAt = -1;
  let contentType = false;
  let contentLength = -1;
  let te: string | null = null;
  let connection: string | null = null;
  let upgrade: string | null = null;
  let expectContinue = false;
  const last = ends.length - 1;
  for (let k = 1; k < last; k++) {
    const ls = ends[k - 1] + 1 - base;
    let e = ends[k] - base;
    if (s.charCodeAt(e - 1) !== CR) throw new ParseError(400, "bare LF in request head");
    e--;
    const c0 = s.charCodeAt(ls);
    if (c0 === 32 || c0 === 9) throw new ParseError(400, "obsolete line folding");
    // The name is scanned in place up to the colon; this is both the search and the token check.
    let colon = ls;
    let c = c0;
    let underscore = false;
    while (colon < e) {
      c = s.charCodeAt(colon);
      if ((c | 0x20) >= 97 && (c | 0x20) <= 122) colon++;
      else if (c < 128 && TCHAR[c] === 1) {
        if (c === 95 /* _ */) underscore = true;
        colon++;
      } else break;
    }
    if (colon === e) throw new ParseError(400, "header line without colon");
    if (c !== 58 /* : */ || colon === ls) {
      throw new ParseError(
        400,
        c === 32 || c === 9 ? "whitespace before colon in header" : "invalid header name",
      );
    }
    let vs = colon + 1;
    while (vs < e && (s.charCodeAt(vs) === 32 || s.charCodeAt(vs) === 9)) vs++;
    let ve = e;
    while (ve > vs && (s.charCodeAt(ve - 1) === 32 || s.charCodeAt(ve - 1) === 9)) ve--;
    if (badValueChar(s, vs, ve)) throw new ParseError(400, "invalid character in header value");
    // No name with `_` is one of the framing names below, so skipping it here changes no framing.
    // Dropped fields still counted against the limits (the scanner saw them), as in gunicorn.
    if (underscore && headerMap !== MAP_DANGEROUS) {
      if (headerMap === MAP_DROP) continue;
      throw new ParseError(400, "underscore in header name (header_map is refuse)");
    }
    const name = s.slice(ls, colon);
    const value = s.slice(vs, ve);
    headers.push([name, value]);
    // Only a few names matter to framing; the length picks the one candidate to compare.
    switch (colon - ls) {
      case 4:
        if (equalsLower(s, ls, "host")) {
          if (host !== null) throw new ParseError(400, "multiple Host headers");
          if (!validHost(s, vs, ve)) throw new ParseError(400, "invalid Host header");
          host = value;
          hostAt = headers.length - 1;
        }
        break;
      case 12:
        // Two media types for one body: which one the app (or a proxy) believes is anyone's guess.
        if (equalsLower(s, ls, "content-type")) {
          if (contentType) throw new ParseError(400, "multiple Content-Type headers");
          contentType = true;
        }
        break;
      case 6:
        if (equalsLower(s, ls, "expect") && ve - vs === 12 && equalsLower(s, vs, "100-continue")) {
          expectContinue = true;
        } else if (equalsLower(s, ls, "cookie")) {
          // Several Cookie fields are one list joined by "; " (RFC 9113 §8.2.3), as Deno.serve and
          // Bun.serve give them: Headers.append would join them by ", ", which no cookie parser
          // splits on.
          if (cookieAt === -1) cookieAt = headers.length - 1;
          else {
            headers.pop();
            const first = headers[cookieAt];
            headers[cookieAt] = [first[0], first[1] + "; " + value];
          }
        }
        break;
      case 7:
        if (equalsLower(s, ls, "upgrade")) {
          upgrade = upgrade === null ? value : upgrade + "," + value;
        }
        break;
      case 10:
        if (equalsLower(s, ls, "connection")) {
          connection = connection === null ? value : connection + "," + value;
        }
        break;
      case 14:
        if (equalsLower(s, ls, "content-length")) {
          if (contentLength !== -1) throw new ParseError(400, "multiple Content-Length headers");
          contentLength = parseLength(value);
        }
        break;
      case 17:
        if (equalsLower(s, ls, "transfer-encoding")) {
          te = te === null ? value : te + "," + value;
        }
        break;
    }
  }

  // RFC 9112 §3.2: an HTTP/1.1 request without Host is a 400, even in absolute-form.
  if (host === null && minor === 1) throw new ParseError(400, "missing Host header");
  if (authority !== null) {
    host = authority;
    // The app sees one authority, in request.url and in its Host header alike.
    if (hostAt !== -1) headers[hostAt] = [headers[hostAt][0], authority];
  }

  let chunked = false;
  if (te !== null) {
    if (contentLength !== -1) {
      throw new ParseError(400, "both Content-Length and Transfer-Encoding");
    }
    // RFC 9112 §6.1: a 1.0 request with Transfer-Encoding has faulty framing.
    if (minor === 0) throw new ParseError(400, "Transfer-Encoding in an HTTP/1.0 request");
    chunked = checkTransferEncoding(te);
  }

  let keepAlive: boolean;
  if (connection === null) keepAlive = minor === 1;
  else if (hasToken(connection, "close")) keepAlive = false;
  else keepAlive = minor === 1 || hasToken(connection, "keep-alive");

  return {
    method,
    target,
    path,
    minor,
    headers,
    host,
    contentLength,
    chunked,
    keepAlive,
    expectContinue: expectContinue && minor === 1,
    upgrade: upgrade !== null && connection !== null && method === "GET" &&
      hasToken(connection, "upgrade") && hasToken(upgrade, "websocket"),
  };
}

function parseLength(v: string): number {
  const n = v.length;
  // 15 digits keeps the value an exact JS integer.
  if (n === 0 || n > 15) throw new ParseError(400, "invalid Content-Length");
  for (let i = 0; i < n; i++) {
    const c = v.charCodeAt(i);
    if (c < 48 || c > 57) throw new ParseError(400, "invalid Content-Length");
  }
  return +v;
}

// Only a lone "chunked" is accepted: a final coding other than chunked leaves the body length
// unknowable (400); chunked after other codings is well-formed but asks for decoders we do not
// have (501, as gunicorn answers UnsupportedTransferCoding).
function checkTransferEncoding(te: string): true {
  const codings = te.toLowerCase().split(",");
  let chunkedAt = -1;
  for (let i = 0; i < codings.length; i++) {
    const c = codings[i].trim();
    if (!isToken(c, 0, c.length)) throw new ParseError(400, "invalid Transfer-Encoding");
    if (c === "chunked") {
      if (chunkedAt !== -1) throw new ParseError(400, "chunked applied more than once");
      chunkedAt = i;
    }
    codings[i] = c;
  }
  if (chunkedAt !== codings.length - 1) {
    throw new ParseError(400, "Transfer-Encoding does not end with chunked");
  }
  if (codings.length > 1) throw new ParseError(501, "unsupported transfer coding");
  return true;
}

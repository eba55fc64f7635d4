// gunicorn's access-log format: `%(atom)s` placeholders over the request,
// response and timing of one finished request. Each atom is defined once, as
// data: how to take its value off the entry and what kind of value it is. A
// format compiles into a writer of the line's bytes; the string a logger class
// gets from formatAccess is that writer's line, decoded.

import process from "node:process";
import type { RequestDetails } from "../http/types.ts";
import { LineBuffer } from "./line_buffer.ts";

/**
 * One finished request, as `Logger.access` and `Logger.formatAccess` receive it. Plain data:
 * `{ ...entry }`, destructuring and `JSON.stringify` keep every field.
 */
export interface AccessEntry {
  /** The request as the app got it. */
  request: Request;
  /** The response the app answered with. */
  response: Response;
  /** What the HTTP layer knows besides: the peer, protocol, raw target and body bytes sent. */
  details: RequestDetails;
  /** From the request's arrival to the end of its response, in milliseconds. */
  durationMs: number;
  /** When the response finished. */
  end: Date;
  /**
   * The worker that had the request, when another process writes its line (the master, for a
   * worker it killed or that died under it): `%(p)s`. @default this process
   */
  pid?: number;
}

// The setting's default, defined with the settings (which may not import src/log/).
export { DEFAULT_ACCESS_LOG_FORMAT } from "../config/logging_table.ts";

/** The value kinds, each written its own way: see kindWriters. */
interface Values {
  /** A string, written with `"` escaped as `\"` (gunicorn's only escaping). */
  text: string;
  /**
   * A byte string, one char per byte (a request header's value): as text, its bytes decoded when
   * they are UTF-8, else those beyond ASCII written `\xHH`.
   */
  bytes: string;
  /** A whole number, its digits. */
  int: number;
  /** A byte count; 0 is written `-` (gunicorn's `b`). */
  size: number;
  /** A time in ms since the epoch, as gunicorn's `t`. */
  time: number;
  /** A time in ms since the epoch, as ISO 8601 in UTC with milliseconds (JSON's `time`). */
  iso: number;
}
type Kind = keyof Values;

/** An atom's value: taken off the entry when the request finishes, written as its kind says. */
type Field = { [K in Kind]: { kind: K; take(entry: AccessEntry): Values[K] } }[Kind];

/** What an atom stands for: literal text and values, in order. */
type Part = string | Field;

/** A request header as `Headers.get` gives it, "-" when absent; `name` is lower-case. */
function requestHeader(e: AccessEntry, name: string): string {
  const raw = e.details.rawHeaders;
  if (raw === undefined) return e.request.headers.get(name) ?? "-";
  let found: string | null = null;
  for (let i = 0; i < raw.length; i++) {
    const field = raw[i][0];
    if (field.length !== name.length || field.toLowerCase() !== name) continue;
    found = found === null ? raw[i][1] : `${found}, ${raw[i][1]}`;
  }
  return found ?? "-";
}

/**
 * A response header as it went out, "-" when none did: the app's, but the fields the writer
 * decides itself (framing, a type the runtime keeps out of the headers) as the writer sent them,
 * when it says (RequestDetails.sentLength and the like: not for the runtime's native server).
 */
function responseHeader(key: string): (e: AccessEntry) => string {
  const app = (e: AccessEntry) => e.response.headers.get(key) ?? "-";
  switch (key.toLowerCase()) {
    case "content-length":
      return (e) => {
        const n = e.details.sentLength;
        return n === undefined ? app(e) : n < 0 ? "-" : String(n);
      };
    case "content-type":
      return (e) => e.response.headers.get(key) ?? e.details.sentType ?? "-";
    case "transfer-encoding":
      return (e) => {
        const chunked = e.details.sentChunked;
        return chunked === undefined ? app(e) : chunked ? "chunked" : "-";
      };
  }
  return app;
}

const text = (take: (e: AccessEntry) => string): Field => ({ kind: "text", take });
const bytes = (take: (e: AccessEntry) => string): Field => ({ kind: "bytes", take });

/**
 * `%({NAME}e)s`: gunicorn reads the request's WSGI environ, never the process environment (which
 * holds secrets). These are the CGI variables appserve knows of a request; any other name is "-".
 */
function environVariable(name: string): Field {
  const url = (e: AccessEntry) => new URL(e.request.url);
  const unix = (e: AccessEntry) => e.details.remote.transport === "unix";
  switch (name) {
    case "REQUEST_METHOD":
      return text((e) => e.request.method);
    case "SCRIPT_NAME":
      return text(() => "");
    case "PATH_INFO":
      return text((e) => decodedPath(e.details.target));
    case "QUERY_STRING":
      return text((e) => pathAndQuery(e.details.target)[1]);
    case "RAW_URI":
      return text((e) => e.details.target);
    case "SERVER_PROTOCOL":
      return text((e) => e.details.protocol);
    // As %(h)s: empty for a unix socket's peer.
    case "REMOTE_ADDR":
      return text((e) => unix(e) ? "" : e.details.remote.hostname);
    case "REMOTE_PORT":
      return text((e) => unix(e) ? "" : String(e.details.remote.port));
    case "SERVER_NAME":
      return text((e) => url(e).hostname);
    case "SERVER_PORT":
      return text((e) => {
        const u = url(e);
        return u.port || (u.protocol === "https:" ? "443" : "80");
      });
    case "wsgi.url_scheme":
      return text((e) => url(e).protocol.slice(0, -1));
    case "CONTENT_TYPE":
      return bytes((e) => requestHeader(e, "content-type"));
    case "CONTENT_LENGTH":
      return bytes((e) => requestHeader(e, "content-length"));
  }
  // HTTP_X_REQUEST_ID is the X-Request-Id header (WSGI's names; Content-* have their own above).
  if (
    /^HTTP_[A-Z0-9_]+$/.test(name) && name !== "HTTP_CONTENT_TYPE" && name !== "HTTP_CONTENT_LENGTH"
  ) {
    const header = name.slice(5).toLowerCase().replaceAll("_", "-");
    return bytes((e) => requestHeader(e, header));
  }
  return text(() => "-");
}

/** The user of an Authorization header's Basic credentials, `-` for none (gunicorn's `u`). */
export function basicAuthUser(auth: string): string {
  if (!/^basic /i.test(auth)) return "-";
  try {
    const decoded = atob(auth.slice(6).trim());
    const colon = decoded.indexOf(":");
    return colon === -1 ? "-" : decoded.slice(0, colon) || "-";
  } catch {
    return "-";
  }
}

function pathAndQuery(target: string): [string, string] {
  const q = target.indexOf("?");
  return q === -1 ? [target, ""] : [target.slice(0, q), target.slice(q + 1)];
}

function decodedPath(target: string): string {
  const path = target.startsWith("/")
    ? pathAndQuery(target)[0]
    : new URL(target, "http://x").pathname;
  try {
    return decodeURIComponent(path);
  } catch {
    return path;
  }
}

const int = (take: (e: AccessEntry) => number): Field => ({ kind: "int", take });
const METHOD = text((e) => e.request.method);
const PROTOCOL = text((e) => e.details.protocol);

// Every atom, once. The request line is three values: a string built for it per request
// cost more than writing its pieces.
const ATOMS: Record<string, readonly Part[]> = {
  // gunicorn reports an empty REMOTE_ADDR for unix sockets.
  h: [text((e) => e.details.remote.transport === "unix" ? "" : e.details.remote.hostname || "-")],
  l: ["-"],
  // atob's result is a byte string too.
  u: [bytes((e) => basicAuthUser(requestHeader(e, "authorization")))],
  t: [{ kind: "time", take: (e) => e.end.getTime() }],
  r: [METHOD, " ", text((e) => e.details.target), " ", PROTOCOL],
  m: [METHOD],
  U: [text((e) => decodedPath(e.details.target))],
  q: [text((e) => pathAndQuery(e.details.target)[1])],
  H: [PROTOCOL],
  s: [int((e) => e.response.status)],
  B: [int((e) => e.details.bodyBytes)],
  b: [{ kind: "size", take: (e) => e.details.bodyBytes }],
  f: [bytes((e) => requestHeader(e, "referer"))],
  a: [bytes((e) => requestHeader(e, "user-agent"))],
  T: [int((e) => Math.floor(e.durationMs / 1000))],
  M: [int((e) => Math.floor(e.durationMs))],
  D: [int((e) => Math.floor(e.durationMs * 1000))],
  L: [text((e) => (e.durationMs / 1000).toFixed(6))],
  p: [text((e) => `<${e.pid ?? process.pid}>`)],
};

function atomParts(name: string): readonly Part[] {
  const braced = /^\{(.+)\}([ioe])$/.exec(name);
  if (braced) {
    const key = braced[1];
    const lower = key.toLowerCase();
    if (braced[2] === "i") return [bytes((e) => requestHeader(e, lower))];
    if (braced[2] === "o") return [text(responseHeader(key))];
    return [environVariable(key)];
  }
  // Unknown atoms render as "-", as in gunicorn (hasOwn: "constructor" is no atom either).
  return Object.hasOwn(ATOMS, name) ? ATOMS[name] : ["-"];
}

/** A list of parts that joins neighbouring literals as they are added. */
function partList(): { parts: Part[]; add: (part: Part) => void } {
  const parts: Part[] = [];
  const add = (part: Part) => {
    if (part === "") return;
    const last = parts.at(-1);
    if (typeof part === "string" && typeof last === "string") parts[parts.length - 1] = last + part;
    else parts.push(part);
  };
  return { parts, add };
}

// As Python's `%`: `%%` is a literal `%` (so `%%(s)s` is no atom), `%(name)s` an atom.
export const ATOM_PATTERN = /%%|%\(([^)]+)\)[sd]/g;

/** The format's literals and atoms as one list of parts, neighbouring literals joined. */
function parseFormat(format: string): Part[] {
  const { parts, add } = partList();
  let last = 0;
  for (const m of format.matchAll(ATOM_PATTERN)) {
    add(format.slice(last, m.index));
    last = m.index + m[0].length;
    if (m[1] === undefined) add("%");
    else atomParts(m[1]).forEach(add);
  }
  add(format.slice(last));
  return parts;
}

/** Atoms whose JSON value is a number; every other atom's is the string gunicorn writes. */
const NUMBER_ATOMS = new Set(["s", "B", "T", "M", "D"]);

/**
 * `--log-format json`'s access line for a format: `time` (ISO 8601, UTC), `log: "access"`, then
 * one field per atom of the format, named by the atom (`h`, `r`, `s`, `{x-request-id}i`), in
 * the format's order; the format's literal text is left out.
 */
function jsonFormat(format: string): Part[] {
  const { parts, add } = partList();
  add('{"time":"');
  add({ kind: "iso", take: (e) => e.end.getTime() });
  add('","log":"access"');
  const seen = new Set<string>();
  for (const m of format.matchAll(ATOM_PATTERN)) {
    const name = m[1];
    if (name === undefined || seen.has(name)) continue;
    seen.add(name);
    const atom = atomParts(name);
    if (NUMBER_ATOMS.has(name)) {
      add(`,${JSON.stringify(name)}:`);
      atom.forEach(add);
    } else {
      add(`,${JSON.stringify(name)}:"`);
      atom.forEach(add);
      add('"');
    }
  }
  add("}");
  return parts;
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const pad = (n: number, width = 2) => String(n).padStart(width, "0");

/** `[22/Aug/2026:11:10:06 +0200]` in local time, as gunicorn's `t`. */
export function accessLogTime(date: Date): string {
  const offset = -date.getTimezoneOffset();
  const zone = `${offset >= 0 ? "+" : "-"}${pad(Math.floor(Math.abs(offset) / 60))}${
    pad(Math.abs(offset) % 60)
  }`;
  return `[${pad(date.getDate())}/${MONTHS[date.getMonth()]}/${date.getFullYear()}:` +
    `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())} ${zone}]`;
}

const encoder = new TextEncoder();
const DASH = encoder.encode("-");
const ZULU = encoder.encode("Z");

type Put<V> = (value: V, out: LineBuffer) => void;

/** `2026-12-03T06:48:49.` of a time in ms since the epoch (UTC). */
function isoSecond(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().slice(0, 20);
}

/** How each kind of value is written as bytes; the times are formatted once a second. */
function kindWriters(json: boolean): { [K in Kind]: Put<Values[K]> } {
  let second = NaN;
  let time = new Uint8Array();
  let isoAt = NaN;
  let iso = new Uint8Array();
  return {
    // In a JSON line a text value is a JSON string's inside; else gunicorn's `\"` only.
    text: json ? (v, out) => out.json(v) : (v, out) => out.quoted(v),
    bytes: json ? (v, out) => out.jsonBytes(v) : (v, out) => out.quotedBytes(v),
    int: (v, out) => out.int(v),
    size: (v, out) => v ? out.int(v) : out.bytes(DASH),
    time: (ms, out) => {
      if (Math.floor(ms / 1000) !== second) {
        second = Math.floor(ms / 1000);
        time = encoder.encode(accessLogTime(new Date(ms)));
      }
      out.bytes(time);
    },
    iso: (ms, out) => {
      if (Math.floor(ms / 1000) !== isoAt) {
        isoAt = Math.floor(ms / 1000);
        iso = encoder.encode(isoSecond(ms));
      }
      out.bytes(iso);
      out.padded(ms % 1000, 3);
      out.bytes(ZULU);
    },
  };
}

export interface AccessFormatOptions {
  /**
   * Write `--log-format json`'s line instead: an object with `time`, `log` and one field per
   * atom of the format, named by the atom. @default false
   */
  json?: boolean;
}

/** A format compiled into the two steps of its lines: see compileAccessWriter. */
export interface AccessWriter {
  /** Slots one line takes. */
  readonly width: number;
  /** Copies what the line shows off the entry into `slots[at ..< at + width]`. */
  take(entry: AccessEntry, slots: unknown[], at: number): void;
  /** Writes the line (without its newline) from the slots `take` filled. */
  put(slots: unknown[], at: number, out: LineBuffer): void;
}

/**
 * Compiles a gunicorn access-log format into the two steps of its lines: `take` copies the
 * values the line shows off the entry (a few field reads), `put` writes them as bytes. The Logger
 * runs both as the request finishes, so that a worker's waiting lines are bytes its master can
 * read (keeping the values until the batch went out cost the same: docs/architecture.md).
 *
 * @example
 * ```ts
 * const writer = compileAccessWriter('%(h)s "%(r)s" %(s)s');
 * const slots: unknown[] = [];
 * writer.take(entry, slots, 0);
 * writer.put(slots, 0, lineBuffer);
 * ```
 */
export function compileAccessWriter(
  format: string,
  options: AccessFormatOptions = {},
): AccessWriter {
  const writers = kindWriters(options.json ?? false);
  // Straight-line functions per format, one call site per value: the engines inline those,
  // where a loop over the parts is one polymorphic call site (see docs/architecture.md,
  // Logging). Only positional parameter names and numbers go into the generated source,
  // never anything from the format.
  const params: string[] = [];
  const args: unknown[] = [];
  const takes: string[] = [];
  const puts: string[] = [];
  let width = 0;
  (options.json ? jsonFormat(format) : parseFormat(format)).forEach((part, i) => {
    if (typeof part === "string") {
      params.push(`p${i}`);
      args.push(encoder.encode(part));
      puts.push(`out.bytes(p${i});`);
      return;
    }
    params.push(`t${i}`, `w${i}`);
    args.push(part.take, writers[part.kind]);
    takes.push(`slots[at + ${width}] = t${i}(entry);`);
    puts.push(`w${i}(slots[at + ${width}], out);`);
    width++;
  });
  const make = new Function(
    ...params,
    `return [function takeAccessLine(entry, slots, at) {\n${takes.join("\n")}\n}, ` +
      `function putAccessLine(slots, at, out) {\n${puts.join("\n")}\n}];`,
  );
  const [take, put] = make(...args);
  return { width, take, put };
}

/**
 * Compiles a gunicorn access-log format into a line renderer: compileAccessWriter's line as a
 * string, without the newline.
 *
 * @example
 * ```ts
 * const render = compileAccessFormat('%(h)s "%(r)s" %(s)s');
 * render(entry); // '10.1.2.3 "GET /a HTTP/1.1" 200'
 * ```
 */
export function compileAccessFormat(
  format: string,
  options: AccessFormatOptions = {},
): (entry: AccessEntry) => string {
  const writer = compileAccessWriter(format, options);
  const slots: unknown[] = [];
  const out = new LineBuffer(1024);
  const decoder = new TextDecoder();
  return (entry) => {
    writer.take(entry, slots, 0);
    writer.put(slots, 0, out);
    return decoder.decode(out.take());
  };
}

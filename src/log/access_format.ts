// gunicorn's access-log format: `%(atom)s` placeholders over the request,
// response and timing of one finished request. Compiled once per format, so
// a log line costs one pass over the pieces.

import process from "node:process";
import type { RequestDetails } from "../http/types.ts";
import type { LineBuffer } from "./line_buffer.ts";

/** Everything one access-log line may show. */
export interface AccessEntry {
  request: Request;
  response: Response;
  details: RequestDetails;
  durationMs: number;
  /**
   * When the response finished. On the entries appserve passes it is a getter that makes the
   * Date when first read: copy it by name (`{ ...entry }` leaves it out; JSON keeps it).
   */
  end: Date;
}

export const DEFAULT_ACCESS_LOG_FORMAT =
  '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"';

const encoder = new TextEncoder();
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const pad = (n: number, width = 2) => String(n).padStart(width, "0");

let cachedSecond = NaN;
let cachedTime = "";
let cachedTimeBytes = new Uint8Array();

/** Formats the second of `ms` (since the epoch) unless it is the cached one. */
function cacheTime(ms: number): void {
  const second = Math.floor(ms / 1000);
  if (second === cachedSecond) return;
  cachedTime = formatTime(new Date(ms));
  cachedTimeBytes = encoder.encode(cachedTime);
  cachedSecond = second;
}

/** `[22/Aug/2026:11:10:06 +0200]` in local time, as gunicorn's `t`; formatted once a second. */
export function accessLogTime(date: Date): string {
  cacheTime(date.getTime());
  return cachedTime;
}

/**
 * The entry appserve makes for each finished request. `end` becomes a Date only when
 * read: the built-in format reads the time as a number, and a Date per request was
 * one more object for the collector on the hot path.
 */
export class AccessRecord implements AccessEntry {
  #end: Date | undefined;

  constructor(
    readonly request: Request,
    readonly response: Response,
    readonly details: RequestDetails,
    readonly durationMs: number,
    /** When the response finished, in ms since the epoch. */
    readonly endMs: number = Date.now(),
  ) {}

  get end(): Date {
    return this.#end ??= new Date(this.endMs);
  }

  toJSON(): AccessEntry {
    const { request, response, details, durationMs, end } = this;
    return { request, response, details, durationMs, end };
  }
}

function endMs(e: AccessEntry): number {
  // Also a copy of an AccessRecord (`{ ...record }`), which has endMs but no end.
  const ms = (e as Partial<AccessRecord>).endMs;
  return typeof ms === "number" ? ms : e.end.getTime();
}

function formatTime(date: Date): string {
  const offset = -date.getTimezoneOffset();
  const zone = `${offset >= 0 ? "+" : "-"}${pad(Math.floor(Math.abs(offset) / 60))}${
    pad(Math.abs(offset) % 60)
  }`;
  return `[${pad(date.getDate())}/${MONTHS[date.getMonth()]}/${date.getFullYear()}:` +
    `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())} ${zone}]`;
}

/** A request header as `Headers.get` gives it; `name` is lower-case. */
function requestHeader(e: AccessEntry, name: string): string | null {
  const raw = e.details.rawHeaders;
  if (raw === undefined) return e.request.headers.get(name);
  let found: string | null = null;
  for (let i = 0; i < raw.length; i++) {
    const field = raw[i][0];
    if (field.length !== name.length || field.toLowerCase() !== name) continue;
    found = found === null ? raw[i][1] : `${found}, ${raw[i][1]}`;
  }
  return found;
}

function basicUser(e: AccessEntry): string {
  const auth = requestHeader(e, "authorization");
  if (!auth || !/^basic /i.test(auth)) return "-";
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

type Atom = (e: AccessEntry) => string | number;

const ATOMS: Record<string, Atom> = {
  // gunicorn reports an empty REMOTE_ADDR for unix sockets.
  h: (e) => e.details.remote.transport === "unix" ? "" : e.details.remote.hostname || "-",
  l: () => "-",
  u: basicUser,
  t: (e) => {
    cacheTime(endMs(e));
    return cachedTime;
  },
  r: (e) => `${e.request.method} ${e.details.target} ${e.details.protocol}`,
  m: (e) => e.request.method,
  U: (e) => decodedPath(e.details.target),
  q: (e) => pathAndQuery(e.details.target)[1],
  H: (e) => e.details.protocol,
  s: (e) => e.response.status,
  B: (e) => e.details.bodyBytes,
  b: (e) => e.details.bodyBytes ? e.details.bodyBytes : "-",
  f: (e) => requestHeader(e, "referer") ?? "-",
  a: (e) => requestHeader(e, "user-agent") ?? "-",
  T: (e) => Math.floor(e.durationMs / 1000),
  M: (e) => Math.floor(e.durationMs),
  D: (e) => Math.floor(e.durationMs * 1000),
  L: (e) => (e.durationMs / 1000).toFixed(6),
  p: () => `<${process.pid}>`,
};

function atom(name: string): Atom {
  const braced = /^\{(.+)\}([ioe])$/.exec(name);
  if (braced) {
    const key = braced[1];
    const lower = key.toLowerCase();
    if (braced[2] === "i") return (e) => requestHeader(e, lower) ?? "-";
    if (braced[2] === "o") return (e) => e.response.headers.get(key) ?? "-";
    return () => process.env[key] ?? "-";
  }
  // Unknown atoms render as "-", as in gunicorn (hasOwn: "constructor" is no atom either).
  return Object.hasOwn(ATOMS, name) ? ATOMS[name] : () => "-";
}

interface ParsedFormat {
  /** literal[0] atom[0] literal[1] ... atom[n-1] literal[n] */
  literals: string[];
  /** The atoms' names, as inside `%(...)s`. */
  names: string[];
}

function parseFormat(format: string): ParsedFormat {
  const literals: string[] = [];
  const names: string[] = [];
  // As Python's `%`: `%%` is a literal `%` (so `%%(s)s` is no atom), `%(name)s` an atom.
  const pattern = /%%|%\(([^)]+)\)[sd]/g;
  let literal = "";
  let last = 0;
  for (let m = pattern.exec(format); m; m = pattern.exec(format)) {
    literal += format.slice(last, m.index);
    last = m.index + m[0].length;
    if (m[1] === undefined) {
      literal += "%";
      continue;
    }
    literals.push(literal);
    names.push(m[1]);
    literal = "";
  }
  literals.push(literal + format.slice(last));
  return { literals, names };
}

/**
 * Compiles a gunicorn access-log format into a line renderer. String values
 * have `"` escaped as `\"` (gunicorn's only escaping).
 *
 * @example
 * ```ts
 * const render = compileAccessFormat('%(h)s "%(r)s" %(s)s');
 * ```
 */
export function compileAccessFormat(format: string): (entry: AccessEntry) => string {
  const { literals, names } = parseFormat(format);
  const atoms = names.map(atom);
  return (entry) => {
    let line = literals[0];
    for (let i = 0; i < atoms.length; i++) {
      const value = atoms[i](entry);
      line += (typeof value === "string" ? value.replaceAll('"', '\\"') : String(value)) +
        literals[i + 1];
    }
    return line;
  };
}

type AtomWriter = (e: AccessEntry, out: LineBuffer) => void;

const DASH = encoder.encode("-");

function writeHeader(out: LineBuffer, value: string | null): void {
  if (value === null) out.bytes(DASH);
  else out.quoted(value);
}

// The atoms of the usual formats, written piece by piece: no string is built for
// the request line, the numbers or the time (each cost more than writing its bytes).
// The line must stay byte-equal to compileAccessFormat's (unit-tested for every atom).
const ATOM_WRITERS: Record<string, AtomWriter> = {
  h: (e, out) => {
    if (e.details.remote.transport !== "unix") out.quoted(e.details.remote.hostname || "-");
  },
  l: (_, out) => out.bytes(DASH),
  t: (e, out) => {
    cacheTime(endMs(e));
    out.bytes(cachedTimeBytes);
  },
  r: (e, out) => {
    out.quoted(e.request.method);
    out.text(" ");
    out.quoted(e.details.target);
    out.text(" ");
    out.text(e.details.protocol);
  },
  m: (e, out) => out.quoted(e.request.method),
  H: (e, out) => out.text(e.details.protocol),
  s: (e, out) => out.int(e.response.status),
  B: (e, out) => out.int(e.details.bodyBytes),
  b: (e, out) => e.details.bodyBytes ? out.int(e.details.bodyBytes) : out.bytes(DASH),
  f: (e, out) => writeHeader(out, requestHeader(e, "referer")),
  a: (e, out) => writeHeader(out, requestHeader(e, "user-agent")),
  T: (e, out) => out.int(Math.floor(e.durationMs / 1000)),
  M: (e, out) => out.int(Math.floor(e.durationMs)),
  D: (e, out) => out.int(Math.floor(e.durationMs * 1000)),
};

function atomWriter(name: string): AtomWriter {
  const braced = /^\{(.+)\}i$/.exec(name);
  if (braced) {
    const lower = braced[1].toLowerCase();
    return (e, out) => writeHeader(out, requestHeader(e, lower));
  }
  if (Object.hasOwn(ATOM_WRITERS, name)) return ATOM_WRITERS[name];
  const value = atom(name);
  return (e, out) => {
    const v = value(e);
    if (typeof v === "string") out.quoted(v);
    else out.text(String(v));
  };
}

/** The same line as compileAccessFormat's, written as UTF-8 into a LineBuffer (newline included). */
export function compileAccessWriter(
  format: string,
): (entry: AccessEntry, out: LineBuffer) => void {
  const { literals, names } = parseFormat(format);
  const pieces = literals.map((l) => encoder.encode(l));
  const writers = names.map(atomWriter);
  // One straight-line function per format, calling each atom's writer at a call site of its
  // own: the engines inline those, where a loop over the writers is one polymorphic call site
  // (measured in the server under Bun: 0.5 µs a line against 0.9 µs). Only positional
  // parameter names go into the generated source, never anything from the format.
  const params: string[] = [];
  const args: unknown[] = [];
  const body: string[] = [];
  const piece = (i: number) => {
    if (pieces[i].length === 0) return;
    params.push(`p${i}`);
    args.push(pieces[i]);
    body.push(`out.bytes(p${i});`);
  };
  piece(0);
  writers.forEach((writer, i) => {
    params.push(`w${i}`);
    args.push(writer);
    body.push(`w${i}(entry, out);`);
    piece(i + 1);
  });
  body.push("out.newline();");
  const make = new Function(
    ...params,
    `return function writeAccessLine(entry, out) {\n${body.join("\n")}\n};`,
  );
  return make(...args);
}

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

// The setting's default, defined with the settings (which may not import src/log/).
export { DEFAULT_ACCESS_LOG_FORMAT } from "../config/logging_table.ts";

const encoder = new TextEncoder();
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const pad = (n: number, width = 2) => String(n).padStart(width, "0");

// Process-wide on purpose: a memo of a pure function (second → text) that every logger shares.
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

const DASH = encoder.encode("-");

function writeHeader(out: LineBuffer, value: unknown): void {
  if (value === null) out.bytes(DASH);
  else out.quoted(value as string);
}

/**
 * An atom in two steps: `take` copies its value(s) off the entry into `width` slots when the
 * request finishes; `put` writes them as bytes when the batch goes out.
 */
interface AtomSteps {
  width: number;
  take(e: AccessEntry, slots: unknown[], at: number): void;
  put(slots: unknown[], at: number, out: LineBuffer): void;
}

const none = () => {};
const one = (
  take: (e: AccessEntry) => unknown,
  put: (value: unknown, out: LineBuffer) => void,
): AtomSteps => ({
  width: 1,
  take: (e, slots, at) => {
    slots[at] = take(e);
  },
  put: (slots, at, out) => put(slots[at], out),
});
const int = (v: unknown, out: LineBuffer) => out.int(v as number);

// The atoms of the usual formats, in two steps: no string is built for the request line, the
// numbers or the time (each cost more than writing its bytes). The line must stay byte-equal to
// compileAccessFormat's (unit-tested for every atom).
const ATOM_STEPS: Record<string, AtomSteps> = {
  h: one(
    (e) => e.details.remote.transport === "unix" ? null : e.details.remote.hostname || "-",
    (v, out) => v !== null && out.quoted(v as string),
  ),
  l: { width: 0, take: none, put: (_, __, out) => out.bytes(DASH) },
  t: one(endMs, (v, out) => {
    cacheTime(v as number);
    out.bytes(cachedTimeBytes);
  }),
  r: {
    width: 3,
    take: (e, slots, at) => {
      slots[at] = e.request.method;
      slots[at + 1] = e.details.target;
      slots[at + 2] = e.details.protocol;
    },
    put: (slots, at, out) => {
      out.quoted(slots[at] as string);
      out.text(" ");
      out.quoted(slots[at + 1] as string);
      out.text(" ");
      out.text(slots[at + 2] as string);
    },
  },
  m: one((e) => e.request.method, (v, out) => out.quoted(v as string)),
  H: one((e) => e.details.protocol, (v, out) => out.text(v as string)),
  s: one((e) => e.response.status, int),
  B: one((e) => e.details.bodyBytes, int),
  b: one((e) => e.details.bodyBytes, (v, out) => v ? out.int(v as number) : out.bytes(DASH)),
  f: one((e) => requestHeader(e, "referer"), (v, out) => writeHeader(out, v)),
  a: one((e) => requestHeader(e, "user-agent"), (v, out) => writeHeader(out, v)),
  T: one((e) => Math.floor(e.durationMs / 1000), int),
  M: one((e) => Math.floor(e.durationMs), int),
  D: one((e) => Math.floor(e.durationMs * 1000), int),
};

function atomSteps(name: string): AtomSteps {
  const braced = /^\{(.+)\}i$/.exec(name);
  if (braced) {
    const lower = braced[1].toLowerCase();
    return one((e) => requestHeader(e, lower), (v, out) => writeHeader(out, v));
  }
  if (Object.hasOwn(ATOM_STEPS, name)) return ATOM_STEPS[name];
  const value = atom(name);
  return one(value, (v, out) => typeof v === "string" ? out.quoted(v) : out.text(String(v)));
}

/** A format compiled into the two steps of its lines: see compileAccessWriter. */
export interface AccessWriter {
  /** Slots one line takes. */
  readonly width: number;
  /** Copies what the line shows off the entry into `slots[at ..< at + width]`. */
  take(entry: AccessEntry, slots: unknown[], at: number): void;
  /** Writes the line (newline included) from the slots `take` filled. */
  put(slots: unknown[], at: number, out: LineBuffer): void;
}

/**
 * compileAccessFormat's line in two steps, so that the bytes are written a batch at a time:
 * `take` when the request finishes (a few field reads; no Request or Response is kept), `put`
 * for every line of the batch in one loop when it goes out. Formatted one line per request
 * amid the request's own work, the writing cost Bun 0.5 µs a line in the server, five times
 * what the same code costs in a loop.
 */
export function compileAccessWriter(format: string): AccessWriter {
  const { literals, names } = parseFormat(format);
  const pieces = literals.map((l) => encoder.encode(l));
  const steps = names.map(atomSteps);
  // Straight-line functions per format, one call site per atom: the engines inline those,
  // where a loop over the atoms is one polymorphic call site (measured in the server under
  // Bun: 0.5 µs a line against 0.9 µs). Only positional parameter names and numbers go into
  // the generated source, never anything from the format.
  const params: string[] = [];
  const args: unknown[] = [];
  const takes: string[] = [];
  const puts: string[] = [];
  const piece = (i: number) => {
    if (pieces[i].length === 0) return;
    params.push(`p${i}`);
    args.push(pieces[i]);
    puts.push(`out.bytes(p${i});`);
  };
  let width = 0;
  piece(0);
  steps.forEach((step, i) => {
    params.push(`t${i}`, `w${i}`);
    args.push(step.take, step.put);
    if (step.width) takes.push(`t${i}(entry, slots, at + ${width});`);
    puts.push(`w${i}(slots, at + ${width}, out);`);
    width += step.width;
    piece(i + 1);
  });
  puts.push("out.newline();");
  const make = new Function(
    ...params,
    `return [function takeAccessLine(entry, slots, at) {\n${takes.join("\n")}\n}, ` +
      `function putAccessLine(slots, at, out) {\n${puts.join("\n")}\n}];`,
  );
  const [take, put] = make(...args);
  return { width, take, put };
}

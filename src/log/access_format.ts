// gunicorn's access-log format: `%(atom)s` placeholders over the request,
// response and timing of one finished request. Compiled once per format, so
// a log line costs one pass over the pieces.

import process from "node:process";
import type { RequestDetails } from "../http/types.ts";

/** Everything one access-log line may show. */
export interface AccessEntry {
  request: Request;
  response: Response;
  details: RequestDetails;
  durationMs: number;
  /** When the response finished. */
  end: Date;
}

export const DEFAULT_ACCESS_LOG_FORMAT =
  '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"';

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const pad = (n: number, width = 2) => String(n).padStart(width, "0");

let cachedSecond = NaN;
let cachedTime = "";

/** `[22/Aug/2026:11:10:06 +0200]` in local time, as gunicorn's `t`; formatted once a second. */
export function accessLogTime(date: Date): string {
  const second = Math.floor(date.getTime() / 1000);
  if (second !== cachedSecond) {
    cachedTime = formatTime(date);
    cachedSecond = second;
  }
  return cachedTime;
}

function formatTime(date: Date): string {
  const offset = -date.getTimezoneOffset();
  const zone = `${offset >= 0 ? "+" : "-"}${pad(Math.floor(Math.abs(offset) / 60))}${
    pad(Math.abs(offset) % 60)
  }`;
  return `[${pad(date.getDate())}/${MONTHS[date.getMonth()]}/${date.getFullYear()}:` +
    `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())} ${zone}]`;
}

function basicUser(request: Request): string {
  const auth = request.headers.get("authorization");
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
  u: (e) => basicUser(e.request),
  t: (e) => accessLogTime(e.end),
  r: (e) => `${e.request.method} ${e.details.target} ${e.details.protocol}`,
  m: (e) => e.request.method,
  U: (e) => decodedPath(e.details.target),
  q: (e) => pathAndQuery(e.details.target)[1],
  H: (e) => e.details.protocol,
  s: (e) => e.response.status,
  B: (e) => e.details.bodyBytes,
  b: (e) => e.details.bodyBytes ? e.details.bodyBytes : "-",
  f: (e) => e.request.headers.get("referer") ?? "-",
  a: (e) => e.request.headers.get("user-agent") ?? "-",
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
    if (braced[2] === "i") return (e) => e.request.headers.get(key) ?? "-";
    if (braced[2] === "o") return (e) => e.response.headers.get(key) ?? "-";
    return () => process.env[key] ?? "-";
  }
  // Unknown atoms render as "-", as in gunicorn.
  return ATOMS[name] ?? (() => "-");
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
  const pieces: (string | Atom)[] = [];
  const pattern = /%\(([^)]+)\)[sd]/g;
  let last = 0;
  for (let m = pattern.exec(format); m; m = pattern.exec(format)) {
    pieces.push(format.slice(last, m.index).replaceAll("%%", "%"), atom(m[1]));
    last = m.index + m[0].length;
  }
  pieces.push(format.slice(last).replaceAll("%%", "%"));
  return (entry) => {
    let line = "";
    for (const piece of pieces) {
      if (typeof piece === "string") line += piece;
      else {
        const value = piece(entry);
        line += typeof value === "string" ? value.replaceAll('"', '\\"') : String(value);
      }
    }
    return line;
  };
}

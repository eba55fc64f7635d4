// Python logging's `msg % args` for the error log's methods, so gunicorn's example hooks work as
// written: `server.log.info("Worker spawned (pid: %s)", worker.pid)`. Only with arguments: a
// message logged alone is left as it is, a literal `%s` in it too.

import { inspect } from "node:util";

// %s, %d (and %i, the same), %r and %%.
const SPECIFIER = /%([sdir%])/g;

function shown(value: unknown): string {
  try {
    return inspect(value, { depth: 4, breakLength: Infinity });
  } catch {
    return "(a value that cannot be shown)";
  }
}

// Python's str(): a string as it is, an Error as `Name: message`, other objects inspected.
function str(value: unknown): string {
  if (typeof value === "string") return value;
  if (value instanceof Error) return `${value.name}: ${value.message}`;
  if (typeof value === "object" && value !== null) return shown(value);
  return String(value);
}

// Python's %d: a number without its fraction; what is no number is shown as it is.
function int(value: unknown): string {
  if (typeof value === "bigint") return String(value);
  const n = Number(value);
  if (typeof value === "symbol" || Number.isNaN(n)) return str(value);
  return Number.isFinite(n) ? String(Math.trunc(n)) : String(n);
}

/**
 * `message` with each `%s` (str), `%d` (integer), `%r` (repr: strings quoted, objects
 * inspected) replaced by the next of `args`, and `%%` by `%`. Without `args`, `message` as it
 * is. A specifier with no argument left stays as written; arguments left over follow the
 * message, each after a space, as `console.log` shows them.
 */
export function formatLogArgs(message: string, args: readonly unknown[]): string {
  if (args.length === 0) return message;
  let next = 0;
  const text = String(message).replace(SPECIFIER, (whole, kind: string) => {
    if (kind === "%") return "%";
    if (next >= args.length) return whole;
    const value = args[next++];
    return kind === "s" ? str(value) : kind === "r" ? shown(value) : int(value);
  });
  const rest = args.slice(next).map(str);
  return rest.length ? `${text} ${rest.join(" ")}` : text;
}

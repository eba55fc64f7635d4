// Where an error in the user's code happened, worded the same under both runtimes:
// `FILE:LINE:COL: Name: message`, then the user's stack frames (or, for a syntax
// error, the offending line with a caret). Deno reports a syntax error as a
// TypeError whose message holds a code frame and the location; Bun as a
// BuildMessage with a `position` (an AggregateError of them for several); a throw at import time as a stack whose first
// frames are the user's modules. appserve's own frames are left out. Its causes follow, as
// Deno's `Caused by:` lines.

import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { causeChain } from "./error_causes.ts";

/** A user error, described: `headline` is one line, `detail` the lines under it ("" if none). */
export interface UserErrorReport {
  headline: string;
  detail: string;
}

interface Position {
  file: string;
  line: number;
  column: number;
}

const where = (p: Position) => `${p.file}:${p.line}:${p.column}`;

// appserve's own modules: the source tree's src/ and workers/ under `deno run`; else a bundle's own
// folder (the Deno worker bundle's <cache>/appserve/VERSION-ID/; the binary's is under /$bunfs/).
// Not the folders around a bundle: with XDG_CACHE_HOME at the project, they are the user's.
const FROM_SOURCE = import.meta.url.endsWith("/src/app/user_error.ts");
const OWN = (FROM_SOURCE ? ["../", "../../workers/"] : ["./"]).map((dir) =>
  decodeURIComponent(new URL(dir, import.meta.url).pathname)
);

// deno-lint-ignore no-control-regex
const plain = (text: string) => text.replace(/\x1b\[[0-9;]*m/g, "");

function toPath(location: string): string {
  return location.startsWith("file://") ? fileURLToPath(location) : location;
}

/** Whether `file` (a path) is one of appserve's own modules: the bundle's, or the source tree's. */
function isOwn(file: string): boolean {
  return file.includes("/$bunfs/") || file.includes("~BUN") || OWN.some((d) => file.startsWith(d));
}

// `at [async] [NAME (]LOCATION:LINE:COL[)]`. The location is an absolute path or file URL
// and runs to the last :LINE:COL, so folders named `my app (copy)` keep their frames; a NAME
// is only taken when a location follows its parenthesis.
const FRAME =
  /^\s+at (?:async )?(?:(.+?) \((?=(?:file:\/\/)?\/))?((?:file:\/\/)?\/.*):(\d+):(\d+)\)?$/;

interface Frame {
  name?: string;
  position: Position;
}

/** The frames of a stack that point into the user's files, paths made plain. */
function userFrames(stack: string): Frame[] {
  const frames: Frame[] = [];
  for (const line of plain(stack).split("\n")) {
    const m = FRAME.exec(line);
    if (!m) continue;
    const file = toPath(m[2]);
    if (isOwn(file)) continue;
    frames.push({ name: m[1], position: { file, line: Number(m[3]), column: Number(m[4]) } });
  }
  return frames;
}

// A frame of a stack, wherever it is (`node:events`, `ext:...`, `<anonymous>` too).
const AT_LINE = /^\s+at /;

/**
 * `stack` as the user wants it: appserve's own frames left out, and with them the runtime's that
 * sit among them (the server's `emit (node:events ...)`), which are no place in the user's code.
 * The message, the user's frames, their dependencies' (node_modules) and the runtime's frames the
 * user's code called through stay. A stack with no frame of the user's (an error appserve made)
 * is kept as it is.
 */
export function withoutOwnFrames(stack: string): string {
  const lines = stack.split("\n");
  // A line that is no frame (the message) is kept; a frame that names no file is the runtime's.
  const fileOf = (line: string) =>
    AT_LINE.test(plain(line)) ? FRAME.exec(plain(line))?.[2] ?? "" : undefined;
  return withoutOwn(lines, fileOf).join("\n");
}

const absolute = (file: string) => file.startsWith("/") || file.startsWith("file://");

/**
 * `entries` (a stack's lines, or V8's call sites) without appserve's own frames and the runtime's
 * among them: `fileOf` gives an entry's location (a path, a file URL, or a runtime's name such as
 * `node:events`), undefined for an entry that is no frame (kept). All are kept when no frame is
 * the user's.
 */
export function withoutOwn<T>(entries: T[], fileOf: (entry: T) => string | undefined): T[] {
  const files = entries.map(fileOf);
  if (!files.some((f) => f !== undefined && absolute(f) && !isOwn(toPath(f)))) return entries;
  let amongOwn = false;
  return entries.filter((_, i) => {
    const file = files[i];
    if (file === undefined) return true;
    if (absolute(file)) amongOwn = isOwn(toPath(file));
    return !amongOwn;
  });
}

const frameLine = ({ name, position }: Frame) =>
  name ? `    at ${name} (${where(position)})` : `    at ${where(position)}`;

/** The offending line of a syntax error and a caret under its column. */
function codeFrame(position: Position, lineText?: string): string {
  let text = lineText;
  if (text === undefined) {
    try {
      text = readFileSync(position.file, "utf8").split("\n")[position.line - 1];
    } catch {
      return "";
    }
  }
  if (text === undefined) return "";
  const gutter = String(position.line);
  return [
    `    ${gutter} | ${text}`,
    `    ${" ".repeat(gutter.length)} | ${" ".repeat(Math.max(0, position.column - 1))}^`,
  ].join("\n");
}

/** Bun's BuildMessage/ResolveMessage: a position, no stack. */
function bunMessage(error: { name?: string; message: string; position?: unknown }) {
  const p = error.position as { file?: string; line?: number; column?: number; lineText?: string };
  const kind = error.constructor?.name === "BuildMessage" ? "SyntaxError" : "Error";
  if (!p?.file || !p.line) return { headline: `${kind}: ${error.message}`, detail: "" };
  const position = { file: p.file, line: p.line, column: p.column ?? 0 };
  return {
    headline: `${where(position)}: ${kind}: ${error.message}`,
    detail: kind === "SyntaxError" ? codeFrame(position, p.lineText) : "",
  };
}

// Of several errors at once, the ones listed after the first's report.
const MORE_SHOWN = 3;

/**
 * Bun's AggregateError of several BuildMessages (a module with more than one parse error):
 * the first described as a single one would be, the next few as lines under it.
 */
function severalErrors(errors: unknown[]): UserErrorReport {
  const [first, ...more] = errors.map(describeOne);
  const lines = more.slice(0, MORE_SHOWN).map((r) => `    ${r.headline}`);
  if (more.length > MORE_SHOWN) lines.push(`    and ${more.length - MORE_SHOWN} more`);
  return { headline: first.headline, detail: [first.detail, ...lines].filter(Boolean).join("\n") };
}

// `at LOCATION`, then perhaps Deno's own frame on the same line (`at ext:core/01_core.js:405:7`).
const AT = /^\s+at ((?:file:\/\/)?\/\S*?):(\d+):(\d+)(?:$|\s+at )/;

// Deno's causes of an error it words itself: `    0: failed to create directory ...`.
const CAUSE = /^\s+\d+: /;

/**
 * Deno's error for an import it cannot resolve or cache (an npm package or version that does not
 * exist, a cache it cannot write): one line, perhaps its causes as numbered lines, then the
 * importing file's location as `at` lines in the message itself, with Deno's internals. The
 * location goes first, as for any error, the causes on the same line after the message; the
 * message's lines are not repeated.
 */
function placedMessage(name: string, first: string, lines: string[]): UserErrorReport | undefined {
  const causes = lines.slice(0, Math.max(0, lines.findIndex((l) => !CAUSE.test(l))));
  const rest = lines.slice(causes.length);
  if (rest.length === 0 || !rest.every((l) => /^\s+at /.test(l))) return undefined;
  const m = AT.exec(rest[0]);
  if (!m) return undefined;
  const at = { file: toPath(m[1]), line: Number(m[2]), column: Number(m[3]) };
  if (isOwn(at.file)) return undefined;
  const said = [first, ...causes.map((l) => l.replace(CAUSE, ""))].join(": ");
  // Further frames of the user's code in the message, should there be any, stay under it.
  const more = userFrames(rest.slice(1).join("\n")).filter((f) => where(f.position) !== where(at));
  return { headline: `${where(at)}: ${name}: ${said}`, detail: more.map(frameLine).join("\n") };
}

/** Describes an error thrown by (or while loading) the user's code, and its causes. */
export function describeUserError(error: unknown): UserErrorReport {
  const report = describeOne(error);
  const chain = causeChain(error, describeCause);
  if (!chain) return report;
  return { headline: report.headline, detail: [report.detail, chain].filter(Boolean).join("\n") };
}

/**
 * A cause as Deno shows it, `Name: message` then the user's frames; one without a stack (Bun's
 * BuildMessage) as its report.
 */
function describeCause(error: Error): string {
  if (typeof error.stack !== "string") return userErrorText(describeOne(error));
  const [first, ...rest] = plain(String(error.message)).split("\n");
  const frames = userFrames(error.stack).map(frameLine);
  return [`${error.name}: ${first}`, ...rest, ...frames].join("\n");
}

// Deno's advice under its message: "hint: ... try running `deno add npm:dayjs`".
const HINT = /^\s*hint: /;

/**
 * Deno's message, up to its code frame (`  |`), hint or location, as one line: a token it quotes
 * may hold a line break (`got 'jsx text (\n    )'`), which a log line shows as a space.
 */
function denoMessage(first: string, rest: string[]): string {
  const end = rest.findIndex((l) => /^\s*(?:\d+\s*)?\||^\s+at /.test(l) || HINT.test(l));
  const more = rest.slice(0, end === -1 ? rest.length : end).map((l) => l.trim());
  return [first.trimEnd(), ...more].join(" ");
}

function describeOne(error: unknown): UserErrorReport {
  if (!(error instanceof Error) && !(error as { position?: unknown })?.position) {
    return { headline: `Uncaught ${String(error)}`, detail: "" };
  }
  const e = error as Error & { position?: unknown };
  // An aggregate of errors with a place, and no frame of the user's code to show instead.
  if (error instanceof AggregateError && error.errors.length > 0) {
    const placed = error.errors.every((inner) => inner?.position !== undefined);
    if (placed && userFrames(error.stack ?? "").length === 0) return severalErrors(error.errors);
  }
  if (e.position !== undefined && typeof e.stack !== "string") return bunMessage(e);
  const message = plain(e.message);
  const [first, ...rest] = message.split("\n");
  // Deno: `SyntaxError: ...` with a code frame and the location inside a TypeError's message.
  const denoSyntax = /^(SyntaxError|Module not found|Relative import path|Import)/.test(first) &&
    rest.some((l) => /^\s+at /.test(l));
  if (denoSyntax) {
    // The first location after "at" (a frame of Deno's own may follow it on the same line).
    const m = /^\s+at ((?:file:\/\/)?\/\S*?):(\d+):(\d+)/m.exec(rest.join("\n"));
    const at = m ? { file: toPath(m[1]), line: Number(m[2]), column: Number(m[3]) } : undefined;
    const said = denoMessage(first, rest);
    const headline = first.startsWith("SyntaxError") ? said : `${e.name}: ${said}`;
    const hints = rest.filter((l) => HINT.test(l)).map((l) => `    ${l.trim()}`);
    if (!at) return { headline, detail: hints.join("\n") };
    const frame = first.startsWith("SyntaxError") ? codeFrame(at) : "";
    return {
      headline: `${where(at)}: ${headline}`,
      detail: [frame, ...hints].filter(Boolean).join("\n"),
    };
  }
  const placed = placedMessage(e.name, first, rest);
  if (placed) return placed;
  const frames = userFrames(e.stack ?? "");
  // Bun's ResolveMessage (an import that does not resolve) names its referrer itself, but
  // has no position: no line and column for it.
  const head = `${e.name === "ResolveMessage" ? "Error" : e.name}: ${first}`;
  const at = frames[0]?.position;
  // A message of several lines keeps them all, between the headline and the frames.
  const detail = [...rest, ...frames.map(frameLine)].join("\n");
  return { headline: at ? `${where(at)}: ${head}` : head, detail };
}

/** The report as one text: the headline, then its detail lines. */
export function userErrorText(report: UserErrorReport): string {
  return report.detail ? `${report.headline}\n${report.detail}` : report.headline;
}

/** The innermost frame of the user's code in `stack`, as FILE:LINE:COL; undefined when none. */
export function userCallSite(stack: string): string | undefined {
  const first = userFrames(stack)[0];
  return first && where(first.position);
}

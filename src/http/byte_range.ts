// A `Range` request answered from a file body as Bun.serve answers it (206 with the part, 416 for
// a range past the end, the whole 200 for anything else), so that an app moved from Bun.serve to
// appserve's shared socket keeps its video seeking and resumed downloads. Only the runtime knows a
// file body (Runtime.fileBody); Deno's server answers no Range, and has none. The rules, measured
// on Bun.serve, are in docs/architecture.md ("Range requests on file bodies").

import type { FileBody } from "../runtime/types.ts";
import type { RequestHead } from "./parser.ts";

/** The range to send, first and last byte included. */
export interface ByteRange {
  start: number;
  end: number;
}

/** A range the file cannot satisfy: the answer is 416. */
export const UNSATISFIABLE = "unsatisfiable";

// One range of bytes; blanks around each part are allowed, as Bun.serve allows them. A list
// (`0-1,5-6`) is no match: Bun.serve answers it with the whole file, not a multipart body.
const RANGE_RE = /^[ \t]*bytes[ \t]*=[ \t]*([0-9]*)[ \t]*-[ \t]*([0-9]*)[ \t]*$/i;
// Bun.serve's positions are 64-bit unsigned: a longer number makes the header one it ignores.
const U64_MAX = "18446744073709551615";

// A position, or -1 when it does not fit in 64 bits. Past 2^53 it is not exact, which changes
// nothing: it is past the end of any file.
function position(digits: string): number {
  let i = 0;
  while (i < digits.length - 1 && digits.charCodeAt(i) === 48) i++;
  if (i > 0) digits = digits.slice(i);
  if (digits.length > U64_MAX.length || (digits.length === U64_MAX.length && digits > U64_MAX)) {
    return -1;
  }
  return Number(digits);
}

/**
 * The part of a body of `length` bytes that the `Range` value `value` asks for; UNSATISFIABLE
 * when it starts past the end (or asks for the last 0 bytes); null when the header is to be
 * ignored (malformed, another unit, a list of ranges, a first byte after the last).
 */
export function parseRange(
  value: string,
  length: number,
): ByteRange | typeof UNSATISFIABLE | null {
  const m = RANGE_RE.exec(value);
  if (m === null) return null;
  const [, first, last] = m;
  if (first === "") {
    // The last `n` bytes.
    if (last === "") return null;
    const n = position(last);
    if (n < 0) return null;
    if (n === 0) return UNSATISFIABLE;
    // Of an empty body there is nothing to take: Bun.serve sends it whole (empty).
    if (length === 0) return null;
    return { start: Math.max(0, length - n), end: length - 1 };
  }
  const start = position(first);
  if (start < 0) return null;
  let end = length - 1;
  if (last !== "") {
    const given = position(last);
    if (given < 0 || given < start) return null;
    if (given < end) end = given;
  }
  if (start >= length) return UNSATISFIABLE;
  return { start, end };
}

/**
 * Whether an `If-Range` value lets the range through: "" (none) does; an entity tag when it is
 * the response's strong ETag; a date when it is the response's Last-Modified. A weak tag never.
 */
export function ifRangeHolds(value: string, headers: Headers): boolean {
  if (value === "") return true;
  if (value.startsWith("W/")) return false;
  if (value.charCodeAt(0) === 34) return headers.get("etag") === value;
  const modified = headers.get("last-modified");
  if (modified === null) return false;
  const when = Date.parse(value);
  return !Number.isNaN(when) && when === Date.parse(modified);
}

// The value of the first field named `name` (lower case), as Bun.serve reads it; null without one.
function firstField(head: RequestHead, name: string): string | null {
  const fields = head.headers;
  const n = name.length;
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i][0];
    if (f.length === n && f.toLowerCase() === name) return fields[i][1];
  }
  return null;
}

/**
 * The answer to send instead of `response` when the request asks for a range of its file body
 * (`file`), as Bun.serve answers: a GET, the app's status 200 and no Content-Range of its own;
 * else `response` itself. `impliedType`: the type the writer would add to the whole file's
 * answer (Runtime.impliedType), kept on the part.
 */
export function answerRange(
  response: Response,
  head: RequestHead,
  file: FileBody,
  impliedType: string | null,
): Response {
  const range = firstField(head, "range");
  if (range === null) return response;
  const headers = response.headers;
  if (headers.has("content-range")) return response;
  if (!ifRangeHolds(firstField(head, "if-range") ?? "", headers)) return response;
  const length = file.length();
  if (length < 0) return response;
  const part = parseRange(range, length);
  if (part === null) return response;
  const out = new Headers(headers);
  out.delete("content-length");
  if (part === UNSATISFIABLE) {
    // The app's fields, and no body: nothing of the file is read.
    out.set("content-range", `bytes */${length}`);
    out.append("accept-ranges", "bytes");
    return new Response(null, { status: 416, headers: out });
  }
  const { start, end } = part;
  if (impliedType !== null && !out.has("content-type")) out.set("content-type", impliedType);
  // The part's length is the writer's Content-Length: the slice streams, raw.
  out.set("content-length", String(end - start + 1));
  out.set("content-range", `bytes ${start}-${end}/${length}`);
  out.append("accept-ranges", "bytes");
  return new Response(file.slice(start, end + 1), { status: 206, headers: out });
}

/** `response`, or the answer to its request's Range (answerRange) when it is a file body. */
export function rangedResponse(
  response: Response,
  head: RequestHead,
  fileBody: (response: Response) => FileBody | null,
  impliedType: ((response: Response) => string | null) | undefined,
): Response {
  // The cheap tests first: most responses are not a GET's 200 of a file.
  if (head.method !== "GET") return response;
  const file = fileBody(response);
  if (file === null || response.status !== 200) return response;
  return answerRange(response, head, file, impliedType?.(response) ?? null);
}

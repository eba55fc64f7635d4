// The body bytes of a response a native server (--reuse-port) sends, for the access log's %(b)s
// and %(B)s. The native servers say nothing of what they wrote: a body the runtime holds whole (a
// string, bytes, a file) is counted at once; a stream is counted as the server reads it, and the
// line is written when it ends or is cancelled, as appserve's own writer does. A stream's
// Content-Length is only what the app declared: a client that leaves gets less.

import { Buffer } from "node:buffer";
import { bodyOf, tapBody } from "../body_tap.ts";
import type { Runtime } from "../runtime/types.ts";

/** What the runtime tells of a body without reading it. */
export type BodyFacts = Pick<Runtime, "staticBody" | "knownLength">;

// Statuses whose responses carry no body, whatever the app gives (RFC 9110 6.4.1).
const BODILESS = new Set([101, 204, 205, 304]);

/**
 * The body bytes the server sends for `response` to `request` when they are known without
 * reading the body, else -1 (a stream of unknown length).
 */
export function knownBodyBytes(request: Request, response: Response, facts: BodyFacts): number {
  if (request.method === "HEAD" || BODILESS.has(response.status)) return 0;
  const whole = facts.staticBody(response);
  if (typeof whole === "string") return Buffer.byteLength(whole);
  if (whole !== null) return whole.byteLength;
  const length = facts.knownLength(response);
  if (length >= 0) return length;
  // Only now: reading `body` turns a static body a runtime keeps into a stream.
  return bodyOf(response) === null ? 0 : -1;
}

/** The bytes of a chunk a stream gives the server (a string's as UTF-8). */
export function chunkBytes(value: Uint8Array | string): number {
  return typeof value === "string" ? Buffer.byteLength(value) : value.byteLength ?? 0;
}

/**
 * `response` with its body stream counted as the server reads it: `done(bytes)` once, when the
 * stream ends, fails, or is cancelled (the client went away), or when `open`'s entry for it is
 * called (the worker cuts it off: Deno.serve cancels no stream then), `done(bytes, lead)` then:
 * the lead of the WARNING that names it (cutOffLead).
 */
export function countedBody(
  response: Response,
  done: (bytes: number, cut?: string) => void,
  open: Set<(cut?: string) => void>,
): Response {
  let bytes = 0;
  let ended = false;
  const end = (cut?: string) => {
    if (ended) return;
    ended = true;
    open.delete(end);
    done(bytes, cut);
  };
  open.add(end);
  return tapBody(response, {
    chunk(value) {
      bytes += chunkBytes(value);
    },
    end: () => end(),
  });
}

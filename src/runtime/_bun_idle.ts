/// <reference types="npm:bun-types@1.4.4" />
// Bun.serve's one idle timer per connection, made to keep appserve's settings (measured, Bun
// 1.4.4): it fires on a 4-second tick, due a whole number of ticks after it is set, rounded up
// (2 s is the next tick: at once, if the tick is near, which under load cut off every connection
// whose next request was on its way at each tick); so it is set a tick longer (up to 4 s late,
// never early), and what server.timeout(request, s) sets stays with the connection after the response
// (a call once the response is done changes nothing). So: no timer while the app works or its
// stream is under way (appserve's --timeout and --request-timeout watch those, as on the shared
// socket), and --keep-alive's from when the body is handed over whole or its stream has ended.
// That moment is also when Deno's `info.completed`, which appserve gives Bun's server too, settles.

import { bodyOf, tapBody } from "../body_tap.ts";
import { AT_ONCE, atOnceLength, type KeptSends } from "./_say_close.ts";

/** Seconds a connection waits for its first request: the shared socket's header timeout. */
export const HEAD_WAIT = 30;

/** Bun's idleTimeout and server.timeout() take at most 255 seconds. */
export const IDLE_MAX = 255;

// Bun's timer tick, in seconds: a wait set in the middle of one would end at its end.
const TICK = 4;

/** What server.timeout() is given for a wait of at least `seconds`. */
function idleSeconds(seconds: number): number {
  return Math.min(seconds + TICK, IDLE_MAX);
}

// Statuses whose responses carry no body, whatever the app gives (RFC 9110 6.4.1).
const BODILESS = new Set([204, 205, 304]);

/** What is known of a body without reading it (the runtime's static-body facts). */
export interface BodyKnown {
  remembered(response: Response): string | Uint8Array | null;
  knownLength(response: Response): number;
}

/**
 * `response`, as handed to Bun.serve for `request`, with the connection's idle timer set so an
 * idle kept-alive connection closes after `keepAlive` seconds (over 0) once the body has gone out.
 * `done` is told then too (a large body of known length: once handed over). A stream is counted
 * in `sends` to its end; a large body of known length is one whose end Bun does not tell.
 */
export function idleAfter(
  response: Response,
  request: Request,
  server: Bun.Server<unknown>,
  keepAlive: number,
  known: BodyKnown,
  done: () => void,
  sends: KeptSends,
): Response {
  const idle = () => {
    // Told even if the timer throws: the request settles (info.completed) all the same.
    try {
      server.timeout(request, idleSeconds(keepAlive));
    } finally {
      done();
    }
  };
  if (request.method === "HEAD" || BODILESS.has(response.status)) {
    idle();
    return response;
  }
  // A remembered string may be large too (bytes are remembered only up to AT_ONCE).
  const remembered = known.remembered(response);
  const length = remembered === null ? known.knownLength(response) : atOnceLength(remembered);
  if (length >= 0) {
    // A large body may wait on a client that reads slowly: it gets what a fresh connection gets.
    if (length <= AT_ONCE) idle();
    else {
      server.timeout(request, idleSeconds(Math.max(HEAD_WAIT, keepAlive)));
      sends.untold();
      done();
    }
    return response;
  }
  if (bodyOf(response) === null) {
    idle();
    return response;
  }
  // The timer is set when the server has read the stream's end.
  const sent = sends.begin();
  return tapBody(response, {
    // Counted as ended first: a throw from the timer must not hold every later stop's linger.
    end: () => {
      sent();
      idle();
    },
  });
}

/**
 * `response`, as handed to Bun.serve for `request` on a connection that closes after it: `done` is
 * told once its stream has ended when `tap` (someone waits for it), else once handed over.
 */
export function doneAfter(
  response: Response,
  request: Request,
  known: BodyKnown,
  done: () => void,
  tap: boolean,
): Response {
  if (
    tap && request.method !== "HEAD" && !BODILESS.has(response.status) &&
    known.remembered(response) === null && known.knownLength(response) < 0 &&
    bodyOf(response) !== null
  ) return tapBody(response, { end: done });
  done();
  return response;
}

// A native server's stop and its kept-alive connections: the answer that tells its client the
// connection closes after it (Bun.serve then closes it; Deno.serve sends the header and reads on,
// its client being the one to close), and the answers still going out on connections kept alive.

import { Buffer } from "node:buffer";

// The statuses whose Response cannot have a body (the constructor throws on one).
const NULL_BODY = new Set([204, 205, 304]);

/**
 * `response` with `connection: close`: in place, or, when its headers cannot change (Deno's
 * Response.redirect and fetch() answers), a copy with the same status, headers and body stream.
 * Unsaid, Deno.serve would keep such a connection open until its shutdown() closes it under the
 * client's next request. Bun's headers always change (Bun 1.4.4), so a Bun.file body is never
 * copied into a stream. Not on an upgrade (101, Deno's) nor Response.error() (status 0).
 */
export function sayClose(response: Response): Response {
  if (response.status < 200) return response;
  try {
    response.headers.set("connection", "close");
    return response;
  } catch {
    // Immutable headers: copied below.
  }
  // Deno.serve fails a used body as it would have.
  if (response.bodyUsed) return response;
  const headers = new Headers(response.headers);
  headers.set("connection", "close");
  // The same stream, handed on unread: nothing of the body is read or buffered here.
  return new Response(NULL_BODY.has(response.status) ? null : response.body, {
    status: response.status,
    statusText: response.statusText,
    headers,
  });
}

/** A body this small goes into the socket's buffers with the head: sent once handed over. */
export const AT_ONCE = 64 * 1024;

/**
 * `body`'s length in bytes as far as comparing it with AT_ONCE needs: a string's UTF-8 (1 to 3
 * bytes a unit) is measured only where its length in units leaves that open.
 */
export function atOnceLength(body: string | Uint8Array): number {
  if (typeof body !== "string" || body.length > AT_ONCE || 3 * body.length <= AT_ONCE) {
    return body.length;
  }
  return Buffer.byteLength(body, "utf8");
}

/** Whether `headers` has the `close` token in Connection. */
export function saysCloseIn(headers: Headers): boolean {
  const value = headers.get("connection");
  return value !== null && /(?:^|,)[ \t]*close[ \t]*(?:,|$)/i.test(value);
}

/**
 * The kept-alive answers a native server is still sending, and when the last of them ended. A
 * client told keep-alive sends its next request once it has the whole answer: a stop that closed
 * the connection right after the answer's end lost it.
 */
// How often a stop asks a server that tells no answer's end whether it still sends one.
const UNTOLD_TICK_MS = 50;

export class KeptSends {
  #count = 0;
  #lastEnd = -Infinity;
  #idle: (() => void) | undefined;
  #untold = false;

  /** One more, under way until `sent` settles (a rejection is a client gone: ended too). */
  track(sent: Promise<unknown>): void {
    this.#count++;
    sent.then(this.#ended, this.#ended);
  }

  /** One more, whose end is told by calling the function returned (once). */
  begin(): () => void {
    this.#count++;
    return this.#ended;
  }

  /**
   * An answer went out whose end the server does not tell (Bun.serve's large bytes or file): the
   * linger then also waits for the server to have nothing under way (linger's `busy`).
   */
  untold(): void {
    this.#untold = true;
  }

  #ended = () => {
    this.#lastEnd = performance.now();
    if (--this.#count === 0) this.#idle?.();
  };

  /**
   * A stop's linger: `lingerMs` from now, and until `lingerMs` after the end of the last answer
   * still being sent (after its end, at most half the time left before `deadline`, a
   * performance.now() time: the stop's other answers get the rest). Nothing new is tracked once
   * the stop has begun: its answers say close. `busy`: whether the server still sends anything,
   * asked when an untold() answer went out.
   */
  async linger(lingerMs: number, deadline = Infinity, busy?: () => boolean): Promise<void> {
    let end = performance.now() + lingerMs;
    // Asked every tick of the stop's: the server tells no end (Bun.serve's pendingRequests).
    if (this.#untold && busy?.()) {
      this.track(
        new Promise<void>((resolve) => {
          // Not past the deadline: the stop's cut comes then anyway.
          const timer = setInterval(() => {
            if (busy() && performance.now() < deadline) return;
            clearInterval(timer);
            resolve();
          }, UNTOLD_TICK_MS);
        }),
      );
    }
    if (this.#count > 0) {
      await new Promise<void>((resolve) => this.#idle = resolve);
      const last = this.#lastEnd;
      end = Math.max(end, last + Math.min(lingerMs, (deadline - last) / 2));
    }
    const wait = end - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  }
}

// The DEBUG lines of a connection's end that is nobody's fault: a socket error gunicorn's workers
// ignore, in their words (workers/sync.py and gthread.py: "Ignoring connection reset", "Ignoring
// EPIPE", ...), and a client that never sent a request.

import type { RemoteAddr } from "./types.ts";

/** The line for `error` on a connection's socket; `tls`: the socket is a TLS wrapper. */
export function socketErrorLine(error: unknown, tls: boolean): string {
  const code = (error as { code?: unknown } | null)?.code;
  if (code === "ECONNRESET") return "Ignoring connection reset";
  if (code === "EPIPE") return "Ignoring EPIPE";
  if (code === "ENOTCONN") return "Ignoring socket not connected";
  const message = error instanceof Error ? error.message : String(error);
  // A TLS layer's errors are handshakes that failed (no certificate, a protocol or cipher the
  // two ends do not share, plain bytes after the first record): the client's, not the server's.
  return tls ? `Error processing SSL request: ${message}` : `Socket error: ${message}`;
}

/**
 * The line for a connection closed with no request ever received (nothing of one: a partial head
 * is a 408 and a WARNING): at the head timeout, or at a graceful stop's grace (`closing`).
 */
export function noRequestLine(
  remote: RemoteAddr,
  { headerTimeoutMs, closing }: { headerTimeoutMs: number; closing: boolean },
): string {
  const within = closing ? "before the stop" : `in ${headerTimeoutMs / 1000} s`;
  return `Closed connection from ip=${remote.hostname || "unix"}: no request received ${within}`;
}

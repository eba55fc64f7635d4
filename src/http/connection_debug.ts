// The DEBUG line gunicorn's workers write for a socket error they ignore, in their words
// (workers/sync.py and gthread.py: "Ignoring connection reset", "Ignoring EPIPE", ...).

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

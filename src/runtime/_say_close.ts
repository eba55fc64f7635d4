// A native server's answer that tells its client the connection closes after it (Bun.serve then
// closes it; Deno.serve sends the header and reads on, its client being the one to close).

/**
 * `response` with `connection: close`, in place. Not on an upgrade (101, Deno's), nor on headers
 * that cannot change (Response.redirect, fetch()'s): Bun still closes such a connection, Deno's
 * shutdown() does.
 */
export function sayClose(response: Response): Response {
  if (response.status === 101) return response;
  try {
    response.headers.set("connection", "close");
  } catch {
    // Immutable headers.
  }
  return response;
}

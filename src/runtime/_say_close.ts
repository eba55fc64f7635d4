// A native server's answer that tells its client the connection closes after it (Bun.serve then
// closes it; Deno.serve sends the header and reads on, its client being the one to close).

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

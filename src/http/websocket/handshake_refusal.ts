// The upgrades appserve refuses before any WebSocket library sees them, in both socket modes, so
// the answer is the same on appserve's layer (where `ws` would say 400 to any bad version, and
// take version 8) and on Deno.serve (which takes any version, and throws without a key).

import { statusReply } from "../status_reply.ts";

// RFC 6455 4.1: the key is 16 random bytes, base64-encoded.
const KEY = /^[+/0-9A-Za-z]{22}==$/;

/**
 * The answer to an upgrade request whose handshake cannot succeed (RFC 6455 4.2.1, 4.2.2), or
 * null: 400 without a valid `Sec-WebSocket-Key`, 426 with `Sec-WebSocket-Version: 13` for any
 * version but 13 (what Bun.serve answers). Both close the connection.
 */
export function handshakeRefusal(request: Request): Response | null {
  const headers = request.headers;
  const key = headers.get("sec-websocket-key");
  if (key === null || !KEY.test(key)) {
    return statusReply(400, "missing or invalid Sec-WebSocket-Key");
  }
  const version = headers.get("sec-websocket-version");
  if (version === "13") return null;
  const response = statusReply(
    426,
    version === null
      ? "missing Sec-WebSocket-Version"
      : `unsupported Sec-WebSocket-Version "${version}"`,
  );
  response.headers.set("sec-websocket-version", "13");
  return response;
}

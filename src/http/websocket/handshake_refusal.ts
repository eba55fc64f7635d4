// The upgrades appserve refuses before any WebSocket library sees them, in both socket modes, so
// the answer is the same on appserve's layer (where `ws` would say 400 to any bad version, and
// take version 8) and on Deno.serve (which takes any version, and throws without a key). A
// request that asks for no WebSocket at all is not refused: Deno.upgradeWebSocket throws for it
// and Bun's server.upgrade() says false, and apps fall back on that.

import { statusReply } from "../status_reply.ts";

// RFC 6455 4.1: the key is 16 random bytes, base64-encoded.
const KEY = /^[+/0-9A-Za-z]{22}==$/;

function hasToken(value: string | null, token: string): boolean {
  return value !== null && value.split(",").some((t) => t.trim().toLowerCase() === token);
}

/**
 * Why `request` asks for no WebSocket, in Deno.upgradeWebSocket's words and order (`Upgrade`
 * without the token `websocket`, then `Connection` without `upgrade`), or null when it asks.
 */
export function notAWebSocketRequest(request: Request): string | null {
  const headers = request.headers;
  if (!hasToken(headers.get("upgrade"), "websocket")) {
    return "Invalid Header: 'upgrade' header must contain 'websocket'";
  }
  if (!hasToken(headers.get("connection"), "upgrade")) {
    return "Invalid Header: 'connection' header must contain 'Upgrade'";
  }
  return null;
}

/**
 * The answer to a WebSocket upgrade request whose handshake cannot succeed (RFC 6455 4.2.1,
 * 4.2.2), or null (a good handshake, or a request asking for no WebSocket): 400 without a valid
 * `Sec-WebSocket-Key`, 426 with `Sec-WebSocket-Version: 13` for any version but 13 (what
 * Bun.serve answers). Both say `connection: close`, and appserve's layer and Bun.serve close it;
 * Deno.serve would keep the connection, so its caller drops that header there.
 */
export function handshakeRefusal(request: Request): Response | null {
  if (notAWebSocketRequest(request) !== null) return null;
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

// src/http/websocket/handshake_refusal.ts on its own: which upgrade requests appserve answers in
// place of the 101 (RFC 6455 4.2.1, 4.2.2), in both socket modes.

import assert from "node:assert/strict";
import { handshakeRefusal, notAWebSocketRequest } from "../src/http/websocket/handshake_refusal.ts";

const KEY = "dGhlIHNhbXBsZSBub25jZQ==";

function upgrade(headers: Record<string, string>): Request {
  return new Request("http://x/ws", {
    headers: { connection: "Upgrade", upgrade: "websocket", ...headers },
  });
}

Deno.test("a valid key and version 13 are not refused", () => {
  assert.equal(
    handshakeRefusal(upgrade({ "sec-websocket-key": KEY, "sec-websocket-version": "13" })),
    null,
  );
});

Deno.test("no key, or one that is not 16 bytes in base64, gets 400", async () => {
  for (const key of [undefined, "", "short==", `${KEY}x`, KEY.replace("==", "=A")]) {
    const r = handshakeRefusal(
      upgrade({
        ...(key === undefined ? {} : { "sec-websocket-key": key }),
        "sec-websocket-version": "13",
      }),
    )!;
    assert.equal(r.status, 400, String(key));
    assert.equal(r.headers.get("connection"), "close");
    assert.match(await r.text(), /^Bad Request: missing or invalid Sec-WebSocket-Key\n$/);
  }
});

Deno.test("any version but 13, or none, gets 426 with Sec-WebSocket-Version: 13", async () => {
  for (const version of [undefined, "8", "12", "14", "13, 8", ""]) {
    const r = handshakeRefusal(
      upgrade({
        "sec-websocket-key": KEY,
        ...(version === undefined ? {} : { "sec-websocket-version": version }),
      }),
    )!;
    assert.equal(r.status, 426, String(version));
    assert.equal(r.headers.get("sec-websocket-version"), "13");
    assert.equal(r.headers.get("connection"), "close");
    assert.match(await r.text(), /^Upgrade Required: (missing|unsupported) Sec-WebSocket-Version/);
  }
});

Deno.test("a request that asks for no WebSocket is not refused, with Deno's reason", () => {
  const bad = { "sec-websocket-version": "8" };
  const cases: [Record<string, string>, string | null][] = [
    [{ upgrade: "h2c" }, "Invalid Header: 'upgrade' header must contain 'websocket'"],
    [{ upgrade: "" }, "Invalid Header: 'upgrade' header must contain 'websocket'"],
    [{ connection: "keep-alive" }, "Invalid Header: 'connection' header must contain 'Upgrade'"],
    [{ connection: "keep-alive, Upgrade", upgrade: "h2c, WebSocket" }, null],
  ];
  for (const [headers, reason] of cases) {
    const r = upgrade({ ...bad, ...headers });
    assert.equal(notAWebSocketRequest(r), reason, JSON.stringify(headers));
    assert.equal(handshakeRefusal(r) === null, reason !== null, JSON.stringify(headers));
  }
  const plain = new Request("http://x/");
  assert.equal(
    notAWebSocketRequest(plain),
    "Invalid Header: 'upgrade' header must contain 'websocket'",
  );
  assert.equal(handshakeRefusal(plain), null);
});

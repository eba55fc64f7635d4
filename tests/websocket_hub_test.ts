// src/http/websocket/hub.ts through appserve's HTTP layer (createHttpServer): what happens to an
// upgrade request the app does not upgrade, the errors of each shape, and the counts it reports.

import assert from "node:assert/strict";
import type { FetchHandler, WebSocketHandlers } from "../src/fetch_handler.ts";
import { WebSocketHub, type WebSocketHubOptions } from "../src/http/websocket/hub.ts";
import { RawClient, withServer } from "./_http_server.ts";
import { connect } from "./_ws_client.ts";

const UPGRADE = "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n" +
  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

function hub(extra: Partial<WebSocketHubOptions> = {}): WebSocketHub {
  return new WebSocketHub({
    maxMessage: 1024,
    idleTimeout: 0,
    sendLimit: 1024 * 1024,
    warn: () => {},
    appError: () => {},
    ...extra,
  });
}

Deno.test("an upgrade request the app answers with its own response gets that response", async () => {
  const h = hub();
  // Deno's shape: upgradeWebSocket was called, but the app answered 403 instead of the 101.
  const handler: FetchHandler = (request) => {
    h.upgrader(request);
    return new Response("no", { status: 403 });
  };
  await withServer(handler, { websocket: h }, async (port) => {
    const c = await RawClient.connect({ port });
    await c.write(UPGRADE);
    const r = await c.read();
    assert.equal(r.status, 403);
    assert.equal(r.body.toString(), "no");
    c.close();
  });
});

Deno.test("Deno's upgrade of a request without Upgrade: websocket throws Deno's TypeError", () => {
  const h = hub();
  const request = new Request("http://x/");
  // Not offered by the HTTP layer: not ours (the native function gets it).
  assert.equal(h.upgrader(request), undefined);
  h.offer(request);
  assert.throws(() => h.upgrader(request), {
    name: "TypeError",
    message: "Invalid Header: 'upgrade' header must contain 'websocket'",
  });
});

Deno.test("server.upgrade() without websocket handlers throws as Bun's does; a plain request is false", () => {
  const h = hub();
  const plain = new Request("http://x/");
  assert.equal(h.upgradeBun(plain), false);
  const request = new Request("http://x/", {
    headers: { connection: "Upgrade", upgrade: "websocket" },
  });
  h.offer(request);
  assert.throws(() => h.upgradeBun(request), /set the "websocket" object in the default export/);
  h.setHandlers({});
  // Without `Connection: upgrade` it asks for no WebSocket.
  const noConnection = new Request("http://x/", { headers: { upgrade: "websocket" } });
  h.offer(noConnection);
  assert.equal(h.upgradeBun(noConnection), false);
  assert.equal(h.upgradeBun(request), true);
});

Deno.test("the hub counts sessions, says 1001 to each on a graceful close and ends each once", async () => {
  const counts: [number, boolean][] = [];
  const h = hub({ onCount: (open, opened) => counts.push([open, opened]) });
  const handlers: WebSocketHandlers = {
    message: (ws, m) => ws.send(m),
  };
  h.setHandlers(handlers);
  const ended: number[] = [];
  const handler: FetchHandler = (request, info) => {
    info.upgrade!(request, { data: 1 });
    return undefined as unknown as Response;
  };
  await withServer(handler, {
    websocket: h,
    onRequestDone: (_req, response) => ended.push(response.status),
  }, async (port, server) => {
    const a = await connect("native", `ws://127.0.0.1:${port}/`);
    const b = await connect("npm-ws", `ws://127.0.0.1:${port}/`);
    a.send("x");
    assert.equal(await a.next(), "x");
    b.send("y");
    assert.equal(await b.next(), "y");
    assert.equal(h.open, 2);
    assert.equal(server.connections, 2);
    const closing = server.close();
    assert.equal((await a.closed).code, 1001);
    assert.equal((await b.closed).code, 1001);
    await closing;
  });
  assert.equal(h.open, 0);
  assert.deepEqual(counts, [[1, true], [2, true], [1, false], [0, false]]);
  assert.deepEqual(ended, [101, 101]);
});

// `ws` loads on a process's first upgrade request, not at start (src/http/websocket/ws_library.ts):
// the first handshake waits for it, and a frame that arrives meanwhile is read once ws listens. Its own file: deno test gives each file a fresh module graph, and only a
// process's first handshake waits.

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { connect, createServer, type Socket } from "node:net";
import { WebSocketHub } from "../src/http/websocket/hub.ts";
import { wsLibraryLoaded } from "../src/http/websocket/ws_library.ts";
import { encodeFrame, upgradeRequest } from "./_ws_raw.ts";

Deno.test("the first upgrade waits for ws with the socket paused; a frame sent meanwhile is read", async () => {
  assert.equal(wsLibraryLoaded(), false, "ws is loaded before any upgrade");
  const hub = new WebSocketHub({
    maxMessage: 1024,
    idleTimeout: 0,
    sendLimit: 1024 * 1024,
    warn: () => {},
    appError: () => {},
  });
  hub.setHandlers({ message: (ws, m) => ws.send(m) });
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  const accepted = new Promise<Socket>((resolve) => server.once("connection", resolve));
  const client = connect(port, "127.0.0.1");
  const socket = await accepted;
  try {
    // The request head, read as appserve's HTTP layer reads it: the socket flows from here on.
    client.write(upgradeRequest(port, "/"));
    const head = await new Promise<string>((resolve) => {
      let text = "";
      const onData = (chunk: Buffer) => {
        text += chunk.toString("latin1");
        if (!text.includes("\r\n\r\n")) return;
        socket.off("data", onData);
        resolve(text);
      };
      socket.on("data", onData);
    });
    const headers = head.split("\r\n").slice(1).filter((l) => l).map((l) => {
      const colon = l.indexOf(":");
      return [l.slice(0, colon), l.slice(colon + 1).trim()] as [string, string];
    });
    const request = new Request(`http://127.0.0.1:${port}/`, { headers });
    hub.offer(request);
    assert.equal(hub.upgradeBun(request), true);
    const pending = hub.take(request, undefined)!;
    hub.complete(pending, { method: "GET", target: "/", headers }, socket, null, "", () => {});
    assert.equal(wsLibraryLoaded(), false, "the handshake did not wait");
    // Arrives while ws loads.
    client.write(encodeFrame({ op: 1, payload: "hi" }, 1024));
    const echo = Buffer.from([0x81, 2, 0x68, 0x69]);
    let got = Buffer.alloc(0);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no echo in ${got.toString("latin1")}`)),
        5000,
      );
      client.on("data", (chunk: Buffer) => {
        got = Buffer.concat([got, chunk]);
        if (!got.includes(echo)) return;
        clearTimeout(timer);
        resolve();
      });
    });
    assert.match(got.toString("latin1"), /^HTTP\/1\.1 101 /);
    assert.equal(wsLibraryLoaded(), true);
  } finally {
    client.destroy();
    socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  }
});

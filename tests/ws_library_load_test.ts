// `ws` loads on a process's first upgrade request, not at start (src/http/websocket/ws_library.ts):
// the first handshake waits for it, and a frame the client sent in the same write as its
// request is still read. Its own file: deno test gives each file a fresh module graph.

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { connect } from "node:net";
import type { FetchHandler } from "../src/fetch_handler.ts";
import { WebSocketHub } from "../src/http/websocket/hub.ts";
import { wsLibraryLoaded } from "../src/http/websocket/ws_library.ts";
import { withServer } from "./_http_server.ts";
import { encodeFrame, upgradeRequest } from "./_ws_raw.ts";

Deno.test("the first upgrade loads ws, waits for it and loses no frame sent with the request", async () => {
  assert.equal(wsLibraryLoaded(), false, "ws is loaded before any upgrade");
  const h = new WebSocketHub({
    maxMessage: 1024,
    idleTimeout: 0,
    sendLimit: 1024 * 1024,
    warn: () => {},
    appError: () => {},
  });
  h.setHandlers({
    message: (ws, m) => ws.send(m),
  });
  const handler: FetchHandler = (request, info) => {
    info.upgrade!(request);
    return undefined as unknown as Response;
  };
  await withServer(handler, { websocket: h }, async (port) => {
    const socket = connect(port, "127.0.0.1");
    const frame = encodeFrame({ op: 1, payload: "hi" }, 1024);
    socket.write(Buffer.concat([Buffer.from(upgradeRequest(port, "/"), "latin1"), frame]));
    const echo = Buffer.from([0x81, 2, 0x68, 0x69]);
    let got = Buffer.alloc(0);
    await new Promise<void>((resolve, reject) => {
      socket.on("data", (chunk: Buffer) => {
        got = Buffer.concat([got, chunk]);
        if (got.includes(echo)) resolve();
      });
      socket.on("close", () => reject(new Error(`closed after ${got.toString("latin1")}`)));
    });
    socket.destroy();
    assert.match(got.toString("latin1"), /^HTTP\/1\.1 101 /);
  });
  assert.equal(wsLibraryLoaded(), true);
});

// src/http/websocket/hub.ts through appserve's HTTP layer (createHttpServer): what happens to an
// upgrade request the app does not upgrade, the errors of each shape, and the counts it reports.

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { Socket } from "node:net";
import type { FetchHandler, WebSocketHandlers } from "../src/fetch_handler.ts";
import { WebSocketHub, type WebSocketHubOptions } from "../src/http/websocket/hub.ts";
import { RawClient, withServer } from "./_http_server.ts";
import { connect } from "./_ws_client.ts";
import { encodeFrame } from "./_ws_raw.ts";

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

Deno.test("the answers to the frames of one chunk leave in one write, not one write each", async () => {
  const h = hub();
  h.setHandlers({ message: (ws, m) => ws.send(m) });
  const handler: FetchHandler = (request, info) => {
    info.upgrade!(request);
    return undefined as unknown as Response;
  };
  // Every write of a node:net socket in this process; the client is Deno's own, not node:net.
  type Write = (this: Socket, ...args: unknown[]) => unknown;
  const proto = Socket.prototype as unknown as Record<"_write" | "_writev", Write>;
  const saved = { _write: proto._write, _writev: proto._writev };
  let writes = 0;
  for (const name of ["_write", "_writev"] as const) {
    proto[name] = function (this: Socket, ...args: unknown[]) {
      writes++;
      return saved[name].apply(this, args);
    };
  }
  try {
    await withServer(handler, { websocket: h }, async (port) => {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      try {
        const read = async (until: (text: string) => boolean): Promise<string> => {
          let text = "";
          const buf = new Uint8Array(4096);
          while (!until(text)) {
            const n = await conn.read(buf);
            if (n === null) throw new Error(`closed after ${JSON.stringify(text)}`);
            text += new TextDecoder("latin1").decode(buf.subarray(0, n));
          }
          return text;
        };
        await conn.write(new TextEncoder().encode(UPGRADE));
        assert.match(await read((t) => t.includes("\r\n\r\n")), /^HTTP\/1\.1 101 /);
        writes = 0;
        const frames = Array.from(
          { length: 8 },
          (_, i) => encodeFrame({ op: 1, payload: `m${i}` }, 1024),
        );
        await conn.write(new Uint8Array(Buffer.concat(frames)));
        // Eight echoes of four bytes each: 0x81, 2, "m", digit.
        const echoes = await read((t) => t.length >= 32);
        assert.equal(echoes, Array.from({ length: 8 }, (_, i) => `\x81\x02m${i}`).join(""));
        assert.ok(writes < 8, `${writes} writes for 8 answers to one chunk`);
      } finally {
        conn.close();
      }
    });
  } finally {
    Object.assign(proto, saved);
  }
});

Deno.test("a socket terminated in answer to a chunk's second frame still sends its answer to the first", async () => {
  const h = hub();
  h.setHandlers({
    message: (ws, m) => String(m) === "bye" ? ws.terminate() : ws.send(m),
  });
  const handler: FetchHandler = (request, info) => {
    info.upgrade!(request);
    return undefined as unknown as Response;
  };
  await withServer(handler, { websocket: h }, async (port) => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    try {
      let text = "";
      const buf = new Uint8Array(4096);
      await conn.write(new TextEncoder().encode(UPGRADE));
      while (!text.includes("\r\n\r\n")) {
        const n = await conn.read(buf);
        if (n === null) throw new Error(`closed after ${JSON.stringify(text)}`);
        text += new TextDecoder("latin1").decode(buf.subarray(0, n));
      }
      text = text.slice(text.indexOf("\r\n\r\n") + 4);
      const frames = [
        encodeFrame({ op: 1, payload: "hi" }, 1024),
        encodeFrame({ op: 1, payload: "bye" }, 1024),
      ];
      await conn.write(new Uint8Array(Buffer.concat(frames)));
      // Everything until the server drops the connection.
      for (;;) {
        const n = await conn.read(buf).catch(() => null);
        if (n === null) break;
        text += new TextDecoder("latin1").decode(buf.subarray(0, n));
      }
      assert.equal(text, "\x81\x02hi");
    } finally {
      conn.close();
    }
  });
});

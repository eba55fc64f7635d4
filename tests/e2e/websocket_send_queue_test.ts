// The send queue on the shared socket (docs/websockets.md, "The send queue"): an app that queues
// far more than the 16 MiB limit in one synchronous loop reaches a client that reads, whole and
// in order, in both shapes and worker classes, as from Deno.serve and Bun.serve; a client that
// stops reading is judged by the progress of the socket, not by the size of one burst.

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { join } from "node:path";
import { e2e, eventually, FIXTURES, start } from "../_helpers.ts";
import { rawConnect } from "../_raw.ts";
import { connect, wsUrl } from "../_ws_client.ts";

const BURST = join(FIXTURES, "websocket", "burst.ts");
const CLASSES = [["-k", "async"], ["-k", "gthread", "--threads", "2"]];
// 640 messages of 64 KiB: 40 MiB in one loop, past the 16 MiB limit.
const COUNT = 640;

e2e(
  "a burst of 40 MiB queued in one loop reaches a client that reads, whole, in both shapes " +
    "and worker classes (Bun's send() says -1, never 0)",
  async (target) => {
    for (const klass of CLASSES) {
      const server = start(target, ["-w", "1", ...klass, "-b", "127.0.0.1:0", BURST]);
      try {
        const url = await server.ready();
        for (const path of ["/", "/bun"]) {
          const c = await connect("npm-ws", wsUrl(url, path));
          c.send(`burst:${COUNT}`);
          let bytes = 0;
          for (let i = 0; i < COUNT; i++) {
            const m = await c.next(10_000);
            assert.ok(typeof m !== "string", `${klass[1]} ${path}: message ${i} is ${m}`);
            bytes += m.byteLength;
          }
          assert.equal(bytes, COUNT * 64 * 1024);
          const done = await c.next(10_000);
          assert.equal(done, path === "/bun" ? `done {"-1":${COUNT}}` : "done", klass[1]);
          c.close(1000);
          await c.closed;
        }
      } finally {
        await server.stop();
      }
      assert.doesNotMatch(server.output, /1008|WARNING/, klass[1]);
    }
  },
);

/** A masked client text frame (RFC 6455 §5.2), for a raw-socket client. */
function textFrame(text: string): Buffer {
  const payload = Buffer.from(text);
  const mask = Buffer.from([1, 2, 3, 4]);
  const masked = payload.map((b, i) => b ^ mask[i % 4]);
  return Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, Buffer.from(masked)]);
}

/** A client on `path` that asks for `messages` and then reads nothing. */
async function stalledClient(url: string, path: string, messages: string[]) {
  const socket = await rawConnect(Number(new URL(url).port));
  socket.write(
    `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
  );
  for (const m of messages) socket.write(textFrame(m));
  socket.pause();
  return socket;
}

e2e(
  "a client that stops reading after a burst is closed (1008 sent) with a warning naming the " +
    "session in both shapes " +
    "(Bun's send() then says 0: dropped)",
  async (target) => {
    const server = start(target, ["-w", "1", "-b", "127.0.0.1:0", BURST]);
    try {
      const url = await server.ready();
      for (const path of ["/", "/bun"]) {
        const before = server.output.length;
        const client = await stalledClient(url, path, [`burst:${COUNT}`, "drip"]);
        const seen = (re: RegExp) =>
          eventually(() => re.test(server.output.slice(before)), `${path}: ${re}`, 20_000);
        // Each stalled session is named: the request and the client, as other WebSocket lines.
        const port = client.localPort;
        await seen(
          new RegExp(
            String.raw`\[WARNING\] WebSocket closed with 1008: more than 16777216 bytes waited ` +
              String.raw`to be sent and none went out for 5 s \(the client stopped reading\): ` +
              String.raw`WebSocket session GET ${path} from 127\.0\.0\.1:${port}, open \d+\.\d s`,
          ),
        );
        if (path === "/bun") await seen(/burst: send returned 0/);
        client.destroy();
        // The close frame sent waits behind what the client never read: no close handshake.
        await seen(/burst: the app saw close 1006/);
      }
    } finally {
      await server.stop();
    }
  },
);

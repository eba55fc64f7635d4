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
      // Not a bare "1008": server.ready()'s plain GET / is an app error whose stack has column numbers.
      assert.doesNotMatch(server.output, /closed with 1008|\[WARNING\]/, klass[1]);
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

// Under the 16 MiB limit: handed to the socket in one go, nothing judged.
const UNDER_LIMIT = 240;

e2e(
  "a client that takes 1 MiB of a 15 MiB burst and leaves (RST) is logged with what the socket " +
    "wrote, not what was queued, in both shapes and worker classes, and its session ends at once",
  async (target) => {
    for (const klass of CLASSES) {
      const server = start(target, [
        "-w",
        "1",
        ...klass,
        "-b",
        "127.0.0.1:0",
        "--access-logfile",
        "-",
        BURST,
      ]);
      try {
        const url = await server.ready();
        for (const path of ["/", "/bun"]) {
          // The app's lines come on stderr, the access lines on stdout.
          const [err0, out0] = [server.stderr.length, server.stdout.length];
          const client = await stalledClient(url, path, [`burst:${UNDER_LIMIT}`]);
          client.resume();
          let got = 0;
          await new Promise<void>((resolve) => {
            client.on("data", (d: Buffer) => {
              got += d.length;
              if (got < 1024 * 1024) return;
              client.pause();
              resolve();
            });
          });
          // Unread bytes wait at the client: its close is a reset.
          client.destroy();
          const access = new RegExp(String.raw`"GET ${path} HTTP/1\.1" 101 (\d+)`);
          // Promptly: the session does not wait for the idle timeout.
          await eventually(
            () =>
              /burst: the app saw close 1006/.test(server.stderr.slice(err0)) &&
              access.test(server.stdout.slice(out0)),
            `${klass[1]} ${path}: the app's close and the access line`,
            3_000,
          );
          const logged = Number(access.exec(server.stdout.slice(out0))![1]);
          // At least what the client read (the 101 head aside), and not the 15 MiB queued: the rest
          // of what the socket wrote sat in the two kernels' buffers (4 to 6 MiB here).
          assert.ok(logged >= got - 200, `${klass[1]} ${path}: ${logged} logged, ${got} read`);
          assert.ok(logged < 12 * 1024 * 1024, `${klass[1]} ${path}: ${logged} logged`);
        }
      } finally {
        await server.stop();
      }
    }
  },
);

e2e(
  "one message over the limit that a slow client takes longer than 5 s to read is not judged " +
    "stalled: its progress counts as it goes out",
  async (target) => {
    const server = start(target, ["-w", "1", "-b", "127.0.0.1:0", BURST]);
    try {
      const url = await server.ready();
      const before = server.output.length;
      // 40 MiB read at 3 MiB a second: past the kernels' buffers, more than 16 MiB wait for
      // some 6 s, while the one write that holds them is under way; the drip's sends after it
      // ask the judge.
      const want = 40 * 1024 * 1024;
      const rate = 3 * 1024 * 1024 / 1000;
      const client = await stalledClient(url, "/", ["big:40", "drip"]);
      const t0 = performance.now();
      let got = 0;
      await new Promise<void>((resolve, reject) => {
        client.on("data", (d: Buffer) => {
          got += d.length;
          if (got >= want) return resolve();
          const ahead = got / rate - (performance.now() - t0);
          if (ahead <= 0) return;
          client.pause();
          setTimeout(() => client.resume(), ahead);
        });
        client.on("close", () => reject(new Error(`closed after ${got} bytes:\n${server.output}`)));
        client.resume();
      });
      client.destroy();
      assert.doesNotMatch(server.output.slice(before), /closed with 1008|\[WARNING\]/);
    } finally {
      await server.stop();
    }
  },
);

// A client that half-closes (TCP FIN after its last frame, or a close frame and FIN at once
// without waiting for the answer) ends its session at once, not at --websocket-idle-timeout: the
// app's close handler runs and the access line is written, on the shared socket and with
// --reuse-port (the native servers), as Deno.serve and Bun.serve end it.

import assert from "node:assert/strict";
import type { Buffer } from "node:buffer";
import { join } from "node:path";
import { e2e, eventually, FIXTURES, freePort, start } from "../_helpers.ts";
import { encodeFrame, openRaw } from "../_ws_raw.ts";

const NEUTRAL = join(FIXTURES, "websocket", "neutral.ts");
// Far past any wait below: a session that ended by it would time the test out instead.
const IDLE_TIMEOUT = "60";

const HELLO = encodeFrame({ op: 1, payload: "hello" }, 0);
// Close frame with code 4000 and no reason.
const CLOSE_4000 = encodeFrame({ op: 8, hex: "0fa0" }, 0);

for (const reusePort of [false, true]) {
  const mode = reusePort ? "with --reuse-port" : "on the shared socket";
  e2e(
    `a client that half-closes after a frame ends its session at once ${mode}: the app's close ` +
      "handler runs (1006 for a bare FIN, the client's code after a close frame) and the access " +
      "line is written",
    async (t) => {
      const port = await freePort();
      const server = start(t, [
        "-w",
        "1",
        ...(reusePort ? ["--reuse-port"] : []),
        "-b",
        `127.0.0.1:${port}`,
        "--websocket-idle-timeout",
        IDLE_TIMEOUT,
        "--access-logfile",
        "-",
        NEUTRAL,
      ]);
      try {
        await server.ready(1);
        // Deno.serve tells the app 0 (wasClean false) for a connection that ended with no close
        // frame, measured on Deno.serve alone (Deno 2.9.6); ws and Bun.serve say 1006.
        const bareFin = t.workers === "deno" && reusePort ? 0 : 1006;
        const cases: [string, Buffer[], number][] = [
          ["/report-close?fin", [HELLO], bareFin],
          ["/report-close?close", [HELLO, CLOSE_4000], 4000],
        ];
        for (const [path, frames, code] of cases) {
          const [err0, out0] = [server.stderr.length, server.stdout.length];
          const o = await openRaw(port, path);
          assert.equal(o.status, 101, path);
          const closed = new Promise<void>((resolve) => o.socket.once("close", () => resolve()));
          o.socket.on("error", () => {});
          o.socket.resume();
          for (const frame of frames) o.socket.write(frame);
          // FIN: the client sends no more but still reads.
          o.socket.end();
          const access = new RegExp(
            String.raw`"GET ${path.replace("?", "\\?")} HTTP/1\.1" 101 (\d+)`,
          );
          const close = /neutral: the server saw close (\d+)/;
          await eventually(
            () => close.test(server.stderr.slice(err0)) && access.test(server.stdout.slice(out0)),
            `${path}: the app's close and the access line`,
          );
          assert.equal(Number(close.exec(server.stderr.slice(err0))![1]), code, path);
          // The bytes sent: frames on the shared socket (the echo, 7, and the close frame's
          // answer, 4); message payloads on the native servers (the echo, 5).
          const sent = reusePort ? 5 : frames.length === 1 ? 7 : 11;
          assert.equal(Number(access.exec(server.stdout.slice(out0))![1]), sent, path);
          // The server ended its side too.
          await closed;
        }
      } finally {
        assert.equal((await server.stop()).code, 0);
      }
    },
  );
}

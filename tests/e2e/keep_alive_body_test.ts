// Keep-alive after request bodies that arrive in one read: Bun hands the whole 100 KB request to
// the HTTP layer at once, the body queue fills and pauses reading, and the body then completes
// without the app pulling again. The next request on the connection must still be read.

import assert from "node:assert/strict";
import type { Socket } from "node:net";
import { join } from "node:path";
import { e2e, FIXTURES, start } from "../_helpers.ts";
import { rawConnect } from "../_raw.ts";

/** Reads one response (content-length or chunked) off a kept-alive socket. */
function readResponse(socket: Socket): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    let data = Buffer.alloc(0);
    const timer = setTimeout(() => done(new Error("no complete response in 10 s")), 10_000);
    const done = (error?: Error) => {
      clearTimeout(timer);
      socket.off("data", onData);
      socket.off("close", onClose);
      if (error) reject(error);
    };
    const onClose = () => done(new Error("connection closed without a complete response"));
    const onData = (chunk: Buffer) => {
      data = Buffer.concat([data, chunk]);
      const end = data.indexOf("\r\n\r\n");
      if (end < 0) return;
      const head = data.subarray(0, end).toString("latin1");
      const status = Number(head.split(" ")[1]);
      const rest = data.subarray(end + 4).toString("latin1");
      const length = /content-length: (\d+)/i.exec(head);
      if (length) {
        if (rest.length < Number(length[1])) return;
        done();
        return resolve({ status, body: rest.slice(0, Number(length[1])) });
      }
      // Chunked: complete at the last chunk; the body is the chunks' data.
      if (!rest.endsWith("0\r\n\r\n")) return;
      let body = "";
      for (let at = 0;;) {
        const line = rest.indexOf("\r\n", at);
        const size = parseInt(rest.slice(at, line), 16);
        if (size === 0) break;
        body += rest.slice(line + 2, line + 2 + size);
        at = line + 2 + size + 2;
      }
      done();
      resolve({ status, body });
    };
    socket.on("data", onData);
    socket.on("close", onClose);
  });
}

e2e("answers every request on a keep-alive connection after 100 KB bodies", async (t) => {
  const server = start(t, ["-b", "127.0.0.1:0", join(FIXTURES, "apps", "pid_app.ts")]);
  const url = new URL(await server.ready());
  const socket = await rawConnect(Number(url.port));
  try {
    const body = "x".repeat(100_000);
    for (let i = 0; i < 5; i++) {
      const answer = readResponse(socket);
      socket.write(
        `POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
      );
      const { status, body: text } = await answer;
      assert.equal(status, 200, `request ${i}`);
      assert.equal(JSON.parse(text).body.length, body.length, `request ${i}`);
    }
  } finally {
    socket.destroy();
    await server.stop();
  }
});

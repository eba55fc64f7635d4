// A body sent after `Expect: 100-continue` (as curl sends any upload over 1 MB) streams back whole
// when the app hands the request's own body to its response, in every worker class; a client that
// leaves mid-echo is noticed at once, not at the body timeout.

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createHash, randomBytes } from "node:crypto";
import { join } from "node:path";
import type { Socket } from "node:net";
import { e2e, FIXTURES, get, start } from "../_helpers.ts";
import { rawConnect, readAll } from "../_raw.ts";

const APP = join(FIXTURES, "apps", "threads_app.ts");
const CLASSES: [string, string[]][] = [
  ["sync", ["-k", "sync"]],
  ["async", ["-k", "async"]],
  ["gthread", ["-k", "gthread", "--threads", "2"]],
];
// Far past the 64 KiB a body queues before the socket pauses.
const SIZE = 4 * 1024 * 1024;
// Long enough that a worker only freed by the body timeout fails the test instead.
const BODY_TIMEOUT = ["--body-timeout", "600"];
const LISTEN = ["-b", "127.0.0.1:0"];
const CUT = /client closed the connection before the request body was complete/;

const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

/** Sends the head of an /echo upload of `length` bytes and resolves once 100 Continue came. */
async function askToContinue(port: number, length: number): Promise<Socket> {
  const socket = await rawConnect(port);
  socket.on("error", () => {});
  socket.write(
    `POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: ${length}\r\n` +
      "Expect: 100-continue\r\nConnection: close\r\n\r\n",
  );
  const interim = await new Promise<string>((resolve) => {
    let text = "";
    const onData = (d: Buffer) => {
      text += d.toString("latin1");
      if (text.includes("\r\n\r\n")) {
        socket.off("data", onData);
        resolve(text);
      }
    };
    socket.on("data", onData);
  });
  assert.equal(interim, "HTTP/1.1 100 Continue\r\n\r\n");
  return socket;
}

/** The body of a chunked response (`text` in latin1, head included). */
function dechunk(text: string): Buffer {
  const headEnd = text.indexOf("\r\n\r\n");
  assert.match(text.slice(0, headEnd), /^HTTP\/1\.1 200 [^]*transfer-encoding: chunked/i);
  const parts: Buffer[] = [];
  let i = headEnd + 4;
  for (;;) {
    const lineEnd = text.indexOf("\r\n", i);
    assert.ok(lineEnd > 0, `the echo stopped after ${Buffer.concat(parts).length} bytes`);
    const size = parseInt(text.slice(i, lineEnd), 16);
    if (size === 0) break;
    parts.push(Buffer.from(text.slice(lineEnd + 2, lineEnd + 2 + size), "latin1"));
    i = lineEnd + 2 + size + 2;
  }
  return Buffer.concat(parts);
}

for (const [name, flags] of CLASSES) {
  e2e(`${name}: a 100-continue upload echoed as the response comes back whole`, async (target) => {
    const server = start(target, ["-w", "1", ...flags, ...BODY_TIMEOUT, ...LISTEN, APP]);
    const url = new URL(await server.ready(1));
    const body = randomBytes(SIZE);
    const socket = await askToContinue(Number(url.port), SIZE);
    // Read while the body goes up, as curl does.
    const answer = readAll(socket, 30_000);
    socket.write(body);
    const echoed = dechunk((await answer).text);
    assert.equal(echoed.length, SIZE);
    assert.equal(sha256(echoed), sha256(body));
    await server.stop();
  });

  e2e(`${name}: a client leaving mid-echo of a 100-continue upload is noticed`, async (target) => {
    const server = start(target, ["-w", "1", ...flags, ...BODY_TIMEOUT, ...LISTEN, APP]);
    const url = new URL(await server.ready(1));
    const socket = await askToContinue(Number(url.port), SIZE);
    // A quarter of the body goes up; the client leaves once part of it came back.
    socket.write(randomBytes(SIZE / 4));
    await new Promise<void>((resolve) => {
      let received = 0;
      socket.on("data", (d: Buffer) => {
        received += d.length;
        if (received > 32 * 1024) resolve();
      });
    });
    socket.destroy();
    await server.waitFor(CUT);
    // The worker (under sync, its one request slot) is free again.
    assert.equal((await get(`${url.origin}/whoami`)).status, 200);
    await server.stop();
  });
}

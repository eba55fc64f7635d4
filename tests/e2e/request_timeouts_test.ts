// Clients and apps that stall: a request body that stops arriving (408), a body cut short (400,
// logged as the client's error), an app that never answers (--request-timeout: 504), and a
// response body that fails midway (cut off and logged). The worker serves on after each.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import {
  e2e,
  FIXTURES,
  get,
  hasStackTrace,
  ownFrames,
  pidOf,
  start,
  tempDir,
} from "../_helpers.ts";
import { rawConnect, rawExchange, readAll } from "../_raw.ts";

const PID_APP = join(FIXTURES, "apps", "pid_app.ts");

e2e("a request body that stops arriving is answered 408 after --body-timeout", async (target) => {
  const server = start(target, ["-w", "1", "--body-timeout", "1", "-b", "127.0.0.1:0", PID_APP]);
  const url = new URL(await server.ready());
  const socket = await rawConnect(Number(url.port));
  const answer = readAll(socket);
  socket.write("POST /read-body HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nx");
  const { status, text } = await answer;
  assert.equal(status, 408, text);
  assert.match(text, /connection: close/i);
  await server.waitFor(
    /\[WARNING\] Invalid request from ip=127\.0\.0\.1: request body not received in time \(408\)/,
  );
  assert.doesNotMatch(server.stderr, /Error handling request/);
  assert.match((await get(url.href)).body, /^hello pid/);
  await server.stop();
});

e2e(
  "-k sync: stalled bodies hold the workers only until --body-timeout; later requests are served",
  async (target) => {
    const server = start(target, [
      "-k",
      "sync",
      "-w",
      "2",
      "--timeout",
      "5",
      "--body-timeout",
      "2",
      "-b",
      "127.0.0.1:0",
      PID_APP,
    ]);
    const url = new URL(await server.ready(2));
    const stalled = await Promise.all([0, 1].map(async () => {
      const socket = await rawConnect(Number(url.port));
      const answer = readAll(socket, 20_000);
      socket.write("POST /read-body HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nx");
      return answer;
    }));
    const later = await Promise.all(Array.from({ length: 16 }, () => get(url.href)));
    assert.deepEqual(later.map((a) => a.status), Array(16).fill(200));
    assert.deepEqual((await Promise.all(stalled)).map((a) => a.status), [408, 408]);
    await server.stop();
  },
);

e2e("a chunked body cut short is the client's error: 400, a warning, no app error", async (t) => {
  const server = start(t, ["-w", "1", "-b", "127.0.0.1:0", PID_APP]);
  const url = new URL(await server.ready());
  const socket = await rawConnect(Number(url.port));
  const answer = readAll(socket);
  socket.write(
    "POST /read-body HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
  );
  socket.end();
  const { status, text } = await answer;
  assert.equal(status, 400, text);
  await server.waitFor(
    /\[WARNING\] Invalid request from ip=127\.0\.0\.1: client closed the connection before the request body was complete \(400\)/,
  );
  assert.doesNotMatch(server.stderr, /Error handling request|\[ERROR\]/);
  assert.match((await get(url.href)).body, /^hello pid/);
  await server.stop();
});

e2e("an app that prints the error of a body the client cut short prints one line", async (t) => {
  const server = start(t, ["-w", "1", "-b", "127.0.0.1:0", PID_APP]);
  const url = new URL(await server.ready());
  const socket = await rawConnect(Number(url.port));
  const answer = readAll(socket);
  socket.write(
    "POST /print-body-error HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nhello",
  );
  socket.end();
  assert.equal((await answer).status, 400);
  await server.waitFor(/TypeError: client closed the connection before the request body/);
  await server.waitFor(/Invalid request from ip=127\.0\.0\.1: client closed/);
  // No frame of appserve's, and none of its source lines (Bun prints those of the error's frame).
  assert.deepEqual(ownFrames(server.output), []);
  assert.ok(!hasStackTrace(server.output), server.output);
  assert.doesNotMatch(server.output, /^\s*\d+ \| /m);
  await server.stop();
});

for (const workerClass of ["sync", "async", "gthread"]) {
  e2e(
    `-k ${workerClass}: --request-timeout answers 504 for an app that never answers, logs it, serves on`,
    async (target) => {
      const dir = tempDir();
      const access = join(dir.path, "access.log");
      try {
        const server = start(target, [
          "-k",
          workerClass,
          "-w",
          "1",
          "--request-timeout",
          "1",
          "--access-logfile",
          access,
          "-b",
          "127.0.0.1:0",
          PID_APP,
        ]);
        const url = await server.ready();
        const hung = await get(`${url}/hang?x=1`);
        assert.equal(hung.status, 504);
        assert.equal(hung.headers.connection, "close");
        await server.waitFor(
          /\[ERROR\] Request timed out after 1s \(request_timeout\): GET \/hang\?x=1/,
        );
        // The worker (sync: its only slot) serves on, with the same pid.
        const pid = pidOf(await get(url));
        assert.equal(pidOf(await get(url)), pid);
        await server.stop();
        const lines = readFileSync(access, "utf8");
        assert.match(lines, /"GET \/hang\?x=1 HTTP\/1\.1" 504 /);
      } finally {
        dir.remove();
      }
    },
  );
}

e2e("a response body that fails midway is cut off and logged with the request line", async (t) => {
  const server = start(t, ["-w", "1", "-b", "127.0.0.1:0", PID_APP]);
  const url = new URL(await server.ready());
  const { status, text } = await rawExchange(
    Number(url.port),
    "GET /broken-stream?q=1 HTTP/1.1\r\nHost: x\r\n\r\n",
  );
  assert.equal(status, 200);
  assert.match(text, /first part/);
  assert.doesNotMatch(text, /\r\n0\r\n\r\n$/, "no last chunk: the client sees the cut");
  await server.waitFor(
    /\[ERROR\] Error in the response body of GET \/broken-stream\?q=1; the reply was cut off\n[^\n]*stream broke on purpose/,
  );
  assert.match((await get(url.href)).body, /^hello pid/);
  await server.stop();
});
